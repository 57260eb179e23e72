"""``chemrnn data …`` and ``chemrnn datasets …``: read, clean, inspect and encode SMILES files; the registry."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..datasets import resolve_input, smiles_column
from ..io import check_writable, clip
from ._common import SKIP_BAD_LINES_HELP, Steps, TokenizerName, UnknownTokens, console, err_console, say as _say

data_app = typer.Typer(help="Read, clean, inspect and encode SMILES files.", no_args_is_help=True)
datasets_app = typer.Typer(help="Named datasets: where they come from and where they are here.",
                           no_args_is_help=True)


# ----------------------------------------------------------------------------------------------- data
INPUT_HELP = ("SMILES file (.smi/.smiles/.txt with an optional name column, or .csv/.tsv; each may be gzipped) or a "
              "dataset name (chemrnn datasets list).")
COLUMN_HELP = "SMILES column of a CSV/TSV (name or index; default: a column named smiles in any case)."
TOKENIZER_HELP = "atom (bracket atoms, Cl, Br, %nn are one token) | char (one token per character) | selfies."


@data_app.command("prepare")
def data_prepare(
    input: str = typer.Argument(..., help=INPUT_HELP),
    output: Path = typer.Option(..., "-o", "--output",
                                help="Output: one canonical SMILES per line (.smi or .smi.gz); beside it "
                                     "NAME.rejects.csv (line, reason, raw text) and NAME.summary.json (the counts)."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help=COLUMN_HELP),
    no_stereo: bool = typer.Option(False, "--no-stereo", help="Drop stereochemistry (chirality and double-bond "
                                   "geometry) only: C[C@H](N)O → CC(N)O; isotopes stay (see --no-isotopes)."),
    no_isotopes: bool = typer.Option(False, "--no-isotopes", help="Write every atom as its natural element: "
                                     "[2H]C([2H])([2H])O → CO, [13CH4] → C (stereo stays, see --no-stereo)."),
    largest_fragment: bool = typer.Option(False, "--largest-fragment",
                                          help="Keep the fragment with the most heavy atoms (strips counter-ions and "
                                               "solvents); it does not neutralize: CC(=O)[O-].[Na+] → CC(=O)[O-] "
                                               "(see --neutralize)."),
    neutralize: bool = typer.Option(False, "--neutralize",
                                    help="Take charges off by adding or removing hydrogens (RDKit's Uncharger), after "
                                         "--largest-fragment: CC(=O)[O-] → CC(=O)O, CC[NH3+] → CCN; charges that "
                                         "cannot go (N+ with four bonds, nitro groups, a salt kept whole) stay."),
    min_tokens: Optional[int] = typer.Option(None, "--min-tokens", min=0,
                                             help="Reject molecules with fewer tokens (default: no limit)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1,
                                             help="Reject molecules with more tokens (default: no limit)."),
    tokenizer: TokenizerName = typer.Option("atom", "--tokenizer",
                                            help="Tokens counted by --min-tokens/--max-tokens: " + TOKENIZER_HELP),
    no_dedupe: bool = typer.Option(False, "--no-dedupe", help="Keep duplicate molecules."),
    rejects: Optional[Path] = typer.Option(None, "--rejects", help="Rejects CSV (default: NAME.rejects.csv beside "
                                                                   "the output)."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=SKIP_BAD_LINES_HELP
                                        + " Rejected lines go to the rejects file."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes (0: all cores)."),
):
    """Canonicalize, filter and de-duplicate a SMILES file; every line is accounted for (kept, duplicate or
    rejected with its reason). Duplicates are found on the canonical SMILES after every option above (so with
    --no-isotopes, [2H]C([2H])([2H])O and CO are one molecule). A file from which no molecule is kept is refused
    (exit 2)."""
    from ..api import PrepareOptions, default_rejects_path, prepare_data, summary_path

    check_writable(output, "file")
    rejects = rejects or default_rejects_path(output)
    check_writable(rejects, "file")
    opts = PrepareOptions(column=column or smiles_column(input), keep_stereo=not no_stereo,
                          largest_fragment=largest_fragment, keep_isotopes=not no_isotopes, neutralize=neutralize,
                          min_tokens=min_tokens, max_tokens=max_tokens,
                          tokenizer=tokenizer, dedupe=not no_dedupe,
                          on_bad_line="skip" if skip_bad_lines else "error", jobs=jobs)
    path = resolve_input(input)
    with Steps() as steps:
        message = f"preparing {path.name} (canonicalize, filter, de-duplicate)"
        steps(message)
        summary = prepare_data(path, output, opts, rejects, progress=lambda _, n, total=None: steps(message, n))
    table = Table(title=escape(f"{path.name} → {Path(output).name}"), show_header=False)
    for k in ("lines", "kept", "duplicates", "rejected"):
        table.add_row(k, f"{getattr(summary, k):,}")
    for reason, n in summary.reasons.items():
        table.add_row(f"  rejected: {escape(reason)}", f"{n:,}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    _say(table)
    _say(f"rejects: {escape(str(summary.rejects))}; summary: {escape(str(summary_path(output)))}")


@data_app.command("stats")
def data_stats_cmd(
    input: str = typer.Argument(..., help=INPUT_HELP),
    column: Optional[str] = typer.Option(None, "--column", "-c", help=COLUMN_HELP),
    tokenizer: TokenizerName = typer.Option("atom", "--tokenizer", help=TOKENIZER_HELP),
    validate: bool = typer.Option(False, "--validate", help="Also parse every SMILES with RDKit."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Look at the first N molecules only "
                                                                     "(default: all)."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=SKIP_BAD_LINES_HELP
                                        + " They are counted with the blank lines."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
):
    """Counts, token-length histogram and vocabulary of a SMILES file (the tables, or the JSON, on stdout)."""
    from ..api import data_stats

    path = resolve_input(input)
    with Steps() as steps:
        message = f"reading {path.name}"
        steps(message)
        st = data_stats(path, column=column or smiles_column(input), tokenizer=tokenizer, validate=validate,
                        limit=limit, on_bad_line="skip" if skip_bad_lines else "error",
                        progress=lambda _, n, total=None: steps(message, n))
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
    if st.invalid_examples:
        _say("invalid examples: " + ", ".join(escape(clip(s)) for s in st.invalid_examples))


@data_app.command("encode")
def data_encode(
    input: str = typer.Argument(..., help="SMILES file (ideally prepared by chemrnn data prepare) or dataset name."),
    output: Path = typer.Option(..., "-o", "--output", help="Token cache to write (.npz)."),
    column: Optional[str] = typer.Option(None, "--column", "-c", help=COLUMN_HELP),
    tokenizer: TokenizerName = typer.Option("atom", "--tokenizer", help=TOKENIZER_HELP),
    vocabulary: Optional[Path] = typer.Option(None, "--vocabulary",
                                              help="Use this vocabulary JSON (default: build one from the input)."),
    unknown: UnknownTokens = typer.Option("error", "--unknown",
                                          help="Tokens not in --vocabulary: error (list them all, exit 2) | unk "
                                               "(map them to <unk>)."),
    batch_size: int = typer.Option(128, "--batch-size", min=1, help="Batch size for the padding report."),
    seed: int = typer.Option(0, "--seed", help="Seed of the batch order in the padding report."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help=SKIP_BAD_LINES_HELP
                                        + " Their number is reported."),
):
    """Tokenize and encode SMILES into a training cache; report padding with length buckets (no chemistry: run
    chemrnn data prepare first)."""
    from ..api import encode_data

    with Steps() as steps:
        res = encode_data(input, output, column=column, tokenizer=tokenizer, vocabulary=vocabulary, unknown=unknown,
                          batch_size=batch_size, seed=seed, skip_bad_lines=skip_bad_lines, progress=steps)
    _say(escape(f"{res['sequences']:,} sequences, {res['tokens']:,} tokens, vocabulary {res['vocabulary']} → "
                f"{output}") + (f" ({res['unreadable']:,} unreadable lines skipped)" if res["unreadable"] else ""))
    _say(f"padding fraction at batch {batch_size}: {res['padding']['bucketed']:.3f} with length buckets, "
         f"{res['padding']['unbucketed']:.3f} unbucketed")
    _say(f"encode {res['encode_seconds']:.1f} s, total {res['seconds']:.1f} s")


# ------------------------------------------------------------------------------------------- datasets
@datasets_app.command("list")
def datasets_list():
    """The registry: names, molecules, whether the file is here, and the source (a table on stdout)."""
    from .. import datasets as ds

    t = Table(title=escape(f"datasets ({ds.ENV_DATA_DIR}={ds.data_dir() or 'unset'}; cache {ds.cache_dir()})"))
    for col in ("name", "molecules", "here", "description", "source"):
        t.add_column(col, overflow="fold")
    for name in ds.names():
        f = ds.REGISTRY[name]
        where = ds.locate(name)
        t.add_row(escape(name), f"{f.molecules:,}" if f.molecules else "?", "yes" if where else "no",
                  escape(f.description), escape((f.url or "-") + ("" if f.direct else " (derived)")))
    console.print(t)


@datasets_app.command("path")
def datasets_path(name: str = typer.Argument(..., help="Dataset name, e.g. moses, moses:test, zinc250k."),
                  download: bool = typer.Option(False, "--download/--no-download",
                                                help="Download a file that is not here into the cache (only files "
                                                     "whose source is byte-identical, checked by SHA-256).")):
    """Print the local path of a named dataset (stdout); without --download, a dataset that is not here is an
    error saying where to put it."""
    from .. import datasets as ds

    print(ds.path(name, download=download))


@datasets_app.command("derive")
def datasets_derive(
    name: str = typer.Argument(..., help="A derived dataset: zinc250k, chembl, chembl:valid, gsk3, jnk3, "
                                         "pfalciparum, lipo, esol, freesolv."),
    source: Optional[list[str]] = typer.Option(None, "--source",
                                               help="A source file or URL, as KEY=PATH_OR_URL (a bare PATH when the "
                                                    "dataset has one source); repeat for several. Sources not given "
                                                    "are taken from the cache or downloaded from their pinned URLs."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Write the file here (default: the user cache, where the dataset "
                                               "name then finds it)."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Download the sources not given (checked by SHA-256)."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes (0: all cores)."),
):
    """Build a derived dataset file from its public sources, exactly as shared/data/README.md describes (e.g.
    zinc250k: the GrammarVAE SMILES list with RDKit logP, QED and SA score; jnk3: the actives canonicalized,
    de-duplicated, shuffled by Random(0), the first 80 %), and check it against the registry's SHA-256. With the
    pinned sources and the RDKit the registry's files were made with, the file is byte-identical; otherwise it is
    written and the difference is said. The path goes to stdout."""
    from ..api import derive_dataset

    with Steps() as steps:
        result = derive_dataset(name, source, output, download=download, jobs=jobs, progress=steps)
    _say(escape(f"{result.name}: {result.rows:,} {'rows' if result.path.name.endswith('.csv.gz') else 'molecules'}"
                f" → {result.path}"))
    if result.matches:
        _say(escape(result.verdict()))
    else:
        err_console.print(escape("warning: " + result.verdict()), highlight=False, soft_wrap=True)
    print(result.path)
