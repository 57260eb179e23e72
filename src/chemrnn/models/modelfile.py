"""Model files: a directory (or a ``.chemrnn`` zip of it) with ``weights.safetensors`` and ``model.json``.

``model.json`` = ``{"format": "chemrnn-model", "schema": 1 | 2, "kind": "language|property", "config": {...},
"vocabulary": {...}, "tokenizer": "atom|char|selfies", "targets": [...], "scaling": {...}, "training": {...}}``.
Loading never unpickles: tensors come from safetensors, everything else from JSON. A newer schema is refused
with a clear message; older schemas are migrated by :func:`migrate`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load as np_load
from safetensors.numpy import save as np_save
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import InputError
from ..io import publish

FORMAT = "chemrnn-model"
SCHEMA = 2  # the newest schema this version reads (schema 2 added property ensembles, "ensemble": {"members": K})


def migrate(meta: dict) -> dict:
    """Bring ``model.json`` of an older schema up to :data:`SCHEMA`. Schema 2 only adds ensembles (a schema-1
    file is a single model, read as it is), so nothing needs changing; a file is written with the lowest schema
    that describes it (:func:`save`), so single models stay readable by older versions."""
    try:
        schema = int(meta.get("schema", 0))
    except (TypeError, ValueError):
        raise InputError(f"model schema {str(meta.get('schema'))[:20]!r} is not a chemrnn model schema") from None
    if schema > SCHEMA:
        raise InputError(f"model schema {schema} is newer than this chemrnn understands ({SCHEMA}); "
                         f"upgrade chemrnn to load it")
    if schema < 1:
        raise InputError(f"model schema {schema} is not a chemrnn model schema")
    return meta


TRAINING_SET = "training_set.safetensors"  # beside the weights: the training molecules, hashed (optional)
TRAINING_SET_KEY = "blake2b64"


def molecule_hashes(smiles) -> np.ndarray:
    """64-bit BLAKE2b hashes (``uint64``) of SMILES strings — of canonical ones, to recognise a molecule without
    storing it: the form in which a model file records its training molecules (:data:`TRAINING_SET`)."""
    return np.array([int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")
                     for s in smiles], dtype=np.uint64)


def save(path: str | os.PathLike, state: dict[str, torch.Tensor], meta: dict,
         training_set: np.ndarray | None = None) -> Path:
    """Write a model directory (or, for a path ending in ``.chemrnn``, a zip) atomically; ``training_set`` (hashes
    from :func:`molecule_hashes`) goes into :data:`TRAINING_SET` beside the weights."""
    path = Path(path)
    meta = {"format": FORMAT, "schema": 1, **meta}  # a caller writing schema-2 content says so in meta
    blob = st_save({k: v.detach().cpu().contiguous() for k, v in state.items()})
    extra = None
    if training_set is not None:
        extra = np_save({TRAINING_SET_KEY: np.unique(np.asarray(training_set, dtype=np.uint64))})
    text = json.dumps(meta, indent=1, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".chemrnn":
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("model.json", text)
            zf.writestr("weights.safetensors", blob)
            if extra is not None:
                zf.writestr(TRAINING_SET, extra)
        publish(tmp, path)
        return path
    tmpdir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    os.chmod(tmpdir, 0o755)
    (tmpdir / "weights.safetensors").write_bytes(blob)
    if extra is not None:
        (tmpdir / TRAINING_SET).write_bytes(extra)
    (tmpdir / "model.json").write_text(text)
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmpdir, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmpdir, path)
    return path


def load(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read ``(state_dict, meta)`` from a model directory or ``.chemrnn`` zip, without unpickling anything."""
    path = Path(path)
    meta, blob = _read(path, weights=True)
    try:
        state = st_load(blob)
    except Exception as exc:  # safetensors raises its own error type
        raise InputError(f"corrupt weights.safetensors ({exc})", path) from None
    return state, meta


def read_training_set(path: str | os.PathLike) -> np.ndarray | None:
    """The sorted training-molecule hashes a model file records (:data:`TRAINING_SET`), or None for a model saved
    without them (models saved before they were recorded)."""
    path = Path(path)
    try:
        if path.is_dir():
            f = path / TRAINING_SET
            blob = f.read_bytes() if f.is_file() else None
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                blob = zf.read(TRAINING_SET) if TRAINING_SET in zf.namelist() else None
        else:
            blob = None
        if blob is None:
            return None
        return np_load(blob)[TRAINING_SET_KEY]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"unreadable {TRAINING_SET} ({exc})", path) from None
    except Exception as exc:  # safetensors raises its own error type
        raise InputError(f"corrupt {TRAINING_SET} ({exc})", path) from None


