"""Streamed training data (chemrnn.streaming): streams disjoint and complete across ranks × workers, a shuffle
buffer that loses nothing, batches that replay to a saved position, shards named by glob or directory."""
import gzip
from collections import Counter
from itertools import islice

import numpy as np
import pytest

from chemrnn.errors import InputError
from chemrnn.streaming import (delivered, encoder, expand_shards, holdout_lines, is_sharded, scan_vocabulary,
                               shuffled, stream_batches, stream_lines)
from chemrnn.tokens import get_tokenizer


def write_shards(folder, smiles, n):
    folder.mkdir(exist_ok=True)
    for i in range(n):
        part = smiles[i::n]
        body = "smiles\n" + "".join(f"{s} name{k}\n" if k % 3 else f"{s}\n\n" for k, s in enumerate(part))
        if i % 2:
            (folder / f"part{i:02d}.smi").write_text(body)
        else:
            with gzip.open(folder / f"part{i:02d}.smi.gz", "wt") as fh:
                fh.write(body)
    return expand_shards(str(folder / "part*"))


@pytest.mark.parametrize("shards, ranks, workers", [(7, 2, 2), (2, 2, 2), (3, 1, 1), (1, 3, 2), (8, 2, 2)])
def test_streams_are_disjoint_and_complete_across_ranks_and_workers(tmp_path, sample_smiles, shards, ranks,
                                                                    workers):
    """Whether shards are dealt to streams (at least as many shards as streams) or lines are (fewer), every line
    but the held-out ones comes once per epoch over all ranks × workers, whatever the epoch's shard order."""
    smiles = sample_smiles[:150]
    files = write_shards(tmp_path / "s", smiles, shards)
    held, last = holdout_lines(files, 5)
    assert held == [s for s in smiles[::shards]][:5]
    streams = ranks * workers
    for epoch in (0, 1):
        got = [s for k in range(streams) for s in stream_lines(files, k, streams, epoch, seed=4, holdout=last)]
        assert Counter(got) == Counter(smiles) - Counter(held)


def test_shuffle_buffer_is_a_seeded_permutation():
    items = list(range(1000))
    a = list(shuffled(iter(items), 64, np.random.default_rng(1)))
    assert sorted(a) == items and a != items
    assert a == list(shuffled(iter(items), 64, np.random.default_rng(1)))
    assert sorted(shuffled(iter(items[:10]), 64, np.random.default_rng(1))) == items[:10]  # buffer never filled


def test_batches_resume_at_the_saved_position_across_epochs(tmp_path, sample_smiles):
    """A stream restarted with ``skip=n`` yields exactly the batches after the first n, across epoch ends; every
    batch holds molecules of similar length; long or unspellable molecules are skipped."""
    files = write_shards(tmp_path / "s", sample_smiles[:120], 3)
    tok = get_tokenizer("atom")
    vocab, scanned = scan_vocabulary(files, tok, lines=30)  # a vocabulary from part of the data: some unspellable
    assert scanned == 30
    encode = encoder(tok, vocab, max_tokens=40)
    n_ok = sum(encode(s) is not None for s in sample_smiles[:120])
    assert 0 < n_ok < 120
    full = list(islice(stream_batches(files, 1, 2, encode, 4, seed=2, buffer=16), 40))  # > 1 epoch of stream 1
    per_epoch = -(-sum(encode(s) is not None for s in sample_smiles[:120][60:]) // 4)  # ~ half the molecules
    assert len(full) == 40 > per_epoch
    flat = lambda bs: [a.tobytes() for b in bs for a in b]  # noqa: E731
    for skip in (0, 3, per_epoch, 37):
        again = list(islice(stream_batches(files, 1, 2, encode, 4, seed=2, buffer=16, skip=skip), 40 - skip))
        assert flat(again) == flat(full[skip:])
    assert all(max(map(len, b)) <= 40 + 2 for b in full)


def test_no_usable_molecule_in_a_stream_is_refused(tmp_path):
    files = write_shards(tmp_path / "s", ["CCO", "CCN"], 1)
    tok = get_tokenizer("atom")
    vocab, _ = scan_vocabulary(files, tok)
    with pytest.raises(InputError, match="stream 3 of 4"):
        next(stream_batches(files, 3, 4, encoder(tok, vocab, 120), 2))


def test_delivered_counts_follow_the_dataloaders_round_robin():
    for workers in (1, 2, 3):
        for step in range(10):
            counts = Counter(i % workers for i in range(step))
            assert delivered(step, workers) == [counts[q] for q in range(workers)]


def test_shards_by_glob_directory_or_file(tmp_path, sample_smiles):
    files = write_shards(tmp_path / "s", sample_smiles[:20], 3)
    assert expand_shards(str(tmp_path / "s")) == files == sorted(files)
    assert expand_shards(str(files[0])) == [files[0]]
    assert is_sharded(str(tmp_path / "s")) and is_sharded("x/*.smi.gz") and not is_sharded(str(files[0]))
    with pytest.raises(InputError, match="no file matches"):
        expand_shards(str(tmp_path / "nothing*.smi"))
    (tmp_path / "t.csv").write_text("smiles\nCCO\n")
    with pytest.raises(InputError, match="not tables"):
        expand_shards(str(tmp_path / "t.*"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no SMILES shards"):
        expand_shards(str(tmp_path / "empty"))


def test_a_streamed_validation_split_is_at_most_a_tenth_of_the_data(tmp_path, sample_smiles):
    """As asked where the data has ten times as many lines (counted no further), else a tenth of it; none under
    20 lines; never more than asked."""
    from chemrnn.streaming import holdout_size

    files = write_shards(tmp_path / "s", sample_smiles[:400], 4)  # 100 SMILES a shard
    assert holdout_size(files, 5) == (5, 50)  # 50 lines counted, all in the first shard
    assert holdout_size(files, 30) == (30, 300)
    assert holdout_size(files, 5000) == (40, 400)  # not the whole first shard (25 %): a tenth of the data
    assert holdout_size(files, 0) == (0, 0)
    assert holdout_size(files[:1], 5000, least=200) == (0, 100)
    assert holdout_size(files, 1) == (1, 20)  # counted up to 20 lines: enough to hold one out


def test_skip_counts_sum_the_streams_and_say_when_some_did_not_report(tmp_path):
    from chemrnn.streaming import skipped_in_streams, write_tally

    assert skipped_in_streams(tmp_path, 2) is None
    write_tally(tmp_path / "stream-00000.json", {"read": 10, "too_long": 2, "unspellable": 1}, True)
    part = skipped_in_streams(tmp_path, 2)
    assert part == {"streams": 2, "streams_reported": 1, "read": 10, "too_long": 2, "unspellable": 1,
                    "first_epoch_done": False}  # the other stream's count is missing: not a whole epoch
    write_tally(tmp_path / "stream-00001.json", {"read": 8, "too_long": 0, "unspellable": 3}, True)
    assert skipped_in_streams(tmp_path, 2) == {"streams": 2, "streams_reported": 2, "read": 18, "too_long": 2,
                                               "unspellable": 4, "first_epoch_done": True}
