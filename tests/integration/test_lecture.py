"""The lecture's demonstrations on tiny settings: they must still show what the lecture says."""
import math

import pytest
import torch

from chemrnn import lecture as L
from chemrnn.tokens import AtomTokenizer, Vocabulary


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_hello_is_learned(cell):
    res = L.hello(cell, hidden_size=8, steps=200)
    assert res.generated == "hello"
    assert res.losses[-1] < 0.01 < res.losses[0]
    # after 'l' the model must tell the first 'l' (→ l) from the second (→ o): only the hidden state knows
    assert [r["chosen"] for r in res.steps] == list("ello")
    assert all(abs(sum(r[c] for c in L.HELLO_VOCAB) - 1) < 1e-5 for r in res.steps)


@pytest.fixture(scope="module")
def windows(sample_smiles):
    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in sample_smiles)
    return L.smiles_windows(sample_smiles[:2000], tok, vocab, 30, 512), vocab, tok


def test_gradient_profile_vanishes_with_distance_for_vanilla_rnn(windows):
    w, vocab, _ = windows
    torch.manual_seed(0)
    model = L._window_lm("rnn", len(vocab), 32, "lecture")
    prof = L.gradient_profile(model, w[:64])
    assert prof.shape == (30,)
    assert prof[25] / prof[0] < 1e-4  # vanishing: 25 steps back the gradient is 10^4 times smaller
    assert all(prof[d + 5] < prof[d] for d in range(0, 20, 5))


def test_gradient_profile_matches_autograd_through_fused_model(windows):
    """The hand-unrolled profile's last entry is ∂L_T/∂h_T, which equals the gradient at the fused model's output."""
    w, vocab, _ = windows
    torch.manual_seed(1)
    fused = L._window_lm("lstm", len(vocab), 16, "fused")
    lecture = L._window_lm("lstm", len(vocab), 16, "lecture")
    lecture.load_state_dict(fused.state_dict())
    prof = L.gradient_profile(lecture, w[:8])
    out, _ = fused.rnn(fused.embedding(w[:8, :-1]))
    out.retain_grad()
    loss = torch.nn.functional.cross_entropy(fused.head(out[:, -1]), w[:8, -1])
    loss.backward()
    assert prof[0] == pytest.approx(out.grad[:, -1].norm(dim=1).mean().item(), rel=1e-4)


def test_exploding_run_detected_and_clipping_stabilizes(windows, sample_smiles):
    _, vocab, tok = windows
    w = L.smiles_windows(sample_smiles[:2000], tok, vocab, 60, 512)
    logs = L.exploding_demo(w, len(vocab), 128, steps=40, batch_size=32, scale=3.0, lr=2.0, seed=0)
    blew, msg = L.explain_explosion(logs["no clipping"])
    assert blew and "exploded" in msg and "clip" in msg
    blew, msg = L.explain_explosion(logs["clipping"])
    assert not blew and msg.startswith("stable")
    assert logs["clipping"][-1]["loss"] < logs["no clipping"][-1]["loss"]


def test_nan_loss_is_detected_not_trained_on(windows):
    w, vocab, _ = windows
    model = L._window_lm("rnn", len(vocab), 8, "fused")
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    log = L.train_windows(model, w, steps=10, batch_size=4, clip=None)
    assert len(log) == 1 and log[0]["nan_at"] == 0 and math.isnan(log[0]["loss"])
    blew, msg = L.explain_explosion(log)
    assert blew and "loss turned nan at step 0" in msg


def test_clip_gradient_norm_rule():
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([3.0, 4.0, 0.0])
    assert L.clip_gradient_norm([p], 1.0) == pytest.approx(5.0)
    assert torch.allclose(p.grad, torch.tensor([0.6, 0.8, 0.0]))
    p.grad = torch.tensor([3e30, 4e30, 0.0])  # float32 squares overflow; the float64 norm does not
    assert L.clip_gradient_norm([p], 1.0) == pytest.approx(5e30, rel=1e-6)
    assert torch.allclose(p.grad, torch.tensor([0.6, 0.8, 0.0]))


def test_closing_pairs_golden():
    tok = AtomTokenizer()
    assert L.closing_pairs(tok.tokenize("C1CC(C)C1")) == [("branch", 4, 6), ("ring", 1, 8)]
    assert L.closing_pairs(tok.tokenize("C1CC1C1CC1")) == [("ring", 1, 4), ("ring", 6, 9)]
    assert L.closing_pairs(tok.tokenize("C%10CC%10")) == [("ring", 1, 4)]


def test_closure_scores_agree_with_token_nll(sample_smiles):
    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in sample_smiles[:500])
    torch.manual_seed(0)
    model = L._window_lm("gru", len(vocab), 16, "fused")
    smi = "CC1=CC(=O)N(C)C1"
    scores = L.closure_scores(model, [smi], tok, vocab)
    ids = torch.tensor([vocab.encode(tok.tokenize(smi))])
    with torch.no_grad():
        nll = model.token_nll(ids)[0]
    pairs = L.closing_pairs(tok.tokenize(smi))
    assert len(scores) == len(pairs) == 3
    for s, (_, o, c) in zip(scores, pairs):
        assert s["span"] == c - o
        assert s["p"] == pytest.approx(math.exp(-nll[c].item()), rel=1e-5)


def test_parameter_table_rows_agree():
    rows = L.parameter_table(10, 20, 2)
    assert len(rows) == 6 and all(r["formula"] == r["counted"] for r in rows)
