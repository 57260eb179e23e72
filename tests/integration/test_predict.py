"""``property predict`` / ``embed`` / ``property evaluate`` never mislead: every row says what happened to it, the
summary on stderr counts each kind, input columns are kept, and bad rows are rejected with a reason."""
import csv
import json
from typing import get_args

import numpy as np
import pandas as pd
import pytest
import typer

from chemrnn.cli import app, main
from chemrnn.labels import load_labelled
from chemrnn.predict import embed_smiles, predict_smiles

from conftest import ROOT

TINY = str(ROOT / "tests" / "data" / "property_schema1.chemrnn")  # max_tokens 68, trained without [Se]
UNSEEN = ["[U]", "[Xe]", "[Gd+3]", "C[Se]C"]


def _summary(capsys) -> tuple[str, str]:
    out = capsys.readouterr()
    return out.out, " ".join(out.err.split())


def test_unseen_tokens_through_the_api():
    values, errors, targets = predict_smiles("shipped", ["CCO", *UNSEEN], precision="32")
    assert targets == ["logP", "TPSA"] and np.isfinite(values[0]).all()
    assert np.isnan(values[1:]).all()  # no confident numbers read off <unk>
    assert errors[1:] == [f"tokens the model never saw in training: {t}" for t in ("[U]", "[Xe]", "[Gd+3]", "[Se]")]
    vectors, reasons = embed_smiles("shipped", ["CCO", *UNSEEN])
    assert np.isfinite(vectors[0]).all() and np.isnan(vectors[1:]).all() and reasons == errors


def test_predict_cli_flags_and_counts_unseen_tokens(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,SMILES,logP,note\n" + b"m1,CCO,0.1,\"a, b\"\n"
                    + b"".join(f"m{i},{s},,x\n".encode() for i, s in enumerate(UNSEEN, 2))
                    + b"m6,C1CC,,y\n\nm8,CC\xe9,,z\n")
    out = tmp_path / "p.csv"
    assert main(["property", "predict", "shipped", str(src), "-o", str(out), "--device", "auto"]) == 0
    stdout, err = _summary(capsys)
    assert stdout == ""  # data goes to the file, messages to stderr
    assert "8 rows: 1 predicted, 3 invalid SMILES, 4 with tokens the model never saw, 0 warnings" in err
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ["line", "smiles", "id", "input_logP", "note", "logP", "TPSA", "error", "warning"]
    assert [r["id"] for r in rows] == ["m1", "m2", "m3", "m4", "m5", "m6", "", ""]  # kept, aligned with lines
    assert [r["line"] for r in rows] == [str(i) for i in range(2, 10)]
    assert rows[0]["note"] == "a, b" and rows[0]["input_logP"] == "0.1" and rows[0]["logP"] and not rows[0]["error"]
    for r, token in zip(rows[1:5], ("[U]", "[Xe]", "[Gd+3]", "[Se]")):
        assert r["logP"] == r["TPSA"] == "" and r["error"] == f"tokens the model never saw in training: {token}"
    assert rows[5]["error"] == "SMILES syntax error" and rows[6]["error"] == "empty SMILES"
    assert "not UTF-8" in rows[7]["error"]


def test_predict_cli_keeps_smi_names_and_warns_past_training_length(tmp_path, capsys):
    src = tmp_path / "in.smi"
    src.write_text("CCO ethanol\n" + "C" * 90 + " long-chain\nC[Se]C dms\n")
    out = tmp_path / "p.csv"
    assert main(["property", "predict", TINY, str(src), "-o", str(out), "--augment", "2"]) == 0
    _, err = _summary(capsys)
    assert "3 rows: 2 predicted, 0 invalid SMILES, 1 with tokens the model never saw, 1 warnings" in err
    rows = list(csv.DictReader(open(out)))
    assert [r["name"] for r in rows] == ["ethanol", "long-chain", "dms"]
    assert rows[1]["logP"] and rows[1]["warning"].startswith("longer than any training molecule (90 > 68 tokens); "
                                                             "TPSA predicted -")  # and clipped: see below
    assert rows[1]["TPSA"] == "0" and rows[1]["warning"].endswith("below the least possible (0 Å²): shown as 0")
    assert rows[0]["warning"] == "" and rows[2]["error"].endswith("[Se]")


