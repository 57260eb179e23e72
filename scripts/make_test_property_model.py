"""Write tests/data/property_schema1.chemrnn and its expected predictions (run once; the files are committed).

A deliberately tiny logP/TPSA model (bidirectional GRU, 16 units, sum read-out) trained for a few hundred steps
on the package's ZINC sample with a plain PyTorch loop, so that it does not depend on the training stack. The
regression test (tests/regression/test_property_modelfile.py) checks that later versions of chemrnn still load
this file and give the same predictions, the same refusals (tokens never seen in training) and the same warnings
(molecules longer than any training molecule, from the ``max_tokens`` of its training record).

    .venv/bin/python scripts/make_test_property_model.py
"""
from __future__ import annotations

import csv
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch

import chemrnn
from chemrnn.batching import collate
from chemrnn.datasets import sample_path
from chemrnn.models.property import PropertyConfig, PropertyModel, save_property_model
from chemrnn.predict import PropertyPredictor
from chemrnn.tokens import AtomTokenizer, Vocabulary

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data"
TARGETS = ["logP", "TPSA"]
PROBES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1CCC[C@H]1c1cccnc1",
    "O=C(O)c1ccccc1",
    "Clc1ccc(Br)cc1",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "C[Se]C",  # a token the model never saw: refused
    "C1CC",  # not a molecule
    "C" * 90,  # longer than any training molecule: predicted, with a warning
]


def main(n_train: int = 4000, steps: int = 300, seed: int = 0) -> None:
    torch.manual_seed(seed)
    with gzip.open(sample_path(), "rt") as fh:
        rows = list(csv.DictReader(fh))[:n_train]
    smiles = [r["smiles"] for r in rows]
    Y = np.array([[float(r[t]) for t in TARGETS] for r in rows])
    tok = AtomTokenizer()
    tokens = [tok.tokenize(s) for s in smiles]
    vocab = Vocabulary.build(tokens)
    ids = [np.array(vocab.encode(t)) for t in tokens]
    mean, std = Y.mean(0), Y.std(0)
    Z = torch.tensor((Y - mean) / std, dtype=torch.float32)
    model = PropertyModel(PropertyConfig(len(vocab), TARGETS, embedding_dim=8, hidden_size=16, bidirectional=True,
                                         cell="gru", pooling="sum", mlp_hidden=16, pad_id=vocab.pad_id))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    for _ in range(steps):
        idx = rng.choice(len(ids), 64, replace=False)
        batch, lengths = collate([ids[i] for i in idx], vocab.pad_id)
        loss = torch.nn.functional.mse_loss(model(batch, lengths), Z[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    training = {"seed": seed, "data": "chemrnn package sample (zinc_sample.csv.gz), first rows", "molecules": n_train,
                "steps": steps, "seconds": round(time.time() - t0, 1), "max_tokens": max(len(t) for t in tokens),
                "script": "scripts/make_test_property_model.py", "chemrnn": chemrnn.__version__}
    path = save_property_model(OUT / "property_schema1.chemrnn", model, vocab, "atom",
                               {"mean": mean.tolist(), "std": std.tolist()}, training)
    p = PropertyPredictor(path, precision="32").predict(PROBES)
    expected = {"chemrnn": chemrnn.__version__, "smiles": PROBES, "targets": p.targets,
                "values": [[None if np.isnan(v) else float(v) for v in row] for row in p.values],
                "errors": p.errors, "warnings": p.warnings, "final_training_loss": loss.item()}
    (OUT / "property_schema1_expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"{path} ({path.stat().st_size:,} bytes), loss {loss.item():.3f}; max_tokens {training['max_tokens']}")


if __name__ == "__main__":
    main()
