"""``chemrnn lm …``: train, sample, evaluate, fine-tune and recovery of chemical language models."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..datasets import SHIPPED_MODELS
from ..errors import InputError
from ..io import atomic_write, read_rows
from ..runinfo import write_json
from ..utils import torch_device
from ._common import (DEVICE_HELP, PRECISION_HELP, Cell, Device, FinetuneUnknown, Impl, LibraryMethod, LMPreset,
                      Precision, QualityPreset, Strategy, TokenizerName,
                      as_options, bar_progress, console, err_console, interruptible, say as _say, state as _state)

Preset = LMPreset
PRESET_DEFAULT = "Default: the preset's"

lm_app = typer.Typer(help="Chemical language models: train, sample, fine-tune, evaluate.", no_args_is_help=True)


@lm_app.command("train")
def lm_train(
    data: str = typer.Option("sample", "--data",
                             help="Training SMILES: moses, chembl, a dataset name or a file. It is prepared "
                                  "(canonical SMILES, de-duplicated, tokens) into the run directory before the first "
                                  "step, once per run: about 2 minutes for moses (1.58 M molecules)."),
    output: Path = typer.Option(Path("runs/lm"), "-o", "--output", help="Run directory (rerun to resume)."),
    preset: Preset = typer.Option("cpu", "--preset", help="Architecture and schedule to start from: segler2018 "
                                  "(3×LSTM-1024), cpu (3×LSTM-512, sized for 2 cores), tiny (tests)."),
    valid: Optional[str] = typer.Option(None, "--valid", help="Validation SMILES (default: hold out --val-size)."),
    val_size: Optional[int] = typer.Option(None, "--val-size", min=0, help=f"Molecules held out for validation "
                                           f"when --valid is not given, at most a tenth of the data (none under 20 "
                                           f"molecules): a random draw, or, streamed, the first lines of the first "
                                           f"shard; the run says how many and from where, and config.json records "
                                           f"it (sizes). {PRESET_DEFAULT} (5000)."),
    cell: Optional[Cell] = typer.Option(None, "--cell", help=f"Recurrent cell. {PRESET_DEFAULT}."),
    impl: Optional[Impl] = typer.Option(None, "--impl", help=f"fused (PyTorch kernels) or lecture (the lecture's "
                                        f"cells, slower). {PRESET_DEFAULT}."),
    hidden: Optional[int] = typer.Option(None, "--hidden", min=1, help=f"Units per recurrent layer. {PRESET_DEFAULT}."),
    layers: Optional[int] = typer.Option(None, "--layers", min=1, help=f"Recurrent layers. {PRESET_DEFAULT}."),
    embedding: Optional[int] = typer.Option(None, "--embedding", min=1, help=f"Token embedding width. "
                                            f"{PRESET_DEFAULT}."),
    dropout: Optional[float] = typer.Option(None, "--dropout", min=0.0, max=0.95,
                                            help=f"Dropout between recurrent layers. {PRESET_DEFAULT}."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help=f"Molecules per step. "
                                             f"{PRESET_DEFAULT}."),
    lr: Optional[float] = typer.Option(None, "--lr", min=0.0, help=f"Peak learning rate (Adam, warm-up then "
                                       f"cosine). {PRESET_DEFAULT}."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help=f"Optimizer steps. {PRESET_DEFAULT}."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", min=0.0, help="Stop after this much "
                                                "training time over all sittings; the cosine schedule then anneals "
                                                "by time, so a time-capped run still ends at its low rate. "
                                                "Default: no cap."),
    val_every: Optional[int] = typer.Option(None, "--val-every", min=1, help="Validate (NLL and sampled validity) "
                                            "every this many steps. Default: the preset's (cpu: 2000), else 1000."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", min=1, help="Write the resumable "
                                                   "checkpoint every this many steps. Default: 250."),
    tokenizer: Optional[TokenizerName] = typer.Option(None, "--tokenizer", help="How SMILES become tokens. "
                                                      "Default: atom."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, data order and sampling. Default: 0."),
    device: Optional[Device] = typer.Option(None, "--device", help=f"{DEVICE_HELP} Default: auto."),
    precision: Optional[Precision] = typer.Option(None, "--precision", help=f"{PRECISION_HELP} "
                                                  f"{PRESET_DEFAULT} (cpu: bf16, else 32)."),
    restart: bool = typer.Option(False, "--restart", help="Discard checkpoints in the run directory and start over."),
    devices: Optional[int] = typer.Option(None, "--devices", min=1,
                                          help="Processes per node (DDP); --batch-size is per process, see "
                                               "docs/scale.md. Default: 1 on CPU, every GPU on a GPU machine."),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", min=1,
                                            help="Machines (DDP under torchrun or SLURM). Default: 1."),
    strategy: Optional[Strategy] = typer.Option(None, "--strategy",
                                                help="auto (ddp when there is more than one process) | ddp. "
                                                     "Default: auto."),
    streaming: bool = typer.Option(False, "--streaming",
                                   help="Stream --data instead of preparing it in memory (always for a glob such as "
                                        "'shards/*.smi.gz' or a directory): prepared SMILES, one per line. Without "
                                        "--valid, the first --val-size lines of the first shard (at most a tenth of "
                                        "the data) are held out for validation and never trained on."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0,
                                          help="Streaming: reader processes per training process. Default: 1."),
    shuffle_buffer: Optional[int] = typer.Option(None, "--shuffle-buffer", min=1,
                                                 help="Streaming: molecules in each reader's shuffle buffer. "
                                                      "Default: 10000."),
    augment: Optional[int] = typer.Option(None, "--augment", min=0,
                                          help="Also train on N randomized SMILES of each molecule (an epoch covers "
                                               "them all): a prior that reads any SMILES of a molecule "
                                               "(Arús-Pous et al. 2019). Default: 0."),
):
    """Train a language model by teacher forcing; Lightning checkpoints; rerun the command to resume."""
    from ..api import is_launched_rank, lm_config, train_lm

    with as_options({"hidden_size": "hidden", "num_layers": "layers", "embedding_dim": "embedding"}):
        cfg = lm_config(
            preset, data=data, valid=valid, val_size=val_size, cell=cell, impl=impl, hidden_size=hidden,
            num_layers=layers, embedding_dim=embedding, dropout=dropout, batch_size=batch_size, lr=lr,
            max_steps=max_steps, max_minutes=max_minutes, val_every=val_every, checkpoint_every=checkpoint_every,
            tokenizer=tokenizer, seed=seed, device=device, precision=precision, devices=devices,
            num_nodes=num_nodes, strategy=strategy, streaming=streaming or None, workers=workers,
            shuffle_buffer=shuffle_buffer, augment=augment)
    with interruptible(lambda: _kept(output)):
        metrics = train_lm(cfg, output, restart=restart, verbose=not _state["quiet"])
    if is_launched_rank():  # the other DDP processes: rank 0 reports
        return
    print(json.dumps(metrics, indent=1))  # the result: on stdout, with --quiet too
    _say(f"model: {output / 'model'}")


def _kept(run_dir: Path) -> str:
    """What an interrupted training run leaves: its last checkpoint (rerun to resume from it), or nothing yet."""
    import time

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    rerun = "rerun the same command to resume"
    if not ckpt.is_file():
        return (f"interrupted before the first checkpoint: nothing to resume from in {run_dir} "
                f"(none written yet); rerun the same command to start over")
    age = time.time() - ckpt.stat().st_mtime
    return f"interrupted: the last checkpoint, {ckpt} (written {age:.0f} s ago), is kept; {rerun} from it"


LM_MODEL_HELP = ("Model directory or .chemrnn file, or a shipped prior's name: moses (= shipped, trained on MOSES; "
                 "the default) | chembl (trained on ChEMBL: wider chemistry — charges, P, B, Se …; the one to "
                 "fine-tune on a target's actives).")


@lm_app.command("sample")
def lm_sample(
    model: Optional[str] = typer.Argument(None, help=LM_MODEL_HELP),
    n: int = typer.Option(1000, "-n", "--number", min=1, help="Molecules to sample."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Write SMILES here (.smi, .smi.gz); without it: stdout, one per line."),
    temperature: float = typer.Option(1.0, "--temperature", "-t",
                                      help="Softmax temperature (> 0): below 1 sharper, above 1 more diverse."),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="Sequences sampled in parallel."),
    max_length: int = typer.Option(140, "--max-length", min=1, help="Most tokens per molecule."),
    valid_only: bool = typer.Option(False, "--valid-only", help="Write only valid molecules (canonical)."),
    unique_only: bool = typer.Option(False, "--unique-only", help="Write each canonical molecule once."),
    novel_only: bool = typer.Option(False, "--novel-only", help="Write each canonical molecule once, and only "
                                    "those absent from the training data (the model's own, read from its file, "
                                    "the prior's included for a fine-tuned model or a design run's agent; or "
                                    "--exclude). The first time, a large training set (the shipped prior's: MOSES "
                                    "train, 1.6 M) takes minutes to read; then it is cached."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="With --novel-only: known molecules (file "
                                                "or dataset name; repeat the option for several) instead of the "
                                                "model's training data. Default: the model's training data."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler."),
    device: Device = typer.Option("auto", "--device",
                                                                 help="auto (a GPU where there is one) | cpu | gpu."),
    impl: Impl = typer.Option("fused", "--impl",
                                                     help="fused (PyTorch kernels) | lecture (the lecture's cells)."),
    quality: Optional[QualityPreset] = typer.Option(
        None, "--quality", help="Flag each molecule as a medicinal chemist's first look would: a CSV of smiles and "
        "quality (pass, or the first failed check: structural alert, radical, odd element or charge, ring system "
        "never seen in ChEMBL, property window; see docs/design.md) to -o (.csv) or stdout. default: PAINS A/B/C, "
        "atoms, ChEMBL ring systems; strict: more alert sets and drug-like windows; none: flags nothing."),
    core: Optional[str] = typer.Option(None, "--core", help="Decorate a fixed core: a SMILES with attachment "
                                       "points (* or [*:1], [*:2] …) where the model writes the rest; every molecule "
                                       "written contains the core, bonded at those points (canonical SMILES; the "
                                       "draws that are invalid or lost the core are counted, not written)."),
    link: Optional[tuple[str, str]] = typer.Option(None, "--link", help="Link two fragments, each with one "
                                                   "attachment point (--link 'c1ccccc1[*:1]' '[*:1]N1CCOCC1'): the "
                                                   "model writes the linker; every molecule written contains both."),
    shards: Optional[int] = typer.Option(None, "--shards", min=1,
                                         help="Sample at scale: -n draws in this many shards written into the "
                                              "folder -o (valid, canonical, unique across shards, manifest.json; "
                                              "with --novel-only, novel too); rerun to resume (finished shards are "
                                              "skipped). Default: one output, no shards."),
):
    """Sample molecules from a language model. SMILES go to --output or stdout; the summary (validity,
    uniqueness) goes to stderr."""
    from rich.progress import Progress

    from ..api import sample_shards, sample_smiles

    if not temperature > 0:
        raise InputError(f"--temperature must be > 0, not {temperature}")
    if exclude and not novel_only:
        raise InputError("--exclude names the known molecules for --novel-only; add --novel-only")
    if quality and (shards is not None or (output and not str(output).lower().removesuffix(".gz").endswith(".csv"))):
        raise InputError("--quality writes a CSV (smiles, quality): give -o FILE.csv (or no -o for stdout), "
                         "without --shards")
    if (core is not None or link is not None) and shards is not None:
        raise InputError("--core and --link write one output: leave out --shards")
    if core is not None and link is not None:
        raise InputError("give --core or --link, not both")
    known = None
    if novel_only:  # read (and check) the known molecules before sampling
        from ..api import canonical_set, training_sources
        from ._common import Steps

        known = set()
        with Steps() as steps:  # the first time, canonicalizing a large training set takes minutes: say so
            for source in exclude or training_sources(model):
                _say(f"known molecules: {escape(str(source))}")
                known |= canonical_set(source, progress=steps)
    if shards is not None:
        if output is None:
            raise InputError("--shards writes a folder of shards: give it with -o DIR")
        with Progress(console=err_console, disable=_state["quiet"], transient=True) as bar:
            task = bar.add_task("shards", total=shards)
            res = sample_shards(model, n, shards, output, temperature=temperature, batch_size=batch_size,
                                max_length=max_length, seed=seed, device=torch_device(device), impl=impl,
                                progress=bar_progress(bar, task),
                                known=known)
        _say(f"{res['drawn']:,} drawn in {shards:,} shards: valid {res['valid']:,} "
             f"({res['valid'] / max(1, res['drawn']):.3f}), written {res['written']:,} unique"
             + (" novel" if known is not None else "") + f" → {escape(str(output))}/ ({res['seconds']:.1f} s this "
             f"sitting)")
        return
    if core is not None or link is not None:
        _decorate(model, n, core, link, output, temperature, batch_size, max_length, seed, device, impl,
                  unique_only, novel_only, known, quality)
        return
    with Progress(console=err_console, disable=_state["quiet"], transient=True) as bar:
        task = bar.add_task("sampling", total=n)
        res = sample_smiles(model, n, temperature=temperature, batch_size=batch_size, max_length=max_length,
                            seed=seed, device=torch_device(device), valid_only=valid_only, unique_only=unique_only,
                            progress=bar_progress(bar, task), impl=impl, novel_only=novel_only,
                            exclude=known)
    flags = _write_sampled(res["written"], output, quality)
    _say(f"{n:,} sampled in {res['seconds']:.1f} s ({n / max(res['seconds'], 1e-9):,.0f}/s): "
          f"valid {res['valid']:,} ({res['valid'] / n:.3f}), unique valid {res['unique']:,}, "
          f"unfinished {res['unfinished']:,}" + (f", novel {res['novel']:,} (of {len(known):,} known)"
                                                  if novel_only else "")
          + f"; written {len(res['written']):,}" + (f" → {escape(str(output))}" if output else ""))
    _say_quality(flags, quality)


def _write_sampled(smiles: list[str], output: Optional[Path], quality: Optional[str]) -> Optional[list[str]]:
    """Write sampled SMILES to ``output`` (or stdout), as ``smiles,quality`` rows when ``quality`` names a preset;
    returns the quality flags (None without ``quality``)."""
    import sys

    if quality:
        import csv

        from ..api import quality_flags, write_flagged

        flags = quality_flags(smiles, quality)
        if output:
            write_flagged(output, smiles, flags)
        else:
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(["smiles", "quality"])
            w.writerows(zip(smiles, flags))
            sys.stdout.flush()
        return flags
    if output:
        from ..io import write_smiles

        write_smiles(output, smiles)
    else:
        sys.stdout.write("".join(s + "\n" for s in smiles))
        sys.stdout.flush()
    return None


def _say_quality(flags: Optional[list[str]], quality: Optional[str]) -> None:
    if flags is None:
        return
    valid = [f for f in flags if f != "invalid SMILES"]
    _say(f"quality ({quality}): {valid.count('pass'):,} of {len(valid):,} valid molecules pass"
         + ("; most common reasons: " + "; ".join(f"{escape(r)} ({k:,})" for r, k in
                                                   _most_common(f for f in valid if f != "pass"))
            if len(valid) > valid.count("pass") else ""))


def _decorate(model, n, core, link, output, temperature, batch_size, max_length, seed, device, impl, unique_only,
              novel_only, known, quality) -> None:
    """``lm sample --core`` / ``--link``: molecules around a fixed core, written and summarized."""
    from rich.progress import Progress

    from ..api import decorate_smiles

    with Progress(console=err_console, disable=_state["quiet"], transient=True) as bar:
        task = bar.add_task("decorating" if core is not None else "linking", total=n)
        res = decorate_smiles(model, n, core=core, link=link, temperature=temperature,
                              batch_size=batch_size, max_length=max_length, seed=seed,
                              device=torch_device(device), unique_only=unique_only, novel_only=novel_only,
                              exclude=known, impl=impl, progress=bar_progress(bar, task))
    flags = _write_sampled(res["written"], output, quality)
    _say(f"{n:,} drawn around {escape(res['template'])} in {res['seconds']:.1f} s ({n / max(res['seconds'], 1e-9):,.0f}"
         f"/s): with the core {res['with_core']:,} ({res['with_core'] / n:.3f}), unique {res['unique']:,}; invalid "
         f"{res['invalid']:,}, core lost {res['core_missing']:,}, unfinished {res['unfinished']:,}"
         + (f", novel {res['novel']:,} (of {len(known):,} known)" if novel_only else "")
         + f"; written {len(res['written']):,}" + (f" → {escape(str(output))}" if output else ""))
    _say_quality(flags, quality)


def _most_common(reasons, k: int = 3) -> list[tuple[str, int]]:
    """The ``k`` most common reasons, each cut to its kind (``ring system never seen in ChEMBL``, not the ring)."""
    from collections import Counter

    return Counter(r.split(" (")[0] for r in reasons).most_common(k)


@lm_app.command("evaluate")
def lm_evaluate(
    samples: Optional[Path] = typer.Argument(None, help="Sampled SMILES, one per line (as written by lm sample); "
                                                       "blank lines count as invalid samples. Or use --model."),
    model: Optional[str] = typer.Option(None, "--model", help="Instead of SAMPLES: sample from this language model "
                                        "(path or shipped name) at each --temperatures and compare."),
    temperatures: str = typer.Option("1.0", "--temperatures", help="With --model: comma-separated softmax "
                                     "temperatures, e.g. 0.7,1.0,1.3 (a validity / novelty / FCD table)."),
    n: int = typer.Option(10_000, "-n", "--number", min=1, help="With --model: molecules sampled per temperature."),
    test: str = typer.Option("moses:test", "--test", help="Reference set: file or dataset name."),
    train: Optional[str] = typer.Option(None, "--train", help="Training set for novelty: file or dataset name."),
    n_ref: int = typer.Option(10000, "--n-ref", min=1, help="Random reference molecules drawn from --test."),
    no_fcd: bool = typer.Option(False, "--no-fcd", help="Skip FCD (ChemNet costs ~10 ms a molecule on CPU)."),
    output: Path = typer.Option(Path("runs/evaluate"), "-o", "--output",
                                help="Folder for metrics.json and report.html."),
    seed: int = typer.Option(0, "--seed", help="Seed of the reference draw."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines",
                                        help="Count lines that cannot be read (not UTF-8, too long) as invalid "
                                             "samples instead of stopping (exit 2); their number goes to stderr and "
                                             "metrics.json (unreadable_lines)."),
):
    """MOSES and GuacaMol distribution metrics, with an HTML report; with --model, a temperature sweep."""
    from ..api import evaluate_samples

    if (samples is None) == (model is None):
        raise InputError("give either SAMPLES (a file of sampled SMILES) or --model (to sample at --temperatures)")
    if model is not None:
        return _temperature_sweep(model, temperatures, n, test, train, n_ref, not no_fcd, seed, output)

    # read once up front: an unreadable line stops here, naming the file and line, before any work
    unreadable = [r.line for r in read_rows(samples, on_bad_line="skip" if skip_bad_lines else "error") if r.error]
    res = evaluate_samples(samples, test, train=train, n_ref=n_ref, fcd=not no_fcd, seed=seed, output=output,
                           title=f"samples: {samples.name}")
    metrics_file = output / "metrics.json"
    if metrics_file.exists():
        write_json(metrics_file, {**json.loads(metrics_file.read_text()), "unreadable_lines": len(unreadable)})
    t = Table(title=f"{samples} vs {test} ({res['reference']['n_ref']:,} reference molecules)", show_header=False)
    for k, v in res.items():
        if not isinstance(v, dict):
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(t)
    if unreadable:
        _say(f"{len(unreadable):,} unreadable lines counted as invalid samples (lines "
              f"{', '.join(map(str, unreadable[:10]))}{' …' if len(unreadable) > 10 else ''})")
    _say(f"seconds: {res.get('seconds')}")
    _say(f"report: {output / 'report.html'}")


def _temperature_sweep(model, temperatures: str, n: int, test, train, n_ref, fcd, seed, output: Path):
    import csv
    import io

    from ..api import temperature_sweep
    from ._common import Steps

    try:
        temps = [float(t) for t in temperatures.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"--temperatures must be comma-separated numbers, not {temperatures!r}") from None
    with Steps() as steps:
        rows = temperature_sweep(model, temps, n, test, train=train, n_ref=n_ref, fcd=fcd, seed=seed, output=output,
                                 progress=steps)
    cols = [c for c in ("temperature", "validity", "uniqueness", "novelty", "FCD", "SNN", "Frag", "Scaf", "IntDiv1",
                        "KL_score") if c in rows[0]]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with atomic_write(output / "sweep.csv") as fh:
        fh.write(buf.getvalue())
    t = Table(title=f"{escape(str(model))}: {n:,} samples per temperature vs {escape(str(test))}")
    for c in cols:
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(*(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    console.print(t)
    _say(f"sweep: {escape(str(output / 'sweep.csv'))} (a report per temperature in {escape(str(output))}/T*/)")


def _prior_and_actives(args: list[str]) -> tuple[str, str]:
    """``[PRIOR] ACTIVES``: one argument is the actives, fine-tuned from the ChEMBL prior (made for a target's
    actives); a lone argument that names a model is refused rather than trained on as if it were actives."""
    if len(args) == 2:
        return args[0], args[1]
    if len(args) != 1:
        raise InputError(f"give [PRIOR] ACTIVES: one or two arguments, not {len(args)}")
    lone = Path(args[0])
    if args[0] in SHIPPED_MODELS["language"] or lone.suffix == ".chemrnn" or (lone / "model.json").exists():
        raise InputError(f"{args[0]} is a model: name the actives too (lm finetune PRIOR ACTIVES)")
    return "chembl", args[0]


@lm_app.command("finetune")
def lm_finetune(
    args: list[str] = typer.Argument(..., metavar="[PRIOR] ACTIVES", show_default=False,
                                     help="PRIOR: chembl (the shipped ChEMBL prior; the default), moses, or a model "
                                     "directory / .chemrnn file. ACTIVES: SMILES of the actives (file or dataset "
                                     "name)."),
    output: Path = typer.Option(Path("runs/finetune"), "-o", "--output",
                                help="Run directory; the model is OUTPUT/model."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Most passes over the actives trained on (the "
                               "learning rate decays over them)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Actives per step."),
    lr: float = typer.Option(5e-4, "--lr", min=0.0, help="Learning rate (Adam)."),
    val_size: Optional[int] = typer.Option(None, "--val-size", min=0, help="Actives held out to pick the epoch: "
                                           "their NLL after each epoch; 0: none (train all --epochs, keep the "
                                           "last). Default: a tenth of the actives."),
    patience: Optional[int] = typer.Option(None, "--patience", min=1, help="Stop after this many epochs without a "
                                           "better validation NLL; the best epoch's weights are the model. "
                                           "Default: 3 (--keep-last trains every epoch: no patience)."),
    keep_best: bool = typer.Option(True, "--keep-best/--keep-last", help="Save the best validation epoch's "
                                   "weights (default) or the last epoch's."),
    unknown: FinetuneUnknown = typer.Option(
        "skip", "--unknown", help="Actives with tokens outside the prior's vocabulary: skip them (listed in the "
        "rejects file), stop (error), or extend the vocabulary with those tokens (each new token starts as "
        "unlikely as the prior's rarest; worth it when many molecules have them, as when a prior continues on "
        "another chemical space)."),
    augment: int = typer.Option(0, "--augment", min=0,
                                help="Also train on this many randomized SMILES of each active (an epoch then "
                                "passes over all of them; a small molecule may repeat a spelling); 0: the "
                                "canonical SMILES only."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of data order, randomized SMILES and sampling."),
    device: Device = typer.Option("auto", "--device", help=DEVICE_HELP),
    restart: bool = typer.Option(False, "--restart", help="Discard checkpoints in the run directory and start over."),
):
    """Transfer learning (Segler 2018): continue training the prior (the shipped ChEMBL one unless named) on a
    small set of actives (epochs count over the actives actually trained on: prepared, spellable by the prior, not
    held out)."""
    from ..api import finetune

    if patience is not None and not keep_best:
        raise InputError("--patience stops at the best validation epoch, which --keep-last does not keep: give one "
                         "of them")
    prior, actives = _prior_and_actives(args)
    with interruptible(lambda: _kept(output)):
        metrics = finetune(prior, actives, output, restart=restart, verbose=not _state["quiet"], epochs=epochs,
                           batch_size=batch_size, lr=lr, val_size=val_size, unknown=unknown, seed=seed,
                           device=device, augment=augment, patience=patience or 3, keep_best=keep_best)
    _say(json.dumps(metrics, indent=1))
    best = (f"; kept epoch {metrics['best_epoch']:g} (validation NLL {metrics['best_val_nll']:.4f} on "
            f"{metrics['val_size']:,} held-out actives" + (", stopped early)" if metrics.get("stopped_early") else ")")
            if "best_epoch" in metrics else "")
    _say(f"fine-tuned model: {output / 'model'} ({metrics['steps']} steps, {metrics['epochs']:g} epochs over "
         f"{metrics['train_molecules']:,} actives" + (f", {metrics['train_size']:,} SMILES with the randomized ones"
                                                      if augment else "") + best + ")")


@lm_app.command("recovery")
def lm_recovery(
    model: Optional[str] = typer.Argument(None, help=LM_MODEL_HELP),
    heldout: str = typer.Option(..., "--heldout", help="Held-out actives (file or dataset name)."),
    n: int = typer.Option(100_000, "-n", "--number", min=1, help="Molecules to sample."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Softmax temperature (> 0)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler."),
    every: int = typer.Option(10_000, "--every", min=1, help="A point of the curve after every this many samples."),
    novelty: bool = typer.Option(True, "--novelty/--no-novelty", help="Also the novelty of the unique valid "
                                 "molecules against the model's training data (the prior's included)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the result as JSON here."),
):
    """Sample N molecules and count how many held-out actives are regenerated (canonical match; Segler 2018): the
    curve of recovered / held-out, new recoveries per 10k samples and novelty over the samples goes to stdout."""
    from rich.progress import Progress

    from ..api import read_heldout, recovery

    if not temperature > 0:
        raise InputError(f"--temperature must be > 0, not {temperature}")
    targets, rows = read_heldout(heldout)  # an invalid line is refused (file, line, reason) before any sampling
    if rows != len(targets):
        _say(f"held-out: {rows:,} molecules, {len(targets):,} distinct")
    train = None
    if novelty:  # against the data the model learnt from, where that is here; else without novelty, said so
        from ..api import training_sources

        try:
            train = training_sources(model)
        except InputError as exc:
            _say(f"novelty not measured: {escape(str(exc))}")
            novelty = False
    with Progress(console=err_console, disable=_state["quiet"], transient=True) as bar:
        task = bar.add_task("sampling", total=n)
        res = recovery(model, heldout, n=n, temperature=temperature, seed=seed, progress=bar_progress(bar, task),
                       every=every, train=train)
    t = Table(title=f"recovery of {res['heldout']:,} held-out actives")
    for col in ("samples", "recovered", "fraction", "new per 10k", "unique valid") + (("novelty",) if novelty else ()):
        t.add_column(col, justify="right")
    for p in res["curve"]:
        t.add_row(f"{p['samples']:,}", f"{p['recovered']:,}", f"{p['fraction']:.2%}", f"{p['new_per_10k']:.1f}",
                  f"{p['unique_valid']:,}", *((f"{p['novelty']:.3f}",) if novelty else ()))
    console.print(t)
    _say(f"recovered {res['recovered']:,} of {res['heldout']:,} held-out actives ({res['fraction']:.2%}) "
          f"in {n:,} samples ({res['unique_valid']:,} unique valid)")
    if output:
        write_json(output, res)


@lm_app.command("library")
def lm_library(
    model: str = typer.Argument(..., help="The model to draw the library from: a fine-tuned run's model "
                                "(RUN/model), a model file or a shipped prior's name."),
    n: int = typer.Option(100_000, "-n", "--number", min=1, help="Molecules in the library."),
    output: Path = typer.Option(..., "-o", "--output", help="The library: .smi (SMILES and log-likelihood, "
                                "tab-separated) or .csv (smiles, logp, logp_per_token, tokens, rank, spelling, "
                                "spelling_logp: the string the method generated and its log p, at --temperature for swor and "
                                "sample, at T = 1 for beam); .gz compresses. The "
                                "summary goes beside it (OUTPUT.summary.json)."),
    method: LibraryMethod = typer.Option(
        "beam", "--method", help="beam: likely molecules by beam search (an approximation of the most likely ones); swor: sampling without "
        "replacement (stochastic beam search, Gumbel-top-k); sample: random sampling, each molecule once."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="swor and sample: softmax temperature "
                                      "(> 0). beam ranks by the model's own likelihood."),
    novel_only: bool = typer.Option(False, "--novel-only", help="Leave out the training data of every model this "
                                    "one started from too (a fine-tuned model's prior's corpus), not only its own."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="Also leave out these known molecules "
                                                "(file or dataset name; repeat for several)."),
    exclude_training: bool = typer.Option(True, "--exclude-training/--no-exclude-training", help="Leave out the "
                                          "model's own training data (a fine-tuned model's actives)."),
    heldout: Optional[str] = typer.Option(None, "--heldout", help="Held-out actives: print and save (in the "
                                          "summary) how many the library regenerates at each size."),
    every: int = typer.Option(10_000, "--every", min=1, help="With --heldout: a point of the curve every this "
                              "many library molecules."),
    seed: int = typer.Option(0, "--seed", help="Seed of swor and sample."),
    max_length: int = typer.Option(140, "--max-length", min=1, help="Most tokens per molecule."),
    device: Device = typer.Option("auto", "--device", help="auto (a GPU where there is one) | cpu | gpu."),
):
    """A focused library: N distinct, valid, canonical molecules, none of them in the model's training data, each
    with its log-likelihood under the model, most likely first. Rerun the same command to resume after a kill."""
    from ..api import library
    from ._common import Steps

    if not temperature > 0:
        raise InputError(f"--temperature must be > 0, not {temperature}")
    with Steps() as steps:
        res = library(model, n, output, method=method, temperature=temperature, seed=seed,
                      exclude_training=exclude_training, novel_only=novel_only, exclude=exclude, heldout=heldout,
                      every=every, max_length=max_length, device=torch_device(device), progress=steps)
    if "heldout" in res:
        h = res["heldout"]
        t = Table(title=f"recovery of {h['molecules']:,} held-out actives ({h['known']:,} of them in the "
                        f"excluded training data)")
        for col in ("library", "recovered", "fraction"):
            t.add_column(col, justify="right")
        for p in h["curve"]:
            t.add_row(f"{p['library']:,}", f"{p['recovered']:,}", f"{p['fraction']:.2%}")
        console.print(t)
    st = res["stats"]
    _say(f"{res['written']:,} molecules ({method}) → {escape(str(output))} in {res['seconds']:.0f} s "
         f"({res['molecules_per_s']:,.0f}/s); left out on the way: {st.get('invalid', 0):,} invalid, "
         f"{st.get('known', 0):,} known, {st.get('repeats', 0):,} repeats"
         + ("" if res["complete"] else f"; INCOMPLETE: the method found only {res['written']:,} of {n:,}"))


@lm_app.command("score")
def lm_score(
    model: str = typer.Argument(..., help=LM_MODEL_HELP),
    source: str = typer.Argument(..., metavar="IN", help="Molecules to score (file or dataset name)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="CSV, one row per input row: line, smiles, "
                                          "scored, logp, logp_per_token, tokens, error. Without it: only the "
                                          "summary."),
    as_written: bool = typer.Option(False, "--as-written", help="Score each string exactly as written (a "
                                    "sampler's spelling) instead of its canonical SMILES."),
    column: Optional[str] = typer.Option(None, "--column", help="CSV/TSV: the SMILES column (default: smiles)."),
    device: Device = typer.Option("auto", "--device", help="auto (a GPU where there is one) | cpu | gpu."),
):
    """The log-likelihood of given molecules under a language model (of their canonical SMILES, with <eos>), in
    total and per token; rows that cannot be scored (invalid SMILES, tokens the model never saw) get the reason."""
    from ..api import score

    res = score(model, source, output, as_written=as_written, column=column, device=torch_device(device))
    bad = [x for x in res["rows"] if x.error]
    _say(f"scored {res['scored']:,} of {len(res['rows']):,} rows"
         + (f": mean log p {res['mean_logp']:.3f}, per token {res['mean_logp_per_token']:.4f}" if res["scored"]
            else "") + (f"; {len(bad):,} not scored (first: line {bad[0].line}: {escape(bad[0].error)})" if bad
                        else "") + (f" → {escape(str(output))}" if output else ""))
