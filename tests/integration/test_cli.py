"""A smoke run of every command, and the one-line errors with exit codes for bad input."""
import gzip
import json
from pathlib import Path

import pytest

from chemrnn.cli import main
from chemrnn.datasets import sample_path

from conftest import ROOT, leaf_commands, read_only_folder


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_data_prepare_stats_encode(tmp_path, capsys):
    out = tmp_path / "p.smi"
    code, stdout, err = run(capsys, "data", "prepare", str(sample_path()), "-o", str(out), "-j", "2")
    assert code == 0 and "kept" in err and not stdout  # the summary is a message (stderr); the data went to -o
    assert len(out.read_text().splitlines()) == 10_000
    code, stdout, _ = run(capsys, "data", "stats", str(out), "--json", "--limit", "500")
    assert code == 0 and json.loads(stdout)["molecules"] == 500
    code, stdout, _ = run(capsys, "data", "stats", str(out), "--tokenizer", "char", "--limit", "500")
    assert code == 0 and "token-length histogram" in stdout
    code, stdout, err = run(capsys, "data", "encode", str(out), "-o", str(tmp_path / "c.npz"), "--batch-size", "64")
    assert code == 0 and "padding fraction" in err and (tmp_path / "c.npz").is_file()


def test_datasets_list_and_path(capsys, shared_data):
    code, stdout, _ = run(capsys, "datasets", "list")
    assert code == 0 and "zinc250k" in stdout and "moses:test" in stdout
    code, stdout, _ = run(capsys, "datasets", "path", "moses:test")
    assert code == 0 and stdout.strip() == str(shared_data / "moses_test.csv.gz")


def test_dataset_name_as_input(tmp_path, capsys, shared_data):
    code, stdout, err = run(capsys, "data", "stats", "jnk3", "--json")
    assert code == 0, err
    stats = json.loads(stdout)
    jnk3 = shared_data / "actives" / "jnk3_train.smi.gz"
    assert Path(stats["input"]).resolve() == jnk3.resolve()  # the name resolved to the shared file
    with gzip.open(jnk3, "rt") as fh:
        lines = [line.split()[0] for line in fh if line.strip()]
    assert stats["molecules"] == len(lines) == 725 and stats["unique_strings"] == len(set(lines))
    assert stats["tokenizer"] == "atom" and stats["token_length"]["min"] > 0


@pytest.mark.slow
def test_demo_main_job(tmp_path, capsys):
    model = ROOT / "tests" / "data" / "lm_schema1.chemrnn"
    code, stdout, err = run(capsys, "demo", "-o", str(tmp_path / "run"), "--model", str(model), "-n", "200",
                            "--no-fcd", "--train", "sample")
    assert code == 0, err
    assert "validity" in err and "report:" in err and not stdout  # messages on stderr; the results are files
    # every step says what it does and what it took; the one-time canonicalization of the training set is named
    assert "sampling 200 molecules from lm_schema1.chemrnn: " in err
    assert "novelty: canonicalizing zinc_sample.csv.gz (10,000 molecules, once: cached" in err
    assert " s in all: sampling " in err
    for f in ("report.html", "metrics.json", "samples.smi", "config.json", "properties.csv"):
        assert (tmp_path / "run" / f).is_file(), f
    assert len((tmp_path / "run" / "samples.smi").read_text().splitlines()) == 200
    assert "logP MAE" in err  # the shipped property model scored the valid samples
    with open(tmp_path / "run" / "properties.csv") as fh:
        header = fh.readline().strip().split(",")
        assert header == ["smiles", "logP_model", "logP_rdkit", "TPSA_model", "TPSA_rdkit", "not_predicted"]
        assert fh.readline()
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<th>better</th>" in report and "MOSES CharRNN" in report and "0.9748" in report  # anchors beside ours
    assert "<a href='samples.smi'>" in report and "lm_schema1.chemrnn" in report  # the samples linked, model named
    assert "Property model on the valid samples" in report and "logP" in report
    assert "against a random draw of 5,000 reference molecules" in report  # the caution on small references
    code, stdout, err = run(capsys, "-q", "demo", "-o", str(tmp_path / "run"), "--model", str(model), "-n", "20",
                            "--no-fcd", "--train", "none")
    assert code == 0 and not err and not stdout  # -q: nothing at all


