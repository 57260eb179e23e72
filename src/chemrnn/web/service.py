"""What the web page does, as plain functions of plain values (no HTTP here): parse pasted SMILES, predict,
generate, watch, list runs and read their learning curves, start fine-tunes. :class:`Service` holds what is loaded
once (the property model, language models, the training data that novelty is measured against) and the job
queue."""
from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import threading
from pathlib import Path

import numpy as np

from ..datasets import locate, path as dataset_path, resolve_model
from ..errors import InputError
from .fair import FairShare, chunks

LIMITS = {
    "body_bytes": 1_000_000,  # one request
    "smiles": 1_000,  # molecules per prediction request
    "smiles_chars": 500,  # characters of one SMILES
    "samples": 2_000,  # molecules per generation
    "queued_samples": 8,  # generations waiting behind the one running; one more is refused (429, Retry-After)
    "temperature": (0.05, 5.0),
    "watch_tokens": 150,  # tokens of the SMILES to watch
    "actives": 5_000,  # pasted actives of a fine-tune
    "epochs": 50,
    "batch_size": 256,
}
# the shipped language models the page lists (``shipped`` is another name of ``moses``: one file, listed once, still
# accepted in a request)
SHIPPED_LMS = {"moses": "shipped prior, MOSES; the default", "chembl": "shipped prior, ChEMBL: for a target's actives"}
LM_ALIASES = {"shipped": "moses"}
COMPUTE_SLOTS = 2  # predictions computed at once (one per core)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # the whole name: RUN_NAME.fullmatch
SKIP_DIRS = {"checkpoints", "data", "model", "state", "__pycache__"}
ACTIVES_DATASETS = ("gsk3", "jnk3", "pfalciparum")


class WebError(Exception):
    """Bad input from the page: the message is shown to the user (HTTP 400)."""


# ------------------------------------------------------------------------------------------- input
def parse_smiles_text(text: str) -> list[dict]:
    """Pasted text → rows ``{line, smiles, name, error}``: one SMILES per non-blank line, optionally followed by a
    name (whitespace between, as in a .smi file). Too many molecules is refused; an over-long SMILES is a row
    with an error."""
    if not isinstance(text, str):
        raise WebError("send the SMILES as text, one per line")
    rows = []
    for k, raw in enumerate(text.splitlines(), 1):
        parts = raw.strip().split(None, 1)
        if not parts:
            continue
        smiles, name = parts[0], (parts[1] if len(parts) > 1 else "")
        err = ""
        if len(smiles) > LIMITS["smiles_chars"]:
            err = f"longer than {LIMITS['smiles_chars']} characters ({len(smiles):,}): not read"
            smiles = smiles[:40] + "…"
        rows.append({"line": k, "smiles": smiles, "name": name, "error": err})
        if len(rows) > LIMITS["smiles"]:
            raise WebError(f"too many molecules: at most {LIMITS['smiles']:,} per prediction")
    if not rows:
        raise WebError("no SMILES given: paste one per line, or draw a molecule")
    return rows


def strip_salts(rows: list[dict]) -> None:
    """Each row's SMILES with several fragments replaced by its largest fragment, neutralized; ``note`` says what
    was predicted (``largest fragment CCN of CCN.Cl``)."""
    from .. import chem

    options = chem.CanonOptions(largest_fragment=True, neutralize=True)
    for r in rows:
        if r["error"] or "." not in r["smiles"]:
            continue
        kept, why = chem.canonical(r["smiles"], options)
        if kept is None:
            r["error"] = why or "not a valid SMILES"
        else:
            r["note"] = f"largest fragment {kept} of {r['smiles']}"
            r["smiles"] = kept


