"""An external program as a scoring component: its scores in order, and every way it can fail — a non-zero exit,
a hang, too few lines, a line that is not a number — is a counted failure with its reason, never a crash."""
import csv
import json
import os
import sys
import time

import numpy as np
import pytest

from chemrnn.design import run_design
from chemrnn.errors import InputError
from chemrnn.scoring import ScoringFunction

MOLS = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CCN"]
# a scorer: the number of characters of each SMILES read, divided by 100
LENGTH = "import sys\nfor line in sys.stdin: print(len(line.strip()) / 100)"


def scorer(code: str, **keys) -> ScoringFunction:
    comp = {"type": "external", "command": [sys.executable, "-c", code], **keys}
    return ScoringFunction.from_config({"component": [comp]})


def test_scores_come_back_in_order_from_stdin_or_a_file(tmp_path):
    sc = scorer(LENGTH).score(MOLS + ["not a smiles"])
    assert np.allclose(sc.total, [len(m) / 100 for m in MOLS] + [0.0])
    assert sc.failures == [None] * 5  # an invalid SMILES is not a failure of the program: it is never sent
    from_file = "import sys\nfor line in open(sys.argv[1]): print(len(line.strip()) / 100)"
    comp = {"type": "external", "command": [sys.executable, "-c", from_file, "{input}"], "input": "file"}
    assert np.allclose(ScoringFunction.from_config({"component": [comp]})(MOLS), [len(m) / 100 for m in MOLS])
    assert np.allclose(scorer(LENGTH, batch_size=3)(MOLS), [len(m) / 100 for m in MOLS])  # in batches too


@pytest.mark.parametrize("code, reason, scored", [
    ("import sys\nsys.stderr.write('licence expired\\n')\nsys.exit(1)", "exit 1: licence expired", 0),
    ("import sys\nlines = sys.stdin.read().split()\nprint(0.5)\nprint(0.25)", "no score (the program wrote 2 lines", 2),
    ("import sys\nfor line in sys.stdin: print('nan' if 'N' in line else 0.5)", "not a score: 'nan'", 3),
])
def test_a_failing_program_fails_its_molecules_with_the_reason(code, reason, scored):
    sc = scorer(code).score(MOLS)
    failed = [f for f in sc.failures if f]
    assert len(failed) == len(MOLS) - scored and all(reason in f and f.startswith("external: ") for f in failed)
    assert all(t == 0.0 for t, f in zip(sc.total, sc.failures) if f)
    assert all(t > 0.0 for t, f in zip(sc.total, sc.failures) if not f)


def test_a_hanging_program_is_stopped_at_its_timeout():
    t0 = time.perf_counter()
    sc = scorer("import time\ntime.sleep(30)", timeout=0.5).score(MOLS)
    assert time.perf_counter() - t0 < 10
    assert sc.failures == ["external: timed out after 0.5 s"] * len(MOLS) and not sc.total.any()


@pytest.mark.parametrize("keys, message", [
    ({"command": []}, "command must be a command line or a list of words"),
    ({"command": "cat", "input": "pipe"}, "input must be stdin or file"),
    ({"command": "cat", "input": "file"}, "must hold {input}"),
    ({"command": "cat", "timeout": -1}, "timeout must be a number > 0"),
    ({"command": "cat", "batch_size": 1.5}, "batch_size must be an integer >= 0"),
])
def test_bad_external_settings_are_refused(keys, message):
    with pytest.raises(InputError, match=message):
        ScoringFunction.from_config({"component": [{"type": "external", **keys}]})


