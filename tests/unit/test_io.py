import gzip

import pytest

from chemrnn.errors import InputError
from chemrnn.io import atomic_write, read_rows


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_smi_with_names_crlf_and_bom(tmp_path):
    p = write(tmp_path / "a.smi", b"\xef\xbb\xbfCCO ethanol\r\nc1ccccc1\tbenzene ring\r\n\r\nCC(=O)O\r\n")
    rows = list(read_rows(p))
    assert [r.smiles for r in rows] == ["CCO", "c1ccccc1", "", "CC(=O)O"]
    assert [r.name for r in rows] == ["ethanol", "benzene ring", "", ""]
    assert [r.line for r in rows] == [1, 2, 3, 4]


def test_gzipped_smi_and_txt(tmp_path):
    p = tmp_path / "a.txt.gz"
    p.write_bytes(gzip.compress(b"CCO\nCCN\n"))
    assert [r.smiles for r in read_rows(p)] == ["CCO", "CCN"]


@pytest.mark.parametrize("header,column", [("SMILES,logP", None), ("id,Smiles,y", None), ("id,mol,y", "mol"),
                                           ("id,mol,y", "1")])
def test_csv_column_choice(tmp_path, header, column):
    ncol = header.count(",") + 1
    idx = [h.lower() for h in header.split(",")].index("smiles") if column is None else (
        int(column) if column.isdigit() else header.split(",").index(column))
    lines = [header]
    for s in ["CCO", "c1ccccc1"]:
        fields = ["1.0"] * ncol
        fields[idx] = s
        lines.append(",".join(fields))
    p = write(tmp_path / "a.csv", ("\n".join(lines) + "\n").encode())
    rows = list(read_rows(p, column=column))
    assert [r.smiles for r in rows] == ["CCO", "c1ccccc1"]
    assert [r.line for r in rows] == [2, 3]


def test_tsv_gz_quoted(tmp_path):
    p = tmp_path / "a.tsv.gz"
    p.write_bytes(gzip.compress(b'name\tsmiles\n"x y"\tCCO\n'))
    assert [r.smiles for r in read_rows(p)] == ["CCO"]


def test_missing_column_names_file_and_columns(tmp_path):
    p = write(tmp_path / "a.csv", b"id,mol\n1,CCO\n")
    with pytest.raises(InputError, match=r"a\.csv:1: no column 'smiles'.*columns: id, mol"):
        list(read_rows(p))


def test_empty_file(tmp_path):
    p = write(tmp_path / "empty.smi", b"")
    with pytest.raises(InputError, match="empty.smi: empty file"):
        list(read_rows(p))


def test_binary_junk(tmp_path):
    p = write(tmp_path / "junk.smi", bytes(range(256)) * 10)
    with pytest.raises(InputError, match="junk.smi: binary data"):
        list(read_rows(p))


def test_non_utf8_line_error_then_skip(tmp_path):
    p = write(tmp_path / "latin1.smi", b"CCO\nCC\xe9N\nCCC\n")
    with pytest.raises(InputError, match=r"latin1.smi:2: not UTF-8 \(byte 0xe9 at column 3\)"):
        list(read_rows(p))
    rows = list(read_rows(p, on_bad_line="skip"))
    assert [(r.line, r.smiles, bool(r.error)) for r in rows] == [(1, "CCO", False), (2, "", True), (3, "CCC", False)]


def test_truncated_gzip(tmp_path):
    data = gzip.compress(("CCO\n" * 50000).encode())
    p = write(tmp_path / "cut.smi.gz", data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.smi.gz.*truncated gzip"):
        list(read_rows(p))


def test_one_megabyte_line(tmp_path):
    p = write(tmp_path / "long.smi", b"CCO\n" + b"C" * 1_000_000 + b"\nCCN\n")
    with pytest.raises(InputError, match=r"long.smi:2: line too long"):
        list(read_rows(p))
    rows = list(read_rows(p, on_bad_line="skip"))
    assert [r.smiles for r in rows] == ["CCO", "", "CCN"]
    assert rows[1].line == 2 and "too long" in rows[1].error
    assert [r.line for r in rows] == [1, 2, 3]


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "out.smi"
    p.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(p) as fh:
            fh.write("new\n")
            raise RuntimeError("boom")
    assert p.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [p]  # no temporary file left behind


def test_atomic_write_gzip(tmp_path):
    p = tmp_path / "out.smi.gz"
    with atomic_write(p) as fh:
        fh.write("CCO\n")
    assert gzip.decompress(p.read_bytes()) == b"CCO\n"
