"""Golden metric values on a handful of molecules, computed by hand."""
import math

import numpy as np
import pytest

from chemrnn import chem
from chemrnn import metrics as M

GEN = ["CCO", "C1CC", "c1ccccc1", "CCO", "OCC", "c1ccccc1CN"]
REF = ["CCO", "c1ccccc1", "CCN", "c1ccccc1CN"]


@pytest.fixture(scope="module")
def result():
    ref = M.reference(REF, fcd=False, cache=False, jobs=1)
    return M.evaluate(GEN, ref, train={"CCO"}, fcd=False, jobs=1, ks=(2, 3))


def test_counts(result):
    assert result["n"] == 6
    assert result["validity"] == pytest.approx(5 / 6)  # C1CC is invalid
    assert result["unique@2"] == pytest.approx(1.0)  # CCO, c1ccccc1
    assert result["unique@3"] == pytest.approx(2 / 3)  # ... CCO again
    assert result["unique"] == pytest.approx(3 / 5)  # CCO, c1ccccc1, NCc1ccccc1 of 5 valid
    assert result["novelty"] == pytest.approx(2 / 3)  # CCO is in train


def test_similarities(result):
    assert result["SNN"] == pytest.approx(1.0)  # every generated molecule is in the reference
    # scaffolds: generated {'': 3, benzene: 2}, reference {'': 2, benzene: 2} → cos = 10 / (√13 √8)
    assert result["Scaf"] == pytest.approx(10 / (math.sqrt(13) * math.sqrt(8)))
    gen_frags, ref_frags = {}, {}
    for s, store in [(s, gen_frags) for s in ["CCO", "c1ccccc1", "CCO", "OCC", "c1ccccc1CN"]] + \
                    [(s, ref_frags) for s in REF]:
        for f in chem.brics_fragments(chem.parse(s)[0]):
            store[f] = store.get(f, 0) + 1
    keys = sorted(set(gen_frags) | set(ref_frags))
    a = np.array([gen_frags.get(k, 0) for k in keys], float)
    b = np.array([ref_frags.get(k, 0) for k in keys], float)
    assert result["Frag"] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_internal_diversity_by_hand():
    fps = np.stack([chem.morgan_bits(chem.parse(s)[0]) for s in ["CCO", "CCO", "c1ccccc1"]])
    bits = np.unpackbits(fps, axis=1).astype(bool)
    t = lambda i, j: (bits[i] & bits[j]).sum() / (bits[i] | bits[j]).sum()  # noqa: E731
    sims = [t(i, j) for i in range(3) for j in range(3)]
    assert M.internal_diversity(fps, 1) == pytest.approx(1 - np.mean(sims))
    assert M.internal_diversity(fps, 2) == pytest.approx(1 - np.sqrt(np.mean(np.square(sims))))
    assert M.internal_diversity(fps[:2], 1) == pytest.approx(0.0)


def test_kl_score_identical_sets_is_one_and_shifted_is_lower(sample_smiles):
    a = M.Features.compute(sample_smiles[:400], jobs=1)
    b = M.Features.compute(sample_smiles[400:800], jobs=1)
    same, _ = M.kl_score(a.descriptors, a.descriptors)
    other, _ = M.kl_score(a.descriptors, b.descriptors)
    small = M.Features.compute(["CCO", "CCN", "CCC", "CCCl", "CC(C)O", "OCCO", "NCCN", "CCCC"] * 5, jobs=1)
    far, terms = M.kl_score(small.descriptors, a.descriptors)
    assert same == pytest.approx(1.0)
    assert 0.8 < other < 1.0
    assert far < 0.3 and terms["MolWt"] > 1.0


def test_fcd_zero_for_same_set_and_positive_otherwise(sample_smiles):
    mu, sigma = M.chemnet_stats(sample_smiles[:300])
    assert M.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-4)
    mu2, sigma2 = M.chemnet_stats(["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O", "CCCl"] * 20)
    assert M.frechet_distance(mu, sigma, mu2, sigma2) > 10


def test_reference_cache_roundtrip(tmp_path):
    ref = M.reference(REF, fcd=False, cache=False, jobs=1)
    ref.save(tmp_path / "r.npz")
    again = M.Reference.load(tmp_path / "r.npz")
    assert again.features.smiles == ref.features.smiles and (again.features.fps == ref.features.fps).all()
    assert again.features.scaffolds == ref.features.scaffolds


def test_regression_metrics():
    m = M.regression_metrics([1, 2, 3, 4], [1, 2, 3, 5])
    assert m["MAE"] == 0.25 and m["RMSE"] == 0.5 and m["R2"] == pytest.approx(1 - 1 / 5)


def test_no_novelty_against_an_empty_training_set():
    """Novelty against nothing was 1.0; it is left out, and the training set's size is reported beside it."""
    ref = M.reference(REF, fcd=False, cache=False, jobs=1)
    assert "novelty" not in M.evaluate(GEN, ref, train=set(), fcd=False, jobs=1)
    res = M.evaluate(GEN, ref, train={"CCO", "CCN"}, fcd=False, jobs=1)
    assert res["novelty"] == pytest.approx(2 / 3) and res["train_molecules"] == 2


def test_features_of_no_valid_molecule_are_refused_in_words():
    with pytest.raises(ValueError, match="no valid molecule"):
        M.Features.compute([], jobs=1)
