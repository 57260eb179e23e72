"""Scoring functions: golden values of components and modifiers on real molecules, aggregation, invalid → 0,
the cache, strict configs, and the activity model's NumPy forest == scikit-learn's."""
import numpy as np
import pytest

from chemrnn import chem
from chemrnn.errors import InputError
from chemrnn.scoring import ScoringFunction, make_modifier
from chemrnn.scoring.activity import ActivityConfig, ActivityModel, _forest_arrays, featurize, forest_predict

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
SALICYLIC = "O=C(O)c1ccccc1O"


def test_modifiers_shapes():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, np.nan])
    assert make_modifier({"type": "window", "low": 1, "high": 3})(x).tolist() == [0, 1, 1, 1, 0, 0]
    w = make_modifier({"type": "window", "low": 1, "high": 3, "decay": 1})(x)
    assert w[0] == pytest.approx(np.exp(-1)) and w[4] == pytest.approx(np.exp(-1))
    g = make_modifier({"type": "gaussian", "mu": 2, "sigma": 1})(x)
    assert g[2] == 1 and g[3] == pytest.approx(np.exp(-0.5))
    assert make_modifier({"type": "threshold", "threshold": 2})(x)[:5].tolist() == [0, 0.5, 1, 1, 1]
    assert make_modifier({"type": "clipped", "lower_x": 4, "upper_x": 0})(x)[:5].tolist() == [1, 0.75, 0.5, 0.25, 0]
    s = make_modifier({"type": "sigmoid", "low": 1, "high": 3})(x)
    assert s[2] == pytest.approx(0.5) and s[0] < 0.01 and s[4] > 0.99
    r = make_modifier({"type": "reverse_sigmoid", "low": 1, "high": 3})(x)
    assert r[:5] == pytest.approx(1 - s[:5])
    assert make_modifier({"type": "step", "threshold": 2, "above": False})(x)[:5].tolist() == [1, 1, 1, 0, 0]


def test_component_golden_values():
    f = ScoringFunction.from_config({"component": [
        {"type": "qed"}, {"type": "sa", "modifier": "identity"}, {"type": "descriptor", "descriptor": "HBD",
                                                                  "modifier": "identity"},
        {"type": "similarity", "smiles": [SALICYLIC]}, {"type": "isomer", "formula": "C9H8O4"},
        {"type": "substructure", "smarts": "C(=O)[OH]", "mode": "forbidden"}]})
    sc = f.score([ASPIRIN])
    raw = {k: v[0] for k, v in sc.raw.items()}
    assert raw["qed"] == pytest.approx(0.5501, abs=1e-4)  # RDKit's QED of aspirin
    assert raw["sa"] == pytest.approx(1.580, abs=1e-3)  # Ertl SA score of aspirin
    assert raw["descriptor_HBD"] == 1
    assert raw["isomer"] == pytest.approx(1.0)  # aspirin is C9H8O4
    assert raw["substructure"] == 0.0  # aspirin has a carboxylic acid
    fps = [chem.fingerprint(chem.mol(s)) for s in (ASPIRIN, SALICYLIC)]
    assert raw["similarity"] == pytest.approx(chem.tanimoto(fps[0], fps[1:])[0])
    # another skeleton with aspirin's formula is an isomer (1); one CH2 more (C10H10O4) is scored term by term:
    # C 10 vs 9, H 10 vs 8, O 4 vs 4, atoms 24 vs 21 (sigma 2) → geometric mean of the four Gaussians
    iso = f.score(["COC(=O)c1ccccc1C(=O)O", "CCOC(=O)c1ccccc1C(=O)O"]).raw["isomer"]
    assert iso[0] == pytest.approx(1.0)
    assert iso[1] == pytest.approx(np.exp((-0.5 - 2.0 + 0.0 - 0.5 * 1.5 ** 2) / 4))


def test_aggregation_invalid_and_cache():
    comps = [{"type": "qed", "weight": 3}, {"type": "descriptor", "descriptor": "rings", "name": "rings",
                                               "modifier": {"type": "step", "threshold": 2}}]
    arith = ScoringFunction.from_config({"aggregation": "arithmetic", "component": comps})
    geo = ScoringFunction.from_config({"aggregation": "geometric", "component": comps})
    smiles = [ASPIRIN, "c1ccc2ccccc2c1", "not a smiles", ""]
    a, g = arith(smiles), geo(smiles)
    q = [chem.qed(chem.mol(s)) for s in smiles[:2]]
    assert a[0] == pytest.approx(0.75 * q[0])  # one ring: the step gives 0
    assert g[0] == 0.0  # geometric mean with a zero component
    assert a[1] == pytest.approx(0.75 * q[1] + 0.25)
    assert g[1] == pytest.approx(q[1] ** 0.75)
    assert a[2] == a[3] == 0.0 and g[2] == 0.0  # invalid strings score 0
    calls = arith.calls
    again = arith([ASPIRIN, "OC(=O)c1ccccc1OC(C)=O"])  # the same molecule written another way: from the cache
    assert arith.calls == calls and again[0] == again[1] == a[0]


