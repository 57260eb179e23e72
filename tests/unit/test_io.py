import gzip

import pytest

from chemrnn.errors import InputError
from chemrnn.io import atomic_write, read_rows

from conftest import read_only_folder


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


# ------------------------------------------------------------------------------ messages, outputs
def test_bad_line_errors_are_their_own_kind_and_carry_no_cli_hint(tmp_path):
    """Whether --skip-bad-lines exists depends on the command: the reader never suggests it itself."""
    from chemrnn.io import BadLineError

    p = write(tmp_path / "latin1.smi", b"CCO\nCC\xe9N\n")
    with pytest.raises(BadLineError, match=r"latin1.smi:2: not UTF-8") as info:
        list(read_rows(p))
    assert "--skip-bad-lines" not in str(info.value)


def test_an_unreadable_header_is_never_skipped(tmp_path):
    from chemrnn.io import BadLineError

    p = write(tmp_path / "h.csv", b"smi\xe9les\nCCO\n")
    for mode in ("error", "skip"):
        with pytest.raises(InputError, match=r"h.csv:1: unreadable header: not UTF-8") as info:
            list(read_rows(p, on_bad_line=mode))
        assert not isinstance(info.value, BadLineError)


def test_column_errors_echo_little_of_the_input(tmp_path):
    header = ",".join(f"column_number_{i}_" + "x" * 200 for i in range(400))  # 87 kB: under the line limit
    p = write(tmp_path / "wide.csv", (header + "\n" + ",".join("1" * 400) + "\n").encode())
    with pytest.raises(InputError) as info:
        list(read_rows(p))
    msg = str(info.value)
    assert "wide.csv:1: no column 'smiles'" in msg and "(400 columns)" in msg and len(msg) < 1200


def test_a_csv_that_is_really_tab_separated_says_so(tmp_path):
    p = write(tmp_path / "t.csv", b"smiles\tlogP\nCCO\t-0.1\n")
    with pytest.raises(InputError, match=r"t.csv:1: .*looks tab-separated; name it .tsv"):
        list(read_rows(p))


def test_clip():
    from chemrnn.io import clip

    assert clip("CCO") == "CCO"
    long = clip("C" * 1_000_000)
    assert len(long) == 80 and long.endswith("…")
    assert clip("a\tb\x00c") == "a\\tb\\x00c"  # control characters shown, not acted on





def test_check_writable(tmp_path):
    from chemrnn.io import check_writable

    assert check_writable(tmp_path / "new" / "deeper" / "out.smi") == tmp_path / "new" / "deeper" / "out.smi"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match=r"afile/out.smi: cannot be created: .*afile is a file"):
        check_writable(tmp_path / "afile" / "out.smi")
    with pytest.raises(InputError, match="is a folder"):
        check_writable(tmp_path, "file")
    with pytest.raises(InputError, match="is a file"):
        check_writable(tmp_path / "afile", "dir")
    ro = read_only_folder(tmp_path)
    with pytest.raises(InputError, match=r"ro[^/]*/out.smi: cannot write here|sys/out.smi: cannot write here"):
        check_writable(ro / "out.smi")


def test_atomic_write_failures_name_the_users_path(tmp_path):
    from chemrnn.errors import ChemrnnError

    ro = read_only_folder(tmp_path)
    target = ro / "out.smi"
    with pytest.raises(ChemrnnError) as info:
        with atomic_write(target) as fh:
            fh.write("CCO\n")
    assert str(info.value).startswith(f"{target}: cannot write") and ".tmp" not in str(info.value)
    (tmp_path / "d.smi").mkdir()  # the rename onto a folder fails at the end
    with pytest.raises(ChemrnnError) as info:
        with atomic_write(tmp_path / "d.smi") as fh:
            fh.write("CCO\n")
    assert str(info.value).startswith(f"{tmp_path / 'd.smi'}: cannot write") and ".tmp" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_read_table_keeps_every_column_with_file_line_numbers(tmp_path):
    from chemrnn.io import read_table

    p = write(tmp_path / "t.csv", b'\xef\xbb\xbfsmiles,logD,name\r\nCCO,-0.3,"ethanol, dry"\n\nCC,1.2\nCCN,0.1,x,\n')
    header, rows, fields = read_table(p)
    assert header == ["smiles", "logD", "name"]
    assert [r.line for r in rows] == [2, 4, 5]  # the blank line 3 is no row, line numbers stay file lines
    assert fields[0] == ["CCO", "-0.3", "ethanol, dry"]
    assert rows[1].error == "2 fields where the header has 3" and not rows[2].error  # a trailing empty field is fine


def test_read_table_stops_on_an_undecodable_line_unless_told_to_skip(tmp_path):
    from chemrnn.io import BadLineError, read_table

    p = write(tmp_path / "t.csv", b"smiles,y\nCCO,1\nCC\xe9N,2\n")
    with pytest.raises(BadLineError, match="not UTF-8") as exc:
        read_table(p)
    assert exc.value.line == 3
    _, rows, _ = read_table(p, on_bad_line="skip")
    assert [bool(r.error) for r in rows] == [False, True]
