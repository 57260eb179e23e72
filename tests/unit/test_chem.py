import pytest

from chemrnn import chem


def test_canonical_and_reasons():
    assert chem.canonical("OCC") == ("CCO", "")
    assert chem.canonical("C1CC") == (None, "SMILES syntax error")
    can, reason = chem.canonical("C(C)(C)(C)(C)C")
    assert can is None and reason.startswith("invalid chemistry") and "valence" in reason
    assert chem.canonical("")[1] == "empty SMILES"


def test_stereo_and_fragments():
    opts = chem.CanonOptions(keep_stereo=False)
    assert chem.canonical("C[C@H](N)O", opts)[0] == chem.canonical("CC(N)O")[0]
    assert "@" in chem.canonical("C[C@H](N)O")[0]
    assert chem.canonical("CCOC(=O)c1ccccc1.[Na+].[Cl-]", chem.CanonOptions(largest_fragment=True))[0] == \
        chem.canonical("CCOC(=O)c1ccccc1")[0]


def test_stereo_free_is_guacamols_key():
    assert chem.stereo_free("C[C@H](N)C(=O)O") == chem.stereo_free("C[C@@H](N)C(=O)O") == "CC(N)C(=O)O"
    assert chem.stereo_free("F/C=C/F") == chem.stereo_free("F/C=C\\F") == "FC=CF"
    assert chem.stereo_free("[H]OC") == "CO"  # explicit hydrogens removed by the sanitized parse
    assert chem.stereo_free("C1CC") is None


def test_stereo_and_isotopes_are_separate_options():
    """--no-stereo used to strip isotopes too ([2H]C([2H])([2H])O → [H]C([H])([H])O, another string than CO)."""
    no_stereo, no_isotopes = chem.CanonOptions(keep_stereo=False), chem.CanonOptions(keep_isotopes=False)
    assert chem.canonical("[2H]C([2H])([2H])O", no_stereo)[0] == "[2H]C([2H])([2H])O"
    assert chem.canonical("C[C@H](N)O", no_stereo)[0] == "CC(N)O"
    assert chem.canonical("[2H]C([2H])([2H])O", no_isotopes)[0] == chem.canonical("CO")[0] == "CO"
    assert chem.canonical("[13CH4]", no_isotopes)[0] == "C"
    assert chem.canonical("C[C@H](N)O", no_isotopes)[0] == "C[C@H](N)O"  # stereo stays
    assert chem.canonical("O[13C@H](C)CC", no_isotopes)[0] == chem.canonical("O[C@H](C)CC")[0]
    # stereo that only an isotope made goes with it
    assert chem.canonical("C[C@@H]([2H])O", no_isotopes)[0] == "CCO"
    assert chem.canonical("[2H]/C=C/[2H]", no_isotopes)[0] == "C=C"
    both = chem.CanonOptions(keep_stereo=False, keep_isotopes=False)
    assert chem.canonical("[2H]C[C@H](N)O", both)[0] == chem.canonical("CC(N)O")[0]


def test_largest_fragment_does_not_neutralize_and_neutralize_does():
    frag = chem.CanonOptions(largest_fragment=True)
    assert chem.canonical("CC(=O)[O-].[Na+]", frag)[0] == "CC(=O)[O-]"
    assert chem.canonical("CC(=O)O.[Na+]", frag)[0] == "CC(=O)O"
    both = chem.CanonOptions(largest_fragment=True, neutralize=True)
    assert chem.canonical("CC(=O)[O-].[Na+]", both)[0] == chem.canonical("CC(=O)O.[Na+]", both)[0] == "CC(=O)O"
    assert chem.canonical("C[NH+](C)C.[Cl-]", both)[0] == "CN(C)C"
    alone = chem.CanonOptions(neutralize=True)
    assert chem.canonical("CC[NH3+]", alone)[0] == "CCN"
    assert chem.canonical("CC(=O)[O-].[Na+]", alone)[0] == "CC(=O)[O-].[Na+]"  # a salt kept whole: balanced
    assert chem.canonical("C[N+](C)(C)C", alone)[0] == "C[N+](C)(C)C"  # no hydrogen to take
    assert chem.canonical("O=[N+]([O-])c1ccccc1", alone)[0] == "O=[N+]([O-])c1ccccc1"  # nitro stays


def test_randomized_reproducible_and_same_molecule(sample_smiles):
    s = sample_smiles[0]
    a = chem.randomized(s, 5, seed=3)
    assert a == chem.randomized(s, 5, seed=3)
    assert a != chem.randomized(s, 5, seed=4)
    assert len(set(a)) > 1
    assert all(chem.same_molecule(x, s) for x in a)


def test_descriptors_and_scaffold():
    d = chem.descriptors("c1ccccc1O")
    assert abs(d["TPSA"] - 20.23) < 1e-6 and 1.0 < d["logP"] < 2.0
    assert chem.murcko_scaffold("CCc1ccccc1") == "c1ccccc1"
    assert chem.murcko_scaffold("CCO") == ""


def test_depiction_svg():
    from chemrnn import chem

    svg = chem.depiction_svg("c1ccccc1O", 200, 150)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "width='200px'" in svg
    assert chem.depiction_svg("C1CC(") is None and chem.depiction_svg("") is None


def test_spellings_are_the_smiles_then_n_random_ones_of_the_same_molecule():
    s = "CC(=O)Nc1ccc(O)cc1"
    v = chem.spellings(s, 6, seed=2)
    assert len(v) == 7 and v[0] == s and len(set(v[1:])) > 1
    assert all(chem.same_molecule(x, s) for x in v)
    assert chem.spellings("C", 4) == ["C"] * 5  # one spelling only: repeated, so every molecule has 1 + n
    assert chem.spellings("C[C@H](N)C(=O)O", 3, seed=1) == chem.spellings("C[C@H](N)C(=O)O", 3, seed=1)
    assert chem.spellings(s, 0) == [s]


def test_depictions_share_one_scale_unless_a_molecule_does_not_fit():
    """Benzene beside aspirin is drawn with bonds of the same length (not blown up to fill its box); a long chain
    that cannot fit at that scale is shrunk."""
    import re

    from chemrnn import chem

    def first_bond_length(smiles):
        svg = chem.depiction_svg(smiles, 160, 110)
        m = re.search(r"class='bond-0[^']*' d='M ([\d.]+),([\d.]+) L ([\d.]+),([\d.]+)'", svg)
        x1, y1, x2, y2 = map(float, m.groups())
        return ((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5

    benzene, aspirin, chain = (first_bond_length(s) for s in ("c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "C" * 40))
    assert benzene == pytest.approx(aspirin, rel=0.05)
    assert chain < benzene / 2


def test_far_from_removes_molecules_close_to_a_reference():
    """GuacaMol's cleaning: ECFP4 Tanimoto ≥ cutoff to any reference removes a molecule; invalid ones go too."""
    celecoxib = "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1"
    analogue = "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(C)(=O)=O)cc2)cc1"  # sulfonamide → methyl sulfone
    aspirin, ethanol = "CC(=O)Oc1ccccc1C(=O)O", "CCO"
    kept = chem.far_from([celecoxib, aspirin, analogue, "C1CC", ethanol], [celecoxib, "c1ccncc1"], 0.323)
    assert kept == [aspirin, ethanol]
    assert chem.far_from([analogue], [celecoxib], 0.99) == [analogue]  # below a high cutoff: kept
