"""``chemrnn demo``: the main job."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import console, err_console, say as _say, state as _state  # noqa: F401


def demo(output: Path = typer.Option(Path("demo_run"), "-o", "--output", help="Run directory."),
         model: Optional[str] = typer.Option(None, "--model", help="Language model (default: the shipped prior)."),
         n: int = typer.Option(2000, "-n", "--number", help="Molecules to sample."),
         no_fcd: bool = typer.Option(False, "--no-fcd", help="Skip FCD (ChemNet, ~10 ms a molecule on CPU)."),
         train: Optional[str] = typer.Option(None, "--train",
                                             help="Training set for novelty (default: moses when it is here; 'none')."),
         seed: int = typer.Option(0, "--seed")):
    """The main job: sample from the shipped prior, score the samples, write an HTML report; the shipped property
    model predicts logP and TPSA of the valid samples (properties.csv, beside RDKit's values)."""
    import pandas as pd

    from .. import datasets as ds
    from ..api import evaluate_samples, predicted_properties, sample_smiles, shipped_prior
    from ..io import atomic_write, write_smiles
    from ..runinfo import record

    model_path = model or str(shipped_prior())
    record(output, {"model": model_path, "n": n, "seed": seed, "fcd": not no_fcd, "reference": "moses:test_sample"})
    res = sample_smiles(model_path, n, seed=seed)
    write_smiles(output / "samples.smi", res["written"])
    if train is None:
        train = "moses" if ds.locate("moses") else None
    elif train == "none":
        train = None
    m = evaluate_samples(res["written"], "moses:test_sample", train, n_ref=5000, fcd=not no_fcd, seed=seed,
                         output=output, title=f"chemrnn demo: {n:,} molecules from {Path(model_path).name}")
    _say(f"sampled {n:,} molecules in {res['seconds']:.1f} s ({n / res['seconds']:,.0f}/s) from {model_path}")
    shown = ["validity", "unique", "novelty", "FCD", "SNN", "Frag", "Scaf", "IntDiv1", "KL_score"]
    _say(", ".join(f"{k} {m[k]:.3f}" for k in shown if k in m))
    props = predicted_properties(res["written"])
    with atomic_write(output / "properties.csv") as fh:
        pd.DataFrame({k: v for k, v in props.items() if k != "MAE"}).to_csv(fh, index=False, float_format="%.4g")
    _say("shipped property model on the valid samples vs RDKit: "
         + ", ".join(f"{t} MAE {v:.3f}" for t, v in props["MAE"].items()) + f" ({output / 'properties.csv'})")
    if train is None and not ds.locate("moses"):
        _say(f"(novelty needs MOSES train: set {ds.ENV_DATA_DIR} to a folder holding moses_train.csv.gz)")
    _say(f"report: {output / 'report.html'}")
