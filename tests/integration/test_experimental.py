"""Measured properties: value columns by name, k-fold splits, fold-model ensembles with a spread,
and transfer from a pre-trained language or property model. Tiny models, one or two epochs, small slices of the data."""
import csv
import gzip
import json
import zipfile

import numpy as np
import pytest
import torch

from chemrnn import chem
from chemrnn.cli import main
from chemrnn.errors import InputError
from chemrnn.labels import cv_splits, kfold_indices, load_labelled
from chemrnn.models.language import load_language_model
from chemrnn.models.property import (PropertyConfig, PropertyEnsemble, PropertyModel, load_property_model,
                                     save_property_model)
from chemrnn.predict import PropertyPredictor
from chemrnn.tokens import Vocabulary, get_tokenizer
from chemrnn.training import PropertyTrainConfig, train_property_model
from chemrnn.training.property import init_encoder_from, load_prior, prior_architecture, transfer_vocabulary

from conftest import ROOT

TINY_LM = ROOT / "tests" / "data" / "lm_schema1.chemrnn"  # 2×GRU-32, embedding 16, atom tokens
TINY = dict(hidden_size=16, embedding_dim=8, mlp_hidden=16, batch_size=32, max_epochs=1, patience=1, recipe="standard",
            device="cpu")


@pytest.fixture(scope="module")
def lipo_slice(tmp_path_factory):
    """The first 150 rows of the lipophilicity set, as distributed (value column ``logD7.4``)."""
    from chemrnn.datasets import path

    try:
        src = path("lipo", download=False)
    except InputError:
        pytest.skip("experimental sets not found (set CHEMRNN_DATA_DIR)")
    lines = gzip.open(src, "rt").read().splitlines()[:151]
    out = tmp_path_factory.mktemp("lipo") / "lipo150.csv"
    out.write_text("\n".join(lines) + "\n")
    return out


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_value_column_by_name(lipo_slice, tmp_path):
    smiles, Y, rejects = load_labelled(lipo_slice, ["logD7.4"])
    raw = _rows(lipo_slice)
    assert len(smiles) == 150 and not rejects and Y.shape == (150, 1)
    assert np.allclose(Y[:, 0], [float(r["logD7.4"]) for r in raw])
    assert smiles[0] == chem.canonical(raw[0]["smiles"])[0]
    two = tmp_path / "two.csv"
    two.write_text("smiles,a,logD7.4\nCCO,1,2.5\nCCN,3,-1\n")
    assert load_labelled(two, ["logD7.4", "a"])[1].tolist() == [[2.5, 1.0], [-1.0, 3.0]]
    with pytest.raises(InputError, match=r"no target column 'logD7\.5' \(columns: smiles, a, logD7\.4\)"):
        load_labelled(two, ["logD7.5"])


def test_computed_labels_follow_the_smiles_column_read(tmp_path):
    """logP and TPSA computed from one SMILES column of a file are not reused for another column of the same
    file (the cache follows the molecules, not the file)."""
    from rdkit.Chem import Crippen, rdMolDescriptors

    two = tmp_path / "two.csv"
    two.write_text("salt,parent\nCCO,Oc1ccccc1\nCCN,Nc1ccccc1\nCCC,Cc1ccccc1\n")
    for column in ("salt", "parent", "salt"):
        smiles, Y, _ = load_labelled(two, ["logP", "TPSA"], column=column)
        mols = [chem.mol(s) for s in smiles]
        assert Y[:, 0] == pytest.approx([Crippen.MolLogP(m) for m in mols])
        assert Y[:, 1] == pytest.approx([rdMolDescriptors.CalcTPSA(m) for m in mols])
    assert smiles == ["CCO", "CCN", "CCC"]


