"""``chemrnn datasets derive``: the registry's derived files built from (stand-ins for) their public sources, no
network; and the gzip writer reproducing the shared files byte for byte."""
import gzip
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from chemrnn import chem
from chemrnn import datasets as ds
from chemrnn import derive as dv
from chemrnn.cli import main
from chemrnn.errors import InputError

# real JNK3 / GSK3 chemistry; one written with explicit hydrogens ([H]), one repeated, one invalid, two inactive
JNK3_ROWS = [
    ("c1cc(-c2ccnc(Nc3ccc(-n4ccnn4)cc3)n2)cc(N2CCOCC2)c1", 1),
    ("N#CC(=Cc1ccc(O)c(O)c1)C(=O)NCc1ccccc1", 1),
    ("CCNc1ncc2nc(Nc3ccccc3F)n(C3CCCC3)c2n1", 1),
    ("[H]C([H])([H])Oc1cccc(C(C)NC(=O)c2sc(-c3ccncc3)nc2C)c1", 1),
    ("COc1cccc(C(C)NC(=O)c2sc(-c3ccncc3)nc2C)c1", 1),  # the same molecule as the line above
    ("NC(=O)c1ccsc1NC(=O)CSc1nc2ccccc2c(=O)n1CCCO", 1),
    ("CC(C)(C)c1ccc2occ(CC(=O)Nc3ccccc3F)c2c1", 0),
    ("Nc1nonc1-c1nc2cc(O)ccc2n1C1CCC1", 1),
    ("C1CC(", 1),
    ("O=C(Cn1c(=O)ccc2c(C(F)(F)F)cccc21)Nc1scc(Br)c1-c1ncn[nH]1", 1),
    ("CCOC(=O)CN=c1nc(-c2ccc(OC)cc2)n(-c2ccccc2)s1", 0),
    ("Cc1cccc(CC(=O)Nc2cnn(-c3cccc(C(=O)NC4CCOC(C)(C)C4)c3)c2)c1", 1),
]


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def read_gz_lines(path):
    return gzip.open(path, "rt").read().splitlines()


def test_derive_actives_from_a_local_source(tmp_path, capsys):
    """jnk3: rows with jnk3=1, canonical (explicit hydrogens folded in), de-duplicated, Random(0) shuffle, first
    80 %; written to -o with the registry's gzip header; the SHA-256 check says why it differs (a stand-in)."""
    src = tmp_path / "all.txt"
    src.write_text("smiles,jnk3\n" + "".join(f"{s},{y}\n" for s, y in JNK3_ROWS))
    out = tmp_path / "jnk3_train.smi.gz"
    code, stdout, err = run(capsys, "datasets", "derive", "jnk3", "--source", str(src), "-o", str(out),
                            "--no-download", "-j", "1")
    assert code == 0, err
    assert stdout.strip() == str(out)
    canon = list(dict.fromkeys(chem.rdkit_default_canonical(s) for s, y in JNK3_ROWS if y == 1
                               and chem.rdkit_default_canonical(s)))
    assert len(canon) == 8  # 10 actives: one invalid, one repeat in other spelling
    random.Random(0).shuffle(canon)
    assert read_gz_lines(out) == canon[:round(0.8 * len(canon))]
    raw = out.read_bytes()
    assert raw[3] & 0x08 and b"jnk3_train.smi\x00" in raw[:40]  # the file name in the header, as the registry's
    assert struct.unpack("<I", raw[4:8])[0] == dv.RECIPES["jnk3"].gzip_mtime
    assert "warning: SHA-256" in err and "source jnk3 differ" in " ".join(err.split())


