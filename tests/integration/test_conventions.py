"""Public calling conventions: one progress protocol, one shape of loaded model, keyword-only settings."""
import inspect

import pytest

from chemrnn import api, decorate, library, sample
from chemrnn.models.language import LoadedModel, load_language_model
from chemrnn.models.property import load_property_model
from chemrnn.tokens import AtomTokenizer, Tokenizer


def recorder():
    calls = []

    def progress(message, done=None, total=None):
        calls.append((message, done, total))
    return progress, calls


def assert_protocol(calls, message=None):
    assert calls, "no progress reported"
    for m, done, total in calls:
        assert isinstance(m, str) and (message is None or m == message)
        assert done is None or isinstance(done, int)
        assert total is None or isinstance(total, int)


def test_long_calls_report_progress_as_message_done_total(tmp_path):
    m, vocab, tok, _ = api.load_lm("chembl")
    progress, calls = recorder()
    sample.sample(m, vocab, tok, 40, batch_size=16, seed=0, progress=progress)
    assert_protocol(calls, "sampling")
    assert [c[1:] for c in calls] == [(16, 40), (32, 40), (40, 40)]
    progress, calls = recorder()
    template, _ = decorate.decoration_template("c1ccc([*:1])cc1", vocab, tok)
    decorate.decorate(m, vocab, tok, template, 30, batch_size=20, progress=progress)
    assert_protocol(calls, "decorating")
    assert [c[1:] for c in calls] == [(20, 30), (30, 30)]
    progress, calls = recorder()
    library.build(m, vocab, tok, 20, "beam", set(), progress=progress)
    assert_protocol(calls, "search")
    assert calls[-1][1:] == (20, 20)
    progress, calls = recorder()
    api.sample_shards("chembl", 40, 2, tmp_path / "shards", batch_size=20, progress=progress)
    assert_protocol(calls, "shards")
    assert [c[1:] for c in calls] == [(1, 2), (2, 2)]


def test_both_loaders_give_a_loaded_model_whose_tokenizer_is_a_tokenizer():
    lm = load_language_model("chembl")
    prop = load_property_model("shipped")
    for loaded in (lm, prop, api.load_lm("chembl")):
        assert isinstance(loaded, LoadedModel) and isinstance(loaded.tokenizer, Tokenizer)
        model, vocab, tok, meta = loaded  # unpacks as before
        assert tok is loaded.tokenizer and tok == meta["tokenizer"] == "atom" and str(tok) == "atom"
        assert tok == AtomTokenizer() and tok != "char" and loaded[1] is vocab


@pytest.mark.parametrize("fn, first", [
    (api.sample_smiles, 2), (api.decorate_smiles, 2), (api.sample_shards, 4), (api.temperature_sweep, 4),
    (api.evaluate_samples, 2), (api.recovery, 2), (api.library, 3), (api.score, 3), (api.train_activity, 2),
    (api.demo, 1), (sample.sample, 4), (sample.likelihood, 4), (decorate.decorate, 5), (library.build, 6),
])
def test_settings_are_keyword_only(fn, first):
    """The things a call is about come by position; its settings by name (a call with twelve positional values
    cannot be read, and breaks silently when one is added)."""
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) == first, [p.name for p in positional]