@pytest.mark.parametrize("method", ["random", "scaffold"])
def test_kfold_folds_are_disjoint_and_cover_every_row(lipo_slice, method):
    smiles = load_labelled(lipo_slice, ["logD7.4"])[0]
    folds = kfold_indices(smiles, 5, method, seed=3)
    assert len(folds) == 5 and all(len(f) > 0 for f in folds)
    together = np.concatenate(folds)
    assert sorted(together.tolist()) == list(range(len(smiles)))  # every row exactly once in a test fold
    scaf = [chem.murcko_scaffold(s) or "" for s in smiles]
    if method == "scaffold":  # no scaffold in two folds
        owners = {}
        for k, f in enumerate(folds):
            for i in f:
                assert owners.setdefault(scaf[i], k) == k
    else:
        assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert [f.tolist() for f in kfold_indices(smiles, 5, method, seed=3)] == [f.tolist() for f in folds]
    for k, (tr, va, te) in enumerate(cv_splits(smiles, 5, method, seed=3)):
        assert te.tolist() == folds[k].tolist() and len(va) > 0
        assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(len(smiles)))
        if method == "scaffold":
            sets = [{scaf[i] for i in part} for part in (tr, va, te)]
            assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    with pytest.raises(InputError, match="folds must be at least 2"):
        kfold_indices(smiles, 1)


def _members(k, same=False, seed=0):
    vocab = Vocabulary.build(get_tokenizer("atom").tokenize(s) for s in ["CCO", "c1ccccc1O", "CC(=O)N", "CCCl"])
    cfg = PropertyConfig(len(vocab), ["y"], embedding_dim=8, hidden_size=8, bidirectional=True, cell="gru",
                         pooling="mean", mlp_hidden=8)
    members = []
    for i in range(k):
        torch.manual_seed(seed if same else seed + i)
        members.append(PropertyModel(cfg).eval())
    return PropertyEnsemble(members), vocab


