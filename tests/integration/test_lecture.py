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
    assert len(rows) == 7 and all(r["formula"] == r["counted"] for r in rows)
    gru = {(r["impl"], r["gru_form"]): r["counted"] for r in rows if r["cell"] == "gru"}
    # b_hh: one recurrent candidate bias per layer in PyTorch's form; the fused kernel keeps two biases per gate
    assert gru[("lecture", "pytorch")] - gru[("lecture", "lecture")] == 2 * 20
    assert gru[("fused", "pytorch")] - gru[("lecture", "lecture")] == 2 * 3 * 20


# ------------------------------------------------------------------------------------- the GRU's two forms
@pytest.mark.parametrize("gru_form", ["lecture", "pytorch"])
def test_hello_is_learned_by_both_gru_forms(gru_form):
    res = L.hello("gru", hidden_size=8, steps=150, gru_form=gru_form)
    assert res.gru_form == gru_form and res.generated == "hello"


def test_hello_gru_runs_the_lecture_form_unless_fused():
    assert L.resolve_gru_form(None, "lecture") == "lecture"
    assert L.resolve_gru_form(None, "fused") == "pytorch"
    with pytest.raises(ValueError, match="no fused kernel"):
        L.resolve_gru_form("lecture", "fused")
    with pytest.raises(ValueError, match="gru_form"):
        L.resolve_gru_form("cudnn", "lecture")
    assert L.CharLM("gru", 4, "lecture", "lecture").rnn.cells[0].reset_after is False
    assert L.CharLM("gru", 4, "lecture", "pytorch").rnn.cells[0].reset_after is True
    assert L.hello("rnn", steps=1).gru_form is None
    # same seed, same initial weights: the first loss differs only through where the reset gate sits
    a, b = (L.hello("gru", steps=1, gru_form=f).losses[0] for f in ("lecture", "pytorch"))
    assert a != pytest.approx(b, abs=1e-6)


def test_language_model_keeps_its_gru_form_in_the_model_file(tmp_path, sample_smiles):
    from chemrnn.errors import InputError
    from chemrnn.models.language import LanguageModel, LMConfig, load_language_model, save_language_model

    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in sample_smiles[:200])
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(len(vocab), 8, 8, 1, cell="gru", impl="lecture", gru_form="lecture"))
    assert model.rnn.cells[0].reset_after is False
    save_language_model(tmp_path / "lecture_gru", model, vocab, "atom")
    with pytest.raises(InputError, match="lecture's form"):
        load_language_model(tmp_path / "lecture_gru", impl="fused")
    loaded, *_ = load_language_model(tmp_path / "lecture_gru", impl="lecture")
    ids = torch.tensor([vocab.encode(tok.tokenize("c1ccccc1O"))])
    with torch.no_grad():
        assert torch.allclose(loaded.token_nll(ids), model.eval().token_nll(ids), atol=1e-6)
    # PyTorch's form is the default and is not written: model files stay as they were
    save_language_model(tmp_path / "default", LanguageModel(LMConfig(len(vocab), 8, 8, 1, cell="gru")), vocab, "atom")
    _, _, _, meta = load_language_model(tmp_path / "default")
    assert "gru_form" not in meta["config"]


@pytest.fixture
def tiny_data(tmp_path, sample_smiles):
    path = tmp_path / "mols.smi"
    path.write_text("\n".join(sample_smiles[:300]) + "\n")
    return path


def test_run_gradients_threads_the_gru_form(tmp_path, tiny_data, sample_smiles):
    import csv
    import json

    from chemrnn.utils import seed_everything

    out = tmp_path / "grad"
    metrics = L.run_gradients(out, str(tiny_data), hidden=8, length=12, steps=2, explode_steps=2, seed=0,
                              gru_form="lecture")
    assert {p.name for p in out.iterdir()} >= {"config.json", "gradients.csv", "explode.csv", "gradients.png",
                                              "metrics.json"}
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert json.loads((out / "config.json").read_text())["config"]["gru_form"] == "lecture"
    assert metrics["gru_form"] == "lecture" and set(metrics["ratios"]) == {"rnn", "lstm", "gru"}
    assert set(metrics["explode"]) == {"no clipping", "clipping"}
    rows = list(csv.DictReader((out / "gradients.csv").open()))
    assert len(rows) == 3 * 2 * 12
    gru_init = [float(r["grad_norm"]) for r in rows if r["cell"] == "gru" and r["phase"] == "init"]
    assert metrics["ratios"]["gru"]["init"] == pytest.approx(gru_init[11] / gru_init[0], rel=1e-6)
    # the GRU at initialisation was the lecture's form: recompute its profile from the same seed
    smiles = sample_smiles[:300]
    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in smiles)
    probe = L.smiles_windows(smiles, tok, vocab, 12, 4096, 0)[:256]
    profiles = {}
    for form in ("lecture", "pytorch"):
        seed_everything(0)
        profiles[form] = L.gradient_profile(L._window_lm("gru", len(vocab), 8, "lecture", form), probe)
    assert gru_init == pytest.approx(list(profiles["lecture"]), rel=1e-5)
    assert gru_init != pytest.approx(list(profiles["pytorch"]), rel=1e-3)


