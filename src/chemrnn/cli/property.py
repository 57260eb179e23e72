"""``chemrnn property …`` and ``chemrnn embed``: train, predict, evaluate; vectors from a property model.

Every predicted or embedded row says what happened to it: a value, or an ``error`` (invalid SMILES, a line the
reader could not read, tokens the model never saw in training), and a ``warning`` where the value is less to be
trusted (a molecule longer than any in the model's training set). The summary on stderr counts each kind.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ._common import (DEVICE_HELP, INFERENCE_PRECISION_HELP, PRECISION_HELP, Cell, Device,  # noqa: F401
                      Impl, LRSchedule, Pooling, Precision, Recipe, Split, Strategy, as_options, console, err_console,
                      interruptible, say as _say, state as _state)

property_app = typer.Typer(help="Property prediction from SMILES (logP, TPSA, any numeric column).",
                           no_args_is_help=True)

PROPERTY_MODEL_HELP = "Property model file or directory, or `shipped` for the packaged ZINC250k logP/TPSA model."
INPUT_HELP = "SMILES file (.smi with an optional name column, .csv/.tsv; may be gzipped) or a dataset name."
COLUMN_HELP = "SMILES column of a CSV/TSV (name or index; default: a column named smiles in any case)."


def _metrics_table(title: str, metrics: dict) -> None:
    """MAE, RMSE and R² per target (keys not starting with ``_``), printed as the command's result."""
    from ..api import with_unit

    t = Table(title=title)
    for col in ("target", "MAE", "RMSE", "R²"):
        t.add_column(col)
    for name, m in metrics.items():
        if not name.startswith("_") and isinstance(m, dict) and "MAE" in m:
            t.add_row(escape(with_unit(name)), f"{m['MAE']:.4f}", f"{m['RMSE']:.4f}", f"{m['R2']:.4f}")
    console.print(t)


