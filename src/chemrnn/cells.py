"""The lecture's recurrent cells, written from their equations, and the layer that unrolls them in time.

Every cell keeps the lecture's *concatenated* weights: one matrix ``W`` of shape ``[hidden, hidden + input]``
acting on ``[h_{t-1}, x_t]`` (plus a bias) per gate, with the lecture's names (``W_f``, ``b_f``, ...).
:class:`Recurrent` stacks and unrolls them (batch-first, dropout between layers, padding masks) with
``impl="lecture"``, or runs PyTorch's fused kernels (``torch.nn.RNN/LSTM/GRU``) with ``impl="fused"``.
Both impls save and load the *same* state-dict keys (PyTorch's layout), so a model trained with one runs with
the other. ``tests/unit/test_cells.py`` proves outputs and gradients agree within 1e-5.

PyTorch's gate layout: LSTM rows are (i, f, g=C̃, o), GRU rows are (r, z, n=h̃), each with two biases
(``bias_ih`` and ``bias_hh``). A lecture bias is their sum, except the GRU candidate's recurrent bias, which
sits inside the reset gate (see :class:`GRUCell`).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .options import CELLS, GRU_FORMS, IMPLS  # noqa: F401  (the vocabularies, written once)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _gate(hidden: int, inputs: int) -> tuple[nn.Parameter, nn.Parameter]:
    """One gate's concatenated weight W (acting on [h, x]) and bias b, initialised like PyTorch (U(±1/√H))."""
    k = 1.0 / math.sqrt(hidden)
    return (nn.Parameter(torch.empty(hidden, hidden + inputs).uniform_(-k, k)),
            nn.Parameter(torch.empty(hidden).uniform_(-k, k)))