@pytest.mark.parametrize("suffix", ["", ".chemrnn"])
def test_ensemble_round_trip_and_spread(tmp_path, suffix):
    smiles = ["CCO", "c1ccccc1O", "CC(=O)N", "C1CC", "CCCl"]
    ens, vocab = _members(3)
    scaling = {"mean": [[1.0], [2.0], [3.0]], "std": [[1.0], [0.5], [2.0]]}
    path = save_property_model(tmp_path / f"ens{suffix}", ens, vocab, "atom", scaling)
    model, _, _, meta = load_property_model(path)
    assert isinstance(model, PropertyEnsemble) and len(model) == 3 and meta["schema"] == 2
    for a, b in zip(ens.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    p = PropertyPredictor(path, precision="32")
    res = p.predict(smiles)
    # by hand: each member's output in its own units, then the mean and the (population) standard deviation
    ids = [np.array(vocab.encode(get_tokenizer("atom").tokenize(chem.canonical(s)[0]))) for s in smiles if s != "C1CC"]
    from chemrnn.batching import collate

    with torch.no_grad():
        z = torch.stack([m(*collate(ids, 0)) for m in ens.members]).squeeze(-1).numpy()
    units = z * np.array([1.0, 0.5, 2.0])[:, None] + np.array([1.0, 2.0, 3.0])[:, None]
    ok = [0, 1, 2, 4]
    assert np.allclose(res.values[ok, 0], units.mean(0), atol=1e-5)
    assert np.allclose(res.spread[ok, 0], units.std(0), atol=1e-5) and (res.spread[ok] > 0).all()
    assert np.isnan(res.values[3]).all() and np.isnan(res.spread[3]).all()  # the invalid SMILES
    again = PropertyPredictor(path, precision="32").predict(smiles)
    assert np.array_equal(again.values, res.values, equal_nan=True)  # a reload predicts the same
    same, vocab = _members(3, same=True)
    flat = save_property_model(tmp_path / f"same{suffix}", same, vocab, "atom",
                               {"mean": [[0.0]] * 3, "std": [[1.0]] * 3})
    assert np.allclose(PropertyPredictor(flat, precision="32").predict(smiles).spread[ok], 0, atol=1e-7)


def test_bad_ensemble_files_are_refused(tmp_path):
    ens, vocab = _members(2)
    good = save_property_model(tmp_path / "ens", ens, vocab, "atom", {"mean": [[0.0], [0.0]], "std": [[1.0]] * 2})
    meta = json.loads((good / "model.json").read_text())

    def variant(name, **change):
        d = tmp_path / name
        d.mkdir()
        (d / "weights.safetensors").write_bytes((good / "weights.safetensors").read_bytes())
        (d / "model.json").write_text(json.dumps({**meta, **change}))
        return d

    cases = {"members3": ({"ensemble": {"members": 3}, "scaling": {"mean": [[0.0]] * 3, "std": [[1.0]] * 3}},
                          "weights do not fit"),
             "members1": ({"ensemble": {"members": 1}}, "members must be a whole number of at least 2"),
             "scaling": ({"scaling": {"mean": [0.0], "std": [1.0]}}, r"scaling of shape \(1,\) does not fit 2"),
             "noscale": ({"scaling": None}, "no readable scaling"),
             "schema": ({"schema": 3}, "schema 3 is newer")}
    for name, (change, message) in cases.items():
        with pytest.raises(InputError, match=message) as err:
            PropertyPredictor(variant(name, **change))
        assert name in str(err.value)  # the file is named
    single = save_property_model(tmp_path / "one.chemrnn", ens.members[0], vocab, "atom",
                                 {"mean": [0.0], "std": [1.0]})
    with zipfile.ZipFile(single) as zf:
        assert json.loads(zf.read("model.json"))["schema"] == 1  # a single model stays readable by older versions
    assert PropertyPredictor(single).predict(["CCO"]).spread is None


def test_cli_cross_validation_writes_folds_oof_and_an_ensemble(lipo_slice, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["property", "train", "--data", str(lipo_slice), "--targets", "logD7.4", "--folds", "3",
                 "--split", "scaffold", "--epochs", "1", "--hidden", "8", "--embedding", "8", "--mlp-hidden", "8",
                 "--augment", "2", "--dropout", "0.2", "--device", "cpu", "-o", str(run)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "logD7.4: RMSE" in err and "(mean ± sd over folds)" in err
    metrics = json.loads((run / "metrics.json").read_text())
    m = metrics["logD7.4"]
    assert len(m["folds"]) == 3 and m["n"] == 150 and {"RMSE_sd", "MAE_sd", "R2_sd", "pooled"} <= set(m)
    assert m["RMSE"] == pytest.approx(np.mean([f["RMSE"] for f in m["folds"]]))
    assert metrics["_run"]["folds"] == 3 and len(metrics["_run"]["per_fold"]) == 3
    oof = _rows(run / metrics["_run"]["oof"])
    assert sorted(int(r["row"]) for r in oof) == list(range(150)) and {r["fold"] for r in oof} == {"1", "2", "3"}
    assert all(r["logD7.4_pred"] not in ("", "nan") for r in oof)
    assert (run / "log" / "fold3" / "metrics.csv").is_file()
    meta = load_property_model(run / "model")[3]
    assert meta["config"]["dropout"] == 0.2 and meta["training"]["config"]["augment"] == 2
    src = tmp_path / "in.smi"
    src.write_text("CCO\nC1CC\nc1ccccc1O\n")
    assert main(["property", "predict", str(run / "model"), str(src), "-o", str(tmp_path / "p.csv")]) == 0
    rows = _rows(tmp_path / "p.csv")
    assert list(rows[0]) == ["line", "smiles", "logD7.4", "logD7.4_std", "error", "warning"]
    assert float(rows[0]["logD7.4_std"]) > 0 and rows[1]["logD7.4_std"] == "" and rows[1]["error"]


def test_init_from_copies_the_prior_and_freeze_keeps_it(lipo_slice, tmp_path):
    lm, lm_vocab, _, _ = load_language_model(TINY_LM)
    prior = {k: v.clone() for k, v in lm.state_dict().items()}
    n = len(lm_vocab)
    results = {}
    for freeze in (True, False):
        run = tmp_path / f"run{int(freeze)}"
        cfg = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), init_from=str(TINY_LM),
                                  freeze_encoder=freeze, **{**TINY, "max_epochs": 2, "lr": 1e-2})
        train_property_model(cfg, run, verbose=False)
        model, vocab, _, meta = load_property_model(run / "model")
        assert vocab.tokens[:n] == lm_vocab.tokens  # the prior's vocabulary, new tokens appended
        c = model.config
        assert (c.cell, c.hidden_size, c.num_layers, c.embedding_dim, c.bidirectional) == ("gru", 32, 2, 16, False)
        rnn = {k: v for k, v in model.state_dict().items() if k.startswith("rnn.")}
        assert rnn.keys() == {k for k in prior if k.startswith("rnn.")}
        results[freeze] = (all(torch.equal(rnn[k], prior[k]) for k in rnn)
                           and torch.equal(model.embedding.weight[:n], prior["embedding.weight"]))
        assert meta["training"]["metrics"]["_run"]["init_from"] == str(TINY_LM)
    assert results[True]  # frozen: the prior's weights, unchanged by training
    assert not results[False]  # trained: they moved
    # the copy itself, before any training, for the shipped prior (3×LSTM-512, embedding 64)
    big, big_vocab, tok, _ = load_language_model("shipped")
    vocab, added = transfer_vocabulary(big_vocab, [get_tokenizer(tok).tokenize("C[N+](C)(C)CC(=O)[O-]")])
    assert added == ["[N+]", "[O-]"] and vocab.tokens == big_vocab.tokens + added
    model = PropertyModel(PropertyConfig(len(vocab), ["y"], embedding_dim=64, hidden_size=512, num_layers=3,
                                         cell="lstm", pooling="mean"))
    init_encoder_from(model, big, freeze=True)
    for k, v in big.rnn.state_dict().items():
        assert torch.equal(model.rnn.state_dict()[k], v)
    assert torch.equal(model.embedding.weight[:len(big_vocab)], big.embedding.weight)
    assert not any(p.requires_grad for p in (*model.rnn.parameters(), *model.embedding.parameters()))
    assert all(p.requires_grad for p in model.mlp.parameters())


def test_init_from_a_property_model_copies_every_layer_but_the_output(lipo_slice, tmp_path):
    """A property model as the prior (e.g. the shipped logP/TPSA one for logD): its architecture, tokenizer and
    vocabulary; embedding, both recurrent directions and the read-out's hidden layer copied, the output new."""
    src = ROOT / "tests" / "data" / "property_schema1.chemrnn"  # biGRU-16, sum read-out, logP/TPSA
    prior, prior_vocab, _, _ = load_property_model(src)
    before = {k: v.clone() for k, v in prior.state_dict().items()}
    n = len(prior_vocab)
    cfg = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), init_from=str(src), freeze_encoder=True,
                              **{**TINY, "hidden_size": 64, "pooling": "mean", "max_epochs": 2, "lr": 1e-2})
    m = train_property_model(cfg, tmp_path / "run", verbose=False)
    model, vocab, _, meta = load_property_model(tmp_path / "run" / "model")
    assert vocab.tokens[:n] == prior_vocab.tokens and m["_run"]["init_from"] == str(src)
    assert (model.config.hidden_size, model.config.bidirectional, model.config.pooling, model.config.targets) == \
        (16, True, "sum", ["logD7.4"])  # the prior's architecture, not the config's 64 / mean
    state = model.state_dict()
    for k in before:
        if k.startswith(("rnn.", "rnn_back.")):
            assert torch.equal(state[k], before[k]), k  # frozen: unchanged by two epochs of training
    assert torch.equal(state["embedding.weight"][:n], before["embedding.weight"])
    assert not torch.equal(state["mlp.0.weight"], before["mlp.0.weight"])  # the read-out trains
    # the copy itself: every layer but the output (whose shape is that of the new targets)
    fresh = PropertyModel(PropertyConfig(n + 3, ["a", "b", "c"], **prior_architecture(prior)))
    init_encoder_from(fresh, prior)
    copied = fresh.state_dict()
    assert all(torch.equal(copied[k], v) for k, v in before.items()
               if not k.startswith(("mlp.3.", "embedding.")))
    assert copied["mlp.3.weight"].shape == (3, 16)
    assert torch.equal(copied["embedding.weight"][:n], before["embedding.weight"])
    assert all(p.requires_grad for p in fresh.parameters())  # no freeze asked
    assert load_prior("zinc")[0].config.targets == ["logP", "TPSA"]  # the shipped one by name
    assert load_prior("chembl")[3]["kind"] == "language"  # language names stay language models


