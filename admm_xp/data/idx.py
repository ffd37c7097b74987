"""IDX files, the format of MNIST and Fashion-MNIST (LeCun et al.).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the
number of dimensions k), then k sizes as big-endian uint32, then the values
in C order, big-endian. Files may be gzip-compressed (as published) or
plain; the content decides, not the name.

:func:`read_idx` returns items ``start:stop`` along the first dimension. A
plain file is memory-mapped (only those items are read); a gzip file is
streamed to its end, so a truncated or corrupt file is always noticed (gzip
cannot seek; for MNIST's 47 MB of pixels that takes a fraction of a second).
Every problem is a one-line :class:`~admm_xp.errors.DataError` naming the
file.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}  # type code -> dtype
CHUNK = 1 << 24  # bytes read from a gzip stream at a time


@dataclass(frozen=True)
class IdxHeader:
    """What the first bytes of an IDX file say: value type, dimensions, where the values start."""

    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int

    @property
    def item_bytes(self) -> int:
        """Bytes of one item along the first dimension (one image, one label)."""
        return math.prod(self.shape[1:]) * self.dtype.itemsize

    @property
    def data_bytes(self) -> int:
        return self.shape[0] * self.item_bytes


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open(path: str):
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _parse_header(fh, path: str) -> IdxHeader:
    magic = _read_exactly(fh, 4, path, "its 4-byte magic number")
    if magic[0] or magic[1]:
        raise DataError(f"{path}: not an IDX file (magic number 0x{magic.hex()} does not start with two zero bytes)")
    code, ndim = magic[2], magic[3]
    if code not in TYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{code:02x} (known: {', '.join(f'0x{c:02x}' for c in TYPES)})")
    if ndim == 0:
        raise DataError(f"{path}: malformed IDX header (0 dimensions)")
    dims = _read_exactly(fh, 4 * ndim, path, f"the sizes of its {ndim} dimensions")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    return IdxHeader(np.dtype(TYPES[code]), shape, 4 + 4 * ndim)


def _read_exactly(fh, n: int, path: str, what: str, keep: bool = True) -> bytes:
    """``n`` bytes (or, with ``keep=False``, none: they are skipped) or a DataError if the stream ends first."""
    parts, got = [], 0
    try:
        while got < n:
            block = fh.read(min(CHUNK, n - got))
            if not block:
                raise DataError(f"{path}: truncated IDX file (it ends within {what}); download it again")
            if keep:
                parts.append(block)
            got += len(block)
    except (EOFError, OSError, zlib.error) as exc:  # gzip: truncated stream, bad CRC, not gzip after all
        raise DataError(f"{path}: truncated or corrupt compressed file ({_short(exc)}); download it again") from None
    return b"".join(parts)


def read_header(path: str) -> IdxHeader:
    """The header of an IDX file (reads only its first bytes)."""
    with _open(path) as fh:
        return _parse_header(fh, path)


def read_idx(path: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
    """Items ``start:stop`` (first dimension) of an IDX file as a native-endian array.

    The file must hold exactly the values its header announces: fewer (a
    truncated download) or more bytes are refused.
    """
    with _open(path) as fh:
        head = _parse_header(fh, path)
        a, b, _ = slice(start, stop).indices(head.shape[0])
        b = max(a, b)
        if isinstance(fh, gzip.GzipFile):
            _read_exactly(fh, a * head.item_bytes, path, "its values", keep=False)
            raw = _read_exactly(fh, (b - a) * head.item_bytes, path, "its values")
            _read_exactly(fh, (head.shape[0] - b) * head.item_bytes, path, "its values", keep=False)
            extra = _drain(fh, path)
            values = np.frombuffer(raw, dtype=head.dtype)
        elif head.data_bytes == 0:
            extra = os.path.getsize(path) - head.offset
            values = np.zeros(0, dtype=head.dtype)
        else:
            extra = os.path.getsize(path) - head.offset - head.data_bytes
            if extra < 0:
                raise DataError(f"{path}: truncated IDX file ({head.offset + head.data_bytes:,} bytes announced by its "
                                f"header {head.shape}, {os.path.getsize(path):,} present); download it again")
            values = np.memmap(path, dtype=head.dtype, mode="r", offset=head.offset,
                               shape=(head.shape[0] * head.item_bytes // head.dtype.itemsize,))
            values = values[a * head.item_bytes // head.dtype.itemsize : b * head.item_bytes // head.dtype.itemsize]
        if extra:
            raise DataError(f"{path}: malformed IDX file ({extra:,} bytes after the values its header {head.shape} "
                            "announces); download it again")
    return np.array(values, dtype=head.dtype.newbyteorder("=")).reshape((b - a, *head.shape[1:]))


def _drain(fh, path: str) -> int:
    """Bytes left in a gzip stream (reading them checks its length and CRC)."""
    extra = 0
    try:
        while True:
            block = fh.read(CHUNK)
            if not block:
                return extra
            extra += len(block)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt compressed file ({_short(exc)}); download it again") from None


def write_idx(path: str, values: np.ndarray) -> None:
    """Write ``values`` as an IDX file (gzip-compressed when ``path`` ends in .gz); for tests and tools."""
    values = np.asarray(values)
    code = next((c for c, t in TYPES.items() if np.dtype(t).newbyteorder("=") == values.dtype.newbyteorder("=")), None)
    if code is None or values.ndim == 0:
        raise DataError(f"{path}: IDX cannot hold a {values.ndim}-D {values.dtype} array")
    body = bytes([0, 0, code, values.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in values.shape)
    body += values.astype(TYPES[code], copy=False).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(body)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
