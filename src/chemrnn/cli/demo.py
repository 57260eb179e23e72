"""``chemrnn demo``: the main job (one call of :func:`chemrnn.api.demo`, then the summary)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ._common import Steps, say as _say


def demo(output: Path = typer.Option(Path("demo_run"), "-o", "--output", help="Run directory."),
         model: Optional[str] = typer.Option(None, "--model",
                                             help="Language model: a path or a shipped name (default: the shipped "
                                                  "prior, trained on MOSES)."),
         n: int = typer.Option(2000, "-n", "--number", min=1, help="Molecules to sample."),
         no_fcd: bool = typer.Option(False, "--no-fcd", help="Skip FCD (ChemNet, ~10 ms a molecule on CPU)."),
         train: Optional[str] = typer.Option(None, "--train",
                                             help="Training set for novelty: a file or dataset name, or 'none' "
                                                  "(default: moses when it is here; its first use canonicalizes "
                                                  "1.58 M molecules, about 3 minutes on 2 cores, then cached)."),
         seed: int = typer.Option(0, "--seed", help="Random seed of the sampler and the reference draw.")):
    """The main job: sample from the shipped prior, score the samples against MOSES test molecules, predict their
    logP and TPSA with the shipped property model (properties.csv, beside RDKit's values), and write report.html.
    Each step is shown on stderr with its time; the first run also computes the reference's statistics (with FCD,
    ChemNet on 5,000 molecules: a minute or more on CPU), says so before it starts, and caches them."""
    from .. import datasets as ds
    from ..api import demo as run_demo

    with Steps() as steps:
        res = run_demo(output, model=model, n=n, fcd=not no_fcd, train=train, seed=seed, progress=steps)
    m = res["metrics"]
    _say(escape(f"sampled {n:,} molecules in {res['sampling_seconds']:.1f} s "
                f"({n / max(res['sampling_seconds'], 1e-9):,.0f}/s) from {res['model']}"))
    shown = ["validity", "unique", "novelty", "FCD", "SNN", "Frag", "Scaf", "IntDiv1", "KL_score"]
    _say(", ".join(f"{k} {m[k]:.3f}" for k in shown if k in m)
         + (escape(f" (novelty against {m['train_molecules']:,} distinct valid molecules of {res['train']})")
            if "train_molecules" in m else ""))
    left = res["property_not_predicted"]
    _say(f"shipped property model on {res['property_predicted']:,} valid samples vs RDKit: "
         + ", ".join(f"{t} MAE {v:.3f}" for t, v in res["property_MAE"].items())
         + (f"; {left:,} not predicted (tokens the model never saw)" if left else "")
         + escape(f" ({output / 'properties.csv'})"))
    if res["train"] is None and not ds.locate("moses"):
        _say(f"(novelty needs MOSES train: set {ds.ENV_DATA_DIR} to a folder holding moses_train.csv.gz)")
    _say(f"{sum(res['seconds'].values()):.1f} s in all: "
         + ", ".join(f"{step} {s:.1f} s" for step, s in res["seconds"].items()))
    _say(escape(f"report: {output / 'report.html'}"))
