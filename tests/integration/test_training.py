"""Training on Lightning (chemrnn.training): resumed runs match uninterrupted ones, per-rank buckets, time caps
that anneal, honest records (final validation, held-out sizes, warm-up, epochs of a fine-tune, quiet), the run
directory lock, and bad input refused before anything is written. Tiny models on 200 molecules, a few seconds each.
"""
import csv
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from chemrnn.cli import main
from chemrnn.errors import InputError
from chemrnn.models.language import LanguageModel, load_language_model
from chemrnn.training import LMTrainConfig, PropertyTrainConfig, train_language_model, train_property_model
from chemrnn.training.checks import resolve_precision
from chemrnn.training.data import ResumableBuckets


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small(tmp_path_factory, sample_smiles):
    """200 molecules of the shipped sample: 180 train / 20 valid, 6 batches of 32 an epoch."""
    path = tmp_path_factory.mktemp("data") / "small.smi"
    path.write_text("\n".join(sample_smiles[:200]) + "\n")
    return path


def tiny(data, **kw):
    base = dict(data=str(data), max_steps=30, val_every=10, checkpoint_every=10, val_size=20, n_samples=0,
                warmup_steps=5, precision="32", device="cpu")
    return LMTrainConfig.from_preset("tiny", **{**base, **kw})