def test_run_long_range_threads_the_gru_form(tmp_path, tiny_data):
    import csv
    import json

    from chemrnn.cells import parameter_formula

    out = tmp_path / "lr"
    results = L.run_long_range(out, str(tiny_data), n_train=250, n_test=40, hidden=8, steps=2, batch_size=16,
                               seed=0, gru_form="lecture")
    assert set(results) == {"rnn", "lstm", "gru"}
    assert results["gru"]["gru_form"] == "lecture" and "gru_form" not in results["lstm"]
    # every model: embedding (V × 32) + head (8V + V) + its recurrent layer; the vanilla RNN (fused) gives V
    V, rest = divmod(results["rnn"]["parameters"] - parameter_formula("rnn", 32, 8, 1, "fused"), 32 + 8 + 1)
    assert rest == 0
    # the lecture's GRU form: 3 gates, one bias each, no b_hh (PyTorch's form would add 8 on the lecture's cells,
    # 24 on the fused kernel)
    assert results["gru"]["parameters"] == 41 * V + parameter_formula("gru", 32, 8, 1, "lecture", "lecture")
    assert results["lstm"]["parameters"] == 41 * V + parameter_formula("lstm", 32, 8, 1, "fused")
    assert json.loads((out / "config.json").read_text())["config"]["gru_form"] == "lecture"
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(results))
    rows = list(csv.DictReader((out / "long_range.csv").open()))
    assert len(rows) == sum(len(r["table"]) for r in results.values()) > 0
    assert (out / "long_range.png").stat().st_size > 0


def test_long_range_table_matches_bins_not_positions():
    results = {"rnn": {"table": [{"kind": "ring", "span": "1-4", "n": 3, "mean_p": 0.1, "top1": 0.0},
                                 {"kind": "branch", "span": "5-8", "n": 7, "mean_p": 0.2, "top1": 0.5}]},
               "gru": {"table": [{"kind": "branch", "span": "5-8", "n": 7, "mean_p": 0.9, "top1": 1.0}]}}
    rows = L.long_range_table(results)
    assert [(r["kind"], r["span"], r["n"]) for r in rows] == [("ring", "1-4", 3), ("branch", "5-8", 7)]
    assert rows[0]["cells"] == {"rnn": {"mean_p": 0.1, "top1": 0.0}, "gru": None}
    assert rows[1]["cells"]["gru"] == {"mean_p": 0.9, "top1": 1.0}


# --------------------------------------------------------------------------------------------------- the CLI
def _cli(capsys, *args):
    from chemrnn.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_hello_gru_form(tmp_path, capsys):
    import json

    out = tmp_path / "run[bold]x"  # user text with Rich markup in it is printed as it is
    code, _, err = _cli(capsys, "lecture", "hello", "--cell", "gru", "--steps", "5", "-o", str(out))
    assert code == 0 and "GRU form: lecture (reset gate before the recurrent product)" in err  # messages: stderr
    assert str(out / "hello.png") in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gru_form"] == "lecture" and metrics["generated"].startswith("h") and len(metrics["softmax"]) == 4
    code, _, err = _cli(capsys, "lecture", "hello", "--cell", "gru", "--steps", "5", "--impl", "fused")
    assert code == 0 and "GRU form: pytorch (reset gate after" in err
    code, _, err = _cli(capsys, "lecture", "hello", "--cell", "gru", "--steps", "5", "--gru-form", "pytorch")
    assert code == 0 and "GRU form: pytorch" in err
    code, _, err = _cli(capsys, "lecture", "hello", "--cell", "gru", "--impl", "fused", "--gru-form", "lecture")
    assert code == 2 and "no fused kernel" in err
    code, _, err = _cli(capsys, "lecture", "hello", "--gru-form", "cudnn")
    assert code == 2 and "cudnn" in err
    code, stdout, err = _cli(capsys, "lecture", "hello", "--steps", "5")
    assert code == 0 and "GRU form" not in stdout + err


def test_cli_params_shows_both_gru_forms(capsys):
    code, stdout, _ = _cli(capsys, "lecture", "params", "--input", "32", "--hidden", "256", "--layers", "2")
    assert code == 0 and "[h, x]" in stdout
    assert "│ gru  │ lecture │ lecture  │ 615,936 │ 615,936 │ yes" in stdout  # 2 × 3 × 256 fewer than fused (617,472)
    assert "NO" not in stdout


def test_cli_gradients_and_long_range(tmp_path, tiny_data, capsys):
    import json

    out = tmp_path / "g[red]"
    code, stdout, err = _cli(capsys, "lecture", "gradients", "--data", str(tiny_data), "-o", str(out), "--steps", "2",
                             "--explode-steps", "2", "--hidden", "8", "--length", "12", "--gru-form", "lecture")
    assert code == 0, err
    assert "gru (lecture form)" in stdout + err and str(out / "gradients.png") in err
    assert json.loads((out / "metrics.json").read_text())["gru_form"] == "lecture"
    out = tmp_path / "lr[nH]"
    code, stdout, err = _cli(capsys, "lecture", "long-range", "--data", str(tiny_data), "-o", str(out), "--steps",
                             "2", "--train-size", "250", "--test-size", "40", "--hidden", "8")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gru"]["gru_form"] == "pytorch" and str(out / "long_range.csv") in err
    assert "gru (pytorch form):" in stdout + err and "closings" in stdout + err
