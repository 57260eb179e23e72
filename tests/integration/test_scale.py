"""Scale out: DDP on CPU (2 gloo processes launched by Lightning through the CLI) trains the same
weights as one process with the whole batch, for both model families; the per-run lock lets the launched rank
through; streamed training from sharded, gzipped SMILES resumes at its saved position (the streams themselves:
tests/unit/test_streaming.py); sharded sampling is unique across shards and resumable."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from chemrnn.models.language import load_language_model
from chemrnn.training import LMTrainConfig, train_language_model
from chemrnn.training.data import ResumableBuckets


@pytest.fixture(scope="module")
def small(tmp_path_factory, sample_smiles):
    """200 molecules of the shipped sample: 180 train / 20 valid."""
    path = tmp_path_factory.mktemp("data") / "small.smi"
    path.write_text("\n".join(sample_smiles[:200]) + "\n")
    return path


# warm-up: the CLI's run shortens the preset's 200 steps to a tenth of the run, as None does
COMMON = dict(max_steps=6, val_every=3, checkpoint_every=3, val_size=20, n_samples=0, warmup_steps=None,
              precision="32", device="cpu", dropout=0.0, seed=3)


def cli_env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(__import__("chemrnn").__path__[0].rsplit(os.sep, 1)[0]),
                                         env.get("PYTHONPATH", "")])
    for v in ("LOCAL_RANK", "NODE_RANK", "RANK", "WORLD_SIZE", "SLURM_PROCID"):
        env.pop(v, None)
    return env


@pytest.mark.parametrize("world, n, batch_size", [(2, 180, 8), (2, 101, 7), (3, 50, 4), (2, 7, 3)])
def test_ranks_together_train_on_the_one_process_batches(world, n, batch_size):
    """Step k's batches of the ranks (``batch_size`` each) are, together, step k's batch of one process with
    ``world * batch_size``; every rank has as many steps."""
    lengths = np.random.default_rng(n).integers(5, 60, n)
    one = list(ResumableBuckets(lengths, batch_size * world, seed=2))
    shares = [list(ResumableBuckets(lengths, batch_size, seed=2, rank=r, world=world)) for r in range(world)]
    assert {len(s) for s in shares} == {len(ResumableBuckets(lengths, batch_size, world=world))}
    if n % (batch_size * world) == 0 or n % (batch_size * world) >= world:  # no short last batch to merge
        assert len(shares[0]) == len(one)
        for k, batch in enumerate(one):
            assert sorted(i for s in shares for i in s[k]) == sorted(batch)
    assert sorted(i for s in shares for b in s for i in b) == list(range(n))


@pytest.mark.slow
def test_two_ddp_processes_with_half_the_batch_match_one_with_the_whole(tmp_path, small):
    """``lm train --devices 2 --batch-size 8`` (Lightning launches the second process through the CLI, gloo on
    CPU) ends with the weights and losses of one process with ``--batch-size 16``: the global batch is split
    across the ranks and the loss is the global batch's mean per token. Rank 1 does not block on the run lock;
    rank 0 alone writes the model, log and checkpoint."""
    one = train_language_model(LMTrainConfig.from_preset("tiny", data=str(small), batch_size=16, **COMMON),
                               tmp_path / "one", verbose=False)
    args = [sys.executable, "-m", "chemrnn", "lm", "train", "--data", str(small), "--preset", "tiny",
            "--batch-size", "8", "--devices", "2", "--strategy", "ddp", "-o", str(tmp_path / "two")]
    for k in ("max_steps", "val_every", "checkpoint_every", "val_size", "seed"):
        args += [f"--{k.replace('_', '-')}", str(COMMON[k])]
    args += ["--device", "cpu", "--precision", "32", "--dropout", "0"]
    res = subprocess.run(args, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["steps"] == one["steps"] == 6
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=1e-5)
    assert two["val_nll"] == pytest.approx(one["val_nll"], abs=1e-5)
    w1, w2 = (load_language_model(tmp_path / name / "model")[0].state_dict() for name in ("one", "two"))
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], atol=2e-5, rtol=1e-4)
    assert [p.name for p in (tmp_path / "two" / "checkpoints").iterdir()] == ["last.ckpt"]
    log = (tmp_path / "two" / "log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == ["step", "3", "6"]  # one writer: no doubled rows
    assert (res.stdout + res.stderr).count("\"train_loss\"") == 1  # rank 0 alone reports


@pytest.mark.slow
def test_property_ddp_matches_one_process_with_the_whole_batch(tmp_path):
    """``property train --devices 2 --batch-size 32`` ends with the weights and test metrics of one process with
    ``--batch-size 64`` (global-batch mean squared error; validation loss reduced over the ranks)."""
    import gzip

    from chemrnn.datasets import sample_path
    from chemrnn.models.property import load_property_model
    from chemrnn.training import PropertyTrainConfig, train_property_model

    data = tmp_path / "small.csv"
    with gzip.open(sample_path(), "rt") as fh:
        data.write_text("".join(next(fh) for _ in range(300)))
    size = dict(hidden_size=16, embedding_dim=8, mlp_hidden=16, max_epochs=2, device="cpu", precision="32")
    one = train_property_model(PropertyTrainConfig(data=str(data), batch_size=64, **size), tmp_path / "one",
                               verbose=False)
    args = [sys.executable, "-m", "chemrnn", "-q", "property", "train", "--data", str(data), "--hidden", "16",
            "--embedding", "8", "--mlp-hidden", "16", "--epochs", "2", "--device", "cpu", "--precision", "32",
            "--batch-size", "32", "--devices", "2", "-o", str(tmp_path / "two")]
    res = subprocess.run(args, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["_run"]["best_val_loss"] == pytest.approx(one["_run"]["best_val_loss"], abs=1e-5)
    assert two["logP"]["MAE"] == pytest.approx(one["logP"]["MAE"], abs=1e-4)
    w1, w2 = (load_property_model(tmp_path / name / "model")[0].state_dict() for name in ("one", "two"))
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], atol=2e-5, rtol=1e-4)


def test_a_launched_rank_passes_the_run_lock_its_launcher_holds(tmp_path, monkeypatch):
    """The launcher (rank 0) holds RUN/.lock for the whole run; a process started for another rank (LOCAL_RANK,
    RANK, NODE_RANK or SLURM_PROCID not 0) enters without taking it, so it never waits for rank 0 to finish."""
    from chemrnn.errors import InputError
    from chemrnn.training.lock import run_lock

    with run_lock(tmp_path, "lm train -o RUN"):
        for var in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID"):
            monkeypatch.setenv(var, "1")
            with run_lock(tmp_path):
                pass
            monkeypatch.delenv(var)
        monkeypatch.setenv("RANK", "0")  # torchrun's rank 0 is a launcher like any other: it is refused
        with pytest.raises(InputError, match="another run is using"):
            with run_lock(tmp_path):
                pass


# ------------------------------------------------------------------------------------------- streaming
@pytest.fixture(scope="module")
def shards(tmp_path_factory, sample_smiles):
    """300 molecules in 3 gzipped shards."""
    import gzip

    folder = tmp_path_factory.mktemp("shards")
    for i in range(3):
        with gzip.open(folder / f"part{i}.smi.gz", "wt") as fh:
            fh.write("\n".join(sample_smiles[i * 100: (i + 1) * 100]) + "\n")
    return folder


@pytest.fixture
def batches_seen(monkeypatch):
    """A fingerprint of every training batch, in order."""
    from chemrnn.models.language import LanguageModel

    seen, real = [], LanguageModel.loss

    def loss(self, ids):
        if self.training:
            seen.append((tuple(ids.shape), int((ids * torch.arange(ids.shape[1])).sum())))
        return real(self, ids)

    monkeypatch.setattr(LanguageModel, "loss", loss)
    return seen


def test_streamed_run_resumes_at_its_saved_position(tmp_path, shards, batches_seen):
    """``--data 'DIR/*.smi.gz'`` streams (2 reader processes, a validation split held out of the first shard); a
    run stopped at step 7 and extended to 12 reads, after the resume, exactly the batches of the straight run to
    12 (the position is in the checkpoint; 7 is odd, so the readers swap roles) and ends with its weights."""
    cfg = dict(COMMON, max_steps=12, checkpoint_every=3, val_every=6, warmup_steps=0, min_lr_ratio=1.0, workers=2,
               shuffle_buffer=50, val_size=10)
    data = str(shards / "*.smi.gz")
    straight = train_language_model(LMTrainConfig.from_preset("tiny", data=data, batch_size=8, **cfg),
                                    tmp_path / "straight", verbose=False)
    order = list(batches_seen)
    assert straight["steps"] == 12 and straight["val_size"] == 10 and len(set(order)) == 12
    batches_seen.clear()
    train_language_model(LMTrainConfig.from_preset("tiny", data=data, batch_size=8, **{**cfg, "max_steps": 7}),
                         tmp_path / "ext", verbose=False)
    assert batches_seen == order[:7]
    ckpt = torch.load(tmp_path / "ext" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["LMDataModule"] == {"step": 7, "world": 1, "workers": 2, "delivered_per_stream": [4, 3]}
    batches_seen.clear()
    ext = train_language_model(LMTrainConfig.from_preset("tiny", data=data, batch_size=8, **cfg), tmp_path / "ext",
                               verbose=False)
    assert ext["resumed_from"] == 7 and batches_seen == order[7:]
    w1, w2 = (load_language_model(tmp_path / name / "model")[0].state_dict() for name in ("straight", "ext"))
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], atol=1e-5, rtol=1e-4)
    info = json.loads((tmp_path / "ext" / "data" / "stream.json").read_text())
    assert len(info["files"]) == 3 and info["holdout_lines"] == 10


def test_a_streamed_run_counts_the_molecules_it_skips(tmp_path, shards, sample_smiles, capsys):
    """Molecules longer than max_tokens are skipped from the stream, counted by reason in metrics.json and said."""
    from chemrnn.tokens import get_tokenizer

    cfg = dict(COMMON, max_steps=3, checkpoint_every=3, val_every=3, warmup_steps=0, workers=0, val_size=10,
               max_tokens=30)
    m = train_language_model(LMTrainConfig.from_preset("tiny", data=str(shards / "*.smi.gz"), batch_size=8, **cfg),
                             tmp_path / "run", verbose=True)
    tok = get_tokenizer("atom")
    streamed = sample_smiles[10:300]  # the first 10 lines of the first shard are the validation split
    too_long = sum(len(tok.tokenize(s)) > 30 for s in streamed)
    assert 0 < too_long < len(streamed)
    assert m["streamed"] == {"streams": 1, "streams_reported": 1, "read": 290, "too_long": too_long,
                             "unspellable": 0, "first_epoch_done": True}
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["streamed"] == m["streamed"]
    assert f"{too_long:,} longer than max_tokens" in capsys.readouterr().out


def test_streaming_settings_are_checked_before_any_work(tmp_path, shards):
    from chemrnn.errors import InputError

    with pytest.raises(InputError, match="set max_steps, not epochs"):
        LMTrainConfig.from_preset("tiny", data=str(shards), epochs=2)
    with pytest.raises(InputError, match="no file matches"):
        train_language_model(LMTrainConfig.from_preset("tiny", data=str(tmp_path / "none*.smi.gz")), tmp_path / "r",
                             verbose=False)
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------- sampling at scale
def test_sharded_sampling_is_unique_across_shards_and_resumes(tmp_path, capsys):
    """``lm sample -n 240 --shards 3 -o DIR``: three shard files of valid canonical molecules, none repeated in or
    across shards, counted in manifest.json; a rerun after losing a shard writes only that one, as before;
    other settings in the folder are refused (exit 2)."""
    from chemrnn import chem
    from chemrnn.cli import main

    out = tmp_path / "lib"
    args = ["lm", "sample", "-n", "240", "--shards", "3", "--max-length", "60", "--seed", "5", "-o", str(out)]
    assert main(args) == 0
    files = sorted(out.glob("shard-*.smi"))
    assert [f.name for f in files] == [f"shard-0000{i}-of-00003.smi" for i in range(3)]
    shards = [f.read_text().split() for f in files]
    every = [s for shard in shards for s in shard]
    assert len(every) == len(set(every)) > 0 and all(chem.canonical_or_none(s) == s for s in every[:50])
    manifest = json.loads((out / "manifest.json").read_text())
    assert [manifest["shards"][str(i)]["written"] for i in range(3)] == [len(s) for s in shards]
    assert sum(v["drawn"] for v in manifest["shards"].values()) == 240
    assert "written" in capsys.readouterr().err

    first = files[0].stat().st_mtime_ns
    files[2].unlink()
    assert main(args) == 0
    assert files[2].read_text().split() == shards[2] and files[0].stat().st_mtime_ns == first
    assert main([*args[:-2], "--temperature", "0.5", "-o", str(out)]) == 2
    assert "other settings (temperature)" in capsys.readouterr().err
    assert main([*args[:-2], "--batch-size", "7", "-o", str(out)]) == 2  # other batches draw other molecules
    assert "other settings (batch_size)" in capsys.readouterr().err
    # a folder whose manifest predates a recorded setting resumes with it, and records it from then on
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["settings"]["batch_size"], manifest["settings"]["device"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    files[1].unlink()
    assert main(args) == 0 and files[1].read_text().split() == shards[1]
    assert json.loads((out / "manifest.json").read_text())["settings"]["batch_size"] == 1024


def test_distributed_settings_are_checked_and_resolved():
    """Bad DDP settings are refused with the valid ones; ``auto`` with more than one process is plain ``ddp``
    (every process runs the code after ``fit``); one CPU process stays one."""
    from types import SimpleNamespace

    from chemrnn.errors import InputError
    from chemrnn.training import PropertyTrainConfig
    from chemrnn.training.checks import distributed

    with pytest.raises(InputError, match=r"devices must be an integer >= 1.*strategy must be one of auto \| ddp"):
        LMTrainConfig.from_preset("tiny", strategy="fsdp", devices=0)
    with pytest.raises(InputError, match="num_nodes"):
        PropertyTrainConfig(num_nodes=0)
    with pytest.raises(InputError, match="unknown training options: gpus"):
        LMTrainConfig.from_preset("tiny", gpus=2)
    cfg = lambda devices, nodes=1, strategy="auto": SimpleNamespace(devices=devices, num_nodes=nodes,  # noqa: E731
                                                                     strategy=strategy)
    assert distributed(cfg(None), "cpu") == (1, "auto")
    assert distributed(cfg(2), "cpu") == (2, "ddp")
    assert distributed(cfg(1, 2), "gpu") == (1, "ddp")
    assert distributed(cfg(None), "gpu") == ("auto", "auto")
