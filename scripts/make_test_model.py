"""Write the small committed model file that tests load to prove old model files keep working.

Usage: python scripts/make_test_model.py tests/data
Writes lm_schema1.chemrnn (a 2-layer GRU LM, trained 60 steps on the shipped sample) and
lm_schema1_expected.json (the NLL it gives a few SMILES at creation time, with the chemrnn version).
Never regenerate it to make a test pass: it stands for a file written by an earlier version.
"""
import json
import sys
from pathlib import Path

import torch

import chemrnn
from chemrnn.batching import collate
from chemrnn.io import load_smiles_list
from chemrnn.datasets import sample_path
from chemrnn.utils import seed_everything
from chemrnn.models.language import LanguageModel, LMConfig, save_language_model
from chemrnn.tokens import AtomTokenizer, Vocabulary

out = Path(sys.argv[1])
seed_everything(0)
smiles = load_smiles_list(sample_path(), "smiles")[:512]
tok = AtomTokenizer()
vocab = Vocabulary.build(tok.tokenize(s) for s in smiles)
model = LanguageModel(LMConfig(len(vocab), embedding_dim=16, hidden_size=32, num_layers=2, cell="gru"))
opt = torch.optim.Adam(model.parameters(), 3e-3)
enc = [torch.tensor(vocab.encode(tok.tokenize(s))) for s in smiles]
for step in range(60):
    batch, _ = collate(enc[(step * 8) % 512:(step * 8) % 512 + 8])
    loss = model.loss(batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
model.eval()
save_language_model(out / "lm_schema1.chemrnn", model, vocab, "atom", {"steps": 60, "seed": 0})
probe = ["CCO", "c1ccccc1C(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"]
batch, _ = collate([torch.tensor(vocab.encode(tok.tokenize(s))) for s in probe])
with torch.no_grad():
    nll = model.sequence_nll(batch).tolist()
(out / "lm_schema1_expected.json").write_text(json.dumps({"chemrnn": chemrnn.__version__, "smiles": probe,
                                                          "nll": nll}, indent=1))
print(out / "lm_schema1.chemrnn", nll)
