"""Property models on the shipped sample: tiny models, few epochs; outputs line up with inputs."""
import csv

import numpy as np
import pytest
import torch

from chemrnn import chem
from chemrnn.cli import main
from chemrnn.models.property import POOLINGS, PropertyConfig, PropertyModel, reverse_padded
from chemrnn.labels import load_labelled, split_indices
from chemrnn.predict import predict_smiles
from chemrnn.training import PropertyTrainConfig, train_property_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("prop") / "run"
    cfg = PropertyTrainConfig(max_epochs=3, hidden_size=32, embedding_dim=16, num_layers=1, mlp_hidden=32,
                              batch_size=64, patience=3)
    metrics = train_property_model(cfg, run, verbose=False)
    return run, metrics


@pytest.mark.slow
def test_training_learns_both_targets(trained):
    run, metrics = trained
    with open(run / "log" / "metrics.csv") as fh:
        losses = [float(r["train_loss"]) for r in csv.DictReader(fh) if r.get("train_loss")]
    assert losses[-1] < losses[0]
    for t in ("logP", "TPSA"):
        assert metrics[t]["R2"] > 0.3, metrics  # far better than predicting the mean (R² = 0)
    assert metrics["_run"]["train"] == 8000 and metrics["_run"]["test"] == 1000


@pytest.mark.slow
def test_predict_keeps_order_and_reports_invalid(trained, tmp_path, capsys):
    run, _ = trained
    src = tmp_path / "in.smi"
    src.write_text("CCO\nC1CC\n\nc1ccccc1O phenol\n")
    out = tmp_path / "pred.csv"
    assert main(["property", "predict", str(run / "model"), str(src), "-o", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [r["line"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["logP"] and not rows[1]["logP"] and rows[1]["error"] == "SMILES syntax error"
    assert rows[2]["error"] == "empty SMILES" and rows[3]["TPSA"]
    pred, reasons, targets = predict_smiles(run / "model", ["CCO", "OCC"], augment=4)
    assert targets == ["logP", "TPSA"] and np.allclose(pred[0], pred[1], atol=1e-4)  # same molecule, same answer


@pytest.mark.slow
def test_evaluate_and_embed(trained, tmp_path, capsys):
    run, _ = trained
    assert main(["property", "evaluate", str(run / "model"), "sample", "-o", str(tmp_path / "ev")]) == 0
    assert (tmp_path / "ev" / "parity_logP.png").stat().st_size > 5000
    src = tmp_path / "in.smi"
    src.write_text("CCO\nC1CC\nc1ccccc1O\n")
    assert main(["embed", str(run / "model"), str(src), "-o", str(tmp_path / "v.npy")]) == 0
    v = np.load(tmp_path / "v.npy")
    assert v.shape == (3, 32)  # sum pooling: the read-out's 32 summed per-token features
    assert np.isnan(v[1]).all() and np.isfinite(v[[0, 2]]).all()


def test_labels_computed_when_missing(tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("SMILES,activity\nCCO,1.5\nc1ccccc1O,2.0\nC1CC,3\nCCN,abc\n")
    smiles, Y, rejects = load_labelled(src, ["TPSA", "activity"])
    assert smiles == ["CCO", "Oc1ccccc1"]
    assert Y[1, 0] == pytest.approx(chem.descriptors("c1ccccc1O")["TPSA"]) and Y[1, 1] == 2.0
    assert [r[0] for r in rejects] == [4, 5]  # file lines of the invalid SMILES and the non-numeric target


def test_scaffold_split_keeps_scaffolds_apart(sample_smiles):
    smiles = sample_smiles[:2000]
    tr, va, te = split_indices(smiles, "scaffold", seed=0)
    assert len(tr) + len(va) + len(te) == 2000 and len(te) > 100
    scaf = lambda idx: {chem.murcko_scaffold(smiles[i]) for i in idx}  # noqa: E731
    assert not (scaf(tr) & scaf(te)) and not (scaf(tr) & scaf(va))


@pytest.mark.parametrize("pooling", POOLINGS)
def test_pooling_ignores_padding(pooling):
    torch.manual_seed(0)
    m = PropertyModel(PropertyConfig(12, pooling=pooling, bidirectional=True, hidden_size=8, embedding_dim=0,
                                     cell="lstm", impl="lecture"))
    ids = torch.randint(4, 12, (3, 6))
    lengths = torch.tensor([6, 2, 4])
    padded = torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], 1)
    batched = m(padded, lengths)
    assert torch.allclose(m(ids, lengths), batched, atol=1e-6)
    for b in range(3):  # each molecule alone, unpadded, gives what it gets inside the padded batch
        alone = m(ids[b:b + 1, :lengths[b]], lengths[b:b + 1])
        assert torch.allclose(alone, batched[b:b + 1], atol=1e-6)
    assert m.embed(padded, lengths).shape == (3, m.embedding_width)
    x = torch.arange(6)[None, :, None].float().repeat(3, 1, 1)
    assert reverse_padded(x, lengths)[1, :2, 0].tolist() == [1.0, 0.0]


@pytest.mark.slow
def test_embed_reports_rejected_lines(trained, tmp_path, capsys):
    run, _ = trained
    src = tmp_path / "in.smi"
    src.write_bytes(b"CCO\nCC\xe9N\nC1CC\n")
    out = tmp_path / "v.parquet"
    assert main(["embed", str(run / "model"), str(src), "-o", str(out)]) == 0
    import pandas as pd

    df = pd.read_parquet(out)
    assert df["error"].tolist()[0] == "" and "not UTF-8" in df["error"][1] and df["error"][2]
    assert "1 predicted, 2 invalid SMILES" in " ".join(capsys.readouterr().err.split())  # the summary: stderr


def test_a_tiny_file_still_gets_three_nonempty_integer_splits():
    for n in (3, 4, 7):
        splits = split_indices([f"C{'C' * i}O" for i in range(n)], "random", seed=0)
        assert all(len(s) >= 1 and s.dtype.kind == "i" for s in splits)
        assert sorted(np.concatenate(splits).tolist()) == list(range(n))


def test_progress_to_a_file_is_plain_lines(tmp_path, capsys):
    """Progress where stderr is not a terminal (a log file): whole lines, one per epoch at least, no carriage
    returns of a redrawn bar; the recipe the run took is named."""
    data = tmp_path / "small.csv"
    data.write_text("smiles\n" + "\n".join(["CCO", "c1ccccc1", "CC(=O)O", "CCN", "CCCl", "OCCO", "CC#N", "C1CC1",
                                            "CCOC", "NCCO"] * 3) + "\n")
    cfg = PropertyTrainConfig(data=str(data), max_epochs=2, hidden_size=8, embedding_dim=8, mlp_hidden=8,
                              batch_size=8, device="cpu")
    train_property_model(cfg, tmp_path / "run", verbose=True)
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\r" not in captured.out
    lines = [line for line in captured.err.splitlines() if line.startswith("epoch ")]
    assert [line.split(" · ")[0] for line in lines] == ["epoch 0", "epoch 1"]  # one line an epoch
    assert all("train_loss" in line and "val_loss" in line for line in lines)
    assert "recipe: standard (logP/TPSA: RDKit's labels)" in captured.out
