"""Watch the RNN read a SMILES: the next-token softmax at each step and, for a chosen layer, the gate activations
and the state of each unit, computed by replaying the model's weights one step at a time in the lecture's cells.

A fused model (``torch.nn.LSTM``) only returns its outputs; its gates are never materialized. So each layer's
PyTorch-layout weights are loaded into the lecture's cell (:func:`chemrnn.cells.torch_to_cell`) and the equations
are run by hand, step by step, keeping every gate: ``f_t = σ(W_f[h_{t-1}, x_t] + b_f)`` and so on. The replayed top
layer is checked against the model's own forward pass (``max_abs_diff`` in the result).
"""
from __future__ import annotations

import numpy as np
import torch

from ..cells import GRUCell, LSTMCell, make_cell, torch_to_cell

GATE_NAMES = {"lstm": {"f": "forget gate f", "i": "input gate i", "o": "output gate o", "c": "cell state C",
                       "h": "hidden state h"},
              "gru": {"z": "update gate z", "r": "reset gate r", "h": "hidden state h"},
              "rnn": {"h": "hidden state h"}}


def _layer_cell(model, k: int):
    """Layer ``k`` of the model as a lecture cell (the model's own cell when it runs the lecture impl)."""
    rnn = model.rnn
    if rnn.impl == "lecture":
        return rnn.cells[k]
    H = rnn.hidden_size
    cell = make_cell(rnn.cell, rnn.input_size if k == 0 else H, H, **({"reset_after": True} if rnn.cell == "gru"
                                                                       else {}))
    torch_to_cell(cell, {name: getattr(rnn.rnn, f"{name}_l{k}").detach() for name in
                         ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    return cell


@torch.no_grad()
def _replay_layer(cell, xs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run one cell over ``xs`` ``[T, input]`` from a zero state; returns the outputs ``[T, H]`` and every gate and
    state ``[T, H]`` by name."""
    H = cell.hidden_size
    h = xs.new_zeros(1, H)
    c = xs.new_zeros(1, H)
    rec: dict[str, list] = {}

    def keep(**kw):
        for name, v in kw.items():
            rec.setdefault(name, []).append(v[0])

    for t in range(xs.shape[0]):
        x = xs[t: t + 1]
        hx = torch.cat([h, x], dim=1)  # [h_{t-1}, x_t]
        if isinstance(cell, LSTMCell):
            f = torch.sigmoid(hx @ cell.W_f.T + cell.b_f)
            i = torch.sigmoid(hx @ cell.W_i.T + cell.b_i)
            c_tilde = torch.tanh(hx @ cell.W_C.T + cell.b_C)
            o = torch.sigmoid(hx @ cell.W_o.T + cell.b_o)
            c = f * c + i * c_tilde
            h = o * torch.tanh(c)
            keep(f=f, i=i, o=o, c=c, h=h)
        elif isinstance(cell, GRUCell):
            z = torch.sigmoid(hx @ cell.W_z.T + cell.b_z)
            r = torch.sigmoid(hx @ cell.W_r.T + cell.b_r)
            h_new = cell(x, h)  # the candidate's two forms live in the cell itself
            h = h_new
            keep(z=z, r=r, h=h)
        else:
            h = cell(x, h)
            keep(h=h)
    states = {k: torch.stack(v) for k, v in rec.items()}
    return states["h"], states


@torch.no_grad()
def watch(model, vocabulary, tokenizer, smiles: str, layer: int = 0, units: int = 64, top_k: int = 5) -> dict:
    """What the model does while reading ``smiles``: per step the input token, the next token, its probability and
    the ``top_k`` most likely next tokens, the full softmax, and for ``layer`` the gates and states of ``units``
    units (the ones whose state varies most over the string; all of them if ``units`` ≥ the width)."""
    model.eval()
    tokens = tokenizer.tokenize(smiles)
    ids = vocabulary.encode(tokens, unknown="error")  # <bos> tokens <eos>
    x = torch.tensor(ids[:-1])[None]  # the model reads <bos> + tokens and predicts tokens + <eos>
    logits, _ = model(x)
    probs = torch.softmax(logits[0].float(), dim=-1)  # [T, V]
    T, V = probs.shape
    names = list(vocabulary.tokens)
    nxt = ids[1:]
    steps = []
    for t in range(T):
        top = torch.topk(probs[t], min(top_k, V))
        steps.append({"input": names[ids[t]], "next": names[nxt[t]], "p_next": round(float(probs[t, nxt[t]]), 4),
                      "rank_next": int((probs[t] > probs[t, nxt[t]]).sum()) + 1,
                      "top": [[names[int(j)], round(float(p), 4)] for p, j in zip(top.values, top.indices)]})
    nll = -float(torch.log(probs[torch.arange(T), torch.tensor(nxt)]).sum())

    # replay every layer up to the chosen one in the lecture's cells
    inp = model.embedding(x)[0]
    hidden_top = None
    for k in range(model.rnn.num_layers):
        out, states = _replay_layer(_layer_cell(model, k), inp)
        if k == layer:
            chosen = states
        inp = out
        hidden_top = out
    fused_out, _ = model.rnn(model.embedding(x))
    diff = float((fused_out[0] - hidden_top).abs().max())
    key = "c" if "c" in chosen else "h"
    width = chosen[key].shape[1]
    var = chosen[key].var(dim=0) if T > 1 else chosen[key].abs()[0]
    order = torch.argsort(var, descending=True)[: max(1, min(units, width))]
    order = torch.sort(order).values
    gates = {name: np.round(v[:, order].T.numpy().astype(float), 3).tolist() for name, v in chosen.items()}
    return {"tokens": tokens, "inputs": [names[i] for i in ids[:-1]], "steps": steps, "vocabulary": names,
            "softmax": np.round(probs.numpy().astype(float), 4).tolist(), "nll": round(nll, 4),
            "cell": model.rnn.cell, "layers": model.rnn.num_layers, "layer": layer, "hidden": width,
            "units": order.tolist(), "gates": gates,
            "gate_names": {k: v for k, v in GATE_NAMES[model.rnn.cell].items() if k in gates},
            "max_abs_diff": diff}
