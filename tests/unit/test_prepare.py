import csv
import gzip
import json

import pytest

from chemrnn.errors import InputError
from chemrnn.prepare import PrepareOptions, data_stats, prepare

MIXED = (
    b"CCO ethanol\n"          # 1 kept
    b"OCC ethanol-again\n"    # 2 duplicate (same molecule, other spelling)
    b"C1CC broken-ring\n"     # 3 rejected: syntax
    b"\n"                     # 4 rejected: blank line
    b"c1ccccc1\n"             # 5 kept
    b"CC\xffN bad-bytes\n"    # 6 rejected: not UTF-8 (with skip)
    b"C(C)(C)(C)(C)C pentavalent\n"  # 7 rejected: valence
    b"CC(=O)O acetic\n"       # 8 kept
    b"OC(C)=O acetic-again\n"  # 9 duplicate
)


@pytest.mark.parametrize("jobs", [1, 2])
def test_accounting_on_mixed_file(tmp_path, jobs):
    src = tmp_path / "mixed.smi"
    src.write_bytes(MIXED)
    out = tmp_path / "out.smi"
    s = prepare(src, out, PrepareOptions(on_bad_line="skip", jobs=jobs))
    assert (s.lines, s.kept, s.duplicates, s.rejected) == (9, 3, 2, 4)
    assert s.kept + s.duplicates + s.rejected == s.lines
    assert out.read_text().split() == ["CCO", "c1ccccc1", "CC(=O)O"]  # input order kept
    with open(s.rejects) as fh:
        rej = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in rej] == [3, 4, 6, 7]
    assert rej[0]["reason"] == "SMILES syntax error" and rej[0]["raw"] == "C1CC broken-ring"
    assert rej[1]["reason"] == "blank line"
    assert rej[2]["reason"].startswith("not UTF-8")
    assert "valence" in rej[3]["reason"]
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["kept"] == 3 and summary["reasons"]["invalid chemistry"] == 1


def test_bad_bytes_stop_by_default_and_write_nothing(tmp_path):
    src = tmp_path / "mixed.smi"
    src.write_bytes(MIXED)
    out = tmp_path / "out.smi"
    with pytest.raises(InputError, match=r"mixed.smi:6: not UTF-8"):
        prepare(src, out, PrepareOptions(jobs=1))
    assert not out.exists()


def test_options_window_stereo_fragment_dedupe(tmp_path):
    src = tmp_path / "in.csv.gz"
    src.write_bytes(gzip.compress(b"SMILES,y\nC[C@H](N)O.Cl,1\nCC(N)O,2\nC,3\nCCCCCCCCCCCC,4\n"))
    out = tmp_path / "out.smi.gz"
    s = prepare(src, out, PrepareOptions(keep_stereo=False, largest_fragment=True, min_tokens=2, max_tokens=10,
                                         jobs=1))
    assert gzip.decompress(out.read_bytes()).decode().split() == ["CC(N)O"]
    assert (s.kept, s.duplicates, s.rejected) == (1, 1, 2)
    s2 = prepare(src, tmp_path / "o2.smi", PrepareOptions(dedupe=False, jobs=1))
    assert s2.kept == 4


ISOTOPES_AND_SALTS = (
    "[2H]C([2H])([2H])O\n"  # 1 deuterated methanol
    "CO\n"                  # 2 methanol
    "C[C@H](N)O\n"          # 3
    "C[C@@H](N)O\n"         # 4 its enantiomer
    "CC(=O)[O-].[Na+]\n"    # 5 sodium acetate
    "CC(=O)O.[Na+]\n"       # 6 acetic acid beside a sodium ion
)


@pytest.mark.parametrize("options, kept", [
    # --no-stereo strips stereo only: the deuterated methanol stays itself
    (dict(keep_stereo=False), ["[2H]C([2H])([2H])O", "CO", "CC(N)O", "CC(=O)[O-].[Na+]", "CC(=O)O.[Na+]"]),
    # --no-isotopes: methanol from two spellings is kept once (the duplicate found on the canonical form)
    (dict(keep_isotopes=False), ["CO", "C[C@H](N)O", "C[C@@H](N)O", "CC(=O)[O-].[Na+]", "CC(=O)O.[Na+]"]),
    (dict(keep_stereo=False, keep_isotopes=False), ["CO", "CC(N)O", "CC(=O)[O-].[Na+]", "CC(=O)O.[Na+]"]),
    # --largest-fragment does not neutralize; --neutralize does, so the two acetates are one molecule
    (dict(largest_fragment=True), ["[2H]C([2H])([2H])O", "CO", "C[C@H](N)O", "C[C@@H](N)O", "CC(=O)[O-]",
                                   "CC(=O)O"]),
    (dict(largest_fragment=True, neutralize=True), ["[2H]C([2H])([2H])O", "CO", "C[C@H](N)O", "C[C@@H](N)O",
                                                    "CC(=O)O"]),
])
def test_isotopes_stereo_and_charges_are_separate_options_and_dedupe_follows_them(tmp_path, options, kept):
    src = tmp_path / "in.smi"
    src.write_text(ISOTOPES_AND_SALTS)
    s = prepare(src, tmp_path / "out.smi", PrepareOptions(jobs=1, **options))
    assert (tmp_path / "out.smi").read_text().split() == kept
    assert (s.kept, s.duplicates, s.rejected) == (len(kept), 6 - len(kept), 0)


def test_cli_prepare_no_isotopes_and_neutralize(tmp_path, capsys):
    from chemrnn.cli import main

    src = tmp_path / "in.smi"
    src.write_text(ISOTOPES_AND_SALTS)
    out = tmp_path / "out.smi"
    assert main(["data", "prepare", str(src), "-o", str(out), "-j", "1", "--no-stereo", "--no-isotopes",
                 "--largest-fragment", "--neutralize"]) == 0
    assert out.read_text().split() == ["CO", "CC(N)O", "CC(=O)O"]
    assert main(["data", "prepare", "--help"]) == 0
    helptext = " ".join(capsys.readouterr().out.split())
    assert "isotopes stay (see --no-isotopes)" in helptext and "it does not neutralize" in helptext


def test_prepare_sample_parallel_equals_serial(tmp_path):
    from chemrnn.datasets import sample_path

    a = prepare(sample_path(), tmp_path / "a.smi", PrepareOptions(jobs=1))
    b = prepare(sample_path(), tmp_path / "b.smi", PrepareOptions(jobs=2))
    assert a.kept == b.kept == 10_000
    assert (tmp_path / "a.smi").read_bytes() == (tmp_path / "b.smi").read_bytes()


def test_stats_on_sample():
    from chemrnn.datasets import sample_path

    st = data_stats(sample_path(), tokenizer="atom", validate=True, limit=2000)
    assert st.molecules == 2000 and st.valid == 2000
    assert sum(st.length_histogram.values()) == 2000
    assert st.token_length["min"] <= st.token_length["median"] <= st.token_length["p95"] <= st.token_length["max"]
    assert all(v == round(v, 2) for v in st.token_length.values())  # printed as read, not 16.799999999999994
    assert "Cl" in st.vocabulary and "l" not in st.vocabulary
    char = data_stats(sample_path(), tokenizer="char", limit=2000)
    assert "l" in char.vocabulary and char.token_length["mean"] > st.token_length["mean"]
