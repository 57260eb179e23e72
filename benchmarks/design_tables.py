"""Markdown tables of the design benchmarks for docs/benchmarks.md, from their JSON results.

Usage: python benchmarks/design_tables.py GUACAMOL.json [DESIGN_CYCLE.json ...] [--compare OTHER_GUACAMOL.json
[--compare-label TEXT]]
       python benchmarks/design_tables.py A.json --versus B.json --at 20480 --labels reinvent,hillclimb

``--compare`` adds a column with another run's scores (another prior or optimizer) on the tasks it ran. A run with
``--snapshots`` gets a column for each budget kept (the same run's score after that many sampled molecules).
A run that recorded the share of each task's top 100 passing the default quality preset gets a column for it.
``--versus`` compares two runs task by task at one budget (which optimizer wins which task).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


PASS = "top100_pass_default_quality"  # share of a task's top 100 that the default quality preset passes


def _fig(value) -> str:
    """A published figure, or a dash where the paper has none."""
    return "—" if value is None else f"{value:.3f}"


def _load(path: str) -> dict:
    """A results file, or an exit naming the file and why it cannot be read (no traceback)."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise SystemExit(f"{path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise SystemExit(f"{path}: line {e.lineno}: not JSON ({e.msg})") from None
    except UnicodeDecodeError:
        raise SystemExit(f"{path}: not a text file (not UTF-8), so not a results JSON") from None


def _sampled_budget(setup: dict) -> int:
    """The number of sampled molecules a run was given (files before ``sampled_budget``: its ``budget``)."""
    return setup.get("sampled_budget", setup["budget"])


def _kept(result: dict) -> dict[int, float]:
    """A task's snapshot scores by number of sampled molecules (JSON keeps the numbers as strings)."""
    return {int(m): v for m, v in result.get("snapshots", {}).items()}


def _setup(s: dict) -> str:
    pop = ""
    if s.get("population") and s.get("population_size"):
        filt = s.get("population_filter")
        pop = (f"; starting population: {s['population_size']:,} molecules of `{s['population']}`"
               f"{' (' + filt['filter'] + ')' if filt else ''}, scored first and counted in 'scored'")
    budget = _sampled_budget(s)
    filt = f", diversity filter {s['diversity_filter']}" if s.get("diversity_filter") else ""
    if s.get("stop_at_max"):
        filt += "; a task stops once the molecules GuacaMol asks for all score 1.0"
    if s.get("quality"):
        filt += f"; quality preset `{s['quality']}`"
    return (f"Setup: optimizer `{s['optimizer']}`, prior `{s['prior']}`, {budget:,} sampled molecules per task{pop}, "
            f"batch {s['batch_size']}, options {s['options']}{filt}; {s['machine']['cpu']}, "
            f"{s['machine']['cores']} cores, torch {s['machine']['torch']}.")


def guacamol(path: str, compare: str | None = None, label: str | None = None) -> str:
    d = _load(path)
    s = d["setup"]
    other = _load(compare) if compare else None
    extra = f" {label or 'prior `' + other['setup']['prior'] + '`'} |" if other else ""
    rows = sorted(d["results"].items(), key=lambda kv: kv[1]["index"])
    marks = sorted({int(m) for _, r in rows for m in r.get("snapshots", {})})
    snap = "".join(f" at {m:,} sampled |" for m in marks)
    passing = any(PASS in r for _, r in rows)
    share = " top 100 passing the default filter |" if passing else ""
    lines = [_setup(s), "",
             f"| # | task | chemrnn |{share}{snap}{extra} SMILES-LSTM HC | Graph GA | scored | seconds |",
             "|---|---|---|" + "---|" * (len(marks) + passing) + ("---|" if other else "") + "---|---|---|---|"]
    ours = hc = ga = 0.0
    at = dict.fromkeys(marks, 0.0)
    for name, r in rows:
        ours, hc, ga = ours + r["score"], hc + (r["smiles_lstm_hc"] or 0), ga + (r["graph_ga"] or 0)
        kept = _kept(r)
        for m in marks:
            at[m] += kept.get(m, float("nan"))
        col = "".join(f" {kept[m]:.3f} |" if m in kept else " — |" for m in marks)
        if passing:
            col = (f" {r[PASS]:.0%} |" if r.get(PASS) is not None else " — |") + col
        if other:
            o = other["results"].get(name)
            col += f" {o['score']:.3f} ({o['seconds']:.0f} s) |" if o else " — |"
        scored = f"{r['scored_molecules']:,}" if r.get("scored_molecules") is not None else "—"
        lines.append(f"| {r['index']} | {name} | {r['score']:.3f} |{col} {_fig(r['smiles_lstm_hc'])} | "
                     f"{_fig(r['graph_ga'])} | {scored} | {r['seconds']:.0f} |")
    col = " |" * passing + "".join(f" {at[m]:.2f} |" for m in marks)
    if other:
        same = [n for n in other["results"] if n in d["results"]]
        col += (f" {sum(other['results'][n]['score'] for n in same):.2f} over {len(same)} (here "
               f"{sum(d['results'][n]['score'] for n in same):.2f}) |")
    lines.append(f"| | **total over {len(rows)} tasks** | **{ours:.2f}** |{col} {hc:.2f} | {ga:.2f} | | |")
    return "\n".join(lines)


def score_at(result: dict, setup: dict, budget: int) -> float | None:
    """A task's score after ``budget`` sampled molecules: a kept snapshot, or the final score of a run of that budget
    (None where the run kept neither)."""
    kept = _kept(result)
    if budget in kept:
        return kept[budget]
    return result["score"] if _sampled_budget(setup) == budget else None


def versus(path_a: str, path_b: str, budget: int, labels: tuple[str, str]) -> str:
    """Two GuacaMol runs (e.g. two optimizers) task by task at the same number of sampled molecules: each one's
    score, the winner (a tie when the printed figures agree), and each run's seconds where it ran that budget."""
    a, b = (_load(p) for p in (path_a, path_b))
    rows = sorted((r["index"], name) for name, r in a["results"].items() if name in b["results"])
    lines = [f"| # | task | {labels[0]} | {labels[1]} | better | SMILES-LSTM HC (published) | Graph GA |",
             "|---|---|---|---|---|---|---|"]
    totals, wins = [0.0, 0.0], {labels[0]: 0, labels[1]: 0, "tie": 0}
    left = [f"only in {path}: {', '.join(sorted(set(x['results']) - set(y['results'])))}"
            for path, x, y in ((path_a, a, b), (path_b, b, a)) if set(x["results"]) - set(y["results"])]
    for i, name in rows:
        ra, rb = a["results"][name], b["results"][name]
        sa, sb = score_at(ra, a["setup"], budget), score_at(rb, b["setup"], budget)
        if sa is None or sb is None:
            left.append(f"{name} (no score at {budget:,} in {path_a if sa is None else path_b})")
            continue
        totals = [totals[0] + sa, totals[1] + sb]
        better = "tie" if f"{sa:.3f}" == f"{sb:.3f}" else labels[0] if sa > sb else labels[1]
        wins[better] += 1
        cells = []
        for r, s, run in ((ra, sa, a), (rb, sb, b)):
            ran = _sampled_budget(run["setup"]) == budget
            cells.append(f"{s:.3f} ({r['seconds']:.0f} s)" if ran else f"{s:.3f}")
        lines.append(f"| {i} | {name} | {cells[0]} | {cells[1]} | {better} | {_fig(ra.get('smiles_lstm_hc'))} | "
                     f"{_fig(ra.get('graph_ga'))} |")
    n = sum(wins.values())
    if not n:
        raise SystemExit(f"no task has a score at {budget:,} sampled molecules in both runs")
    lines.append(f"| | **total over {n} tasks** | **{totals[0]:.2f}** | **{totals[1]:.2f}** | "
                 f"{labels[0]} {wins[labels[0]]}, {labels[1]} {wins[labels[1]]}, tie {wins['tie']} | | |")
    return (f"At {budget:,} sampled molecules a task (seconds where the run's whole budget was {budget:,}).\n\n"
            + "\n".join(lines) + ("\n\nLeft out: " + "; ".join(left) + "." if left else ""))


def design_cycle(path: str) -> str:
    d = _load(path)
    lines = ["| target | method | round | predicted active | mean p(active) | validity | uniqueness | novelty | "
             "IntDiv1 | held-out found |", "|---|---|---|---|---|---|---|---|---|---|"]
    for target, res in d.items():
        if target.startswith("_"):
            continue
        for method in ("segler", "reinvent", "finetune"):
            for r in res.get(method, {}).get("rounds", []):
                lines.append(f"| {target} | {method} | {r['round']} | {r['predicted_active']:.3f} | "
                             f"{r['mean_p_active']:.3f} | {r['validity']:.3f} | {r['uniqueness']:.3f} | "
                             f"{r['novelty']:.3f} | {r['intdiv1']:.3f} | {r['heldout_found_so_far']} / "
                             f"{res['heldout20']} |")
    models = [f"{t}: CV ROC-AUC {r['activity_model']['cv_roc_auc']:.3f}, PR-AUC {r['activity_model']['cv_pr_auc']:.3f}"
              f" ({r['activity_model']['actives']} actives, {r['activity_model']['decoys']} decoys)"
              for t, r in d.items() if not t.startswith("_") and "activity_model" in r]
    return "Activity models — " + "; ".join(models) + "\n\n" + "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("guacamol")
    ap.add_argument("design_cycle", nargs="*")
    ap.add_argument("--compare", default=None)
    ap.add_argument("--compare-label", default=None, help="the compared column's header (default: its prior)")
    ap.add_argument("--versus", default=None, help="instead: GUACAMOL.json against this run, task by task, at --at")
    ap.add_argument("--at", type=int, default=None, help="the number of sampled molecules compared by --versus")
    ap.add_argument("--labels", default="A,B", help="--versus: the two runs' names, comma-separated")
    args = ap.parse_args()
    if args.versus:
        if args.at is None:
            ap.error("--versus needs --at (a number of sampled molecules both runs reached)")
        labels = tuple(x.strip() for x in args.labels.split(","))
        if len(labels) != 2 or labels[0] == labels[1] or "tie" in labels or not all(labels):
            ap.error(f"--labels must be two different names other than 'tie', comma-separated, not {args.labels!r}")
        if args.compare or args.design_cycle:
            ap.error("--versus prints the comparison alone: leave out --compare and design-cycle files")
        print(versus(args.guacamol, args.versus, args.at, labels))
        raise SystemExit
    print(guacamol(args.guacamol, args.compare, args.compare_label))
    for path in args.design_cycle:
        print()
        print(design_cycle(path))
