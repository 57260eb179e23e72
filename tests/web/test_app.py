"""The web page's server through Starlette's test client (no browser, no socket): every endpoint, its limits and
its messages. The browser tests are in test_browser.py."""
import json
import re
import sys
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from chemrnn.web import LIMITS, create_app  # noqa: E402
from chemrnn.web.service import list_runs, parse_smiles_text  # noqa: E402
from conftest import stand_in_canonical_set  # noqa: E402

STATIC = "src/chemrnn/web/static"
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run = root / "group" / "lm_run"
    (run / "model").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"command": ["chemrnn", "lm", "train", "--data", "x"]}))
    (run / "log.csv").write_text("step,epoch,train_loss,val_nll\n10,0,3.5,\n20,0,2.5,2.9\n30,1,2.0,\n")
    (run / "metrics.json").write_text(json.dumps({"steps": 30}))
    (root / "not_a_run").mkdir()
    import zipfile

    with zipfile.ZipFile(ROOT / "tests" / "data" / "lm_schema1.chemrnn") as z:  # a small GRU language model
        z.extractall(root / "gru_small" / "model")
    (root / "outside.txt").write_text("secret")
    return root


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(runs), raise_server_exceptions=False) as c:
        yield c


def wait_job(client, job_id, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end in {timeout} s")


# ------------------------------------------------------------------------------------------- page
def test_page_and_its_files_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>chemrnn</title>" in page.text
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert src.startswith("/static/") or src.startswith("data:") or src.startswith("#"), src
    for name in ("app.js", "style.css", "vendor/openchemlib.js", "vendor/openchemlib-LICENSE.txt"):
        assert client.get(f"/static/{name}").status_code == 200, name


def test_nothing_is_fetched_from_elsewhere():
    """No script, style or import of the page names another host (the SVG namespace is not a fetch)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / STATIC
    for name in ("index.html", "app.js", "style.css"):
        text = (root / name).read_text()
        urls = [u for u in re.findall(r"https?://[^\s\"'`)]+", text) if u != "http://www.w3.org/2000/svg"]
        assert not urls, (name, urls)
    assert (root / "vendor" / "openchemlib.js").stat().st_size < 2_000_000


def test_every_answer_forbids_framing_and_other_sources(client):
    """No other site can frame the page, and it runs its own files only, on every answer: the page, its files, the
    API, a refused request, a request too large, a Host refused."""
    answers = [client.get("/"), client.get("/static/app.js"), client.get("/api/info"),
               client.post("/api/predict", json={"smiles": ""}), client.get("/api/jobs/nope"),
               client.post("/api/predict", content=b"x" * (LIMITS["body_bytes"] + 1),
                           headers={"Content-Type": "application/json"})]
    with TestClient(create_app(None, allowed_hosts=["127.0.0.1"]), base_url="http://evil.example") as other:
        answers.append(other.get("/"))
    assert [r.status_code for r in answers] == [200, 200, 200, 400, 400, 413, 400]
    for r in answers:
        assert r.headers["x-frame-options"] == "DENY", r.url
        csp = dict(d.strip().split(None, 1) for d in r.headers["content-security-policy"].split(";"))
        assert csp["frame-ancestors"] == "'none'" and csp["default-src"] == "'self'"
        assert csp["script-src"] == "'self'"  # no inline script, no eval
        assert r.headers["x-content-type-options"] == "nosniff"
    page = client.get("/").text
    assert "<script>" not in page and " style=" not in page and "onclick=" not in page


def test_info_lists_the_models_and_limits(client):
    info = client.get("/api/info").json()
    keys = [m["key"] for m in info["models"]]
    assert keys[:2] == ["moses", "chembl"] and "run:gru_small" in keys  # moses is the shipped prior: listed once
    assert len(set(keys)) == len(keys)
    assert "run:group/lm_run" not in keys  # its model/ has no model.json
    assert info["limits"]["samples"] == LIMITS["samples"]


# ------------------------------------------------------------------------------------------- predict
def test_predict_matches_the_predictor_and_rdkit(client):
    from chemrnn import chem
    from chemrnn.api import PropertyPredictor

    text = "CCO ethanol\n\nc1ccccc1O\nC1=CC=CC=C1[Se]C seleno\nC1CC(\n"
    res = client.post("/api/predict", json={"smiles": text}).json()
    rows = res["rows"]
    assert [r["line"] for r in rows] == [1, 3, 4, 5]
    assert rows[0]["name"] == "ethanol"
    pred = PropertyPredictor("shipped").predict(["CCO", "c1ccccc1O"])
    for r, values in zip(rows[:2], pred.values):
        assert [float(r["model"][t]) for t in res["targets"]] == pytest.approx(values, rel=1e-5)
        rd = chem.descriptors(r["smiles"])
        assert float(r["rdkit"]["logP"]) == pytest.approx(rd["logP"], abs=1e-4)
    seleno, broken = rows[2], rows[3]
    assert seleno["unseen_tokens"] and "[Se]" in seleno["error"] and seleno["model"]["logP"] == ""
    assert seleno["rdkit"]["logP"] != ""  # RDKit still reads it
    assert broken["error"] == "SMILES syntax error" and not broken["unseen_tokens"]
    assert res["counts"] == {"rows": 4, "predicted": 2, "invalid": 1, "unseen_tokens": 1, "warnings": 0}
    assert res["summary"].startswith("4 rows: 2 predicted, 1 invalid SMILES, 1 with tokens the model never saw")
    head, first = res["csv"].splitlines()[:2]
    assert head == "line,smiles,name,logP,TPSA,logP_rdkit,TPSA_rdkit,error,warning"
    assert first.startswith("1,CCO,ethanol,")


def test_impossible_values_are_clipped_and_warned_of(client):
    """A 102-carbon chain is longer than any molecule the shipped model was trained on (72 tokens), and the model
    gives it and biphenyl a negative TPSA: 0 is shown, and the warning says what was predicted."""
    res = client.post("/api/predict", json={"smiles": "C" * 102 + " chain\nc1ccccc1-c1ccccc1\nCCO"}).json()
    chain, biphenyl, ethanol = res["rows"]
    assert chain["warning"].startswith("longer than any training molecule (102 > 72 tokens); TPSA predicted -")
    for r in (chain, biphenyl):
        assert r["model"]["TPSA"] == "0" and r["warning"].endswith("below the least possible (0 Å²): shown as 0")
    assert float(chain["model"]["logP"]) > 30 and chain["rdkit"]["TPSA"] == "0"  # logP has no bound
    assert ethanol["warning"] == "" and float(ethanol["model"]["TPSA"]) > 15
    assert res["counts"]["warnings"] == 2 and res["summary"].endswith(", 2 warnings")
    assert res["units"] == {"logP": "", "TPSA": "Å²"}
    line = res["csv"].splitlines()[1].split(",")
    assert line[:3] == ["1", "C" * 102, "chain"] and line[4] == "0" and "shown as 0" in line[-1]


def test_a_salt_is_predicted_for_its_largest_fragment_when_asked(client):
    """``CCN.Cl`` has a token the model never saw (``.``): refused with a hint, or, with ``largest_fragment``,
    predicted as ethylamine (neutralized: ``CC[NH3+].[Cl-]`` too), the row saying what was predicted."""
    from chemrnn.api import PropertyPredictor

    text = "CCN.Cl salt\nCC[NH3+].[Cl-] ionic\nCCO"
    plain = client.post("/api/predict", json={"smiles": text}).json()["rows"]
    assert "keep the largest fragment" in plain[0]["error"] and plain[0]["model"]["logP"] == ""
    res = client.post("/api/predict", json={"smiles": text, "largest_fragment": True}).json()
    salt, ionic, ethanol = res["rows"]
    expected = PropertyPredictor("shipped").predict(["CCN"]).values[0]
    for r in (salt, ionic):
        assert r["error"] == "" and r["smiles"] == "CCN" and "largest fragment CCN of" in r["warning"]
        assert [float(r["model"][t]) for t in res["targets"]] == pytest.approx(expected, rel=1e-5)
    assert ethanol["warning"] == "" and ethanol["smiles"] == "CCO"
    bad = client.post("/api/predict", json={"smiles": "CCO", "largest_fragment": "yes"})
    assert bad.status_code == 400 and "largest_fragment must be true or false" in bad.json()["error"]


@pytest.mark.parametrize("body, status, message", [
    ({"smiles": ""}, 400, "no SMILES given"),
    ({"smiles": "\n  \n"}, 400, "no SMILES given"),
    ({"smiles": 42}, 400, "as text"),
    ({"smiles": "C\n" * (LIMITS["smiles"] + 1)}, 400, "too many molecules"),
])
def test_predict_refuses_bad_input_with_a_message(client, body, status, message):
    r = client.post("/api/predict", json=body)
    assert r.status_code == status and message in r.json()["error"]
    assert "Traceback" not in r.text


def test_an_overlong_smiles_is_a_row_with_a_reason(client):
    res = client.post("/api/predict", json={"smiles": "C" * (LIMITS["smiles_chars"] + 1) + "\nCCO"}).json()
    assert "longer than" in res["rows"][0]["error"] and res["rows"][1]["model"]["logP"]


def test_requests_must_be_json_and_small(client):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = client.post("/api/predict", content=b"smiles=CCO", headers=form)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = client.post("/api/predict", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = client.post("/api/predict", content=b"[1]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    big = json.dumps({"smiles": "C" * (LIMITS["body_bytes"] + 10)})
    r = client.post("/api/predict", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_streamed_bodies_are_bounded_too(client):
    def chunks():
        for _ in range(20):
            yield b"x" * (LIMITS["body_bytes"] // 10)

    r = client.post("/api/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_an_unexpected_failure_is_one_line_not_a_traceback(client, monkeypatch):
    service = client.app.state.service

    def boom(text, largest_fragment=False):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(service, "predict", boom)
    r = client.post("/api/predict", json={"smiles": "CCO"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error (RuntimeError): the disk is on fire"}


def test_depictions(client):
    r = client.get("/api/depict.svg", params={"smiles": "c1ccccc1O"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml") and "<svg" in r.text
    r = client.get("/api/depict.svg", params={"smiles": "C1CC("})
    assert r.status_code == 400 and "not a molecule" in r.json()["error"]
    assert client.get("/api/depict.svg", params={"smiles": "C" * 600}).status_code == 400


def test_parse_smiles_text():
    rows = parse_smiles_text("  CCO  ethanol absolute \n\nC\tmethane\n")
    assert [(r["line"], r["smiles"], r["name"]) for r in rows] == [(1, "CCO", "ethanol absolute"), (3, "C", "methane")]


# ------------------------------------------------------------------------------------------- generate
def generate(client, model: str, n: int, seed: int) -> dict:
    """The finished result of a Generate job."""
    r = client.post("/api/generate", json={"model": model, "n": n, "temperature": 1.0, "seed": seed})
    assert r.status_code == 200, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "finished", job
    return job


def test_generate_samples_with_metrics_and_a_table(client):
    from chemrnn.errors import InputError
    from chemrnn.web.service import training_files

    try:  # MOSES train, where it is here: a stand-in of its canonical set (the real one takes minutes)
        files = training_files("shipped")
    except InputError:
        files = []
    stand_in_canonical_set(files, ["CCO", "c1ccccc1"])
    job = generate(client, "shipped", 30, 3)
    res = job["result"]
    assert res["n"] == 30 and len(res["molecules"]) == 30
    m = res["metrics"]
    assert m["valid"] == sum(x["valid"] for x in res["molecules"]) and 0.5 < m["validity"] <= 1
    if files:
        assert m["unique"] <= m["valid"] and 0 <= m["novelty"] <= 1
        assert "moses_train" in res["novelty_against"] and "2 distinct molecules" in res["novelty_against"]
    else:
        assert m["novelty"] is None and res["novelty_missing"].startswith("novelty: training data not found")
    assert sum(res["histograms"]["logP"]["counts"]) == m["unique"]
    table = client.get(f"/api/jobs/{job['id']}/csv")
    assert table.status_code == 200 and len(table.text.splitlines()) == 31
    assert "attachment" in table.headers["content-disposition"]
    # the same seed gives the same molecules as the API
    from chemrnn.api import sample_smiles

    assert [x["smiles"] for x in res["molecules"]] == sample_smiles("shipped", 30, seed=3, batch_size=250)["written"]


def test_novelty_is_measured_against_the_models_own_training_data(tmp_path):
    """Generate's novelty counts the unique valid molecules absent from the training data that the model's file
    records (here a file holding half of what the model samples, not MOSES), names that data and marks the
    molecules found in it; when that file is gone, the page says that the training data was not found instead of
    giving a number."""
    from chemrnn.api import load_lm, sample_smiles
    from chemrnn.models.language import save_language_model

    sampled = sample_smiles("shipped", 40, seed=3, batch_size=250)["canonical"]
    trained_on = list(dict.fromkeys(c for c in sampled if c))[::2]
    train = tmp_path / "train.smi"
    train.write_text("\n".join(trained_on) + "\n")
    model, vocab, _, meta = load_lm("shipped")
    save_language_model(tmp_path / "runs" / "mine" / "model", model, vocab, meta["tokenizer"], {"data": str(train)})
    with TestClient(create_app(tmp_path / "runs")) as c:
        res = generate(c, "run:mine", 40, 3)["result"]
        unique = list(dict.fromkeys(x["canonical"] for x in res["molecules"] if x["valid"]))
        novel = [u for u in unique if u not in trained_on]
        assert trained_on and novel, "some sampled molecules are in the training data, some are not"
        m = res["metrics"]
        assert m["novel"] == len(novel) and m["novelty"] == pytest.approx(len(novel) / len(unique))
        assert res["novelty_against"] == (f"the model's training data, train.smi ({len(trained_on):,} distinct "
                                          f"molecules)") and res["novelty_missing"] is None
        assert all(x["novel"] == (x["canonical"] not in trained_on) for x in res["molecules"] if x["valid"])
        train.unlink()
        job = generate(c, "run:mine", 40, 3)
        res = job["result"]
        assert res["metrics"]["novelty"] is None and res["metrics"]["novel"] is None
        assert res["novelty_missing"].startswith("novelty: training data not found (")
        assert str(train) in res["novelty_missing"] and res["novelty_against"] is None
        assert all(x["novel"] is None for x in res["molecules"])
        assert job["message"].endswith(res["novelty_missing"])
        assert res["metrics"]["unique"] == len(unique)  # the rest of the result is there


@pytest.mark.parametrize("body, message", [
    ({"n": LIMITS["samples"] + 1}, "between 1 and 2000"),
    ({"n": 0}, "between 1 and 2000"),
    ({"n": "many"}, "must be a number"),
    ({"n": 10, "temperature": 0}, "temperature must be between"),
    ({"n": 10, "temperature": "NaN"}, "temperature must be a number"),
    ({"n": 10, "model": "../../etc/passwd"}, "no language model"),
    ({"n": 10, "model": "run:../outside.txt"}, "not a run name"),
])
def test_generate_refuses_bad_settings(client, body, message):
    r = client.post("/api/generate", json=body)
    assert r.status_code == 400 and message in r.json()["error"], r.text


# Each request field is checked where it is read: a value JSON allows but the field cannot take is a 400 naming the
# field, never a 500 (an overflow, a type error) and never silently read as something else (1.5 as 1).
BIG = "1" + "0" * 399  # a 400-digit integer
@pytest.mark.parametrize("route, body, message", [
    ("generate", '{"n": 1e400}', "the number of molecules must be a number between 1 and 2000, not inf"),
    ("generate", '{"n": Infinity}', "the number of molecules must be a number between 1 and 2000, not inf"),
    ("generate", '{"n": -Infinity}', "the number of molecules must be a number between"),
    ("generate", '{"n": %s}' % BIG, "the number of molecules must be between 1 and 2000, not a 400-digit number"),
    ("generate", '{"n": 1.5}', "the number of molecules must be a whole number, not 1.5"),
    ("generate", '{"n": true}', "the number of molecules must be a number, not True"),
    ("generate", '{"n": [10]}', "the number of molecules must be a number, not [10]"),
    ("generate", '{"n": 10, "seed": 1e400}', "the seed must be a number between 0 and 2147483647, not inf"),
    ("generate", '{"n": 10, "seed": Infinity}', "the seed must be a number between"),
    ("generate", '{"n": 10, "seed": %s}' % BIG, "the seed must be between"),
    ("generate", '{"n": 10, "temperature": 1e400}', "the temperature must be a number between"),
    ("generate", '{"n": 10, "model": ["shipped"]}', 'the model must be text, not ["shipped"]'),
    ("generate", '{"n": 10, "model": {"a": 1}}', "the model must be text"),
    ("watch", '{"smiles": "CCO", "units": 1e400}', "the number of units must be a number between"),
    ("watch", '{"smiles": "CCO", "units": Infinity}', "the number of units must be a number between"),
    ("watch", '{"smiles": "CCO", "layer": 1.5}', "the layer must be a whole number"),
    ("watch", '{"smiles": "CCO", "model": ["shipped"]}', "the model must be text"),
    ("finetune", '{"name": "ok", "actives": "CCO", "epochs": 1e400}', "the epochs must be a number between 1 and 50"),
    ("finetune", '{"name": "ok", "actives": "CCO", "epochs": Infinity}', "the epochs must be a number between"),
    ("finetune", '{"name": "ok", "actives": "CCO", "epochs": %s}' % BIG, "the epochs must be between 1 and 50"),
    ("finetune", '{"name": "ok", "actives": "CCO", "epochs": 2.5}', "the epochs must be a whole number"),
    ("finetune", '{"name": "ok", "actives": 42}', "the actives must be text, not 42"),
    ("finetune", '{"name": "ok", "dataset": ["gsk3"]}', "the actives dataset must be text"),
    ("finetune", '{"name": ["ok"], "actives": "CCO"}', "the run name must be text"),
    ("finetune", '{"name": "ok", "actives": "CCO", "prior": ["chembl"]}', "the prior must be text"),
    ("predict", '{"smiles": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
    ("generate", "[" * 100_000 + "]" * 100_000, "nested too deep"),
])
def test_request_fields_of_the_wrong_kind_are_refused_by_name(client, route, body, message):
    r = client.post(f"/api/{route}", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_unknown_jobs(client):
    assert client.get("/api/jobs/nope").status_code == 400
    assert client.get("/api/jobs").status_code == 200


# ------------------------------------------------------------------------------------------- watch
def test_watch_replays_the_lstm(client):
    from chemrnn.api import load_lm
    from chemrnn.sample import likelihood

    smiles = "CC(=O)Oc1ccccc1C(=O)O"
    res = client.post("/api/watch", json={"smiles": smiles, "layer": 2, "units": 16}).json()
    T = len(res["tokens"]) + 1
    assert res["inputs"][0] == "<bos>" and len(res["steps"]) == T and res["steps"][-1]["next"] == "<eos>"
    assert set(res["gates"]) == {"f", "i", "o", "c", "h"} and res["layer"] == 1
    for name in ("f", "i", "o"):
        g = np.array(res["gates"][name])
        assert g.shape == (16, T) and g.min() >= 0 and g.max() <= 1
    assert res["max_abs_diff"] < 1e-4
    assert np.allclose(np.array(res["softmax"]).sum(1), 1, atol=1e-2)
    m, v, tok, _ = load_lm("shipped")
    assert res["nll"] == pytest.approx(float(likelihood(m, v, tok, [smiles])[0]), abs=1e-2)


@pytest.mark.parametrize("body, message", [
    ({"smiles": ""}, "give a SMILES"),
    ({"smiles": "C[Se]C"}, "cannot read this SMILES: tokens it never saw in training: [Se]"),
    ({"smiles": "C" * 200}, "tokens; at most"),
    ({"smiles": "CCO", "layer": 9}, "layer must be between 1 and 3"),
    ({"smiles": "CCO", "units": 0}, "units must be between"),
])
def test_watch_refuses_bad_input(client, body, message):
    r = client.post("/api/watch", json=body)
    assert r.status_code == 400 and message in r.json()["error"], r.text


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("impl", ["fused", "lecture"])
def test_the_replay_matches_the_model_for_every_cell(cell, impl):
    import torch

    from chemrnn.models.language import LanguageModel, LMConfig
    from chemrnn.tokens import Vocabulary, get_tokenizer
    from chemrnn.web.watch import watch

    tok = get_tokenizer("atom")
    vocab = Vocabulary.build([tok.tokenize(s) for s in ("CCO", "c1ccccc1N", "CC(=O)O")])
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(len(vocab), 8, 12, 2, cell=cell, impl=impl))
    res = watch(model, vocab, tok, "CC(=O)Oc1ccccc1N", layer=1, units=5)
    assert res["max_abs_diff"] < 1e-5
    assert set(res["gates"]) == {"lstm": {"f", "i", "o", "c", "h"}, "gru": {"z", "r", "h"}, "rnn": {"h"}}[cell]
    assert len(res["units"]) == 5 and len(res["gates"]["h"][0]) == len(res["inputs"])


# ------------------------------------------------------------------------------------------- runs
def test_runs_are_listed_with_their_curves(client):
    res = client.get("/api/runs").json()
    assert sorted(r["name"] for r in res["runs"]) == ["group/lm_run", "gru_small"]
    run = next(r for r in res["runs"] if r["name"] == "group/lm_run")
    assert run["kind"] == "lm train" and run["status"] == "finished" and run["steps"] == 30
    curve = client.get("/api/runs/curve", params={"run": "group/lm_run"}).json()
    assert curve["x"] == "step" and curve["columns"]["train_loss"] == [3.5, 2.5, 2.0]
    assert curve["columns"]["val_nll"] == [None, 2.9, None]


@pytest.mark.parametrize("name", ["../", "..", "/etc", "group/../../", "outside.txt", ".chemrnn-web", "nope", "",
                                  "group/./lm_run", "group\\lm_run"])
def test_curves_never_leave_the_runs_folder(client, name):
    r = client.get("/api/runs/curve", params={"run": name})
    assert r.status_code == 400 and "Traceback" not in r.text


def test_list_runs_skips_hidden_and_model_folders(tmp_path):
    (tmp_path / ".hidden" / "r").mkdir(parents=True)
    (tmp_path / ".hidden" / "r" / "log.csv").write_text("step\n1\n")
    (tmp_path / "a" / "checkpoints").mkdir(parents=True)
    (tmp_path / "a" / "checkpoints" / "log.csv").write_text("step\n1\n")
    (tmp_path / "a" / "log.csv").write_text("step,loss\n")
    assert [r["name"] for r in list_runs(tmp_path)] == ["a"]


# ------------------------------------------------------------------------------------------- fine-tune
@pytest.mark.parametrize("body, message", [
    ({"name": "", "actives": "CCO"}, "name the run"),
    ({"name": "../evil", "actives": "CCO"}, "name the run"),
    ({"name": ".hidden", "actives": "CCO"}, "name the run"),
    ({"name": "t1\n", "actives": "CCO"}, "name the run"),  # a name is read whole: no trailing newline
    ({"name": "t1\nt2", "actives": "CCO"}, "name the run"),
    ({"name": "group", "actives": "CCO"}, "exists already"),
    ({"name": "ok", "actives": ""}, "paste the actives"),
    ({"name": "ok", "actives": "C1CC(\nxyz"}, "none of the pasted actives"),
    ({"name": "ok", "actives": "CCO", "epochs": 500}, "epochs must be between"),
    ({"name": "ok", "actives": "CCO", "prior": "/tmp/model"}, "no language model"),
    ({"name": "ok", "dataset": "/etc/passwd"}, "no actives dataset"),
])
def test_finetune_refuses_bad_forms(client, body, message):
    r = client.post("/api/finetune", json=body)
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_finetune_needs_a_runs_folder():
    with TestClient(create_app(None)) as c:
        r = c.post("/api/finetune", json={"name": "x", "actives": "CCO"})
        assert r.status_code == 400 and "--runs" in r.json()["error"]


# ------------------------------------------------------------------------------------------- jobs
def test_a_crashed_subprocess_is_a_failed_job_with_its_error_line(tmp_path):
    from chemrnn.web.jobs import JobQueue, run_subprocess

    script = ("import sys, time\n"
              "print('Epoch 0:  50%|#####     | 1/2 [00:01<00:01]', flush=True)\n"
              "time.sleep(1.2)\n"
              "print('error: no such file: actives.smi', file=sys.stderr)\n"
              "sys.exit(2)\n")

    def runner(job, jobs):
        run_subprocess(job, jobs, [sys.executable, "-c", script], tmp_path / f"{job.id}.log", total_epochs=2)

    jobs = JobQueue(tmp_path, {"finetune": runner})
    job = jobs.submit("finetune", {"name": "x"}, "crash")
    seen = set()
    t0 = time.time()
    while job.state in ("queued", "running") and time.time() - t0 < 30:
        if job.progress:
            seen.add(round(job.progress, 2))
        time.sleep(0.1)
    assert job.state == "failed" and job.error == "no such file: actives.smi"
    assert 0.25 in seen  # epoch 1 of 2, half-way: a quarter
    saved = json.loads((tmp_path / f"{job.id}.json").read_text())
    assert saved["state"] == "failed"


def test_jobs_of_a_stopped_server_are_found_as_interrupted(tmp_path):
    from chemrnn.web.jobs import JobQueue

    (tmp_path / "abc.json").write_text(json.dumps({
        "id": "abc", "kind": "finetune", "params": {}, "title": "t", "state": "running", "pid": 2**22 + 12345,
        "created": time.time(), "started": time.time()}))
    jobs = JobQueue(tmp_path, {"finetune": lambda job, q: None})
    assert jobs.get("abc").state == "interrupted"


def _sleeping_job(tmp_path, seconds: int):
    """A job queue running one subprocess that sleeps ``seconds``; returned once the process is registered."""
    from chemrnn.web.jobs import JobQueue, run_subprocess

    def runner(job, jobs):
        run_subprocess(job, jobs, [sys.executable, "-c", f"import time; time.sleep({seconds})"], tmp_path / "x.log")

    jobs = JobQueue(tmp_path, {"finetune": runner})
    job = jobs.submit("finetune", {}, "sleep")
    t0 = time.time()
    while (job.state != "running" or job.id not in jobs.procs) and time.time() - t0 < 20:
        time.sleep(0.05)
    return jobs, job


def test_a_job_can_be_cancelled(tmp_path):
    jobs, job = _sleeping_job(tmp_path, 30)
    t0 = time.time()
    jobs.cancel(job.id)
    while job.state == "running" and time.time() - t0 < 20:
        time.sleep(0.05)
    assert job.state == "cancelled" and time.time() - t0 < 20


# ------------------------------------------------------------------------------------------- host, CLI
def test_other_hosts_are_refused_when_serving_locally():
    with TestClient(create_app(None, allowed_hosts=["127.0.0.1", "localhost"]), base_url="http://127.0.0.1") as c:
        assert c.get("/api/info").status_code == 200
        assert c.get("/api/info", headers={"Host": "evil.example"}).status_code == 400


def test_serve_refuses_a_port_in_use(tmp_path):
    import socket

    from chemrnn.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port), "--runs", str(tmp_path)]) == 2
    (tmp_path / "file").write_text("")
    assert main(["serve", "--runs", str(tmp_path / "file")]) == 2


def test_a_run_whose_trainer_holds_its_lock_is_running(tmp_path):
    import os
    import socket
    import subprocess
    from pathlib import Path

    run = tmp_path / "r"
    run.mkdir()
    (run / "log.csv").write_text("step,train_loss\n50,2.0\n")
    (run / "metrics.json").write_text("{}")
    old = time.time() - 3600
    os.utime(run / "log.csv", (old, old))
    os.utime(run / "metrics.json", (old, old))
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "chemrnn lm train"])
    t0 = time.time()
    while b"chemrnn" not in Path(f"/proc/{trainer.pid}/cmdline").read_bytes() and time.time() - t0 < 10:
        time.sleep(0.01)  # until the child has exec'd
    try:
        (run / ".lock").write_text(json.dumps({"pid": trainer.pid, "host": socket.gethostname()}))
        assert list_runs(tmp_path)[0]["status"] == "running"
    finally:
        trainer.kill()
        trainer.wait()
    assert list_runs(tmp_path)[0]["status"] == "finished"
    (run / "metrics.json").unlink()
    assert list_runs(tmp_path)[0]["status"] == "incomplete"


def test_a_job_left_running_by_an_earlier_server_is_settled_from_its_log(tmp_path):
    """A record of an older server (a pid, no start time): the process is believed to be the job's while it is a
    chemrnn command."""
    import subprocess
    from pathlib import Path

    from chemrnn.web.jobs import JobQueue

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "chemrnn lm finetune"])
    t0 = time.time()
    while b"chemrnn" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes() and time.time() - t0 < 10:
        time.sleep(0.01)  # until the child has exec'd
    (tmp_path / "j1.json").write_text(json.dumps({
        "id": "j1", "kind": "finetune", "params": {}, "title": "t", "state": "running", "pid": proc.pid,
        "created": time.time(), "started": time.time()}))
    (tmp_path / "j1.log").write_text("Epoch 0: 100%|####| 3/3\n{}\nfine-tuned model: runs/x/model (3 steps)\n")
    try:
        jobs = JobQueue(tmp_path, {"finetune": lambda job, q: None})
        assert jobs.get("j1").state == "running" and "earlier server" in jobs.get("j1").message
    finally:
        proc.kill()
        proc.wait()
    assert jobs.get("j1").state == "finished"
    assert json.loads((tmp_path / "j1.json").read_text())["state"] == "finished"


def test_a_model_under_runs_samples_and_is_watched(client):
    r = client.post("/api/generate", json={"model": "run:gru_small", "n": 8, "temperature": 0.8})
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "finished" and len(job["result"]["molecules"]) == 8
    res = client.post("/api/watch", json={"model": "run:gru_small", "smiles": "CCOc1ccccc1", "layer": 2}).json()
    assert res["cell"] == "gru" and set(res["gates"]) == {"z", "r", "h"} and res["max_abs_diff"] < 1e-5
    assert len(res["units"]) == 32  # all of them: 64 asked, 32 there


def test_a_log_linked_from_outside_the_runs_folder_is_not_read(tmp_path):
    from chemrnn.web.service import WebError, read_curve

    outside = tmp_path / "outside.csv"
    outside.write_text("step,secret\n1,42\n")
    root = tmp_path / "runs"
    (root / "r").mkdir(parents=True)
    (root / "r" / "log.csv").symlink_to(outside)
    with pytest.raises(WebError, match="outside the runs folder"):
        read_curve(root, "r")


def test_stopping_the_server_stops_its_jobs_and_says_so(tmp_path):
    jobs, job = _sleeping_job(tmp_path, 60)
    proc = jobs.procs[job.id]
    jobs.shutdown()
    proc.wait(10)
    assert job.state == "interrupted"
    assert json.loads((tmp_path / f"{job.id}.json").read_text())["state"] == "interrupted"
    time.sleep(0.8)  # the worker sees the process end and keeps the verdict
    assert job.state == "interrupted"


def test_a_gru_in_the_lecture_form_is_served_with_the_lecture_cells(tmp_path):
    import torch

    from chemrnn.models.language import LanguageModel, LMConfig, save_language_model
    from chemrnn.tokens import Vocabulary, get_tokenizer

    tok = get_tokenizer("atom")
    vocab = Vocabulary.build([tok.tokenize(s) for s in ("CCO", "c1ccccc1N", "CC(=O)O")])
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(len(vocab), 8, 12, 1, cell="gru", impl="lecture", gru_form="lecture"))
    (tmp_path / "lecture_gru").mkdir()
    save_language_model(tmp_path / "lecture_gru" / "model", model, vocab, "atom")
    with TestClient(create_app(tmp_path)) as c:
        res = c.post("/api/watch", json={"model": "run:lecture_gru", "smiles": "CCO", "layer": 1})
        assert res.status_code == 200, res.text
        assert res.json()["cell"] == "gru" and res.json()["max_abs_diff"] < 1e-6


def test_the_serve_command_starts_answers_and_stops_cleanly(tmp_path):
    """``chemrnn serve`` as a user runs it (no browser needed): it answers soon (< 5 s on an idle 2-core machine;
    20 s allowed under the test suite's load), predicts, and SIGTERM ends it without a traceback."""
    import os
    import socket
    import subprocess
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chemrnn", "serve", "--port", str(port), "--runs", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                info = json.loads(urllib.request.urlopen(base + "api/info", timeout=2).read())
                break
            except OSError:
                assert proc.poll() is None and time.perf_counter() - t0 < 60, proc.stdout.read().decode()
                time.sleep(0.1)
        assert time.perf_counter() - t0 < 20 and info["runs"] == str(tmp_path.resolve())
        req = urllib.request.Request(base + "api/predict", json.dumps({"smiles": "CCO"}).encode(),
                                     {"Content-Type": "application/json"})
        assert json.loads(urllib.request.urlopen(req, timeout=60).read())["counts"]["predicted"] == 1
        other = urllib.request.Request(base + "api/info", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError):  # only this machine's names are served
            urllib.request.urlopen(other, timeout=10)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    import signal

    assert proc.returncode in (0, -signal.SIGTERM), out  # uvicorn ends by the signal it got, after shutting down
    assert "Traceback" not in out and f"http://127.0.0.1:{port}/" in out


# ------------------------------------------------------------------------------------------- a server that crashed
def _earlier_servers_job(tmp_path, job_id: str, seconds: int = 60, start: str | None = "recorded"):
    """A process as a fine-tune job of a server that was then killed leaves it (its own session, a record on disk
    naming its pid and start time), and that record; ``start`` "recorded", or the start time to write."""
    import subprocess

    from chemrnn.web.jobs import process_start

    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"], start_new_session=True)
    (tmp_path / f"{job_id}.json").write_text(json.dumps({
        "id": job_id, "kind": "finetune", "params": {"name": "ft"}, "title": "t", "state": "running",
        "pid": proc.pid, "proc_start": process_start(proc.pid) if start == "recorded" else start,
        "created": time.time(), "started": time.time()}))
    return proc


def test_a_job_of_an_earlier_server_is_stopped_on_cancel(tmp_path):
    """The server that started a fine-tune was killed; the next one finds the process still running, and Cancel
    stops it (its process group) and answers once it has: the job is cancelled, on disk too."""
    from chemrnn.web.jobs import JobQueue

    proc = _earlier_servers_job(tmp_path, "j2")
    try:
        jobs = JobQueue(tmp_path, {"finetune": lambda job, q: None})
        job = jobs.get("j2")
        assert job.state == "running" and "earlier server" in job.message and "Cancel stops it" in job.message
        t0 = time.time()
        assert jobs.cancel("j2").state == "cancelled"
        assert time.time() - t0 < 10  # SIGTERM ends it; no wait for the SIGKILL
        assert proc.wait(5) is not None
        assert "stopped" in job.message and job.ended
        assert json.loads((tmp_path / "j2.json").read_text())["state"] == "cancelled"
    finally:
        proc.kill()
        proc.wait()


def test_a_pid_given_to_another_process_is_not_taken_for_the_job(tmp_path):
    """A recorded pid that now belongs to another process (another start time) is not the job's: the job was
    interrupted, and Cancel signals nothing."""
    from chemrnn.web.jobs import JobQueue

    proc = _earlier_servers_job(tmp_path, "j3", start="12345")
    try:
        jobs = JobQueue(tmp_path, {"finetune": lambda job, q: None})
        assert jobs.get("j3").state == "interrupted"
        jobs.cancel("j3")
        time.sleep(0.3)
        assert proc.poll() is None  # not signalled
    finally:
        proc.kill()
        proc.wait()


def test_runs_take_their_state_from_the_job_that_wrote_them(tmp_path):
    """A run the page's fine-tune wrote has the state of that job in Runs (not a guess from its files' times); a
    cancelled run's name can be given to a new fine-tune, which replaces its folder; a run of no job is finished
    with its metrics.json, else incomplete (a fresh log is not "running" without a trainer holding the lock)."""
    import zipfile

    with zipfile.ZipFile(ROOT / "tests" / "data" / "lm_schema1.chemrnn") as z:
        z.extractall(tmp_path / "gru_small" / "model")
    for name in ("ft", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "log.csv").write_text("step,epoch,train_loss\n1,0,3.0\n")
    (tmp_path / "ft" / "leftover").write_text("")
    state = tmp_path / ".chemrnn-web" / "jobs"
    state.mkdir(parents=True)
    (state / "old.json").write_text(json.dumps({
        "id": "old", "kind": "finetune", "params": {"name": "ft"}, "title": "t", "state": "cancelled",
        "created": time.time() - 60, "started": time.time() - 60, "ended": time.time() - 30}))
    with TestClient(create_app(tmp_path)) as c:
        runs = {r["name"]: r for r in c.get("/api/runs").json()["runs"]}
        assert runs["ft"]["status"] == "cancelled"
        assert runs["other"]["status"] == "incomplete"
        r = c.post("/api/finetune", json={"name": "other", "prior": "run:gru_small", "actives": "CCO"})
        assert r.status_code == 400 and "exists already" in r.json()["error"]
        r = c.post("/api/finetune", json={"name": "ft", "prior": "run:gru_small", "actives": "CCO\nCCN",
                                          "epochs": 1})
        assert r.status_code == 200, r.text
        job = r.json()
        assert "replacing its cancelled run" in job["title"] and not (tmp_path / "ft" / "leftover").exists()
        r = c.post("/api/finetune", json={"name": "ft", "prior": "run:gru_small", "actives": "CCO"})
        assert r.status_code == 400 and "is being trained" in r.json()["error"]
        c.post(f"/api/jobs/{job['id']}/cancel", json={})
        assert wait_job(c, job["id"], 60)["state"] == "cancelled"
        assert {r["name"]: r for r in c.get("/api/runs").json()["runs"]}.get("ft", {"status": "cancelled"})[
            "status"] == "cancelled"


def _serve(runs, port: int, log):
    """``chemrnn serve`` on ``port``, once it answers."""
    import os
    import subprocess
    import urllib.request

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH"))
                                                       if p)}
    proc = subprocess.Popen([sys.executable, "-m", "chemrnn", "serve", "--port", str(port), "--runs", str(runs)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=2).read()
            return proc
        except OSError:
            assert proc.poll() is None and time.time() - t0 < 60, "the server did not start"
            time.sleep(0.1)


def test_jobs_of_a_killed_server_are_reported_truthfully_and_ended_after_its_restart(tmp_path):
    """The fault: ``kill -KILL`` of the server while a fine-tune and a sampling job run, then the server again on the
    same runs folder. The sampling job (a thread of the dead server) is interrupted; the fine-tune's process still
    runs, is listed so (in Jobs and Runs), and Cancel stops it and says cancelled; the run's name is free again."""
    import signal
    import socket
    import urllib.request
    import zipfile

    from chemrnn.web.jobs import process_start

    with zipfile.ZipFile(ROOT / "tests" / "data" / "lm_schema1.chemrnn") as z:  # a tiny prior: seconds
        z.extractall(tmp_path / "runs" / "gru_small" / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"

    def call(path, body=None):
        req = urllib.request.Request(base + path, None if body is None else json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=60).read())

    actives = "\n".join("C" * k + "O" for k in range(1, 60))  # 50 epochs of 59 steps: minutes, unless stopped
    log = open(tmp_path / "serve.log", "wb")
    server = _serve(tmp_path / "runs", port, log)
    pids = []
    try:
        ft = call("/api/finetune", {"name": "ft", "prior": "run:gru_small", "actives": actives, "epochs": 50,
                                    "batch_size": 1})
        sampling = call("/api/generate", {"model": "shipped", "n": 2000, "seed": 1})
        record = tmp_path / "runs" / ".chemrnn-web" / "jobs" / f"{ft['id']}.json"
        t0 = time.time()
        while time.time() - t0 < 60:
            saved = json.loads(record.read_text()) if record.exists() else {}
            s = call(f"/api/jobs/{sampling['id']}")
            if saved.get("proc_start") and s["state"] == "running" and s["message"].startswith("sampl"):
                break
            assert s["state"] in ("queued", "running"), s
            time.sleep(0.1)
        pid = saved["pid"]
        pids.append(pid)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        assert process_start(pid) == saved["proc_start"]  # the training outlives its server
        server = _serve(tmp_path / "runs", port, log)
        s = call(f"/api/jobs/{sampling['id']}")
        assert s["state"] == "interrupted" and "server stopped" in s["message"]
        job = call(f"/api/jobs/{ft['id']}")
        assert job["state"] == "running" and "earlier server" in job["message"]
        assert {r["name"]: r["status"] for r in call("/api/runs")["runs"]}["ft"] == "running"
        t0 = time.time()
        job = call(f"/api/jobs/{ft['id']}/cancel", {})
        assert job["state"] == "cancelled" and time.time() - t0 < 20, job
        assert process_start(pid) is None  # the training process is gone
        assert call(f"/api/jobs/{ft['id']}")["state"] == "cancelled"
        assert {r["name"]: r["status"] for r in call("/api/runs")["runs"]}["ft"] == "cancelled"
        again = call("/api/finetune", {"name": "ft", "prior": "run:gru_small", "actives": "CCO", "epochs": 1})
        call(f"/api/jobs/{again['id']}/cancel", {})
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        for pid in pids:
            if process_start(pid) is not None:
                import os

                os.killpg(pid, signal.SIGKILL)
