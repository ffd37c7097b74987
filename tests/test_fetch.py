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


# MNIST and Fashion-MNIST ----------------------------------------------------------------
def _idx_gz(values):
    """The bytes of a gzip IDX file holding ``values`` (written here, read back by the loader)."""
    import io

    head = bytes([0, 0, 0x08, values.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in values.shape)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as fh:
        fh.write(head + values.astype(np.uint8).tobytes())
    return buf.getvalue()


def _tiny_mnist(seed, n_train=7, n_test=5):
    """A few 28 x 28 images and labels per split: (file name -> gzip bytes, arrays)."""
    rng = np.random.default_rng(seed)
    arrays = {"train": (rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train)),
              "test": (rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test))}
    files = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        X, y = arrays[split]
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx_gz(X)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx_gz(y)
    return files, arrays


def _serve_mnist(server, monkeypatch, name, files):
    """Serve ``files`` and put their md5 sums into the real source table (the URLs are replaced by --base-url)."""
    server.files.update(files)
    monkeypatch.setitem(fetch_mod.SOURCES, name, [
        fetch_mod.Source(src.filename, src.url, "md5", hashlib.md5(files[src.filename]).hexdigest())
        for src in fetch_mod.SOURCES[name]
    ])


def test_the_published_mnist_sources():
    for name in ("mnist", "fashion-mnist"):
        names = [s.filename for s in fetch_mod.SOURCES[name]]
        assert names == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                         "t10k-labels-idx1-ubyte.gz"]
        assert all(s.algorithm == "md5" and len(s.digest) == 32 and s.url.endswith(s.filename) for s in fetch_mod.SOURCES[name])
    assert fetch_mod.SOURCES["mnist"][0].digest == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert fetch_mod.SOURCES["fashion-mnist"][3].digest == "bb300cfdad3c16e7a12a480ee83cd310"


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_fetch_then_load_mnist(server, tmp_path, monkeypatch, name):
    from admm_xp.data import load_dataset

    files, arrays = _tiny_mnist(1)
    _serve_mnist(server, monkeypatch, name, files)
    d = str(tmp_path / name)
    paths = fetch_mod.fetch(name, d, base_url=_url(server), quiet=True)
    assert sorted(os.path.basename(p) for p in paths) == sorted(files)
    assert not [f for f in os.listdir(d) if f.endswith(".part")]
    ds = load_dataset(name, data_dir=d, standardize="none")
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (7, 5, 784, 10)
    assert ds.X_train.dtype == np.float64
    np.testing.assert_array_equal(ds.X_train, arrays["train"][0].reshape(7, 784))  # pixel values as they are
    np.testing.assert_array_equal(ds.X_test, arrays["test"][0].reshape(5, 784))
    np.testing.assert_array_equal(ds.y_train, arrays["train"][1])
    np.testing.assert_array_equal(ds.y_test, arrays["test"][1])
    assert load_dataset(name, data_dir=d, n_train=4).n_train == 4


def test_mnist_shards_over_two_ranks_reproduce_the_whole(server, tmp_path, monkeypatch):
    from simcomm import run_ranks

    from admm_xp.data import load_dataset

    files, _ = _tiny_mnist(2, n_train=9, n_test=6)
    _serve_mnist(server, monkeypatch, "mnist", files)
    d = str(tmp_path / "m")
    fetch_mod.fetch("mnist", d, base_url=_url(server), quiet=True)
    one = load_dataset("mnist", data_dir=d)
    parts = run_ranks(2, lambda comm: load_dataset("mnist", data_dir=d, comm=comm))
    assert [p.X_train.shape[0] for p in parts] == [4, 5] and [p.train_offset for p in parts] == [0, 4]
    np.testing.assert_allclose(np.concatenate([p.X_train for p in parts]), one.X_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.concatenate([p.X_test for p in parts]), one.X_test, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate([p.y_train for p in parts]), one.y_train)
    np.testing.assert_allclose(parts[1].scale, one.scale, rtol=1e-12)


def test_mnist_wrong_checksum_leaves_nothing_under_the_final_name(server, tmp_path, monkeypatch):
    files, _ = _tiny_mnist(3)
    _serve_mnist(server, monkeypatch, "mnist", files)
    server.files["t10k-images-idx3-ubyte.gz"] = _idx_gz(np.zeros((5, 28, 28)))  # not the file the sum is for
    d = tmp_path / "m"
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: md5 checksum mismatch"):
        fetch_mod.fetch("mnist", str(d), base_url=_url(server), quiet=True)
    assert "t10k-images-idx3-ubyte.gz" not in os.listdir(d)
    assert not [f for f in os.listdir(d) if f.endswith(".part")]


def test_missing_or_corrupt_mnist_files_are_one_line_errors(server, tmp_path, monkeypatch):
    from admm_xp.data import load_dataset

    with pytest.raises(DataError, match="--dataset mnist needs --data-dir"):
        load_dataset("mnist")
    d = tmp_path / "m"
    d.mkdir()
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_dir=str(d))
    assert f"admm-xp data fetch mnist --data-dir {d}" in str(err.value) and "\n" not in str(err.value)
    files, _ = _tiny_mnist(4)
    for fname, data in files.items():
        (d / fname).write_bytes(data)
    packed = files["train-images-idx3-ubyte.gz"]
    (d / "train-images-idx3-ubyte.gz").write_bytes(packed[: len(packed) - 40])  # a cut download
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: truncated"):
        load_dataset("mnist", data_dir=str(d))
    (d / "train-images-idx3-ubyte.gz").write_bytes(_idx_gz(np.zeros((6, 28, 28))))  # 6 images, 7 labels
    with pytest.raises(DataError, match="6 train images but 7 labels"):
        load_dataset("mnist", data_dir=str(d))


def test_mnist_and_fashion_mnist_need_their_own_folders(server, tmp_path, monkeypatch):
    from admm_xp.data import load_dataset

    mnist, _ = _tiny_mnist(5)
    fashion, _ = _tiny_mnist(6)
    d = str(tmp_path / "data")
    _serve_mnist(server, monkeypatch, "mnist", mnist)
    fetch_mod.fetch("mnist", d, base_url=_url(server), quiet=True)
    before = {f: open(os.path.join(d, f), "rb").read() for f in os.listdir(d)}
    server.files.update(fashion)
    monkeypatch.setitem(fetch_mod.SOURCES, "fashion-mnist", [
        fetch_mod.Source(f, "unused", "md5", hashlib.md5(data).hexdigest()) for f, data in fashion.items()])
    with pytest.raises(DataError, match="is mnist's file of the same name; fetch fashion-mnist into another folder"):
        fetch_mod.fetch("fashion-mnist", d, base_url=_url(server), quiet=True)
    assert {f: open(os.path.join(d, f), "rb").read() for f in os.listdir(d)} == before  # MNIST untouched
    with pytest.raises(DataError, match="holds the MNIST files, not Fashion-MNIST"):
        load_dataset("fashion-mnist", data_dir=d)


def test_cli_fetch_mnist(server, tmp_path, monkeypatch, capsys):
    from admm_xp.cli.main import main

    files, _ = _tiny_mnist(7)
    _serve_mnist(server, monkeypatch, "mnist", files)
    d = str(tmp_path / "m")
    assert main(["data", "fetch", "mnist", "--data-dir", d, "--base-url", _url(server), "--quiet"]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(os.path.basename(p) for p in printed) == sorted(files) and all(os.path.exists(p) for p in printed)
