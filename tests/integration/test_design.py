"""The design cycle on the shipped prior with a real scoring function: each optimizer raises the mean score, the
diversity filter caps a scaffold, bad configs fail before any work, and a killed run resumes to the same result
as an uninterrupted one."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from chemrnn import chem
from chemrnn.design import run_design
from chemrnn.errors import InputError

OPTIONS = {"reinvent": "sigma = 120\nlr = 5e-4", "hillclimb": "top_k = 64\nlr = 1e-3",
           "segler": "top_k = 32\nthreshold = 0.99\nlr = 1e-3"}
# molecules with three or more aromatic rings: about a third of the prior's samples
SCORING = """[scoring]
[[scoring.component]]
type = "descriptor"
descriptor = "aromatic_rings"
modifier = { type = "step", threshold = 3 }
"""

# molecules with exactly one ring: benzene is their common scaffold
ONE_RING = SCORING.replace('"aromatic_rings"', '"rings"').replace('{ type = "step", threshold = 3 }',
                                                                  '{ type = "window", low = 1, high = 1 }')


def config(tmp_path: Path, optimizer: str, budget: int, filt: str = 'kind = "none"', extra: str = "") -> Path:
    path = tmp_path / f"{optimizer}.toml"
    path.write_text(f'[design]\noptimizer = "{optimizer}"\nbudget = {budget}\nbatch_size = 48\n{extra}\n'
                    f"[design.{optimizer}]\n{OPTIONS[optimizer]}\n[diversity_filter]\n{filt}\n{SCORING}")
    return path


def log(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["reinvent", "hillclimb", "segler"])
def test_each_optimizer_raises_the_mean_score(tmp_path, optimizer):
    summary = run_design(config(tmp_path, optimizer, 384), tmp_path / "run")
    means = [float(r["mean"]) for r in log(tmp_path / "run")]
    assert len(means) == 8 and summary["scored"] == 384
    assert sum(means[-2:]) / 2 > sum(means[:2]) / 2 + 0.1, means
    for f in ("scored.csv", "top.csv", "model/model.json", "metrics.json", "config.json", "learning_curve.png",
              "report.html", "top.png"):
        assert (tmp_path / "run" / f).exists(), f
    # validity over the batch, uniqueness over its valid molecules (as every chemrnn metric counts them)
    with open(tmp_path / "run" / "scored.csv", newline="") as fh:
        scored = list(csv.DictReader(fh))
    for row in log(tmp_path / "run"):
        valid = [r["canonical"] for r in scored if r["step"] == row["step"] and r["canonical"]]
        assert float(row["valid"]) == pytest.approx(len(valid) / 48, abs=1e-4)
        assert float(row["unique"]) == pytest.approx(len(set(valid)) / len(valid), abs=1e-4)


@pytest.mark.slow
def test_diversity_filter_caps_a_scaffold(tmp_path):
    """Rewarding one-ring molecules makes benzene the common scaffold: its bucket fills and the rest score 0."""
    cfg = config(tmp_path, "reinvent", 240, 'kind = "scaffold"\nbucket_size = 3\nmin_score = 0.5')
    cfg.write_text(cfg.read_text().replace(SCORING, ONE_RING))
    run_design(cfg, tmp_path / "run")
    with open(tmp_path / "run" / "scored.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["canonical"]]
    kept = Counter(chem.murcko_scaffold(r["canonical"]) for r in rows if float(r["score"]) > 0)
    capped = [r for r in rows if float(r["raw_score"]) >= 0.5 and float(r["score"]) == 0]
    assert kept and max(kept.values()) <= 3  # no scaffold scores more than bucket_size times
    assert capped and {chem.murcko_scaffold(r["canonical"]) for r in capped} <= {s for s, n in kept.items() if n == 3}


@pytest.mark.parametrize("bad, message", [
    ('[design]\noptimizer = "reinvnet"\n', "optimizer must be one of"),
    ('[design]\nbudjet = 10\n', "unknown key"),
    ('[design]\noptimizer = "reinvent"\n[design.reinvent]\nsigmaa = 3\n', "unknown key"),
    ('[design]\n[diversity_filter]\nkind = "murcko"\n', r"\[diversity_filter\] kind must be one of"),
    ('[design]\n[scorring]\n', "unknown table"),
    ('[design]\nbudget = -5\n', "budget must be an integer >= 1"),
    # wrong types: a bool is not a count, a word is not a number or a seed, one GPU of many is CUDA_VISIBLE_DEVICES'
    ('[design]\nbudget = true\n', r"\[design\] budget must be an integer >= 1, not True"),
    ('[design]\nbatch_size = true\n', r"\[design\] batch_size must be an integer >= 1, not True"),
    ('[design]\nseed = "x"\n', r"\[design\] seed must be an integer >= 0, not 'x'"),
    ('[design]\ntemperature = "hot"\n', r"\[design\] temperature must be a number > 0, not 'hot'"),
    ('[design]\nmax_length = 1.5\n', r"max_length must be an integer >= 1"),
    ('[design]\ndevice = "cuda:1"\n', r"device must be one of auto \| cpu \| gpu \| cuda, not 'cuda:1'"),
    ('[design]\nstarting_population = 3\n', r"starting_population must be"),
    ('[design]\n[diversity_filter]\nbucket_size = true\n', r"bucket_size must be an integer >= 1, not True"),
    ('[design]\nbudget = 0\nseed = -1\n', r"budget must be .*; \[design\] seed must be"),  # every problem at once
    # values out of range, refused before the run folder is made (they used to fail mid-run or run silently)
    ('[design]\noptimizer = "reinvent"\n[design.reinvent]\nlr = -1\n', r"lr must be a number > 0, not -1"),
    ('[design]\noptimizer = "reinvent"\n[design.reinvent]\nsigma = -120\n', "sigma must be a number > 0"),
    ('[design]\noptimizer = "hillclimb"\n[design.hillclimb]\ntop_k = 2.5\n', "top_k must be an integer >= 1"),
    ('[design]\noptimizer = "hillclimb"\n[design.hillclimb]\nfill = "yes"\n', "fill must be true or false"),
    ('[design]\noptimizer = "segler"\n[design.segler]\nthreshold = "high"\n', "threshold must be a number"),
    ('[design]\noptimizer = "segler"\n[design.segler]\nthreshold = 1' + "0" * 400 + "\n", "threshold must be a "),
    ('[design]\n[diversity_filter]\nmin_score = 4\n', r"min_score must be a number in \[0, 1\]"),
    ('[design]\n[diversity_filter]\nbucket_size = "lots"\n', "bucket_size must be an integer >= 1"),
    # a misspelt optimizer is named as unknown, even with its options table still there
    ('[design]\noptimizer = "reinforce"\n[design.reinvent]\nsigma = 120\n', "optimizer must be one of"),
    ('[design]\n[design.reinvnt]\nsigma = 120\n', r"valid: .*\[design.reinvent\]"),
    # a prior or starting population that cannot be read: nothing written either
    ('[design]\nprior = "nosuchprior"\n', "nosuchprior"),
    ('[design]\nstarting_population = "no/such/population.smi"\n', "population.smi"),
    # the quality filter's table: unknown keys and bad values named
    ('[design]\n[quality]\npreset = "lenient"\n', r"\[quality\] preset must be one of default \| strict \| none"),
    ('[design]\n[quality]\nalerts = ["PAINS_D"]\n', "alerts must be a list of"),
    ('[design]\n[quality]\nwindows = { MW = [600, 150] }\n', r"MW must be \[low, high\] with low <= high"),
    ('[design]\n[quality]\npenalty = 2\n', r"penalty must be a number in \[0, 1\]"),
    ('[design]\n[quality]\npreset = "default"\nalert = ["PAINS_A"]\n', r"unknown key\(s\) alert"),
    # a fixed core must be one, with attachment points
    ('[design]\n[constraints]\ncore = "C1CC1"\n', r"\[constraints\] core 'C1CC1' has no attachment point"),
    ('[design]\n[constraints]\ncore = 3\n', r"\[constraints\] core must be a SMILES with attachment points"),
    ('[design]\n[constraints]\ncore = "C1CC([*:1]"\n', r"core 'C1CC\(\[\*:1\]' is not a valid SMILES"),
    ('[design]\n[constraints]\nlink = ["C[*:1]"]\n', r"link must be a list of a non-empty string \(at least 2\)"),
    ('[design]\n[constraints]\nlink = ["C[*:1]", "C([*:1])[*:2]"]\n', r"link\[1\] .* exactly one attachment"),
    ('[design]\n[constraints]\ncore = "C[*:1]"\nlink = ["C[*:1]", "N[*:1]"]\n', "core or link, not both"),
    ('[design]\n[constraints]\ncores = "C[*:1]"\n', r"\[constraints\] unknown key\(s\) cores"),
    # a preset is a name from the list
    ('[design]\npreset = "guacamole"\n', r"\[design\] preset must be one of default, guacamol, not 'guacamole'"),
    ('[design]\npreset = ["guacamol"]\n', r"\[design\] preset must be one of default, guacamol"),
])
def test_bad_config_fails_before_any_work(tmp_path, bad, message):
    path = tmp_path / "bad.toml"
    path.write_text(bad + ("" if "scorring" in bad else SCORING))
    with pytest.raises(InputError, match=message):
        run_design(path, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_bad_scoring_component_names_the_config_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[design]\n' + SCORING.replace('type = "descriptor"', 'type = "descriptor"\nwieght = 2'))
    with pytest.raises(InputError, match=r"bad\.toml: \[scoring\] .*unknown key.*wieght"):
        run_design(path, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_run_with_a_fixed_core_only_scores_its_decorations(tmp_path):
    """[constraints] core: every molecule the run samples holds the core at its points; the hill-climber learns
    from them; the run's config records the core and the quality preset."""
    core = "O=C(N[*:1])c1ccc2[nH]ncc2c1"
    cfg = config(tmp_path, "hillclimb", 96, extra='prior = "chembl"')
    cfg.write_text(cfg.read_text() + f'[constraints]\ncore = "{core}"\n[quality]\npreset = "default"\n')
    run_design(cfg, tmp_path / "run")
    with open(tmp_path / "run" / "scored.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    query = chem.core_query(chem.attachment_core(core)[0])
    valid = [r["canonical"] for r in rows if r["canonical"]]
    assert len(rows) == 96 and len(valid) >= 80
    assert all(chem.contains_core(s, query) for s in valid)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["config"]["design"]
    assert recorded["constraints"] == {"core": core} and recorded["quality"] == {"preset": "default"}
    assert recorded["preset"] == "default"


def test_resumed_run_equals_uninterrupted(tmp_path):
    straight = tmp_path / "straight"
    whole = run_design(config(tmp_path, "reinvent", 240), straight)
    resumed = tmp_path / "resumed"
    run_design(config(tmp_path, "reinvent", 96), resumed)  # stops after 2 of 5 steps ...
    later = run_design(config(tmp_path, "reinvent", 240), resumed)  # ... and goes on (only the budget may change)
    assert (resumed / "scored.csv").read_text() == (straight / "scored.csv").read_text()
    # the scores of the first sitting come from the run's cache, exactly: no molecule is scored twice
    with open(straight / "scored.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["canonical"]]
    first = {r["canonical"] for r in rows if int(r["step"]) < 2}
    new = {r["canonical"] for r in rows if int(r["step"]) >= 2} - first
    assert whole["score_cache"]["computed"] == len(first | new)
    assert later["score_cache"]["computed"] == len(new)
    assert later["score_cache"]["from_cache"] == sum(1 for r in rows if int(r["step"]) >= 2) - len(new)


@pytest.mark.slow
def test_a_rerun_with_other_settings_is_refused_naming_them_and_restart_starts_over(tmp_path):
    cfg, run = config(tmp_path, "reinvent", 48), tmp_path / "run"
    run_design(cfg, run)
    cfg.write_text(cfg.read_text().replace("sigma = 120", "sigma = 60").replace('kind = "none"', 'kind = "scaffold"'))
    with pytest.raises(InputError, match=r"other settings \(options.sigma: 120 → 60, diversity_filter.kind: none → "
                                         r"scaffold\)"):
        run_design(cfg, run)
    assert run_design(cfg, run, restart=True)["scored"] == 48
    assert json.loads((run / "config.json").read_text())["config"]["design"]["options"]["sigma"] == 60


@pytest.mark.slow
def test_killed_run_resumes(tmp_path):
    cfg = config(tmp_path, "hillclimb", 48 * 40)
    run = tmp_path / "run"
    code = f"from chemrnn.design import run_design; run_design({str(cfg)!r}, {str(run)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "state" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and not state.exists():
        time.sleep(0.2)
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state.exists()
    done = len(log(run))
    assert 0 < done < 40
    cfg.write_text(cfg.read_text().replace(f"budget = {48 * 40}", f"budget = {48 * (done + 2)}"))
    run_design(cfg, run)
    steps = [int(r["step"]) for r in log(run)]
    assert steps == list(range(done + 2))  # continued from the saved step: no step lost, none repeated
    with open(run / "scored.csv", newline="") as fh:
        per_step = Counter(int(r["step"]) for r in csv.DictReader(fh))
    assert set(per_step.values()) == {48} and len(per_step) == done + 2


# an external scorer that notes every molecule it is asked for: the share of aromatic atoms, after a pause
NOTING = """import sys, time
time.sleep(0.3)
smiles = [line.strip() for line in sys.stdin]
with open(sys.argv[1], "a") as fh:
    fh.writelines(s + "\\n" for s in smiles)
for s in smiles:
    print(sum(ch in "cnos" for ch in s) / len(s))
"""


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_from_its_score_cache_and_equals_an_uninterrupted_one(tmp_path):
    script = tmp_path / "scorer.py"
    script.write_text(NOTING)

    def cfg(name: str) -> Path:
        path = config(tmp_path, "hillclimb", 48 * 8)
        noted = tmp_path / f"{name}.log"
        text = path.read_text().split("[scoring]")[0] + (
            f'[scoring]\n[[scoring.component]]\ntype = "external"\ncommand = ["{sys.executable}", "{script}", '
            f'"{noted}"]\n')
        (tmp_path / f"{name}.toml").write_text(text)
        return tmp_path / f"{name}.toml"

    straight = tmp_path / "straight"
    run_design(cfg("straight"), straight)
    once = (tmp_path / "straight.log").read_text().split()
    assert len(once) == len(set(once))  # within a run, no molecule is scored twice

    run = tmp_path / "killed"
    code = f"from chemrnn.design import run_design; run_design({str(cfg('killed'))!r}, {str(run)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not (run / "log.csv").exists() or len(log(run)) < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(log(run)) < 8  # killed mid-run
    with open(run / "score_cache.csv", newline="") as fh:
        cached = {r["canonical"] for r in csv.DictReader(fh)}
    before = len((tmp_path / "killed.log").read_text().split())

    summary = run_design(cfg("killed"), run)
    assert (run / "scored.csv").read_text() == (straight / "scored.csv").read_text()
    again = (tmp_path / "killed.log").read_text().split()[before:]
    assert cached and not cached & set(again)  # what the cache held was not scored again
    assert len(again) == len(set(again)) == len(set(once) - cached)
    assert summary["score_cache"]["computed"] == len(again)


@pytest.mark.slow
def test_scores_of_a_step_killed_while_scoring_are_kept(tmp_path):
    """A program scorer's molecules are written to the cache in chunks as they are scored: a run killed in the middle
    of its first step's scoring keeps what it had scored, and the resumed run scores only the rest."""
    script = tmp_path / "scorer.py"
    script.write_text(NOTING.replace("time.sleep(0.3)", "time.sleep(1.0)"))
    cfg = config(tmp_path, "hillclimb", 48)
    cfg.write_text(cfg.read_text().split("[scoring]")[0] + (
        f'[scoring]\n[[scoring.component]]\ntype = "external"\ncommand = ["{sys.executable}", "{script}", '
        f'"{tmp_path / "noted.log"}"]\n'))
    run = tmp_path / "run"
    code = f"from chemrnn.design import run_design; run_design({str(cfg)!r}, {str(run)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache, deadline = run / "score_cache.csv", time.time() + 120
    while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 9):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "log.csv").exists()  # killed before its first step was done
    with open(cache, newline="") as fh:
        kept = {r["canonical"] for r in csv.DictReader(fh)}
    before = len((tmp_path / "noted.log").read_text().split())
    run_design(cfg, run)
    again = (tmp_path / "noted.log").read_text().split()[before:]
    assert len(kept) >= 8 and not kept & set(again)
    with open(run / "scored.csv", newline="") as fh:
        valid = {r["canonical"] for r in csv.DictReader(fh) if r["canonical"]}
    assert set(again) == valid - kept