@property_app.command("train")
def property_train(
    data: str = typer.Option("sample", "--data", help="CSV/TSV with a SMILES column, or a dataset name."),
    targets: str = typer.Option("logP,TPSA", "--targets",
                                help="Comma-separated target columns (logP and TPSA are computed when absent)."),
    output: Path = typer.Option(Path("runs/property"), "-o", "--output",
                                help="Run directory; the model is OUTPUT/model."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help=COLUMN_HELP),
    split: Split = typer.Option("random", "--split",
                                                        help="Train/validation/test split (80/10/10)."),
    cell: Cell = typer.Option("gru", "--cell", help="Recurrent cell."),
    impl: Impl = typer.Option("fused", "--impl",
                                                     help="fused (PyTorch kernels) | lecture (the lecture's cells)."),
    hidden: int = typer.Option(256, "--hidden", help="Hidden units per direction."),
    layers: int = typer.Option(1, "--layers", help="Stacked recurrent layers."),
    embedding: int = typer.Option(64, "--embedding", help="Token embedding size; 0: one-hot input."),
    bidirectional: bool = typer.Option(True, "--bidirectional/--unidirectional", help="Read the SMILES both ways."),
    pooling: Pooling = typer.Option(
        "sum", "--pooling", help="last | mean | attention | sum (additive: a sum of per-token contributions)."),
    mlp_hidden: int = typer.Option(256, "--mlp-hidden", help="Hidden units of the read-out MLP."),
    recipe: Recipe = typer.Option(
        "auto", "--recipe", help="standard (dropout 0, batch 128, lr 2e-3, 30 epochs, patience 5) | small (a few "
                                 "thousand measured values: --augment 10 --epochs 150 --patience 150 --batch-size 32 "
                                 "--lr 1e-3 --dropout 0.1 --max-minutes 9 --init-from zinc) | auto: small for at most "
                                 "20,000 molecules with a measured target column, else standard. Options given "
                                 "replace the recipe's; --init-from none starts from scratch."),
    dropout: Optional[float] = typer.Option(None, "--dropout", min=0.0, max=0.99,
                                            help="Dropout between stacked recurrent layers and in the read-out MLP "
                                                 "(default: the recipe's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                             help="Molecules per training batch (default: the recipe's)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (default: the recipe's)."),
    lr_schedule: LRSchedule = typer.Option(
        "cosine", "--lr-schedule", help="cosine (decays over --epochs or --max-minutes) | plateau."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Most epochs (default: the recipe's)."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes",
                                                help="Stop after this much training time (default: the recipe's)."),
    patience: Optional[int] = typer.Option(None, "--patience",
                                           help="Epochs without a better validation loss before stopping "
                                                "(default: the recipe's)."),
    augment: Optional[int] = typer.Option(None, "--augment", min=0,
                                help="Randomized SMILES: 0 off; N > 0: each training molecule is read as a new random "
                                     "SMILES every epoch, and test (out-of-fold) predictions average the canonical "
                                     "and N randomized SMILES, as `property predict` then does by default "
                                     "(default: the recipe's)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the initialization and the batches."),
    device: Device = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: Precision = typer.Option("32", "--precision",
                                        help="32 | bf16 (CPUs with AVX-512 bf16/AMX, recent GPUs) | auto."),
    devices: Optional[int] = typer.Option(None, "--devices", min=1,
                                          help="Processes per node (DDP); --batch-size is per process, see "
                                               "docs/scale.md. Default: 1 on CPU, every GPU on a GPU machine."),
    num_nodes: int = typer.Option(1, "--num-nodes", min=1, help="Machines (DDP under torchrun or SLURM)."),
    strategy: Strategy = typer.Option("auto", "--strategy",
                                      help="auto (ddp when there is more than one process) | ddp."),
    folds: int = typer.Option(1, "--folds", min=1,
                              help="1: one 80/10/10 split; K >= 2: K-fold cross-validation (by --split; scaffold "
                                   "folds keep each scaffold whole), the K fold models saved as one ensemble whose "
                                   "predictions carry a spread; per-fold and mean ± sd metrics, oof.csv."),
    ensemble: int = typer.Option(1, "--ensemble", min=1,
                                 help="N >= 2: N models on each split (seeds --seed, --seed + 1, …; --max-minutes "
                                      "caps each), saved as one ensemble: predictions are their mean, with their "
                                      "spread as the uncertainty (with --folds K: K × N models)."),
    init_from: Optional[str] = typer.Option(
        None, "--init-from", help="Pre-trained model to start from: a language model (path, or shipped name: "
                                  "shipped = moses, chembl), whose embedding and recurrent layers initialise the "
                                  "encoder (unidirectional, as the prior), or a property model (path, or zinc: the "
                                  "shipped logP/TPSA model), every layer but the output; the model then has the "
                                  "prior's architecture, tokenizer and vocabulary (plus any new tokens); none: "
                                  "from scratch (default: the recipe's)."),
    freeze_encoder: bool = typer.Option(False, "--freeze-encoder/--train-encoder",
                                        help="With --init-from: keep the encoder (embedding and recurrent "
                                             "layers) fixed; only the read-out trains."),
):
    """Train a (bi)RNN regressor; early stopping on validation; test-split MAE/RMSE/R² per target (with --folds:
    cross-validated, mean over the folds)."""
    from ..api import is_launched_rank, property_config, train_property

    with as_options({"embedding_dim": "embedding", "hidden_size": "hidden", "num_layers": "layers",
                     "max_epochs": "epochs"}):
        cfg = property_config(data=data, targets=tuple(t.strip() for t in targets.split(",") if t.strip()),
                                  column=column, split=split, cell=cell, impl=impl, embedding_dim=embedding,
                                  hidden_size=hidden, num_layers=layers, bidirectional=bidirectional,
                                  pooling=pooling,
                                  batch_size=batch_size, lr=lr, max_epochs=epochs, max_minutes=max_minutes,
                                  patience=patience, augment=augment, seed=seed, device=device,
                                  mlp_hidden=mlp_hidden, dropout=dropout,
                                  precision=precision,  # the config resolves auto|32|bf16
                                  lr_schedule=lr_schedule, devices=devices, num_nodes=num_nodes,
                                  strategy=strategy, folds=folds, ensemble=ensemble, init_from=init_from,
                                  freeze_encoder=freeze_encoder, recipe=recipe)
    with interruptible(lambda: f"interrupted: property training keeps no checkpoint, so no model was written to "
                       f"{output / 'model'}; rerun the same command to start over"):
        metrics = train_property(cfg, output, verbose=not _state["quiet"])
    if is_launched_rank():  # the other DDP processes: rank 0 reports
        return
    run = metrics["_run"]
    if folds > 1:
        _metrics_table(f"{folds}-fold cross-validation, {split} folds (mean over folds)", metrics)
        for name, m in metrics.items():
            if not name.startswith("_"):
                _say(f"{escape(name)}: RMSE {m['RMSE']:.4f} ± {m['RMSE_sd']:.4f}, MAE {m['MAE']:.4f} ± "
                     f"{m['MAE_sd']:.4f}, R² {m['R2']:.4f} ± {m['R2_sd']:.4f} (mean ± sd over folds)")
        _say(f"out-of-fold predictions: {output / run['oof']}")
        each = f", {ensemble} models each" if ensemble > 1 else ""
        _say(f"model: {output / 'model'} (an ensemble of the {folds} fold models{each})")
    else:
        _metrics_table(f"test split ({run['test']:,} molecules, {split} split)", metrics)
        _say(f"model: {output / 'model'}" + (f" (an ensemble of {ensemble} models)" if ensemble > 1 else ""))


@property_app.command("predict")
def property_predict(
    model: str = typer.Argument(..., help=PROPERTY_MODEL_HELP),
    input: str = typer.Argument(..., help=INPUT_HELP),
    output: Path = typer.Option(..., "-o", "--output",
                                help="CSV: one row per input row, in order: line, smiles, the input's other columns, "
                                     "one column per target (for an ensemble model, then TARGET_std: the standard "
                                     "deviation over its members), error, warning. Values in the targets' "
                                     "units (TPSA in Å²); one outside what any molecule can have (a negative "
                                     "TPSA) is clipped to the bound, and its warning says so."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help=COLUMN_HELP),
    augment: Optional[int] = typer.Option(None, "--augment", min=0,
                                          help="0: the canonical SMILES only; N: also average over N randomized "
                                               "SMILES. Default: as the model was evaluated in training (its "
                                               "--augment; 0 for models trained without)."),
    seed: Optional[int] = typer.Option(None, "--seed",
                                       help="Seed of the randomized SMILES of --augment (default: the model's "
                                            "training seed, as it was evaluated)."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Molecules per inference batch."),
    device: Device = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: Precision = typer.Option("32", "--precision", help=INFERENCE_PRECISION_HELP),
):
    """Predict every input row in order. Rows without a value say why in the error column (invalid SMILES,
    tokens the model never saw); values to be taken with care say why in the warning column."""
    from ..api import predict_file

    res = predict_file(model, input, output, column=column, augment=augment, seed=seed, batch_size=batch_size,
                       device=device, precision=precision)
    _say(f"{res['summary']} → {output}")


@property_app.command("evaluate")
def property_evaluate(
    model: str = typer.Argument(..., help=PROPERTY_MODEL_HELP),
    input: str = typer.Argument(..., help="Labelled CSV/TSV (SMILES column + target columns) or a dataset name."),
    output: Path = typer.Option(Path("runs/property_eval"), "-o", "--output",
                                help="Folder for metrics.json, parity plots and rejects.csv."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help=COLUMN_HELP),
    device: Device = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: Precision = typer.Option("32", "--precision", help=INFERENCE_PRECISION_HELP),
):
    """MAE, RMSE, R² per target, a parity plot per target and the error by molecule size."""
    from ..api import evaluate_property

    res = evaluate_property(model, input, output, column=column, precision=precision, device=device)
    _metrics_table(escape(f"{input}: {res['_n']:,} molecules"), res)
    _say(f"{res['_n']:,} molecules scored; {res['_rejected']:,} rows rejected"
          + (f" (line, reason: {output / 'rejects.csv'})" if res["_rejected"] else "")
          + f"; {res['_no_prediction']:,} without a prediction ({res['_unseen_tokens']:,} with tokens the model "
            f"never saw); {res['_warnings']:,} warnings")
    _say(f"parity plots and metrics.json in {output}/")
    overlap = res["overlap_with_training"]
    if overlap["count"]:  # a caveat of the result itself: said even with --quiet
        err_console.print(escape(f"warning: {overlap['count']:,} of the {overlap['of']:,} molecules scored "
                                 f"({100 * overlap['fraction']:.1f} %) are in the model's training data "
                                 f"({overlap['checked_against']}): on them these figures measure recall, not "
                                 f"prediction; evaluate on molecules the model was not trained on"),
                          highlight=False, soft_wrap=True)
    elif overlap["count"] is None:
        _say(escape(f"overlap with the training data not checked: {overlap['reason']}"))


def embed(
    model: str = typer.Argument(..., help=PROPERTY_MODEL_HELP),
    input: str = typer.Argument(..., help=INPUT_HELP),
    output: Path = typer.Option(..., "-o", "--output",
                                help=".npy (vectors only) or .parquet (line, smiles, the input's other columns, "
                                     "error, warning, f0 … f{width-1})."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help=COLUMN_HELP),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Molecules per inference batch."),
    device: Device = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: Precision = typer.Option("32", "--precision", help=INFERENCE_PRECISION_HELP),
):
    """One fixed-length vector per input row from a property model's RNN (NaN rows where it has no answer)."""
    from ..api import embed_file

    res = embed_file(model, input, output, column=column, batch_size=batch_size, device=device,
                     precision=precision)
    _say(f"{res['summary']}; vectors of size {res['width']} → {output}"
          + (" (NaN rows where there is none; reasons in the error column)" if output.suffix == ".parquet"
             else " (NaN rows where there is none; write .parquet for the reasons)"))
