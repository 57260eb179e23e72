"""``chemrnn property …`` and ``chemrnn embed``: train, predict, evaluate; vectors from a property model."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.table import Table

from ._common import console, err_console, input_rows, say as _say, state as _state  # noqa: F401

property_app = typer.Typer(help="Property prediction from SMILES (logP, TPSA, any numeric column).",
                           no_args_is_help=True)


@property_app.command("train")
def property_train(
    data: str = typer.Option("sample", "--data", help="CSV/TSV with a SMILES column, or a dataset name."),
    targets: str = typer.Option("logP,TPSA", "--targets", help="Comma-separated target columns."),
    output: Path = typer.Option(Path("runs/property"), "-o", "--output"),
    column: Optional[str] = typer.Option(None, "--column", "-c"),
    split: str = typer.Option("random", "--split", help="random | scaffold"),
    cell: str = typer.Option("gru", "--cell"),
    impl: str = typer.Option("fused", "--impl"),
    hidden: int = typer.Option(256, "--hidden"),
    layers: int = typer.Option(1, "--layers"),
    embedding: int = typer.Option(64, "--embedding", help="0: one-hot input."),
    bidirectional: bool = typer.Option(True, "--bidirectional/--unidirectional"),
    pooling: str = typer.Option("sum", "--pooling",
                                help="last | mean | attention | sum (additive: a sum of per-token contributions)"),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(2e-3, "--lr"),
    lr_schedule: str = typer.Option("cosine", "--lr-schedule",
                                    help="cosine (decays over --epochs or --max-minutes) | plateau"),
    epochs: int = typer.Option(30, "--epochs"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes"),
    patience: int = typer.Option(5, "--patience"),
    mlp_hidden: int = typer.Option(256, "--mlp-hidden", help="Width of the MLP head's hidden layer."),
    augment: bool = typer.Option(False, "--augment", help="Randomized SMILES in training."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device"),
    precision: str = typer.Option("32-true", "--precision", help="32-true | bf16-mixed (CPUs with AVX-512 bf16/AMX)"),
):
    """Train a (bi)RNN regressor; early stopping on validation; test-split MAE/RMSE/R² per target."""
    from ..training import PropertyTrainConfig, train_property_model

    cfg = PropertyTrainConfig(data=data, targets=tuple(t.strip() for t in targets.split(",") if t.strip()),
                              column=column, split=split, cell=cell, impl=impl, embedding_dim=embedding,
                              hidden_size=hidden, num_layers=layers, bidirectional=bidirectional, pooling=pooling,
                              batch_size=batch_size, lr=lr, max_epochs=epochs, max_minutes=max_minutes,
                              patience=patience, augment=augment, seed=seed, device=device,
                              mlp_hidden=mlp_hidden, precision=precision, lr_schedule=lr_schedule)
    metrics = train_property_model(cfg, output, progress=not _state["quiet"])
    t = Table(title=f"test split ({metrics['_run']['test']:,} molecules, {split} split)")
    for col in ("target", "MAE", "RMSE", "R²"):
        t.add_column(col)
    for name, m in metrics.items():
        if not name.startswith("_"):
            t.add_row(name, f"{m['MAE']:.4f}", f"{m['RMSE']:.4f}", f"{m['R2']:.4f}")
    console.print(t)
    _say(f"model: {output / 'model'}")


PROPERTY_MODEL_HELP = "Property model file, or `shipped` for the packaged logP/TPSA model."


@property_app.command("predict")
def property_predict(model: Path = typer.Argument(..., help=PROPERTY_MODEL_HELP),
                     input: str = typer.Argument(..., help="SMILES file."),
                     output: Path = typer.Option(..., "-o", "--output", help="CSV: one row per input row."),
                     column: Optional[str] = typer.Option(None, "--column", "-c"),
                     augment: int = typer.Option(0, "--augment", help="Average over N randomized SMILES too."),
                     precision: str = typer.Option("auto", "--precision",
                                                   help="auto (bf16 where the CPU has native bf16) | 32 | bf16")):
    """Predict every input row in order; invalid SMILES get an empty prediction and the reason."""
    import csv as _csv

    from ..io import atomic_write
    from ..predict import predict_smiles

    rows = input_rows(input, column)
    pred, reasons, targets = predict_smiles(model, [r.smiles for r in rows], augment, precision=precision)
    with atomic_write(output) as fh:
        w = _csv.writer(fh, lineterminator="\n")
        w.writerow(["line", "smiles", *targets, "error"])
        for r, p, why in zip(rows, pred, reasons):
            why = r.error or why
            w.writerow([r.line, r.smiles, *("" if np.isnan(v) else f"{v:.6g}" for v in p), why])
    bad = sum(1 for r, why in zip(rows, reasons) if r.error or why)
    _say(f"{len(rows):,} rows → {output} ({bad:,} without a prediction)")


@property_app.command("evaluate")
def property_evaluate(model: Path = typer.Argument(..., help=PROPERTY_MODEL_HELP),
                      input: str = typer.Argument(..., help="Labelled CSV."),
                      output: Path = typer.Option(Path("runs/property_eval"), "-o", "--output"),
                      column: Optional[str] = typer.Option(None, "--column", "-c")):
    """MAE, RMSE, R² per target, a parity plot per target and the error by molecule size."""
    from ..predict import evaluate_property_model

    res = evaluate_property_model(model, input, output, column)
    t = Table(title=f"{input}: {res['_n']:,} molecules")
    for col in ("target", "MAE", "RMSE", "R²"):
        t.add_column(col)
    for name, m in res.items():
        if not name.startswith("_"):
            t.add_row(name, f"{m['MAE']:.4f}", f"{m['RMSE']:.4f}", f"{m['R2']:.4f}")
    console.print(t)
    _say(f"parity plots and metrics.json in {output}/")


def embed(model: Path = typer.Argument(..., help=PROPERTY_MODEL_HELP), input: str = typer.Argument(...),
          output: Path = typer.Option(..., "-o", "--output", help=".npy or .parquet"),
          column: Optional[str] = typer.Option(None, "--column", "-c")):
    """One fixed-length vector per molecule from a property model's RNN (NaN rows for invalid SMILES)."""
    from ..io import atomic_write
    from ..predict import embed_smiles

    rows = input_rows(input, column)
    vectors, reasons = embed_smiles(model, [r.smiles for r in rows])
    reasons = [r.error or why for r, why in zip(rows, reasons)]  # a line the reader rejected says why
    if output.suffix == ".parquet":
        import pandas as pd

        df = pd.DataFrame(vectors, columns=[f"f{i}" for i in range(vectors.shape[1])])
        df.insert(0, "smiles", [r.smiles for r in rows])
        df.insert(1, "error", reasons)
        with atomic_write(output, "wb") as fh:
            df.to_parquet(fh)
    else:
        with atomic_write(output, "wb") as fh:
            np.save(fh, vectors)
    bad = sum(1 for why in reasons if why)
    _say(f"{len(rows):,} vectors of size {vectors.shape[1]} → {output} ({bad:,} rows invalid: NaN vectors"
         + (", reasons in the error column)" if output.suffix == ".parquet" else "; write .parquet for the reasons)"))