def test_bad_transfer_settings_are_refused(lipo_slice, tmp_path):
    with pytest.raises(InputError, match="freeze_encoder needs init_from"):
        PropertyTrainConfig(freeze_encoder=True)
    with pytest.raises(InputError, match="folds must be an integer >= 1"):
        PropertyTrainConfig(folds=0)
    cfg = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), folds=2, **TINY)
    train_property_model(cfg, tmp_path / "cv", verbose=False)  # an ensemble of 2 fold models
    with pytest.raises(InputError, match="ensemble of 2 property models"):
        train_property_model(PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",),
                                                 init_from=str(tmp_path / "cv" / "model"), **TINY),
                             tmp_path / "r", verbose=False)
    onehot = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), **{**TINY, "embedding_dim": 0})
    train_property_model(onehot, tmp_path / "onehot", verbose=False)
    with pytest.raises(InputError, match="one-hot tokens"):
        train_property_model(PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",),
                                                 init_from=str(tmp_path / "onehot" / "model"), **TINY),
                             tmp_path / "r", verbose=False)
    assert not (tmp_path / "r").exists()  # refused before anything is written


def test_explicit_splits_are_used_as_given(lipo_slice, tmp_path):
    smiles = load_labelled(lipo_slice, ["logD7.4"])[0]
    tr, va, te = cv_splits(smiles, 5, "random", seed=1)[2]
    cfg = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), **TINY)
    m = train_property_model(cfg, tmp_path / "run", verbose=False, splits=[(tr, va, te)])
    assert (m["_run"]["train"], m["_run"]["val"], m["_run"]["test"]) == (len(tr), len(va), len(te))
    assert m["logD7.4"]["n"] == len(te)
    with pytest.raises(InputError, match="splits must be"):
        train_property_model(cfg, tmp_path / "bad", verbose=False, splits=[(tr, va, np.array([10_000]))])


