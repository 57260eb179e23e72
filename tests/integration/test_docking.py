"""Docking as a scoring component (DOCKSTRING's F2, thrombin): a known ligand docks to a finite energy in the range
such a small ligand reaches, a molecule the preparation refuses is a counted failure, and a bad target or setting is
refused naming the choices. CI installs the docking extra, so these run there."""
import csv

import numpy as np
import pytest

from chemrnn import chem
from chemrnn.errors import InputError
from chemrnn.scoring import ScoringFunction
from chemrnn.scoring.components import pose_file

BENZAMIDINE = "NC(=N)c1ccccc1"  # the classic S1-pocket ligand of thrombin and trypsin
RADICAL = "[CH2]CC(=O)O"  # RDKit reads it (one unpaired electron); DOCKSTRING refuses radicals


def docking(**keys) -> ScoringFunction:
    comp = {"type": "docking", "target": "F2", "modifier": {"type": "reverse_sigmoid", "low": -12, "high": -4}, **keys}
    return ScoringFunction.from_config({"component": [comp]})


def test_a_known_ligand_docks_and_a_radical_is_a_counted_failure(tmp_path):
    sc = docking(workers=2, poses=str(tmp_path / "poses")).score([BENZAMIDINE, RADICAL, "not a smiles"])
    energy = sc.raw["docking"]
    assert np.isfinite(energy[0]) and -9.0 < energy[0] < -3.0, energy
    assert sc.failures[0] is None and "radical" in sc.failures[1].lower() and sc.failures[2] is None
    assert np.isnan(energy[1]) and sc.total[1] == 0.0 and sc.total[2] == 0.0
    # the best pose is kept: the ligand's heavy atoms in 3D, with its energy
    (pose,) = chem.read_poses(pose_file(tmp_path / "poses", sc.canonical[0], "F2"))
    assert pose.GetNumHeavyAtoms() == 9 and pose.GetConformer().Is3D()
    assert float(pose.GetProp("vina_energy")) == energy[0] and pose.GetProp("target") == "F2"
    assert [p.name for p in (tmp_path / "poses").iterdir()] == [pose_file(tmp_path, sc.canonical[0], "F2").name]
    assert (tmp_path / "poses").iterdir().__next__().stat().st_mode & 0o044  # readable by others, as any output
    again = docking().score([BENZAMIDINE])  # seeded: the same energy in one process
    assert again.raw["docking"][0] == energy[0]


@pytest.mark.parametrize("keys, message", [
    ({"target": "THROMBIN"}, r"unknown target 'THROMBIN'; DOCKSTRING's targets: .*F2"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"timeout": 0}, "timeout must be a number > 0"),
    ({"poses": True}, "poses must be a folder's path, not True"),
    ({"exhaustiveness": 0}, r"exhaustiveness must be an integer in \[1, 64\]"),
])
def test_bad_docking_settings_are_refused(keys, message):
    with pytest.raises(InputError, match=message):
        docking(**keys)


def test_vina_searches_at_the_exhaustiveness_asked_for(tmp_path):
    from chemrnn.scoring.components import _target

    assert "exhaustiveness" not in _target("F2", 8, str(tmp_path / "a")).conf_path.read_text()  # DOCKSTRING's own
    faster = _target("F2", 2, str(tmp_path))
    assert faster.conf_path.parent == tmp_path and "exhaustiveness = 2" in faster.conf_path.read_text()
    score, _ = faster.dock(BENZAMIDINE, num_cpus=1, seed=0)
    assert -9.0 < score < -3.0


def test_a_design_run_names_each_top_molecules_pose(tmp_path):
    config = tmp_path / "dock.toml"
    config.write_text(f"""[design]
optimizer = "hillclimb"
budget = 4
batch_size = 4
[diversity_filter]
kind = "none"
[quality]
preset = "none"
[scoring]
[[scoring.component]]
type = "docking"
target = "F2"
exhaustiveness = 1
workers = 2
poses = "{tmp_path / 'poses'}"
modifier = {{ type = "clipped", lower_x = 0, upper_x = -20 }}
""")
    from chemrnn.api import design

    design(config, tmp_path / "run")
    with open(tmp_path / "run" / "top.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    docked = [r for r in rows if float(r["score"]) > 0]  # a molecule Vina could not dock scores 0 and has no pose
    assert docked and all(r["pose"] for r in docked) and not any(r["pose"] for r in rows if r not in docked)
    for r in docked:
        (pose,) = chem.read_poses(r["pose"])
        assert pose.GetProp("smiles") == r["smiles"] and pose.GetConformer().Is3D()


def test_each_docked_molecule_reaches_the_run_cache_as_its_docking_ends(tmp_path):
    """With a design run's journal attached, molecules dock in one go and each is handed over alone, the moment its
    docking ends (a kill then loses only what was docking); the rows handed over are the scores returned."""
    comp = {"type": "docking", "target": "F2", "exhaustiveness": 1, "workers": 2,
            "modifier": {"type": "clipped", "lower_x": 0, "upper_x": -20}}
    sc = ScoringFunction.from_config({"component": [comp, {"type": "qed"}]})
    handed: list[list] = []
    sc.journal = handed.append
    mols = [BENZAMIDINE, "CC(=O)Nc1ccc(O)cc1", RADICAL, "OC(=O)c1ccccc1"]
    out = sc.score(mols)
    assert [len(h) for h in handed] == [1, 1, 1, 1] and sc.calls == 4
    rows = {c: row for h in handed for c, row in h}
    assert set(rows) == set(out.canonical)
    for i, c in enumerate(out.canonical):
        total, _, raw, failure = rows[c]
        assert total == out.total[i] and failure == out.failures[i]
        assert np.array_equal(raw, [out.raw["docking"][i], out.raw["qed"][i]], equal_nan=True)
    assert "radical" in out.failures[2].lower() and out.total[2] == 0.0
    plain = ScoringFunction.from_config({"component": [comp, {"type": "qed"}]}).score(mols)  # no journal: one call
    assert np.array_equal(plain.raw["docking"], out.raw["docking"], equal_nan=True)
    assert plain.total == pytest.approx(out.total, rel=1e-12, abs=0)