def test_a_run_saved_with_a_bare_component_resumes_with_an_identity_modifier():
    """A run saved with ``type = "sa"`` and no modifier (now refused) resumes once ``modifier = "identity"`` is
    written (the same scoring); any other modifier is other scoring."""
    from chemrnn.design.run import _scoring_key

    bare = {"aggregation": "arithmetic", "component": [{"type": "qed"}, {"type": "sa"}]}
    same = {"aggregation": "arithmetic", "component": [{"type": "qed", "modifier": {"type": "identity"}},
                                                       {"type": "sa", "modifier": "identity"}]}
    other = {"aggregation": "arithmetic", "component": [{"type": "qed"},
                                                        {"type": "sa", "modifier": {"type": "reverse_sigmoid",
                                                                                    "low": 2.5, "high": 5}}]}
    assert _scoring_key(bare) == _scoring_key(same) != _scoring_key(other)
    assert _scoring_key(None) is None


def test_rows_appended_to_a_scored_file_follow_the_header_it_was_started_with(tmp_path):
    """A run resumed by a version that writes another column keeps its file's columns (no row longer than the
    header), and a new file gets the header given."""
    from chemrnn.design.run import _append

    old = tmp_path / "scored.csv"
    old.write_text("step,smiles,score\n0,CCO,0.5\n")
    _append(old, [{"step": 1, "smiles": "CCN", "score": 0.25, "scoring_failure": ""}],
            ["step", "smiles", "score", "scoring_failure"])
    assert old.read_text() == "step,smiles,score\n0,CCO,0.5\n1,CCN,0.25\n"
    new = tmp_path / "new.csv"
    _append(new, [{"step": 1, "smiles": "CCN", "score": 0.25, "scoring_failure": "x"}],
            ["step", "smiles", "score", "scoring_failure"])
    assert new.read_text().splitlines() == ["step,smiles,score,scoring_failure", "1,CCN,0.25,x"]


