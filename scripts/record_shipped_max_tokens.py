"""Record in the shipped property model's file the length of its longest training molecule (run once; the file is
committed).

The shipped logP/TPSA model (``src/chemrnn/data/property_zinc.chemrnn``) was saved before model files recorded
``training.max_tokens``, so molecules longer than any it was trained on got no warning. Its training molecules are
re-derived from what its file records (ZINC250k, random split, seed 0: the split depends only on the number of rows
and the seed; :func:`chemrnn.predict.training_hashes` re-derives it the same way), checked against the recorded
training size, and the most tokens of their canonical SMILES (no ``<bos>``/``<eos>``, as training records it) is
written into ``model.json``. Only ``model.json`` changes: the weights are copied byte for byte.

    CHEMRNN_DATA_DIR=../shared/data .venv/bin/python scripts/record_shipped_max_tokens.py
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

from chemrnn import chem
from chemrnn.datasets import locate, smiles_column
from chemrnn.io import pick_column, read_table
from chemrnn.labels import split_indices
from chemrnn.tokens import get_tokenizer

MODEL = Path(__file__).resolve().parents[1] / "src" / "chemrnn" / "data" / "property_zinc.chemrnn"


def main() -> None:
    with zipfile.ZipFile(MODEL) as z:
        entries = {i.filename: z.read(i.filename) for i in z.infolist()}
    meta = json.loads(entries["model.json"])
    training = meta["training"]
    cfg, run = training["config"], training["metrics"]["_run"]
    assert cfg["split"] == "random" and run["rejected"] == 0, "only a random split without rejects is re-derived here"
    src = locate(cfg["data"])
    if src is None:
        raise SystemExit(f"the training data ({cfg['data']}) is not on this machine: set CHEMRNN_DATA_DIR")
    header, rows, fields = read_table(src, on_bad_line="skip")
    assert len(rows) == run["train"] + run["val"] + run["test"], (len(rows), run)
    col = pick_column(header, cfg.get("column") or smiles_column(cfg["data"]), src)
    train = split_indices([""] * len(rows), "random", seed=cfg["seed"])[0]
    assert len(train) == run["train"], (len(train), run["train"])
    canon = chem.canonical_all([fields[i][col] for i in train], jobs=1)
    assert all(c is not None for c in canon)
    tok = get_tokenizer(meta["tokenizer"])
    lengths = [len(tok.tokenize(c)) for c in canon]
    longest = max(lengths)
    print(f"{len(canon):,} training molecules; the longest has {longest} tokens: {canon[lengths.index(longest)]}")
    training["max_tokens"] = longest
    training["max_tokens_from"] = (f"re-derived after training from {cfg['data']} ({cfg['split']} split, seed "
                                   f"{cfg['seed']}: {len(canon):,} training molecules)")
    entries["model.json"] = json.dumps(meta, indent=1, default=str).encode()
    fd, tmp = tempfile.mkstemp(dir=MODEL.parent, prefix=f".{MODEL.name}.")
    os.close(fd)
    os.chmod(tmp, 0o644)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    os.replace(tmp, MODEL)
    print(f"recorded max_tokens = {longest} in {MODEL}")


if __name__ == "__main__":
    main()