def test_predict_cli_warns_beyond_the_shipped_models_training_range_and_clips_what_cannot_be(tmp_path, capsys):
    """The shipped model's file records its longest training molecule (72 tokens): a 102-carbon chain is warned
    of. A negative TPSA (the chain's, and biphenyl's just below 0) is written as 0 with a warning saying what the
    model predicted; the network's own values stay available through PropertyPredictor."""
    from chemrnn.predict import PropertyPredictor

    src = tmp_path / "in.smi"
    src.write_text("C" * 102 + " chain\nc1ccccc1-c1ccccc1 biphenyl\nCCO ethanol\n")
    out = tmp_path / "p.csv"
    assert main(["property", "predict", "shipped", str(src), "-o", str(out)]) == 0
    _, err = _summary(capsys)
    assert "3 rows: 3 predicted, 0 invalid SMILES, 0 with tokens the model never saw, 2 warnings" in err
    chain, biphenyl, ethanol = list(csv.DictReader(open(out)))
    raw = PropertyPredictor("shipped").predict(["C" * 102, "c1ccccc1-c1ccccc1"]).values
    assert raw[0, 1] < 0 and raw[1, 1] < 0  # what the network says
    assert chain["TPSA"] == biphenyl["TPSA"] == "0" and float(chain["logP"]) == pytest.approx(raw[0, 0], rel=1e-5)
    assert chain["warning"] == (f"longer than any training molecule (102 > 72 tokens); TPSA predicted "
                                f"{raw[0, 1]:.2f} Å², below the least possible (0 Å²): shown as 0")
    assert biphenyl["warning"] == f"TPSA predicted {raw[1, 1]:.2f} Å², below the least possible (0 Å²): shown as 0"
    assert ethanol["warning"] == "" and float(ethanol["TPSA"]) > 15


def test_embed_parquet_has_error_and_warning_columns(tmp_path, capsys):
    src = tmp_path / "in.smi"
    src.write_text("CCO a\n" + "C" * 90 + " b\nC[Se]C c\nC1CC d\n")
    out = tmp_path / "v.parquet"
    assert main(["embed", TINY, str(src), "-o", str(out)]) == 0
    _, err = _summary(capsys)
    assert "4 rows: 2 predicted, 1 invalid SMILES, 1 with tokens the model never saw, 1 warnings" in err
    df = pd.read_parquet(out)
    assert list(df.columns[:6]) == ["line", "smiles", "name", "error", "warning", "f0"]
    assert df["name"].tolist() == ["a", "b", "c", "d"]
    assert df["warning"][1].startswith("longer than any training molecule") and df["error"][2].endswith("[Se]")
    f = df.filter(like="f").to_numpy()
    assert np.isfinite(f[:2]).all() and np.isnan(f[2:]).all()
    assert main(["embed", TINY, str(src), "-o", str(tmp_path / "v.csv")]) == 2  # neither .npy nor .parquet
    assert not (tmp_path / "v.csv").exists()


def test_evaluate_rejects_an_empty_smiles_cell(tmp_path, capsys):
    src = tmp_path / "lab.csv"
    src.write_text("smiles,logP,TPSA\nCCO,-0.0014,20.23\n,1.0,3.0\nc1ccccc1O,1.3922,20.23\nC[Se]C,0.5,0\n")
    smiles, Y, rejects = load_labelled(src, ["logP", "TPSA"])
    assert smiles == ["CCO", "Oc1ccccc1", "C[Se]C"] and rejects == [(3, "empty SMILES", "")]
    out = tmp_path / "ev"
    assert main(["property", "evaluate", TINY, str(src), "-o", str(out)]) == 0
    _, err = _summary(capsys)
    assert "2 molecules scored; 1 rows rejected" in err and "1 without a prediction (1 with tokens" in err
    assert list(csv.reader(open(out / "rejects.csv"))) == [["line", "reason", "raw"], ["3", "empty SMILES", ""]]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["_n"] == 2 and metrics["_rejected"] == 1 and metrics["_unseen_tokens"] == 1
    nothing = tmp_path / "none.csv"
    nothing.write_text("smiles,logP,TPSA\n,1,2\n\n")
    assert main(["property", "evaluate", TINY, str(nothing), "-o", str(tmp_path / "ev2")]) == 2
    _, err = _summary(capsys)
    assert "none.csv: no molecule to score" in err and "line 2, empty SMILES" in err
    assert not (tmp_path / "ev2").exists()


