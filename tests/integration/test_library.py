"""Focused libraries (``lm library``) and likelihoods (``lm score``): exactly N distinct valid canonical molecules,
none known, most likely first, with the likelihood ``lm score`` gives them; sampling without replacement never
repeats; a killed search resumes to the same library; bad input is refused naming file, line and reason. The shipped
MOSES prior (3×LSTM-512) on real molecules, libraries of a few hundred, one thread."""
import csv
import json

import numpy as np
import pytest

import chemrnn.api as api
import chemrnn.library as library
from chemrnn import chem
from chemrnn.cli import main
from chemrnn.io import Row
from chemrnn.library import Acceptor, build, score_rows, tree_search
from chemrnn.sample import sample


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def prior():
    return api.load_lm("moses")


def read_library(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def score_of(model, vocab, tok, strings, as_written=True):
    rows = [Row(i + 1, s, s) for i, s in enumerate(strings)]
    return [x.logp for x in score_rows(model, vocab, tok, rows, as_written=as_written)]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["beam", "swor", "sample"])
def test_a_library_holds_exactly_n_distinct_valid_canonical_unknown_molecules_most_likely_first(
        tmp_path, capsys, prior, method):
    # the "fine-tuning set": the 30 most likely molecules of the model, which a library must leave out
    first = tmp_path / "first.csv"
    assert main(["-q", "lm", "library", "moses", "-n", "30", "-o", str(first), "--no-exclude-training"]) == 0
    known = [r["smiles"] for r in read_library(first)]
    (tmp_path / "known.smi").write_text("\n".join(known) + "\n")
    out = tmp_path / "lib.csv"
    assert main(["-q", "lm", "library", "moses", "-n", "120", "-o", str(out), "--method", method,
                 "--no-exclude-training", "--exclude", str(tmp_path / "known.smi"), "--seed", "3"]) == 0
    rows = read_library(out)
    smiles = [r["smiles"] for r in rows]
    assert len(smiles) == 120 and len(set(smiles)) == 120
    assert all(chem.canonical_or_none(s) == s for s in smiles)  # valid and canonical
    assert not set(smiles) & set(known)
    logp = np.array([float(r["logp"]) for r in rows])
    assert (np.diff(logp) <= 0).all()
    model, vocab, tok, _ = prior
    assert np.allclose(logp, score_of(model, vocab, tok, smiles), atol=2e-3)  # written with 4 decimals
    summary = json.loads((tmp_path / "lib.csv.summary.json").read_text())
    assert summary["written"] == 120 and summary["complete"] and summary["settings"]["known"] == 30
    assert not (tmp_path / "lib.csv.partial").exists()


@pytest.mark.slow
def test_beam_search_finds_more_likely_molecules_than_sampling(prior):
    """Rank by rank, the beam library's molecules are more likely than the most likely distinct molecules of 600
    random samples (its 1st beats their 1st, its 100th their 100th)."""
    model, vocab, tok, _ = prior
    beam = build(model, vocab, tok, 100, "beam", set())
    phi = beam.stats["phi"]
    assert (np.diff(phi) <= 1e-9).all()  # in the search's order: most likely first
    drawn = sample(model, vocab, tok, 600, seed=5, max_length=140)
    distinct = sorted({c for c in map(chem.canonical_or_none, drawn.smiles) if c})
    lp = np.sort(score_of(model, vocab, tok, distinct, as_written=False))[::-1][:100]
    assert len(lp) == 100 and (phi >= lp - 1e-6).all() and phi.mean() > lp.mean() + 0.5


@pytest.mark.slow
def test_sampling_without_replacement_never_repeats_and_its_log_probabilities_are_lm_scores(prior):
    model, vocab, tok, _ = prior
    found = tree_search(model, vocab, tok, 200, Acceptor(set()), gumbel=True, seed=11)
    assert len(found.smiles) == 200 and len(set(found.smiles)) == 200
    strings = [tok.detokenize([vocab.tokens[i] for i in ids]) for ids in found.stats["token_ids"]]
    assert len(set(map(tuple, found.stats["token_ids"]))) == 200  # no token sequence twice
    assert np.allclose(found.stats["phi"], score_of(model, vocab, tok, strings), atol=1e-4)
    # a sample, not the beam: another seed draws another set, and the set is not the 200 most likely
    other = tree_search(model, vocab, tok, 200, Acceptor(set()), gumbel=True, seed=12)
    beam = tree_search(model, vocab, tok, 200, Acceptor(set()), gumbel=False)
    assert set(other.smiles) != set(found.smiles) and set(beam.smiles) != set(found.smiles)
    assert np.sort(beam.stats["phi"]).sum() > np.sort(found.stats["phi"]).sum()