def test_a_design_run_goes_on_through_failures_and_counts_them(tmp_path):
    """The program fails for every molecule with a nitrogen: those score 0, their reason is in scored.csv, the
    summary counts them, and the run spends its budget."""
    code = ("import sys\nfor line in sys.stdin:\n    s = line.strip()\n"
            "    print('x' if 'N' in s or 'n' in s else len(s) / 100)")
    cfg = tmp_path / "ext.toml"
    cfg.write_text(f'[design]\noptimizer = "hillclimb"\nbudget = 64\nbatch_size = 32\n[design.hillclimb]\n'
                   f'top_k = 16\nlr = 1e-3\n[quality]\npreset = "none"\n[scoring]\n[[scoring.component]]\n'
                   f'type = "external"\ncommand = {json.dumps([sys.executable, "-c", code])}\n')
    said: list[str] = []
    (tmp_path / "run").mkdir()  # a first start killed before its first step was saved, under other scoring
    (tmp_path / "run" / "scored.csv").write_text("step,smiles,canonical,score,raw_score,quality,qed\n0,C,C,0,0,,0\n")
    summary = run_design(cfg, tmp_path / "run", progress=lambda msg, *_: said.append(msg))
    assert summary["scored"] == 64
    with open(tmp_path / "run" / "scored.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["step", "smiles", "canonical", "score", "raw_score", "external", "quality",
                             "scoring_failure"]
    # each step says how many molecules could not be scored, and why (the first reason)
    steps = [m for m in said if m.startswith("step ")]
    assert len(steps) == 2 and all("could not be scored (e.g. external: " in m for m in steps), steps
    failed = [r for r in rows if r["scoring_failure"]]
    nitrogen = [r for r in rows if r["canonical"] and ("N" in r["canonical"] or "n" in r["canonical"])]
    assert failed and {r["canonical"] for r in failed} == {r["canonical"] for r in nitrogen}
    assert all(float(r["score"]) == 0.0 and "not a score: 'x'" in r["scoring_failure"] for r in failed)
    assert summary["scoring_failures"]["count"] == len(failed)


def test_scoring_in_worker_processes_equals_scoring_in_one(sample_smiles, tmp_path):
    # the scorer notes the process that started it: the test's own, or a scoring worker
    noting = f"import os, sys\nopen({str(tmp_path / 'parents')!r}, 'a').write(f'{{os.getppid()}}\\n')\n" + LENGTH
    comps = [{"type": "qed"}, {"type": "sa", "modifier": {"type": "reverse_sigmoid", "low": 2.5, "high": 5}},
             {"type": "similarity", "smiles": ["CC(=O)Oc1ccccc1C(=O)O"]},
             {"type": "external", "command": [sys.executable, "-c", noting], "batch_size": 7}]
    mols = sample_smiles[:150] + ["not a smiles"]
    one = ScoringFunction.from_config({"component": comps}).score(mols)
    parents_one = set((tmp_path / "parents").read_text().split())
    (tmp_path / "parents").unlink()
    two = ScoringFunction.from_config({"component": comps, "workers": 2}).score(mols)
    parents_two = set((tmp_path / "parents").read_text().split())
    assert parents_one == {str(os.getpid())} and str(os.getpid()) not in parents_two and len(parents_two) == 2
    assert np.array_equal(one.total, two.total) and one.total[:150].all() and two.total[-1] == 0.0
    for name in one.raw:
        assert np.array_equal(one.raw[name], two.raw[name], equal_nan=True), name


def test_a_python_function_returning_nan_or_raising_fails_those_molecules_with_the_reason(tmp_path):
    """Whatever goes wrong in a user's function is a counted failure with its reason (score 0), never a silent 0
    and never a stopped run: NaN, inf, None or text for a molecule; an exception, a scalar or too few values for
    the call; the same in scoring processes."""
    (tmp_path / "user_scores.py").write_text(
        "def gappy(smiles):\n"
        "    return [None if 'N' in s else float('nan') if 'S' in s else float('inf') if 'Cl' in s else\n"
        "            'high' if 'Br' in s else 0.5 for s in smiles]\n"
        "def broken(smiles):\n"
        "    raise ValueError('no model file')\n"
        "def scalar(smiles):\n"
        "    return 0.5\n"
        "def short(smiles):\n"
        "    return [0.5]\n")
    sys.path.insert(0, str(tmp_path))

    def scorer(name, **more):
        return ScoringFunction.from_config({"component": [{"type": "python", "function": f"user_scores:{name}"},
                                                          {"type": "qed"}], **more})
    mols = ["CCO", "CCN", "CCCl", "C1CC", "CCS", "CCBr"]
    try:
        sc = scorer("gappy").score(mols)
        pooled = scorer("gappy", workers=2, timeout=30).score(mols)
        calls = {name: scorer(name).score(["CCO", "CCC"]) for name in ("broken", "scalar", "short")}
        in_workers = scorer("broken", workers=2).score(["CCO", "CCC"])
    finally:
        sys.path.remove(str(tmp_path))
    assert sc.failures[0] is None and sc.total[0] > 0
    assert sc.failures[1:] == ["python: the function returned None", "python: the function returned inf", None,
                               "python: the function returned nan", "python: the function returned 'high', not a number"]
    assert sc.total[1:].tolist() == [0.0] * 5  # C1CC is invalid: scored 0 before any component
    assert pooled.failures == sc.failures and pooled.total.tolist() == sc.total.tolist()
    assert calls["broken"].failures == ["python: the function raised ValueError: no model file"] * 2
    assert calls["scalar"].failures == ["python: the function returned float, not a list of numbers"] * 2
    assert calls["short"].failures == ["python: the function returned 1 values for 2 molecules"] * 2
    assert in_workers.failures == calls["broken"].failures
    assert not any(c.total.any() for c in calls.values())


