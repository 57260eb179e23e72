"""The logP/TPSA model shipped in the package: small, loads without training, and predicts molecules it never saw.

The shipped ZINC sample is drawn from ZINC250k, the model's own training set, so a low error there only shows that
the file loads and runs. The real check is ChEMBL molecules that are not in ZINC250k, against RDKit's values.
"""
import csv
import gzip
import random
import re
from collections import Counter
from importlib import resources

import numpy as np
import pytest

from chemrnn import chem
from chemrnn.api import predicted_properties, shipped_property_model
from chemrnn.cli import main
from chemrnn.models.property import load_property_model
from chemrnn.predict import PropertyPredictor, predict_smiles

from conftest import SHARED

# MAE measured on 300 unseen ChEMBL molecules (RDKit 2026.09.1, float32), seeds 0 / 1 / 2 of unseen_chembl:
# logP 0.097 / 0.100 / 0.095, TPSA 0.149 / 0.170 / 0.165 (ZINC250k test split: 0.0144 / 0.067); bounds ~1.5x worst
UNSEEN_MAE_BOUND = {"logP": 0.15, "TPSA": 0.25}


def _sample(n=300):
    path = resources.files("chemrnn") / "data" / "zinc_sample.csv.gz"
    with gzip.open(path, "rt") as fh:
        rows = list(csv.DictReader(fh))[:n]
    return [r["smiles"] for r in rows], np.array([[float(r["logP"]), float(r["TPSA"])] for r in rows])


_ATOM = re.compile(r"\[[^\]]+\]|Cl|Br|[BCNOSPFI]|[bcnosp]")
_ELEMENT = re.compile(r"\d*([A-Z][a-z]?|se|as|te|[bcnosp])")


def _heavy_formula(smiles: str) -> tuple:
    """Heavy-atom element counts read off the SMILES text, the same for every spelling of a molecule (no RDKit):
    a cheap key that finds the few ZINC molecules worth canonicalizing."""
    counts: Counter = Counter()
    for tok in _ATOM.findall(smiles):
        sym = tok
        if tok.startswith("["):
            m = _ELEMENT.match(tok[1:-1])
            sym = m.group(1) if m else tok
        if sym != "H":
            counts[sym.capitalize()] += 1
    return tuple(sorted(counts.items()))