def test_a_score_cache_row_half_written_at_a_kill_is_dropped_on_resume(tmp_path):
    run = tmp_path / "run"
    run_design(config(tmp_path, "reinvent", 96), run)
    cache = run / "score_cache.csv"
    whole = cache.read_text()
    cache.write_text(whole + "1,CCCCCCCCCCCCCCCCCCCC,0.12")  # a kill in the middle of a row: no line end
    run_design(config(tmp_path, "reinvent", 144), run)
    with open(cache, newline="") as fh:
        rows = list(csv.reader(fh))
    assert cache.read_text().startswith(whole) and all(len(r) == len(rows[0]) for r in rows)
    assert not any(r[1] == "CCCCCCCCCCCCCCCCCCCC" and r[2] == "0.12" for r in rows)


@pytest.mark.parametrize("example", sorted((Path(__file__).resolve().parents[2] / "examples").glob("design_*.toml")))
def test_examples_are_valid_configs(example, tmp_path, monkeypatch):
    """Every example config parses into the values the file gives (the rest the defaults) and names a prior that is
    here; those without a user-trained activity model build their scoring function."""
    import tomllib
    from dataclasses import fields

    from chemrnn.datasets import resolve_model
    from chemrnn.design.config import DesignConfig, load_toml, read_config
    from chemrnn.scoring import ScoringFunction

    cfg, scoring = read_config(load_toml(example), example)
    with open(example, "rb") as fh:
        given = tomllib.load(fh)
    design = {k: v for k, v in given["design"].items() if not isinstance(v, dict)}
    assert design and {k: getattr(cfg, k) for k in design} == design
    tables = {"quality", "constraints"}  # tables of their own: as the file gives them, else the defaults
    rest = {f.name for f in fields(DesignConfig)} - set(design) - {"options", "diversity_filter"} - tables
    assert {k: getattr(cfg, k) for k in rest} == {k: getattr(DesignConfig(), k) for k in rest}
    assert all(getattr(cfg, t) == given.get(t, getattr(DesignConfig(), t)) for t in tables)
    assert cfg.options == given["design"].get(cfg.optimizer, {})
    assert cfg.diversity_filter == {**DesignConfig().diversity_filter, **given.get("diversity_filter", {})}
    assert scoring == given["scoring"]
    assert resolve_model(cfg.prior, "language").exists()
    if all(c["type"] != "activity" for c in scoring["component"]):
        monkeypatch.chdir(tmp_path)  # what an example writes beside it (docking poses) goes to a scratch folder
        assert ScoringFunction.from_config(scoring)(["CCO"]).shape == (1,)