def test_warm_up_is_at_most_a_tenth_of_a_short_run():
    from chemrnn.training.property import property_lr_factor

    assert property_lr_factor(0, 10_000) == pytest.approx(0.01)  # 100 warm-up steps on a long run
    assert property_lr_factor(0, 120) == pytest.approx(1 / 12) and property_lr_factor(12, 120) > 0.9


def test_cli_ensemble_from_the_shipped_property_model(lipo_slice, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["property", "train", "--data", str(lipo_slice), "--targets", "logD7.4", "--ensemble", "2",
                 "--init-from", "zinc", "--freeze-encoder", "--epochs", "1", "--device", "cpu", "-o", str(run)]) == 0
    assert "(an ensemble of 2 models)" in " ".join(capsys.readouterr().err.split())
    model, _, _, meta = load_property_model(run / "model")
    shipped = load_property_model("zinc")[0]
    assert len(model) == 2 and meta["training"]["config"]["init_from"] == "zinc"
    assert (model.config.hidden_size, model.config.bidirectional) == (256, True)  # the shipped model's
    for member in model.members:  # started from the shipped weights (kept by --freeze-encoder); read-out trained
        assert torch.equal(member.rnn_back.state_dict()["rnn.weight_hh_l0"],
                           shipped.rnn_back.state_dict()["rnn.weight_hh_l0"])
        assert not torch.equal(member.mlp[0].weight, shipped.mlp[0].weight)
    assert all((run / "log" / f"member{m}" / "metrics.csv").is_file() for m in (1, 2))


