"""The IDX reader: every value type, rows by range, and one-line errors for malformed or truncated files."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from admm_xp.data import idx
from admm_xp.errors import DataError


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_every_type_round_trips_and_reads_by_rows(tmp_path, rng, dtype, gz):
    values = (rng.normal(size=(9, 4, 3)) * 50).astype(dtype)
    path = str(tmp_path / ("a.idx.gz" if gz else "a.idx"))
    idx.write_idx(path, values)
    head = idx.read_header(path)
    assert head.shape == (9, 4, 3) and head.dtype.newbyteorder("=") == np.dtype(dtype)
    whole = idx.read_idx(path)
    assert whole.dtype == np.dtype(dtype) and whole.dtype.isnative
    np.testing.assert_array_equal(whole, values)
    np.testing.assert_array_equal(idx.read_idx(path, 2, 7), values[2:7])
    assert idx.read_idx(path, 5, 5).shape == (0, 4, 3)


def test_the_layout_is_big_endian_with_a_magic_number(tmp_path):
    path = str(tmp_path / "labels.idx")
    idx.write_idx(path, np.array([1, 258], dtype=np.int32))
    raw = open(path, "rb").read()
    assert raw == bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 1, 2])  # as the MNIST page describes it


def test_gzip_is_recognised_by_content_not_by_name(tmp_path):
    values = np.arange(12, dtype=np.uint8).reshape(3, 4)
    idx.write_idx(str(tmp_path / "x.gz"), values)
    (tmp_path / "x-no-suffix").write_bytes((tmp_path / "x.gz").read_bytes())
    np.testing.assert_array_equal(idx.read_idx(str(tmp_path / "x-no-suffix")), values)


def _one_line_error(path, *words):
    with pytest.raises(DataError) as err:
        idx.read_idx(str(path))
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_truncated_files_are_refused(tmp_path):
    values = np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28)
    idx.write_idx(str(tmp_path / "full.idx"), values)
    data = (tmp_path / "full.idx").read_bytes()
    (tmp_path / "short.idx").write_bytes(data[:-100])  # a download cut in the last image
    _one_line_error(tmp_path / "short.idx", "truncated")
    (tmp_path / "head.idx").write_bytes(data[:10])  # cut within the dimension sizes
    _one_line_error(tmp_path / "head.idx", "truncated")
    (tmp_path / "short.gz").write_bytes(gzip.compress(data[:-100]))  # a complete gzip of a short file
    _one_line_error(tmp_path / "short.gz", "truncated")
    packed = gzip.compress(data)
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])  # a gzip stream cut in the middle
    _one_line_error(tmp_path / "cut.gz", "truncated or corrupt")
    (tmp_path / "empty.idx").write_bytes(b"")
    _one_line_error(tmp_path / "empty.idx", "truncated")


def test_malformed_files_are_refused(tmp_path):
    good = np.zeros((2, 3), dtype=np.uint8)
    idx.write_idx(str(tmp_path / "good.idx"), good)
    data = (tmp_path / "good.idx").read_bytes()
    (tmp_path / "magic.idx").write_bytes(b"\x12\x34" + data[2:])
    _one_line_error(tmp_path / "magic.idx", "not an IDX file")
    (tmp_path / "type.idx").write_bytes(data[:2] + b"\x07" + data[3:])
    _one_line_error(tmp_path / "type.idx", "unknown IDX type code 0x07")
    (tmp_path / "nodims.idx").write_bytes(data[:3] + b"\x00" + data[4:])
    _one_line_error(tmp_path / "nodims.idx", "0 dimensions")
    (tmp_path / "long.idx").write_bytes(data + b"\x00\x00")
    _one_line_error(tmp_path / "long.idx", "2 bytes after the values")
    (tmp_path / "long.gz").write_bytes(gzip.compress(data + b"\x00"))
    _one_line_error(tmp_path / "long.gz", "1 bytes after the values")
    packed = bytearray(gzip.compress(data))
    packed[-8] ^= 0xFF  # the CRC of the stream
    (tmp_path / "crc.gz").write_bytes(bytes(packed))
    _one_line_error(tmp_path / "crc.gz", "corrupt")
    _one_line_error(tmp_path / "missing.idx", "no such file")
