"""Reading and writing SMILES files: .smi/.smiles/.txt and .csv/.tsv, each optionally gzipped.

Files are streamed line by line. Every data line is yielded as a :class:`Row` carrying its 1-based line
number, so that every later step can account for it (kept, duplicate or rejected). Problems that make a
whole file unusable (empty, binary, truncated gzip, missing column) raise :class:`InputError` naming the
file and, where there is one, the line. Problems confined to one line (bytes that are not UTF-8, a line
longer than ``max_line_chars``) either raise the same error (``on_bad_line="error"``, the default) or
yield a row with ``error`` set (``on_bad_line="skip"``) so that the caller writes it to its rejects file.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import gzip
import io as _io
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import ChemrnnError, InputError

SMI_SUFFIXES = {".smi", ".smiles", ".txt", ".ism", ".can"}
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
MAX_LINE_CHARS = 100_000
_SNIFF_BYTES = 8192
ECHO_CHARS = 80  # input echoed in a message is cut to this length: a 1 MB line never makes a 1 MB message


class BadLineError(InputError):
    """A problem confined to one line (bytes that are not UTF-8, a line too long). The reader stops on it by
    default; a command that offers ``--skip-bad-lines`` can reject the line instead and go on, and the command line
    adds that hint only where the option exists."""


class MissingColumnError(InputError):
    """A CSV/TSV without the SMILES column asked for (by default one named ``smiles``). The message says what any
    caller can do (name the column, or use a .smi file); the command line adds "--column" only where the command
    has that option. ``asked``: the column asked for, None for the default."""

    def __init__(self, message: str, path: object = None, line: int | None = None, asked: str | None = None):
        super().__init__(message, path, line)
        self.asked = asked


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` for a message: at most ``limit`` characters (cut with "…"), control characters shown as escapes."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Row:
    """One data line of an input file."""

    line: int  # 1-based line number in the file (header included)
    raw: str  # the line as read (decoded, without its line ending); for undecodable lines a repr
    smiles: str  # the SMILES field ('' when absent or when error is set)
    name: str = ""  # optional name / id column
    error: str = ""  # set when the line itself could not be read


def base_suffix(path: str | os.PathLike) -> tuple[str, bool]:
    """The format suffix of ``path`` ignoring a trailing ``.gz``; and whether it is gzipped."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), gz


def file_kind(path: str | os.PathLike) -> str:
    """'smi', 'csv' or 'tsv' from the file name; unknown suffixes are read as .smi."""
    suffix, _ = base_suffix(path)
    if suffix in TABLE_SUFFIXES:
        return suffix[1:]
    return "smi"


def _open_binary(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_lines(path: str | os.PathLike, on_bad_line: str = "error",
               max_line_chars: int = MAX_LINE_CHARS) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line_number, text, error)`` for every line of a text file, gzipped or not.

    Handles a UTF-8 byte-order mark and CRLF/CR line endings. ``error`` is '' for a good line; a bad line
    (not UTF-8, too long) raises :class:`InputError` unless ``on_bad_line == 'skip'``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a directory, expected a SMILES or CSV file", path)
    if on_bad_line not in ("error", "skip"):
        raise ValueError(f"on_bad_line must be 'error' or 'skip', not {on_bad_line!r}")
    n = 0
    try:
        with _open_binary(path) as fh:
            head = fh.peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if hasattr(fh, "peek") else b""
            if b"\x00" in head:
                raise InputError("binary data (NUL bytes), not a text file of SMILES", path)
            # Read with a size cap so a single enormous line can neither exhaust memory nor go unreported.
            limit = max_line_chars * 4 + 8
            while True:
                chunk = fh.readline(limit)
                if not chunk:
                    break
                if not chunk.endswith(b"\n") and len(chunk) >= limit:
                    # an over-long line: drain it, then report it
                    n += 1
                    total = len(chunk)
                    while True:
                        more = fh.readline(limit)
                        total += len(more)
                        if not more or more.endswith(b"\n"):
                            break
                    msg = f"line too long ({total:,} bytes; limit {max_line_chars:,} characters)"
                    if on_bad_line == "error":
                        raise BadLineError(msg, path, n)
                    yield n, f"<{total} bytes>", msg
                    continue
                n += 1
                if n == 1 and chunk.startswith(b"\xef\xbb\xbf"):
                    chunk = chunk[3:]
                if b"\x00" in chunk:
                    raise InputError("binary data (NUL bytes), not a text file of SMILES", path, n)
                body = chunk.rstrip(b"\r\n")
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    msg = f"not UTF-8 (byte 0x{body[exc.start]:02x} at column {exc.start + 1})"
                    if on_bad_line == "error":
                        raise BadLineError(msg, path, n) from None
                    yield n, repr(body)[2:-1][:200], msg
                    continue
                if len(text) > max_line_chars:
                    msg = f"line too long ({len(text):,} characters; limit {max_line_chars:,})"
                    if on_bad_line == "error":
                        raise BadLineError(msg, path, n)
                    yield n, text[:200], msg
                    continue
                # a lone CR inside the line (old Mac endings) splits it into several lines
                if "\r" in text:
                    for k, piece in enumerate(text.split("\r")):
                        if k:
                            n += 1
                        yield n, piece, ""
                    continue
                yield n, text, ""
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"corrupt or truncated gzip after {n:,} lines ({exc})", path, n or None) from None
    except OSError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None


