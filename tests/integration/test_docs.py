"""The tutorial pages cannot rot: their commands run (on tiny settings) and their quoted code exists."""
import re
import shlex

import pytest

from chemrnn.cli import main

from conftest import ROOT

PAGES = sorted((ROOT / "docs" / "lecture").glob("*.md"))
TINY = {  # appended to each command: later options override earlier ones
    "hello": ["--steps", "60"],
    "params": [],
    "gradients": ["--steps", "3", "--explode-steps", "3", "--hidden", "8", "--length", "12"],
    "long-range": ["--steps", "3", "--train-size", "300", "--test-size", "50", "--hidden", "8"],
}


def _commands():
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                if line.startswith("chemrnn "):
                    yield page.name, line


def _quotes():
    for page in PAGES:
        for path, block in re.findall(r"```python\n# (src/chemrnn/\S+)\n(.*?)```", page.read_text(), re.S):
            yield page.name, path, block


def test_pages_exist():
    names = {p.name for p in PAGES}
    assert {"char-lm.md", "cells.md", "bptt.md", "long-range.md"} <= names


@pytest.mark.parametrize("page,command", list(_commands()))
def test_page_command_runs(tmp_path, capsys, page, command):
    args = shlex.split(command)[1:]
    extra = TINY[args[1]] if args[0] == "lecture" else []
    if "-o" in args:
        args[args.index("-o") + 1] = str(tmp_path / "out")
    code = main(args + extra)
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("page,path,block", list(_quotes()))
def test_quoted_code_is_current(page, path, block):
    source = (ROOT / path).read_text()
    for line in block.strip().splitlines():
        if line.strip() and not line.strip().startswith("..."):
            assert line.rstrip() in source, f"{page}: quoted line not in {path}: {line!r}"


def test_every_test_the_docs_cite_exists():
    """``tests/...py`` (and ``tests/...py::test_name``) cited in the README and docs name a file and test that
    exist."""
    pages = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    cited = [(page.relative_to(ROOT).as_posix(), path, name) for page in pages
             for path, name in re.findall(r"(tests/[\w/.-]+\.py)(?:::(\w+))?", page.read_text())]
    assert len(cited) >= 8
    missing = [f"{page}: {path}" for page, path, _ in cited if not (ROOT / path).is_file()]
    missing += [f"{page}: {path}::{name}" for page, path, name in cited
                if name and (ROOT / path).is_file() and f"def {name}(" not in (ROOT / path).read_text()]
    assert not missing, missing
