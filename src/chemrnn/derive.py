"""Derived dataset files, built from their public sources exactly as ``shared/data/README.md`` describes.

Several files of the registry (:mod:`chemrnn.datasets`) are not copies of a download but are made from one or more
public sources: ``zinc250k`` (the GrammarVAE ZINC SMILES list, logP/QED/SAS computed with RDKit), the ChEMBL
splits (a union of three files, canonicalized, de-duplicated, held-out molecules removed), the actives (the 80 %
training part of each target's actives) and the measured sets (the 80 % training part of chemprop's files).
:func:`derive` builds such a file from its sources (local files, or the pinned URLs) and checks it against the
registry's SHA-256: with the RDKit the registry's files were made with (:data:`RDKIT_VERSION`) and the pinned
sources, every derivation here is byte-exact (the gzip stream included: its name and time stamp are recorded
here). Canonical SMILES, QED and SA scores can change between RDKit versions, so with another RDKit the file is
still written but its checksum can differ, and the report says so.

The steps of each recipe were checked against the shared files (same SHA-256). Canonical here is RDKit's plain
``MolToSmiles(MolFromSmiles(s))`` (:func:`chemrnn.chem.rdkit_default_canonical`); duplicates keep their first
occurrence; a target's actives are shuffled with ``random.Random(0)`` and the first ``round(0.8 n)`` are its
training part, the rest its held-out part (never shipped, but removed from the ChEMBL files).
"""
from __future__ import annotations

import csv
import gzip
import io as _io
import os
import random
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import chem
from .datasets import ENV_DATA_DIR, cache_dir, info
from .errors import InputError
from .io import publish, sha256_of
from .utils import pool_map

RDKIT_VERSION = "2026.09.1"  # the RDKit the registry's derived files were made with


@dataclass(frozen=True)
class Source:
    key: str  # the name in ``--source KEY=PATH``
    url: str
    sha256: str  # of the pinned file at ``url``
    what: str


_GH = "https://github.com/"
_CHEMPROP = "https://raw.githubusercontent.com/chemprop/chemprop/"
_XLSTM = _GH + "ml-jku/Chem-xLSTM/raw/9cf7b7f25f334f4e7bbb113cbeb3c80fbef8c115/data/chemblv31/"
_ST = _GH + "gmattedi/SmilesTransformer/raw/ad416f9b6ea59d14daa0193ffe2e134e186cf617/data/chembl_30/"
_ACT = _GH + "wengong-jin/multiobj-rationale/raw/9aad86145b297e4939468c6f869912e30e6fc01d/data/"
SOURCES = {s.key: s for s in [
    Source("zinc", _GH + "insilicomedicine/DD-VAE/raw/13498d098bae2c8177abec61ab80d8b618d274f3/data/zinc/"
           "250k_rndm_zinc_drugs_clean.smi.gz",
           "50b6b95dbdd4547344602c352b6e770daf8bda801fcd670fc487334d04a1ab36", "the GrammarVAE ZINC250k SMILES list"),
    Source("gsk3", _ACT + "gsk3/all.txt", "b521672ec2ee23ff9f96c05c4ff71c9863fab6900101ff44fec2280b40f68038",
           "GSK3-beta labels (smiles,gsk3)"),
    Source("jnk3", _ACT + "jnk3/all.txt", "e5a7ec91e3ba8f91cff2bd01077f705f61329a13abf783a21d28933272c8b559",
           "JNK3 labels (smiles,jnk3)"),
    Source("pfalciparum", _GH + "HIPS/neural-fingerprint/raw/d26dae3a293a736261fee307b28b37e548c5f218/"
           "data/2015-06-03-malaria/raw_csv.csv",
           "c8dd6a58a952d86118109c8bf2c4960cd8cf52600d5030c7d12f68a016645e4f",
           "P. falciparum whole-cell screening hits with EC50 (uM)"),
    Source("chembl31_mini_train", _XLSTM + "mini_train.zip",
           "e0948f18b64be6d530f0d5cdf5684b1e2a8d39ada5339fb4c07b4bdf33087133", "ChEMBL v31 mini_train (50k)"),
    Source("chembl31_valid", _XLSTM + "valid.zip",
           "8fb69508697609b457b7cfadc9c0d8eb8c8bf75b2e841d0d21744571be2e8755", "ChEMBL v31 validation half"),
    Source("chembl31_test", _XLSTM + "test.zip",
           "37d4e426fa54d558d5cf6283c5f28215acde93e78ffbccd9d90117cb3968bfad", "ChEMBL v31 test half (hidden)"),
    Source("chembl30_valid", _ST + "chembl_30_chemreps_proc_valid.csv.gz",
           "90d9a258d89cd386558bfec2a725fdfd175aeaf102d8df448d03fae527c4df3c", "ChEMBL 30 processed, valid split"),
    Source("chembl30_test", _ST + "chembl_30_chemreps_proc_test.csv.gz",
           "e5cf407858136828249371ecae500f96e5c7d79f649b1c6d37b2a865b1bce5a8", "ChEMBL 30 processed, test split"),
    Source("lipo", _CHEMPROP + "7277ebf/examples/data/lipo.csv",
           "aa9bd9669188e35efd908758a75561bba402016d901fed2d0d949289abbcf31c", "chemprop's lipo.csv (4,200 rows)"),
    Source("esol", _CHEMPROP + "9a6522e/deepchem-test/data/delaney.csv",
           "887aa5930b0a7e7fcb76a2d25dc0ebe11c23878ca2d8d1e2204ca2c46b175140", "chemprop's delaney.csv (1,128 rows)"),
    Source("freesolv", _CHEMPROP + "b83635b/data/freesolv.csv",
           "97d74c86228d4c16c0fbbf063bb8280354d8152db09a85ade8517a2f43bd9824", "chemprop's freesolv.csv (642 rows)"),
]}