def test_derive_zinc250k_computes_logp_qed_sas_with_rdkit(tmp_path, capsys):
    smiles = ["CC(C)(C)c1ccc2occ(CC(=O)Nc3ccccc3F)c2c1", "C[C@@H]1CC(Nc2cncc(-c3nncn3C)c2)C[C@@H](C)C1",
              "N#Cc1ccc(-c2ccc(O[C@@H](C(=O)N3CCCC3)c3ccccc3)cc2)cc1"]
    src = tmp_path / "zinc.smi.gz"
    with gzip.open(src, "wt") as fh:
        fh.write("".join(s + "  \n" for s in smiles))  # trailing whitespace, as in the source
    out = tmp_path / "z.csv.gz"
    code, _, err = run(capsys, "datasets", "derive", "zinc250k", "--source", f"zinc={src}", "-o", str(out),
                       "--no-download", "-j", "1")
    assert code == 0, err
    lines = read_gz_lines(out)
    assert lines[0] == "smiles,logP,qed,SAS" and len(lines) == 4
    first = lines[1].split(",")
    m = chem.mol(smiles[0])
    assert first[0] == smiles[0]
    assert float(first[1]) == pytest.approx(chem.descriptor(m, "logP"), abs=1e-6)
    assert float(first[2]) == pytest.approx(chem.qed(m), abs=1e-6)
    assert float(first[3]) == pytest.approx(chem.sa_score(m), abs=1e-6)
    assert lines[1] == "CC(C)(C)c1ccc2occ(CC(=O)Nc3ccccc3F)c2c1,5.050600,0.731901,2.084095"  # the shared file's row


def test_derive_measured_set_keeps_the_rows_outside_the_held_out_fifth(tmp_path, capsys):
    rows = [("CN(C)C(=O)c1ccc(cc1)OC", "-11.01"), ("CS(=O)(=O)Cl", "-4.87"), ("CC(C)C=C", "1.83"),
            ("CCc1cnccn1", "-5.45"), ("CCCCCCCO", "-4.21"), ("CC(C)C(C)C", "2.34"), ("CCCC(C)(C)O", "-3.92"),
            ("C(Br)Br", "-1.96"), ("CCCCC(=O)OCC", "-2.49"), ("c1ccc(cc1)S", "-2")]
    src = tmp_path / "freesolv.csv"
    src.write_text("smiles,freesolv\n" + "".join(f"{s},{v}\n" for s, v in rows))
    out = tmp_path / "f.csv.gz"
    code, _, err = run(capsys, "datasets", "derive", "freesolv", "--source", str(src), "-o", str(out),
                       "--no-download")
    assert code == 0, err
    test = set(np.random.default_rng(0).permutation(10)[:2].tolist())
    want = ["smiles,dG_hydration_kcal_mol"] + [f"{s},{float(v)!r}" for i, (s, v) in enumerate(rows) if i not in test]
    assert read_gz_lines(out) == want and len(want) == 9


def test_derived_file_goes_into_the_cache_where_the_name_finds_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHEMRNN_DATA_DIR", str(tmp_path / "nothing"))
    with pytest.raises(InputError, match="chemrnn datasets derive jnk3"):
        ds.path("jnk3")
    src = tmp_path / "all.txt"
    src.write_text("smiles,jnk3\n" + "".join(f"{s},{y}\n" for s, y in JNK3_ROWS))
    code, stdout, err = run(capsys, "-q", "datasets", "derive", "jnk3", "--source", f"jnk3={src}", "--no-download")
    assert code == 0, err
    assert ds.path("jnk3") == ds.cache_dir() / "actives" / "jnk3_train.smi.gz" == Path(stdout.strip())


@pytest.mark.parametrize("name", ["zinc250k", "chembl", "gsk3", "lipo"])
def test_cannot_be_fetched_errors_name_the_derive_command(name, monkeypatch):
    monkeypatch.setenv("CHEMRNN_DATA_DIR", "/nonexistent")
    with pytest.raises(InputError, match=f"cannot be fetched as-is: build it with: chemrnn datasets derive "
                                            f"{ds.info(name).name}"):
        ds.path(name)


