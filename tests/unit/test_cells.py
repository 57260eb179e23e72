"""The lecture's cells equal PyTorch's fused kernels: outputs, final states and every gradient; the two GRU forms."""
import math

import pytest
import torch

from chemrnn.cells import (GRUCell, Recurrent, VanillaRNNCell, cell_to_torch, count_parameters, gru_reset_after,
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


def test_parameter_formula_of_the_lecture_gru_form():
    for layers, inp, hidden in [(1, 10, 16), (3, 32, 64)]:
        m = Recurrent("gru", inp, hidden, layers, impl="lecture", reset_after=False)
        assert count_parameters(m) == parameter_formula("gru", inp, hidden, layers, "lecture", "lecture")
        assert parameter_formula("gru", inp, hidden, layers, "lecture") - count_parameters(m) == layers * hidden
    with pytest.raises(ValueError, match="fused"):
        parameter_formula("gru", 3, 4, impl="fused", gru_form="lecture")


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


# ------------------------------------------------------------------------- where the GRU's reset gate sits
def _hand_gru(reset_after, b_z):
    """A GRU with 1 input and 2 hidden units whose gates are constants: r = (σ(0), σ(ln 3)) = (0.5, 0.75),
    z = σ(b_z); the candidate weights W_h = [W_hh | W_hx] are round numbers."""
    cell = GRUCell(1, 2, reset_after=reset_after)
    with torch.no_grad():
        cell.W_z.zero_()
        cell.b_z.fill_(b_z)
        cell.W_r.zero_()
        cell.b_r.copy_(torch.tensor([0.0, math.log(3.0)]))
        cell.W_h.copy_(torch.tensor([[0.5, -1.0, 1.0],  # W_hh row 1 | W_hx row 1
                                     [2.0, 0.25, -0.5]]))  # W_hh row 2 | W_hx row 2
        cell.b_h.copy_(torch.tensor([0.1, -0.2]))
        if reset_after:
            cell.b_hh.copy_(torch.tensor([0.2, -0.4]))
    return cell


H_PREV, X = torch.tensor([[0.8, -0.6]]), torch.tensor([[0.4]])
# by hand, r = (0.5, 0.75), r*h = (0.4, -0.45), W_hx x + b_h = (0.4 + 0.1, -0.2 - 0.2) = (0.5, -0.4)
# lecture:  W_hh (r*h) = (0.5*0.4 - 1*(-0.45), 2*0.4 + 0.25*(-0.45)) = (0.65, 0.6875)  → pre-activation (1.15, 0.2875)
# pytorch:  W_hh h + b_hh = (0.4 + 0.6 + 0.2, 1.6 - 0.15 - 0.4) = (1.2, 1.05); r*(·) = (0.6, 0.7875) → (1.1, 0.3875)
PRE = {False: [1.15, 0.2875], True: [1.1, 0.3875]}


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_candidate_by_hand(reset_after):
    """h̃_t computed by hand from the weights: the lecture's form (reset gate before W_hh) and PyTorch's (after)."""
    h_tilde = torch.tanh(torch.tensor([PRE[reset_after]]))
    cell = _hand_gru(reset_after, b_z=50.0)  # z = σ(50) = 1 in float32: h_t = h̃_t
    assert torch.allclose(cell(X, H_PREV), h_tilde, atol=1e-6)
    cell = _hand_gru(reset_after, b_z=0.0)  # z = 0.5: h_t = 0.5 h_{t-1} + 0.5 h̃_t
    assert torch.allclose(cell(X, H_PREV), 0.5 * H_PREV + 0.5 * h_tilde, atol=1e-6)


def test_gru_forms_differ_by_where_reset_sits():
    """The forms' pre-activations differ by W_hh (r*h) − r*(W_hh h + b_hh), and by nothing else."""
    lecture, pytorch = _hand_gru(False, 50.0), _hand_gru(True, 50.0)
    r = torch.tensor([0.5, 0.75])
    W_hh, b_hh = lecture.W_h[:, :2].detach(), pytorch.b_hh.detach()
    expected = (r * H_PREV) @ W_hh.T - r * (H_PREV @ W_hh.T + b_hh)  # (0.05, −0.1) by hand
    assert torch.allclose(expected, torch.tensor([[0.05, -0.1]]), atol=1e-6)
    gap = torch.atanh(lecture(X, H_PREV)) - torch.atanh(pytorch(X, H_PREV))
    assert torch.allclose(gap, expected, atol=1e-5)


def _torch_gru(cell):
    ref = torch.nn.GRUCell(cell.input_size, cell.hidden_size)
    w = cell_to_torch(cell)
    with torch.no_grad():
        for name, value in w.items():
            getattr(ref, name).copy_(value)
    return ref


def _twin_forms(seed, diagonal=False, b_hh=True):
    """A reset-after GRU with random weights (b_hh ≠ 0 unless told) and a reset-before GRU with the same W, b."""
    torch.manual_seed(seed)
    after = GRUCell(3, 4, reset_after=True)
    with torch.no_grad():
        if b_hh:
            after.b_hh.uniform_(-0.5, 0.5)
        if diagonal:
            after.W_h[:, :4] = torch.diag(torch.diag(after.W_h[:, :4]))
    before = GRUCell(3, 4, reset_after=False)
    before.load_state_dict({k: v for k, v in after.state_dict().items() if k != "b_hh"})
    return after, before


def test_reset_after_is_torch_gru_cell_and_reset_before_is_not():
    after, before = _twin_forms(3)
    ref = _torch_gru(after)
    h, x = torch.randn(5, 4), torch.randn(5, 3)
    assert torch.allclose(after(x, h), ref(x, h), atol=1e-6)
    assert (before(x, h) - ref(x, h)).abs().max() > 1e-2  # W_hh (r*h) ≠ r*(W_hh h + b_hh)
    with pytest.raises(ValueError, match="no PyTorch equivalent"):
        cell_to_torch(before)


def test_gru_forms_agree_exactly_when_the_equations_say():
    h, x = torch.randn(5, 4), torch.randn(5, 3)
    # diagonal W_hh and b_hh = 0: r scales each unit's own term, before or after the product alike
    after, before = _twin_forms(4, diagonal=True, b_hh=False)
    assert torch.allclose(before(x, h), _torch_gru(after)(x, h), atol=1e-6)
    # diagonal W_hh but b_hh ≠ 0: reset-after also scales b_hh, reset-before never sees it
    after, before = _twin_forms(4, diagonal=True, b_hh=True)
    with torch.no_grad():
        before.b_h += after.b_hh  # best the lecture's form can do: b_hh outside the reset gate
    assert (before(x, h) - after(x, h)).abs().max() > 1e-3
    # h_{t-1} = 0 and b_hh = 0: nothing for r to scale
    after, before = _twin_forms(5, b_hh=False)
    zero = torch.zeros(5, 4)
    assert torch.allclose(before(x, zero), after(x, zero), atol=1e-6)
    assert (before(x, h) - after(x, h)).abs().max() > 1e-2


def test_gru_form_names():
    assert gru_reset_after("lecture") is False and gru_reset_after("pytorch") is True
    with pytest.raises(ValueError, match="gru_form"):
        gru_reset_after("cudnn")
    for form, keys in (("lecture", {"cells.0.W_h"}), ("pytorch", {"rnn.weight_hh_l0"})):
        m = Recurrent("gru", 3, 4, impl="lecture", reset_after=gru_reset_after(form))
        assert keys <= set(m.state_dict())