class VanillaRNNCell(nn.Module):
    """Elman RNN: ``h_t = tanh(W [h_{t-1}, x_t] + b)``."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.W, self.b = _gate(hidden_size, input_size)

    def forward(self, x_t: Tensor, h_prev: Tensor) -> Tensor:
        hx = torch.cat([h_prev, x_t], dim=1)  # [h_{t-1}, x_t]
        return torch.tanh(hx @ self.W.T + self.b)  # h_t = tanh(W[h_{t-1}, x_t] + b)


class LSTMCell(nn.Module):
    """LSTM (Hochreiter & Schmidhuber 1997) in the lecture's notation; state is ``(h, C)``."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.W_f, self.b_f = _gate(hidden_size, input_size)
        self.W_i, self.b_i = _gate(hidden_size, input_size)
        self.W_C, self.b_C = _gate(hidden_size, input_size)
        self.W_o, self.b_o = _gate(hidden_size, input_size)

    def forward(self, x_t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h_prev, C_prev = state
        hx = torch.cat([h_prev, x_t], dim=1)  # [h_{t-1}, x_t]
        f_t = torch.sigmoid(hx @ self.W_f.T + self.b_f)  # forget gate  f_t = σ(W_f[h_{t-1}, x_t] + b_f)
        i_t = torch.sigmoid(hx @ self.W_i.T + self.b_i)  # input gate   i_t = σ(W_i[h_{t-1}, x_t] + b_i)
        C_tilde = torch.tanh(hx @ self.W_C.T + self.b_C)  # candidate  C̃_t = tanh(W_C[h_{t-1}, x_t] + b_C)
        C_t = f_t * C_prev + i_t * C_tilde  # cell state                  C_t = f_t*C_{t-1} + i_t*C̃_t
        o_t = torch.sigmoid(hx @ self.W_o.T + self.b_o)  # output gate  o_t = σ(W_o[h_{t-1}, x_t] + b_o)
        h_t = o_t * torch.tanh(C_t)  # hidden state                       h_t = o_t*tanh(C_t)
        return h_t, C_t


class GRUCell(nn.Module):
    """GRU (Cho et al. 2014) in the lecture's notation.

    ``z_t = σ(W_z[h_{t-1}, x_t] + b_z)``, ``r_t = σ(W_r[h_{t-1}, x_t] + b_r)``,
    ``h̃_t = tanh(W_h[r_t*h_{t-1}, x_t] + b_h)``, ``h_t = (1 − z_t)*h_{t-1} + z_t*h̃_t``.

    Two forms of the candidate ``h̃_t``, which differ only in where the reset gate sits (``W_h = [W_hh, W_hx]``):

    * ``reset_after=False``, the lecture's form (``gru_form="lecture"``): ``r_t`` scales ``h_{t-1}`` *before* the
      recurrent product, ``h̃_t = tanh(W_hh (r_t*h_{t-1}) + W_hx x_t + b_h)``. No fused kernel computes it.
    * ``reset_after=True``, PyTorch's and cuDNN's form (``gru_form="pytorch"``, the default, needed for
      ``impl="fused"``): ``r_t`` scales the recurrent product *after* it, with an extra recurrent bias ``b_hh``,
      ``h̃_t = tanh(W_hx x_t + b_h + r_t*(W_hh h_{t-1} + b_hh))``.

    They agree for every input when ``r_t = 1`` (with ``b_hh`` folded into ``b_h``), and for every ``r_t`` when
    ``b_hh = 0`` and ``W_hh`` is diagonal (each unit's reset then scales only its own term); otherwise
    ``W_hh (r_t*h) ≠ r_t*(W_hh h)``. PyTorch's update gate is our ``1 − z_t``: its weights are the negated
    ``W_z, b_z``.
    """

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = True):
        super().__init__()
        self.input_size, self.hidden_size, self.reset_after = input_size, hidden_size, reset_after
        self.W_z, self.b_z = _gate(hidden_size, input_size)
        self.W_r, self.b_r = _gate(hidden_size, input_size)
        self.W_h, self.b_h = _gate(hidden_size, input_size)
        if reset_after:
            self.b_hh = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x_t: Tensor, h_prev: Tensor) -> Tensor:
        H = self.hidden_size
        hx = torch.cat([h_prev, x_t], dim=1)  # [h_{t-1}, x_t]
        z_t = torch.sigmoid(hx @ self.W_z.T + self.b_z)  # update gate  z_t = σ(W_z[h_{t-1}, x_t] + b_z)
        r_t = torch.sigmoid(hx @ self.W_r.T + self.b_r)  # reset gate   r_t = σ(W_r[h_{t-1}, x_t] + b_r)
        if self.reset_after:  # PyTorch's form, r_t after W_hh: h̃_t = tanh(W_hx x_t + b_h + r_t*(W_hh h_{t-1} + b_hh))
            W_hh, W_hx = self.W_h[:, :H], self.W_h[:, H:]  # W_h = [W_hh, W_hx]
            h_tilde = torch.tanh(x_t @ W_hx.T + self.b_h + r_t * (h_prev @ W_hh.T + self.b_hh))
        else:  # the lecture's form, r_t before W_hh:                  h̃_t = tanh(W_h[r_t*h_{t-1}, x_t] + b_h)
            h_tilde = torch.tanh(torch.cat([r_t * h_prev, x_t], dim=1) @ self.W_h.T + self.b_h)
        return (1 - z_t) * h_prev + z_t * h_tilde  # h_t = (1 − z_t)*h_{t-1} + z_t*h̃_t




def gru_reset_after(gru_form: str) -> bool:
    """``GRUCell``'s ``reset_after`` for a GRU form name: ``"lecture"`` → False (``h̃_t = tanh(W_h[r_t*h_{t-1},
    x_t] + b_h)``), ``"pytorch"`` → True (``h̃_t = tanh(W_hx x_t + b_h + r_t*(W_hh h_{t-1} + b_hh))``)."""
    if gru_form not in GRU_FORMS:
        raise ValueError(f"gru_form must be one of {GRU_FORMS}, not {gru_form!r}")
    return gru_form == "pytorch"


def make_cell(cell: str, input_size: int, hidden_size: int, **kw) -> nn.Module:
    if cell == "rnn":
        return VanillaRNNCell(input_size, hidden_size)
    if cell == "lstm":
        return LSTMCell(input_size, hidden_size)
    if cell == "gru":
        return GRUCell(input_size, hidden_size, **kw)
    raise ValueError(f"cell must be one of {CELLS}, not {cell!r}")