def test_ensemble_trains_n_seeded_models_per_split_and_predicts_their_mean(lipo_slice, tmp_path):
    """--ensemble N: N models on the split (seeds seed … seed + N - 1), saved as one ensemble; the reported test
    figure is the members' mean, which the saved model reproduces, with their spread as the uncertainty."""
    smiles, Y, _ = load_labelled(lipo_slice, ["logD7.4"])
    tr, va, te = cv_splits(smiles, 5, "random", seed=0)[0]
    tok = get_tokenizer("atom")
    seen = {t for i in tr for t in tok.tokenize(smiles[i])}
    split = (tr, va, np.array([i for i in te if set(tok.tokenize(smiles[i])) <= seen]))
    cfg = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), ensemble=3, augment=2, seed=5,
                              **{**TINY, "max_epochs": 2})
    m = train_property_model(cfg, tmp_path / "run", verbose=False, splits=[split])
    model, _, _, meta = load_property_model(tmp_path / "run" / "model")
    assert isinstance(model, PropertyEnsemble) and len(model) == 3 and m["_run"]["ensemble"] == 3
    assert len(m["_run"]["members"]) == 3 and m["_run"]["seconds"] == pytest.approx(
        sum(i["seconds"] for i in m["_run"]["members"]), abs=0.2)
    assert "best_epoch" not in m["_run"] and all("best_epoch" in i for i in m["_run"]["members"])  # each its own
    w = [member.mlp[3].weight for member in model.members]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])  # different seeds, different models
    p = PropertyPredictor(tmp_path / "run" / "model", precision="32")
    test = [smiles[i] for i in split[2]]
    out = p.predict(test)
    assert (out.spread > 0).all()
    y = Y[split[2], 0]
    assert m["logD7.4"]["RMSE"] == pytest.approx(float(np.sqrt(np.mean((out.values[:, 0] - y) ** 2))), rel=1e-4)
    one = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), augment=2, seed=5,
                              **{**TINY, "max_epochs": 2})
    train_property_model(one, tmp_path / "one", verbose=False, splits=[split])
    single = load_property_model(tmp_path / "one" / "model")[0]
    assert torch.equal(single.mlp[3].weight, w[0])  # member 0 is the single model of the same seed
    # cross-validation: K folds × N members, fold-major, per-fold info with its members
    cv = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), folds=2, ensemble=2, **TINY)
    mc = train_property_model(cv, tmp_path / "cv", verbose=False)
    assert len(load_property_model(tmp_path / "cv" / "model")[0]) == 4
    assert [len(f["members"]) for f in mc["_run"]["per_fold"]] == [2, 2] and "members" not in mc["_run"]
    with pytest.raises(InputError, match="ensemble"):
        PropertyTrainConfig(ensemble=0)
    with pytest.raises(InputError, match="ensemble must be an integer >= 1, not 2.0"):
        PropertyTrainConfig(ensemble=2.0)


def test_augmented_training_evaluates_and_predicts_over_random_smiles(lipo_slice, tmp_path, capsys):
    """--augment N: the test-split metrics average canonical + N random SMILES, and the saved model predicts the
    same way by default (so `property predict` reproduces the reported figure), unlike the canonical SMILES."""
    smiles, Y, _ = load_labelled(lipo_slice, ["logD7.4"])
    tr, va, te = cv_splits(smiles, 5, "random", seed=0)[0]
    tok = get_tokenizer("atom")
    seen = {t for i in tr for t in tok.tokenize(smiles[i])}
    split = (tr, va, np.array([i for i in te if set(tok.tokenize(smiles[i])) <= seen]))  # all predictable
    cfg = PropertyTrainConfig(data=str(lipo_slice), targets=("logD7.4",), augment=6, seed=3,
                              **{**TINY, "max_epochs": 2})
    m = train_property_model(cfg, tmp_path / "run", verbose=False, splits=[split])
    p = PropertyPredictor(tmp_path / "run" / "model", precision="32")  # as training evaluates
    assert (p.augment, p.seed) == (6, 3)
    # random spellings write stereo centres the other way round (@ / @@): the vocabulary has both
    stereo = [smiles[i] for i in tr if "@" in smiles[i]][:5]
    assert stereo and all(t in p.vocabulary for s in stereo for v in chem.spellings(s, 3, seed=11)
                          for t in tok.tokenize(v) if "@" in t)
    test = [smiles[i] for i in split[2]]
    default, canonical = p.predict(test).values[:, 0], p.predict(test, augment=0).values[:, 0]
    assert len(test) >= 25 and not np.isnan(default).any()
    assert np.allclose(default, p.predict(test, augment=6, seed=3).values[:, 0])
    assert not np.allclose(default, p.predict(test, augment=6, seed=0).values[:, 0], atol=1e-5)
    assert np.array_equal(p(test)[:, 0], canonical)  # the scoring form reads the canonical SMILES only (fast)
    assert not np.allclose(default, canonical, atol=1e-4)
    y = Y[split[2], 0]
    assert m["logD7.4"]["RMSE"] == pytest.approx(float(np.sqrt(np.mean((default - y) ** 2))), rel=1e-4)
    assert m["logD7.4"]["RMSE"] != pytest.approx(float(np.sqrt(np.mean((canonical - y) ** 2))), rel=1e-4)
    with pytest.raises(InputError, match="augment"):
        PropertyTrainConfig(augment=-1)
    assert PropertyTrainConfig(augment=True).augment == 1  # older configs wrote a flag
    model, vocab, tokenizer, meta = load_property_model(tmp_path / "run" / "model")
    meta["training"]["config"]["augment"] = True  # a model file of an older chemrnn: evaluated canonically
    save_property_model(tmp_path / "old.chemrnn", model, vocab, meta["tokenizer"], meta["scaling"], meta["training"])
    assert PropertyPredictor(tmp_path / "old.chemrnn").augment == 0