def pick_column(header: list[str], column: str | None, path: Path) -> int:
    names = [h.strip() for h in header]
    shown = ", ".join(clip(h, 40) for h in names[:20]) + (f" … ({len(names):,} columns)" if len(names) > 20 else "")
    if column is None:
        wanted = ["smiles"]
    else:
        if column.isdigit():
            idx = int(column)
            if idx >= len(names):
                raise InputError(f"column index {idx} out of range; the header has {len(names)} columns", path, 1)
            return idx
        wanted = [column]
    for w in wanted:
        for i, h in enumerate(names):
            if h == w:
                return i
        for i, h in enumerate(names):
            if h.lower() == w.lower():
                return i
    kind = file_kind(path)
    other = {"csv": ("\t", "tab-separated", ".tsv"), "tsv": (",", "comma-separated", ".csv")}.get(kind)
    if other and len(names) == 1 and other[0] in names[0]:
        raise InputError(f"the header has one {kind.upper()} column ('{clip(names[0], 40)}') but contains "
                         f"{'tabs' if other[0] == chr(9) else 'commas'}: the file looks {other[1]}; name it "
                         f"{other[2]}", path, 1)
    hint = ("; name the SMILES column 'smiles' (any case), or give a .smi file with the SMILES first on each line"
            if column is None else "")
    raise MissingColumnError(f"no column {clip(wanted[0], 40)!r} in the header (columns: {shown}){hint}", path, 1,
                             column)


def _split_fields(text: str, delim: str, kind: str) -> tuple[list[str], str]:
    """The fields of one CSV/TSV line, and '' or the reason it cannot be split."""
    try:
        return next(csv.reader([text], delimiter=delim), []), ""
    except csv.Error as exc:
        return [], f"malformed {kind.upper()} line ({exc})"