def _shown(value) -> str:
    """A request value as a message quotes it: short, whatever its type or size."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"a {len(str(abs(value)))}-digit number"
    text = repr(value) if isinstance(value, str) else json.dumps(value) if isinstance(value, (list, dict)) \
        else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def number(params: dict, key: str, kind, default, lo, hi, what: str):
    """A bounded number (``kind`` int or float) from a request's field ``key``, or :class:`WebError` saying what is
    allowed: never a value that is not a finite number (``Infinity``, ``1e400``, ``"NaN"``, a list, true), an
    integer field given a fraction (``1.5`` is refused, not read as 1), or one outside ``lo``–``hi`` (however many
    digits it has). A numeric string is read as its number."""
    value = params.get(key, default)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if re.fullmatch(r"[+-]?\d{1,50}", text) else float(text)
        except ValueError:
            raise WebError(f"{what} must be a number, not {_shown(value)}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WebError(f"{what} must be a number, not {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise WebError(f"{what} must be a number between {_shown(lo)} and {_shown(hi)}, not {_shown(value)}")
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise WebError(f"{what} must be a whole number, not {_shown(value)}")
        value = int(value)
    if not lo <= value <= hi:
        raise WebError(f"{what} must be between {_shown(lo)} and {_shown(hi)}, not {_shown(value)}")
    return kind(value)


def text_field(params: dict, key: str, default: str, what: str) -> str:
    """A text field of a request (a name, pasted SMILES), or :class:`WebError` when it is sent as anything else
    (a number, a list, an object)."""
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise WebError(f"{what} must be text, not {_shown(value)}")
    return value


def fmt(v: float) -> str:
    """A value as the command line writes it (``property predict``: ``%.6g``; empty where there is none)."""
    return "" if v is None or not math.isfinite(v) else f"{v:.6g}"


def histogram(values, bins: int = 20) -> dict:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if not len(v):
        return {"edges": [], "counts": []}
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 3) for e in edges], "counts": counts.tolist(),
            "mean": round(float(v.mean()), 3), "n": int(len(v))}


# ------------------------------------------------------------------------------------------- runs
def list_runs(root: Path, depth: int = 3, jobs: dict | None = None) -> list[dict]:
    """Run directories under ``root`` (a ``config.json``, ``log.csv`` or model, or the folder of a page's job),
    newest first, with what they are;
    ``jobs`` maps a run's name to the state of the last page job that wrote it (see :func:`run_info`)."""
    found: list[dict] = []
    if root is None or not root.is_dir():
        return found

    def walk(d: Path, level: int):
        try:
            entries = sorted(d.iterdir())
        except OSError:
            return
        if d != root and (any((d / f).is_file() for f in ("config.json", "log.csv", "model/model.json"))
                          or d.relative_to(root).as_posix() in (jobs or {})):  # a page job's, before its first file
            found.append(run_info(root, d, jobs))
        if level >= depth:
            return
        for e in entries:
            if e.is_dir() and not e.is_symlink() and not e.name.startswith(".") and e.name not in SKIP_DIRS:
                walk(e, level + 1)

    walk(root, 0)
    return sorted(found, key=lambda r: r["modified"], reverse=True)


def _read_json(p: Path) -> dict:
    try:
        d = json.loads(p.read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def run_info(root: Path, d: Path, jobs: dict | None = None) -> dict:
    """What a run is, and its status: ``running`` while a trainer holds its ``.lock``; else the state of the page's
    job that wrote it, where there is one (``queued``, ``running``, ``cancelled``, ``interrupted``, ``failed``;
    a finished job's run is ``finished``); else ``finished`` with a ``metrics.json``, ``incomplete`` without."""
    cfg = _read_json(d / "config.json")
    cmd = cfg.get("command") or []
    words = [w for w in cmd if isinstance(w, str) and not w.startswith("-")][1:3] if isinstance(cmd, list) else []
    kind = " ".join(words) if words else ("design run" if (d / "scored.csv").exists() else "run")
    model = _read_json(d / "model" / "model.json") if (d / "model" / "model.json").is_file() else {}
    metrics = _read_json(d / "metrics.json")
    log = d / "log.csv"
    modified = max((p.stat().st_mtime for p in (d / "config.json", log, d / "metrics.json") if p.exists()),
                   default=d.stat().st_mtime)
    job_state = (jobs or {}).get(d.relative_to(root).as_posix())
    if _training_now(d):
        status = "running"
    elif job_state in ("queued", "running", "cancelled", "interrupted", "failed"):
        status = job_state
    elif (d / "metrics.json").exists():
        status = "finished"
    else:
        status = "incomplete"
    last = {}
    if log.is_file():
        try:
            with open(log, newline="") as fh:
                rows = list(csv.DictReader(fh))
            last = {k: v for k, v in rows[-1].items() if v not in ("", None)} if rows else {}
        except (OSError, csv.Error, UnicodeDecodeError):
            last = {}
    return {"name": d.relative_to(root).as_posix(), "kind": kind, "status": status, "modified": modified,
            "model": model.get("kind"), "steps": metrics.get("steps", last.get("step")),
            "last": last, "started": cfg.get("started")}


def _training_now(d: Path) -> bool:
    """Whether the process named in the run's ``.lock`` (written by training) is alive on this machine. Only read:
    taking the lock, even for a moment, could make a training run that starts then refuse to."""
    import os
    import socket

    info = _read_json(d / ".lock")
    pid = info.get("pid")
    if not isinstance(pid, int) or info.get("host") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return b"chemrnn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def read_curve(root: Path, name: str, max_points: int = 1500) -> dict:
    """The numeric columns of a run's ``log.csv`` (rows thinned to ``max_points``)."""
    d = run_dir(root, name)
    log = d / "log.csv"
    if log.is_symlink() and not log.resolve().is_relative_to(root.resolve()):
        raise WebError(f"run {name!r}: its log.csv points outside the runs folder")
    if not log.is_file():
        raise WebError(f"run {name!r} has no log.csv (no learning curve yet)")
    with open(log, newline="", errors="replace") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {"name": name, "x": "step", "columns": {}}
    step = max(1, len(rows) // max_points)
    rows = rows[::step] if step > 1 else rows
    cols: dict[str, list] = {}
    for key in rows[0]:
        vals = []
        for r in rows:
            try:
                vals.append(float(r.get(key)) if r.get(key) not in (None, "") else None)
            except ValueError:
                vals = None
                break
        if vals is not None and any(v is not None for v in vals):
            cols[key] = vals
    x = "step" if "step" in cols else next(iter(cols), "step")
    return {"name": name, "x": x, "columns": cols}


def run_dir(root: Path, name: str) -> Path:
    """A run directory named relative to ``root``, never outside it."""
    if root is None:
        raise WebError("no runs folder (start the page with --runs DIR)")
    if not isinstance(name, str) or not name or "\\" in name or name.startswith("/") or \
            any(p in ("", ".", "..") or p.startswith(".") for p in name.split("/")):
        raise WebError(f"not a run name: {str(name)[:80]!r}")
    d = (root / name).resolve()
    if not d.is_relative_to(root.resolve()) or not d.is_dir():
        raise WebError(f"no run {name!r} under the runs folder")
    return d


# ------------------------------------------------------------------------------------------- novelty
def training_files(model) -> list[Path]:
    """The files of the training data a language model's file records (a fine-tuned model's actives and its
    prior's data: :func:`chemrnn.api.training_sources`) on this machine: what Generate's novelty is measured
    against. A dataset that is not here is named, not downloaded; :class:`~chemrnn.errors.InputError` when some of
    the data is not here."""
    from ..api import training_sources

    return [Path(s) if Path(s).exists() else dataset_path(str(s), download=False) for s in training_sources(model)]


# ------------------------------------------------------------------------------------------- service
class Service:
    """The models loaded once, the training data of the last model sampled (for novelty) and the job queue."""

    def __init__(self, runs: Path | None):
        from .jobs import JobQueue

        self.runs = Path(runs).resolve() if runs is not None else None
        self._locks = {name: threading.Lock() for name in ("predictor", "lm", "known")}
        self._predictor = None
        self._lms: dict[str, tuple] = {}
        self._known: tuple | None = None  # (the training data's files and their times, canonical SMILES)
        # predictions share the two cores in turn, chunk by chunk (fair.py): with all of them at once each request
        # would take as long as the whole burst (the GIL and the cores are shared); whole request by whole request, a
        # one-molecule prediction would wait for two of 1,000 to end
        self._compute = FairShare(COMPUTE_SLOTS, express=1)
        self._naming = threading.Lock()  # a fine-tune's run name: checked and taken at once
        state = self.runs / ".chemrnn-web" / "jobs" if self.runs is not None else None
        self.jobs = JobQueue(state, {"sample": self._run_sample, "finetune": self._run_finetune},
                             depth={"sample": LIMITS["queued_samples"]})

    # ----------------------------------------------------------------------------------- models
    def predictor(self):
        with self._locks["predictor"]:
            if self._predictor is None:
                from ..api import PropertyPredictor

                self._predictor = PropertyPredictor("shipped")  # float32, as `property predict`
            return self._predictor

    def run_jobs(self) -> dict:
        """The last fine-tune job of each run name (the page's record of what wrote that run)."""
        last: dict = {}
        for job in sorted(self.jobs.list(), key=lambda j: j.created):
            if job.kind == "finetune" and isinstance(job.params.get("name"), str):
                last[job.params["name"]] = job
        return last

    def run_list(self) -> list[dict]:
        """The runs under ``--runs``, each run the page wrote with the state of its job (as the Jobs list says)."""
        return list_runs(self.runs, jobs={name: job.state for name, job in self.run_jobs().items()})

    def language_models(self) -> list[dict]:
        """The language models the page offers: the shipped ones, then every run's model under ``--runs``."""
        out = [{"key": k, "label": f"{k} ({what})"} for k, what in SHIPPED_LMS.items()]
        for r in self.run_list() if self.runs else []:
            if r["model"] == "language":
                out.append({"key": f"run:{r['name']}", "label": f"{r['name']} ({r['kind']})"})
        return out

    def model_path(self, key: str):
        if isinstance(key, str) and (key in SHIPPED_LMS or key in LM_ALIASES):
            return LM_ALIASES.get(key, key)
        if isinstance(key, str) and key.startswith("run:"):
            d = run_dir(self.runs, key[4:])
            model = (d / "model").resolve()
            if model.is_relative_to(self.runs) and (model / "model.json").is_file():
                return model
        raise WebError(f"no language model {str(key)[:80]!r}; choose one of the list")

    def lm(self, key: str):
        path = self.model_path(key)
        cache_key = str(resolve_model(path, "language"))  # `shipped` and `moses` are one file
        stamp = Path(path, "model.json").stat().st_mtime if not isinstance(path, str) else 0
        with self._locks["lm"]:
            hit = self._lms.get(cache_key)
            if hit is None or hit[0] != stamp:
                if len(self._lms) >= 4:
                    self._lms.pop(next(iter(self._lms)))
                hit = self._lms[cache_key] = (stamp, _load_lm(path))
            return hit[1]

    def known_molecules(self, files: list[Path], progress=None) -> set:
        """The canonical SMILES of ``files`` (:func:`chemrnn.api.training_set`, cached on disk by the API; the last
        set read is kept here too). ``progress(message, done, total)`` hears of a first, long canonicalization."""
        from ..api import training_set

        stamp = tuple((str(f), f.stat().st_mtime_ns) for f in files)
        with self._locks["known"]:
            if self._known is None or self._known[0] != stamp:
                self._known = None  # the previous set goes before the next is read
                known: set = set()
                for f in files:
                    known |= training_set(f, progress)
                self._known = (stamp, known)
            return self._known[1]

    def warm(self) -> None:
        """Load the models in the background so the first request does not wait for them."""
        try:
            self.predictor()
            self.lm("shipped")
        except Exception:  # noqa: BLE001 (a warm-up that fails will fail again, with a message, on use)
            pass

    # ----------------------------------------------------------------------------------- predict
    def predict(self, text: str, largest_fragment: bool = False) -> dict:
        """Property predictions for pasted SMILES; with ``largest_fragment``, a salt or mixture (``CCN.Cl``) is
        predicted for its largest fragment, neutralized (``CCN``), as ``chemrnn data prepare --largest-fragment
        --neutralize`` would write it, and the row says so."""
        rows = parse_smiles_text(text)
        if largest_fragment:
            strip_salts(rows)
        predictor = self.predictor()
        usable = [r for r in rows if not r["error"]]
        parts = chunks(usable)
        with self._compute.request(small=len(parts) <= 1) as turn:
            for part in parts:
                with turn(sum(len(r["smiles"]) for r in part)):
                    self._predict_rows(part, predictor)
        return self._predict(rows, predictor)

    def _predict_rows(self, usable, predictor) -> None:
        """The values, reasons and RDKit's figures of ``usable`` rows, written into them."""
        from .. import chem
        from ..predict import UNSEEN, within_physical_range

        res = predictor.predict([r["smiles"] for r in usable])
        targets = predictor.targets
        shown, warnings = within_physical_range(res.values, targets, res.warnings)  # no negative TPSA
        for r, values, why, warn in zip(usable, shown, res.errors, warnings):
            if why.startswith(UNSEEN) and "." in r["smiles"]:
                why = "a salt or mixture (several fragments): tick 'keep the largest fragment' to predict its " \
                      "largest fragment"
            r["error"], r["warning"] = why, "; ".join(w for w in (r.get("note", ""), warn) if w)
            r["canonical"] = chem.canonical_or_none(r["smiles"]) or ""
            r["model"] = {t: fmt(v) for t, v in zip(targets, values)}
            rd = chem.descriptors(r["smiles"]) if r["canonical"] else None
            r["rdkit"] = {t: fmt((rd or {}).get(t, float("nan"))) for t in targets}
            r["unseen_tokens"] = why.startswith(UNSEEN)

    def _predict(self, rows, predictor) -> dict:
        from ..predict import UNITS, outcome_counts, outcome_summary

        targets = predictor.targets
        for r in rows:
            r.setdefault("warning", "")
            r.setdefault("canonical", "")
            r.setdefault("model", {t: "" for t in targets})
            r.setdefault("rdkit", {t: "" for t in targets})
            r.setdefault("unseen_tokens", False)
        counts = outcome_counts([r["error"] for r in rows], [r["warning"] for r in rows])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["line", "smiles", "name", *targets, *(f"{t}_rdkit" for t in targets), "error", "warning"])
        for r in rows:
            w.writerow([r["line"], r["smiles"], r["name"], *(r["model"][t] for t in targets),
                        *(r["rdkit"][t] for t in targets), r["error"], r["warning"]])
        return {"rows": rows, "targets": targets, "counts": counts, "summary": outcome_summary(counts),
                "units": {t: UNITS.get(t, "") for t in targets},
                "csv": buf.getvalue(), "model": "shipped (ZINC250k logP/TPSA)"}

    # ----------------------------------------------------------------------------------- generate
    def submit_sample(self, params: dict):
        model = text_field(params, "model", "shipped", "the model")
        self.model_path(model)  # a bad name is refused now, not in the job
        n = number(params, "n", int, 100, 1, LIMITS["samples"], "the number of molecules")
        lo, hi = LIMITS["temperature"]
        t = number(params, "temperature", float, 1.0, lo, hi, "the temperature")
        seed = number(params, "seed", int, 0, 0, 2**31 - 1, "the seed")
        return self.jobs.submit("sample", {"model": model, "n": n, "temperature": t, "seed": seed},
                                f"sample {n:,} from {model} at T = {t:g}")

    def _run_sample(self, job, jobs) -> None:
        from ..api import sample_smiles, sampled_table, write_sampled

        p = job.params
        job.message = "loading the model"
        loaded = self.lm(p["model"])
        job.message = f"sampling {p['n']:,} molecules"

        def progress(_, done, total=None):
            job.progress = 0.9 * done / p["n"]
            job.message = f"sampled {done:,} of {p['n']:,}"
            if job.cancel_requested:
                raise _Cancelled

        try:
            res = sample_smiles(loaded, p["n"], temperature=p["temperature"], batch_size=250, seed=p["seed"],
                                device="cpu", progress=progress)
        except _Cancelled:
            return
        try:
            known, against, missing = self._novelty_reference(job, p["model"])
        except _Cancelled:
            return
        job.message = "scoring"
        table = sampled_table(res, known)
        buf = io.StringIO()
        write_sampled(buf, table["rows"])
        metrics, desc, n = table["metrics"], table["descriptors"], table["n"]
        molecules = [{k: r[k] for k in ("smiles", "canonical", "valid", "duplicate", "novel")} for r in table["rows"]]
        job.result = {
            "molecules": molecules, "n": n, "csv": buf.getvalue(), "metrics": metrics,
            "novelty_against": against, "novelty_missing": missing,
            "histograms": {t: histogram([d[t] for d in desc.values() if d]) for t in ("logP", "TPSA")},
        }
        job.message = (f"{n:,} sampled: {metrics['valid']:,} valid, {metrics['unique']:,} unique, "
                       + (f"{metrics['novel']:,} novel" if metrics["novel"] is not None else missing))

    def _novelty_reference(self, job, key: str) -> tuple[set | None, str | None, str | None]:
        """What the job's novelty is measured against: ``(canonical SMILES of the model's training data, what they
        are, None)``, or ``(None, None, why there is no novelty)`` when that data is not here or cannot be read."""
        try:
            files = training_files(self.model_path(key))
        except InputError as exc:
            return None, None, f"novelty: training data not found ({exc})"
        names = " + ".join(f.name for f in files)

        def progress(message, done=None, total=None):
            job.message = message + (f": {done:,} of {total:,}" if total else "")
            if job.cancel_requested:
                raise _Cancelled

        job.message = f"novelty: reading the model's training data ({names})"
        try:
            known = self.known_molecules(files, progress)
        except InputError as exc:
            return None, None, f"novelty: training data not readable ({exc})"
        return known, f"the model's training data, {names} ({len(known):,} distinct molecules)", None

    # ----------------------------------------------------------------------------------- watch
    def watch(self, params: dict) -> dict:
        from ..tokens import UnknownTokenError
        from .watch import watch

        smiles = params.get("smiles")
        if not isinstance(smiles, str) or not smiles.strip():
            raise WebError("give a SMILES to watch")
        smiles = smiles.strip()
        if len(smiles) > LIMITS["smiles_chars"]:
            raise WebError(f"the SMILES is longer than {LIMITS['smiles_chars']} characters")
        m, vocab, tok, meta = self.lm(text_field(params, "model", "shipped", "the model"))
        layers = m.rnn.num_layers
        layer = number(params, "layer", int, 1, 1, layers, "the layer") - 1
        # more units than the layer has means all of them
        units = min(number(params, "units", int, 64, 1, 100_000, "the number of units"), m.rnn.hidden_size)
        tokens = tok.tokenize(smiles)
        if len(tokens) > LIMITS["watch_tokens"]:
            raise WebError(f"the SMILES has {len(tokens)} tokens; at most {LIMITS['watch_tokens']} can be watched")
        unseen = sorted({t for t in tokens if t not in vocab})
        if unseen:
            raise WebError("the model cannot read this SMILES: tokens it never saw in training: "
                           + " ".join(repr(t)[1:-1] for t in unseen))
        try:
            out = watch(m, vocab, tok, smiles, layer=layer, units=units)
        except UnknownTokenError as exc:  # pragma: no cover (checked above)
            raise WebError(f"the model cannot read this SMILES: {exc}") from None
        from .. import chem

        out["valid"] = chem.is_valid(smiles)
        out["smiles"] = smiles
        return out

    # ----------------------------------------------------------------------------------- fine-tune
    def submit_finetune(self, params: dict):
        from .. import chem

        if self.runs is None:
            raise WebError("no runs folder: start the page with --runs DIR to fine-tune")
        name = text_field(params, "name", "", "the run name")
        if not RUN_NAME.fullmatch(name):
            raise WebError("name the run with letters, digits, '_', '-' or '.' (at most 64, not starting with "
                           "'.' or '-')")
        out = self.runs / name
        self._replaceable(name)  # refused now when the name is taken; the folder is replaced once all is checked
        prior_key = text_field(params, "prior", "chembl", "the prior")
        prior = self.model_path(prior_key)
        epochs = number(params, "epochs", int, 5, 1, LIMITS["epochs"], "the epochs")
        batch = number(params, "batch_size", int, 32, 1, LIMITS["batch_size"], "the batch size")
        lr = number(params, "lr", float, 5e-4, 1e-6, 1e-1, "the learning rate")
        seed = number(params, "seed", int, 0, 0, 2**31 - 1, "the seed")
        dataset = text_field(params, "dataset", "", "the actives dataset")
        text = text_field(params, "actives", "", "the actives")
        if dataset:
            if dataset not in ACTIVES_DATASETS or locate(dataset) is None:
                raise WebError(f"no actives dataset {str(dataset)[:40]!r} here")
            actives, what = dataset, dataset
        else:
            rows = parse_smiles_text(text) if text.strip() else []
            if not rows:
                raise WebError("paste the actives (SMILES, one per line) or choose a dataset")
            if len(rows) > LIMITS["actives"]:
                raise WebError(f"at most {LIMITS['actives']:,} actives")
            good = [r["smiles"] for r in rows if not r["error"] and chem.is_valid(r["smiles"])]
            if not good:
                raise WebError("none of the pasted actives is a valid SMILES")
            actives, what = good, f"{len(good):,} pasted actives"
        params = {"name": name, "prior": prior_key, "epochs": epochs, "batch_size": batch, "lr": lr, "seed": seed,
                  "actives": what}
        with self._naming:  # two forms naming the same run at once: one of them is refused
            replaced = self._replaceable(name)
            if replaced is not None:
                import shutil

                shutil.rmtree(out)
                params["replaces"] = f"the {replaced.state} run of job {replaced.id}"
            job = self.jobs.submit("finetune", params, f"fine-tune {prior_key} on {what} → {name}"
                                   + (f" (replacing its {replaced.state} run)" if replaced is not None else ""))
        job.actives = actives
        job.prior_path = str(prior)
        return job

    def _replaceable(self, name: str):
        """The ended job whose run folder ``name`` a new fine-tune of that name replaces (one the page started that
        was cancelled, interrupted or failed, with no trainer in it now), None when the name is free; a name taken
        otherwise (a job of that name queued or running, a finished run, a folder the page did not write) is
        refused."""
        out = self.runs / name
        last = self.run_jobs().get(name)
        if last is not None and last.state in ("queued", "running"):
            raise WebError(f"a run named {name!r} is being trained (job {last.id}, {last.state}): choose another "
                           "name, or cancel that job first")
        if not out.exists() and not out.is_symlink():
            return None
        if last is not None and last.state in ("cancelled", "interrupted", "failed") and out.is_dir() and \
                not out.is_symlink() and not (out / "metrics.json").exists() and not _training_now(out):
            return last
        raise WebError(f"a run named {name!r} exists already: choose another name")

    def _run_finetune(self, job, jobs) -> None:
        from .jobs import JobFailed, run_subprocess

        p = job.params
        out = self.runs / p["name"]
        actives = getattr(job, "actives", None)
        if actives is None:
            raise JobFailed("the job's actives were lost (the server restarted before it started)")
        if isinstance(actives, list):
            out.mkdir(parents=True, exist_ok=False)
            (out / "actives.smi").write_text("\n".join(actives) + "\n")
            actives = str(out / "actives.smi")
        argv = [sys.executable, "-m", "chemrnn", "lm", "finetune", job.prior_path, actives, "-o", str(out),
                "--epochs", str(p["epochs"]), "--batch-size", str(p["batch_size"]), "--lr", repr(p["lr"]),
                "--seed", str(p["seed"]), "--device", "cpu"]
        job.params = {**p, "command": " ".join(["chemrnn", *argv[3:]])}
        run_subprocess(job, jobs, argv, jobs.state_dir / f"{job.id}.log", total_epochs=p["epochs"])
        metrics = _read_json(out / "metrics.json")
        job.result = {"run": p["name"], "metrics": metrics}
        job.message = (f"finished: {metrics.get('steps', '?')} steps, train loss "
                       f"{metrics.get('train_loss', float('nan')):.3f}; the model is {p['name']}/model")


def _load_lm(path):
    """A language model with PyTorch's kernels, or the lecture's cells for a GRU in the lecture's form (which has
    no fused kernel)."""
    from ..api import load_lm
    from ..models.language import needs_lecture_cells
    from ..models.modelfile import read_meta

    lecture = needs_lecture_cells(read_meta(resolve_model(path, "language")))
    return load_lm(path, impl="lecture" if lecture else "fused")


class _Cancelled(Exception):
    pass
