"""What the command line says: results with --quiet, Ctrl-C during training, a run folder given as a model, the
options as the command line spells them."""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from chemrnn.cli import main
from conftest import ROOT


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, " ".join(out.err.split())


@pytest.fixture
def small(tmp_path, sample_smiles):
    path = tmp_path / "small.smi"
    path.write_text("\n".join(sample_smiles[:200]) + "\n")
    return path


LM_TINY = ["--preset", "tiny", "--val-size", "20", "--device", "cpu", "--precision", "32"]


def test_lm_train_prints_its_result_with_quiet(tmp_path, small, capsys):
    code, stdout, err = run(capsys, "-q", "lm", "train", "--data", str(small), *LM_TINY, "--max-steps", "3",
                            "-o", str(tmp_path / "run"))
    assert code == 0, err
    assert json.loads(stdout)["train_size"] == 180 and "model:" not in err  # the result; messages stay quiet


def test_lm_train_augments_with_randomized_smiles(tmp_path, small, capsys):
    """``lm train --augment 2`` trains on two randomized SMILES of each molecule besides its canonical one (a prior
    for randomized-SMILES fine-tuning and fixed-core decoration), recorded in its config."""
    code, stdout, err = run(capsys, "-q", "lm", "train", "--data", str(small), *LM_TINY, "--max-steps", "2",
                            "--augment", "2", "-o", str(tmp_path / "run"))
    assert code == 0, err
    result = json.loads(stdout)
    # up to three strings a molecule (a small molecule has few SMILES: a randomized one may repeat another)
    assert result["train_molecules"] == 180 and 2.5 * 180 < result["train_size"] <= 3 * 180
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["augment"] == 2