def read_rows(path: str | os.PathLike, column: str | None = None, on_bad_line: str = "error",
              max_line_chars: int = MAX_LINE_CHARS) -> Iterator[Row]:
    """Stream the data rows of a SMILES file (.smi-like or .csv/.tsv, optionally gzipped).

    .smi: the first whitespace-separated field is the SMILES, the rest of the line is its name.
    .csv/.tsv: the first line is a header; ``column`` picks the SMILES column by name (any case) or index;
    by default a column called ``smiles`` in any case. Blank lines are yielded with an empty SMILES so the
    caller can account for them.
    """
    path = Path(path)
    if on_bad_line not in ("error", "skip"):
        raise ValueError(f"on_bad_line must be 'error' or 'skip', not {on_bad_line!r}")
    kind = file_kind(path)
    # the reader always reports bad lines; whether one stops the run is decided here, where the header is known
    lines = iter_lines(path, on_bad_line="skip", max_line_chars=max_line_chars)
    seen_any = False
    if kind == "smi":
        for n, text, err in lines:
            seen_any = True
            if err:
                if on_bad_line == "error":
                    raise BadLineError(err, path, n)
                yield Row(n, text, "", "", err)
                continue
            fields = text.split(None, 1)
            smiles = fields[0] if fields else ""
            name = fields[1].strip() if len(fields) > 1 else ""
            yield Row(n, text, smiles, name)
    else:
        delim = TABLE_SUFFIXES["." + kind]
        col = None
        for n, text, err in lines:
            seen_any = True
            if col is None:
                if err:  # a header is never skipped: without it no row can be read
                    raise InputError(f"unreadable header: {err}", path, n)
                header = next(csv.reader([text], delimiter=delim), [])
                col = pick_column(header, column, path)
                continue
            if err:
                if on_bad_line == "error":
                    raise BadLineError(err, path, n)
                yield Row(n, text, "", "", err)
                continue
            if not text.strip():
                yield Row(n, text, "")
                continue
            fields, err = _split_fields(text, delim, kind)
            if err:
                yield Row(n, text, "", "", err)
                continue
            if col >= len(fields):
                yield Row(n, text, "", "", f"only {len(fields)} fields, SMILES column is number {col + 1}")
                continue
            yield Row(n, text, fields[col].strip())
        if col is None and seen_any:
            raise InputError("no header line", path)
    if not seen_any:
        raise InputError("empty file: no lines to read", path)


def read_table(path: str | os.PathLike, on_bad_line: str = "error",
               max_line_chars: int = MAX_LINE_CHARS) -> tuple[list[str], list[Row], list[list[str]]]:
    """``(header, rows, fields)`` of a CSV/TSV (gzipped or not), every column kept, through the same line reader as
    :func:`read_rows`: a bad line (not UTF-8, too long) stops with its line number, or with ``on_bad_line="skip"``
    becomes a row with ``error`` set; a malformed or short line is a row with ``error`` set; blank lines are left out
    (line numbers stay file lines). A .smi file reads as the columns ``smiles`` and ``name``.
    ``rows[i].smiles`` is left empty: the caller picks its column from ``fields[i]``."""
    path = Path(path)
    kind = file_kind(path)
    header: list[str] | None = ["smiles", "name"] if kind == "smi" else None
    rows: list[Row] = []
    fields: list[list[str]] = []
    delim = TABLE_SUFFIXES.get("." + kind, ",")
    for n, text, err in iter_lines(path, on_bad_line=on_bad_line, max_line_chars=max_line_chars):
        if header is None:
            if err:
                raise InputError(f"unreadable header: {err}", path, n)
            header = [h.strip() for h in next(csv.reader([text], delimiter=delim), [])]
            continue
        if not err and not text.strip():
            continue
        values: list[str] = []
        if not err:
            if kind == "smi":
                values = (text.split(None, 1) + [""])[:2]
            else:
                values, err = _split_fields(text, delim, kind)
                if not err and (len(values) < len(header) or any(v.strip() for v in values[len(header):])):
                    err = f"{len(values)} fields where the header has {len(header)}"
        rows.append(Row(n, clip(text), "", "", err))
        fields.append([v.strip() for v in values])
    if header is None:
        raise InputError("empty file: no lines to read", path)
    return header, rows, fields


def count_bytes(path: str | os.PathLike) -> int:
    return Path(path).stat().st_size


def count_rows(path: str | os.PathLike) -> int | None:
    """Data rows of a SMILES file or table, gzipped or not: its lines, less a table's header, counted without
    decoding them (what a long pass over the file will read); None when the file cannot be read (the pass itself
    then says why)."""
    lines, last = 0, b"\n"
    try:
        with _open_binary(Path(path)) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError, zlib.error):
        return None
    lines += last != b"\n"
    return max(0, lines - (file_kind(path) != "smi"))


