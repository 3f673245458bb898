"""Reading prediction files: damaged input is one line naming the file, never a traceback;
directories of parts (Hive partitions included) are read whole and each file once."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import re
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from keras_confusion._io import expand_paths
from keras_confusion.cli import main


def _evaluate(capsys, *files, extra=()):
    """``(exit status, stderr)`` of ``evaluate FILES --label y --score p``."""
    capsys.readouterr()
    rc = main(["evaluate", *map(str, files), "--label", "y", "--score", "p", "--bootstrap",
               "0", "--quiet", *extra])
    return rc, capsys.readouterr().err


def _one_line(err):
    assert err.count("\n") == 1 and err.startswith("keras-confusion: error: "), err
    return err


def _csv_bytes(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 4)
    return ("y,p\n" + "".join(f"{a},{b}\n" for a, b in zip(y, s, strict=True))).encode()


# ------------------------------------------------------------- long fields


@pytest.mark.parametrize("case", ["long field beside a bad value", "long header name",
                                  "long numeric-looking field"])
def test_fields_over_128_kib_are_reported_on_one_line_not_a_csv_traceback(
        case, tmp_path, capsys):
    # Python's csv module stopped at its 128 KiB field limit: _csv.Error, exit 1.
    big = "x" * (200 << 10)
    text = {"long field beside a bad value": f"y,p,note\n0,0.1,{big}\n1,abc,z\n",
            "long header name": f"y,p,{big}\n0,0.1,1\n1,abc,2\n",
            "long numeric-looking field": f"y,p\n0,0.1\n1,0.{'1' * (200 << 10)}x\n"}[case]
    path = tmp_path / "long.csv"
    path.write_text(text)
    rc, err = _evaluate(capsys, path)
    assert rc == 2
    err = _one_line(err)
    assert "long.csv: column 'p', row" in err
    assert len(err) < 400  # the value is shortened, not printed whole


# ---------------------------------------------------------- the right place


def test_blank_lines_are_no_rows_and_the_bad_value_is_named_where_it_is(tmp_path, capsys):
    path = tmp_path / "blank.csv"
    path.write_text("y,p\n\n0,0.1\n\n1,abc\n")
    rc, err = _evaluate(capsys, path)
    assert rc == 2
    assert "blank.csv: column 'p', row 2: 'abc' is not a number" in _one_line(err)


def test_literal_nan_is_a_non_finite_score_in_csv_as_in_parquet(tmp_path, capsys):
    csv_path = tmp_path / "nan.csv"
    csv_path.write_text("y,p\n0,0.1\n1,nan\n")
    pq.write_table(pa.table({"y": [0, 1], "p": [0.1, np.nan]}), tmp_path / "nan.parquet")
    messages = []
    for path in (csv_path, tmp_path / "nan.parquet"):
        rc, err = _evaluate(capsys, path)
        assert rc == 2
        messages.append(_one_line(err).split(f"{path}: ", 1)[1])
    assert messages[0] == messages[1] == "column 'p', row 2: score nan is not a finite number\n"


def test_na_is_not_a_number_and_an_empty_field_is_missing(tmp_path, capsys):
    path = tmp_path / "na.csv"
    path.write_text("y,p\n0,0.1\n1,NA\n")
    assert "na.csv: column 'p', row 2: 'NA' is not a number" in _one_line(
        _evaluate(capsys, path)[1])
    path.write_text("y,p\n0,0.1\n1,\n")
    assert "na.csv: column 'p', row 2: missing value" in _one_line(_evaluate(capsys, path)[1])


# ------------------------------------------------------------ the file named


_PACK = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz"])
def test_truncated_compressed_csv_names_the_file(suffix, tmp_path, capsys):
    data = _csv_bytes(200_000)
    packed = _PACK["." + suffix.rsplit(".", 1)[1]](data)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(packed[: len(packed) // 2])
    rc, err = _evaluate(capsys, path)
    assert rc == 2
    assert re.search(rf"cut{re.escape(suffix)}: .*truncated or damaged compressed file",
                     _one_line(err))


def test_parquet_with_a_corrupt_page_header_names_the_file(tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = tmp_path / "pages.parquet"
    pq.write_table(pa.table({"y": rng.integers(0, 2, 50_000), "p": rng.random(50_000)}),
                   path, row_group_size=10_000)
    raw = bytearray(path.read_bytes())
    # The first data page header follows the magic: damage the bytes that encode it.
    raw[4:40] = b"\xff" * 36
    path.write_bytes(bytes(raw))
    rc, err = _evaluate(capsys, path)
    assert rc == 2
    assert "pages.parquet: not a readable Parquet file" in _one_line(err)


def test_unterminated_quote_names_its_row(tmp_path, capsys):
    path = tmp_path / "quote.csv"
    path.write_text('y,p\n0,0.1\n1,"0.2\n0,0.3\n1,0.4\n')
    rc, err = _evaluate(capsys, path)
    assert rc == 2
    assert re.search(r"quote\.csv: column 'p', row 2: .*quote", _one_line(err))


# -------------------------------------------------- directories and repeats


def _table(y, s):
    return pa.table({"y": y, "p": s})


def test_hive_partitions_beside_top_level_parts_are_all_read(tmp_path, capsys):
    rng = np.random.default_rng(2)
    y, s = rng.integers(0, 2, 900), rng.random(900)
    root = tmp_path / "parts"
    (root / "year=2024").mkdir(parents=True)
    (root / "year=2025" / "month=01").mkdir(parents=True)
    (root / "_temporary").mkdir()
    pq.write_table(_table(y[:300], s[:300]), root / "part-0.parquet")
    pq.write_table(_table(y[300:600], s[300:600]), root / "year=2024" / "part-0.parquet")
    pq.write_table(_table(y[600:], s[600:]), root / "year=2025" / "month=01" / "p.parquet")
    pq.write_table(_table(y[:5], s[:5]), root / "_temporary" / "part-9.parquet")  # skipped
    (root / "_SUCCESS").write_text("")
    out = tmp_path / "out.json"
    assert main(["evaluate", str(root), "--label", "y", "--score", "p", "--bootstrap", "0",
                 "--quiet", "--json", str(out)]) == 0
    expected = sk_confusion_matrix(y, (s >= 0.5).astype(int))
    assert json.loads(out.read_text())["confusion_matrix"] == expected.tolist()
    # Only partitions, no top-level part: it was refused ("no .parquet files").
    assert len(expand_paths([str(root / "year=2025")])) == 1


@pytest.mark.parametrize("name", ["B.CSV.GZ", "a.csv.xz", "c.TSV.BZ2", "d.Csv.Zst"])
def test_compressed_csv_is_read_by_its_suffix_in_any_case_and_equals_sklearn(name, tmp_path):
    # pyarrow decompresses by lower-case suffix, and has no .xz: B.CSV.GZ failed with
    # "'utf-8' codec can't decode byte 0x8b", a.csv.xz likewise.
    data = _csv_bytes(3000, seed=4)
    if "tsv" in name.lower():
        data = data.replace(b",", b"\t")
    ext = name.lower().rsplit(".", 1)[1]
    if ext == "zst":
        packed = pa.BufferOutputStream()
        with pa.CompressedOutputStream(packed, "zstd") as f:
            f.write(data)
        packed = packed.getvalue().to_pybytes()
    else:
        packed = _PACK["." + ext](data)
    path = tmp_path / name
    path.write_bytes(packed)
    out = tmp_path / "out.json"
    assert main(["evaluate", str(path), "--label", "y", "--score", "p", "--bootstrap", "0",
                 "--quiet", "--json", str(out)]) == 0
    y, s = np.loadtxt(io.BytesIO(_csv_bytes(3000, seed=4)), delimiter=",", skiprows=1).T
    expected = sk_confusion_matrix(y, (s >= 0.5).astype(int))
    assert json.loads(out.read_text())["confusion_matrix"] == expected.tolist()


def test_decimal_parquet_columns_read_as_the_same_numbers_in_a_csv(tmp_path):
    # Refused before ("has type decimal128(5, 2)"). Read through pyarrow's own cast,
    # 0.07 would be 0.07000000000000001: positive at that threshold, where the CSV's
    # 0.07 is not.
    import decimal

    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 400)
    text = [f"0.{v:02d}" for v in rng.integers(0, 100, 400)]
    table = pa.table({"y": pa.array([decimal.Decimal(int(v)) for v in y], pa.decimal128(3, 0)),
                      "p": pa.array([decimal.Decimal(v) for v in text], pa.decimal128(5, 2))})
    pq.write_table(table, tmp_path / "d.parquet")
    s = np.array([float(v) for v in text])
    out = tmp_path / "out.json"
    for threshold in (0.07, float(np.nextafter(0.07, 1)), 0.5):
        assert main(["evaluate", str(tmp_path / "d.parquet"), "--label", "y", "--score", "p",
                     "--threshold", repr(threshold), "--bootstrap", "0", "--quiet", "--json",
                     str(out)]) == 0
        expected = sk_confusion_matrix(y, (s >= threshold).astype(int))
        assert json.loads(out.read_text())["confusion_matrix"] == expected.tolist()


def test_files_whose_names_are_not_utf8_are_read_and_equal_sklearn(tmp_path):
    # A shell passes such names as bytes (Python: surrogate escapes); pyarrow encodes
    # names in UTF-8 and every read failed, "surrogates not allowed".
    rng = np.random.default_rng(8)
    y, s = rng.integers(0, 2, 300), np.round(rng.random(300), 4)
    root = tmp_path / os.fsdecode(b"parts-\xff")
    root.mkdir()

    def text(sl):
        return ("y,p\n" + "".join(f"{a},{b}\n" for a, b in zip(y[sl], s[sl], strict=True))
                ).encode()

    csv = root / os.fsdecode(b"\xe9t\xe9.csv")  # Latin-1 bytes, not UTF-8
    csv.write_bytes(text(slice(0, 100)))
    (root / os.fsdecode(b"\xff.csv.gz")).write_bytes(gzip.compress(text(slice(100, 200))))
    parquet = root / os.fsdecode(b"\xfe.parquet")
    with open(parquet, "wb") as f:  # pyarrow's writer cannot take the name either
        pq.write_table(_table(y[200:], s[200:]), f)
    out = tmp_path / "out.json"
    for given, sl in [(root, slice(None)), (csv, slice(0, 100)), (parquet, slice(200, None))]:
        assert main(["evaluate", str(given), "--label", "y", "--score", "p", "--bootstrap",
                     "0", "--quiet", "--json", str(out)]) == 0
        expected = sk_confusion_matrix(y[sl], (s[sl] >= 0.5).astype(int))
        assert json.loads(out.read_text())["confusion_matrix"] == expected.tolist()


def test_directory_reads_compressed_and_tsv_parts_and_names_the_files_it_skips(
        tmp_path, capsys):
    # Only .parquet and .csv parts were read: part-2.csv.gz and part-3.tsv were dropped
    # without a word (400 of 600 samples counted).
    rng = np.random.default_rng(5)
    y, s = rng.integers(0, 2, 600), np.round(rng.random(600), 4)
    root = tmp_path / "parts"
    (root / "year=2024").mkdir(parents=True)

    def text(sl, sep=","):
        return ("y" + sep + "p\n" + "".join(f"{a}{sep}{b}\n" for a, b in
                                            zip(y[sl], s[sl], strict=True))).encode()

    pq.write_table(_table(y[:100], s[:100]), root / "part-0.parquet")
    (root / "part-1.csv").write_bytes(text(slice(100, 200)))
    (root / "part-2.csv.gz").write_bytes(gzip.compress(text(slice(200, 300))))
    (root / "part-3.tsv").write_bytes(text(slice(300, 400), "\t"))
    (root / "PART-4.CSV.XZ").write_bytes(lzma.compress(text(slice(400, 500))))
    pq.write_table(_table(y[500:], s[500:]), root / "year=2024" / "part-5.parquet")
    (root / "README.txt").write_text("not data")
    (root / "000000_0").write_bytes(text(slice(0, 50)))  # a part by content, not by name
    (root / "_SUCCESS").write_text("")
    (root / ".part-0.parquet.crc").write_text("")
    rc, err = _evaluate(capsys, root, extra=["--json", str(tmp_path / "out.json")])
    assert rc == 0
    expected = sk_confusion_matrix(y, (s >= 0.5).astype(int))
    assert json.loads((tmp_path / "out.json").read_text())["confusion_matrix"] == \
        expected.tolist()
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == [f"keras-confusion: warning: {root}: 2 file(s) not read, not Parquet, "
                        "CSV or TSV by their names: 000000_0, README.txt (name a file to "
                        "read it as it is)"], err


def test_a_pipe_is_refused_with_what_it_is_not_as_missing(tmp_path, capsys):
    # `evaluate <(zcat f.csv.gz)` said "no such file or directory" of a pipe that exists.
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # never opened: a file is read twice, which a pipe cannot give
    rc, err = _evaluate(capsys, fifo)
    assert rc == 2
    assert re.search(r"pipe\.csv: not a regular file \(a pipe or a device\).*save the data "
                     r"to a file", _one_line(err))


def test_a_file_given_twice_or_inside_a_given_directory_is_read_once(tmp_path):
    rng = np.random.default_rng(3)
    y, s = rng.integers(0, 2, 400), rng.random(400)
    root = tmp_path / "parts"
    root.mkdir()
    pq.write_table(_table(y[:200], s[:200]), root / "a.parquet")
    pq.write_table(_table(y[200:], s[200:]), root / "b.parquet")
    a = str(root / "a.parquet")
    (tmp_path / "link.parquet").symlink_to(a)
    out = tmp_path / "out.json"
    assert main(["evaluate", a, str(root), a, str(root / ".." / "parts" / "a.parquet"),
                 str(tmp_path / "link.parquet"), "--label", "y", "--score", "p",
                 "--bootstrap", "0", "--quiet", "--json", str(out)]) == 0
    expected = sk_confusion_matrix(y, (s >= 0.5).astype(int))
    assert json.loads(out.read_text())["confusion_matrix"] == expected.tolist()
    assert expand_paths([a, str(root)]) == [a, str(root / "b.parquet")]


# ------------------------------------------------------------------------ fuzz


def _parquet_bytes(rng):
    n = int(rng.integers(1, 3000))
    table = pa.table({"y": rng.integers(0, 2, n), "p": rng.random(n)})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=int(rng.integers(50, 1000)),
                   compression=str(rng.choice(["snappy", "zstd", "none"])))
    return buf.getvalue()


def _damage_csv(rng, text: bytes) -> bytes:
    """One random dialect or content damage of a CSV file."""
    lines = text.split(b"\n")
    i = int(rng.integers(1, max(2, len(lines) - 1)))
    kind = int(rng.integers(0, 12))
    if kind == 0:  # a stray quote
        lines[i] = b'"' + lines[i]
    elif kind == 1:  # another delimiter
        lines[i] = lines[i].replace(b",", b";")
    elif kind == 2:  # a field too many or too few
        lines[i] = lines[i] + b",1" if rng.random() < 0.5 else lines[i].split(b",")[0]
    elif kind == 3:  # CRLF and lone CR line ends
        return text.replace(b"\n", b"\r\n" if rng.random() < 0.5 else b"\r")
    elif kind == 4:  # NUL bytes
        lines[i] = lines[i][:1] + b"\x00" + lines[i][1:]
    elif kind == 5:  # invalid UTF-8
        lines[i] = lines[i] + b"\xff\xfe"
    elif kind == 6:  # a field over 128 KiB
        lines[i] = lines[i] + b"9" * (130 << 10)
    elif kind == 7:  # a header that is damaged
        lines[0] = rng.choice([b"", b"y", b"y,y,p", b'"y,p', b"\xef\xbb\xbfy,p"])
    elif kind == 8:  # whitespace and signs
        lines[i] = lines[i].replace(b",", b", +")
    elif kind == 9:  # words where numbers go
        lines[i] = rng.choice([b"1,inf", b"1,-inf", b"1,NaN", b"true,0.3", b"1,1e999",
                               b"1,0x10", b"1,1_0", b"2,0.5", b"-1,0.5"])
    elif kind == 10:  # cut anywhere
        return text[: int(rng.integers(0, len(text) + 1))]
    else:  # blank lines
        lines.insert(i, b"")
    return b"\n".join(lines)


def _fuzz_case(rng, k):
    """``(name, bytes)`` of one damaged input."""
    kind = k % 6
    if kind == 0:
        n = int(rng.integers(0, 4000))
        head = rng.choice([b"", b"y,p\n", b"PAR1"])
        return "random.csv", head + rng.bytes(n)
    if kind == 1:
        return "dialect.csv", _damage_csv(rng, _csv_bytes(int(rng.integers(5, 300)), k))
    if kind == 2:
        packed = gzip.compress(_csv_bytes(int(rng.integers(50, 20_000)), k))
        return "cut.csv.gz", packed[: int(rng.integers(0, len(packed)))]
    if kind == 3:
        packed = bz2.compress(_csv_bytes(int(rng.integers(50, 20_000)), k))
        return "cut.csv.bz2", packed[: int(rng.integers(0, len(packed)))]
    raw = bytearray(_parquet_bytes(rng))
    if kind == 4:  # truncated
        return "cut.parquet", bytes(raw[: int(rng.integers(0, len(raw)))])
    for _ in range(int(rng.integers(1, 9))):  # bit flips
        pos = int(rng.integers(0, len(raw)))
        raw[pos] ^= 1 << int(rng.integers(0, 8))
    return "flip.parquet", bytes(raw)


def test_fuzzed_files_exit_0_or_2_with_one_line_naming_the_file(tmp_path, capsys):
    rng = np.random.default_rng(20261205)
    start, cases = time.monotonic(), 0
    for k in range(600):
        if time.monotonic() - start > 20:  # a bound on the test's time, not a filter
            break
        name, data = _fuzz_case(rng, k)
        path = tmp_path / f"{k}-{name}"
        path.write_bytes(data)
        capsys.readouterr()
        try:
            rc = main(["evaluate", str(path), "--label", "y", "--score", "p", "--bootstrap",
                       "0", "--quiet", "--chunk-rows", "97"])
        except BaseException as e:  # a traceback is the failure sought
            pytest.fail(f"case {k} ({name}): {type(e).__name__}: {e}")
        err = capsys.readouterr().err
        assert rc in (0, 2), (k, name, rc, err)
        if rc == 2:
            assert err.count("\n") == 1 and err.startswith("keras-confusion: error: "), (
                k, name, err)
            assert str(path) in err, (k, name, err)
        path.unlink()
        cases += 1
    assert cases >= 100


@pytest.mark.parametrize("values, type_name", [
    ([1.5, 2.5, -3.5, 0.0], "float32"), ([0.1, 0.7, 1.0, 0.0], "float64"),
    ([True, False, True, True, False, False, True, True, True], "bool_"),
    ([1, -2, 3, 0], "int8"), ([7, 8, 9, 0], "uint32"), ([1, 2, 3, 2**40], "int64"),
])
def test_columns_read_from_buffers_equal_pyarrow_to_numpy_sliced_and_chunked(values,
                                                                            type_name):
    import pyarrow as pa

    from keras_confusion._io import _to_numpy

    arr = pa.array(values, getattr(pa, type_name)())
    for column in [arr, arr.slice(1), arr.slice(3, 0),
                   pa.chunked_array([arr.slice(1), arr.slice(0, 0), arr]),
                   pa.chunked_array([], arr.type)]:
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        expected = np.concatenate([np.asarray(c.to_numpy(zero_copy_only=False))
                                   for c in chunks] or [np.zeros(0, arr.type.to_pandas_dtype())])
        got = _to_numpy(column, pa)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
