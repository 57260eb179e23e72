"""The HTTP face of :mod:`chemrnn.web.service`: a Starlette app, JSON in and out, a static page.

Bad input is a JSON ``{"error": message}`` with status 400 (413 for a request over the size limit; 429, with
``Retry-After``, for a generation when the sampling queue is full); an unexpected failure is a one-line message
with status 500 (the traceback goes to the server's log, never to the page). POSTs must be JSON
(``Content-Type: application/json``), which a page of another site cannot send without the browser asking first,
and the Host must be this machine's name unless the page is served on another address.
"""
from __future__ import annotations

import contextlib
import functools
import json
import sys
import threading
import traceback
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..datasets import locate
from ..errors import ChemrnnError, InputError
from .jobs import QueueFull
from .service import LIMITS, Service, WebError

STATIC = Path(__file__).parent / "static"


class BodyLimit:
    """Refuse a request body over ``limit`` bytes (413), whether it says its length or streams."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = JSONResponse({"error": f"request too large: at most {self.limit:,} bytes"}, status_code=413)
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await too_big(scope, receive, send)
        seen = 0

        async def bounded():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooBig
            return message

        try:
            await self.app(scope, bounded, send)
        except _TooBig:
            await too_big(scope, receive, send)


class _TooBig(Exception):
    pass


# The page's own files only: no inline script or style attribute, no other site, no framing by another page (the
# molecule editor draws its cursors from data: images). Sent with every response, errors included.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every HTTP response (those of the other middleware included)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in SECURITY_HEADERS if k not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)


def api(handler):
    """An API endpoint: errors become JSON messages, never tracebacks."""

    @functools.wraps(handler)
    async def wrapped(request: Request):
        try:
            return await handler(request)
        except _TooBig:
            raise
        except QueueFull as exc:
            return JSONResponse({"error": str(exc), "retry_after": exc.retry_after}, status_code=429,
                                headers={"Retry-After": str(exc.retry_after)})
        except WebError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except ChemrnnError as exc:
            return JSONResponse({"error": " ".join(str(exc).split())[:500]}, status_code=400)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            return JSONResponse({"error": f"internal error ({type(exc).__name__}): "
                                          f"{' '.join(str(exc).split())[:300]}"}, status_code=500)

    return wrapped


async def body_json(request: Request) -> dict:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise WebError("send JSON (Content-Type: application/json)")
    import json

    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise WebError("the request is not valid JSON") from None
    except RecursionError:
        raise WebError("the request's JSON is nested too deep") from None
    if not isinstance(data, dict):
        raise WebError("the request must be a JSON object")
    return data


def create_app(runs: str | Path | None = None, allowed_hosts: list[str] | None = None, warm: bool = False):
    """The application; ``runs`` is the only folder it reads runs from and writes fine-tunes to."""
    service = Service(Path(runs) if runs is not None else None)
    if warm:
        threading.Thread(target=service.warm, daemon=True).start()

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @api
    async def info(request):
        from .. import __version__

        return JSONResponse({"version": __version__, "limits": LIMITS, "runs": str(service.runs or ""),
                             "models": service.language_models(), "actives_datasets": _actives_here()})

    @api
    async def predict(request):
        data = await body_json(request)
        strip = data.get("largest_fragment", False)
        if not isinstance(strip, bool):
            raise WebError(f"largest_fragment must be true or false, not {json.dumps(strip)[:40]}")
        return JSONResponse(await run_in_threadpool(service.predict, data.get("smiles", ""), strip))

    @api
    async def depict(request):
        from .. import chem

        smiles = request.query_params.get("smiles", "")
        if not smiles or len(smiles) > LIMITS["smiles_chars"]:
            raise WebError("no SMILES, or one that is too long")
        w = _int(request.query_params.get("w"), 220, 60, 800)
        h = _int(request.query_params.get("h"), 160, 60, 800)
        svg = await run_in_threadpool(_depict, smiles, w, h)
        if svg is None:
            _, why = chem.parse(smiles)
            raise WebError(f"not a molecule: {why}")
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})

    @api
    async def generate(request):
        data = await body_json(request)
        job = await run_in_threadpool(service.submit_sample, data)
        return JSONResponse(job.public())

    @api
    async def watch(request):
        data = await body_json(request)
        return JSONResponse(await run_in_threadpool(service.watch, data))

    @api
    async def jobs(request):
        return JSONResponse({"jobs": [j.public(with_result=False) for j in service.jobs.list()]})

    def _job(request):
        job = service.jobs.get(request.path_params["job_id"])
        if job is None:
            raise WebError("no such job (the server may have been restarted)")
        return job

    @api
    async def job(request):
        return JSONResponse(_job(request).public())

    @api
    async def job_log(request):
        job = _job(request)
        from .jobs import _tail

        log = service.jobs.state_dir / f"{job.id}.log" if service.jobs.state_dir else None
        return Response(_tail(log, 20000) if log else "", media_type="text/plain; charset=utf-8")

    @api
    async def job_csv(request):
        job = _job(request)
        if not job.result or "csv" not in job.result:
            raise WebError("this job has no table to download")
        return Response(job.result["csv"], media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="chemrnn-{job.id}.csv"'})

    @api
    async def cancel(request):
        await body_json(request)
        # a job of an earlier server is answered once its process has ended (seconds): not on the event loop
        job = await run_in_threadpool(service.jobs.cancel, _job(request).id)
        return JSONResponse(job.public(with_result=False))

    @api
    async def runs_list(request):
        runs = await run_in_threadpool(service.run_list)
        return JSONResponse({"root": str(service.runs or ""), "runs": runs})

    @api
    async def curve(request):
        from .service import read_curve

        return JSONResponse(await run_in_threadpool(read_curve, service.runs, request.query_params.get("run", "")))

    @api
    async def finetune(request):
        data = await body_json(request)
        job = await run_in_threadpool(service.submit_finetune, data)
        return JSONResponse(job.public())

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/depict.svg", depict),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/watch", watch, methods=["POST"]),
        Route("/api/jobs", jobs),
        Route("/api/jobs/{job_id:str}", job),
        Route("/api/jobs/{job_id:str}/log", job_log),
        Route("/api/jobs/{job_id:str}/csv", job_csv),
        Route("/api/jobs/{job_id:str}/cancel", cancel, methods=["POST"]),
        Route("/api/runs", runs_list),
        Route("/api/runs/curve", curve),
        Route("/api/finetune", finetune, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(BodyLimit, limit=LIMITS["body_bytes"])]
    if allowed_hosts is not None:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    middleware.insert(0, Middleware(SecurityHeaders))  # outermost: on every answer, a refused Host's too
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        service.jobs.shutdown()  # uvicorn ends the process right after this on SIGTERM / Ctrl-C

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.service = service
    return app


def _int(text, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(text)))
    except (TypeError, ValueError):
        return default


@functools.lru_cache(maxsize=2048)
def _depict(smiles: str, w: int, h: int):
    from .. import chem

    return chem.depiction_svg(smiles, w, h)


def _actives_here() -> list[str]:
    from .service import ACTIVES_DATASETS

    out = []
    for name in ACTIVES_DATASETS:
        try:
            if locate(name) is not None:
                out.append(name)
        except Exception:  # noqa: BLE001
            pass
    return out


def _check_port(host: str, port: int) -> None:
    """A port another program holds, or an address this machine does not have, is refused in one line (exit 2)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror}); is another server there? "
                             "choose another --port") from None


def serve(host: str = "127.0.0.1", port: int = 8000, runs: str | Path | None = "runs", say=print) -> None:
    """Run the page until Ctrl-C. On 127.0.0.1 (the default) only this machine can reach it."""
    import uvicorn

    _check_port(host, port)
    local = host in ("127.0.0.1", "localhost", "::1")
    hosts = ["127.0.0.1", "localhost", "[::1]"] if local else None
    app = create_app(runs, allowed_hosts=hosts, warm=True)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    say(f"chemrnn web page on {url} (runs: {app.state.service.runs}); Ctrl-C stops it")
    if not local:
        say("warning: the page is served on an address other machines may reach; it has no login")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
