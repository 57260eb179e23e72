"""A chemprop 2.x model as a scoring component: a two-model ensemble trained here by ``chemprop train`` (80 shipped
ZINC molecules, logP, 3 epochs) scores held-apart molecules exactly as ``chemprop predict`` does; bad model settings
are refused naming the reason. CI installs the chemprop extra, so these run there."""
import csv
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chemrnn.datasets import sample_path
from chemrnn.errors import InputError
from chemrnn.scoring import ScoringFunction

CHEMPROP = str(Path(sys.executable).parent / "chemprop")


def _rows() -> list[dict]:
    with gzip.open(sample_path(), "rt") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["smiles", "logP"])
        w.writerows([[r["smiles"], r["logP"]] for r in rows])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A chemprop ensemble of two small models and the molecules it has not seen."""
    tmp = tmp_path_factory.mktemp("chemprop")
    rows = _rows()
    train, test = _write(tmp / "train.csv", rows[:80]), _write(tmp / "test.csv", rows[200:230])
    subprocess.run([CHEMPROP, "train", "-i", str(train), "-s", "smiles", "--target-columns", "logP",
                    "-o", str(tmp / "model"), "--epochs", "3", "--num-workers", "0", "--accelerator", "cpu",
                    "--ensemble-size", "2", "--batch-size", "16", "--message-hidden-dim", "32",
                    "--ffn-hidden-dim", "32", "--split-sizes", "0.8", "0.1", "0.1", "--data-seed", "0",
                    "--pytorch-seed", "0"], check=True, capture_output=True)
    return tmp / "model", test


def test_the_component_reproduces_chemprop_predict(trained):
    model, test = trained
    out = test.parent / "preds.csv"
    subprocess.run([CHEMPROP, "predict", "-i", str(test), "-s", "smiles", "--model-paths", str(model),
                    "--accelerator", "cpu", "--num-workers", "0", "-o", str(out)], check=True, capture_output=True)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    expected = np.array([float(r["logP"]) for r in rows])
    smiles = [r["smiles"] for r in rows]
    sc = ScoringFunction.from_config({"component": [{"type": "chemprop", "model": str(model), "task": "logP"}]})
    got = sc.score(smiles + ["not a smiles"])
    np.testing.assert_allclose(got.raw["chemprop"][:-1], expected, rtol=1e-5, atol=1e-5)
    assert np.isnan(got.raw["chemprop"][-1]) and got.total[-1] == 0.0
    one = ScoringFunction.from_config({"component": [{"type": "chemprop", "model": str(model / "model_0" / "best.pt")}]})
    assert not np.allclose(one.score(smiles).raw["chemprop"], expected)  # one member is not the ensemble's mean


@pytest.mark.parametrize("keys, message", [
    ({"model": "no/such/model.pt"}, "model file not found: no/such/model.pt"),
    ({"task": "TPSA"}, "the model has no output 'TPSA'; its outputs: logP"),
    ({"task": 3}, "task 3 is out of range"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
])
def test_bad_chemprop_settings_are_refused(trained, keys, message):
    spec = {"type": "chemprop", "model": str(trained[0]), **keys}
    with pytest.raises(InputError, match=message):
        ScoringFunction.from_config({"component": [spec]})


def test_a_file_that_is_not_a_chemprop_model_is_refused(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match=r"model.pt is not a chemprop 2.x single-molecule model"):
        ScoringFunction.from_config({"component": [{"type": "chemprop", "model": str(bad)}]})


def test_an_ensemble_of_models_with_other_outputs_is_refused(trained, tmp_path):
    rows = _rows()[:60]
    data = tmp_path / "tpsa.csv"
    with data.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["smiles", "TPSA"])
        w.writerows([[r["smiles"], r["TPSA"]] for r in rows])
    subprocess.run([CHEMPROP, "train", "-i", str(data), "-s", "smiles", "--target-columns", "TPSA", "-o",
                    str(tmp_path / "tpsa"), "--epochs", "3", "--num-workers", "0", "--accelerator", "cpu",
                    "--message-hidden-dim", "16", "--ffn-hidden-dim", "16", "--split-sizes", "0.8", "0.1", "0.1"],
                   check=True, capture_output=True)
    spec = {"type": "chemprop", "model": [str(trained[0]), str(tmp_path / "tpsa")]}
    with pytest.raises(InputError, match=r"the ensemble's models differ in their outputs .*logP.*TPSA"):
        ScoringFunction.from_config({"component": [spec]})
