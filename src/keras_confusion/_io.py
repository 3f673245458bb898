"""Reading prediction files (CSV, TSV or Parquet) in bounded chunks with pyarrow.

Each chunk is a few hundred thousand to a million rows of the label column, the
score column(s) and an optional sample-weight column as NumPy arrays, so memory stays
bounded for any number of rows. Every problem is raised as `InputError` with one line
saying what and where (file, column, row). Rows are data rows counted from 1 in each
file (a CSV header is not a row).
"""

from __future__ import annotations

import csv
import lzma
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_CHUNK_ROWS = 1 << 20
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


class InputError(ValueError):
    """A problem with an input file, described in one line."""


@dataclass
class Chunk:
    path: str
    start: int  # 0-based index in its file of the first row of the chunk
    labels: np.ndarray  # (n,) numbers as read
    scores: np.ndarray  # (n, S) float
    weights: np.ndarray | None = None  # (n,) numbers as read, or None (no weight column)


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError(
            "reading prediction files needs pyarrow: pip install 'keras-confusion[cli]'"
        ) from None
    return pa, pa_csv, pq


#: Compressed text, by suffix (any case): pyarrow's codec, or None for Python's lzma.
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4", ".xz": None}
_TEXT_SUFFIXES = (".csv", ".tsv", ".tab")


def _compression(path: str) -> tuple[str, str | None]:
    """``(name without its compression suffix, lower case; that suffix or None)``."""
    name = path.lower()
    for ext in _COMPRESSIONS:
        if name.endswith(ext):
            return name[: -len(ext)], ext
    return name, None


def is_parquet(path: str) -> bool:
    name, compressed = _compression(path)
    if compressed is None and name.endswith(_PARQUET_SUFFIXES):
        return True
    if compressed is not None or name.endswith((*_TEXT_SUFFIXES, ".txt")):
        return False
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def _is_part(name: str) -> bool:
    """Whether a file in a directory of parts is one: Parquet, or CSV or TSV, plain or
    compressed (``part-0.csv.gz``)."""
    base, compressed = _compression(name)
    return base.endswith(_TEXT_SUFFIXES) or (
        compressed is None and base.endswith(_PARQUET_SUFFIXES))


def _parts(directory: str) -> tuple[list[str], list[str]]:
    """``(parts, others)``: the Parquet, CSV and TSV files (`_is_part`) under
    ``directory``, its subdirectories included (Hive partitions such as
    ``year=2024/part-0.parquet`` beside top-level parts), sorted by path; and the
    other files, which are not read. Names starting with ``.`` or ``_``
    (``_SUCCESS``, ``_temporary/``, ``.crc`` files) are in neither, as Spark, Dask and
    pyarrow write them."""
    found, others = [], []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in names:
            path = os.path.join(root, name)
            if name.startswith((".", "_")) or not os.path.isfile(path):
                continue
            (found if _is_part(name) else others).append(path)

    def order(f):
        return os.path.relpath(f, directory).split(os.sep)

    return sorted(found, key=order), sorted(others, key=order)


