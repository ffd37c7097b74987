"""Downloads against a local HTTP server on 127.0.0.1: progress, resume, checksums, conversion."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from admm_xp.data import fetch as fetch_mod
from admm_xp.errors import DataError


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes) with Range support; ``server.cut`` truncates a response."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.lstrip("/")
        data = self.server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        self.server.requests.append((name, self.headers.get("Range")))
        start = 0
        rng = self.headers.get("Range")
        if rng and self.server.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.server.cut.pop(name, None)
        self.wfile.write(body[:cut] if cut is not None else body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    srv.files, srv.requests, srv.cut, srv.ranges = {}, [], {}, True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv):
    return f"http://127.0.0.1:{srv.server_address[1]}"


def _source(name, data):
    return fetch_mod.Source(name, "unused", "sha256", hashlib.sha256(data).hexdigest())


def test_download_verifies_and_places_the_file(server, tmp_path):
    data = os.urandom(3_000_000)
    server.files["blob.bin"] = data
    path = fetch_mod.download(_source("blob.bin", data), str(tmp_path), base_url=_url(server), quiet=True)
    assert open(path, "rb").read() == data
    assert not os.path.exists(path + ".part")
    # A second call finds the verified file and downloads nothing.
    fetch_mod.download(_source("blob.bin", data), str(tmp_path), base_url=_url(server), quiet=True)
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    data = os.urandom(2_500_000)
    server.files["big.bin"] = data
    server.cut["big.bin"] = 1_000_000  # the connection drops after 1 MB
    with pytest.raises(DataError, match="interrupted"):
        fetch_mod.download(_source("big.bin", data), str(tmp_path), base_url=_url(server), quiet=True)
    part = tmp_path / "big.bin.part"
    assert part.stat().st_size == 1_000_000 and not (tmp_path / "big.bin").exists()
    path = fetch_mod.download(_source("big.bin", data), str(tmp_path), base_url=_url(server), quiet=True)
    assert open(path, "rb").read() == data
    assert server.requests[-1] == ("big.bin", "bytes=1000000-")


def test_server_without_ranges_restarts_the_download(server, tmp_path):
    data = os.urandom(100_000)
    server.files["x.bin"] = data
    server.ranges = False
    (tmp_path / "x.bin.part").write_bytes(b"garbage that is not the start of the file")
    path = fetch_mod.download(_source("x.bin", data), str(tmp_path), base_url=_url(server), quiet=True)
    assert open(path, "rb").read() == data


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    server.files["bad.bin"] = b"tampered"
    src = fetch_mod.Source("bad.bin", "unused", "md5", hashlib.md5(b"original").hexdigest())
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_mod.download(src, str(tmp_path), base_url=_url(server), quiet=True)
    assert os.listdir(tmp_path) == []


def test_missing_file_and_dead_server_are_one_line_errors(server, tmp_path):
    with pytest.raises(DataError, match="404"):
        fetch_mod.download(_source("nope.bin", b""), str(tmp_path), base_url=_url(server), quiet=True)
    with pytest.raises(DataError, match="cannot connect"):
        fetch_mod.download(_source("nope.bin", b""), str(tmp_path), base_url="http://127.0.0.1:9", quiet=True, timeout=5)


def test_fetch_higgs_downloads_and_converts_to_npy(server, tmp_path):
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 2, 1234), rng.normal(size=(1234, 28))])
    text = "\n".join(",".join(f"{v:.18e}" for v in r) for r in rows) + "\n"
    gz = gzip.compress(text.encode())
    server.files["HIGGS.csv.gz"] = gz
    sources = {"higgs": [_source("HIGGS.csv.gz", gz)]}
    paths = fetch_mod.fetch("higgs", str(tmp_path), base_url=_url(server), quiet=True, sources=sources)
    assert paths[-1].endswith("HIGGS.npy")
    arr = np.load(paths[-1])
    assert arr.shape == (1234, 29) and arr.dtype == np.float32
    np.testing.assert_allclose(arr, rows.astype(np.float32))


def test_progress_lines_when_not_a_terminal(capsys):
    p = fetch_mod._Progress("f", 100, 0)
    for _ in range(10):
        p.update(10)
    err = capsys.readouterr().err
    assert "100%" in err and err.count("\n") == 10


def test_cli_fetch_rejects_a_bad_checksum(server, tmp_path):
    """The real HIGGS source table, served a fake file: exit 2, one line, nothing left behind."""
    import subprocess
    import sys

    server.files["HIGGS.csv.gz"] = gzip.compress(b"1,2,3\n")
    out = subprocess.run([sys.executable, "-m", "admm_xp", "data", "fetch", "higgs", "--data-dir", str(tmp_path / "d"),
                          "--base-url", _url(server), "--quiet"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "checksum mismatch" in out.stderr
    assert os.listdir(tmp_path / "d") == []