def test_property_model_component_uses_the_shipped_model():
    f = ScoringFunction.from_config({"component": [{"type": "property", "target": "TPSA", "model": "shipped",
                                                    "modifier": {"type": "gaussian", "mu": 63.6, "sigma": 5}}]})
    sc = f.score([ASPIRIN, "C[Se]C"])
    assert sc.raw["property"][0] == pytest.approx(63.6, abs=2.0)  # RDKit TPSA of aspirin: 63.6
    assert np.isnan(sc.raw["property"][1]) and sc.total[1] == 0  # a token the model never saw: no score


@pytest.mark.parametrize("config, message", [
    ({"component": [{"type": "qed", "wieght": 2}]}, "unknown key"),
    ({"component": [{"type": "qedd"}]}, "unknown scoring component"),
    ({"component": [{"type": "qed", "modifier": {"type": "window", "lo": 1}}]}, "unknown parameter"),
    ({"component": [{"type": "descriptor", "descriptor": "logp"}]}, "unknown descriptor"),
    # values that are not scores in [0, 1] need a modifier: bare, SA (1-10) would score every molecule 1
    ({"component": [{"type": "sa"}]}, r"SA score, 1 \(easy\) to 10 \(hard\), not a score in \[0, 1\]; give it a modifier"),
    ({"component": [{"type": "qed"}, {"type": "descriptor", "descriptor": "logP"}]}, "value is logP in its own units"),
    ({"component": [{"type": "property", "target": "logP"}]}, "give it a modifier"),
    ({"component": [{"type": "substructure", "smarts": "[C"}]}, "not a valid SMARTS"),
    ({"aggregation": "median", "component": [{"type": "qed"}]}, "aggregation"),
    ({"component": []}, "at least one"),
    ({"components": [{"type": "qed"}]}, "unknown key"),
])
def test_bad_configs_are_refused(config, message):
    with pytest.raises(InputError, match=message):
        ScoringFunction.from_config(config)


def test_a_fraction_descriptor_needs_no_modifier():
    f = ScoringFunction.from_config({"component": [{"type": "descriptor", "descriptor": "fraction_sp3"}]})
    assert f.score(["CCO", "c1ccccc1"]).total.tolist() == [1.0, 0.0]  # Fsp3 of ethanol 1, of benzene 0


def test_activity_forest_in_numpy_equals_sklearn(tmp_path, sample_smiles):
    from sklearn.ensemble import RandomForestClassifier

    mols = [chem.mol(s) for s in sample_smiles[:400]]
    X, _ = featurize(mols)
    y = np.array([chem.descriptor(m, "aromatic_rings") >= 2 for m in mols], dtype=int)  # a learnable "activity"
    rf = RandomForestClassifier(n_estimators=15, random_state=0).fit(X[:300], y[:300])
    arrays = _forest_arrays(rf)
    assert forest_predict(arrays, X[300:]) == pytest.approx(rf.predict_proba(X[300:])[:, 1], abs=1e-6)
    model = ActivityModel(arrays, {"kind": "activity", "config": {"radius": 2, "n_bits": 2048}})
    model.save(tmp_path / "act.chemrnn")
    again = ActivityModel.load(tmp_path / "act.chemrnn")
    assert again.predict(sample_smiles[300:400]) == pytest.approx(rf.predict_proba(X[300:])[:, 1], abs=1e-6)


def test_activity_training_separates_actives(shared_data):
    from chemrnn.io import load_smiles_list
    from chemrnn.scoring.activity import train_activity_model

    actives = load_smiles_list(shared_data / "actives" / "jnk3_train.smi.gz")
    decoys = load_smiles_list(shared_data / "chembl_valid.smi.gz")[:3000]
    model, metrics = train_activity_model(actives[:300], decoys, ActivityConfig(n_trees=30, folds=3))
    assert metrics["cv_roc_auc"] > 0.85 and metrics["actives"] == 300
    p_act = model.predict(actives[300:400])
    p_dec = model.predict(decoys[-100:])
    assert np.nanmean(p_act) > np.nanmean(p_dec) + 0.2  # held-out actives look active


def test_actives_are_screened_with_a_reason_for_every_row_dropped():
    """[Xe], [U] and NaCl were kept as actives, invalid rows dropped without a count."""
    from chemrnn.scoring.activity import NO_CARBON, screen_actives

    rows = ["c1ccccc1O", "[Xe]", "C1CC", "", "[U]", "[Na+].[Cl-]", "Oc1ccccc1", "CC(=O)[O-].[Na+]", "x", "CCO"]
    errors = [""] * 8 + ["only 1 fields, SMILES column is number 2", ""]
    s = screen_actives(rows, errors)
    assert s.kept == sorted(["Oc1ccccc1", "CC(=O)[O-].[Na+]", "CCO"]) and s.duplicates == 1
    assert s.rejected == [(1, NO_CARBON), (2, "SMILES syntax error"), (3, "blank line"), (4, NO_CARBON),
                          (5, NO_CARBON), (8, "only 1 fields, SMILES column is number 2")]
    counts = s.counts(len(rows))
    assert counts["actives"] + counts["duplicates"] + counts["rejected"] == counts["rows"] == 10
    assert counts["reasons"] == {NO_CARBON.split(":")[0]: 3, "SMILES syntax error": 1, "blank line": 1,
                                 "only 1 fields, SMILES column is number 2": 1}