# ---------------------------------------------------------------------------------- weight mapping
def cell_to_torch(cell: nn.Module) -> dict[str, Tensor]:
    """A lecture cell's weights in PyTorch's layout (``weight_ih, weight_hh, bias_ih, bias_hh`` of one layer)."""
    H = cell.hidden_size
    if isinstance(cell, VanillaRNNCell):
        gates, biases = [cell.W], [cell.b]
        bias_hh = [torch.zeros_like(cell.b)]
    elif isinstance(cell, LSTMCell):  # PyTorch order: i, f, g(=C̃), o
        gates, biases = [cell.W_i, cell.W_f, cell.W_C, cell.W_o], [cell.b_i, cell.b_f, cell.b_C, cell.b_o]
        bias_hh = [torch.zeros_like(b) for b in biases]
    elif isinstance(cell, GRUCell):  # PyTorch order: r, z(= 1 − our z), n(=h̃)
        if not cell.reset_after:
            raise ValueError("a GRU with reset_after=False (the lecture's form) has no PyTorch equivalent")
        gates, biases = [cell.W_r, -cell.W_z, cell.W_h], [cell.b_r, -cell.b_z, cell.b_h]
        bias_hh = [torch.zeros_like(cell.b_r), torch.zeros_like(cell.b_z), cell.b_hh]
    else:
        raise TypeError(type(cell))
    return {"weight_hh": torch.cat([W[:, :H] for W in gates]), "weight_ih": torch.cat([W[:, H:] for W in gates]),
            "bias_ih": torch.cat(biases), "bias_hh": torch.cat(bias_hh)}


def torch_to_cell(cell: nn.Module, w: dict[str, Tensor]) -> None:
    """Load one layer's PyTorch-layout weights into a lecture cell (in place, no graph)."""
    H = cell.hidden_size
    n = w["weight_ih"].shape[0] // H
    W = [torch.cat([w["weight_hh"][k * H:(k + 1) * H], w["weight_ih"][k * H:(k + 1) * H]], dim=1) for k in range(n)]
    b_ih = [w["bias_ih"][k * H:(k + 1) * H] for k in range(n)]
    b_hh = [w["bias_hh"][k * H:(k + 1) * H] for k in range(n)]
    with torch.no_grad():
        if isinstance(cell, VanillaRNNCell):
            cell.W.copy_(W[0]); cell.b.copy_(b_ih[0] + b_hh[0])  # noqa: E702
        elif isinstance(cell, LSTMCell):
            for k, name in enumerate("ifCo"):
                getattr(cell, f"W_{name}").copy_(W[k])
                getattr(cell, f"b_{name}").copy_(b_ih[k] + b_hh[k])
        elif isinstance(cell, GRUCell):
            if not cell.reset_after:
                raise ValueError("a GRU with reset_after=False (the lecture's form) has no PyTorch equivalent")
            cell.W_r.copy_(W[0]); cell.b_r.copy_(b_ih[0] + b_hh[0])  # noqa: E702
            cell.W_z.copy_(-W[1]); cell.b_z.copy_(-(b_ih[1] + b_hh[1]))  # noqa: E702
            cell.W_h.copy_(W[2]); cell.b_h.copy_(b_ih[2]); cell.b_hh.copy_(b_hh[2])  # noqa: E702