def test_derive_offline_without_a_source_names_it_and_its_url(tmp_path, capsys):
    code, stdout, err = run(capsys, "datasets", "derive", "chembl:valid", "--source",
                            f"chembl31_valid={tmp_path / 'missing.zip'}", "--no-download")
    assert code == 2 and "missing.zip: no such source file" in err and not stdout
    code, _, err = run(capsys, "datasets", "derive", "gsk3", "--no-download")
    assert code == 2 and dv.SOURCES["gsk3"].url in err and "--source gsk3=PATH" in err
    code, _, err = run(capsys, "datasets", "derive", "chembl", "--source", str(tmp_path / "x.zip"))
    assert code == 2 and "name each as KEY=PATH" in err and "chembl31_mini_train" in err
    code, _, err = run(capsys, "datasets", "derive", "moses")
    assert code == 2 and "datasets path moses:train --download" in err
    code, _, err = run(capsys, "datasets", "derive", "sample")
    assert code == 2 and "shipped" in err


@pytest.mark.slow
def test_every_derived_registry_file_is_reproduced_byte_for_byte_from_its_lines(shared_data):
    """The writer (Python's gzip at level 9, the name and time stamp of the recipe in the header, line-by-line
    through a text wrapper) gives each shared file's exact bytes from its lines: with the recipe's lines the
    SHA-256 check can pass."""
    for name, r in dv.RECIPES.items():
        f = ds.info(name)
        raw = (shared_data / f.filename).read_bytes()
        lines = gzip.decompress(raw).decode().splitlines()
        assert dv.gzip_bytes(lines, Path(f.filename).name[:-3], r.gzip_mtime) == raw, name


def test_derive_chembl_valid_removes_the_held_out_actives_of_every_target(tmp_path, capsys):
    """chembl:valid from stand-ins of its four sources: the validation SMILES canonical and de-duplicated, minus
    the held-out fifth of each target's actives (their training part stays)."""
    actives = [s for s, y in JNK3_ROWS if y == 1 and chem.rdkit_default_canonical(s)]
    (tmp_path / "gsk3.txt").write_text("smiles,gsk3\n" + "".join(f"{s},1\n" for s in actives[:5]))
    (tmp_path / "jnk3.txt").write_text("smiles,jnk3\n" + "".join(f"{s},1\n" for s in actives[5:]))
    (tmp_path / "pf.csv").write_text("Index,Activity (EC50 uM),Canonical_Smiles\n1,0.5,CCOc1ccc(CN2CCNCC2)cc1\n"
                                     "2,3.0,c1ccccc1O\n")
    others = ["CN1CCc2nc(SCc3ccccc3Br)c(C#N)cc2C1", "Cc1nn(CCO)c(NCc2ccc(F)cc2)c1C", "O=C(O)c1cccc(C(=O)O)c1"]
    valid = others + [s for s, _ in JNK3_ROWS] + ["OC(=O)c1cccc(C(O)=O)c1"]  # a repeat in another spelling
    (tmp_path / "valid").write_text("\n".join(valid) + "\n")
    out = tmp_path / "v.smi.gz"
    args = ["datasets", "derive", "chembl:valid", "-o", str(out), "--no-download", "-j", "1"]
    for key, name in [("chembl31_valid", "valid"), ("gsk3", "gsk3.txt"), ("jnk3", "jnk3.txt"),
                      ("pfalciparum", "pf.csv")]:
        args += ["--source", f"{key}={tmp_path / name}"]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    held = set(dv.actives_parts(actives[:5])[1]) | set(dv.actives_parts(actives[5:])[1])
    assert len(held) == 2
    want = [c for c in dict.fromkeys(map(chem.rdkit_default_canonical, valid)) if c and c not in held]
    assert read_gz_lines(out) == want and len(want) == 11
    assert f"chembl:valid: {len(want)} molecules" in err  # the name as written (no emoji for ":valid:")