def test_a_design_runs_journal_calls_a_python_function_once_a_batch_and_an_external_program_in_chunks(tmp_path):
    """Journalling each score as it is done (a design run's score cache) splits the call only for slow programs:
    a python function gets the whole batch at once (a batched model stays fast)."""
    (tmp_path / "counting.py").write_text(
        f"def score(smiles):\n    open({str(tmp_path / 'calls')!r}, 'a').write(f'{{len(smiles)}}\\n')\n"
        "    return [0.5] * len(smiles)\n")
    mols = [f"C{'C' * i}O" for i in range(20)]
    sys.path.insert(0, str(tmp_path))
    try:
        sc = ScoringFunction.from_config({"component": [{"type": "python", "function": "counting:score"}]})
        journal: list = []
        sc.journal = journal.extend
        sc.score(mols)
    finally:
        sys.path.remove(str(tmp_path))
    assert (tmp_path / "calls").read_text().split() == ["20"] and len(journal) == 20
    ext = ScoringFunction.from_config({"component": [{"type": "external", "command": [sys.executable, "-c", LENGTH]}]})
    chunks: list = []
    ext.journal = chunks.append
    ext.score(mols)
    assert [len(c) for c in chunks] == [8, 8, 4]


def test_a_scoring_worker_that_dies_fails_its_molecules_and_the_call_returns(tmp_path):
    # a python component whose process is killed on one molecule, as the out-of-memory killer would
    (tmp_path / "dying.py").write_text(
        "import os, signal\n"
        "def score(smiles):\n"
        "    if 'N' in ''.join(smiles):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return [0.5] * len(smiles)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        config = {"component": [{"type": "python", "function": "dying:score"}], "workers": 2}
        sc = ScoringFunction.from_config(config).score(["CCO", "CCC", "CCN", "CCCl"])
    finally:
        sys.path.remove(str(tmp_path))
    assert "a scoring process died" in sc.failures[2] and sc.total[2] == 0.0
    # the others score, or fail with the same reason where the broken pool took them down too
    assert all((f is None and t == 0.5) or "a scoring process died" in f for f, t in zip(sc.failures, sc.total))


def test_a_molecule_past_the_per_molecule_timeout_fails_and_the_others_score(tmp_path):
    # the program hangs on the molecule holding an O, noting its process id first; each molecule is scored alone
    code = (f"import os, sys, time\nfor line in sys.stdin:\n    if 'O' in line:\n"
            f"        open({str(tmp_path / 'hung')!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
            f"        time.sleep(30)\n    else:\n        print(1.0)")
    config = {"component": [{"type": "external", "command": [sys.executable, "-c", code]}],
              "workers": 2, "timeout": 1.5}
    t0 = time.perf_counter()
    sc = ScoringFunction.from_config(config).score(MOLS)
    assert time.perf_counter() - t0 < 15
    hung = [i for i, m in enumerate(MOLS) if "O" in m]
    assert [i for i, f in enumerate(sc.failures) if f] == hung
    assert all("took longer than 1.5 s" in sc.failures[i] for i in hung) and not sc.total[hung].any()
    assert all(sc.total[i] == 1.0 for i in range(len(MOLS)) if i not in hung)
    pids = [int(x) for x in (tmp_path / "hung").read_text().split()]
    assert len(pids) == len(hung)
    for pid in pids:  # the hung programs were stopped with their molecule
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("keys, message", [
    ({"workers": 0}, r"\[scoring\]: workers must be an integer >= 1"),
    ({"timeout": 0}, r"\[scoring\]: timeout must be a number > 0"),
    ({"threads": 2}, r"unknown key\(s\) threads; valid: aggregation, component, cache, workers, timeout"),
])
def test_bad_scoring_process_settings_are_refused(keys, message):
    with pytest.raises(InputError, match=message):
        ScoringFunction.from_config({"component": [{"type": "qed"}], **keys})
