"""What a finished design run leaves: ``top.csv`` (with each top molecule's quality flag), ``top.png``, the learning
curve (``learning_curve.png``), ``report.html`` (:func:`chemrnn.report.design_report`) and ``model/`` (the final
agent), and the summary that ``metrics.json`` holds."""
from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import chem
from ..io import atomic_write
from ..report import design_report
from ..scoring.quality import QualityFilter
from ..utils import pyplot, save_fig


def shown(value, places: int = 4):
    """A figure as the reports show it (log.csv, metrics.json, report.html): rounded to ``places`` decimals, not
    float noise such as 0.8166666666666667 (every scored molecule keeps 6 significant digits in scored.csv)."""
    return None if value is None else round(float(value), places)


def finish(run, run_dir: Path, seconds: float) -> dict:
    """Top molecules (CSV + grid), the final agent as a model file, the learning curve plot and the report."""
    from ..models.language import save_language_model

    top = sorted(run.best.items(), key=lambda kv: (-kv[1], kv[0]))[:100]
    with atomic_write(run_dir / "top.csv") as fh:
        w = csv.writer(fh, lineterminator="\n")
        flags = top_quality_flags(run, [s for s, _ in top])
        poses = _pose_files(run, [s for s, _ in top])
        w.writerow(["rank", "smiles", "score", "quality", *poses])
        for r, ((s, v), flag) in enumerate(zip(top, flags), 1):
            w.writerow([r, s, f"{v:.6g}", flag, *(files[r - 1] for files in poses.values())])
    png = chem.grid_png([s for s, _ in top[:24]], legends=[f"{v:.3f}" for _, v in top[:24]])
    if png:
        with atomic_write(run_dir / "top.png", "wb") as fh:
            fh.write(png)
    save_language_model(run_dir / "model", run.agent.model, run.agent.vocabulary, run.prior_meta["tokenizer"],
                        {"design": asdict(run.cfg), "steps": run.step, "scored": run.scored})
    vals = [v for _, v in top]
    summary = {"optimizer": run.cfg.optimizer, "prior": run.cfg.prior, "steps": run.step, "scored": run.scored,
               "distinct_valid": len(run.best), "top1": shown(vals[0]) if vals else 0.0,
               "top10": shown(np.mean(vals[:10])) if vals else 0.0,
               "top100": shown(np.mean(vals[:100])) if vals else 0.0, "seconds_this_session": round(seconds, 1),
               "best": [[s, shown(v)] for s, v in top[:10]]}
    if hasattr(run.scoring, "hits"):  # this sitting's scoring: computed, or served from the run's cache
        calls, hits = run.scoring.calls, run.scoring.hits
        summary["score_cache"] = {"computed": calls, "from_cache": hits,
                                  "hit_rate": round(hits / (calls + hits), 4) if calls + hits else 0.0}
    failures = _scoring_failures(run_dir / "scored.csv")
    if failures is not None:
        summary["scoring_failures"] = failures
    _plot_curve(run_dir)
    design_report(run_dir, summary, top)
    return summary


def _pose_files(run, smiles: list[str]) -> dict[str, list[str]]:
    """Columns of ``top.csv`` for the components that keep poses: each top molecule's SD file (empty where it has
    none); one column ``pose``, or ``pose:<component>`` each where several dock."""
    keepers = [(name, c) for name, _, c, _ in getattr(run.scoring, "components", [])
               if getattr(c, "poses", None) is not None]
    return {("pose" if len(keepers) == 1 else f"pose:{name}"): [str(c.pose_file(s) or "") for s in smiles]
            for name, c in keepers}


def top_quality_flags(run, smiles: list[str]) -> list[str]:
    """``ok`` or the reason, for each top molecule: by the run's quality filter, or, where the run has none, by the
    default preset (a flag for the reader; it did not change the scores)."""
    if run.quality.active:
        reasons = run.quality_reasons(smiles)  # cached while the run scored them
    else:
        reasons = QualityFilter.from_config({"preset": "default"}).reasons(smiles)
    return [r or "ok" for r in reasons]


def _plot_curve(run_dir: Path) -> None:
    path = run_dir / "log.csv"
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    x = [int(r["scored"]) for r in rows]
    for key in ("mean", "top1", "top10", "top100"):
        ax.plot(x, [float(r[key]) for r in rows], label=key)
    ax.set_xlabel("molecules scored")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.set_title("design run: score vs molecules scored")
    fig.tight_layout()
    save_fig(fig, run_dir / "learning_curve.png")


def _scoring_failures(path: Path) -> dict | None:
    """How many scored molecules a component could not score (an external program's exit, timeout, missing line),
    by reason, from ``scored.csv``; None where the run has no component that can fail."""
    import csv
    from collections import Counter

    if not path.exists():
        return None
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if "scoring_failure" not in (reader.fieldnames or []):
            return None
        reasons = Counter(r["scoring_failure"] for r in reader if r["scoring_failure"])
    return {"count": sum(reasons.values()), "reasons": dict(reasons.most_common(5))}