def read_meta(path: str | os.PathLike) -> dict:
    """A model file's ``model.json`` (checked and migrated like :func:`load`), without reading its weights."""
    return _read(Path(path), weights=False)[0]


def _read(path: Path, weights: bool) -> tuple[dict, bytes | None]:
    blob = None
    if path.is_dir() and not (path / "model.json").exists() and (path / "model" / "model.json").is_file():
        raise InputError(f"is a run folder, not a model: did you mean {path / 'model'}?", path)
    try:
        if path.is_dir():
            text = (path / "model.json").read_text(encoding="utf-8")
            if weights:
                blob = (path / "weights.safetensors").read_bytes()
        elif path.is_file() and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                text = zf.read("model.json").decode("utf-8")
                if weights:
                    blob = zf.read("weights.safetensors")
        elif not path.exists():
            raise InputError("no such model file or directory", path)
        else:
            raise InputError("not a chemrnn model (expected a directory or a .chemrnn zip)", path)
        meta = json.loads(text)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"not a readable chemrnn model ({exc})", path) from None
    if meta.get("format") != FORMAT:
        raise InputError("model.json is not a chemrnn model (format field)", path)
    try:
        meta = migrate(meta)
    except InputError as exc:
        raise InputError(str(exc), path) from None
    return meta, blob


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path) -> None:
    """``model.load_state_dict(state)``, with a mismatch reported in one line naming the model file."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
        raise InputError(f"weights do not fit the model described in model.json ({detail[:300]})", path) from None


def training_sources(model=None) -> list[str]:
    """What a language model was trained on, as recorded in its file: its training data and, for a fine-tuned
    model, the data of the prior it started from (and so on up the chain). Dataset names or paths, for
    :func:`canonical_set`; a recorded path that no longer exists is an error naming it, and so is a file that
    records no training data. ``None`` is the shipped default, as for :func:`load_lm`."""
    from ..datasets import resolve_model

    first = resolve_model("shipped" if model is None else model, "language")
    sources, seen, path = [], set(), first
    while path is not None:
        if str(path) in seen:
            break
        seen.add(str(path))
        training = read_meta(path).get("training", {})
        config = training.get("config", {})
        recorded, here = _recorded_data(training)
        if recorded and not here:
            raise InputError(f"the model was trained on {recorded[0]}, which is not here: name the training set(s) "
                             f"with --exclude", path)
        sources += here[:1]
        # the model it started from: a fine-tuned model's init_from, a design run's prior
        start = config.get("init_from") or training.get("design", {}).get("prior")
        try:
            path = None if start is None else resolve_model(start, "language")
        except InputError:
            raise InputError(f"the model it started from, {start}, is not here: name the training set(s) with "
                             f"--exclude", path) from None
    if not sources:
        raise InputError("the model's file records no training data: name the known molecules with --exclude", first)
    return sources


def _recorded_data(training: dict) -> tuple[list, list]:
    """The training data a model file records (the resolved path, the name given) and those of them that are here
    (existing paths first, then dataset names)."""
    from ..datasets import is_dataset_name

    recorded = [d for d in (training.get("data"), training.get("config", {}).get("data")) if d]
    return recorded, [d for d in recorded if Path(d).exists()] + [d for d in recorded if is_dataset_name(str(d))]


def own_training_source(model=None) -> str:
    """The data a language model itself was trained on (a fine-tuned model's actives, a prior's corpus), as
    recorded in its file: a dataset name or an existing path; an error naming the model when it is not here."""
    from ..datasets import resolve_model

    path = resolve_model("shipped" if model is None else model, "language")
    recorded, here = _recorded_data(read_meta(path).get("training", {}))
    if here:
        return str(here[0])
    if recorded:
        raise InputError(f"the model was trained on {recorded[0]}, which is not here: name the known molecules "
                         f"with --exclude, or --no-exclude-training", path)
    raise InputError("the model's file records no training data: name the known molecules with --exclude, or "
                     "--no-exclude-training", path)