def _umask_mode(mode: int = 0o666) -> int:
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file normal permissions and rename it into place (atomic on POSIX)."""
    os.chmod(tmp, _umask_mode())
    os.replace(tmp, path)


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: permission bits say nothing for root or read-only
    mounts)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def check_writable(path: str | os.PathLike, kind: str = "auto") -> Path:
    """Check, before any work, that ``path`` can be written: its folder exists or can be created, and is writable.

    ``kind``: ``"file"`` (an existing folder of that name is refused), ``"dir"`` (an existing file is refused) or
    ``"auto"``. Raises :class:`InputError` (exit code 2) naming the user's path; creates nothing.
    """
    if kind not in ("auto", "file", "dir"):
        raise ValueError(f"kind must be auto, file or dir, not {kind!r}")
    p = Path(path)
    if p.is_dir():
        if kind == "file":
            raise InputError("is a folder; give a file name to write", p)
        folder = p
    elif p.exists():
        if kind == "dir":
            raise InputError("is a file; give a folder to write into", p)
        folder = p.parent
    else:
        folder = _nearest_existing(p.parent)
        if not folder.is_dir():
            raise InputError(f"cannot be created: {folder} is a file, not a folder", p)
    if not _can_create_in(folder):
        raise InputError(f"cannot write here: the folder {folder} is read-only or not writable", p)
    return p


_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}  # the disk filled up while writing


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str = "utf-8"):
    """Write ``path`` via a temporary file in the same folder, renamed into place only on success.

    A path ending in ``.gz`` is gzip-compressed. A reader never sees a half-written file, and a failed run
    leaves any earlier file of that name untouched. A failure to create, write or rename the file is raised as
    a :class:`ChemrnnError` naming ``path`` (never the temporary file).
    """
    path = Path(path)

    def failed(exc: OSError) -> ChemrnnError:
        return ChemrnnError(f"{path}: cannot write: {exc.strerror or exc}")

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise failed(exc) from None
    binary = "b" in mode
    try:
        if path.suffix == ".gz":
            raw = gzip.open(tmp, "wb", compresslevel=6)
            fh = raw if binary else _io.TextIOWrapper(raw, encoding=encoding, newline="\n")
        else:
            fh = open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": encoding, "newline": "\n"}))
        try:
            with fh:
                yield fh
        except OSError as exc:
            if exc.errno in _FULL:  # the body's own OSErrors (reading an input, say) pass through unchanged
                raise failed(exc) from None
            raise
        try:
            publish(tmp, path)
        except OSError as exc:
            raise failed(exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_smiles(path: str | os.PathLike, smiles, names=None) -> int:
    """Write one SMILES per line (with an optional name column) atomically; return the count."""
    n = 0
    with atomic_write(path) as fh:
        if names is None:
            for s in smiles:
                fh.write(s + "\n")
                n += 1
        else:
            for s, name in zip(smiles, names):
                fh.write(f"{s} {name}\n" if name else s + "\n")
                n += 1
    return n


def write_rejects(path: str | os.PathLike, rejects) -> int:
    """Write rejects as CSV with columns line, reason, raw (atomically); return the count."""
    n = 0
    with atomic_write(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["line", "reason", "raw"])
        for line, reason, raw in rejects:
            w.writerow([line, reason, raw])
            n += 1
    return n


def load_smiles_list(path: str | os.PathLike, column: str | None = None) -> list[str]:
    """All non-empty SMILES fields of a file, in order (no chemistry; use ``prepare`` for that)."""
    return [r.smiles for r in read_rows(Path(path), column=column) if r.smiles]


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def truncate_csv(path: str | os.PathLike, step: int) -> None:
    """Keep only the rows of a CSV whose first column (a step) is at most ``step``, and the header; a resumed run
    drops what a killed run wrote after its last saved state. Nothing happens to a missing file."""
    import csv

    path = Path(path)
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    keep = [rows[0]] + [r for r in rows[1:] if r and int(float(r[0])) <= step]
    if len(keep) < len(rows):
        with atomic_write(path) as fh:
            csv.writer(fh).writerows(keep)  # the writers of these files use csv's default line ending
