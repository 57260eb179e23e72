"""A committed property model file (scripts/make_test_property_model.py) must keep loading and giving the same
predictions, refusals and warnings; a PropertyPredictor loads its model once and scores many batches."""
import json

import numpy as np
import pytest

import chemrnn.predict as predict_module
from chemrnn.predict import PropertyPredictor, embed_smiles, predict_smiles

from conftest import ROOT

DATA = ROOT / "tests" / "data"
MODEL = DATA / "property_schema1.chemrnn"


@pytest.fixture(scope="module")
def expected():
    return json.loads((DATA / "property_schema1_expected.json").read_text())


@pytest.mark.parametrize("impl", ["fused", "lecture"])
def test_committed_property_model_predicts_the_same(expected, impl):
    assert MODEL.stat().st_size < 200_000
    p = PropertyPredictor(MODEL, precision="32", impl=impl)
    assert p.targets == expected["targets"] and p.max_tokens == 68
    res = p.predict(expected["smiles"])
    want = np.array([[np.nan if v is None else v for v in row] for row in expected["values"]])
    assert np.allclose(res.values, want, atol=1e-4, equal_nan=True)
    assert res.errors == expected["errors"]  # [Se] refused, C1CC invalid
    assert res.warnings == expected["warnings"]  # the 90-carbon chain is longer than any training molecule
    assert res.counts == {"rows": 10, "predicted": 8, "invalid": 1, "unseen_tokens": 1, "warnings": 1}


def test_predictor_loads_once_and_scores_many_batches(expected, monkeypatch):
    loads = []
    real = predict_module.load_property_model

    def counting(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(predict_module, "load_property_model", counting)
    smiles = expected["smiles"]
    p = PropertyPredictor(MODEL, precision="32", batch_size=3)
    model = p.model
    batches = [p.predict(smiles[:4]), p.predict(smiles[4:7]), p.predict(smiles[7:])]
    vectors = p.embed(smiles[:5])[0]
    assert len(loads) == 1 and p.model is model  # one load for every batch
    together = np.concatenate([b.values for b in batches])
    once, errors, _ = predict_smiles(MODEL, smiles, precision="32")
    assert len(loads) == 2  # the one-call helper loads its own
    assert np.allclose(together, once, atol=1e-6, equal_nan=True)
    assert sum((b.errors for b in batches), []) == errors
    assert np.allclose(p(smiles), once, atol=1e-6, equal_nan=True)  # the scoring-function form
    assert np.allclose(vectors, embed_smiles(MODEL, smiles[:5])[0], atol=1e-5)
