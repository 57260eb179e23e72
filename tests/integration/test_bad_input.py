"""One bad-input policy on every command that reads a file: a corpus of 16 bad (and one good-but-odd) input files,
run through every file-reading command.

A command stops on bad input with exit code 2 and one line on stderr naming the file (and the line where there is
one), without a traceback, writing nothing at -o. The per-row commands (property predict, embed) are defined to
answer every input line, so a file with some readable SMILES gives exit 0 and one output row per line, the bad ones
with the reason; a file with no SMILES at all is still refused. A few commands are defined on files of invalid
SMILES (data stats and data encode describe strings; lm evaluate measures validity, here 0).
"""
import gzip
import shutil

import pytest

from chemrnn.cli import main
from chemrnn.datasets import sample_path

from conftest import ROOT

TINY_LM = str(ROOT / "tests" / "data" / "lm_schema1.chemrnn")

# name -> (bytes, or None for a folder / a missing file; the line the error must name, where one line is bad)
CORPUS = {
    "empty.smi": (b"", None),
    "blank.smi": (b"\n\n   \n\r\n", None),
    "binary.smi": (bytes(range(256)) * 40, None),
    "latin1.smi": (b"CCO\nCC\xe9N\nCCN\n", 2),  # not UTF-8 on line 2
    "truncated.csv.gz": (sample_path().read_bytes()[:6000], None),
    "garbage.smi.gz": (b"\x1f\x8b\x08\x00" + bytes((i * 7919) % 251 for i in range(4000)), None),
    "nocol.csv": (b"id,mol\n1,CCO\n", None),
    "emptycells.csv": (b'smiles,logP\n,1.0\n"",2.0\n', None),
    "long.smi": (b"CCO\n" + b"C" * 1_048_576 + b"\nCCN\n", 2),  # a 1 MB line
    "folder.smi": (None, None),
    "missing.smi": (None, None),
    "invalid.smi": (b"C1CC\nnot_a_smiles\nc1cccc1\n", None),
    "bom_mixed.csv": (b"\xef\xbb\xbfsmiles,name\r\nCCO,ethanol\nc1ccccc1O,phenol\r\n\r\n"
                      b"CC(=O)Nc1ccc(O)cc1,paracetamol\r\n", None),  # valid: BOM, CRLF and LF mixed, a blank line
    "tabs.csv": (b"smiles\tlogP\nCCO\t-0.1\n", None),  # a .csv that is really tab-separated
    "wide.csv": ((",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" * 10_000) + "\n").encode(), None),
    "nul.smi": (b"CCO\nCC\x00N\nCCN\n", None),
}
assert len(CORPUS) == 16


def commands(src: str, out):
    """Every file-reading command, with ``src`` as its input and everything it writes under ``out``."""
    return {
        "data prepare": (["data", "prepare", src, "-o", f"{out}/x.smi", "-j", "1"], f"{out}/x.smi"),
        "data stats": (["data", "stats", src], None),
        "data encode": (["data", "encode", src, "-o", f"{out}/c.npz"], f"{out}/c.npz"),
        "property predict": (["property", "predict", "shipped", src, "-o", f"{out}/p.csv"], f"{out}/p.csv"),
        "property evaluate": (["property", "evaluate", "shipped", src, "-o", f"{out}/pev"], f"{out}/pev"),
        "embed": (["embed", "shipped", src, "-o", f"{out}/e.parquet"], f"{out}/e.parquet"),
        "lm evaluate": (["lm", "evaluate", src, "--test", "moses:test_sample", "--n-ref", "50", "--no-fcd", "-o",
                         f"{out}/lev"], f"{out}/lev"),
        "lm recovery": (["lm", "recovery", TINY_LM, "--heldout", src, "-n", "10", "-o", f"{out}/r.json"],
                        f"{out}/r.json"),
        "lm finetune": (["-q", "lm", "finetune", TINY_LM, src, "--epochs", "1", "-o", f"{out}/ft"], f"{out}/ft"),
        "lm score": (["lm", "score", TINY_LM, src, "-o", f"{out}/score.csv"], f"{out}/score.csv"),
        "lm train": (["-q", "lm", "train", "--preset", "tiny", "--data", src, "--max-steps", "2", "-o", f"{out}/lt"],
                     f"{out}/lt"),
        "property train": (["-q", "property", "train", "--data", src, "--epochs", "1", "--hidden", "8",
                            "--mlp-hidden", "8", "-o", f"{out}/pt"], f"{out}/pt"),
    }


PER_ROW = {"property predict", "embed"}
# (file, command) pairs that succeed by definition; every other pair must be refused with exit 2
SUCCEEDS = ({("bom_mixed.csv", c) for c in commands("x", "y")}
            | {(f, c) for f in ("latin1.smi", "long.smi", "invalid.smi") for c in PER_ROW}
            | {("invalid.smi", c) for c in ("data stats", "data encode", "lm evaluate", "lm score")})
DATA_LINES = {"latin1.smi": 3, "long.smi": 3, "invalid.smi": 3, "bom_mixed.csv": 4}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for name, (data, _) in CORPUS.items():
        if name == "folder.smi":
            (folder / name).mkdir()
        elif data is not None:
            (folder / name).write_bytes(data)
    return folder


# files that every command (or most) reads through: property evaluate re-derives the shipped model's training set
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("bom_mixed.csv", "invalid.smi")
                                  else n for n in CORPUS])
