"""``chemrnn demo``: the main job."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import say as _say


def demo(output: Path = typer.Option(Path("demo_run"), "-o", "--output", help="Run directory."),
         model: Optional[str] = typer.Option(None, "--model", help="Language model (default: the shipped prior)."),
         n: int = typer.Option(2000, "-n", "--number", help="Molecules to sample."),
         no_fcd: bool = typer.Option(False, "--no-fcd", help="Skip FCD (ChemNet, ~10 ms a molecule on CPU)."),
         train: Optional[str] = typer.Option(None, "--train",
                                             help="Training set for novelty (default: moses when it is here; 'none')."),
         seed: int = typer.Option(0, "--seed", help="Random seed of the sampler and the reference draw.")):
    """The main job: sample from the shipped prior, score the samples, write an HTML report; the shipped property
    model predicts logP and TPSA of the valid samples (properties.csv, beside RDKit's values)."""
    from rich.markup import escape

    from .. import datasets as ds
    from ..api import demo as run_demo

    res = run_demo(output, model, n, fcd=not no_fcd, train=train, seed=seed, progress=lambda m: _say(escape(m)))
    m = res["metrics"]
    _say(f"sampled {n:,} molecules in {res['sampling_seconds']:.1f} s "
         f"({n / max(res['sampling_seconds'], 1e-9):,.0f}/s) from {escape(res['model'])}")
    shown = ["validity", "unique", "novelty", "FCD", "SNN", "Frag", "Scaf", "IntDiv1", "KL_score"]
    _say(", ".join(f"{k} {m[k]:.3f}" for k in shown if k in m))
    _say("shipped property model on the valid samples vs RDKit: "
         + ", ".join(f"{t} MAE {v:.3f}" for t, v in res["property_MAE"].items()) + f" ({output / 'properties.csv'})")
    if res["train"] is None and not ds.locate("moses"):
        _say(f"(novelty needs MOSES train: set {ds.ENV_DATA_DIR} to a folder holding moses_train.csv.gz)")
    _say(f"report: {output / 'report.html'}")
