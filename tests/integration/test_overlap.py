"""Evaluating a property model on molecules it was trained on is said (stderr and metrics.json): from the hashes
the model file records, or, for older model files, from its training split re-derived; and the parity plots say
where their true values come from."""
import csv
import gzip
import json
import shutil

import pytest

from chemrnn.cli import main
from chemrnn.datasets import sample_path
from chemrnn.labels import load_labelled, split_indices
from chemrnn.models import modelfile
from chemrnn.predict import training_hashes
from chemrnn.training import PropertyTrainConfig, train_property_model


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny logP/TPSA model trained on 150 ZINC molecules of the shipped sample (labels in the file), and 10
    other molecules of the sample it never saw."""
    d = tmp_path_factory.mktemp("overlap")
    with gzip.open(sample_path(), "rt") as fh:
        rows = list(csv.DictReader(fh))
    data = d / "train.csv"
    with open(data, "w") as fh:
        fh.write("smiles,logP,TPSA\n" + "".join(f"{r['smiles']},{r['logP']},{r['TPSA']}\n" for r in rows[:150]))
    cfg = PropertyTrainConfig(data=str(data), max_epochs=1, hidden_size=8, embedding_dim=8, num_layers=1,
                              mlp_hidden=8, batch_size=64, patience=1, seed=0, device="cpu")
    train_property_model(cfg, d / "run", verbose=False)
    smiles, _, _ = load_labelled(data, ["logP", "TPSA"])
    train = split_indices(smiles, "random", seed=0)[0]
    return d, data, [smiles[i] for i in train], [r["smiles"] for r in rows[5000:5010]]


def evaluate(model, src, out, capsys, *more):
    code = main([*more, "property", "evaluate", str(model), str(src), "-o", str(out), "--device", "cpu"])
    said = capsys.readouterr()
    assert code == 0, said.err
    return json.loads((out / "metrics.json").read_text()), " ".join(said.err.split())


def labelled(path, smiles):
    with open(path, "w") as fh:
        fh.write("smiles\n" + "".join(s + "\n" for s in smiles))
    return path


def test_evaluating_on_training_molecules_warns_with_count_and_fraction(small, tmp_path, capsys):
    d, _, trained_on, unseen = small
    model = d / "run" / "model"
    assert modelfile.read_training_set(model).shape == (120,)  # 80 % of 150, hashed beside the weights
    src = labelled(tmp_path / "ev.smi", trained_on[:20] + unseen)
    m, err = evaluate(model, src, tmp_path / "ev", capsys, "-q")
    assert m["overlap_with_training"]["count"] == 20 and m["overlap_with_training"]["fraction"] == 0.6667
    assert m["overlap_with_training"]["of"] == 30
    assert "warning: 20 of the 30 molecules scored (66.7 %) are in the model's training data" in err  # with -q too
    m, err = evaluate(model, labelled(tmp_path / "new.smi", unseen), tmp_path / "ev2", capsys)
    assert m["overlap_with_training"]["count"] == 0 and "training data" not in err


def test_an_older_model_file_has_its_training_split_re_derived(small, tmp_path, capsys):
    """A model saved before the hashes were recorded (the shipped one): the split follows from the recorded data,
    targets, split and seed; where that data is gone, the overlap is said to be unchecked."""
    d, data, trained_on, unseen = small
    old = tmp_path / "old"
    shutil.copytree(d / "run" / "model", old)
    (old / modelfile.TRAINING_SET).unlink()
    assert modelfile.read_training_set(old) is None
    src = labelled(tmp_path / "ev.smi", trained_on[:20] + unseen)
    m, err = evaluate(old, src, tmp_path / "ev", capsys)
    assert m["overlap_with_training"]["count"] == 20 and "re-derived" in m["overlap_with_training"]["checked_against"]
    assert "warning: 20 of the 30 molecules scored" in err
    hashes, how = training_hashes(old)  # the shortcut (no row rejected: canonicalize the training rows only)
    assert sorted(hashes.tolist()) == sorted(set(modelfile.molecule_hashes(trained_on).tolist()))
    meta = json.loads((old / "model.json").read_text())
    meta["training"]["data"] = meta["training"]["config"]["data"] = str(tmp_path / "gone.csv")
    (old / "model.json").write_text(json.dumps(meta))
    m, err = evaluate(old, src, tmp_path / "ev3", capsys)
    assert m["overlap_with_training"]["count"] is None
    assert "overlap with the training data not checked" in err and "gone.csv) is not on this machine" in err


def test_parity_axis_says_where_the_true_values_come_from(small, tmp_path, capsys):
    """Values read from the file are not called RDKit's (a measured logD7.4 is not): '(from FILE)'; values
    computed because the file has no such column are '(RDKit)'."""
    d, _, _, unseen = small
    src = tmp_path / "measured.csv"
    src.write_text("smiles,logP\n" + "".join(f"{s},{1.5 + i / 10}\n" for i, s in enumerate(unseen)))
    m, _ = evaluate(d / "run" / "model", src, tmp_path / "ev", capsys)
    assert m["logP"]["true_values"] == "from measured.csv" and m["TPSA"]["true_values"] == "RDKit"