@pytest.mark.slow
def test_cli_activity_train_predict_and_design_run(tmp_path, capsys, shared_data):
    """The commands of the design group end to end: an activity model from JNK3 actives, its predictions as CSV on
    stdout (nothing else there, nothing on stderr with -q), and a design run whose scoring uses it."""
    from chemrnn.cli import main
    from chemrnn.io import load_smiles_list

    actives = load_smiles_list(shared_data / "actives" / "jnk3_train.smi.gz")[:60]
    (tmp_path / "act.smi").write_text("\n".join(actives) + "\n")
    model = tmp_path / "jnk3.chemrnn"
    assert main(["activity", "train", str(tmp_path / "act.smi"), "-o", str(model), "--decoys", "moses:test_sample",
                 "--trees", "20", "--folds", "2"]) == 0
    out = capsys.readouterr()
    auc = float(dict(line.split("\t") for line in out.out.splitlines())["cv_roc_auc"])
    assert 0.8 < auc <= 1.0 and model.exists()
    (tmp_path / "q.smi").write_text(f"{actives[0]}\nnot_a_smiles\nCCO\n")
    assert main(["-q", "activity", "predict", str(model), str(tmp_path / "q.smi")]) == 0
    out = capsys.readouterr()
    rows = list(csv.DictReader(out.out.splitlines()))
    assert out.err == "" and [r["line"] for r in rows] == ["1", "2", "3"]
    assert float(rows[0]["p_active"]) > float(rows[2]["p_active"]) and rows[1]["p_active"] == ""
    cfg = config(tmp_path, "hillclimb", 96)
    cfg.write_text(cfg.read_text() + f'[[scoring.component]]\ntype = "activity"\nmodel = "{model}"\n')
    assert main(["-q", "design", "run", str(cfg), "-o", str(tmp_path / "run")]) == 0
    rows = log(tmp_path / "run")
    assert len(rows) == 2 and (tmp_path / "run" / "scored.csv").exists()


# ------------------------------------------------------------------ GuacaMol's GoalDirectedGenerator interface
CELECOXIB = "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1"


class Similarity:
    """GuacaMol's duck type: ``score_list`` over SMILES (ECFP4 Tanimoto to celecoxib; an invalid one scores -1)."""

    def __init__(self):
        from rdkit import Chem
        from rdkit.Chem import rdFingerprintGenerator

        self.gen = rdFingerprintGenerator.GetMorganGenerator(radius=2)
        self.target = self.gen.GetFingerprint(Chem.MolFromSmiles(CELECOXIB))
        self.calls: list[int] = []

    def score_list(self, smiles):
        from rdkit import Chem, DataStructs

        self.calls.append(len(smiles))
        mols = [Chem.MolFromSmiles(s) for s in smiles]
        return [DataStructs.TanimotoSimilarity(self.target, self.gen.GetFingerprint(m)) if m else -1.0
                for m in mols]


