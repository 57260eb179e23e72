"""Language model: overfit a batch, sampler/likelihood agreement, Lightning training, resume after kill -9,
fine-tuning, recovery and the GuacaMol-style generator."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from chemrnn import chem
from chemrnn.api import Generator, load_lm, recovery
from chemrnn.api import sample_smiles as draw
from chemrnn.batching import collate
from chemrnn.cli import main
from chemrnn.models.language import LanguageModel, LMConfig, save_language_model
from chemrnn.sample import likelihood, sample
from chemrnn.tokens import AtomTokenizer, Vocabulary
from chemrnn.training import LMTrainConfig, train_language_model

from conftest import ROOT


@pytest.fixture(scope="module")
def vocab(sample_smiles):
    return Vocabulary.build(AtomTokenizer().tokenize(s) for s in sample_smiles)


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_overfit_one_batch(vocab, sample_smiles, cell):
    torch.manual_seed(0)
    tok = AtomTokenizer()
    batch, _ = collate([np.array(vocab.encode(tok.tokenize(s))) for s in sample_smiles[:8]])
    model = LanguageModel(LMConfig(len(vocab), 32, 128, 1, cell=cell))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(300):
        loss = model.loss(batch)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 3.0 and loss.item() < 0.1  # from ln(V) to ~0: the model memorised the batch


def test_sampled_nll_equals_likelihood(vocab):
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(len(vocab), 16, 32, 2, cell="gru"))
    tok = AtomTokenizer()
    s = sample(model, vocab, tok, 64, temperature=1.0, batch_size=16, max_length=60, seed=3)
    assert len(s.smiles) == 64 and s.finished.any()
    again = sample(model, vocab, tok, 64, temperature=1.0, batch_size=16, max_length=60, seed=3)
    assert again.smiles == s.smiles  # seeded
    checked = 0
    for k, smi in enumerate(s.smiles):
        if not s.finished[k]:
            continue
        ids = torch.tensor([[vocab.bos_id, *s.token_ids[k], vocab.eos_id]])
        with torch.no_grad():
            assert model.sequence_nll(ids).item() == pytest.approx(s.nll[k], rel=1e-4, abs=1e-3)
        if vocab.encode(tok.tokenize(smi))[1:-1] == s.token_ids[k]:  # the string re-tokenizes to the same ids
            assert likelihood(model, vocab, tok, [smi])[0] == pytest.approx(s.nll[k], rel=1e-4, abs=1e-3)
            checked += 1
    assert checked >= 10


def test_sampler_drops_finished_sequences(vocab):
    """A model that always says <eos> first stops after one step, not at max_length; and a finished sequence leaves
    the batch: the model is run on the live sequences only (counted by a forward hook, one call a step)."""
    model = LanguageModel(LMConfig(len(vocab), 8, 8, 1))
    with torch.no_grad():
        model.head.bias.fill_(-20.0)
        model.head.bias[vocab.eos_id] = 20.0
    rows = []
    hook = model.register_forward_hook(lambda module, args, output: rows.append(output[0].shape[0]))
    s = sample(model, vocab, AtomTokenizer(), 2000, batch_size=1000, max_length=10_000, seed=0)
    hook.remove()
    assert rows == [1000, 1000]  # one step for each batch
    assert s.finished.all() and (s.lengths == 1).all() and set(s.smiles) == {""}

    carbon = vocab.tokens.index("C")

    def first_live_row_ends(module, args, output):
        """Each step the first live sequence says <eos> and every other one says C."""
        logits, state = output
        rows.append(logits.shape[0])
        forced = torch.full_like(logits, -1e9)
        forced[:, :, carbon] = 0.0
        forced[0, :, carbon], forced[0, :, vocab.eos_id] = -1e9, 0.0
        return forced, state

    rows.clear()
    model.register_forward_hook(first_live_row_ends)
    s = sample(model, vocab, AtomTokenizer(), 5, batch_size=5, max_length=100, seed=0)
    assert rows == [5, 4, 3, 2, 1]
    assert s.smiles == ["", "C", "CC", "CCC", "CCCC"] and list(s.lengths) == [1, 2, 3, 4, 5] and s.finished.all()


def _tiny_cfg(**kw):
    base = dict(data="sample", max_steps=40, val_every=20, checkpoint_every=10, val_size=200, n_samples=16,
                warmup_steps=5)
    base.update(kw)
    return LMTrainConfig.from_preset("tiny", **base)


def test_train_loss_falls_and_model_saved(tmp_path):
    run = tmp_path / "run"
    metrics = train_language_model(_tiny_cfg(), run, verbose=False)
    with open(run / "log.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["train_loss"]]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) - 0.3
    assert metrics["steps"] == 40 == metrics["val_step"] and metrics["val_nll"] < 3.0
    model, vocab, tok, meta = load_lm(run / "model")
    assert meta["training"]["steps"] == 40 and meta["training"]["data_sha256"]
    for f in ("config.json", "metrics.json", "log.csv", "checkpoints/last.ckpt", "data/train.smi"):
        assert (run / f).exists(), f


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path, sample_smiles, monkeypatch):
    """``kill -9`` mid-run, then the same command again: the run continues from the checkpoint (not from step 0)
    and ends with the weights and loss of an uninterrupted run of the same command."""
    data = tmp_path / "small.smi"
    data.write_text("\n".join(sample_smiles[:300]) + "\n")
    args = ["lm", "train", "--data", str(data), "--preset", "tiny", "--max-steps", "300", "--checkpoint-every", "10",
            "--val-every", "100000", "--val-size", "0", "--precision", "32", "--device", "cpu", "--seed", "3"]
    run = tmp_path / "run"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the killed run, its resumption and the straight run alike
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "chemrnn", "-q", *args, "-o", str(run)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        ckpt = run / "checkpoints" / "last.ckpt"
        deadline = time.time() + 120
        while time.time() < deadline and not ckpt.exists() and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        killed_at = torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]
        assert 10 <= killed_at < 300
        assert main(["-q", *args, "-o", str(run)]) == 0  # the same command resumes
        assert main(["-q", *args, "-o", str(tmp_path / "straight")]) == 0
    finally:
        torch.set_num_threads(threads)
    resumed = json.loads((run / "metrics.json").read_text())
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert resumed["resumed_from"] == killed_at and straight["resumed_from"] is None
    assert resumed["steps"] == straight["steps"] == 300
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], rel=1e-4)
    a, b = load_lm(run / "model")[0].state_dict(), load_lm(tmp_path / "straight" / "model")[0].state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    with open(run / "log.csv") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == sorted(set(steps)) and steps[-1] == 300


def test_finetune_lowers_nll_of_actives(tmp_path, shared_data):
    prior_run = tmp_path / "prior"
    train_language_model(_tiny_cfg(max_steps=60, val_size=0), prior_run, verbose=False)
    actives = tmp_path / "actives.smi"
    from chemrnn.io import load_smiles_list

    act = load_smiles_list(shared_data / "actives" / "jnk3_train.smi.gz")[:64]
    actives.write_text("\n".join(act) + "\n")
    model, vocab, tok, _ = load_lm(prior_run / "model")
    spellable = [s for s in act if all(t in vocab for t in tok.tokenize(s))]
    before = likelihood(model, vocab, tok, spellable).mean()
    cfg = LMTrainConfig(data=str(actives), preset="finetune", init_from=str(prior_run / "model"), batch_size=16,
                        lr=3e-3, max_steps=40, warmup_steps=5, val_size=0, n_samples=0, unknown="skip",
                        embedding_dim=16, hidden_size=32, num_layers=1, checkpoint_every=20)
    train_language_model(cfg, tmp_path / "ft", verbose=False)
    ft, vocab2, tok2, _ = load_lm(tmp_path / "ft" / "model")
    assert vocab2.tokens == vocab.tokens  # the prior's vocabulary is kept
    after = likelihood(ft, vocab2, tok2, spellable).mean()
    assert after < before - 1.0
    skipped = len(act) - len(spellable)
    if skipped:
        assert (tmp_path / "ft" / "data" / "train.vocabulary_rejects.csv").exists()


def test_recovery_and_generator(tmp_path, vocab):
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(len(vocab), 8, 16, 1))
    path = save_language_model(tmp_path / "m.chemrnn", model.eval(), vocab, "atom")
    res = draw(path, 300, seed=1, max_length=40)
    assert len(res["written"]) == 300
    canonical = [chem.canonical_or_none(x) for x in res["written"]]
    assert res["valid"] == sum(c is not None for c in canonical) and res["unique"] == len(set(canonical) - {None})
    # held-out molecules drawn with one seed, recovered by sampling with another: a model that writes carbon chains
    # (C or <eos> each step, even odds) writes its short chains again; it never writes the 30-atom amine
    with torch.no_grad():
        model.head.bias.fill_(-20.0)
        model.head.bias[vocab.tokens.index("C")] = model.head.bias[vocab.eos_id] = 0.0
    chains = save_language_model(tmp_path / "chains.chemrnn", model.eval(), vocab, "atom")
    drawn = list(dict.fromkeys(c for c in draw(chains, 100, seed=1, max_length=40)["canonical"] if c))[:3]
    assert len(drawn) == 3 and all(set(c) == {"C"} for c in drawn)
    heldout = tmp_path / "heldout.smi"
    heldout.write_text("\n".join(drawn + ["CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCN"]) + "\n")
    rec = recovery(chains, heldout, n=300, seed=2)
    again = set(draw(chains, 300, seed=2)["canonical"])  # the same 300 samples, drawn apart from recovery
    assert rec["heldout"] == 4 and rec["recovered"] == len(again & set(drawn)) == 3
    assert rec["examples"] == sorted(drawn) and rec["fraction"] == 0.75
    gen = Generator(path, seed=5)
    out = gen.generate(20)
    assert isinstance(out, list) and len(out) == 20 and all(isinstance(s, str) for s in out)


def test_shipped_prior_samples_valid_molecules():
    """The prior shipped in the package loads (safetensors + JSON) and writes mostly valid molecules."""
    from chemrnn.api import shipped_prior

    path = shipped_prior()
    assert path.stat().st_size <= 25 * 2**20
    res = draw(None, 200, seed=0)
    assert res["valid"] / 200 > 0.8
    lecture = draw(None, 20, seed=0, impl="lecture", max_length=60)
    fused = draw(None, 20, seed=0, max_length=60)
    assert lecture["written"] == fused["written"]  # the same weights run on the lecture's cells


def test_recovery_curve_and_novel_only_sampling(tmp_path, capsys):
    """A tiny model trained on 40 small molecules: the recovery curve has a point every 100 samples that ends on
    the totals, and novel_only writes each valid molecule once and none of the training molecules (the model's own
    training data, read from its file)."""
    train = [f"{'C' * k}{end}" for k in range(1, 11) for end in ("", "O", "N", "Cl")]
    data = tmp_path / "train.smi"
    data.write_text("\n".join(train) + "\n")
    run = tmp_path / "run"
    assert main(["-q", "lm", "train", "--data", str(data), "--preset", "tiny", "--max-steps", "150", "--val-size", "0",
                 "--precision", "32", "--device", "cpu", "-o", str(run)]) == 0
    model = str(run / "model")
    from chemrnn.api import training_sources

    assert [os.path.basename(s) for s in training_sources(model)] == ["train.smi"]
    known = {chem.canonical_or_none(s) for s in train}
    full = draw(model, 400, seed=2)
    valid = [c for c in full["canonical"] if c]
    regenerated = {c for c in valid if c in known}
    assert regenerated, "the tiny model regenerates some training molecules: the filter has work to do"
    novel = draw(model, 400, seed=2, novel_only=True)
    assert novel["written"] and novel["written"] == list(dict.fromkeys(c for c in valid if c not in known))
    capsys.readouterr()
    assert main(["lm", "sample", model, "-n", "400", "--seed", "2", "--novel-only", "--device", "cpu"]) == 0
    out = capsys.readouterr()
    assert out.out.split() == novel["written"] and f"novel {len(novel['written'])}" in out.err
    heldout = tmp_path / "heldout.smi"
    heldout.write_text("\n".join(sorted(regenerated)) + "\n")
    rec = recovery(model, heldout, n=400, seed=2, every=100, train="auto")
    assert [p["samples"] for p in rec["curve"]] == [100, 200, 300, 400]
    assert [p["recovered"] for p in rec["curve"]] == sorted(p["recovered"] for p in rec["curve"])
    assert rec["curve"][-1]["recovered"] == rec["recovered"] == len(regenerated) and rec["fraction"] == 1.0
    unique = set(valid)
    assert rec["novelty"] == pytest.approx(len(unique - known) / len(unique))
    assert sum(p["new_per_10k"] for p in rec["curve"]) * 100 / 10_000 == pytest.approx(rec["recovered"])


@pytest.mark.slow
def test_temperature_sweep_in_lm_evaluate(tmp_path, capsys):
    """lm evaluate --model … --temperatures: one row per temperature, each the metrics of its own samples, and a
    colder softmax writes more valid molecules than a hot one."""
    out = tmp_path / "sweep"
    assert main(["lm", "evaluate", "--model", "shipped", "--temperatures", "0.6,2.0", "-n", "200", "--test",
                 "moses:test_sample", "--n-ref", "200", "--no-fcd", "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    with open(out / "sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["temperature"]) for r in rows] == [0.6, 2.0] and "temperature" in stdout
    assert float(rows[0]["validity"]) > float(rows[1]["validity"])
    for r in rows:
        metrics = json.loads((out / f"T{float(r['temperature']):g}" / "metrics.json").read_text())
        assert metrics["validity"] == pytest.approx(float(r["validity"]))
        samples = (out / f"T{float(r['temperature']):g}" / "samples.smi").read_text().splitlines()
        assert len(samples) == 200
    assert main(["lm", "evaluate", str(out / "T0.6" / "samples.smi"), "--model", "shipped", "-o", str(tmp_path)]) == 2


def test_a_bad_line_in_the_reference_is_named_without_a_hint_that_does_not_apply(tmp_path, capsys):
    """--skip-bad-lines governs the samples file of lm evaluate, not its reference: no hint to use it there."""
    ref = tmp_path / "ref.smi"
    ref.write_bytes(b"CCO\nCC\xe9N\n")
    code = main(["lm", "evaluate", "--model", "shipped", "-n", "5", "--test", str(ref), "--no-fcd",
                 "-o", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert code == 2 and f"{ref}:2" in err and "--skip-bad-lines" not in err


def test_the_shipped_priors_are_chosen_by_name(capsys):
    """Both priors ship and load offline by name wherever a model is taken: moses (also ``shipped``, the default)
    and chembl, whose wider vocabulary spells what MOSES cannot (charges, P, I, B …); each ≤ 25 MB."""
    from chemrnn.datasets import resolve_model

    moses, chembl = resolve_model("moses", "language"), resolve_model("chembl", "language")
    assert resolve_model("shipped", "language") == moses != chembl
    assert chembl.stat().st_size <= 25 * 2**20
    moses_tokens, chembl_tokens = set(load_lm("moses")[1].tokens), set(load_lm("chembl")[1].tokens)
    assert {"P", "I", "[N+]", "[O-]"} <= chembl_tokens and not {"P", "I"} & moses_tokens
    res = draw("chembl", 200, seed=0)
    assert res["valid"] / 200 > 0.6
    capsys.readouterr()
    assert main(["lm", "sample", "chembl", "-n", "5", "--seed", "1", "--device", "cpu"]) == 0
    assert len(capsys.readouterr().out.split("\n")) == 6


def test_finetune_takes_the_chembl_prior_when_no_prior_is_named(tmp_path, sample_smiles, capsys):
    """``lm finetune ACTIVES`` (one argument) fine-tunes the shipped ChEMBL prior, the one for a target's actives;
    ``lm finetune PRIOR ACTIVES`` still takes the prior named; a model named alone is refused, not trained on."""
    from chemrnn.datasets import resolve_model

    actives = tmp_path / "actives.smi"
    actives.write_text("\n".join(sample_smiles[:24]) + "\n")
    assert main(["-q", "lm", "finetune", str(actives), "-o", str(tmp_path / "ft"), "--epochs", "1",
                 "--batch-size", "24", "--device", "cpu"]) == 0
    config = json.loads((tmp_path / "ft" / "config.json").read_text())["config"]
    assert resolve_model(config["init_from"], "language") == resolve_model("chembl", "language")
    assert main(["-q", "lm", "finetune", "moses", str(actives), "-o", str(tmp_path / "ft2"), "--epochs", "1",
                 "--batch-size", "24", "--device", "cpu"]) == 0
    config = json.loads((tmp_path / "ft2" / "config.json").read_text())["config"]
    assert resolve_model(config["init_from"], "language") == resolve_model("moses", "language")
    capsys.readouterr()
    assert main(["lm", "finetune", "moses", "-o", str(tmp_path / "ft3")]) == 2  # a model alone: not the actives
    assert "name the actives" in capsys.readouterr().err and not (tmp_path / "ft3").exists()


def test_novel_only_knows_the_default_models_training_set_and_refuses_a_model_that_records_none(tmp_path, vocab):
    """``lm sample --novel-only`` without a model checks against the shipped prior's training set (it used to
    check against nothing and still call every molecule novel); a model file that records no training data is an
    error naming it, before any sampling."""
    from chemrnn.api import training_sources
    from chemrnn.errors import InputError

    default = training_sources(None)
    assert default == training_sources("shipped") and default
    assert any("moses" in os.path.basename(str(s)) for s in default)
    bare = save_language_model(tmp_path / "bare.chemrnn", LanguageModel(LMConfig(len(vocab), 8, 16, 1)).eval(),
                               vocab, "atom")
    with pytest.raises(InputError, match="records no training data"):
        training_sources(bare)
    out = tmp_path / "never.smi"
    assert main(["lm", "sample", str(bare), "-n", "5", "--novel-only", "-o", str(out)]) == 2
    assert not out.exists()


NO_VALID_MOLECULE = {
    "ids.smi": "mol1\tCCO\nmol2\tc1ccccc1O\nmol3\tCC(=O)Nc1ccc(O)cc1\n",  # ID<TAB>SMILES: the first field is read
    "blank.smi": "\n\n   \n",
    "invalid.smi": "C1CC\nnot_a_smiles\nc1cccc1\n",
}


def _samples(tmp_path):
    samples = tmp_path / "samples.smi"
    samples.write_text("CCO\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\nCCN\nC1CC\n")
    return samples


@pytest.mark.parametrize("name", list(NO_VALID_MOLECULE))
def test_novelty_against_a_training_set_without_a_valid_molecule_is_refused(tmp_path, capsys, name):
    """lm evaluate --train FILE printed novelty 1.0000 when FILE had no valid molecule (every sample is 'novel'
    against nothing): refused, naming the file, before anything is written."""
    train = tmp_path / name
    train.write_text(NO_VALID_MOLECULE[name])
    out = tmp_path / "ev"
    assert main(["lm", "evaluate", str(_samples(tmp_path)), "--train", str(train), "--test", "moses:test_sample",
                 "--n-ref", "50", "--no-fcd", "-o", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{train}: no valid molecule in the training set" in err and "Traceback" not in err
    assert not out.exists()


def test_novelty_reports_how_many_training_molecules_it_was_measured_against(tmp_path, capsys):
    train = tmp_path / "train.smi"
    train.write_text("CCO\nOCC\nCCN\nnot_a_smiles\n")  # 2 distinct valid molecules
    out = tmp_path / "ev"
    assert main(["lm", "evaluate", str(_samples(tmp_path)), "--train", str(train), "--test", "moses:test_sample",
                 "--n-ref", "50", "--no-fcd", "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_molecules"] == 2 and metrics["novelty"] == pytest.approx(2 / 4)
    assert [line.replace("│", " ").split() for line in stdout.splitlines() if "train_molecules" in line] == \
        [["train_molecules", "2"]], stdout


@pytest.mark.parametrize("name", ["blank.smi", "invalid.smi"])
def test_a_reference_without_a_valid_molecule_is_refused_naming_the_file(tmp_path, capsys, name):
    """lm evaluate --test with a blank or all-invalid file stopped with 'ValueError: need at least one array to
    stack' (exit 1)."""
    ref = tmp_path / name
    ref.write_text(NO_VALID_MOLECULE[name])
    out = tmp_path / "ev"
    assert main(["lm", "evaluate", str(_samples(tmp_path)), "--test", str(ref), "--no-fcd", "-o", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{ref}: no valid molecule in the reference set" in err and "ValueError" not in err
    assert not out.exists()


def test_the_demo_refuses_a_training_set_without_a_valid_molecule_before_sampling(tmp_path, capsys):
    train = tmp_path / "ids.smi"
    train.write_text(NO_VALID_MOLECULE["ids.smi"])
    run = tmp_path / "run"
    model = str(ROOT / "tests" / "data" / "lm_schema1.chemrnn")
    assert main(["demo", "-o", str(run), "--model", model, "-n", "20", "--no-fcd", "--train", str(train)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{train}: no valid molecule in the training set" in err
    assert not (run / "samples.smi").exists()