def is_part_of(path: str, directory: str) -> bool:
    """Whether a file written at ``path`` would be read as a part of ``directory``
    (`_parts`: under it, by a part's name, and in no folder or file hidden by a
    leading ``.`` or ``_``)."""
    from keras_confusion._files import is_stdout

    if is_stdout(path):
        return False
    folder = os.path.realpath(directory)
    # Where the link is, and where it leads (a dangling one too: writing creates it).
    for where in {os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))),
                               os.path.basename(path)), os.path.realpath(path)}:
        try:
            relative = os.path.relpath(where, folder)
        except ValueError:  # another drive (Windows)
            continue
        steps = relative.split(os.sep)
        if relative != os.curdir and steps[0] != os.pardir and _is_part(steps[-1]) \
                and not any(s.startswith((".", "_")) for s in steps):
            return True
    return False


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files as given; a directory stands for its Parquet, CSV and TSV parts,
    recursively (Hive partitions), sorted, with a `ConfusionWarning` naming the files
    it holds that are none. Each file is read once: the same file given twice, or a
    directory and a file in it, appear once, where first named."""
    files, seen = [], set()
    for p in paths:
        if os.path.isdir(p):
            parts, others = _parts(p)
            if not parts:
                raise InputError(f"{p}: directory has no Parquet, CSV or TSV files "
                                 "(in it or in its subdirectories)")
            if others:
                import warnings

                from keras_confusion._validation import ConfusionWarning

                shown = ", ".join(os.path.relpath(f, p) for f in others[:3])
                more = f" and {len(others) - 3} more" if len(others) > 3 else ""
                warnings.warn(
                    f"{p}: {len(others)} file(s) not read, not Parquet, CSV or TSV by "
                    f"their names: {shown}{more} (name a file to read it as it is)",
                    ConfusionWarning, stacklevel=2)
        elif os.path.isfile(p):
            parts = [p]
        elif os.path.exists(p):  # `<(zcat f.csv.gz)` said "no such file or directory"
            raise InputError(f"{p}: not a regular file (a pipe or a device); a file is "
                             "read more than once (its header, then its rows): save the "
                             "data to a file, or name the compressed file itself")
        else:
            raise InputError(f"{p}: no such file or directory")
        for f in parts:
            st = os.stat(f)
            key = (st.st_dev, st.st_ino)  # one file under two names (a link) too
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files


def count_rows(paths: Sequence[str]) -> int | None:
    """Total rows from Parquet metadata, or `None` when a CSV file is among them."""
    total = 0
    for p in paths:
        if not is_parquet(p):
            return None
        total += _parquet_file(p).metadata.num_rows
    return total


def _source(path):
    """``path`` for pyarrow, or the file opened here when its name is not UTF-8: pyarrow
    encodes names in UTF-8 and refused the bytes a shell passes on ("surrogates not
    allowed"), where Python opens them (`os.fsencode`)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return open(path, "rb")  # closed when the reader that holds it is let go
    return path


def _parquet_file(path, **kwargs):
    """``pyarrow.parquet.ParquetFile(path)``, or InputError naming the file."""
    pa, _, pq = _pyarrow()
    try:
        return pq.ParquetFile(_source(path), **kwargs)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable Parquet file ({_first_line(e)})") from None


def _delimiter(path) -> str:
    """Tab for ``.tsv`` (and ``.tab``) files, plain or compressed; else a comma."""
    return "\t" if _compression(path)[0].endswith((".tsv", ".tab")) else ","


def _csv_stream(path):
    """A CSV file's bytes for pyarrow, decompressed by its suffix in any case
    (``.gz``, ``.bz2``, ``.zst``, ``.lz4``; ``.xz`` through Python's lzma, which
    pyarrow lacks): pyarrow's own detection knows only lower case, and read
    ``B.CSV.GZ`` as text ("'utf-8' codec can't decode byte 0x8b")."""
    pa, _, _ = _pyarrow()
    ext = _compression(path)[1]
    if ext == ".xz":
        return pa.PythonFile(lzma.open(path, "rb"), mode="r")
    return pa.input_stream(_source(path),
                           compression=None if ext is None else _COMPRESSIONS[ext])


def _open_csv_text(path):
    """A CSV file as text, as pyarrow's reader sees it (`_csv_stream`): decompressed,
    UTF-8, a byte-order mark dropped."""
    import io

    return io.TextIOWrapper(_csv_stream(path), encoding="utf-8-sig", newline="")


def _check_columns(path, available, columns):
    available = list(available)
    for col in columns:
        if col not in available:
            shown = ", ".join(repr(c) for c in available[:20])
            raise InputError(f"{path}: no column {col!r} (columns: {shown})")
        if available.count(col) > 1:
            raise InputError(f"{path}: column {col!r} appears {available.count(col)} times; "
                             "expected one column of that name")


def _numpy_column(path, name, column, start, pa) -> np.ndarray:
    if column.null_count:
        mask = np.asarray(column.is_null().to_numpy(zero_copy_only=False))
        row = start + int(np.argmax(mask)) + 1
        raise InputError(f"{path}: column {name!r}, row {row}: missing value")
    t = column.type
    if pa.types.is_decimal(t):
        # Through their text, as a CSV's numbers are read: pyarrow's own cast to float64
        # is not correctly rounded (0.07 became 0.07000000000000001, one float64 above
        # a CSV's 0.07; 10 of the 100 values 0.00 to 0.99 differed).
        column = column.cast(pa.string()).cast(pa.float64())
        t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        raise InputError(f"{path}: column {name!r} has type {t}; expected numbers")
    return _to_numpy(column, pa)


def _to_numpy(column, pa) -> np.ndarray:
    """A column of numbers or booleans without nulls as NumPy, read from its buffers.

    pyarrow's own ``to_numpy`` imports pandas (about 1 s of the command line's start-up
    on a small file, for a conversion NumPy does from the buffers directly).
    """
    t = column.type
    boolean = pa.types.is_boolean(t)
    if not boolean:
        kind = "f" if pa.types.is_floating(t) else (
            "u" if pa.types.is_unsigned_integer(t) else "i")
        dtype = np.dtype(f"{kind}{t.bit_width // 8}")
    parts = []
    for chunk in getattr(column, "chunks", [column]):
        start, n = chunk.offset, len(chunk)
        if n == 0:
            continue
        data = chunk.buffers()[1]
        if boolean:
            bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
            parts.append(bits[start:start + n].astype(bool))
        else:
            parts.append(np.frombuffer(data, dtype=dtype, count=start + n)[start:])
    if not parts:
        return np.zeros(0, dtype=bool if boolean else dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _columns(label, scores, weight) -> list:
    return [label, *scores] + ([weight] if weight is not None else [])


def _parquet_chunks(path, label, scores, chunk_rows, weight) -> Iterator[Chunk]:
    pa, _, _ = _pyarrow()
    # pre_buffer=False: pre-buffering keeps read-ahead column chunks in the memory pool
    # (hundreds of MB on a 100 M-row file) for no gain in speed here.
    pf = _parquet_file(path, pre_buffer=False)
    columns = _columns(label, scores, weight)
    _check_columns(path, pf.schema_arrow.names, columns)
    start = 0
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
        yield _batch_to_chunk(path, batch, label, scores, weight, start, pa)
        start += batch.num_rows


def _batch_to_chunk(path, batch, label, scores, weight, start, pa) -> Chunk:
    labels = _numpy_column(path, label, batch.column(label), start, pa)
    cols = [_numpy_column(path, s, batch.column(s), start, pa) for s in scores]
    if len(cols) == 1:
        score = cols[0].reshape(-1, 1)
    else:
        score = np.stack(cols, axis=1)
    if score.dtype.kind != "f":
        score = score.astype("float64")
    weights = (None if weight is None
               else _numpy_column(path, weight, batch.column(weight), start, pa))
    return Chunk(path, start, labels, score, weights)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _is_number(text: str) -> bool:
    """Whether pyarrow's CSV reader reads ``text`` as a float64 (near enough for
    finding the bad row: Python's float also takes ``1_0``, pyarrow does not)."""
    if "_" in text:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


class _FieldLimit:
    """Python's csv field limit (128 KiB) raised for a block: a long field is data
    to report on, not an error of its own."""

    def __enter__(self):
        self.old = csv.field_size_limit()
        csv.field_size_limit(sys.maxsize)

    def __exit__(self, *exc):
        csv.field_size_limit(self.old)


def _locate_csv_error(path, columns) -> str:
    """The first row where one of ``columns`` is not a number, or whose number of
    fields is not the header's (only on the error path). Rows are counted as pyarrow
    counts them: blank lines are no rows."""
    row_no = 0
    try:
        with _FieldLimit(), _open_csv_text(path) as f:
            reader = csv.reader(f, delimiter=_delimiter(path))
            header = next(reader)
            idx = {c: header.index(c) for c in columns}
            for row in reader:
                if not row:
                    continue  # a blank line
                row_no += 1
                if len(row) != len(header):
                    return (f"{path}: row {row_no} has {len(row)} fields; expected "
                            f"{len(header)}, as in the header")
                for c, i in idx.items():
                    value = row[i]
                    if _is_number(value):
                        continue
                    if value.strip() == "":
                        what = "missing value"
                    elif "\n" in value or "\r" in value:
                        what = ("a quoted field runs over several lines (a quote that is "
                                "never closed?)")
                    else:
                        what = f"{value[:40]!r} is not a number"
                    return f"{path}: column {c!r}, row {row_no}: {what}"
    except csv.Error as e:
        return f"{path}: row {row_no + 1}: {_first_line(e)}"
    except UnicodeDecodeError as e:
        return f"{path}: row {row_no + 1}: not UTF-8 text ({e.reason})"
    except Exception as e:  # a damaged stream: its own message, named
        return f"{path}: {_stream_problem(e)}"
    return ""


def _stream_problem(e: BaseException) -> str:
    text = _first_line(e)
    if "compressed" in text.lower() or isinstance(e, EOFError):
        return f"truncated or damaged compressed file ({text})"
    return text


def _compressed_problem(path) -> str:
    """Why a compressed file yields no text (pyarrow reads a truncated ``.bz2``
    block as empty): the standard library's decompressor says, or ``""``."""
    import bz2
    import gzip

    ext = _compression(path)[1]
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(ext)
    if opener is None or os.path.getsize(path) == 0:
        return ""
    try:
        with opener(path, "rb") as f:
            read = 0
            while read < 1 << 20:  # a short read is no end: the error comes after
                block = f.read(1 << 16)
                if not block:
                    break
                read += len(block)
    except (EOFError, OSError, lzma.LZMAError) as e:
        return f"{path}: truncated or damaged compressed file ({_first_line(e)})"
    return ""


def _csv_chunks(path, label, scores, chunk_rows, weight) -> Iterator[Chunk]:
    pa, pa_csv, _ = _pyarrow()
    try:
        with _FieldLimit(), _open_csv_text(path) as f:
            header = next(csv.reader(f, delimiter=_delimiter(path)))
    except StopIteration:
        raise InputError(_compressed_problem(path)
                         or f"{path}: empty file (no header, no rows)") from None
    except (UnicodeDecodeError, csv.Error, pa.ArrowException, OSError, EOFError,
            lzma.LZMAError) as e:
        raise InputError(f"{path}: not a readable UTF-8 CSV file "
                         f"({_stream_problem(e)})") from None
    columns = _columns(label, scores, weight)
    _check_columns(path, header, columns)
    # Parsing numbers straight to float64 keeps conversion in pyarrow's C++ reader.
    # Only an empty field is missing: 'nan' is a NaN (not a finite number, as in
    # Parquet) and 'NA' is no number, where pyarrow's defaults read both as missing.
    convert = pa_csv.ConvertOptions(include_columns=columns, null_values=[""],
                                    column_types={c: pa.float64() for c in columns})
    # ~chunk_rows rows per block for short rows; pyarrow splits blocks by bytes.
    read = pa_csv.ReadOptions(block_size=max(1 << 16, min(chunk_rows * 24, 1 << 26)))
    start = 0
    try:
        # A quoted field may hold line breaks (pandas writes them so): without
        # newlines_in_values, a block boundary inside one failed to parse, or not,
        # depending on the file's size and --chunk-rows. `evaluate` of 3 M rows (64 MB)
        # took 0.169 s with it, 0.168 s without (best of 5, interleaved).
        with _csv_stream(path) as stream:
            reader = pa_csv.open_csv(stream, read_options=read, convert_options=convert,
                                     parse_options=pa_csv.ParseOptions(
                                         delimiter=_delimiter(path),
                                         newlines_in_values=True))
            for batch in reader:
                yield _batch_to_chunk(path, batch, label, scores, weight, start, pa)
                start += batch.num_rows
    except (pa.ArrowException, OSError, EOFError, lzma.LZMAError) as e:
        where = _locate_csv_error(path, columns)
        raise InputError(where or f"{path}: {_stream_problem(e)}") from None


def iter_chunks(paths: Sequence[str], label: str, scores: Sequence[str],
                chunk_rows: int = DEFAULT_CHUNK_ROWS, weight: str | None = None
                ) -> Iterator[Chunk]:
    """Chunks of ``(labels, scores, weights or None)`` from each file in turn."""
    pa, _, _ = _pyarrow()
    for path in paths:
        try:
            if is_parquet(path):
                yield from _parquet_chunks(path, label, scores, chunk_rows, weight)
            else:
                yield from _csv_chunks(path, label, scores, chunk_rows, weight)
        except InputError:
            raise
        except (pa.ArrowException, OSError, EOFError, ValueError, TypeError,
                IndexError, MemoryError, NotImplementedError) as e:
            # A damaged file (a bit-flipped Parquet page header, say) fails inside
            # pyarrow with a message that names no file.
            raise InputError(f"{path}: not a readable "
                             f"{'Parquet' if is_parquet(path) else 'CSV'} file "
                             f"({_stream_problem(e)})") from None


def check_chunk(chunk: Chunk, label: str, scores: Sequence[str], num_classes: int,
                weight: str | None = None):
    """Integer labels ``(n,)`` in ``{0, ..., K-1}``, finite scores and (with a weight
    column) weights that are finite and >= 0, or InputError. The weights are left in
    ``chunk.weights`` as float64."""
    if chunk.weights is not None:
        from keras_confusion.report import WEIGHT_RANGE

        w = np.asarray(chunk.weights, dtype=np.float64)
        bad = ~(np.isfinite(w) & (w >= 0))
        lo, hi = WEIGHT_RANGE
        far = (w != 0) & ((w < lo) | (w > hi)) & ~bad
        if bad.any() or far.any():
            row = int(np.argmax(bad | far))
            what = ("is not a finite number >= 0" if bad[row] else
                    f"is outside [{lo:g}, {hi:g}] (so that sums of weights, and of their "
                    "squares for intervals, stay finite and non-zero over any number of "
                    "rows; scale every weight alike, which changes no figure)")
            raise InputError(f"{chunk.path}: column {weight!r}, row {chunk.start + row + 1}: "
                             f"weight {w[row]} {what}")
        chunk.weights = w
    s = chunk.scores
    bad = ~np.isfinite(s)
    if bad.any():
        row, col = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise InputError(f"{chunk.path}: column {scores[col]!r}, row {chunk.start + row + 1}: "
                         f"score {s[row, col]} is not a finite number")
    y = chunk.labels
    if y.dtype.kind == "b":
        y = y.view(np.uint8)
    lo, hi = y.min(), y.max()
    integral = y.dtype.kind in "iu" or bool(np.all(y == np.floor(y)))
    if lo < 0 or hi >= num_classes or not integral:
        bad = (y < 0) | (y >= num_classes) | (y != np.floor(y))
        row = int(np.argmax(bad))
        value = y[row].item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        raise InputError(
            f"{chunk.path}: column {label!r}, row {chunk.start + row + 1}: label {value} "
            f"is not a class in {{0, ..., {num_classes - 1}}}")
    return y if y.dtype.kind in "iu" else y.astype(np.int64)


def read_cost_matrix(text: str) -> np.ndarray:
    """A cost matrix from ``"0,1;10,0"`` (rows split by ``;``), JSON ``"[[0,1],[10,0]]"``
    or the path of a file holding either form."""
    import json

    source = text
    if os.path.isfile(text):
        with open(text) as f:
            source = f.read().strip()
    how = "write rows separated by ';', e.g. '0,1;10,0'"
    if source.lstrip().startswith("["):
        try:
            return np.asarray(json.loads(source), dtype="float64")
        except (ValueError, TypeError) as e:
            raise InputError(f"--cost {text!r}: not a matrix of numbers ({_first_line(e)}); "
                             f"{how}") from None
    values = []
    for i, row in enumerate((r for r in re.split(r"[;\n]", source) if r.strip()), 1):
        # Commas separate values ('0, 1' too), else blanks ('0 1'); an empty value
        # between commas is a typo, not nothing ('0,,1' was read as '0,1').
        fields = [v.strip() for v in row.split(",")] if "," in row else row.split()
        if "" in fields:
            raise InputError(f"--cost {text!r}: row {i} has an empty value ({row!r}); {how}")
        try:
            values.append([float(v) for v in fields])
        except ValueError as e:
            raise InputError(f"--cost {text!r}: not a matrix of numbers ({_first_line(e)}); "
                             f"{how}") from None
    if len({len(r) for r in values}) > 1:
        raise InputError(f"--cost {text!r}: rows have different lengths "
                         f"{[len(r) for r in values]}; expected a square matrix")
    return np.asarray(values, dtype="float64")
