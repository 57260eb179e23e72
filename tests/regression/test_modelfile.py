import json
import zipfile

import pytest
import torch

from chemrnn.batching import collate
from chemrnn.errors import InputError
from chemrnn.models import modelfile
from chemrnn.models.language import LanguageModel, LMConfig, load_language_model, save_language_model
from chemrnn.tokens import AtomTokenizer, Vocabulary

from conftest import ROOT

DATA = ROOT / "tests" / "data"


@pytest.mark.parametrize("impl", ["fused", "lecture"])
def test_committed_schema1_model_still_loads_and_scores(impl):
    """lm_schema1.chemrnn was written by chemrnn 0.1.0: it must keep loading and giving the same NLLs."""
    expected = json.loads((DATA / "lm_schema1_expected.json").read_text())
    model, vocab, tokenizer, meta = load_language_model(DATA / "lm_schema1.chemrnn", impl=impl)
    assert meta["schema"] == 1 and tokenizer == "atom" and model.config.cell == "gru"
    tok = AtomTokenizer()
    batch, _ = collate([torch.tensor(vocab.encode(tok.tokenize(s))) for s in expected["smiles"]])
    with torch.no_grad():
        nll = model.sequence_nll(batch).tolist()
    assert nll == pytest.approx(expected["nll"], abs=1e-4)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_trained_with_lecture_runs_with_fused(tmp_path, cell, sample_smiles):
    torch.manual_seed(0)
    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in sample_smiles[:200])
    model = LanguageModel(LMConfig(len(vocab), 8, 16, 2, cell=cell, impl="lecture"))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    batch, _ = collate([torch.tensor(vocab.encode(tok.tokenize(s))) for s in sample_smiles[:16]])
    for _ in range(5):
        loss = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    path = save_language_model(tmp_path / f"{cell}_model", model, vocab, "atom")
    fused, *_ = load_language_model(path, impl="fused")
    lecture, *_ = load_language_model(path, impl="lecture")
    with torch.no_grad():
        ref = model(batch)[0]
        assert torch.allclose(fused(batch)[0], ref, atol=1e-5)
        assert torch.allclose(lecture(batch)[0], ref, atol=1e-6)


def test_no_pickle_and_clear_errors(tmp_path):
    vocab = Vocabulary()
    model = LanguageModel(LMConfig(len(vocab), 4, 4, 1))
    path = save_language_model(tmp_path / "m.chemrnn", model, vocab, "atom")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["model.json", "weights.safetensors"]
        meta = json.loads(zf.read("model.json"))
        weights = zf.read("weights.safetensors")
    newer = tmp_path / "newer.chemrnn"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr("model.json", json.dumps({**meta, "schema": 99}))
        zf.writestr("weights.safetensors", weights)
    with pytest.raises(InputError, match="schema 99 is newer"):
        modelfile.load(newer)
    junk = tmp_path / "junk.chemrnn"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a chemrnn model"):
        modelfile.load(junk)
    with pytest.raises(InputError, match="no such model"):
        modelfile.load(tmp_path / "missing")