def test_recipes_fill_only_the_settings_left_open():
    from chemrnn.training.property import RECIPES, choose_recipe

    small = PropertyTrainConfig(recipe="small")
    assert {k: getattr(small, k) for k in RECIPES["small"]} == RECIPES["small"]
    assert PropertyTrainConfig(recipe="standard").to_dict()["augment"] == 0
    mine = PropertyTrainConfig(recipe="small", augment=0, lr=5e-3, init_from="none")
    assert (mine.augment, mine.lr, mine.init_from, mine.dropout) == (0, 5e-3, None, 0.1)
    # another architecture than the shipped logP/TPSA model's: the recipe does not start from it
    assert PropertyTrainConfig(recipe="small", hidden_size=64).init_from is None
    assert PropertyTrainConfig(recipe="small", cell="lstm").init_from is None
    # and the printed recipe says so, naming what differs
    from chemrnn.training.property import recipe_summary

    said = recipe_summary(PropertyTrainConfig(recipe="small", num_layers=2, cell="lstm"))
    assert said.endswith("from scratch, not from the shipped model: another architecture (num_layers, cell)")
    assert "scratch" not in recipe_summary(small) and "--init-from zinc" in recipe_summary(small)
    with pytest.raises(InputError, match="recipe must be one of auto | standard | small"):
        PropertyTrainConfig(recipe="large")
    with pytest.raises(InputError, match="lr must be"):  # auto: the explicit settings are checked at once
        PropertyTrainConfig(lr=-1.0)
    assert choose_recipe(4200, {"logD7.4": "file"})[0] == "small"
    assert choose_recipe(4200, {"logP": "RDKit"})[0] == "standard"
    assert choose_recipe(4200, {"logP": "file", "TPSA": "file"})[0] == "standard"  # RDKit's labels, stored
    assert choose_recipe(250_000, {"y": "file"})[0] == "standard"
    assert choose_recipe(20_000, {"logP": "RDKit", "y": "file"})[0] == "small"


def test_cli_default_on_a_small_measured_set_is_the_small_recipe(lipo_slice, tmp_path, capsys):
    """No recipe flag: measured values, 150 molecules → the small recipe, started from the shipped logP/TPSA model
    (its recurrent weights, not a random start); options given replace the recipe's."""
    run = tmp_path / "run"
    assert main(["property", "train", "--data", str(lipo_slice), "--targets", "logD7.4", "--epochs", "1",
                 "--augment", "1", "--device", "cpu", "-o", str(run)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "recipe: small (150 molecules with measured logD7.4" in out
    model, _, _, meta = load_property_model(run / "model")
    config = meta["training"]["config"]
    assert (config["recipe"], config["init_from"], config["augment"], config["max_epochs"]) == ("small", "zinc", 1, 1)
    assert (config["dropout"], config["batch_size"], config["lr"], config["max_minutes"]) == (0.1, 32, 1e-3, 9.0)
    assert meta["training"]["metrics"]["_run"]["recipe"] == "small"
    shipped = load_property_model("zinc")[0]
    w, w0 = model.state_dict(), shipped.state_dict()
    key = next(k for k in w if "weight_hh" in k)
    # one epoch of fine-tuning at lr 1e-3 moves the shipped weights a little; a random start is far from them
    assert torch.corrcoef(torch.stack([w[key].flatten(), w0[key].flatten()]))[0, 1] > 0.9
    computed = tmp_path / "computed"
    assert main(["property", "train", "--data", str(lipo_slice), "--targets", "logP", "--epochs", "1", "--hidden",
                 "8", "--mlp-hidden", "8", "--device", "cpu", "-o", str(computed)]) == 0
    assert "recipe: standard (logP/TPSA: RDKit's labels)" in " ".join(capsys.readouterr().out.split())
    assert load_property_model(computed / "model")[3]["training"]["config"]["augment"] == 0