def test_options_spelled_alike_with_help_and_defaults(capsys):
    cli = typer.main.get_command(app)
    commands = {"property predict": cli.commands["property"].commands["predict"],
                "property train": cli.commands["property"].commands["train"],
                "property evaluate": cli.commands["property"].commands["evaluate"],
                "embed": cli.commands["embed"], "lm sample": cli.commands["lm"].commands["sample"],
                "lm evaluate": cli.commands["lm"].commands["evaluate"],
                "lm recovery": cli.commands["lm"].commands["recovery"]}
    for name, cmd in commands.items():
        params = {p.name: p for p in cmd.params}
        for p in params.values():
            assert p.help and p.show_default, (name, p.name)
        if "device" in params and name != "property train":
            assert params["device"].default == "auto", name
        if "precision" in params:
            assert get_args(params["precision"].type_descriptor.annotation) == ("auto", "32", "bf16"), name
        if "augment" in params:
            assert params["augment"].type_descriptor.annotation is int, name  # a count in train and predict alike
    for argv in (["property", "train", "--precision", "32-true"], ["property", "predict", "x", "y", "-o", "z",
                                                                  "--augment", "-1"]):
        assert main(argv) == 2  # refused before any work
    capsys.readouterr()


@pytest.mark.parametrize("argv", [["property", "predict", "shipped", "{src}", "-o", "{out}", "--precision", "16"],
                                  ["embed", "nosuchmodel.chemrnn", "{src}", "-o", "{out}"]])
def test_bad_model_or_option_is_one_line_exit_2(tmp_path, capsys, argv):
    src = tmp_path / "in.smi"
    src.write_text("CCO\n")
    out = tmp_path / "o.parquet"
    assert main([a.format(src=src, out=out) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not out.exists()


VARIED = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CCOC(=O)c1ccc(N)cc1", "O=C(O)c1ccccc1OC(C)=O",
          "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "CCCCCCCCCCCCCCCC(=O)O", "OC(=O)COCCN1CCN(CC1)C(c1ccccc1)c1ccc(Cl)cc1",
          "C[C@H](N)C(=O)O", "FC(F)(F)c1ccc(Oc2ccccc2)cc1"]


def test_a_molecules_prediction_does_not_depend_on_the_other_molecules_in_its_batch(tmp_path, capsys):
    """Under the bf16 autocast that was the default on CPUs with native bf16, CCO's logP was 0.004354 alone and
    0.004287 in a batch: inference runs in float32 by default, where a molecule's values (and vectors) are the
    same alone and in any batch, to float32 rounding."""
    from chemrnn.predict import PropertyPredictor

    predictor = PropertyPredictor("shipped")
    alone = np.array([predictor.predict([s]).values[0] for s in VARIED])
    np.testing.assert_allclose(predictor.predict(VARIED).values, alone, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(predictor(VARIED[::-1])[::-1], alone, rtol=1e-6, atol=1e-6)  # a scoring function's
    values, _, _ = predict_smiles("shipped", VARIED)
    np.testing.assert_allclose(values, alone, rtol=1e-6, atol=1e-6)
    vectors = np.array([predictor.embed([s])[0][0] for s in VARIED])
    np.testing.assert_allclose(predictor.embed(VARIED)[0], vectors, rtol=1e-6, atol=1e-5)
    # the command line too: CCO alone, then among the others
    for name, smiles in (("alone", ["CCO"]), ("batch", VARIED)):
        (tmp_path / f"{name}.smi").write_text("\n".join(smiles) + "\n")
        assert main(["property", "predict", "shipped", str(tmp_path / f"{name}.smi"), "-o",
                     str(tmp_path / f"{name}.csv"), "--device", "cpu"]) == 0
    capsys.readouterr()
    one, many = (next(csv.DictReader(open(tmp_path / f"{name}.csv"))) for name in ("alone", "batch"))
    assert float(one["logP"]) == pytest.approx(float(many["logP"]), abs=1e-6)
    assert float(one["TPSA"]) == pytest.approx(float(many["TPSA"]), rel=1e-6)
