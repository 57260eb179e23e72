import gzip
import re

import pytest

from chemrnn import datasets as ds
from chemrnn.errors import InputError


def test_sample_is_shipped_and_small():
    p = ds.sample_path()
    assert p.is_file() and p.stat().st_size <= 2_000_000
    header = gzip.open(p, "rt").readline().strip().split(",")
    assert header == ["smiles", "logP", "qed", "SAS", "TPSA"]


def test_registry_files_match_checksums(shared_data):
    checked = 0
    for name, f in ds.REGISTRY.items():
        where = ds.locate(name)
        if where is None or f.sha256 is None:
            continue
        assert ds.sha256_of(where) == f.sha256, name
        checked += 1
    assert checked >= 9


def test_resolution_order(tmp_path, monkeypatch, shared_data):
    assert ds.path("moses") == shared_data / "moses_train.csv.gz"
    assert ds.path("gsk3") == shared_data / "actives" / "gsk3_train.smi.gz"
    monkeypatch.delenv("CHEMRNN_DATA_DIR")
    cached = tmp_path / "cache" / "zinc250k.csv.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert ds.path("zinc250k") == cached


def test_missing_derived_dataset_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CHEMRNN_DATA_DIR", "/nonexistent")
    with pytest.raises(InputError, match="chembl:train.*derived.*CHEMRNN_DATA_DIR"):
        ds.path("chembl")
    with pytest.raises(InputError, match="not in CHEMRNN_DATA_DIR or the cache"):
        ds.path("moses:test", download=False)
    with pytest.raises(InputError, match="unknown dataset 'nope'"):
        ds.path("nope")


def test_a_missing_model_names_the_folder_a_relative_path_is_read_from_and_the_shipped_names(tmp_path, monkeypatch):
    from chemrnn.datasets import resolve_model, shipped_model

    monkeypatch.chdir(tmp_path)
    hint = f"read from the current folder, {re.escape(str(tmp_path))}.*shipped, moses, chembl"
    with pytest.raises(InputError, match=hint):
        resolve_model("runs/missing.chemrnn", "language")
    with pytest.raises(InputError, match="shipped property models: shipped, zinc") as exc:
        resolve_model(tmp_path / "missing.chemrnn", "property")
    assert "current folder" not in str(exc.value)  # an absolute path needs no hint
    assert resolve_model("chembl", "language") == shipped_model("chembl", "language")
