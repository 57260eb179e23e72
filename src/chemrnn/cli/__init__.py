"""The ``chemrnn`` command line: thin Typer commands, one file per command group, that call the Python API.

Conventions (DESIGN.md): ``chemrnn NOUN VERB``; shared options spelled the same everywhere; data to stdout,
messages to stderr; exit codes 0 success, 1 failure while running, 2 bad usage or bad input; errors are one line
without a traceback unless ``--debug``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .. import __version__
from ..errors import ChemrnnError, InputError, Interrupted
from ..io import BadLineError, check_writable, MissingColumnError
from ._common import console, err_console, state as _state
from .data import data_app, datasets_app
from .demo import demo
from .design import activity_app, design_app
from .lecture import lecture_app
from .lm import lm_app
from .property import embed, property_app

app = typer.Typer(help="Recurrent neural networks on SMILES.", no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None,  # help text is plain: [lm.train], [nH] and OUT.smi[.gz] stay as written
                  pretty_exceptions_enable=False)
app.add_typer(data_app, name="data")
app.add_typer(datasets_app, name="datasets")
app.add_typer(lm_app, name="lm")
app.add_typer(property_app, name="property")
app.command("embed")(embed)
app.add_typer(lecture_app, name="lecture")
app.command("demo")(demo)
app.add_typer(design_app, name="design")
app.add_typer(activity_app, name="activity")
from .serve import serve; app.command("serve")(serve)  # noqa: E402  (the local web page)


def _version(value: bool):
    if value:
        console.print(f"chemrnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only results and errors."),
          config: Optional[Path] = typer.Option(None, "--config",
                                                help="TOML file of option defaults, e.g. [lm.train] hidden = 512; "
                                                     "options given on the command line override it."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    _state["debug"] = debug
    _state["quiet"] = quiet
    _state["command"] = None
    _guard_outputs(ctx.command)
    if config is not None:
        ctx.default_map = _check_config(_read_config(config), ctx.command, config, ctx)


OUTPUT_PARAMS = ("output", "rejects")  # the options through which a command writes files


def _guard_outputs(group) -> None:
    """Make every command check, before any work, that the paths it will write can be written (exit 2 naming the
    path: a read-only folder, a parent that is a file), and remember which command runs (for the error line)."""
    for cmd in getattr(group, "commands", {}).values():
        if hasattr(cmd, "commands"):
            _guard_outputs(cmd)
        elif cmd.callback is not None and not getattr(cmd.callback, "_chemrnn_guarded", False):
            cmd.callback = _guarded(cmd, cmd.callback)


def _guarded(cmd, callback):
    import functools

    @functools.wraps(callback)
    def run(*args, **kwargs):
        _state["command"] = cmd
        for name in OUTPUT_PARAMS:
            if isinstance(kwargs.get(name), (str, Path)):
                check_writable(kwargs[name])
        return callback(*args, **kwargs)

    run._chemrnn_guarded = True
    return run


def _read_config(path: Path) -> dict:
    """Option defaults from TOML: tables named after the commands (``[lm.train]``, ``[property.train]``)."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("no such config file", path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", path) from None

    def norm(d):  # TOML keys may use dashes like the command line
        return {k.replace("-", "_"): norm(v) if isinstance(v, dict) else v for k, v in d.items()}

    return norm(data)


def _check_config(data: dict, group, path: Path, ctx, where: str = "") -> dict:
    """Refuse what click's ``default_map`` would silently ignore: a table that names no command, a key that is no
    option of its command, a value the option cannot take (choices listed) — before any work, exit 2."""
    for key, value in list(data.items()):
        name = f"{where}.{key}" if where else key
        if hasattr(group, "commands"):  # a command group
            sub = group.commands.get(key) or group.commands.get(key.replace("_", "-"))
            if sub is None or not isinstance(value, dict):
                valid = ", ".join(sorted(group.commands))
                what = "names no command" if sub is None else "must be a table"
                raise InputError(f"[{name}] {what}; tables here name commands: {valid}", path)
            if key != sub.name:  # click looks tables up by the command's own name (long-range, not long_range)
                data[sub.name] = data.pop(key)
            _check_config(value, sub, path, ctx, name)
            continue
        params = {p.name: p for p in group.params if getattr(p, "param_type_name", "") == "option"}
        spelled = {o[2:].replace("-", "_"): n for n, p in params.items() for o in p.opts if o.startswith("--")}
        if key not in params and key in spelled:  # the option as the command line spells it (number for n)
            if spelled[key] in data:
                raise InputError(f"[{where}] sets {key!r} twice (also as {spelled[key]!r})", path)
            data[spelled[key]] = data.pop(key)
            key = spelled[key]
        if key not in params:
            valid = sorted(spelled) + sorted(set(params) - set(spelled.values()))
            raise InputError(f"[{where}] has no option {key!r}; valid: {', '.join(valid)}", path)
        try:
            params[key].process_value(ctx, value)  # the option's own conversion (choices, numbers)
        except Exception as exc:  # click's BadParameter (typer vendors click; its module path is private)
            msg = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            raise InputError(f"[{where}] {key} = {value!r}: {msg}", path) from None
    return data



# ------------------------------------------------------------------------------------------- entry
def _short(text: str, limit: int = 500) -> str:
    """One line, and never megabytes of echoed input: long messages are cut in the middle."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit // 2] + " … " + text[-limit // 2:]


def _hint(exc: Exception) -> str:
    """What the user can do about an unreadable line or a missing SMILES column, said only where the command offers
    the option."""
    cmd = _state.get("command")
    params = {p.name for p in cmd.params} if cmd is not None else set()
    if isinstance(exc, BadLineError) and "skip_bad_lines" in params:
        return "; --skip-bad-lines rejects such lines and goes on"
    if isinstance(exc, MissingColumnError) and "column" in params:
        return "; or choose the column with --column" if exc.asked is None else "; choose another with --column"
    return ""


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors with exit codes 1 (run failure) / 2 (bad input or usage).

    Typer handles usage errors itself (exit 2); our own errors propagate out of it and are printed here.
    """
    try:
        app(args=argv, prog_name="chemrnn")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ChemrnnError as exc:
        if _state["debug"]:
            raise
        label = "" if isinstance(exc, Interrupted) else "[bold red]error:[/] "
        err_console.print(f"{label}{escape(_short(str(exc)) + _hint(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C in a command that has nothing to resume: one line, no traceback
        if _state["debug"]:
            raise
        err_console.print("interrupted", highlight=False)
        return Interrupted.exit_code
    except Exception as exc:  # an unexpected failure: still one line, unless --debug
        if _state["debug"]:
            raise
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        err_console.print(f"[bold red]error:[/] {escape(name)}: {escape(_short(str(exc)))} "
                          "(run with --debug for the traceback)",
                          highlight=False, soft_wrap=True)
        return 1
    return 0


def _entry():  # pragma: no cover
    sys.exit(main())