ACTIVE_TARGETS = ("gsk3", "jnk3", "pfalciparum")


# ----------------------------------------------------------------------------------------------- reading sources
def _text(path: Path) -> str:
    """The text of a source: a zip's single member, a gzip's content or a plain file (UTF-8)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise InputError(f"expected a zip holding one file, found {len(members)}", path)
                data = zf.read(members[0])
        else:
            with open(path, "rb") as fh:
                data = fh.read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
        return data.decode("utf-8")
    except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read this source ({exc})", path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path) from None


def _lines(path: Path) -> list[str]:
    """Non-blank lines, trailing whitespace stripped."""
    return [s for s in (line.rstrip() for line in _text(path).splitlines()) if s]


def _rows(path: Path, need: tuple[str, ...]) -> list[dict]:
    rows = list(csv.DictReader(_io.StringIO(_text(path))))
    header = list(rows[0]) if rows else []
    missing = [c for c in need if c not in header]
    if missing:
        raise InputError(f"no column {', '.join(missing)} (columns: {', '.join(header[:12]) or 'none'})", path)
    return rows


def _number(text: str, path: Path, line: int) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise InputError(f"not a number: {str(text)[:40]!r}", path, line) from None


def _active_smiles(target: str, path: Path) -> list[str]:
    if target == "pfalciparum":  # EC50 <= 1 uM of the whole-cell screening hits
        col, value = "Canonical_Smiles", "Activity (EC50 uM)"
        rows = _rows(path, (col, value))
        return [r[col] for i, r in enumerate(rows, 2) if _number(r[value], path, i) <= 1.0]
    rows = _rows(path, ("smiles", target))
    return [r["smiles"] for r in rows if (r[target] or "").strip() == "1"]


# ----------------------------------------------------------------------------------------------- the steps
def _canonical(smiles: list[str], jobs: int) -> list[str | None]:
    return pool_map(chem.rdkit_default_canonical_batch, list(smiles), jobs)


def _unique(smiles) -> list[str]:
    """Valid ones, each once, in first-seen order."""
    return list(dict.fromkeys(s for s in smiles if s))


def actives_parts(smiles: list[str], jobs: int = 0) -> tuple[list[str], list[str]]:
    """A target's actives: canonical, de-duplicated, shuffled by ``random.Random(0)``; the first ``round(0.8 n)``
    (the training part, shipped) and the rest (the held-out part)."""
    canon = _unique(_canonical(smiles, jobs))
    random.Random(0).shuffle(canon)
    k = round(0.8 * len(canon))
    return canon[:k], canon[k:]


def _held_out_actives(src: dict[str, Path], jobs: int) -> set[str]:
    held: set[str] = set()
    for t in ACTIVE_TARGETS:
        held.update(actives_parts(_active_smiles(t, src[t]), jobs)[1])
    return held


def _build_actives(target: str):
    def build(src: dict[str, Path], jobs: int) -> list[str]:
        return actives_parts(_active_smiles(target, src[target]), jobs)[0]
    return build


def _build_zinc(src: dict[str, Path], jobs: int) -> list[str]:
    smiles = _lines(src["zinc"])
    labels = pool_map(chem.derived_labels_batch, smiles, jobs)
    bad = [i for i, v in enumerate(labels) if v is None]
    if bad:
        raise InputError(f"{len(bad):,} SMILES RDKit cannot read (first: {smiles[bad[0]][:80]!r}); the pinned source "
                         f"has none", src["zinc"], bad[0] + 1)
    return ["smiles,logP,qed,SAS"] + [f"{s},{a:.6f},{b:.6f},{c:.6f}" for s, (a, b, c) in zip(smiles, labels)]


def _build_chembl_valid(src: dict[str, Path], jobs: int) -> list[str]:
    held = _held_out_actives(src, jobs)
    return [s for s in _unique(_canonical(_lines(src["chembl31_valid"]), jobs)) if s not in held]


def _build_chembl_train(src: dict[str, Path], jobs: int) -> list[str]:
    smiles = _lines(src["chembl31_mini_train"])
    for key in ("chembl30_valid", "chembl30_test"):
        smiles += [r["SMILES"] for r in _rows(src[key], ("SMILES",))]
    removed = _held_out_actives(src, jobs)
    removed.update(s for s in _canonical(_lines(src["chembl31_valid"]) + _lines(src["chembl31_test"]), jobs) if s)
    return [s for s in _unique(_canonical(smiles, jobs)) if s not in removed]


def _build_measured(name: str, column: str):
    def build(src: dict[str, Path], jobs: int) -> list[str]:
        import numpy as np

        path = src[name]
        lines = [line for line in _text(path).splitlines() if line.strip()]
        if len(lines) < 2:
            raise InputError("no data rows", path)
        rows = []
        for i, line in enumerate(lines[1:], 2):
            smiles, _, value = line.rpartition(",")
            if not smiles:
                raise InputError("expected smiles,value", path, i)
            rows.append(f"{smiles},{_number(value, path, i)!r}")
        n = len(rows)
        test = set(np.random.default_rng(0).permutation(n)[: int(0.2 * n)].tolist())
        return [f"smiles,{column}"] + [r for i, r in enumerate(rows) if i not in test]
    return build


@dataclass(frozen=True)
class Recipe:
    name: str
    sources: tuple[str, ...]
    steps: str
    gzip_mtime: int  # the time stamp in the registry file's gzip header (part of its bytes)
    build: Callable[[dict, int], list[str]]


RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("zinc250k", ("zinc",), "the SMILES as written (trailing whitespace stripped), with RDKit's Crippen logP, "
           "QED and SA score (6 decimals)", 1795698105, _build_zinc),
    Recipe("chembl:train", ("chembl31_mini_train", "chembl30_valid", "chembl30_test", "chembl31_valid",
                            "chembl31_test", *ACTIVE_TARGETS),
           "the union of ChEMBL v31 mini_train and ChEMBL 30 valid + test, canonical, de-duplicated, minus the "
           "ChEMBL v31 valid and test halves and the held-out actives of gsk3, jnk3 and pfalciparum",
           1795698388, _build_chembl_train),
    Recipe("chembl:valid", ("chembl31_valid", *ACTIVE_TARGETS),
           "ChEMBL v31 valid, canonical, de-duplicated, minus the held-out actives of gsk3, jnk3 and pfalciparum",
           1795698391, _build_chembl_valid),
    Recipe("gsk3", ("gsk3",), "rows with gsk3=1, canonical, de-duplicated, Random(0) shuffle, first 80 %",
           1795697487, _build_actives("gsk3")),
    Recipe("jnk3", ("jnk3",), "rows with jnk3=1, canonical, de-duplicated, Random(0) shuffle, first 80 %",
           1795697488, _build_actives("jnk3")),
    Recipe("pfalciparum", ("pfalciparum",), "rows with EC50 <= 1 uM, canonical, de-duplicated, Random(0) shuffle, "
           "first 80 %", 1795697495, _build_actives("pfalciparum")),
    Recipe("lipo", ("lipo",), "the rows (values as floats) but numpy default_rng(0).permutation's first 20 %, in "
           "file order, column logD7.4", 1795841512, _build_measured("lipo", "logD7.4")),
    Recipe("esol", ("esol",), "the rows (values as floats) but numpy default_rng(0).permutation's first 20 %, in "
           "file order, column logS", 1795841513, _build_measured("esol", "logS")),
    Recipe("freesolv", ("freesolv",), "the rows (values as floats) but numpy default_rng(0).permutation's first "
           "20 %, in file order, column dG_hydration_kcal_mol", 1795841513,
           _build_measured("freesolv", "dG_hydration_kcal_mol")),
]}


def command(name: str) -> str:
    """The command line that derives a dataset (named in the "cannot be fetched as-is" errors)."""
    return f"chemrnn datasets derive {name}"


def recipe(name: str) -> Recipe:
    f = info(name)
    if f.name in RECIPES:
        return RECIPES[f.name]
    if f.shipped:
        raise InputError(f"dataset {f.name!r} is shipped inside the package: nothing to derive")
    if f.direct:
        raise InputError(f"dataset {f.name!r} is a byte-identical copy of its source, not derived: fetch it with "
                         f"chemrnn datasets path {f.name} --download")
    raise InputError(f"dataset {f.name!r} has no known source to derive it from: place {f.filename} in "
                     f"${ENV_DATA_DIR}")


# ----------------------------------------------------------------------------------------------- sources
def parse_sources(name: str, given: list[str] | None) -> dict[str, str]:
    """``--source`` values: ``KEY=PATH_OR_URL``, or a bare path or URL when the recipe takes one source."""
    r = recipe(name)
    out: dict[str, str] = {}
    for text in given or []:
        key, sep, value = text.partition("=")
        if sep and key in SOURCES and "://" not in key:
            if key not in r.sources:
                raise InputError(f"{name} is not derived from {key!r}; its sources: {', '.join(r.sources)}")
        elif len(r.sources) == 1:
            key, value = r.sources[0], text
        else:
            raise InputError(f"--source {text!r}: {name} has {len(r.sources)} sources; name each as KEY=PATH "
                             f"(keys: {', '.join(r.sources)})")
        out[key] = value
    return out


def _download(url: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:  # noqa: S310 (given URLs)
            shutil.copyfileobj(resp, out)
        publish(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot download {url}: {exc}; download it yourself and pass it with --source") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def source_paths(name: str, given: dict[str, str], download: bool = True, say=print) -> dict[str, Path]:
    """A local file for every source of ``name``'s recipe: the one given, else the sources cache
    (``CACHE/sources/``), else (``download``) its pinned URL, downloaded into that cache and checked by SHA-256."""
    r = recipe(name)
    folder = cache_dir() / "sources"
    out: dict[str, Path] = {}
    for key in r.sources:
        s = SOURCES[key]
        value = given.get(key)
        if value is not None and "://" not in value:
            p = Path(value).expanduser()
            if not p.is_file():
                raise InputError(f"no such source file ({key}: {s.what})", p)
            out[key] = p
            continue
        url = value or s.url
        cached = folder / (key + "_" + url.rsplit("/", 1)[-1])
        if not cached.is_file():
            if not download:
                raise InputError(f"source {key} ({s.what}) is not here: download {url} and pass it with --source "
                                 f"{key}=PATH, or run without --no-download")
            say(f"downloading {key}: {url}")
            _download(url, cached)
            if url == s.url and sha256_of(cached) != s.sha256:
                got = sha256_of(cached)
                cached.unlink()
                raise InputError(f"checksum mismatch for {url}: expected {s.sha256}, got {got}; the source may "
                                 f"have changed")
        out[key] = cached
    return out


# ----------------------------------------------------------------------------------------------- writing
def gzip_bytes(lines: list[str], name: str, mtime: int) -> bytes:
    """``lines`` (one per line, ``\\n`` after each) as the registry's gzip files are written: Python's gzip at
    level 9, the file name and ``mtime`` in the header, the text written line by line through a text wrapper
    (its 8 kB chunks shape the deflate stream)."""
    buf = _io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=mtime, compresslevel=9) as gz:
        text = _io.TextIOWrapper(gz, encoding="utf-8", newline="")
        for line in lines:
            text.write(line + "\n")
        text.flush()
        text.detach()
    return buf.getvalue()


@dataclass
class Derived:
    name: str
    path: Path
    rows: int
    sha256: str
    expected: str | None
    sources_pinned: dict[str, bool]  # per source: is it the pinned file (same SHA-256)?
    rdkit: str

    @property
    def matches(self) -> bool:
        return self.expected is not None and self.sha256 == self.expected

    def verdict(self) -> str:
        """One line: matches the registry, or why it may not."""
        if self.matches:
            return f"SHA-256 matches the registry ({self.sha256[:16]}…): byte-identical to the shared file"
        why = []
        other = [k for k, ok in self.sources_pinned.items() if not ok]
        if other:
            why.append(f"source{'s' if len(other) > 1 else ''} {', '.join(other)} differ from the pinned "
                       f"file{'s' if len(other) > 1 else ''}")
        if self.rdkit != RDKIT_VERSION:
            why.append(f"RDKit {self.rdkit} here, {RDKIT_VERSION} made the registry's file (canonical SMILES and "
                       f"scores can differ between versions)")
        return (f"SHA-256 {self.sha256[:16]}… differs from the registry's {str(self.expected)[:16]}…"
                + (f" ({'; '.join(why)})" if why else " (unexpected with the pinned sources and this RDKit)"))


def derive(name: str, sources: dict[str, str] | None = None, output: str | os.PathLike | None = None,
           download: bool = True, jobs: int = 0, say=print) -> Derived:
    """Build the registry file ``name`` from its sources (see :data:`RECIPES`), write it atomically to ``output``
    (default: the user cache, where :func:`chemrnn.datasets.path` finds it) and compare its SHA-256 with the
    registry's. ``sources``: ``{key: path or URL}``; the others come from the sources cache or are downloaded."""
    r = recipe(name)
    f = info(name)
    target = Path(output) if output is not None else cache_dir() / f.filename
    paths = source_paths(name, sources or {}, download, say)
    pinned = {k: sha256_of(p) == SOURCES[k].sha256 for k, p in paths.items()}
    say(f"deriving {f.name}: {r.steps}")
    lines = r.build(paths, jobs)
    header = 1 if f.smiles_column else 0
    if len(lines) <= header:
        raise InputError(f"nothing derived: the sources gave no {'rows' if header else 'molecules'}",
                         paths[r.sources[0]])
    inner = Path(f.filename).name.removesuffix(".gz")
    blob = gzip_bytes(lines, inner, r.gzip_mtime) if f.filename.endswith(".gz") else \
        "".join(line + "\n" for line in lines).encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        publish(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    import hashlib

    return Derived(f.name, target, len(lines) - header, hashlib.sha256(blob).hexdigest(), f.sha256, pinned,
                   chem.rdkit_version())
