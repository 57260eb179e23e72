"""The lecture's cells equal PyTorch's fused kernels: outputs, final states and every gradient."""
import pytest
import torch

from chemrnn.cells import (GRUCell, Recurrent, VanillaRNNCell, cell_to_torch, count_parameters,
                           parameter_formula)

CASES = [  # cell, layers, batch, input, hidden, lengths
    ("rnn", 1, 1, 3, 4, [6]),
    ("rnn", 3, 5, 6, 8, [9, 1, 4, 9, 7]),
    ("lstm", 1, 3, 4, 5, [5, 5, 2]),
    ("lstm", 3, 4, 7, 6, [8, 3, 1, 6]),
    ("gru", 2, 2, 5, 9, [4, 7]),
    ("gru", 3, 6, 3, 5, [10, 2, 5, 9, 1, 10]),
]


def _pair(cell, layers, inp, hidden, seed):
    torch.manual_seed(seed)
    fused = Recurrent(cell, inp, hidden, layers, impl="fused")
    lecture = Recurrent(cell, inp, hidden, layers, impl="lecture")
    lecture.load_state_dict(fused.state_dict())
    return fused, lecture


def _lecture_grads_torch_layout(lecture, k):
    """Gradients of lecture cell k, arranged like PyTorch's parameters of layer k."""
    cell = lecture.cells[k]
    clone = type(cell)(cell.input_size, cell.hidden_size)
    with torch.no_grad():
        for p, q in zip(cell.parameters(), clone.parameters()):
            q.copy_(p.grad)
    g = cell_to_torch(clone)
    H = cell.hidden_size
    if isinstance(cell, GRUCell):  # merged r, z biases feed both PyTorch biases; n keeps its own b_hh
        g["bias_hh"] = torch.cat([g["bias_ih"][: 2 * H], cell.b_hh.grad])
    else:
        g["bias_hh"] = g["bias_ih"].clone()
    return g


@pytest.mark.parametrize("cell,layers,batch,inp,hidden,lengths", CASES)
def test_lecture_equals_fused_outputs_and_gradients(cell, layers, batch, inp, hidden, lengths):
    fused, lecture = _pair(cell, layers, inp, hidden, seed=len(lengths) + layers)
    T = max(lengths)
    x = torch.randn(batch, T, inp)
    lengths = torch.tensor(lengths)
    x_f, x_l = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_f, st_f = fused(x_f, lengths)
    out_l, st_l = lecture(x_l, lengths)
    assert torch.allclose(out_f, out_l, atol=1e-5)
    states_f = st_f if isinstance(st_f, tuple) else (st_f,)
    states_l = st_l if isinstance(st_l, tuple) else (st_l,)
    for a, b in zip(states_f, states_l):
        assert torch.allclose(a, b, atol=1e-5)
    # a loss that touches every output and the final state
    w = torch.randn_like(out_f)
    loss_f = (out_f * w).sum() + sum((s ** 2).sum() for s in states_f)
    loss_l = (out_l * w).sum() + sum((s ** 2).sum() for s in states_l)
    loss_f.backward()
    loss_l.backward()
    assert torch.allclose(x_f.grad, x_l.grad, atol=1e-5)
    for k in range(layers):
        g = _lecture_grads_torch_layout(lecture, k)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            ref = getattr(fused.rnn, f"{name}_l{k}").grad
            assert torch.allclose(ref, g[name], atol=1e-5), (cell, k, name, (ref - g[name]).abs().max())


def test_padding_leaves_state_at_last_token():
    _, lecture = _pair("lstm", 2, 3, 4, seed=0)
    x = torch.randn(1, 6, 3)
    short, _ = lecture(x[:, :3])
    padded, (h, c) = lecture(x, torch.tensor([3]))
    assert torch.allclose(padded[:, :3], short, atol=1e-6) and (padded[:, 3:] == 0).all()
    _, (h3, c3) = lecture(x[:, :3])
    assert torch.allclose(h, h3, atol=1e-6) and torch.allclose(c, c3, atol=1e-6)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    stack = Recurrent("gru", 4, 6, 3, dropout=0.5, impl="lecture")
    x = torch.randn(2, 5, 4)
    stack.eval()
    a, _ = stack(x)
    assert torch.equal(a, stack(x)[0])
    stack.train()
    assert not torch.allclose(a, stack(x)[0])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("impl", ["lecture", "fused"])
def test_parameter_formula_equals_count(cell, impl):
    for layers, inp, hidden in [(1, 10, 16), (3, 32, 64)]:
        m = Recurrent(cell, inp, hidden, layers, impl=impl)
        assert count_parameters(m) == parameter_formula(cell, inp, hidden, layers, impl)


def test_gru_has_fewer_parameters_than_lstm():
    for impl in ("lecture", "fused"):
        gru, lstm = (count_parameters(Recurrent(c, 32, 64, 2, impl=impl)) for c in ("gru", "lstm"))
        assert gru < lstm and gru / lstm == pytest.approx(0.75, abs=0.01)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_equals_vanilla_rnn_when_gates_are_open(reset_after):
    """With r = z = 1 the GRU's update is h_t = h̃_t = tanh(W_h[h_{t-1}, x_t] + b_h): a vanilla RNN."""
    torch.manual_seed(1)
    gru = GRUCell(3, 5, reset_after=reset_after)
    rnn = VanillaRNNCell(3, 5)
    with torch.no_grad():
        for W, b in ((gru.W_z, gru.b_z), (gru.W_r, gru.b_r)):
            W.zero_()
            b.fill_(50.0)  # σ(50) = 1 in float32
        rnn.W.copy_(gru.W_h)
        rnn.b.copy_(gru.b_h + (gru.b_hh if reset_after else 0))
    h_g = h_r = torch.zeros(2, 5)
    for _ in range(6):
        x = torch.randn(2, 3)
        h_g, h_r = gru(x, h_g), rnn(x, h_r)
        assert torch.allclose(h_g, h_r, atol=1e-6)
    # and the two GRU forms differ in general (reset before vs after the recurrent product)
    torch.manual_seed(2)
    a, b = GRUCell(3, 5, reset_after=False), GRUCell(3, 5, reset_after=True)
    b.load_state_dict({**a.state_dict(), "b_hh": torch.zeros(5)})
    h, x = torch.randn(2, 5), torch.randn(2, 3)
    assert not torch.allclose(a(x, h), b(x, h), atol=1e-3)


def test_lecture_gru_without_reset_after_has_no_fused_twin():
    with pytest.raises(ValueError, match="reset_after"):
        Recurrent("gru", 3, 4, impl="fused", reset_after=False)
    m = Recurrent("gru", 3, 4, impl="lecture", reset_after=False)
    assert "cells.0.W_h" in m.state_dict()