def test_goal_directed_generator_counts_the_starting_population_in_the_budget(sample_smiles):
    from chemrnn.design import GoalDirectedGenerator

    gen = GoalDirectedGenerator("hillclimb", "shipped", budget=20 + 64, batch_size=32, device="cpu",
                                options={"top_k": 16, "lr": 1e-3})
    scoring = Similarity()
    population = sample_smiles[:19] + [CELECOXIB]
    out = gen.generate_optimized_molecules(scoring, 10, starting_population=population)
    assert scoring.calls[0] == 20 and sum(scoring.calls) <= 84  # the population first; invalid samples not scored
    assert gen.last_run.scored == 84 and gen.last_run.step == 2  # 20 + two batches of 32, no more
    assert out[0] == chem.canonical_or_none(CELECOXIB)  # the best molecule seen (score 1.0) comes first
    assert len(out) == 10 == len(set(out)) and all(chem.canonical_or_none(s) == s for s in out)
    best = scoring.score_list(out)
    assert best == sorted(best, reverse=True)


@pytest.mark.slow
def test_goal_directed_generator_stops_at_the_maximum_and_keeps_snapshots(sample_smiles):
    """A task whose best molecules already reach the maximum spends no more budget (celecoxib rediscovery: the
    population holds celecoxib); one that does not runs its budget, and its snapshots give the scores a run of that
    smaller budget returns."""
    from chemrnn.design import GoalDirectedGenerator
    from chemrnn.errors import InputError

    population = sample_smiles[:19] + [CELECOXIB]
    kw = dict(batch_size=32, device="cpu", options={"top_k": 16, "lr": 1e-3}, budget_after_population=True)
    stopped = GoalDirectedGenerator("hillclimb", "shipped", budget=96, stop_at=1.0, snapshots=(32, 96), **kw)
    out = stopped.generate_optimized_molecules(Similarity(), 1, starting_population=population)
    assert out == [chem.canonical_or_none(CELECOXIB)] and stopped.last_run.step == 0 and stopped.last_run.scored == 20
    assert stopped.last_snapshots == {32: [1.0], 96: [1.0]}  # what the full budget would give
    full = GoalDirectedGenerator("hillclimb", "shipped", budget=96, stop_at=1.0, snapshots=(32, 64, 96), **kw)
    out = full.generate_optimized_molecules(Similarity(), 5, starting_population=population)
    assert full.last_run.step == 3 and full.last_run.scored == 20 + 96  # one molecule at 1.0 is not five: no stop
    snaps = full.last_snapshots
    assert sorted(snaps) == [32, 64, 96] and snaps[96] == [full.last_run.best[s] for s in out]
    short = GoalDirectedGenerator("hillclimb", "shipped", budget=32, **kw)
    got = short.generate_optimized_molecules(Similarity(), 5, starting_population=population)
    assert snaps[32] == [short.last_run.best[s] for s in got] and snaps[32] != snaps[96]
    with pytest.raises(InputError, match="multiples of the batch size"):
        GoalDirectedGenerator("hillclimb", "shipped", budget=96, snapshots=(48,), **kw)


def test_the_guacamol_preset_is_the_documented_configuration():
    """``preset="guacamol"`` is the configuration of the published GuacaMol figure: the flags of the documented
    benchmark command, read from docs/benchmarks.md, are the preset's; arguments given override it."""
    import re

    from chemrnn.design import GoalDirectedGenerator
    from chemrnn.errors import InputError

    doc = (Path(__file__).parents[2] / "docs" / "benchmarks.md").read_text()
    section = doc[doc.index("### GuacaMol goal-directed suite"):]
    command = section[section.index("```") + 3: section.index("```", section.index("```") + 3)]
    flags = dict(re.findall(r"--([a-z-]+) (\S+)", command.replace("\\\n", " ")))
    options = dict(o.split("=") for o in re.findall(r"--option (\S+)", command))
    gen = GoalDirectedGenerator(preset="guacamol", quality="none")
    cfg, s = gen.cfg, gen.settings
    assert (cfg.optimizer, cfg.prior, cfg.budget, cfg.batch_size) == (
        flags["optimizer"], flags["prior"], int(flags["budget"]), int(flags["batch-size"]))
    assert {k: float(v) for k, v in options.items()} == {k: float(v) for k, v in cfg.options.items()}
    assert (gen.population, str(gen.population_size), gen.population_filter, gen.workers) == (
        flags["population"], flags["population-size"], flags["population-filter"], int(flags["workers"]))
    assert cfg.diversity_filter["kind"] == flags["diversity-filter"] and "--stop-at-max" in command
    assert gen.stop_at == 1.0 and gen.budget_after_population and s["population_size"] == "all"
    assert cfg.quality == {"preset": "none"}
    small = GoalDirectedGenerator(preset="guacamol", budget=2048, workers=1)
    assert (small.cfg.budget, small.workers, small.cfg.optimizer, small.cfg.batch_size) == (2048, 1, "hillclimb", 1024)
    assert small.cfg.quality == {"preset": "default"}  # the quality filter is on unless asked off
    plain = GoalDirectedGenerator()  # the cheap default
    assert (plain.cfg.optimizer, plain.cfg.budget, plain.workers, plain.stop_at) == ("reinvent", 5000, 1, None)
    for bad, message in [({"preset": "guacamole"}, "preset must be one of default, guacamol"),
                         ({"population_size": "lots"}, "population_size must be a whole number"),
                         ({"workers": 0}, "workers must be a whole number ≥ 1"),
                         ({"population_filter": "moses"}, "population_filter must be one of guacamol")]:
        with pytest.raises(InputError, match=message):
            GoalDirectedGenerator(**bad)


