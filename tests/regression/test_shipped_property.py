"""The logP/TPSA model shipped in the package: small, loads without training, and predicts real molecules."""
import csv
import gzip
from importlib import resources

import numpy as np

from chemrnn.api import predicted_properties, shipped_property_model
from chemrnn.cli import main
from chemrnn.models.property import load_property_model
from chemrnn.predict import predict_smiles


def _sample(n=300):
    path = resources.files("chemrnn") / "data" / "zinc_sample.csv.gz"
    with gzip.open(path, "rt") as fh:
        rows = list(csv.DictReader(fh))[:n]
    return [r["smiles"] for r in rows], np.array([[float(r["logP"]), float(r["TPSA"])] for r in rows])


def test_shipped_model_is_small_and_predicts_zinc():
    path = shipped_property_model()
    assert path.stat().st_size <= 5 * 2**20
    _, _, _, meta = load_property_model("shipped")
    assert meta["targets"] == ["logP", "TPSA"]
    smiles, Y = _sample()
    pred, reasons, _ = predict_smiles("shipped", smiles, precision="32")
    assert not any(reasons)
    mae = np.abs(pred - Y).mean(0)
    assert mae[0] < 0.05 and mae[1] < 0.5, mae  # the labels spread ~1.5 (logP) and ~20 (TPSA)
    fast, _, _ = predict_smiles("shipped", smiles, precision="bf16")
    assert np.abs(fast - pred).mean(0)[0] < 0.01


def test_predicted_properties_beside_rdkit(tmp_path):
    smiles, Y = _sample(50)
    out = predicted_properties(smiles + ["C1CC", ""])
    assert out["smiles"] == smiles  # invalid strings left out, order kept
    assert np.allclose(out["logP_rdkit"], Y[:, 0], atol=1e-6)
    assert out["MAE"]["logP"] < 0.05
    src = tmp_path / "in.smi"
    src.write_text("\n".join(smiles[:5]) + "\n")
    assert main(["property", "predict", "shipped", str(src), "-o", str(tmp_path / "p.csv")]) == 0
    assert len(list(csv.DictReader(open(tmp_path / "p.csv")))) == 5