@pytest.mark.slow
def test_ctrl_c_in_lm_train_says_what_was_kept_and_exits_130(tmp_path, small):
    """SIGINT after the first checkpoint: exit 130 (not Lightning's 1), one line naming the checkpoint and how to
    resume, no traceback; rerunning the command resumes from it."""
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "chemrnn", "-q", "lm", "train", "--data", str(small), *LM_TINY, "--max-steps",
            "100000", "--checkpoint-every", "2", "--val-every", "100000", "-o", str(run_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        deadline = time.time() + 300
        while not ckpt.is_file() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert ckpt.is_file(), proc.stderr.read() if proc.poll() is not None else "no checkpoint in time"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: the last checkpoint, ") and str(ckpt) in last, err
    assert "rerun the same command to resume" in last and "Traceback" not in err and not out


@pytest.fixture
def press_ctrl_c_in_a_finalizer(monkeypatch):
    """Ctrl-C during the 7th training batch of a language or property model, inside a finalizer (where Python
    prints what is raised and goes on, so a KeyboardInterrupt raised there is lost); returns the list of batches
    trained."""
    from chemrnn.models.language import LanguageModel
    from chemrnn.training.property import PropertyModule

    trained = []

    class PressedInAFinalizer:
        def __del__(self):
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

    def counted(real):
        def loss(self, *args):
            if self.training:
                trained.append(1)
                if len(trained) == 7:
                    PressedInAFinalizer()
            return real(self, *args)
        return loss

    monkeypatch.setattr(LanguageModel, "loss", counted(LanguageModel.loss))
    monkeypatch.setattr(PropertyModule, "_loss", counted(PropertyModule._loss))
    return trained


@pytest.mark.parametrize("command", ["train", "finetune", "property"])
def test_ctrl_c_inside_a_training_step_stops_at_the_next_batch(tmp_path, small, capsys, command,
                                                               press_ctrl_c_in_a_finalizer):
    """Ctrl-C during a step of ``lm train``, ``lm finetune`` or ``property train``, where a raise would be lost,
    is taken before the next batch: no further batch is trained, exit 130 saying what was kept."""
    run_dir = tmp_path / "run"
    if command == "property":
        code, stdout, err = run(capsys, "-q", "property", "train", "--data", str(small), "--epochs", "20",
                                "--batch-size", "16", "--hidden", "8", "--mlp-hidden", "8", "--device", "cpu",
                                "-o", str(run_dir))
        assert code == 130 and len(press_ctrl_c_in_a_finalizer) == 7, err
        assert "interrupted: property training keeps no checkpoint" in err and "Traceback" not in err
        assert not stdout and not (run_dir / "model").exists()
        return
    if command == "train":
        args = ["lm", "train", "--data", str(small), *LM_TINY, "--max-steps", "50", "--checkpoint-every", "2",
                "--val-every", "100000"]
    else:
        code, _, err = run(capsys, "-q", "lm", "train", "--data", str(small), *LM_TINY, "--max-steps", "2",
                           "-o", str(tmp_path / "prior"))
        assert code == 0, err
        press_ctrl_c_in_a_finalizer.clear()
        args = ["lm", "finetune", str(tmp_path / "prior" / "model"), str(small), "--batch-size", "64", "--epochs",
                "5", "--val-size", "20", "--device", "cpu"]
    code, stdout, err = run(capsys, "-q", *args, "-o", str(run_dir))
    assert code == 130 and len(press_ctrl_c_in_a_finalizer) == 7, err
    assert "interrupted: the last checkpoint" in err and "Traceback" not in err and not stdout


def test_ctrl_c_inside_fit_waits_for_the_batch_boundary_once():
    """The handler notes a first Ctrl-C inside fit and raises nothing; a second one, or one outside fit, raises
    KeyboardInterrupt at once."""
    from chemrnn.errors import CtrlC

    try:
        CtrlC.reset()
        with pytest.raises(KeyboardInterrupt):
            CtrlC.handler(signal.SIGINT, None)
        CtrlC.reset()
        CtrlC.in_fit = True
        CtrlC.handler(signal.SIGINT, None)
        assert CtrlC.pressed
        with pytest.raises(KeyboardInterrupt):
            CtrlC.handler(signal.SIGINT, None)
    finally:
        CtrlC.reset()


def test_a_run_folder_given_as_a_model_suggests_its_model(tmp_path, capsys):
    """RUN instead of RUN/model: one line, exit 2, "did you mean RUN/model" (language and property models)."""
    for kind, name, argv in [("lm", "lm_schema1.chemrnn", ["lm", "sample", "{run}", "-n", "2"]),
                             ("prop", "property_schema1.chemrnn",
                              ["property", "predict", "{run}", "{src}", "-o", "{tmp}/p.csv"])]:
        run_dir = tmp_path / kind
        with zipfile.ZipFile(ROOT / "tests" / "data" / name) as zf:
            zf.extractall(run_dir / "model")
        (tmp_path / "in.smi").write_text("CCO\n")
        args = [a.format(run=run_dir, src=tmp_path / "in.smi", tmp=tmp_path) for a in argv]
        code, stdout, err = run(capsys, *args)
        assert code == 2 and f"did you mean {run_dir / 'model'}?" in err, err
        assert main([a.replace(str(run_dir), str(run_dir / "model")) for a in args]) == 0
        capsys.readouterr()


@pytest.mark.parametrize("argv, said, unsaid", [
    (["property", "train", "--hidden", "0", "--epochs", "0", "--layers", "0"],
     ["--hidden must be an integer >= 1, not 0", "--epochs must be an integer >= 1", "--layers must be"],
     ["hidden_size", "max_epochs", "num_layers"]),
    (["lm", "train", "--preset", "tiny", "--max-minutes", "0"], ["--max-minutes must be a number > 0"],
     ["max_minutes"]),
])
def test_refused_options_are_named_as_the_command_line_spells_them(tmp_path, capsys, argv, said, unsaid):
    code, stdout, err = run(capsys, *argv, "-o", str(tmp_path / "run"))
    assert code == 2 and all(s in err for s in said) and not any(u in err for u in unsaid), err
    assert not (tmp_path / "run").exists()


def test_lm_train_says_when_it_prepares_its_data_and_when_it_reuses_it(tmp_path, small, capsys):
    """Preparing the training data (minutes for MOSES train) is said on stderr before it starts, with the file's
    rows, and after, with its time and cache; a rerun that resumes says in one line that it uses the cache."""
    args = ["lm", "train", "--data", str(small), *LM_TINY, "--max-steps", "2", "-o", str(tmp_path / "run")]
    cache = tmp_path / "run" / "data" / "train.npz"
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    assert f"preparing {small} (200 rows): canonical SMILES, de-duplication, tokens → {cache}" in err
    assert "prepared in " in err and f" s: 200 molecules cached at {cache}" in err
    assert err.index("preparing ") < err.index("prepared in ") and "using the training data" not in err
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    assert f"using the training data prepared by an earlier sitting of this run, cached in {cache}" in err
    assert "preparing " not in err and "prepared in " not in err
    code, stdout, err = run(capsys, "-q", *args[:-1], str(tmp_path / "quiet"))
    assert code == 0 and "prepar" not in err  # --quiet: no message


def test_a_streamed_run_says_how_many_molecules_it_holds_out_and_records_them(tmp_path, sample_smiles, capsys):
    """Four shards of 50 molecules, the default --val-size (5,000): not the whole first shard (25 % of the data),
    but a tenth of the data, from the first shard; the message, config.json and metrics.json give the same
    number, and it is no more than asked."""
    import gzip

    folder = tmp_path / "shards"
    folder.mkdir()
    for i in range(4):
        with gzip.open(folder / f"part{i}.smi.gz", "wt") as fh:
            fh.write("\n".join(sample_smiles[i * 50: (i + 1) * 50]) + "\n")
    run_dir = tmp_path / "run"
    code, stdout, err = run(capsys, "lm", "train", "--data", str(folder / "*.smi.gz"), "--preset", "tiny",
                            "--device", "cpu", "--precision", "32", "--max-steps", "2", "--val-every", "2",
                            "--checkpoint-every", "2", "-o", str(run_dir))
    assert code == 0, err
    said = " ".join(stdout.split())
    assert (f"validation: 20 molecules held out of training: the first 20 SMILES of {folder / 'part0.smi.gz'} "
            f"(lines 1-20); not the 5,000 asked: at most a tenth of the data (200 lines)") in said
    sizes = json.loads((run_dir / "config.json").read_text())["sizes"]
    assert sizes["valid"] == 20 <= sizes["val_size_requested"] == 5000
    assert sizes["valid_from"] == f"the first 20 SMILES of {folder / 'part0.smi.gz'} (lines 1-20)"
    assert json.loads((run_dir / "metrics.json").read_text())["val_size"] == 20


@pytest.mark.slow
def test_the_demo_says_before_it_computes_the_reference_statistics_and_caches_them(tmp_path, capsys):
    """On an empty cache the reference's statistics (with FCD a minute or more) are announced before they are
    computed, saying that they are cached for later runs, and their time and cache are said after; a second run
    reads them from the cache and announces nothing."""
    model = ROOT / "tests" / "data" / "lm_schema1.chemrnn"
    args = ["demo", "--model", str(model), "-n", "20", "--no-fcd", "--train", "none"]
    cache = tmp_path / "cache" / "references"
    code, _, err = run(capsys, *args, "-o", str(tmp_path / "first"))
    assert code == 0, err
    before = ("reference: computing the statistics of 5,000 molecules of moses:test_sample (fingerprints, fragments, "
              f"scaffolds, descriptors); once: they are cached in {cache} for later runs")
    assert before in err
    step = "reference: 5,000 molecules of moses:test_sample (random draw): "  # the step's line, when it ends
    assert err.index("sampling 20 molecules") < err.index(before) < err.index(step)
    after = err.index("reference statistics computed in ")
    assert err[after:].split(" s; ")[1].startswith(f"cached at {cache}{os.sep}") and after < err.index(step)
    code, _, err = run(capsys, *args, "-o", str(tmp_path / "second"))
    assert code == 0 and step in err and "computing the statistics" not in err and "statistics computed" not in err