def test_lm_score_equals_the_likelihood_the_sampler_assigned(tmp_path, capsys, prior):
    model, vocab, tok, _ = prior
    s = sample(model, vocab, tok, 64, seed=2, max_length=140)
    keep = [i for i, x in enumerate(s.smiles) if s.finished[i] and chem.canonical_or_none(x)]
    path = tmp_path / "sampled.smi"
    path.write_text("\n".join(s.smiles[i] for i in keep) + "\n")
    out = tmp_path / "scored.csv"
    assert main(["lm", "score", "moses", str(path), "-o", str(out), "--as-written"]) == 0
    rows = read_library(out)
    assert len(rows) == len(keep) and all(not r["error"] for r in rows)
    assert np.allclose([float(r["logp"]) for r in rows], -s.nll[keep], atol=1e-4)
    per_token = [float(r["logp"]) / int(r["tokens"]) for r in rows]
    assert np.allclose(per_token, [float(r["logp_per_token"]) for r in rows], atol=1e-5)
    assert [int(r["tokens"]) for r in rows] == list(s.lengths[keep])


def test_lm_score_gives_every_row_a_value_or_a_reason_and_refuses_an_unreadable_file(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("id,smiles\na,CCO\nb,C1CC\nc,\nd,CC[Xe]\ne,OCC\n")
    out = tmp_path / "out.csv"
    assert main(["lm", "score", "moses", str(path), "-o", str(out)]) == 0
    rows = read_library(out)
    assert [r["line"] for r in rows] == ["2", "3", "4", "5", "6"]
    assert rows[0]["scored"] == "CCO" and rows[4]["scored"] == "CCO"  # canonical: OCC is ethanol too
    assert rows[0]["logp"] == rows[4]["logp"] and float(rows[0]["logp"]) < 0
    assert "invalid SMILES" in rows[1]["error"] and rows[2]["error"] == "blank line"
    assert "[Xe]" in rows[3]["error"] and rows[3]["logp"] == ""
    bad = tmp_path / "bad.smi"
    bad.write_bytes(b"CCO\n\xff\xfeC\n")
    capsys.readouterr()
    assert main(["lm", "score", "moses", str(bad), "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "bad.smi:2" in err and "Traceback" not in err and not (tmp_path / "x.csv").exists()


def test_novel_only_with_no_exclude_training_is_refused(tmp_path, capsys):
    out = tmp_path / "lib.smi"
    assert main(["lm", "library", "moses", "-n", "5", "-o", str(out), "--novel-only", "--no-exclude-training"]) == 2
    err = capsys.readouterr().err
    assert "cannot go with --no-exclude-training" in err and "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("command", ["library", "recovery"])
def test_heldout_with_an_invalid_line_is_refused_naming_file_line_and_reason(tmp_path, capsys, command):
    held = tmp_path / "held.smi"
    held.write_text("CCO\n\nc1ccccc1\nC1CC\n")
    out = tmp_path / "lib.smi"
    args = ["-o", str(out), "--no-exclude-training"] if command == "library" else ["-o", str(out), "--no-novelty"]
    assert main(["lm", command, "moses", "-n", "10", "--heldout", str(held), *args]) == 2
    err = capsys.readouterr().err
    assert "held.smi:4" in err and "SMILES syntax error" in err and not out.exists()


def test_a_heldout_curve_counts_the_library_at_each_size(tmp_path, capsys):
    first = tmp_path / "top.smi"
    assert main(["-q", "lm", "library", "moses", "-n", "40", "-o", str(first), "--no-exclude-training"]) == 0
    top = [line.split("\t")[0] for line in first.read_text().splitlines()]
    held = tmp_path / "held.smi"
    held.write_text("\n".join(top[:5] + ["FC(F)(F)c1ccc2ccccc2c1Br"]) + "\n")  # five it finds, one it does not
    assert main(["lm", "library", "moses", "-n", "40", "-o", str(tmp_path / "lib.smi"), "--heldout", str(held),
                 "--every", "20", "--no-exclude-training"]) == 0
    summary = json.loads((tmp_path / "lib.smi.summary.json").read_text())
    h = summary["heldout"]
    assert h["molecules"] == 6 and h["recovered"] == 5 and h["curve"][-1]["library"] == 40
    assert h["curve"][0]["recovered"] <= h["curve"][1]["recovered"] == 5
    assert "5" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["beam", "sample"])
def test_a_library_csv_names_the_string_the_method_generated_and_its_log_p(tmp_path, capsys, prior, method):
    """Each row's spelling is a string of its molecule whose log p is the one written beside it; beam ranks by it
    (so it is at least the canonical spelling's log p), sampling keeps the order drawn."""
    out = tmp_path / "lib.csv"
    assert main(["-q", "lm", "library", "moses", "-n", "60", "-o", str(out), "--method", method,
                 "--no-exclude-training", "--seed", "2"]) == 0
    rows = read_library(out)
    assert all(chem.canonical_or_none(r["spelling"]) == r["smiles"] for r in rows)
    done = [r for r in rows if r["spelling_logp"]]  # a draw cut at max_length has no log p
    assert len(done) >= 55
    model, vocab, tok, _ = prior
    spelled = np.array([float(r["spelling_logp"]) for r in done])
    assert np.allclose(spelled, score_of(model, vocab, tok, [r["spelling"] for r in done]), atol=2e-3)
    if method == "beam":
        assert len(done) == 60 and (spelled >= np.array([float(r["logp"]) for r in done]) - 2e-3).all()
        by_rank = sorted(rows, key=lambda r: int(r["rank"]))
        assert (np.diff([float(r["spelling_logp"]) for r in by_rank]) <= 2e-3).all()
    else:
        assert any(r["spelling"] != r["smiles"] for r in rows)  # drawn as written, not as RDKit writes it
        assert [int(r["rank"]) for r in rows] != sorted(int(r["rank"]) for r in rows)  # rank: the order drawn


@pytest.mark.parametrize("method", ["swor", "sample"])
def test_a_killed_library_resumes_to_the_same_library(tmp_path, prior, method, monkeypatch):
    model, vocab, tok, _ = prior
    settings = {"method": method, "n": 150, "seed": 4}
    whole = build(model, vocab, tok, 150, method, set(), seed=4, batch_size=64, workdir=tmp_path / "a",
                  settings=settings, save_every_s=0)

    import chemrnn.library as lib

    real, calls = lib._write_state, [0]

    def dies_after_two(path, state):
        real(path, state)
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(lib, "_write_state", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        build(model, vocab, tok, 150, method, set(), seed=4, batch_size=64, workdir=tmp_path / "b",
              settings=settings, save_every_s=0)
    monkeypatch.setattr(lib, "_write_state", real)
    resumed = build(model, vocab, tok, 150, method, set(), seed=4, batch_size=64, workdir=tmp_path / "b",
                    settings=settings, save_every_s=0)
    assert resumed.smiles == whole.smiles and resumed.spelling == whole.spelling
    counted = ("invalid", "known", "unspellable")  # what the gate refused, over both sittings
    assert [resumed.stats[c] for c in counted] == [whole.stats[c] for c in counted] and whole.stats["invalid"] > 0
    assert np.allclose(resumed.spelling_logp, whole.spelling_logp, equal_nan=True)
    with pytest.raises(Exception, match="other settings"):
        build(model, vocab, tok, 150, method, set(), seed=5, batch_size=64, workdir=tmp_path / "b",
              settings={**settings, "seed": 5}, save_every_s=0)


def test_an_unreadable_exclude_file_is_refused_before_the_training_data_is_read(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "known.smi"
    bad.write_bytes(b"CCO\n\xff\xfeC\n")
    read, real = [], library.canonical_set

    def recording(source, *args, **kwargs):
        read.append(str(source))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(library, "canonical_set", recording)
    out = tmp_path / "lib.smi"
    assert main(["lm", "library", "moses", "-n", "5", "-o", str(out), "--exclude", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "known.smi:2" in err and "not UTF-8" in err and not out.exists()
    assert read == [str(bad)]  # the model's own training data (1.6 M molecules) was never canonicalized
