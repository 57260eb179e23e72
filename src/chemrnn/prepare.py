"""``chemrnn data prepare``: read → canonicalize → filter → de-duplicate → write, with full accounting.

Every data line of the input ends up in exactly one of three piles: *kept* (written to the output),
*duplicate* (same canonical SMILES as an earlier kept line, compared after every standardization asked for: with
``--no-isotopes`` ``[2H]C([2H])([2H])O`` is a duplicate of ``CO``) or *rejected* (written to the rejects file with
its line number, raw text and reason). :class:`PrepareSummary` checks that the piles add up.
RDKit work runs in ``jobs`` worker processes over chunks of lines; reading, de-duplication and writing stay
in the main process, so the output order is the input order.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

from . import chem
from .errors import InputError
from .io import Row, atomic_write, clip, read_rows, write_rejects
from .tokens import get_tokenizer

CHUNK = 4000


@dataclass
class PrepareOptions:
    column: str | None = None
    keep_stereo: bool = True
    largest_fragment: bool = False
    keep_isotopes: bool = True
    neutralize: bool = False
    min_tokens: int | None = None
    max_tokens: int | None = None
    tokenizer: str = "atom"
    dedupe: bool = True
    on_bad_line: str = "error"
    jobs: int = 0  # 0: all cores


@dataclass
class PrepareSummary:
    input: str
    output: str
    rejects: str
    lines: int = 0
    kept: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: dict = field(default_factory=dict)
    seconds: float = 0.0

    def check(self) -> None:
        if self.kept + self.duplicates + self.rejected != self.lines:
            raise AssertionError(f"accounting error: {self.kept}+{self.duplicates}+{self.rejected} != {self.lines}")

    def to_dict(self) -> dict:
        return asdict(self)


def _work(chunk: list[tuple[int, str]], options: PrepareOptions):
    """Worker: canonicalize a chunk and count tokens; returns (line, canonical|None, reason, n_tokens)."""
    copt = chem.CanonOptions(options.keep_stereo, options.largest_fragment, options.keep_isotopes, options.neutralize)
    tok = get_tokenizer(options.tokenizer) if (options.min_tokens or options.max_tokens) else None
    out = []
    for line, smi in chunk:
        can, reason = chem.canonical(smi, copt)
        ntok = 0
        if can is not None and tok is not None:
            try:
                ntok = len(tok.tokenize(can))
            except ValueError as exc:
                can, reason = None, str(exc)
        out.append((line, can, reason, ntok))
    return out


def _chunks(rows: Iterator[Row], rejects: list, size: int = CHUNK):
    """Group parseable rows into chunks; rows that failed at the line level go straight to rejects."""
    buf = []
    for row in rows:
        if row.error:
            rejects.append((row.line, row.error, row.raw))
        elif not row.smiles:
            rejects.append((row.line, "blank line", row.raw))
        else:
            buf.append((row.line, row.smiles))
            if len(buf) >= size:
                yield buf
                buf = []
    if buf:
        yield buf


def _stem(output: str | os.PathLike) -> Path:
    """``runs/x.smi.gz`` → ``runs/x``: the name that the files written beside an output share."""
    out = Path(output)
    name = out.name
    for suf in (".gz", ".smi", ".smiles", ".txt", ".csv", ".tsv"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    return out.with_name(name)


def default_rejects_path(output: str | os.PathLike) -> Path:
    """``x.smi`` → ``x.rejects.csv``."""
    stem = _stem(output)
    return stem.with_name(stem.name + ".rejects.csv")


def summary_path(output: str | os.PathLike) -> Path:
    """``x.smi`` → ``x.summary.json`` (one naming scheme with the rejects file)."""
    stem = _stem(output)
    return stem.with_name(stem.name + ".summary.json")


def read_summary(output: str | os.PathLike) -> dict:
    """The summary of a prepared file, given the prepared file's path; summaries written before the naming scheme
    changed (``x.smi.summary.json``) are read too."""
    for p in (summary_path(output), Path(str(output) + ".summary.json")):
        if p.is_file():
            return json.loads(p.read_text())
    raise InputError(f"no summary beside it (expected {summary_path(output).name})", output)


def prepare(input: str | os.PathLike, output: str | os.PathLike, options: PrepareOptions = PrepareOptions(),
            rejects_path: str | os.PathLike | None = None, progress=None) -> PrepareSummary:
    """Canonicalize, filter and de-duplicate ``input`` into ``output`` (one SMILES per line, gz by suffix).

    Writes the rejects CSV (:func:`default_rejects_path`) and the summary (:func:`summary_path`); all three are
    written atomically. A file from which no molecule is kept is refused (:class:`InputError`), and nothing is
    written.
    """
    t0 = time.perf_counter()
    rejects_path = Path(rejects_path) if rejects_path else default_rejects_path(output)
    summary = PrepareSummary(str(input), str(output), str(rejects_path))
    rows = read_rows(input, column=options.column, on_bad_line=options.on_bad_line)
    line_rejects: list = []
    rejects: list = []
    seen: set[str] = set()
    reasons: Counter = Counter()
    jobs = options.jobs or os.cpu_count() or 1
    worker = partial(_work, options=options)

    chunk_stream = partial(_chunks, rows, line_rejects)

    with atomic_write(output) as out:
        def consume(results):
            for line, can, reason, ntok in results:
                summary.lines += 1
                if can is None:
                    rejects.append((line, reason, None))
                    continue
                if options.min_tokens and ntok < options.min_tokens:
                    rejects.append((line, f"too short ({ntok} tokens < {options.min_tokens})", None))
                    continue
                if options.max_tokens and ntok > options.max_tokens:
                    rejects.append((line, f"too long ({ntok} tokens > {options.max_tokens})", None))
                    continue
                if options.dedupe:
                    if can in seen:
                        summary.duplicates += 1
                        continue
                    seen.add(can)
                out.write(can + "\n")
                summary.kept += 1
            if progress is not None:
                progress("reading", summary.lines + len(line_rejects))

        if jobs > 1:
            with get_context("fork" if os.name == "posix" else "spawn").Pool(jobs) as pool:
                for results in pool.imap(worker, chunk_stream(), chunksize=1):
                    consume(results)
        else:
            for chunk in chunk_stream():
                consume(worker(chunk))
        summary.lines += len(line_rejects)
        # raw text of molecule-level rejects: re-read only those lines (rare), keeps memory flat
        _fill_raw(input, options, rejects)
        all_rejects = sorted(line_rejects + rejects)
        for _, reason, _ in all_rejects:
            reasons[_reason_class(reason)] += 1
        summary.rejected = len(all_rejects)
        if summary.kept == 0:
            first = all_rejects[0] if all_rejects else None
            raise InputError(
                f"no molecule kept of {summary.lines:,} lines ("
                + ", ".join(f"{n:,} {r}" for r, n in reasons.most_common())
                + (f"; first: line {first[0]}, {clip(first[1])}: {clip(first[2] or '')!r}" if first else "") + ")",
                input)
        write_rejects(rejects_path, all_rejects)
    summary.reasons = dict(reasons.most_common())
    summary.seconds = round(time.perf_counter() - t0, 3)
    summary.check()
    with atomic_write(summary_path(output)) as fh:
        json.dump(summary.to_dict(), fh, indent=1)
    return summary


def _fill_raw(input, options: PrepareOptions, rejects: list) -> None:
    if not rejects:
        return
    wanted = {line: k for k, (line, _, _) in enumerate(rejects)}
    for row in read_rows(input, column=options.column, on_bad_line="skip"):
        k = wanted.get(row.line)
        if k is not None:
            line, reason, _ = rejects[k]
            rejects[k] = (line, reason, row.raw)


def _reason_class(reason: str) -> str:
    """Group reasons for the summary ('invalid chemistry: Explicit valence for atom # 3 ...' → 'invalid chemistry')."""
    head = reason.split(":", 1)[0].split("(", 1)[0].strip()
    return head or reason


def iter_first(path, n: int, column: str | None = None) -> list[str]:
    """The first ``n`` SMILES of a file (no canonicalization), for quick looks."""
    return [r.smiles for r in islice((r for r in read_rows(path, column=column) if r.smiles), n)]


@dataclass
class DataStats:
    """What ``chemrnn data stats`` reports about a SMILES file (no chemistry unless ``validated``)."""

    input: str
    molecules: int
    blank_or_bad_lines: int
    unique_strings: int
    tokenizer: str
    token_length: dict  # min, mean, median, p95, max
    length_histogram: dict  # bin start -> count (bins of 10 tokens)
    vocabulary: dict  # token -> count, most frequent first
    valid: int | None = None
    invalid_examples: list | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def data_stats(input: str | os.PathLike, column: str | None = None, tokenizer: str = "atom",
               validate: bool = False, limit: int | None = None, on_bad_line: str = "error",
               progress=None) -> DataStats:
    """Counts, token-length distribution and token frequencies of a SMILES file. An unreadable line stops it
    (:class:`~chemrnn.io.BadLineError`) unless ``on_bad_line="skip"``, which counts it with the blank lines.
    ``progress("reading", lines)`` hears every 50,000 lines."""
    import numpy as np

    tok = get_tokenizer(tokenizer)
    counts: Counter = Counter()
    lengths = []
    uniq = set()
    bad = 0
    smiles = []
    for k, row in enumerate(read_rows(input, column=column, on_bad_line=on_bad_line), 1):
        if progress is not None and k % 50_000 == 0:
            progress("reading", k)
        if row.error or not row.smiles:
            bad += 1
            continue
        toks = tok.tokenize(row.smiles)
        counts.update(toks)
        lengths.append(len(toks))
        uniq.add(row.smiles)
        if validate:
            smiles.append(row.smiles)
        if limit and len(lengths) >= limit:
            break
    if not lengths:
        raise InputError(f"no SMILES in file ({bad:,} lines, all blank or unreadable)", input)
    arr = np.asarray(lengths)
    hist = Counter((arr // 10 * 10).tolist())
    st = DataStats(
        str(input), len(lengths), bad, len(uniq), tokenizer,
        {"min": int(arr.min()), "mean": round(float(arr.mean()), 2), "median": float(np.median(arr)),
         "p95": round(float(np.percentile(arr, 95)), 2), "max": int(arr.max())},
        {int(k): v for k, v in sorted(hist.items())},
        dict(counts.most_common()))
    if validate:
        invalid = [s for s in smiles if not chem.is_valid(s)]
        st.valid = len(smiles) - len(invalid)
        st.invalid_examples = invalid[:10]
    return st
