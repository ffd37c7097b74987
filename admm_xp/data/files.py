"""Reading row ranges of the user's files: NPY, NPZ and CSV (plain or gzip).

Each rank reads only its rows: NPY arrays and uncompressed NPZ members are
memory-mapped and sliced; a plain CSV is split by byte ranges aligned to
line starts; a gzip CSV is streamed up to the rank's last row (gzip cannot
seek). Every problem becomes a :class:`~admm_xp.errors.DataError` that
names the file and what to do.
"""
from __future__ import annotations

import gzip
import io
import os
import re
import zipfile
from typing import Callable

import numpy as np

from ..errors import DataError

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file; check the path (or fetch it with `admm-xp data fetch`)")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a data file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: not readable (permissions)")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: the file is empty")


# NPY / NPZ -------------------------------------------------------------------------
def npy_rows(path: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
    """Rows ``start:stop`` of a .npy file via a memory map (only those rows are read)."""
    _check_readable(path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({_short(exc)}); re-export it with numpy.save") from None
    return np.array(arr[start:stop])


def npz_member(path: str, name: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
    """Rows ``start:stop`` of member ``name`` of an .npz file.

    Members stored uncompressed (``numpy.savez``) are memory-mapped, so a rank
    reads only its rows; compressed ones (``savez_compressed``) are read whole
    and then sliced.
    """
    _check_readable(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({_short(exc)}); save it with numpy.savez(path, X=..., y=...)") from None
    with zf:
        member = name + ".npy"
        if member not in zf.namelist():
            keys = sorted(n[:-4] for n in zf.namelist() if n.endswith(".npy"))
            raise DataError(f"{path}: has no array {name!r} (it has {keys}); save features as X and labels as y")
        info = zf.getinfo(member)
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                return _stored_member_rows(path, zf, info, start, stop)
            with zf.open(member) as fh:
                arr = np.lib.format.read_array(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: array {name!r} is truncated or corrupt ({_short(exc)})") from None
    return np.array(arr[start:stop])


def npz_keys(path: str) -> list[str]:
    _check_readable(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({_short(exc)})") from None


def npz_shape(path: str, name: str) -> tuple:
    """Shape of member ``name`` of an .npz file, reading only its header."""
    _check_readable(path)
    try:
        with zipfile.ZipFile(path) as zf, zf.open(name + ".npy") as fh:
            version = np.lib.format.read_magic(fh)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            return tuple(header(fh)[0])
    except KeyError:
        raise DataError(f"{path}: has no array {name!r}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: array {name!r} is truncated or corrupt ({_short(exc)})") from None


def _stored_member_rows(path, zf, info, start, stop):
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        local = raw.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise ValueError("bad local zip header")
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        data_start = info.header_offset + 30 + name_len + extra_len
        raw.seek(data_start)
        version = np.lib.format.read_magic(raw)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
        offset = raw.tell()
    if dtype.hasobject:
        raise ValueError("object arrays are not data")
    count = int(np.prod(shape)) if shape else 1
    if offset + count * dtype.itemsize > data_start + info.file_size:
        raise ValueError("the array is shorter than its header says")
    mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    return np.array(mm[start:stop])


# CSV -----------------------------------------------------------------------------
def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


class ChunkRowError(DataError):
    """A row NumPy could not read in a byte range whose first data row's number is not known on this rank.

    ``row`` is the bad row within the range (counted from 1, blank lines
    skipped, as NumPy counts) and ``lines`` the range's data rows; once the
    rows before the range are counted (over the ranks), :meth:`at` gives the
    message with the row's number in the whole file.
    """

    def __init__(self, path: str, message: str, delimiter: str, lines: int):
        self.path, self.np_message, self.delimiter, self.lines = path, message, delimiter, lines
        self.row = _numpy_row(message)
        super().__init__(_unreadable(path, message, -1, delimiter))

    def at(self, first_line_no: int) -> str:
        return _unreadable(self.path, self.np_message, first_line_no, self.delimiter)

    def __reduce__(self):
        return (ChunkRowError, (self.path, self.np_message, self.delimiter, self.lines))


def _parse_lines(lines: bytes, path: str, first_line_no: int, delimiter: str) -> np.ndarray:
    if not lines.strip():
        return np.zeros((0, 0))
    try:
        arr = np.loadtxt(io.BytesIO(lines), delimiter=delimiter, dtype=np.float64, ndmin=2, comments=None)
    except ValueError as exc:
        if first_line_no < 1 and _numpy_row(str(exc)) is not None:
            raise ChunkRowError(path, str(exc), delimiter, sum(1 for line in lines.split(b"\n") if line.strip())) from None
        raise DataError(_unreadable(path, str(exc), first_line_no, delimiter)) from None
    return arr


def _numpy_row(message: str) -> int | None:
    """The row (counted from 1) a NumPy loadtxt error names, or None."""
    bad = re.match(r"could not convert string (['\"])(.*)\1 to \w+ at row (\d+), column (\d+)", message)
    if bad:
        return int(bad.group(3)) + 1  # NumPy counts this row from 0
    ragged = re.search(r"number of columns changed from (\d+) to (\d+) at row (\d+)", message)
    return int(ragged.group(3)) if ragged else None


def _unreadable(path: str, message: str, first_line_no: int, delimiter: str) -> str:
    """One line for a CSV chunk NumPy could not read: the field or row at fault, counted from 1 as a
    user counts data rows (when this chunk's first row is known: ``first_line_no`` >= 1)."""
    sep = f"separated by {delimiter!r}"

    def row(r: int) -> str:  # r: the row within the chunk, counted from 1
        return f"data row {first_line_no + r - 1:,}" if first_line_no >= 1 else "a data row"

    bad = re.match(r"could not convert string (['\"])(.*)\1 to \w+ at row (\d+), column (\d+)", message)
    if bad:
        value, r, c = bad.group(2), int(bad.group(3)) + 1, int(bad.group(4))  # NumPy: row from 0, column from 1
        hint = f"; every field must be a number, {sep}"
        if delimiter not in value and any(d in value for d in ";\t|"):
            hint += " (this file seems to use another separator)"
        return f"{path}: {row(r)}, field {c}: {value[:40]!r} is not a number{hint}"
    ragged = re.search(r"number of columns changed from (\d+) to (\d+) at row (\d+)", message)
    if ragged:
        before, after, r = (int(g) for g in ragged.groups())  # NumPy: row from 1
        return f"{path}: {row(r)} has {after} fields, the rows before it {before}; every row needs the same fields, {sep}"
    return f"{path}: unreadable values ({_short(Exception(message))}); every field must be a number, {sep}"


def _looks_like_header(line: bytes, delimiter: str) -> bool:
    """A first line none of whose fields is a number is a header."""
    fields = [f.strip() for f in line.decode("utf-8", "replace").strip().split(delimiter)]
    for f in fields:
        try:
            float(f)
            return False
        except ValueError:
            continue
    return bool(fields) and any(fields)


def csv_row_count_and_header(path: str, delimiter: str = ",") -> tuple[int, bool]:
    """(data rows, has header) of a CSV file, streaming it once."""
    _check_readable(path)
    rows = sum(1 for _ in _data_lines(path, delimiter))
    return rows, _looks_like_header(_first_line(path), delimiter)


def _data_lines(path: str, delimiter: str):
    """The data lines of a CSV file (plain or gzip), streamed: not the header, not blank lines."""
    opener: Callable = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as fh:
            first = True
            for line in fh:
                if first:
                    first = False
                    if _looks_like_header(line, delimiter):
                        continue
                if line.strip():
                    yield line
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: truncated or corrupt compressed file ({_short(exc)}); download it again") from None


def csv_rows(path: str, rank: int = 0, size: int = 1, *, delimiter: str = ",", row_range: tuple[int, int] | None = None):
    """This rank's rows of a CSV file and the global index of its first row.

    A plain file is split into ``size`` byte ranges aligned to line starts, so
    each rank reads about 1/size of the bytes (its first row's global index is
    then found with an exclusive scan by the caller). A gzip file is streamed
    and rows ``row_range`` are kept. Returns ``(rows, has_header, first_index)``
    where first_index is None for byte-range reads.
    """
    _check_readable(path)
    if _is_gzip(path):
        if row_range is None:
            n, _ = csv_row_count_and_header(path, delimiter)
            from .shard import row_range as rr

            row_range = rr(n, rank, size)
        return _gzip_rows(path, row_range, delimiter)
    total = os.path.getsize(path)
    with open(path, "rb") as fh:
        first_line = fh.readline()
        header = _looks_like_header(first_line, delimiter)
        data_start = len(first_line) if header else 0
        span = total - data_start
        b0 = data_start + span * rank // size
        b1 = data_start + span * (rank + 1) // size
        b0 = _next_line_start(fh, b0, data_start)
        b1 = _next_line_start(fh, b1, data_start)
        fh.seek(b0)
        chunk = fh.read(max(0, b1 - b0))
    arr = _parse_lines(chunk, path, 1 if b0 == data_start else -1, delimiter)  # rows are counted on the first rank
    return arr, header, None


def _next_line_start(fh, pos: int, data_start: int) -> int:
    """The first line start at or after byte ``pos``."""
    if pos <= data_start:
        return data_start
    fh.seek(pos - 1)
    if fh.read(1) == b"\n":
        return pos
    fh.readline()
    return fh.tell()


def iter_csv_chunks(path: str, chunk_rows: int = 200_000, delimiter: str = ",", start: int = 0, stop: int | None = None):
    """Yield ``(first_row_index, rows)`` chunks of data rows ``start:stop``, streaming the file once."""
    buf, chunk_start = [], start
    for idx, line in enumerate(_data_lines(path, delimiter)):
        if stop is not None and idx >= stop:
            break
        if idx >= start:
            buf.append(line)
            if len(buf) >= chunk_rows:
                yield chunk_start, _parse_lines(b"".join(buf), path, chunk_start + 1, delimiter)
                chunk_start, buf = idx + 1, []
    if buf:
        yield chunk_start, _parse_lines(b"".join(buf), path, chunk_start + 1, delimiter)


def _gzip_rows(path: str, row_range: tuple[int, int], delimiter: str):
    start, stop = row_range
    parts = [rows for _, rows in iter_csv_chunks(path, delimiter=delimiter, start=start, stop=stop) if rows.size]
    header = _looks_like_header(_first_line(path), delimiter)
    if not parts:
        return np.zeros((0, 0)), header, start
    widths = {p.shape[1] for p in parts}
    if len(widths) > 1:
        raise DataError(f"{path}: rows have different numbers of fields ({sorted(widths)}); fix the file")
    return np.concatenate(parts), header, start


def _first_line(path: str) -> bytes:
    opener: Callable = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as fh:
            return fh.readline()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: truncated or corrupt compressed file ({_short(exc)}); download it again") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
