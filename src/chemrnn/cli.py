"""The ``chemrnn`` command line: thin Typer commands that call the Python API and print with Rich.

Conventions (DESIGN.md): ``chemrnn NOUN VERB``; shared options spelled the same everywhere; exit codes
0 success, 1 failure while running, 2 bad usage or bad input; errors are one line without a traceback
unless ``--debug``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import ChemrnnError

app = typer.Typer(help="Recurrent neural networks on SMILES.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Read, clean, inspect and encode SMILES files.", no_args_is_help=True)
datasets_app = typer.Typer(help="Named datasets: where they come from and where they are here.",
                           no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(datasets_app, name="datasets")

console = Console()
err_console = Console(stderr=True)
_state = {"debug": False, "quiet": False}


def _version(value: bool):
    if value:
        console.print(f"chemrnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only results and errors."),
          config: Optional[Path] = typer.Option(None, "--config",
                                                help="TOML file of option defaults, e.g. [lm.train] hidden = 512; "
                                                     "options given on the command line override it."),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    _state["debug"] = debug
    _state["quiet"] = quiet
    if config is not None:
        ctx.default_map = _read_config(config)


def _read_config(path: Path) -> dict:
    """Option defaults from TOML: tables named after the commands (``[lm.train]``, ``[property.train]``)."""
    import tomllib

    from .errors import InputError

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("no such config file", path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", path) from None

    def norm(d):  # TOML keys may use dashes like the command line
        return {k.replace("-", "_"): norm(v) if isinstance(v, dict) else v for k, v in d.items()}

    return norm(data)


def _say(*args, **kwargs):
    if not _state["quiet"]:
        console.print(*args, **kwargs)


# ----------------------------------------------------------------------------------------------- data
@data_app.command("prepare")
def data_prepare(
    input: str = typer.Argument(..., help="SMILES file (.smi/.csv/.tsv, optionally .gz) or a dataset name."),
    output: Path = typer.Option(..., "-o", "--output", help="Output: one canonical SMILES per line (.smi or .smi.gz)."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help="SMILES column of a CSV/TSV (name or index)."),
    no_stereo: bool = typer.Option(False, "--no-stereo", help="Drop stereochemistry."),
    largest_fragment: bool = typer.Option(False, "--largest-fragment", help="Keep the largest fragment (strip salts)."),
    min_tokens: Optional[int] = typer.Option(None, "--min-tokens", help="Reject molecules with fewer tokens."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Reject molecules with more tokens."),
    tokenizer: str = typer.Option("atom", "--tokenizer", help="Tokenizer for the length window: atom|char|selfies."),
    no_dedupe: bool = typer.Option(False, "--no-dedupe", help="Keep duplicate molecules."),
    rejects: Optional[Path] = typer.Option(None, "--rejects", help="Rejects CSV (default: OUTPUT.rejects.csv)."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines",
                                        help="Reject undecodable or over-long lines instead of stopping."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (0: all cores)."),
):
    """Canonicalize, filter and de-duplicate a SMILES file; every line is accounted for."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .datasets import resolve_input, smiles_column
    from .prepare import PrepareOptions, prepare

    opts = PrepareOptions(column=column or smiles_column(input), keep_stereo=not no_stereo,
                          largest_fragment=largest_fragment, min_tokens=min_tokens, max_tokens=max_tokens,
                          tokenizer=tokenizer, dedupe=not no_dedupe,
                          on_bad_line="skip" if skip_bad_lines else "error", jobs=jobs)
    path = resolve_input(input)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, disable=_state["quiet"], transient=True) as bar:
        task = bar.add_task(f"preparing {path.name}", total=None)
        summary = prepare(path, output, opts, rejects,
                          progress=lambda n: bar.update(task, description=f"preparing {path.name}: {n:,} lines"))
    table = Table(title=f"{path.name} → {Path(output).name}", show_header=False)
    for k in ("lines", "kept", "duplicates", "rejected"):
        table.add_row(k, f"{getattr(summary, k):,}")
    for reason, n in summary.reasons.items():
        table.add_row(f"  rejected: {reason}", f"{n:,}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    _say(table)
    _say(f"rejects: {summary.rejects}")


@data_app.command("stats")
def data_stats_cmd(
    input: str = typer.Argument(..., help="SMILES file or dataset name."),
    column: Optional[str] = typer.Option(None, "--column", "-c"),
    tokenizer: str = typer.Option("atom", "--tokenizer"),
    validate: bool = typer.Option(False, "--validate", help="Also parse every SMILES with RDKit."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Look at the first N molecules only."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
):
    """Counts, token-length histogram and vocabulary of a SMILES file."""
    from .datasets import resolve_input, smiles_column
    from .prepare import data_stats

    st = data_stats(resolve_input(input), column or smiles_column(input), tokenizer, validate, limit)
    if as_json:
        print(json.dumps(st.to_dict(), indent=1))
        return
    t = Table(title=str(st.input), show_header=False)
    t.add_row("molecules", f"{st.molecules:,}")
    t.add_row("unique strings", f"{st.unique_strings:,}")
    t.add_row("blank or unreadable lines", f"{st.blank_or_bad_lines:,}")
    if st.valid is not None:
        t.add_row("valid (RDKit)", f"{st.valid:,}")
    t.add_row(f"{tokenizer} tokens per molecule",
              ", ".join(f"{k} {v}" for k, v in st.token_length.items()))
    t.add_row("vocabulary size", str(len(st.vocabulary)))
    console.print(t)
    h = Table(title="token-length histogram")
    h.add_column("tokens")
    h.add_column("molecules", justify="right")
    h.add_column("")
    top = max(st.length_histogram.values())
    for start, n in st.length_histogram.items():
        h.add_row(f"{start}-{start + 9}", f"{n:,}", "█" * max(1, round(40 * n / top)))
    console.print(h)
    v = Table(title="vocabulary (most frequent first)")
    v.add_column("token")
    v.add_column("count", justify="right")
    for tok, n in list(st.vocabulary.items())[:60]:
        v.add_row(tok, f"{n:,}")
    console.print(v)


@data_app.command("encode")
def data_encode(
    input: str = typer.Argument(..., help="SMILES file (ideally prepared) or dataset name."),
    output: Path = typer.Option(..., "-o", "--output", help="Token cache (.npz)."),
    column: Optional[str] = typer.Option(None, "--column", "-c"),
    tokenizer: str = typer.Option("atom", "--tokenizer"),
    vocabulary: Optional[Path] = typer.Option(None, "--vocabulary", help="Use this vocabulary JSON (else build one)."),
    unknown: str = typer.Option("error", "--unknown", help="Tokens not in --vocabulary: error|unk."),
    batch_size: int = typer.Option(128, "--batch-size", help="Batch size for the padding report."),
    seed: int = typer.Option(0, "--seed"),
):
    """Tokenize and encode SMILES into a training cache; report padding with length buckets."""
    import time

    from .batching import BucketBatchSampler, encode_all, load_smiles_list, padding_fraction
    from .datasets import resolve_input, smiles_column
    from .tokens import Vocabulary, get_tokenizer

    t0 = time.perf_counter()
    path = resolve_input(input)
    smiles = load_smiles_list(path, column or smiles_column(input))
    vocab = Vocabulary.load(vocabulary) if vocabulary else None
    cache = encode_all(smiles, get_tokenizer(tokenizer), vocab, unknown=unknown, source=path)
    t1 = time.perf_counter()
    bucketed = BucketBatchSampler(cache.lengths, batch_size, seed=seed)
    plain = BucketBatchSampler(cache.lengths, batch_size, seed=seed, pool=1)
    pf_b = padding_fraction(cache.lengths, bucketed.batches())
    pf_r = padding_fraction(cache.lengths, plain.batches())
    cache.save(output)
    _say(f"{len(cache):,} sequences, {len(cache.ids):,} tokens, vocabulary {len(cache.vocabulary)} → {output}")
    _say(f"padding fraction at batch {batch_size}: {pf_b:.3f} with length buckets, {pf_r:.3f} unbucketed")
    _say(f"encode {t1 - t0:.1f} s, total {time.perf_counter() - t0:.1f} s")


# ------------------------------------------------------------------------------------------- datasets
@datasets_app.command("list")
def datasets_list():
    """The registry: names, molecules, whether the file is here, and the source."""
    from . import datasets as ds

    t = Table(title=f"datasets ({ds.ENV_DATA_DIR}={ds.data_dir() or 'unset'}; cache {ds.cache_dir()})")
    for col in ("name", "molecules", "here", "description", "source"):
        t.add_column(col, overflow="fold")
    for name in ds.names():
        f = ds.REGISTRY[name]
        where = ds.locate(name)
        t.add_row(name, f"{f.molecules:,}" if f.molecules else "?", "yes" if where else "no", f.description,
                  (f.url or "-") + ("" if f.direct else " (derived)"))
    console.print(t)


@datasets_app.command("path")
def datasets_path(name: str = typer.Argument(..., help="Dataset name, e.g. moses, moses:test, zinc250k."),
                  download: bool = typer.Option(True, "--download/--no-download",
                                                help="Download directly available files into the cache.")):
    """Print the local path of a named dataset."""
    from . import datasets as ds

    print(ds.path(name, download=download))


# ------------------------------------------------------------------------------------------- lm
lm_app = typer.Typer(help="Chemical language models: train, sample, fine-tune, evaluate.", no_args_is_help=True)
app.add_typer(lm_app, name="lm")


@lm_app.command("train")
def lm_train(
    data: str = typer.Option("sample", "--data", help="Training SMILES: moses, chembl, a dataset name or a file."),
    output: Path = typer.Option(Path("runs/lm"), "-o", "--output", help="Run directory (rerun to resume)."),
    preset: str = typer.Option("cpu", "--preset", help="segler2018 | cpu | tiny"),
    valid: Optional[str] = typer.Option(None, "--valid", help="Validation SMILES (default: hold out --val-size)."),
    val_size: Optional[int] = typer.Option(None, "--val-size"),
    cell: Optional[str] = typer.Option(None, "--cell", help="lstm | gru | rnn"),
    impl: Optional[str] = typer.Option(None, "--impl", help="fused | lecture"),
    hidden: Optional[int] = typer.Option(None, "--hidden"),
    layers: Optional[int] = typer.Option(None, "--layers"),
    embedding: Optional[int] = typer.Option(None, "--embedding"),
    dropout: Optional[float] = typer.Option(None, "--dropout"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop after this much training time."),
    val_every: Optional[int] = typer.Option(None, "--val-every"),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every"),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | gpu"),
    precision: Optional[str] = typer.Option(None, "--precision", help="32-true | bf16-mixed | 16-mixed"),
    restart: bool = typer.Option(False, "--restart", help="Discard checkpoints in the run directory and start over."),
):
    """Train a language model by teacher forcing; Lightning checkpoints; rerun the command to resume."""
    from .train import LMTrainConfig, train_language_model

    cfg = LMTrainConfig.from_preset(
        preset, data=data, valid=valid, val_size=val_size, cell=cell, impl=impl, hidden_size=hidden,
        num_layers=layers, embedding_dim=embedding, dropout=dropout, batch_size=batch_size, lr=lr,
        max_steps=max_steps, max_minutes=max_minutes, val_every=val_every, checkpoint_every=checkpoint_every,
        tokenizer=tokenizer, seed=seed, device=device, precision=precision)
    metrics = train_language_model(cfg, output, restart=restart, progress=not _state["quiet"])
    _say(json.dumps(metrics, indent=1))
    _say(f"model: {output / 'model'}")


@lm_app.command("sample")
def lm_sample(
    model: Optional[str] = typer.Argument(None, help="Model directory or .chemrnn file (default: the shipped prior)."),
    n: int = typer.Option(1000, "-n", "--number"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write SMILES here (.smi)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t"),
    batch_size: int = typer.Option(1024, "--batch-size"),
    max_length: int = typer.Option(140, "--max-length", help="Most tokens per molecule."),
    valid_only: bool = typer.Option(False, "--valid-only", help="Write only valid molecules (canonical)."),
    unique_only: bool = typer.Option(False, "--unique-only", help="Write each canonical molecule once."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
    impl: str = typer.Option("fused", "--impl", help="fused (PyTorch kernels) | lecture (the lecture's cells)"),
):
    """Sample molecules from a language model; prints validity and uniqueness."""
    from rich.progress import Progress

    from .api import sample_smiles

    with Progress(console=err_console, disable=_state["quiet"], transient=True) as bar:
        task = bar.add_task("sampling", total=n)
        res = sample_smiles(model, n, temperature=temperature, batch_size=batch_size, max_length=max_length,
                            seed=seed, device=device, valid_only=valid_only, unique_only=unique_only,
                            progress=lambda k: bar.update(task, completed=k), impl=impl)
    if output:
        from .io import write_smiles

        write_smiles(output, res["written"])
    else:
        for s in res["written"]:
            print(s)
    _say(f"{n:,} sampled in {res['seconds']:.1f} s ({n / max(res['seconds'], 1e-9):,.0f}/s): "
         f"valid {res['valid']:,} ({res['valid'] / n:.3f}), unique valid {res['unique']:,}, "
         f"unfinished {res['unfinished']:,}; written {len(res['written']):,}" + (f" → {output}" if output else ""))


@lm_app.command("evaluate")
def lm_evaluate(
    samples: Path = typer.Argument(..., help="Sampled SMILES, one per line (as written by lm sample)."),
    test: str = typer.Option("moses:test", "--test", help="Reference set: file or dataset name."),
    train: Optional[str] = typer.Option(None, "--train", help="Training set for novelty: file or dataset name."),
    n_ref: int = typer.Option(10000, "--n-ref", help="Random reference molecules drawn from --test."),
    no_fcd: bool = typer.Option(False, "--no-fcd", help="Skip FCD (ChemNet costs ~10 ms a molecule on CPU)."),
    output: Path = typer.Option(Path("runs/evaluate"), "-o", "--output",
                                help="Folder for metrics.json and report.html."),
    seed: int = typer.Option(0, "--seed"),
):
    """MOSES and GuacaMol distribution metrics, with an HTML report."""
    from .api import evaluate_samples

    res = evaluate_samples(samples, test, train, n_ref, not no_fcd, seed, output, title=f"samples: {samples.name}")
    t = Table(title=f"{samples} vs {test} ({res['reference']['n_ref']:,} reference molecules)", show_header=False)
    for k, v in res.items():
        if not isinstance(v, dict):
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(t)
    _say(f"seconds: {res.get('seconds')}")
    _say(f"report: {output / 'report.html'}")


@lm_app.command("finetune")
def lm_finetune(
    prior: str = typer.Argument(..., help="Prior model (directory or .chemrnn)."),
    actives: str = typer.Argument(..., help="SMILES of the actives (file or dataset name)."),
    output: Path = typer.Option(Path("runs/finetune"), "-o", "--output",
                                help="Run directory; the model is OUTPUT/model."),
    epochs: int = typer.Option(10, "--epochs"),
    batch_size: int = typer.Option(32, "--batch-size"),
    lr: float = typer.Option(5e-4, "--lr"),
    val_size: int = typer.Option(0, "--val-size", help="Hold out this many actives for validation NLL."),
    unknown: str = typer.Option("skip", "--unknown",
                                help="Actives with tokens outside the prior's vocabulary: skip|error."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device"),
    restart: bool = typer.Option(False, "--restart"),
):
    """Transfer learning (Segler 2018): continue training the prior on a small set of actives."""
    from .api import load_lm
    from .batching import load_smiles_list
    from .datasets import resolve_input, smiles_column
    from .train import LMTrainConfig, train_language_model

    _, _, _, meta = load_lm(prior)
    n = len(load_smiles_list(resolve_input(actives), smiles_column(actives)))
    steps = max(1, epochs * -(-max(1, n - val_size) // batch_size))
    arch = ("cell", "embedding_dim", "hidden_size", "num_layers", "dropout")
    base = {k: v for k, v in meta["config"].items() if k in arch}
    cfg = LMTrainConfig(data=actives, preset="finetune", tokenizer=meta["tokenizer"], init_from=str(prior),
                        batch_size=batch_size, lr=lr, max_steps=steps, warmup_steps=min(50, steps // 10),
                        val_size=val_size, val_every=max(1, steps // max(1, epochs)), n_samples=0, seed=seed,
                        device=device, unknown=unknown, checkpoint_every=max(10, steps // 4), min_lr_ratio=0.1,
                        **base)
    metrics = train_language_model(cfg, output, restart=restart, progress=not _state["quiet"])
    _say(json.dumps(metrics, indent=1))
    _say(f"fine-tuned model: {output / 'model'} ({steps} steps, {epochs} epochs over {n:,} actives)")


@lm_app.command("recovery")
def lm_recovery(
    model: Optional[str] = typer.Argument(None, help="Model (default: the shipped prior)."),
    heldout: str = typer.Option(..., "--heldout", help="Held-out actives (file or dataset name)."),
    n: int = typer.Option(100_000, "-n", "--number"),
    temperature: float = typer.Option(1.0, "--temperature", "-t"),
    seed: int = typer.Option(0, "--seed"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the result as JSON here."),
):
    """Sample N molecules and count how many held-out actives are regenerated (canonical match)."""
    from rich.progress import Progress

    from .api import recovery
    from .runinfo import write_json

    with Progress(console=err_console, disable=_state["quiet"], transient=True) as bar:
        task = bar.add_task("sampling", total=n)
        res = recovery(model, heldout, n, temperature, seed, progress=lambda k: bar.update(task, completed=k))
    _say(f"recovered {res['recovered']:,} of {res['heldout']:,} held-out actives ({res['fraction']:.2%}) "
         f"in {n:,} samples ({res['unique_valid']:,} unique valid)")
    if output:
        write_json(output, res)


# ------------------------------------------------------------------------------------------- property
property_app = typer.Typer(help="Property prediction from SMILES (logP, TPSA, any numeric column).",
                           no_args_is_help=True)
app.add_typer(property_app, name="property")


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
    from .property import PropertyTrainConfig, train_property_model

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


def _input_rows(input: str, column: str | None):
    """Every row of an input file (or dataset), bad lines included, so outputs line up with inputs."""
    from .datasets import resolve_input, smiles_column
    from .io import read_rows

    return list(read_rows(resolve_input(input), column=column or smiles_column(input), on_bad_line="skip"))


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

    from .io import atomic_write
    from .property import predict_smiles

    rows = _input_rows(input, column)
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
    from .property import evaluate_property_model

    res = evaluate_property_model(model, input, output, column)
    t = Table(title=f"{input}: {res['_n']:,} molecules")
    for col in ("target", "MAE", "RMSE", "R²"):
        t.add_column(col)
    for name, m in res.items():
        if not name.startswith("_"):
            t.add_row(name, f"{m['MAE']:.4f}", f"{m['RMSE']:.4f}", f"{m['R2']:.4f}")
    console.print(t)
    _say(f"parity plots and metrics.json in {output}/")


@app.command("embed")
def embed(model: Path = typer.Argument(..., help=PROPERTY_MODEL_HELP), input: str = typer.Argument(...),
          output: Path = typer.Option(..., "-o", "--output", help=".npy or .parquet"),
          column: Optional[str] = typer.Option(None, "--column", "-c")):
    """One fixed-length vector per molecule from a property model's RNN (NaN rows for invalid SMILES)."""
    from .io import atomic_write
    from .property import embed_smiles

    rows = _input_rows(input, column)
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


# ------------------------------------------------------------------------------------------- lecture
lecture_app = typer.Typer(help="The lecture's demonstrations: hello LM, cells, BPTT, long-range dependencies.",
                          no_args_is_help=True)
app.add_typer(lecture_app, name="lecture")


def _train_test_smiles(data: str, n_train: int, n_test: int, seed: int):
    """Random disjoint train/test draws of canonical SMILES from a file or dataset name."""
    import random

    from .batching import load_smiles_list
    from .datasets import resolve_input, smiles_column

    path = resolve_input(data)
    smiles = load_smiles_list(path, smiles_column(data))
    rng = random.Random(seed)
    rng.shuffle(smiles)
    if len(smiles) < n_train + n_test:
        n_test = max(1, len(smiles) // 10)
        n_train = len(smiles) - n_test
    return smiles[:n_train], smiles[n_train:n_train + n_test], path


@lecture_app.command("hello")
def lecture_hello(cell: str = typer.Option("rnn", "--cell", help="rnn|lstm|gru"),
                  hidden: int = typer.Option(8, "--hidden"),
                  steps: int = typer.Option(300, "--steps"),
                  impl: str = typer.Option("lecture", "--impl", help="lecture|fused"),
                  seed: int = typer.Option(0, "--seed"),
                  output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write a plot here.")):
    """Train the char-level model on "hello" and generate from "h", showing the softmax at each step."""
    from .lecture import HELLO_VOCAB, hello, plot_hello

    res = hello(cell, hidden, steps, seed=seed, impl=impl)
    t = Table(title=f"{cell} ({impl}), {steps} steps: loss {res.losses[0]:.3f} → {res.losses[-1]:.5f}")
    t.add_column("step")
    t.add_column("input")
    for c in HELLO_VOCAB:
        t.add_column(f"p({c})", justify="right")
    t.add_column("chosen")
    for k, row in enumerate(res.steps, 1):
        t.add_row(str(k), row["input"], *[f"{row[c]:.3f}" for c in HELLO_VOCAB], row["chosen"])
    console.print(t)
    console.print(f"generated: [bold]{res.generated}[/]")
    if output:
        output.mkdir(parents=True, exist_ok=True)
        plot_hello(res, output / "hello.png")
        _say(f"plot: {output / 'hello.png'}")


@lecture_app.command("params")
def lecture_params(input_size: int = typer.Option(32, "--input"), hidden: int = typer.Option(256, "--hidden"),
                   layers: int = typer.Option(1, "--layers")):
    """Parameter counts of the three cells: from the formula and counted from the modules."""
    from .lecture import parameter_table

    t = Table(title=f"input {input_size}, hidden {hidden}, {layers} layer(s)")
    for col in ("cell", "impl", "formula", "counted", "equal"):
        t.add_column(col)
    for r in parameter_table(input_size, hidden, layers):
        t.add_row(r["cell"], r["impl"], f"{r['formula']:,}", f"{r['counted']:,}",
                  "yes" if r["formula"] == r["counted"] else "NO")
    console.print(t)
    console.print("one gate: W is H×(H+I) acting on \\[h, x], plus bias b (H): rnn 1 gate, gru 3, lstm 4; "
                  "PyTorch keeps two biases per gate")


@lecture_app.command("gradients")
def lecture_gradients(output: Path = typer.Option(Path("runs/gradients"), "-o", "--output"),
                      data: str = typer.Option("sample", "--data", help="SMILES file or dataset name."),
                      hidden: int = typer.Option(128, "--hidden"),
                      length: int = typer.Option(60, "--length", help="BPTT window T (tokens)."),
                      steps: int = typer.Option(300, "--steps", help="Training steps before the 'trained' profile."),
                      explode_steps: int = typer.Option(300, "--explode-steps"),
                      seed: int = typer.Option(0, "--seed")):
    """BPTT: ‖∂L/∂h_t‖ vs distance for rnn/lstm/gru (init and trained); exploding gradients and clipping."""
    from .batching import load_smiles_list
    from .datasets import resolve_input, smiles_column
    from .lecture import explain_explosion, gradient_study, plot_gradient_study, write_csv
    from .runinfo import record, write_json
    from .tokens import Vocabulary, get_tokenizer

    path = resolve_input(data)
    smiles = load_smiles_list(path, smiles_column(data))
    cfg = {"data": data, "hidden": hidden, "length": length, "steps": steps, "explode_steps": explode_steps,
           "seed": seed}
    record(output, cfg, path)
    tok = get_tokenizer("atom")
    vocab = Vocabulary.build(tok.tokenize(s) for s in smiles)
    study = gradient_study(smiles, tok, vocab, hidden, length, steps, seed=seed, explode_steps=explode_steps)
    rows = [{"cell": c, "phase": p, "distance": d, "grad_norm": float(v)}
            for (c, p), prof in study.profiles.items() for d, v in enumerate(prof)]
    write_csv(output / "gradients.csv", rows)
    write_csv(output / "explode.csv", [{"run": k, **e} for k, log in study.explode.items() for e in log])
    plot_gradient_study(study, output / "gradients.png")
    t = Table(title=f"‖∂L/∂h_(T−d)‖ / ‖∂L/∂h_T‖ at d = {study.ratio_distance}")
    for col in ("cell", "init", "trained"):
        t.add_column(col)
    metrics = {"ratio_distance": study.ratio_distance, "ratios": {}, "explode": {}}
    for c in ("rnn", "lstm", "gru"):
        a, b = study.ratios[(c, "init")], study.ratios[(c, "trained")]
        t.add_row(c, f"{a:.3g}", f"{b:.3g}")
        metrics["ratios"][c] = {"init": a, "trained": b}
    console.print(t)
    for name, log in study.explode.items():
        blew, msg = explain_explosion(log)
        metrics["explode"][name] = {"exploded": blew, "message": msg, "final_loss": log[-1]["loss"]}
        (err_console if blew else console).print(f"{name}: {msg}", highlight=False)
    write_json(output / "metrics.json", metrics)
    _say(f"outputs: {output}/gradients.png, gradients.csv, explode.csv, metrics.json")


@lecture_app.command("long-range")
def lecture_long_range(output: Path = typer.Option(Path("runs/long_range"), "-o", "--output"),
                       data: str = typer.Option("sample", "--data", help="SMILES file or dataset name."),
                       n_train: int = typer.Option(9000, "--train-size"),
                       n_test: int = typer.Option(1000, "--test-size"),
                       hidden: int = typer.Option(128, "--hidden"),
                       steps: int = typer.Option(1500, "--steps", help="Training steps per cell (same budget)."),
                       batch_size: int = typer.Option(64, "--batch-size"),
                       seed: int = typer.Option(0, "--seed")):
    """Ring closures and branches: how well rnn/lstm/gru close them as the span grows."""
    from .lecture import long_range_study, plot_long_range, write_csv
    from .runinfo import record, write_json
    from .tokens import Vocabulary, get_tokenizer

    train, test, path = _train_test_smiles(data, n_train, n_test, seed)
    cfg = {"data": data, "train_size": len(train), "test_size": len(test), "hidden": hidden, "steps": steps,
           "batch_size": batch_size, "seed": seed}
    record(output, cfg, path)
    tok = get_tokenizer("atom")
    vocab = Vocabulary.build(tok.tokenize(s) for s in train)
    results = long_range_study(train, test, tok, vocab, hidden, steps, batch_size, seed)
    rows = [{"cell": c, **r} for c, res in results.items() for r in res["table"]]
    write_csv(output / "long_range.csv", rows)
    plot_long_range(results, output / "long_range.png")
    write_json(output / "metrics.json", results)
    t = Table(title=f"mean p(correct closing token) / top-1 accuracy by span; {steps} steps each")
    t.add_column("kind")
    t.add_column("span")
    for c in results:
        t.add_column(c, justify="right")
    base = results["rnn"]["table"]
    for k, r in enumerate(base):
        cells = []
        for c in results:
            row = results[c]["table"][k] if k < len(results[c]["table"]) else None
            cells.append(f"{row['mean_p']:.3f} / {row['top1']:.2f}" if row else "-")
        t.add_row(r["kind"], r["span"], *cells)
    console.print(t)
    for c, res in results.items():
        _say(f"{c}: {res['parameters']:,} parameters, test token NLL {res['test_token_nll']:.3f}, "
             f"{res['train_seconds']:.0f} s")
    _say(f"outputs: {output}/long_range.png, long_range.csv, metrics.json")


# ------------------------------------------------------------------------------------------- demo
@app.command("demo")
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

    from . import datasets as ds
    from .api import evaluate_samples, predicted_properties, sample_smiles, shipped_prior
    from .io import atomic_write, write_smiles
    from .runinfo import record

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


# ------------------------------------------------------------------------------------------- entry
def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors with exit codes 1 (run failure) / 2 (bad input or usage).

    Typer handles usage errors itself (exit 2); our own errors propagate out of it and are printed here.
    """
    try:
        app(args=argv, prog_name="chemrnn")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ChemrnnError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except Exception as exc:  # an unexpected failure: still one line, unless --debug
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                          highlight=False, soft_wrap=True)
        return 1
    return 0


def _entry():  # pragma: no cover
    sys.exit(main())