def log_rows(run):
    with open(run / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail any torch.load that would unpickle arbitrary objects (weights_only=False)."""
    real = torch.load

    def guarded(*args, **kwargs):
        assert kwargs.get("weights_only") is not False, "a checkpoint was loaded with weights_only=False"
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", guarded)


class SimulatedCrash(Exception):
    pass


@pytest.fixture
def batches_seen(monkeypatch):
    """A fingerprint of every training batch, in order; ``crash_at[0] = k`` raises at the k-th batch."""
    seen, crash_at, real = [], [None], LanguageModel.loss

    def loss(self, ids):
        if self.training:
            seen.append((ids.shape, int((ids * torch.arange(ids.shape[1])).sum())))
            if crash_at[0] is not None and len(seen) == crash_at[0]:
                raise SimulatedCrash()
        return real(self, ids)

    monkeypatch.setattr(LanguageModel, "loss", loss)
    return seen, crash_at


def weights(run):
    return load_language_model(run / "model")[0].state_dict()


# ------------------------------------------------------------------------------------------- resume
def test_resumed_runs_match_the_uninterrupted_run(tmp_path, small, batches_seen, no_unpickling):
    """A crash after step 12 (resumed from the step-10 checkpoint) and a run stopped at max_steps=17 then extended
    to 30 both end where the straight run to 30 ends: same batches after the resume point, same weights, loss and
    learning curve (epoch column included), one row per step, elapsed time carried across sittings. Dropout is on,
    so the random state must be restored too; the warm-up (15 steps) spans both resume points, so must the
    scheduler's. The LR is flat after the warm-up, so that max_steps=17 does not change the schedule."""
    seen, crash_at = batches_seen
    cfg = dict(dropout=0.2, warmup_steps=15, min_lr_ratio=1.0, n_samples=4)
    straight = train_language_model(tiny(small, **cfg), tmp_path / "straight", verbose=False)
    order = list(seen)
    assert len(order) == 30 and len({s for s in order}) > 20

    seen.clear()
    crash_at[0] = 13
    with pytest.raises(SimulatedCrash):
        train_language_model(tiny(small, **cfg), tmp_path / "crash", verbose=False)
    crash_at[0] = None
    assert len(log_rows(tmp_path / "crash")) == 1  # step 10 only: the crashed sitting wrote no step past 12
    spent = torch.load(tmp_path / "crash" / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"]["Timing"]
    seen.clear()
    crashed = train_language_model(tiny(small, **cfg), tmp_path / "crash", verbose=False)
    assert crashed["resumed_from"] == 10 and seen == order[10:]

    seen.clear()
    train_language_model(tiny(small, **cfg, max_steps=17), tmp_path / "extended", verbose=False)
    assert seen == order[:17]
    seen.clear()
    extended = train_language_model(tiny(small, **cfg), tmp_path / "extended", verbose=False)
    assert extended["resumed_from"] == 17 and seen == order[17:]

    base = weights(tmp_path / "straight")
    for name, metrics in (("crash", crashed), ("extended", extended)):
        assert metrics["steps"] == straight["steps"] == 30
        assert metrics["train_loss"] == pytest.approx(straight["train_loss"], rel=1e-4)
        assert metrics["val_nll"] == pytest.approx(straight["val_nll"], rel=1e-4)
        w = weights(tmp_path / name)
        assert all(torch.allclose(w[k], base[k], atol=1e-5) for k in base), name
        rows = log_rows(tmp_path / name)
        steps = [int(r["step"]) for r in rows]
        assert steps == sorted(set(steps))  # one row per step, none repeated by the resumed sitting
        elapsed = [float(r["elapsed_s"]) for r in rows]
        assert elapsed == sorted(elapsed)  # total time over the sittings, not restarted
        if name == "crash":
            assert all(float(r["elapsed_s"]) >= spent["elapsed_s"] - 0.05 for r in rows if int(r["step"]) > 10)
        epochs = {int(r["step"]): r["epoch"] for r in rows}
        assert all(epochs[s] == r["epoch"] for r in log_rows(tmp_path / "straight") if (s := int(r["step"])) in epochs)
        assert epochs[30] == "4"  # 180 molecules in 6 batches: step 30 is the last batch of the 5th epoch


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("n, batch_size", [(1000, 32), (101, 7), (7, 3)])
def test_resumable_buckets_deal_every_index_once(world, n, batch_size):
    """Across the ranks of one epoch every index comes exactly once, each rank gets as many batches, and a rank
    that resumes after ``skip`` batches yields exactly the rest of its share (its length stays the whole share,
    which Lightning counts from the restored batch)."""
    lengths = np.random.default_rng(n).integers(5, 60, n)
    for epoch in (0, 3):
        shares = []
        for rank in range(world):
            s = ResumableBuckets(lengths, batch_size, seed=1, rank=rank, world=world)
            s.set_epoch(epoch)
            shares.append(list(s))
            assert len(s) == len(shares[-1])
        assert len({len(s) for s in shares}) == 1
        assert sorted(i for share in shares for b in share for i in b) == list(range(n))
        for skip in (1, len(shares[0]) // 2):
            rest = []
            for rank in range(world):
                s = ResumableBuckets(lengths, batch_size, seed=1, skip=skip, rank=rank, world=world)
                s.set_epoch(epoch)
                rest.append(list(s))
                assert rest[-1] == shares[rank][skip:] and len(s) == len(shares[rank])
            done = [i for share in shares for b in share[:skip] for i in b]
            assert sorted(done + [i for r in rest for b in r for i in b]) == list(range(n))


# ------------------------------------------------------------------------------------------- schedule
@pytest.mark.slow
def test_time_capped_run_anneals_over_its_sittings(tmp_path, small):
    """With --max-minutes the cosine schedule runs on the time spent too: the LR ends at its minimum although
    max_steps is far away; a resumed run counts the time of the earlier sitting."""
    run = tmp_path / "run"
    cfg = dict(max_steps=100_000, val_size=0, checkpoint_every=1000, min_lr_ratio=0.05)
    first = train_language_model(tiny(small, max_minutes=0.03, **cfg), run, verbose=False)
    lr = tiny(small).lr
    assert 5 < first["steps"] < 100_000 and first["elapsed_s"] >= 1.8
    assert first["lr"] == pytest.approx(lr * 0.05)
    assert float(log_rows(run)[-1]["lr"]) == pytest.approx(lr * 0.05) and int(log_rows(run)[-1]["step"]) == first[
        "steps"]
    second = train_language_model(tiny(small, max_minutes=0.08, **cfg), run, verbose=False)
    assert second["resumed_from"] == first["steps"] and second["steps"] > first["steps"]
    # the second sitting trains until the total reaches 4.8 s: about 3 s, not 4.8 s more
    assert second["elapsed_s"] >= 4.8 and second["seconds_this_session"] < 4.5
    assert [float(r["elapsed_s"]) for r in log_rows(run)] == sorted(float(r["elapsed_s"]) for r in log_rows(run))
    assert second["lr"] == pytest.approx(lr * 0.05)


def test_warm_up_longer_than_the_run_is_shortened_and_said(tmp_path, small, capsys):
    m = train_language_model(tiny(small, max_steps=20, warmup_steps=200, val_size=0), tmp_path / "run",
                             verbose=False)
    assert "warm-up (200 steps)" in capsys.readouterr().err
    assert m["warmup_steps"] == 2 and m["lr"] == pytest.approx(tiny(small).lr * tiny(small).min_lr_ratio)


# ------------------------------------------------------------------------------------------- records
def test_metrics_are_the_final_steps_and_sizes_are_the_held_out_ones(tmp_path, small, capsys):
    """metrics.json's val_nll is the last step's (a validation runs at the end when the last step was none);
    config.json records the validation size held out (20 of 200), beside the one asked for (5000), and says so."""
    run = tmp_path / "run"
    m = train_language_model(tiny(small, max_steps=25, val_size=5000, n_samples=4, precision="auto"), run)
    out = capsys.readouterr().out
    assert "not the 5,000 asked" in out and "sampled validity" in out
    rows = log_rows(run)
    assert rows[-1]["step"] == "25" and float(rows[-1]["val_nll"]) == pytest.approx(m["val_nll"])
    assert float(rows[-1]["train_loss"]) == pytest.approx(m["train_loss"])
    assert m["val_step"] == m["steps"] == 25 and json.loads((run / "metrics.json").read_text())["val_step"] == 25
    config = json.loads((run / "config.json").read_text())
    assert config["sizes"]["valid"] == 20 == m["val_size"] and config["sizes"]["val_size_requested"] == 5000
    assert config["sizes"]["train"] == 180 == m["train_size"]
    assert config["config"]["precision"] == resolve_precision("auto", "cpu") != "auto"  # the resolved one


def test_quiet_run_prints_nothing_but_results(tmp_path, small, capsys):
    """Quiet: nothing on stdout or stderr; the results (validity of the 4 molecules sampled at each validation,
    the validation NLL) are in the returned metrics, metrics.json and log.csv, and the model is saved."""
    run = tmp_path / "run"
    m = train_language_model(tiny(small, max_steps=10, val_every=5, n_samples=4), run, verbose=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert m["validity"] in (0.0, 0.25, 0.5, 0.75, 1.0) and m["steps"] == 10 and m["val_nll"] > 0
    rows = [r for r in log_rows(run) if r["validity"]]
    assert [r["step"] for r in rows] == ["5", "10"] and float(rows[-1]["validity"]) == m["validity"]
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["validity"] == m["validity"] and saved["val_nll"] == pytest.approx(m["val_nll"])
    assert (run / "model").exists()


def test_finetune_counts_epochs_over_the_actives_trained_on(tmp_path, small, sample_smiles, capsys):
    """``lm finetune --epochs 2 --val-size 5`` runs exactly 2 epochs over the actives left after preparation
    (duplicates and invalid lines dropped) and the validation split, and says how many those are."""
    prior = tmp_path / "prior"
    train_language_model(tiny(small, max_steps=10, val_size=0), prior, verbose=False)
    actives = tmp_path / "actives.smi"
    picked = sample_smiles[:60]  # spellable with the prior's vocabulary
    actives.write_text("\n".join(picked + picked[:20] + ["not_a_smiles", "C1CC"]) + "\n")  # 82 lines, 60 kept
    out_dir = tmp_path / "ft"
    assert main(["lm", "finetune", str(prior / "model"), str(actives), "-o", str(out_dir), "--epochs", "2",
                 "--batch-size", "16", "--val-size", "5", "--device", "cpu"]) == 0
    m = json.loads((out_dir / "metrics.json").read_text())
    per_epoch = math.ceil(m["train_size"] / 16)
    assert m["val_size"] == 5 and m["train_size"] == 55 and m["steps"] == 2 * per_epoch and m["epochs"] == 2.0
    said = capsys.readouterr()
    assert f"2 epochs over {m['train_size']:,} actives" in " ".join((said.out + said.err).split())
    assert max(int(r["epoch"]) for r in log_rows(out_dir)) == 1


def test_a_crashed_finetune_resumes_from_its_last_epoch_and_ends_as_an_uninterrupted_one(tmp_path, small,
                                                                                       sample_smiles, batches_seen):
    """A fine-tune checkpoints once an epoch: crashed in its third epoch, it has the second epoch's checkpoint, and
    the rerun trains only the batches after it and ends with the straight run's weights, learning curve and best
    epoch (dropout on, so the random state rides along; the best epoch's weights and early stopping's count too)."""
    seen, crash_at = batches_seen
    prior = tmp_path / "prior"
    train_language_model(tiny(small, max_steps=10, val_size=0, dropout=0.2), prior, verbose=False)
    actives = tmp_path / "actives.smi"
    actives.write_text("\n".join(sample_smiles[:80]) + "\n")
    args = [str(prior / "model"), str(actives), "--epochs", "4", "--batch-size", "16", "--val-size", "16",
            "--device", "cpu"]
    seen.clear()
    assert main(["-q", "lm", "finetune", *args, "-o", str(tmp_path / "straight")]) == 0
    order = list(seen)
    per_epoch = json.loads((tmp_path / "straight" / "metrics.json").read_text())["steps"] // 4
    assert len(order) == 4 * per_epoch and per_epoch >= 4  # 64 actives trained on, 16 a batch (bucketed)

    seen.clear()
    crash_at[0] = 2 * per_epoch + 2
    assert main(["-q", "lm", "finetune", *args, "-o", str(tmp_path / "crash")]) == 1
    crash_at[0] = None
    ckpt = torch.load(tmp_path / "crash" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2 * per_epoch
    seen.clear()
    assert main(["-q", "lm", "finetune", *args, "-o", str(tmp_path / "crash")]) == 0
    assert seen == order[2 * per_epoch:]

    straight, crashed = weights(tmp_path / "straight"), weights(tmp_path / "crash")
    assert all(torch.equal(straight[k], crashed[k]) for k in straight)
    drop = ("elapsed_s", "tokens_per_s")
    assert ([{k: v for k, v in r.items() if k not in drop} for r in log_rows(tmp_path / "crash")]
            == [{k: v for k, v in r.items() if k not in drop} for r in log_rows(tmp_path / "straight")])
    m1, m2 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("straight", "crash"))
    assert m1["best_epoch"] == m2["best_epoch"] and m1["best_val_nll"] == pytest.approx(m2["best_val_nll"])


def test_patience_without_the_best_epoch_kept_is_refused(tmp_path, capsys):
    """Patience stops a run at its best validation epoch; with the last epoch kept it would be ignored: refused."""
    actives = tmp_path / "actives.smi"
    actives.write_text("CCO\nc1ccccc1O\n")
    assert main(["lm", "finetune", "moses", str(actives), "-o", str(tmp_path / "ft"), "--keep-last",
                 "--patience", "2"]) == 2
    err = capsys.readouterr().err
    assert "--keep-last does not keep" in err and "Traceback" not in err and not (tmp_path / "ft").exists()
    with pytest.raises(InputError, match="patience stops at the best validation epoch"):
        LMTrainConfig(data="x.smi", epochs=2, patience=2)


def test_finetune_keeps_the_best_epoch_and_stops_when_it_stops_improving(tmp_path, small, sample_smiles, capsys):
    """With a learning rate that overshoots, validation NLL rises after its best epoch: the run stops ``patience``
    epochs later, and the model saved is the best epoch's (its NLL on the held-out actives is the best in log.csv,
    not the last); the curve is in log.csv."""
    from chemrnn.batching import collate
    from chemrnn.training.data import split_valid
    from chemrnn.batching import TokenCache

    prior = tmp_path / "prior"
    train_language_model(tiny(small, max_steps=10, val_size=0), prior, verbose=False)
    actives = tmp_path / "actives.smi"
    actives.write_text("\n".join(sample_smiles[200:300]) + "\n")
    out_dir = tmp_path / "ft"
    assert main(["lm", "finetune", str(prior / "model"), str(actives), "-o", str(out_dir), "--epochs", "30",
                 "--batch-size", "8", "--lr", "3e-2", "--patience", "2", "--device", "cpu"]) == 0
    m = json.loads((out_dir / "metrics.json").read_text())
    curve = [float(r["val_nll"]) for r in log_rows(out_dir) if r["val_nll"]]
    assert m["val_size"] == (m["train_size"] + m["val_size"]) // 10  # a tenth held out by default
    assert m["stopped_early"] and len(curve) < 30
    best = int(np.argmin(curve))
    assert len(curve) == best + 1 + 2 and curve[-1] > curve[best]  # patience 2, then stopped
    assert m["best_val_nll"] == pytest.approx(curve[best]) and m["best_epoch"] == pytest.approx(best + 1, abs=0.01)
    # the saved model's NLL per token on the validation actives is the best epoch's, not the last one's
    train = TokenCache.load(out_dir / "data" / "train.npz")
    _, valid = split_valid(train, 10, 0)
    model = load_language_model(out_dir / "model")[0]
    ids, _ = collate([valid[i] for i in range(len(valid))])
    with torch.no_grad():
        nll = model.token_nll(ids)
    per_token = float(nll.sum() / (ids[:, 1:] != 0).sum())
    assert per_token == pytest.approx(curve[best], abs=1e-4) and abs(per_token - curve[-1]) > 1e-3
    said = capsys.readouterr()
    assert f"kept epoch {best + 1}" in " ".join((said.out + said.err).split())


def test_finetune_augments_with_randomized_smiles_of_the_trained_actives_only(tmp_path, small, sample_smiles,
                                                                              capsys):
    """``lm finetune --augment 3`` adds 3 randomized spellings of every trained active (none of a validation
    molecule), epochs count over all of them, and the summary tells molecules from SMILES."""
    from chemrnn.chem import canonical_or_none
    from chemrnn.tokens import get_tokenizer
    from chemrnn.training.data import LMDataModule

    prior = tmp_path / "prior"
    train_language_model(tiny(small, max_steps=10, val_size=0), prior, verbose=False)
    actives = tmp_path / "actives.smi"
    actives.write_text("\n".join(sample_smiles[:60]) + "\n")
    out_dir = tmp_path / "ft"
    assert main(["lm", "finetune", str(prior / "model"), str(actives), "-o", str(out_dir), "--epochs", "1",
                 "--batch-size", "16", "--val-size", "5", "--augment", "3", "--seed", "5000", "--device", "cpu"]) == 0
    m = json.loads((out_dir / "metrics.json").read_text())
    sizes = json.loads((out_dir / "config.json").read_text())["sizes"]
    assert m["train_molecules"] == sizes["train_molecules"] == 55 and sizes["augment"] == 3
    assert m["train_size"] == 55 * 4 - sizes["augment_dropped"] and sizes["augment_dropped"] < 55
    assert m["steps"] == math.ceil(m["train_size"] / 16)
    said = " ".join("".join(capsys.readouterr()).split())
    assert f"over 55 actives, {m['train_size']:,} SMILES with the randomized ones" in said
    assert main(["lm", "finetune", str(prior / "model"), str(actives), "-o", str(out_dir), "--epochs", "2",
                 "--batch-size", "16", "--val-size", "5", "--augment", "2", "--seed", "5000", "--device", "cpu"]) == 2
    assert "augment" in capsys.readouterr().err  # another augmentation is another run, not a resume

    dm = LMDataModule(str(actives), str(tmp_path / "dm"), val_size=5, augment=3, seed=5000,
                      init_from=str(prior / "model"), unknown="skip", verbose=False)
    dm.prepare_data()
    dm.setup()
    tok, vocab = get_tokenizer("atom"), dm.vocabulary
    spelled = [tok.detokenize(vocab.decode(dm.train_cache[i])) for i in range(len(dm.train_cache))]
    originals, variants = spelled[:55], spelled[55:]
    valid = {canonical_or_none(tok.detokenize(vocab.decode(dm.valid_cache[i]))) for i in range(5)}
    canon = {canonical_or_none(s) for s in originals}
    assert len(variants) == m["train_size"] - 55 and {canonical_or_none(s) for s in variants} <= canon
    assert not canon & valid and sum(v not in originals for v in variants) > len(variants) // 2


def test_property_training_keeps_best_weights_without_unpickling(tmp_path, no_unpickling):
    """Property training restores its best validation weights from memory (no checkpoint loaded with
    weights_only=False, none written) and, with 5 batches an epoch, no logging-interval warning leaks."""
    from chemrnn.datasets import sample_path

    data = tmp_path / "small.csv"
    import gzip

    with gzip.open(sample_path(), "rt") as fh:
        data.write_text("".join(next(fh) for _ in range(400)))
    cfg = PropertyTrainConfig(data=str(data), max_epochs=3, hidden_size=16, embedding_dim=8, mlp_hidden=16,
                              batch_size=64, patience=3, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = train_property_model(cfg, tmp_path / "run", verbose=False)
    assert not [w for w in caught if "log_every_n_steps" in str(w.message) or "logging interval" in str(w.message)]
    assert m["_run"]["best_epoch"] is not None and m["_run"]["best_val_loss"] > 0
    assert not (tmp_path / "run" / "checkpoints").exists() and (tmp_path / "run" / "model").exists()


# ------------------------------------------------------------------------------------------- lock
HOLD = ("import sys, time\nfrom chemrnn.training.lock import run_lock\nwith run_lock(sys.argv[1], 'lm train -o RUN'):\n"
        "    print('locked', flush=True)\n    time.sleep(120)\n")


@pytest.mark.slow
def test_second_run_into_a_locked_directory_is_refused(tmp_path, small, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(InputError, match=f"pid {holder.pid} .*lm train -o RUN"):
            train_language_model(tiny(small, max_steps=5), run, verbose=False)
        assert main(["lm", "train", "--data", str(small), "--preset", "tiny", "--max-steps", "5", "-o", str(run)]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written by the refused runs
    finally:
        holder.kill()
        holder.wait()
    assert train_language_model(tiny(small, max_steps=5), run, verbose=False)["steps"] == 5  # released by the kill


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("option, value, said", [
    ("--cell", "transformer", "cell"), ("--impl", "cuda", "impl"), ("--tokenizer", "bpe", "tokenizer"),
    ("--precision", "fp8", "precision"), ("--batch-size", "0", "--batch-size"), ("--dropout", "1.5", "--dropout"),
    ("--data", "missing.smi", "missing.smi"), ("--valid", "missing_valid.smi", "missing_valid.smi")])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, small, capsys, option, value, said):
    run = tmp_path / "run"
    args = ["lm", "train", "--data", str(small), "--preset", "tiny", "--max-steps", "5", "-o", str(run)]
    assert main([*args, option, value]) == 2
    assert said in capsys.readouterr().err and not run.exists()


def test_bad_data_found_while_preparing_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.smi"
    bad.write_text("not_a_smiles\nC1CC\n")
    run = tmp_path / "run"
    with pytest.raises(InputError, match="no usable SMILES|no molecule kept"):
        train_language_model(tiny(bad), run, verbose=False)
    assert not run.exists()
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(InputError):
        train_language_model(tiny(bad), run, verbose=False)
    assert sorted(p.name for p in run.iterdir()) == [".lock", "notes.txt"]


def test_configs_refuse_bad_values_naming_the_valid_ones(tmp_path):
    with pytest.raises(InputError, match=r"cell must be one of rnn \| lstm \| gru.*impl"):
        LMTrainConfig(cell="transformer", impl="cuda")
    with pytest.raises(InputError, match="max_minutes"):
        LMTrainConfig(max_minutes=0)
    with pytest.raises(InputError, match=r"pooling must be one of sum \| last \| mean \| attention"):
        PropertyTrainConfig(pooling="max")
    for bad in (dict(split="time"), dict(lr_schedule="step"), dict(cell="cnn"), dict(hidden_size=0)):
        with pytest.raises(InputError):
            PropertyTrainConfig(**bad)
    with pytest.raises(InputError, match="no such file"):
        train_property_model(PropertyTrainConfig(data=str(tmp_path / "missing.csv")), tmp_path / "prop")
    assert not (tmp_path / "prop").exists()


def test_precision_spellings():
    """The CLI's auto | 32 | bf16 and Lightning's own names are both accepted; runs record Lightning's name."""
    assert LMTrainConfig(precision="32").precision == "32-true" == LMTrainConfig(precision="32-true").precision
    assert LMTrainConfig(precision="bf16").precision == "bf16-mixed" == PropertyTrainConfig(precision="bf16").precision
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert LMTrainConfig(precision="auto", device="cpu").precision == ("bf16-mixed" if native else "32-true")
    assert resolve_precision("auto", "gpu") == "32-true"
    with pytest.raises(InputError, match=r"auto \| 32 \| 32-true \| bf16"):
        PropertyTrainConfig(precision="fp8")


def test_importing_chemrnn_does_not_import_lightning():
    code = "import sys, chemrnn, chemrnn.api, chemrnn.cli; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_grown_vocabulary_keeps_every_known_token_and_starts_new_ones_unlikely():
    torch.manual_seed(0)
    from chemrnn.models.language import LMConfig

    model = LanguageModel(LMConfig(vocab_size=10, embedding_dim=8, hidden_size=16, num_layers=1)).eval()
    ids = torch.tensor([[1, 5, 6, 7, 4]])
    before = model(ids)[0]
    model.grow_vocabulary(13)
    after = model(ids)[0]
    assert model.config.vocab_size == 13 and after.shape[-1] == 13
    assert torch.allclose(after[..., :10], before, atol=1e-6)  # every known token's logit unchanged
    assert torch.allclose(after[..., 10:], model.head.bias[:10].min().expand(1, 5, 3))
    assert model.embedding.weight.shape[0] == 13 and model.never_next.shape[0] == 13


def test_finetune_can_extend_the_priors_vocabulary(tmp_path, small, sample_smiles, capsys):
    """``--unknown extend``: a molecule with a token the prior lacks is trained on, not skipped; the model file's
    vocabulary holds the prior's tokens at their ids and the new one after them, and the new model spells it."""
    prior = tmp_path / "prior"
    train_language_model(tiny(small, max_steps=10, val_size=0), prior, verbose=False)
    _, prior_vocab, _, _ = load_language_model(prior / "model")
    assert "[Se]" not in prior_vocab
    actives = tmp_path / "actives.smi"
    actives.write_text("\n".join(sample_smiles[:30] + ["c1cc[se]c1", "C[Se]C", "CC[Se]CC"]) + "\n")
    for unknown, trained in (("skip", 30), ("extend", 33)):
        out = tmp_path / unknown
        assert main(["-q", "lm", "finetune", str(prior / "model"), str(actives), "-o", str(out), "--epochs", "1",
                     "--val-size", "0", "--unknown", unknown, "--device", "cpu"]) == 0
        assert json.loads((out / "metrics.json").read_text())["train_size"] == trained
    model, vocab, _, _ = load_language_model(tmp_path / "extend" / "model")
    assert vocab.tokens[:len(prior_vocab)] == prior_vocab.tokens and {"[Se]", "[se]"} <= set(vocab.tokens)
    assert model.head.out_features == len(vocab)
    scored = tmp_path / "scored.csv"
    assert main(["lm", "score", str(tmp_path / "extend" / "model"), str(actives), "-o", str(scored)]) == 0
    rows = {r["smiles"]: r for r in csv.DictReader(open(scored))}
    assert rows["CC[Se]CC"]["logp"] and not rows["CC[Se]CC"]["error"]  # spelled with the new token