def unseen_chembl(n: int = 300, seed: int = 0, data=SHARED) -> tuple[list[str], int]:
    """``n`` random ChEMBL validation molecules (canonical) that are not in ZINC250k, and how many drawn ones were
    dropped for being in ZINC250k."""
    with gzip.open(data / "chembl_valid.smi.gz", "rt") as fh:
        chembl = [line.split()[0] for line in fh if line.strip()]
    draw = random.Random(seed).sample(chembl, n + n // 10)
    keys = {_heavy_formula(s) for s in draw}
    with gzip.open(data / "zinc250k.csv.gz", "rt") as fh:
        zinc = [r["smiles"] for r in csv.DictReader(fh)]
    candidates = [s for s in zinc if _heavy_formula(s) in keys]
    in_zinc = {c for c in chem.canonical_all(candidates, jobs=1) if c}
    kept = [s for s in draw if chem.canonical_or_none(s) not in in_zinc]
    return kept[:n], len(draw) - len(kept)


def test_heavy_formula_ignores_spelling():
    assert _heavy_formula("OCC") == _heavy_formula("CCO") == (("C", 2), ("O", 1))
    assert _heavy_formula("c1cc[nH]c1") == _heavy_formula("C1=CNC=C1")
    assert _heavy_formula("[13CH3]Cl") == _heavy_formula("ClC") != _heavy_formula("BrC")
    assert _heavy_formula("[Se]") != _heavy_formula("[S]")


def test_shipped_model_is_small_and_loads():
    path = shipped_property_model()
    assert path.stat().st_size <= 5 * 2**20
    _, _, _, meta = load_property_model("shipped")
    assert meta["targets"] == ["logP", "TPSA"]
    smiles, Y = _sample()  # its own training molecules: a smoke test of loading and running, not of accuracy
    pred, reasons, _ = predict_smiles("shipped", smiles, precision="32")
    assert not any(reasons)
    assert np.abs(pred - Y).mean(0)[0] < 0.05
    fast, _, _ = predict_smiles("shipped", smiles, precision="bf16")
    assert np.abs(fast - pred).mean(0)[0] < 0.01


@pytest.mark.slow
def test_unseen_chembl_molecules(shared_data):
    """300 random ChEMBL molecules outside ZINC250k (larger and more varied than ZINC's drug-like set), scored
    against RDKit's Crippen logP and TPSA (measured MAE: see UNSEEN_MAE_BOUND)."""
    smiles, _ = unseen_chembl(300, seed=0, data=shared_data)
    assert len(smiles) == 300
    p = PropertyPredictor("shipped", precision="32").predict(smiles)
    refused = [e for e in p.errors if e]
    assert all(e.startswith("tokens the model never saw") for e in refused)  # canonical ChEMBL: all valid
    assert len(refused) < 30, refused
    ok = np.isfinite(p.values).all(1)
    truth = np.array([[chem.descriptors(s)[t] for t in p.targets] for s in smiles])
    mae = np.abs(p.values[ok] - truth[ok]).mean(0)
    for k, t in enumerate(p.targets):
        assert mae[k] < UNSEEN_MAE_BOUND[t], dict(zip(p.targets, mae))
    # a model that ignores its input and answers with the training mean is far worse
    assert mae[0] < 0.25 * np.abs(truth[ok, 0] - truth[ok, 0].mean()).mean()


def test_shipped_model_records_its_longest_training_molecule():
    """The shipped file records the tokens of its longest training molecule (re-derived from its training split by
    scripts/record_shipped_max_tokens.py): a longer molecule gets its value and a warning."""
    _, _, _, meta = load_property_model("shipped")
    assert meta["training"]["max_tokens"] == 72 and "seed 0: 199,564 training molecules" in \
        meta["training"]["max_tokens_from"]
    p = PropertyPredictor("shipped", precision="32").predict(["C" * 72, "C" * 73, "C" * 102])
    assert p.warnings == ["", "longer than any training molecule (73 > 72 tokens)",
                          "longer than any training molecule (102 > 72 tokens)"]
    assert np.isfinite(p.values).all() and p.counts["warnings"] == 2


@pytest.mark.parametrize("smiles", ["[U]", "[Xe]", "[Gd+3]", "C[Se]C"])
def test_shipped_model_refuses_tokens_it_never_saw(smiles):
    p = PropertyPredictor("shipped", precision="32").predict(["CCO", smiles])
    assert np.isfinite(p.values[0]).all() and np.isnan(p.values[1]).all()
    token = smiles if smiles.startswith("[") else "[Se]"
    assert p.errors[1] == f"tokens the model never saw in training: {token}"
    assert p.counts == {"rows": 2, "predicted": 1, "invalid": 0, "unseen_tokens": 1, "warnings": 0}


def test_predicted_properties_beside_rdkit(tmp_path):
    smiles, Y = _sample(50)
    out = predicted_properties(smiles + ["C1CC", "", "C[Se]C"])
    assert out["smiles"] == smiles + ["C[Se]C"]  # invalid strings left out, order kept
    assert np.allclose(out["logP_rdkit"][:50], Y[:, 0], atol=1e-6)
    assert out["MAE"]["logP"] < 0.05
    # a valid molecule the model cannot read keeps its row, with RDKit's values and the reason, and no MAE share
    assert out["not_predicted"][:50] == [""] * 50 and "[Se]" in out["not_predicted"][50]
    assert np.isnan(out["logP_model"][50]) and np.isfinite(out["logP_rdkit"][50])
    assert out["MAE"]["logP"] == pytest.approx(np.abs(out["logP_model"][:50] - Y[:, 0]).mean(), abs=1e-6)
    src = tmp_path / "in.smi"
    src.write_text("\n".join(smiles[:5]) + "\n")
    assert main(["property", "predict", "shipped", str(src), "-o", str(tmp_path / "p.csv")]) == 0
    assert len(list(csv.DictReader(open(tmp_path / "p.csv")))) == 5
