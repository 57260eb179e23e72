import numpy as np
import pytest

from chemrnn.batching import (BucketBatchSampler, TokenCache, collate, encode_all, padding_fraction,
                              padding_mask)
from chemrnn.errors import UnknownTokenError
from chemrnn.tokens import AtomTokenizer


@pytest.fixture(scope="module")
def cache(sample_smiles):
    return encode_all(sample_smiles, AtomTokenizer())


def test_encode_roundtrip(cache, sample_smiles):
    tok = AtomTokenizer()
    assert len(cache) == len(sample_smiles)
    for i in (0, 1, 777, len(cache) - 1):
        assert tok.detokenize(cache.vocabulary.decode(cache[i])) == sample_smiles[i]
        assert cache[i][0] == cache.vocabulary.bos_id and cache[i][-1] == cache.vocabulary.eos_id
    assert (cache.lengths == np.array([len(tok.tokenize(s)) + 2 for s in sample_smiles])).all()


def test_encode_with_vocabulary_reports_all_unknown_up_front(cache):
    with pytest.raises(UnknownTokenError) as exc:
        encode_all(["CCO", "C[Xe]", "[U]C[Xe]"], AtomTokenizer(), cache.vocabulary)
    assert exc.value.unknown == {"[Xe]": 2, "[U]": 1}
    c = encode_all(["C[Xe]"], AtomTokenizer(), cache.vocabulary, unknown="unk")
    assert cache.vocabulary.unk_id in c[0].tolist()


def test_cache_save_load(tmp_path, cache):
    cache.save(tmp_path / "c.npz")
    again = TokenCache.load(tmp_path / "c.npz")
    assert (again.ids == cache.ids).all() and (again.offsets == cache.offsets).all()
    assert again.vocabulary.tokens == cache.vocabulary.tokens


def test_bucket_sampler_covers_all_once_and_pads_less(cache):
    s = BucketBatchSampler(cache.lengths, 64, seed=1)
    batches = s.batches()
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(cache)))
    assert len(batches) == len(s)
    bucketed = padding_fraction(cache.lengths, batches)
    unbucketed = padding_fraction(cache.lengths, BucketBatchSampler(cache.lengths, 64, seed=1, pool=1).batches())
    assert bucketed < 0.05 < unbucketed
    again = BucketBatchSampler(cache.lengths, 64, seed=1).batches()
    assert [b.tolist() for b in again] == [b.tolist() for b in batches]
    s.set_epoch(1)
    assert s.batches()[0].tolist() != batches[0].tolist()


def test_collate_and_mask(cache):
    batch, lengths = collate([cache[0], cache[1], cache[2]])
    assert batch.shape == (3, int(lengths.max()))
    mask = padding_mask(lengths)
    assert mask.sum().item() == int(lengths.sum())
    assert (batch[~mask] == cache.vocabulary.pad_id).all()


def test_spelled_ids_never_read_a_random_spelling_as_unknown():
    """A vocabulary of the canonical alanine only lacks ``[C@@H]``, which random spellings write: those spellings
    fall back to the canonical ids; the others are their own, unknown-free."""
    from chemrnn import chem
    from chemrnn.batching import spelled_ids
    from chemrnn.tokens import Vocabulary

    tok, ala = AtomTokenizer(), "C[C@H](N)C(=O)O"
    vocab = Vocabulary.build([tok.tokenize(ala)])
    spellings = chem.spellings(ala, 12, seed=5)
    assert any("@@" in s for s in spellings) and any("@@" not in s for s in spellings[1:])
    ids = spelled_ids([ala], 12, 5, tok, vocab)
    base = np.array(vocab.encode(tok.tokenize(ala)))
    assert len(ids) == 13 and np.array_equal(ids[0], base)
    for s, x in zip(spellings, ids):
        if "@@" in s:
            assert np.array_equal(x, base)
        else:
            assert np.array_equal(x, vocab.encode(tok.tokenize(s)))
