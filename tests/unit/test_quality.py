"""Quality filters: PAINS and other alerts, radicals and odd atoms, ring systems never seen in ChEMBL, property
windows; marketed drugs pass the default preset."""
import pytest

from chemrnn.errors import InputError
from chemrnn.scoring.quality import PRESETS, QualityFilter, known_ring_systems

MARKETED = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O", "ibuprofen": "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1", "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "atorvastatin": "CC(C)c1c(C(=O)Nc2ccccc2)c(-c2ccccc2)c(-c2ccc(F)cc2)n1CCC(O)CC(O)CC(=O)O",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "sildenafil": "CCCc1nn(C)c2c(=O)[nH]c(-c3cc(S(=O)(=O)N4CCN(C)CC4)ccc3OCC)nc12",
    "diazepam": "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21", "omeprazole": "COc1ccc2[nH]c(S(=O)Cc3ncc(C)c(OC)c3C)nc2c1",
    "celecoxib": "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1",
    "osimertinib": "C=CC(=O)Nc1cc(Nc2nccc(-c3cn(C)c4ccccc34)n2)c(OC)cc1N(C)CCN(C)C",
    "metformin": "CN(C)C(=N)NC(=N)N", "fluoxetine": "CNCCC(Oc1ccc(C(F)(F)F)cc1)c1ccccc1",
    "losartan": "CCCCc1nc(Cl)c(CO)n1Cc1ccc(-c2ccccc2-c2nnn[nH]2)cc1",
    "warfarin": "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O", "tamoxifen": "CCC(=C(c1ccccc1)c1ccc(OCCN(C)C)cc1)c1ccccc1",
}


def test_marketed_drugs_pass_the_default_preset():
    default = QualityFilter.from_config({})
    assert default.preset == "default" and default.active
    assert dict(zip(MARKETED, default.reasons(list(MARKETED.values())))) == {name: None for name in MARKETED}


@pytest.mark.parametrize("smiles, reason", [
    ("O=C1NC(=S)SC1=Cc1ccccc1", "PAINS_A: ene_rhod"),  # a rhodanine: PAINS
    ("Oc1ccc(N=Nc2ccccc2)cc1", "PAINS_A: azo"),
    ("[CH2]c1ccccc1", "radical (C, atom 1)"),
    ("[2H]C([2H])([2H])Oc1ccccc1", "isotope label (2H)"),
    ("C[N+](C)(C)Cc1ccccc1", "net charge +1"),
    ("CC[Sn](CC)(CC)c1ccccc1", "unusual element (Sn)"),
    ("c1ccc(C2N=NSN2)cc1", "ring system never seen in ChEMBL (C1N=NSN1)"),  # a strained N3S ring
])
def test_the_default_preset_rejects_with_a_reason(smiles, reason):
    (why,) = QualityFilter.from_config({"preset": "default"}).reasons([smiles])
    assert why is not None and why.startswith(reason), why


def test_presets_windows_and_none():
    strict = QualityFilter.from_config({"preset": "strict"})
    big = MARKETED["atorvastatin"]  # 9 rotatable bonds, logP 6.3: beyond strict's logP window
    assert strict.reasons([big])[0].startswith("logP 6.3")
    window = QualityFilter.from_config({"preset": "none", "windows": {"MW": [0, 200]}})
    assert window.reasons([MARKETED["paracetamol"], MARKETED["imatinib"]]) == [None, "MW 493.3 outside [0, 200]"]
    off = QualityFilter.from_config({"preset": "none"})
    assert not off.active and off.reasons(["[CH2]c1ccccc1"]) == [None]
    assert set(PRESETS) == {"default", "strict", "none"}


def test_the_shipped_ring_system_table_holds_chembl_ring_systems():
    known = known_ring_systems()
    assert len(known) > 10_000 and {"c1ccccc1", "c1ccncc1", "C1CCNCC1", "c1ccc2ccccc2c1"} <= known
    assert "C1N=NSN1" not in known


@pytest.mark.parametrize("table, message", [
    ({"preset": "lenient"}, "preset must be one of default | strict | none"),
    ({"alerts": ["PAINS_A", "PAINS_Z"]}, "alerts must be a list of"),
    ({"atoms": "yes"}, "atoms must be true or false"),
    ({"ring_systems": "zinc"}, "ring_systems must be"),
    ({"windows": {"weight": [0, 500]}}, "unknown property 'weight'"),
    ({"windows": {"MW": [500]}}, r"MW must be \[low, high\]"),
    ({"penalty": True}, r"penalty must be a number in \[0, 1\]"),
    ({"filters": []}, r"unknown key\(s\) filters"),
])
def test_bad_quality_tables_are_refused_naming_the_key(table, message):
    with pytest.raises(InputError, match=message):
        QualityFilter.from_config(table)
