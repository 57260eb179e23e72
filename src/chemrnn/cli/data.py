"""``chemrnn data …`` and ``chemrnn datasets …``: read, clean, inspect and encode SMILES files; the registry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ._common import console, err_console, say as _say, state as _state  # noqa: F401

data_app = typer.Typer(help="Read, clean, inspect and encode SMILES files.", no_args_is_help=True)
datasets_app = typer.Typer(help="Named datasets: where they come from and where they are here.",
                           no_args_is_help=True)


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

    from ..datasets import resolve_input, smiles_column
    from ..prepare import PrepareOptions, prepare

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
    table = Table(title=escape(f"{path.name} → {Path(output).name}"), show_header=False)
    for k in ("lines", "kept", "duplicates", "rejected"):
        table.add_row(k, f"{getattr(summary, k):,}")
    for reason, n in summary.reasons.items():
        table.add_row(f"  rejected: {escape(reason)}", f"{n:,}")
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
    from ..datasets import resolve_input, smiles_column
    from ..prepare import data_stats

    st = data_stats(resolve_input(input), column or smiles_column(input), tokenizer, validate, limit)
    if as_json:
        print(json.dumps(st.to_dict(), indent=1))
        return
    t = Table(title=escape(str(st.input)), show_header=False)
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
        v.add_row(escape(tok), f"{n:,}")  # [nH], [n+] … are chemistry, not Rich markup
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

    from ..batching import BucketBatchSampler, encode_all, padding_fraction
    from ..io import load_smiles_list
    from ..datasets import resolve_input, smiles_column
    from ..tokens import Vocabulary, get_tokenizer

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
    from .. import datasets as ds

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
    from .. import datasets as ds

    print(ds.path(name, download=download))