_TORCH_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class Recurrent(nn.Module):
    """A stack of recurrent layers over ``[batch, time, features]`` inputs.

    ``forward(x, lengths=None, state=None) -> (outputs, state)`` with ``outputs`` ``[batch, time, hidden]`` and
    ``state`` like PyTorch's (``h`` ``[layers, batch, hidden]``, or ``(h, c)`` for the LSTM). With ``lengths``,
    positions past each sequence's end leave the state unchanged and give zero outputs, so the final state is
    the state at each sequence's own last token. Dropout acts between layers, as in ``torch.nn.LSTM``.

    The state dict always has PyTorch's keys (``rnn.weight_ih_l0`` ...), whichever ``impl`` runs.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 impl: str = "fused", reset_after: bool = True):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, not {cell!r}")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, not {impl!r}")
        if impl == "fused" and cell == "gru" and not reset_after:
            raise ValueError("impl='fused' needs reset_after=True for the GRU (PyTorch's form)")
        self.cell, self.impl = cell, impl
        self.input_size, self.hidden_size, self.num_layers, self.dropout = input_size, hidden_size, num_layers, dropout
        if impl == "fused":
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            kw = {"nonlinearity": "tanh"} if cell == "rnn" else {}
            self.rnn = cls(input_size, hidden_size, num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0, **kw)
        else:
            extra = {"reset_after": reset_after} if cell == "gru" else {}
            self.cells = nn.ModuleList(
                make_cell(cell, input_size if k == 0 else hidden_size, hidden_size, **extra) for k in range(num_layers))
            self.drop = nn.Dropout(dropout)
            self._register_state_dict_hook(Recurrent._to_torch_keys)
            self._register_load_state_dict_pre_hook(Recurrent._from_torch_keys, with_module=True)

    # --- one state-dict layout for both impls
    @staticmethod
    def _to_torch_keys(module, state, prefix, local_metadata):
        for key in [k for k in state if k.startswith(prefix + "cells.")]:
            del state[key]
        for k, cell in enumerate(module.cells):
            if isinstance(cell, GRUCell) and not cell.reset_after:
                for name, p in cell.named_parameters():  # no PyTorch layout: keep the lecture's names
                    state[f"{prefix}cells.{k}.{name}"] = p.detach()
                continue
            for name, value in cell_to_torch(cell).items():
                state[f"{prefix}rnn.{name}_l{k}"] = value.detach()
        return state

    def _from_torch_keys(self, state, prefix, *args):
        for k, cell in enumerate(self.cells):
            keys = {name: f"{prefix}rnn.{name}_l{k}" for name in _TORCH_KEYS}
            if all(v in state for v in keys.values()):
                torch_to_cell(cell, {name: state.pop(key) for name, key in keys.items()})
                for name, p in cell.named_parameters():
                    state[f"{prefix}cells.{k}.{name}"] = p.detach().clone()

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None):
        if self.impl == "fused":
            return self._forward_fused(x, lengths, state)
        return self._forward_lecture(x, lengths, state)

    def _forward_fused(self, x, lengths, state):
        if lengths is None:
            return self.rnn(x, state)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, state

    def _forward_lecture(self, x, lengths, state):
        """Unroll layer by layer over time: the computation graph that BPTT differentiates."""
        B, T, _ = x.shape
        lstm = self.cell == "lstm"
        if state is None:
            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)
            state = (zeros, zeros.clone()) if lstm else zeros
        mask = None
        if lengths is not None:
            mask = (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]).to(x.dtype)
        h0s, c0s = (state if lstm else (state, None))
        layer_input = x
        final_h, final_c = [], []
        for k, cell in enumerate(self.cells):
            h = h0s[k]
            c = c0s[k] if lstm else None
            outputs = []
            for t in range(T):
                if lstm:
                    h_new, c_new = cell(layer_input[:, t], (h, c))
                else:
                    h_new = cell(layer_input[:, t], h)
                if mask is not None:  # past a sequence's end: keep its state, output zeros
                    m = mask[:, t, None]
                    h = m * h_new + (1 - m) * h
                    if lstm:
                        c = m * c_new + (1 - m) * c
                    outputs.append(m * h_new)
                else:
                    h = h_new
                    if lstm:
                        c = c_new
                    outputs.append(h)
            final_h.append(h)
            if lstm:
                final_c.append(c)
            layer_input = torch.stack(outputs, dim=1)
            if k < self.num_layers - 1:
                layer_input = self.drop(layer_input)
        h_n = torch.stack(final_h)
        return layer_input, ((h_n, torch.stack(final_c)) if lstm else h_n)


def parameter_formula(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                      impl: str = "fused", gru_form: str = "pytorch") -> int:
    """Parameters of a recurrent stack from the formula.

    One gate of the lecture holds ``W`` (``H × (H + I)``) and ``b`` (``H``): ``H(H + I) + H``. A vanilla RNN has
    1 gate, a GRU 3, an LSTM 4. PyTorch (``impl="fused"``) keeps two bias vectors per gate (``+ H`` per gate);
    the lecture GRU in PyTorch's reset-after form keeps one extra recurrent candidate bias (``+ H``), the lecture's
    own form (``gru_form="lecture"``, ``h̃_t = tanh(W_h[r_t*h_{t-1}, x_t] + b_h)``) has none.
    """
    if impl == "fused" and cell == "gru" and not gru_reset_after(gru_form):
        raise ValueError("impl='fused' has only PyTorch's GRU form")
    g = GATES[cell]
    total = 0
    for k in range(num_layers):
        i = input_size if k == 0 else hidden_size
        total += g * (hidden_size * (hidden_size + i) + hidden_size)
        if impl == "fused":
            total += g * hidden_size
        elif cell == "gru" and gru_reset_after(gru_form):
            total += hidden_size
    return total


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
