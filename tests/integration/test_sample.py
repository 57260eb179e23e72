"""The sampler's reported NLL is the likelihood of the sampled token sequence under the distribution it was drawn
from, softmax(logits / T), at every temperature; the ``lm`` sampling commands keep stdout for SMILES only."""
import json

import numpy as np
import pytest
import torch

import chemrnn.evaluation as evaluation
from chemrnn.cli import main
from chemrnn.models.language import LanguageModel, LMConfig
from chemrnn.sample import likelihood, sample
from chemrnn.tokens import AtomTokenizer, Vocabulary


@pytest.fixture(scope="module")
def tiny_lm(sample_smiles):
    torch.manual_seed(0)
    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in sample_smiles[:300])
    model = LanguageModel(LMConfig(len(vocab), 8, 16, 1, cell="gru")).eval()  # untrained: flat, long samples
    return model, vocab, tok


def _teacher_forced_nll(model, vocab, token_ids, finished, temperature):
    out = []
    with torch.no_grad():
        for ids, fin in zip(token_ids, finished):
            seq = torch.tensor([[vocab.bos_id, *ids] + ([vocab.eos_id] if fin else [])])
            logits, _ = model(seq[:, :-1])
            logp = torch.log_softmax(logits.double() / temperature, dim=-1)
            out.append(-logp[0].gather(1, seq[0, 1:, None]).sum().item())
    return np.array(out)


@pytest.mark.parametrize("temperature", [0.7, 1.0, 1.6])
def test_sampled_nll_is_likelihood_under_tempered_logits(tiny_lm, temperature):
    model, vocab, tok = tiny_lm
    s = sample(model, vocab, tok, 48, temperature=temperature, batch_size=16, max_length=25, seed=3)
    assert s.finished.any() and not s.finished.all()  # both kinds: with and without a final <eos>
    assert np.allclose(s.nll, _teacher_forced_nll(model, vocab, s.token_ids, s.finished, temperature), atol=1e-4)
    if temperature != 1.0:  # the test can tell the tempered likelihood from the plain one
        plain = _teacher_forced_nll(model, vocab, s.token_ids, s.finished, 1.0)
        assert np.abs(plain - s.nll).max() > 0.1
    # likelihood() with the same temperature gives the same number for strings that spell their tokens back
    back = [i for i, (ids, f) in enumerate(zip(s.token_ids, s.finished))
            if f and vocab.encode(tok.tokenize(s.smiles[i]), unknown="unk", add_bos_eos=False) == list(ids)]
    assert back
    nll = likelihood(model, vocab, tok, [s.smiles[i] for i in back], temperature=temperature)
    assert np.allclose(nll, s.nll[back], atol=1e-4)


def test_sampler_device_auto_is_where_the_model_is(tiny_lm):
    model, vocab, tok = tiny_lm
    a = sample(model, vocab, tok, 8, temperature=1.0, max_length=20, seed=1, device="auto")
    b = sample(model, vocab, tok, 8, temperature=1.0, max_length=20, seed=1, device="cpu")
    assert a.smiles == b.smiles and np.allclose(a.nll, b.nll)


@pytest.mark.parametrize("name", ["shipped", "moses"])
def test_lm_sample_shipped_names_stdout_is_smiles_only(name, capsys):
    assert main(["lm", "sample", name, "-n", "5", "--seed", "2"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 5 and all(line and " " not in line for line in lines)  # SMILES only, no summary
    assert "5 sampled" in out.err and "valid" in out.err
    assert main(["lm", "sample", "--seed", "2", "-n", "5"]) == 0  # the default is the same shipped prior
    assert capsys.readouterr().out.splitlines() == lines


def test_lm_sample_bad_temperature_is_bad_usage(capsys):
    assert main(["lm", "sample", "shipped", "-n", "5", "--temperature", "0"]) == 2
    assert "--temperature must be > 0" in capsys.readouterr().err


def test_lm_recovery_refuses_empty_heldout_before_sampling(tmp_path, capsys, monkeypatch):
    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before checking the held-out set")

    monkeypatch.setattr(evaluation, "sample_smiles", no_sampling)
    blank = tmp_path / "blank.smi"
    blank.write_text("\n\n   \n")
    for model in ("shipped", "moses"):
        assert main(["lm", "recovery", model, "--heldout", str(blank), "-n", "100000"]) == 2
        err = capsys.readouterr().err
        assert f"{blank}: no valid held-out molecule" in err and "Traceback" not in err
    junk = tmp_path / "junk.smi"
    junk.write_text("C1CC\nnot_a_smiles\n")
    assert main(["lm", "recovery", "--heldout", str(junk)]) == 2
    err = capsys.readouterr().err  # the first invalid line is named, with RDKit's reason
    assert f"{junk}:1: invalid SMILES 'C1CC'" in err and "Traceback" not in err


def test_lm_evaluate_unreadable_lines(tmp_path, capsys):
    samples = tmp_path / "s.smi"
    samples.write_bytes(b"CCO\nc1ccccc1O\nCC\xe9N\n\nCCN\n")
    out = tmp_path / "ev"
    args = ["lm", "evaluate", str(samples), "--test", "moses:test_sample", "--n-ref", "50", "--no-fcd", "-o", str(out)]
    assert main(args) == 2  # refused, naming the file and line, before any work
    assert f"{samples}:3: not UTF-8" in capsys.readouterr().err and not out.exists()
    assert main(args + ["--skip-bad-lines"]) == 0
    captured = capsys.readouterr()
    assert "1 unreadable lines counted as invalid samples (lines 3)" in " ".join(captured.err.split())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unreadable_lines"] == 1 and metrics["validity"] == pytest.approx(3 / 5)