def test_a_design_config_takes_the_presets_values_for_the_keys_it_leaves_out(tmp_path):
    from chemrnn.design.config import PRESETS, load_toml, read_config

    path = tmp_path / "g.toml"
    path.write_text('[design]\npreset = "guacamol"\nbudget = 300000\n[design.hillclimb]\ntop_k = 128\n' + SCORING)
    cfg, _ = read_config(load_toml(path), path)
    want = PRESETS["guacamol"]
    assert (cfg.preset, cfg.optimizer, cfg.prior, cfg.batch_size, cfg.starting_population) == (
        "guacamol", "hillclimb", "chembl", 1024, "chembl")
    assert cfg.budget == 300000 and cfg.options == {**want["options"], "top_k": 128}
    assert cfg.diversity_filter["kind"] == "none"
    path.write_text('[design]\npreset = "guacamol"\noptimizer = "reinvent"\n' + SCORING)
    cfg, _ = read_config(load_toml(path), path)  # another optimizer: the hill-climber's options do not follow
    assert cfg.optimizer == "reinvent" and cfg.options == {} and cfg.budget == want["budget"]
    path.write_text("[design]\n" + SCORING)
    cfg, _ = read_config(load_toml(path), path)
    assert (cfg.preset, cfg.optimizer, cfg.budget) == ("default", "reinvent", 5000)


def test_a_run_saved_before_presets_resumes_with_the_default_preset():
    from chemrnn.design.run import _changed

    saved = {"optimizer": "hillclimb", "budget": 100}
    assert _changed(saved, {"optimizer": "hillclimb", "budget": 200, "preset": "default"}) == []
    assert _changed(saved, {"optimizer": "hillclimb", "preset": "guacamol"}) == ["preset: None → guacamol"]


def test_parallel_scoring_returns_the_in_process_scores_in_order(sample_smiles):
    from chemrnn.design.guacamol import PARALLEL_FROM, ParallelScore

    def score(smiles):
        return [len(s) + 0.5 * s.count("N") for s in smiles]

    smiles = (sample_smiles * 3)[:PARALLEL_FROM + 77]
    assert ParallelScore(score, 2)(smiles) == score(smiles)
    assert ParallelScore(score, 2)(smiles[:5]) == score(smiles[:5])


def test_goal_directed_generator_draws_a_seeded_population_from_a_file(tmp_path, sample_smiles):
    from chemrnn.design import GoalDirectedGenerator

    path = tmp_path / "pool.smi"
    path.write_text("\n".join(sample_smiles[:200]) + "\n")
    draws = [GoalDirectedGenerator("hillclimb", "shipped", budget=50, seed=s, population=str(path),
                                   population_size=30).starting_molecules(None) for s in (0, 0, 1)]
    assert draws[0] == draws[1] != draws[2] and len(draws[0]) == 30 and set(draws[0]) <= set(sample_smiles[:200])
    given = GoalDirectedGenerator("hillclimb", "shipped", budget=50, population=str(path), population_size=30)
    assert given.starting_molecules(["CCO"]) == ["CCO"]  # the benchmark's own population wins over the file
    whole = GoalDirectedGenerator("hillclimb", "shipped", budget=50, population=str(path), population_size="all")
    assert whole.starting_molecules(None) == sample_smiles[:200]


def test_best_molecules_are_ranked_by_the_raw_score_not_the_filtered_one():
    """The diversity filter shapes what the optimizer learns from; the molecules a run returns as best are ranked by
    the objective itself (a filter of one molecule per scaffold would otherwise zero most good ones)."""
    from chemrnn.design import GoalDirectedGenerator

    gen = GoalDirectedGenerator("hillclimb", "shipped", budget=64, batch_size=32, device="cpu",
                                options={"top_k": 16, "lr": 1e-3},
                                diversity_filter={"kind": "scaffold", "bucket_size": 1, "min_score": 0.0},
                                quality="none")  # the objective alone: no molecule zeroed by the quality filter
    scoring = Similarity()
    out = gen.generate_optimized_molecules(scoring, 20)
    best = gen.last_run.best
    raw = dict(zip(best, scoring.score_list(list(best))))
    assert len(best) > 20 and all(best[c] == pytest.approx(raw[c]) for c in best)
    flat = {c: chem.canonical(c, chem.CanonOptions(keep_stereo=False))[0] for c in best}
    ranked = sorted(best, key=lambda c: (-raw[c], c))
    assert out[0] == ranked[0] and [raw[c] for c in out] == sorted((raw[c] for c in out), reverse=True)
    assert len(out) == 20 == len({flat[c] for c in out})
    # every molecule scoring above the last one returned is returned, or is a stereoisomer of one returned
    assert {flat[c] for c in ranked if raw[c] > raw[out[-1]]} <= {flat[c] for c in out}


def test_best_molecules_count_stereoisomers_once_as_guacamol_does():
    """GuacaMol strips stereo from the returned molecules and pads the duplicates with zeros: two stereoisomers among
    the best would cost a place. The best form of each molecule is kept."""
    from chemrnn.design.guacamol import best_distinct

    best = {"C[C@H](N)C(=O)O": 0.9, "C[C@@H](N)C(=O)O": 0.85, "CC(N)C(=O)O": 0.8, "CCO": 0.5, "CCN": 0.4,
            "F/C=C/F": 0.3, "F/C=C\\F": 0.35, "[H]OC": 0.2, "CO": 0.25, "C1CC": 0.99}
    assert best_distinct(best, 3) == ["C[C@H](N)C(=O)O", "CCO", "CCN"]  # C1CC (unreadable) left out
    assert best_distinct(best, 10) == ["C[C@H](N)C(=O)O", "CCO", "CCN", "F/C=C\\F", "CO"]


@pytest.mark.slow
def test_design_updates_are_seeded_whatever_the_global_torch_state():
    """The ChEMBL prior has dropout: a run's fine-tuning draws its masks from a per-step seed, so two runs with the
    same seed agree even when the process's global torch RNG differs (as between two processes)."""
    from chemrnn.design import GoalDirectedGenerator

    outs = []
    for state in (1, 2):
        gen = GoalDirectedGenerator("hillclimb", "chembl", budget=96, batch_size=32, device="cpu",
                                    options={"top_k": 16, "lr": 1e-3, "epochs": 2})
        torch.manual_seed(state)
        outs.append((gen.generate_optimized_molecules(Similarity(), 30), gen.last_run.best))
    assert gen.last_run.agent.model.config.dropout > 0
    assert outs[0] == outs[1]