BAD_INPUTS = {
    "empty.smi": (b"", "empty file"),
    "junk.smi": (bytes(range(256)) * 40, "binary data"),
    "latin1.smi": (b"CCO\nCC\xe9N\n", ":2: not UTF-8"),
    "cut.smi.gz": (sample_path().read_bytes()[:50_000], "truncated gzip"),
    "nocol.csv": (b"id,mol\n1,CCO\n", "no column 'smiles'"),
    "long.smi": (b"CCO\n" + b"C" * 1_048_576 + b"\n", ":2: line too long"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_one_line_error(tmp_path, capsys, name):
    data, message = BAD_INPUTS[name]
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / "out.smi"
    code, _, err = run(capsys, "data", "prepare", str(src), "-o", str(out), "-j", "1")
    assert code == 2
    assert message in err and name in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_skip_bad_lines_keeps_valid_rows(tmp_path, capsys):
    src = tmp_path / "mixed.smi"
    src.write_bytes(b"CCO\nCC\xe9N\n" + b"C" * 1_048_576 + b"\nc1ccccc1\n")
    out = tmp_path / "out.smi"
    code, _, stdout = run(capsys, "data", "prepare", str(src), "-o", str(out), "--skip-bad-lines", "-j", "1")
    assert code == 0
    assert out.read_text().split() == ["CCO", "c1ccccc1"]
    assert "rejected" in stdout


def test_unknown_tokens_listed_up_front(tmp_path, capsys, sample_smiles):
    from chemrnn.tokens import AtomTokenizer, Vocabulary

    Vocabulary.build(AtomTokenizer().tokenize(s) for s in sample_smiles).save(tmp_path / "vocabulary.json")
    src = tmp_path / "odd.smi"
    src.write_text("CCO\nC[Xe]C\nCC\n[U]\n")
    code, _, err = run(capsys, "data", "encode", str(src), "-o", str(tmp_path / "c.npz"),
                       "--vocabulary", str(tmp_path / "vocabulary.json"))
    assert code == 2 and "'[Xe]' x1" in err and "'[U]' x1" in err and "odd.smi" in err


def test_usage_error_exit_code(capsys):
    assert run(capsys, "data", "prepare")[0] == 2
    assert run(capsys, "nosuchcommand")[0] == 2
    code, _, err = run(capsys, "data", "prepare", "does-not-exist.smi", "-o", "x.smi")
    assert code == 2 and "does-not-exist.smi: no such file" in err


@pytest.mark.slow
def test_lm_commands_smoke(tmp_path, capsys, shared_data):
    run_dir = tmp_path / "lm"
    code, _, err = run(capsys, "-q", "lm", "train", "--preset", "tiny", "--max-steps", "20", "--val-every", "10",
                       "--val-size", "100", "-o", str(run_dir))
    assert code == 0, err
    model = str(run_dir / "model")
    samples = tmp_path / "s.smi"
    code, stdout, err = run(capsys, "lm", "sample", model, "-n", "300", "-o", str(samples), "--seed", "1")
    assert code == 0 and "300 sampled" in err and not stdout, err  # the summary is a message: stderr
    assert len(samples.read_text().splitlines()) == 300
    code, stdout, err = run(capsys, "lm", "sample", model, "-n", "100", "--valid-only", "--unique-only")
    assert code == 0, err
    code, stdout, err = run(capsys, "lm", "evaluate", str(samples), "--test", "moses:test_sample", "--train",
                            "jnk3", "--n-ref", "300", "--no-fcd", "-o", str(tmp_path / "ev"))
    assert code == 0 and "validity" in stdout, err
    assert (tmp_path / "ev" / "report.html").stat().st_size > 1000
    code, stdout, err = run(capsys, "-q", "lm", "finetune", model, "jnk3", "--epochs", "1", "-o", str(tmp_path / "ft"))
    assert code == 0, err
    code, stdout, err = run(capsys, "lm", "recovery", str(tmp_path / "ft" / "model"), "--heldout", "jnk3", "-n", "200",
                            "-o", str(tmp_path / "rec.json"))
    assert code == 0 and "held-out actives" in err, err
    code, stdout, err = run(capsys, "lm", "library", "moses", "-n", "20", "-o", str(tmp_path / "lib.smi"),
                            "--no-exclude-training", "--heldout", "jnk3")
    assert code == 0 and "20 molecules (beam)" in err and "recovery of" in stdout, err
    code, stdout, err = run(capsys, "lm", "score", "moses", str(tmp_path / "lib.smi"), "-o", str(tmp_path / "sc.csv"))
    assert code == 0 and "scored 20 of 20 rows" in err, err


def test_lm_bad_inputs(tmp_path, capsys):
    code, _, err = run(capsys, "lm", "sample", str(tmp_path / "missing"), "-n", "5")
    assert code == 2 and "no such model" in err
    code, _, err = run(capsys, "lm", "train", "--preset", "nope", "-o", str(tmp_path / "x"))
    assert code == 2 and "'nope' is not one of" in err and "segler2018" in err
    junk = tmp_path / "junk.smi"
    junk.write_bytes(b"")
    code, _, err = run(capsys, "lm", "train", "--preset", "tiny", "--data", str(junk), "-o", str(tmp_path / "y"))
    assert code == 2 and "empty file" in err and "Traceback" not in err


def test_lecture_commands_smoke(tmp_path, capsys):
    code, stdout, _ = run(capsys, "lecture", "hello", "--steps", "50")
    assert code == 0 and "generated:" in stdout and "p(h)" in stdout
    code, stdout, _ = run(capsys, "lecture", "params")
    assert code == 0 and "NO" not in stdout.split() and "yes" in stdout  # formula == counted for every cell


def test_config_file_sets_defaults_and_cli_overrides(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[lecture.hello]\ncell = "gru"\nsteps = 30\n')
    code, stdout, _ = run(capsys, "--config", str(cfg), "lecture", "hello")
    assert code == 0 and "gru (lecture), 30 steps" in stdout
    code, stdout, _ = run(capsys, "--config", str(cfg), "lecture", "hello", "--steps", "20")
    assert code == 0 and "gru (lecture), 20 steps" in stdout
    cfg.write_text("not = [toml")
    code, _, err = run(capsys, "--config", str(cfg), "lecture", "hello")
    assert code == 2 and "not valid TOML" in err


@pytest.mark.parametrize("toml, message", [
    ('[lecture.hello]\nstesp = 30\n', "[lecture.hello] has no option 'stesp'; valid: cell"),
    ('[lecture.helo]\ncell = "gru"\n', "[lecture.helo] names no command"),
    ('[lm.trian]\nhidden = 5\n', "[lm.trian] names no command"),
    ('[lecture.hello]\ncell = "lstmm"\n', "'lstmm' is not one of"),
    ('[lecture.hello]\nsteps = "many"\n', "steps = 'many'"),
])
def test_config_typos_and_bad_values_are_refused_before_any_work(tmp_path, capsys, toml, message):
    """click's default_map ignores unknown keys silently; chemrnn refuses them, exit 2, naming file and key."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml)
    code, stdout, err = run(capsys, "--config", str(cfg), "lecture", "hello", "-o", str(tmp_path / "out"))
    assert code == 2 and message in err and str(cfg) in err and not stdout
    assert not (tmp_path / "out").exists()


def test_help_keeps_square_brackets(capsys):
    code, stdout, _ = run(capsys, "--help")
    assert code == 0 and "[lm.train]" in stdout


def test_data_stats_shows_bracket_tokens(tmp_path, capsys):
    """Rich markup must not eat chemistry: [nH] and [n+] appear in the vocabulary table."""
    f = tmp_path / "nh.smi"
    f.write_text("c1cc[nH]c1\nC[n+](C)C\nc1ccccc1\n")
    code, stdout, _ = run(capsys, "data", "stats", str(f))
    assert code == 0 and "[nH]" in stdout and "[n+]" in stdout


def test_messages_escape_brackets_and_keep_whole_paths(tmp_path, capsys):
    """A path with [nH] in it is printed as it is (not eaten as Rich markup), whole, on one line, even when long."""
    deep = tmp_path / "[nH]" / ("a_long_folder_name_" * 8) / "c.npz"
    src = tmp_path / "in.smi"
    src.write_text("CCO\nc1cc[nH]c1\n")
    code, stdout, err = run(capsys, "data", "encode", str(src), "-o", str(deep))
    assert code == 0 and not stdout
    assert any(str(deep) in line for line in err.splitlines()), err


def test_quiet_silences_messages_and_keeps_data(tmp_path, capsys):
    out = tmp_path / "p.smi"
    code, stdout, err = run(capsys, "-q", "data", "prepare", str(sample_path()), "-o", str(out), "-j", "1")
    assert code == 0 and not stdout and not err
    code, stdout, err = run(capsys, "-q", "data", "stats", str(out), "--json", "--limit", "50")
    assert code == 0 and json.loads(stdout)["molecules"] == 50 and not err  # data still on stdout


def test_prepare_writes_one_naming_scheme(tmp_path, capsys):
    from chemrnn.prepare import read_summary

    out = tmp_path / "x.smi.gz"
    src = tmp_path / "in.smi"
    src.write_text("CCO\nnot_smiles\nCCO\n")
    code, _, err = run(capsys, "data", "prepare", str(src), "-o", str(out), "-j", "1")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.smi", "x.rejects.csv", "x.smi.gz", "x.summary.json"]
    assert read_summary(out)["kept"] == 1
    (tmp_path / "x.summary.json").rename(tmp_path / "x.smi.gz.summary.json")  # the old name is still read
    assert read_summary(out)["duplicates"] == 1


def test_prepare_refuses_a_file_with_nothing_to_keep(tmp_path, capsys):
    src = tmp_path / "bad.smi"
    src.write_text("C1CC\nnot_smiles\n\n")
    out = tmp_path / "x.smi"
    code, _, err = run(capsys, "data", "prepare", str(src), "-o", str(out), "-j", "1")
    assert code == 2 and "bad.smi: no molecule kept of 3 lines" in err and "line 1" in err
    assert list(tmp_path.iterdir()) == [src]  # nothing written


def test_datasets_path_does_not_download_unless_asked(tmp_path, capsys, monkeypatch):
    import urllib.request

    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
        OSError("no network in tests")))
    monkeypatch.setenv("CHEMRNN_DATA_DIR", str(tmp_path / "empty"))
    code, stdout, err = run(capsys, "datasets", "path", "moses:test")
    assert code == 2 and not calls and "--download" in err and "moses_test.csv.gz" in err and not stdout
    code, _, err = run(capsys, "datasets", "path", "moses:test", "--download")
    assert code == 2 and len(calls) == 1 and "cannot download" in err  # asked: it tries


def test_every_option_of_every_command_has_help_and_states_its_default():
    import typer

    from chemrnn.cli import app

    tree = typer.main.get_command(app)
    leaves = list(leaf_commands(tree))
    assert len(leaves) >= 20
    missing = [f"{n} --{p.name}" for n, c in leaves for p in c.params
               if p.param_type_name == "option" and not (p.help and (p.show_default or "Default" in p.help))]
    assert not missing, missing
    root = [p.name for p in tree.params if p.param_type_name == "option" and not p.help]
    assert not root, root





@pytest.mark.parametrize("argv", [
    ["data", "prepare", "{src}", "-o", "{ro}/x.smi", "-j", "1"],
    ["data", "prepare", "{src}", "-o", "{tmp}/x.smi", "--rejects", "{file}/r.csv", "-j", "1"],
    ["data", "encode", "{src}", "-o", "{file}/c.npz"],
    ["demo", "-o", "{ro}/run", "-n", "5", "--no-fcd", "--train", "none", "--model", "{lm}"],
    ["lm", "sample", "{lm}", "-n", "5", "-o", "{ro}/s.smi"],
    ["lm", "recovery", "{lm}", "--heldout", "{src}", "-n", "500", "-o", "{ro}/r.json"],
    ["lm", "evaluate", "{src}", "--test", "moses:test_sample", "--n-ref", "50", "--no-fcd", "-o", "{file}/ev"],
])
def test_outputs_are_checked_before_any_work(tmp_path, capsys, argv):
    """A read-only folder or a parent that is a file: exit 2 at once, naming the user's path (not a temp file)."""
    src = tmp_path / "in.smi"
    src.write_text("CCO\nc1ccccc1\n")
    (tmp_path / "afile").write_text("x")
    names = {"src": src, "ro": read_only_folder(tmp_path), "file": tmp_path / "afile", "tmp": tmp_path,
             "lm": ROOT / "tests" / "data" / "lm_schema1.chemrnn"}
    args = [a.format(**names) for a in argv]
    code, stdout, err = run(capsys, *args)
    target = next(a for a in args if "/ro/" in a or "/sys/" in a or "afile/" in a)
    assert code == 2 and f"error: {target}: " in err and ".tmp" not in err, err
    assert len(err.strip().splitlines()) == 1 and not stdout


def test_lm_sample_flags_each_molecule_with_its_quality(tmp_path, capsys):
    """``lm sample --quality`` writes every sampled string with what the quality preset says of it: the reason for
    a rejected molecule, pass for the rest, and invalid SMILES where there is no molecule; the summary counts them."""
    import csv

    from chemrnn.scoring.quality import QualityFilter
    from chemrnn import chem

    out = tmp_path / "s.csv"
    code, _, err = run(capsys, "lm", "sample", "shipped", "-n", "300", "--quality", "strict", "-o", str(out),
                       "--device", "cpu")
    assert code == 0, err
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 300 and set(rows[0]) == {"smiles", "quality"}
    strict = QualityFilter.from_config({"preset": "strict"})
    for r in rows:
        c = chem.canonical_or_none(r["smiles"])
        expected = "invalid SMILES" if c is None else (strict.reasons([c])[0] or "pass")
        assert r["quality"] == expected
    flags = [r["quality"] for r in rows]
    valid = [f for f in flags if f != "invalid SMILES"]
    assert f"quality (strict): {valid.count('pass'):,} of {len(valid):,} valid molecules pass" in err
    assert 0 < valid.count("pass") < len(valid)  # strict rejects some of the MOSES prior's molecules
    code, _, err = run(capsys, "lm", "sample", "shipped", "-n", "5", "--quality", "default", "-o",
                       str(tmp_path / "s.smi"))
    assert code == 2 and "give -o FILE.csv" in err and not (tmp_path / "s.smi").exists()


def test_quality_flags_name_the_first_failed_check():
    from chemrnn.api import quality_flags

    assert quality_flags(["O=C1NC(=S)SC1=Cc1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "C1CC"]) == [
        "PAINS_A: ene_rhod_A(235)", "pass", "invalid SMILES"]
    assert quality_flags(["O=C1NC(=S)SC1=Cc1ccccc1"], "none") == ["pass"]
