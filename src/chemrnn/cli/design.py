"""``chemrnn design …`` and ``chemrnn activity …``: the design cycle and the target-activity model it scores with."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..io import atomic_write
from ._common import say

design_app = typer.Typer(help="De-novo design: steer a language model with a scoring function (Segler's cycle, "
                              "hill-climbing, REINVENT-style reinforcement learning).", no_args_is_help=True)
activity_app = typer.Typer(help="Target-activity models (random forest on Morgan counts) to score designs with.",
                           no_args_is_help=True)


@design_app.command("run")
def design_run(
    config: Path = typer.Argument(..., help="Run config (TOML): [design], [diversity_filter], [scoring]; see "
                                            "examples/."),
    output: Path = typer.Option(..., "-o", "--output", help="Run directory (rerun the same command to resume)."),
    restart: bool = typer.Option(False, "--restart", help="Discard the saved state and start over."),
):
    """Optimize until the budget of scored molecules is spent; every scored molecule goes to scored.csv."""
    from ..api import design

    def progress(msg):
        say(escape(msg))

    summary = design(config, output, restart=restart, progress=progress)
    say(f"{summary['scored']:,} molecules scored in {summary['steps']} steps; top-1 {summary['top1']:.3f}, "
        f"top-10 {summary['top10']:.3f}, top-100 {summary['top100']:.3f}")
    for smi, score in summary["best"][:5]:
        print(f"{smi}\t{score:.4f}")
    say(f"report: {output / 'report.html'}; all scored molecules: {output / 'scored.csv'}")


@activity_app.command("train")
def activity_train(
    actives: str = typer.Argument(..., help="SMILES of the target's actives (file or dataset name, e.g. jnk3)."),
    output: Path = typer.Option(..., "-o", "--output", help="Model file to write (.chemrnn) or directory."),
    decoys: str = typer.Option("chembl", "--decoys", help="Decoys (assumed inactive): file or dataset name."),
    decoy_ratio: float = typer.Option(5.0, "--decoy-ratio", help="Decoys drawn per active."),
    trees: int = typer.Option(200, "--trees", help="Trees in the random forest."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds for the reported ROC-AUC."),
    seed: int = typer.Option(0, "--seed", help="Random seed (decoy draw, folds, forest)."),
):
    """Train p(active) on actives vs decoys; report cross-validated ROC-AUC and PR-AUC. Every row of ACTIVES is
    accounted for: blank rows, invalid SMILES and molecules without carbon ([Xe], [U], NaCl) are rejected into
    MODEL.rejects.csv beside the model (line, reason, raw text), repeats counted."""
    from ..api import describe_counts, train_activity

    metrics = train_activity(actives, output, decoys=decoys, decoy_ratio=decoy_ratio, trees=trees, folds=folds,
                             seed=seed, progress=lambda m, done=None, total=None: say(escape(m)))
    print(f"cv_roc_auc\t{metrics['cv_roc_auc']:.4f}\ncv_pr_auc\t{metrics['cv_pr_auc']:.4f}")
    say(escape(f"{actives}: {describe_counts(metrics['active_rows'])}"
               + (f"; rejects: {metrics['rejects']}" if metrics["rejects"] else "")))
    say(f"{metrics['actives']:,} actives vs {metrics['decoys']:,} decoys, {metrics['folds']}-fold CV, "
        f"{metrics['seconds']:.0f} s → {escape(str(output))}")


@activity_app.command("predict")
def activity_predict(
    model: Path = typer.Argument(..., help="Activity model file."),
    input: str = typer.Argument(..., help="SMILES file or dataset name."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="CSV (default: print to stdout)."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help="SMILES column of a CSV/TSV."),
):
    """p(active) for every input row, in order (empty where the SMILES is invalid)."""
    import csv
    import sys

    from ..api import input_rows, predict_activity

    rows = input_rows(input, column)
    p = predict_activity(model, [r.smiles for r in rows])

    def write(fh):
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["line", "smiles", "p_active"])
        for r, v in zip(rows, p):
            w.writerow([r.line, r.smiles, "" if v != v else f"{v:.4f}"])

    if output:
        with atomic_write(output) as fh:
            write(fh)
    else:
        write(sys.stdout)
    say(f"{len(rows):,} rows, {int((p == p).sum()):,} scored")