def _hill_climber(**options):
    from chemrnn.design.agent import Agent
    from chemrnn.design.optimizers import HillClimb
    from chemrnn.models.language import load_language_model
    from chemrnn.tokens import get_tokenizer

    model, vocab, tok, _ = load_language_model("shipped", device="cpu")
    return HillClimb(Agent(model, vocab, get_tokenizer(tok)), **options)


def test_hill_climber_pool_leaves_out_zero_scores_and_fills_up_with_its_hits():
    """A sparse objective: one hit among zeros. The pool holds the hit alone (zeros teach nothing), repeated to top_k
    molecules an epoch, so one step pulls the model towards it far harder than a lone copy would; with no hit at
    all the model is left as it is."""
    population, scores = ["CCO", CELECOXIB, "c1ccccc1"], np.array([0.0, 1.0, 0.0])
    canonical = chem.canonical_or_none(CELECOXIB)
    gains = {}
    for fill in (True, False):
        hc = _hill_climber(top_k=64, batch_size=8, epochs=1, lr=1e-3, fill=fill)
        ids = hc.agent.encode([canonical])
        before = hc.agent.log_likelihood(ids).item()
        hc.seed_population([chem.canonical_or_none(s) for s in population], scores)
        assert hc.pool == {canonical: 1.0}
        assert hc.training_set() == [canonical] * (64 if fill else 1)
        hc.step(0, None, [], np.zeros(0))
        gains[fill] = hc.agent.log_likelihood(ids).item() - before
    assert gains[True] > gains[False] + 5, gains  # nats of log-likelihood of the hit
    hc = _hill_climber(top_k=64)
    weights = [p.detach().clone() for p in hc.agent.model.parameters()]
    assert hc.step(0, None, ["CCO", "CCN"], np.zeros(2))["trained_on"] == 0
    assert all(torch.equal(a, b) for a, b in zip(weights, hc.agent.model.parameters()))