def test_every_command_on_bad_input(corpus, tmp_path, capsys, name):
    src = corpus / name
    failures = []
    for command, (argv, written) in commands(str(src), tmp_path / "out").items():
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        (tmp_path / "out").mkdir()
        code = main(argv)
        out = capsys.readouterr()
        err = out.err.strip()
        why = []
        if "Traceback" in out.err + out.out:
            why.append("traceback")
        if (name, command) in SUCCEEDS:
            if code != 0:
                why.append(f"exit {code}, expected 0")
            if command in PER_ROW and code == 0:
                why += _per_row_problems(written, DATA_LINES[name])
        else:
            if code != 2:
                why.append(f"exit {code}, expected 2")
            lines = err.splitlines()
            if len(lines) != 1:
                why.append(f"{len(lines)} lines on stderr")
            if name not in err:
                why.append("the file is not named")
            line = CORPUS[name][1]
            if line is not None and f"{name}:{line}" not in err:
                why.append(f"line {line} is not named")
            if len(err) > 400:
                why.append(f"a {len(err):,}-character message")
            if written and (tmp_path / "out" / written.rsplit("/", 1)[1]).exists():
                why.append(f"{written.rsplit('/', 1)[1]} was written")
        if why:
            failures.append(f"{command}: {', '.join(why)} | {err[-300:]!r}")
    assert not failures, f"{name}:\n" + "\n".join(failures)


def _per_row_problems(written: str, lines: int) -> list[str]:
    """One output row per data line, the bad ones with a reason in the error column."""
    import pandas as pd

    df = pd.read_csv(written) if written.endswith(".csv") else pd.read_parquet(written)
    problems = []
    if len(df) != lines:
        problems.append(f"{len(df)} rows for {lines} data lines")
    no_value = df["error"].fillna("").astype(str)
    if not (no_value[df["smiles"].fillna("") == ""] != "").all():
        problems.append("a row without SMILES has no reason")
    return problems


def test_skip_bad_lines_is_suggested_only_where_it_exists(corpus, tmp_path, capsys):
    """The reader's hint is true: commands offering --skip-bad-lines get it, the others do not."""
    import typer

    from chemrnn.cli import app

    tree = typer.main.get_command(app)
    src = str(corpus / "latin1.smi")
    seen = 0
    for command, (argv, _) in commands(src, tmp_path / "out").items():
        if command in PER_ROW:
            continue
        (tmp_path / "out").mkdir(exist_ok=True)
        assert main(argv) == 2, command
        err = capsys.readouterr().err
        group, *rest = command.split()
        cmd = tree.commands[group].commands[rest[0]] if rest else tree.commands[group]
        offers = any(p.name == "skip_bad_lines" for p in cmd.params)
        assert ("--skip-bad-lines" in err) == offers, (command, err)
        if offers:
            seen += 1
            assert main(argv + ["--skip-bad-lines"]) == 0, command  # the option exists and does what it says
            capsys.readouterr()
    assert seen >= 4  # data prepare, stats, encode; lm evaluate


def test_truncated_gzip_of_many_lines_names_its_line(tmp_path, capsys):
    data = gzip.compress("".join(f"C{'C' * (i % 7)}O\n" for i in range(20_000)).encode())
    src = tmp_path / "cut.smi.gz"
    src.write_bytes(data[: len(data) // 2])
    assert main(["data", "stats", str(src)]) == 2
    err = capsys.readouterr().err
    assert "cut.smi.gz:" in err and "truncated gzip" in err and len(err.splitlines()) == 1


def test_the_missing_column_hint_names_only_what_the_command_offers(corpus, tmp_path, capsys):
    """"choose one with --column" was said by commands without --column (lm train, lm finetune, lm evaluate, lm
    recovery, lm sample --exclude, activity train): every command says what anyone can do (name the column smiles,
    or give a .smi file), and adds --column only where it has that option."""
    import typer

    from chemrnn.cli import app

    tree = typer.main.get_command(app)
    src = str(corpus / "nocol.csv")
    out = tmp_path / "out"
    runs = {command: argv for command, (argv, _) in commands(src, out).items() if command not in PER_ROW}
    runs["lm evaluate --train"] = ["lm", "evaluate", str(corpus / "bom_mixed.csv"), "--train", src, "--test",
                                   "moses:test_sample", "--n-ref", "50", "--no-fcd", "-o", f"{out}/lev"]
    runs["lm sample --exclude"] = ["lm", "sample", TINY_LM, "-n", "5", "--novel-only", "--exclude", src, "-o",
                                   f"{out}/s.smi"]
    runs["activity train"] = ["activity", "train", src, "-o", f"{out}/a.chemrnn", "--decoys", "moses:test_sample"]
    runs["activity train --decoys"] = ["activity", "train", str(corpus / "bom_mixed.csv"), "-o", f"{out}/a.chemrnn",
                                       "--decoys", src]
    for command, argv in runs.items():
        (tmp_path / "out").mkdir(exist_ok=True)
        assert main(argv) == 2, command
        err = " ".join(capsys.readouterr().err.split())
        assert "nocol.csv:1: no column 'smiles'" in err, (command, err)
        assert "name the SMILES column 'smiles'" in err and ".smi file" in err, (command, err)
        words = [w for w in command.split() if not w.startswith("-")]
        cmd = tree.commands[words[0]].commands[words[1]] if len(words) > 1 else tree.commands[words[0]]
        offers = any(p.name == "column" for p in cmd.params)
        assert ("--column" in err) == offers, (command, err)
    assert main(["data", "stats", src, "--column", "structure"]) == 2  # a column asked for by name
    err = " ".join(capsys.readouterr().err.split())
    assert "no column 'structure'" in err and "choose another with --column" in err and "name the" not in err