def test_a_state_saved_before_raw_ranking_resumes_with_raw_scores(tmp_path):
    """Older versions saved the filtered score as each molecule's best and kept zeros in the hill-climber's pool:
    resuming such a state rebuilds the best from scored.csv's raw scores and drops the zeros from the pool."""
    from chemrnn.design.config import load_toml, read_config
    from chemrnn.design.run import DesignRun
    from chemrnn.scoring import ScoringFunction

    cfg_path = config(tmp_path, "hillclimb", 96, 'kind = "scaffold"\nbucket_size = 1\nmin_score = 0.5')
    cfg_path.write_text(cfg_path.read_text().replace(SCORING, ONE_RING))
    run_dir = tmp_path / "run"
    run_design(cfg_path, run_dir)
    with open(run_dir / "scored.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["canonical"]]
    raw, filtered = {}, {}
    for r in rows:
        raw[r["canonical"]] = max(float(r["raw_score"]), raw.get(r["canonical"], 0.0))
        filtered[r["canonical"]] = max(float(r["score"]), filtered.get(r["canonical"], 0.0))
    assert raw != filtered  # the filter zeroed some good molecules
    state_file = run_dir / "state" / "state.json"
    state = json.loads(state_file.read_text())
    assert state.pop("best_scores") == "raw"
    state["best"] = filtered
    state["optimizer"]["pool"] = {**state["optimizer"]["pool"], "CCO": 0.0, "CCN": 0.0}
    state_file.write_text(json.dumps(state))
    cfg, scoring = read_config(load_toml(cfg_path))
    run = DesignRun(cfg, ScoringFunction.from_config(scoring), run_dir)
    assert run.load_state()
    assert run.best == pytest.approx(raw)
    assert "CCO" not in run.optimizer.pool and all(v > 0 for v in run.optimizer.pool.values())


@pytest.mark.slow
def test_invalid_starting_population_lines_go_to_a_rejects_file_with_their_line(tmp_path):
    pop = tmp_path / "pop.smi"
    pop.write_text("c1ccccc1O\nC1CC\nc1ccc2ccccc2c1\n\nnot_a_smiles\nCCO\n")
    cfg = config(tmp_path, "hillclimb", 53, extra=f'starting_population = "{pop}"')
    said = []
    summary = run_design(cfg, tmp_path / "run", progress=said.append)
    assert summary["scored"] >= 53
    with open(tmp_path / "run" / "starting_population_rejects.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["line"], r["raw"]) for r in rows] == [("2", "C1CC"), ("5", "not_a_smiles")]
    assert any("3 valid of 5" in m and "2 invalid" in m for m in said), said
    pop.write_text("c1ccccc1O\nCCO\n")  # mended: a restart leaves no stale rejects file
    run_design(cfg, tmp_path / "run", restart=True)
    assert not (tmp_path / "run" / "starting_population_rejects.csv").exists()


def test_a_design_runs_agent_knows_its_training_data_through_its_prior(tmp_path):
    """``lm sample RUN/model --novel-only`` checks against the prior's training set (the agent records its prior)."""
    from chemrnn.api import training_sources

    run_design(config(tmp_path, "hillclimb", 48), tmp_path / "run")
    assert training_sources(tmp_path / "run" / "model") == training_sources("shipped")


def test_a_design_run_into_a_folder_another_run_holds_is_refused_and_writes_nothing(tmp_path, capsys):
    """Two ``design run -o RUN`` at once used to both exit 0, the second resuming at step 1 while the first ran
    (scored.csv past the budget, log.csv with steps twice): a design run holds the run directory's lock."""
    from chemrnn.cli import main
    from chemrnn.training.lock import run_lock

    cfg, run = config(tmp_path, "hillclimb", 48), tmp_path / "run"
    with run_lock(run, "design run first.toml -o run"):
        with pytest.raises(InputError, match=r"another run is using this run directory \(pid \d+ .*first\.toml"):
            run_design(cfg, run)
        assert main(["design", "run", str(cfg), "-o", str(run)]) == 2
        assert "another run is using this run directory" in capsys.readouterr().err
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written by the refused runs


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_a_starting_population_without_smiles_is_refused_whether_empty_or_blank(tmp_path, text):
    """An empty file was refused while a file of blank lines was silently ignored: both are refused now."""
    pop = tmp_path / "pop.smi"
    pop.write_text(text)
    with pytest.raises(InputError, match=r"pop\.smi: .*(empty file|no SMILES)"):
        run_design(config(tmp_path, "hillclimb", 48, extra=f'starting_population = "{pop}"'), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_starting_population_csv_without_a_smiles_column_says_what_to_do(tmp_path):
    """The hint names what a config can do (design run has no --column option)."""
    pop = tmp_path / "pop.csv"
    pop.write_text("id,structure\n1,CCO\n")
    with pytest.raises(InputError, match=r"pop\.csv:1: no column 'smiles'.*name the SMILES column 'smiles'") as exc:
        run_design(config(tmp_path, "hillclimb", 48, extra=f'starting_population = "{pop}"'), tmp_path / "run")
    assert "--column" not in str(exc.value) and not (tmp_path / "run").exists()


def test_activity_train_counts_and_rejects_what_it_drops(tmp_path, capsys, shared_data):
    """A mixed actives file was reported as "79 actives" with no reasons, and [Xe], [U] and NaCl were kept as
    actives: every row is counted, and the rejected ones go with line and reason to MODEL.rejects.csv."""
    from chemrnn.cli import main
    from chemrnn.io import load_smiles_list
    from chemrnn.scoring.activity import ActivityModel

    actives = load_smiles_list(shared_data / "actives" / "jnk3_train.smi.gz")[:40]
    odd = ["[Xe]", "not_a_smiles", "[U]", "", "[Na+].[Cl-]", "C1CC", actives[0]]  # lines 41-47
    (tmp_path / "act.smi").write_text("\n".join(actives + odd) + "\n")
    model = tmp_path / "jnk3.chemrnn"
    assert main(["activity", "train", str(tmp_path / "act.smi"), "-o", str(model), "--decoys", "moses:test_sample",
                 "--trees", "10", "--folds", "2"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "47 rows: 40 actives, 1 duplicates, 6 rejected (3 no carbon atom" in err, err
    assert "2 SMILES syntax error" in err and "1 blank line" in err and "jnk3.rejects.csv" in err
    with open(tmp_path / "jnk3.rejects.csv", newline="") as fh:
        rows = [(r["line"], r["reason"].split(" (")[0], r["raw"]) for r in csv.DictReader(fh)]
    assert rows == [("41", "no carbon atom", "[Xe]"), ("42", "SMILES syntax error", "not_a_smiles"),
                    ("43", "no carbon atom", "[U]"), ("44", "blank line", ""),
                    ("45", "no carbon atom", "[Na+].[Cl-]"), ("46", "SMILES syntax error", "C1CC")]
    meta = ActivityModel.load(model).meta["training"]["metrics"]
    assert meta["actives"] == 40 and meta["active_rows"]["rejected"] == 6
    # too few actives: refused naming the file, with the counts
    (tmp_path / "few.smi").write_text("[Xe]\nCCO\nnot_a_smiles\n")
    assert main(["activity", "train", str(tmp_path / "few.smi"), "-o", str(tmp_path / "few.chemrnn"), "--decoys",
                 "moses:test_sample"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "few.smi: need at least 10 valid actives" in err and "3 rows: 1 actives, 0 duplicates, 2 rejected" in err


@pytest.mark.slow
def test_design_reports_show_figures_to_four_decimals(tmp_path):
    """log.csv, metrics.json and report.html give 0.3333, not 0.3333333333333333 (scored.csv keeps 6 significant
    digits per molecule)."""
    import re

    summary = run_design(config(tmp_path, "hillclimb", 96), tmp_path / "run")
    long = re.compile(r"\d\.\d{5,}")
    metrics = (tmp_path / "run" / "metrics.json").read_text()
    assert json.loads(metrics)["scored"] == 96 == summary["scored"]
    assert not long.findall(metrics), long.findall(metrics)
    rows = log(tmp_path / "run")
    assert not [v for r in rows for k, v in r.items() if k not in ("sample_s", "score_s", "update_s") and long.match(v)]
    assert any(0 < float(r["mean"]) < 1 for r in rows)  # a mean of 0/1 scores: the case that printed 16 decimals
    report = (tmp_path / "run" / "report.html").read_text()
    assert not long.findall(report.split("<img")[0]), long.findall(report.split("<img")[0])


def test_the_quality_filter_zeroes_what_it_rejects_and_says_why(tmp_path):
    """The default preset is on unless the config says otherwise and is recorded in the run's config; every scored
    molecule carries the filter's reason (empty when it passes) and a rejected one scores 0; the top list flags
    each molecule; ``preset = "none"`` scores the objective alone."""
    runs = {}
    for preset in ("default", "none"):
        extra = "" if preset == "default" else '[quality]\npreset = "none"\n'
        cfg = tmp_path / f"{preset}.toml"
        cfg.write_text(config(tmp_path, "reinvent", 96).read_text() + extra)
        run_design(cfg, tmp_path / preset)
        with open(tmp_path / preset / "scored.csv", newline="") as fh:
            runs[preset] = list(csv.DictReader(fh))
        recorded = json.loads((tmp_path / preset / "config.json").read_text())["config"]["design"]["quality"]
        assert recorded == {"preset": preset}
    flagged = [r for r in runs["default"] if r["quality"]]
    assert flagged and all(float(r["raw_score"]) == 0.0 for r in flagged)
    assert all(r["quality"] == "" for r in runs["none"])
    # the same samples (same seed and prior, first step): the filter only changes the scores of what it rejects
    first = [(r["canonical"], r["raw_score"]) for r in runs["none"] if r["step"] == "0"]
    for (c, raw), r in zip(first, [r for r in runs["default"] if r["step"] == "0"]):
        assert r["canonical"] == c and (r["raw_score"] == raw or (r["quality"] and float(r["raw_score"]) == 0))
    with open(tmp_path / "none" / "top.csv", newline="") as fh:
        top = list(csv.DictReader(fh))
    assert all(row["quality"] for row in top)  # "ok" or the default preset's reason, even with the filter off
