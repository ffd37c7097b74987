"""Downloading the full data sets: progress, resume and checksum verification.

``fetch("higgs", data_dir)`` downloads UCI HIGGS.csv.gz (about 2.6 GB) and
converts it once to ``HIGGS.npy`` (float32, label first), which every rank can
then memory-map by rows. ``fetch("svhn", data_dir)`` downloads the three SVHN
cropped-digit .mat files; ``fetch("mnist", ...)`` and ``fetch("fashion-mnist",
...)`` the four gzip IDX files of each (about 12 MB and 30 MB; the same file
names, so one folder each). A partial download is kept as ``NAME.part`` and
resumed with an HTTP range request; a file is renamed into place only after
its checksum matches, so ``data_dir`` never holds a corrupt file under a
final name.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..errors import DataError


@dataclass(frozen=True)
class Source:
    filename: str
    url: str
    algorithm: str  # "sha256" or "md5"
    digest: str


SOURCES = {
    "higgs": [
        # sha256 as published by a third-party dataset registry for this UCI file.
        Source("HIGGS.csv.gz", "https://archive.ics.uci.edu/ml/machine-learning-databases/00280/HIGGS.csv.gz",
               "sha256", "ea302c18164d4e3d916a1e2e83a9a8d07069fa6ebc7771e4c0540d54e593b698"),
    ],
    "svhn": [
        # md5 sums as published with torchvision's SVHN loader.
        Source("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "md5", "e26dedcc434d2e4c54c9b2d4a06d8373"),
        Source("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "md5", "eb5a983be6a315427106f1b164d9cef3"),
        Source("extra_32x32.mat", "http://ufldl.stanford.edu/housenumbers/extra_32x32.mat", "md5", "a93ce644f1a588dc4d68dda5feec44a7"),
    ],
    # md5 sums as published with torchvision's MNIST and FashionMNIST loaders. Both use the same
    # four file names, so each needs its own --data-dir.
    "mnist": [
        Source(f"{stem}.gz", f"https://ossci-datasets.s3.amazonaws.com/mnist/{stem}.gz", "md5", digest)
        for stem, digest in (
            ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"),
        )
    ],
    "fashion-mnist": [
        Source(f"{stem}.gz", f"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{stem}.gz", "md5", digest)
        for stem, digest in (
            ("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310"),
        )
    ],
}


def file_digest(path: str, algorithm: str, chunk: int = 1 << 22) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class _Progress:
    """A progress bar on a terminal, a line every 10% otherwise (stderr)."""

    def __init__(self, name: str, total: int | None, done: int, stream=None, quiet: bool = False):
        self.name, self.total, self.done = name, total, done
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.last_decile = -1
        self.last_draw = 0.0

    def update(self, n: int) -> None:
        self.done += n
        if self.quiet:
            return
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.2:
                return
            self.last_draw = now
            rate = self.done / max(now - self.t0, 1e-9) / 1e6
            if self.total:
                frac = self.done / self.total
                bar = "#" * int(30 * frac)
                self.stream.write(f"\r{self.name} [{bar:<30}] {frac:6.1%} {self.done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB {rate:,.1f} MB/s")
            else:
                self.stream.write(f"\r{self.name} {self.done / 1e6:,.1f} MB {rate:,.1f} MB/s")
            self.stream.flush()
        elif self.total:
            decile = int(10 * self.done / self.total)
            if decile > self.last_decile:
                self.last_decile = decile
                self.stream.write(f"{self.name}: {self.done / 1e6:,.1f} of {self.total / 1e6:,.1f} MB ({10 * decile}%)\n")
                self.stream.flush()

    def close(self) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def download(source: Source, data_dir: str, *, base_url: str | None = None, quiet: bool = False, timeout: float = 60.0) -> str:
    """Download one file into ``data_dir`` (resuming a ``.part``), verify it, rename it into place."""
    os.makedirs(data_dir, exist_ok=True)
    final = os.path.join(data_dir, source.filename)
    if os.path.exists(final):
        if file_digest(final, source.algorithm) == source.digest:
            return final
        raise DataError(f"{final}: exists but its {source.algorithm} does not match the published one; delete it and fetch again")
    url = source.url if not base_url else base_url.rstrip("/") + "/" + source.filename
    part = final + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: the .part is complete (or bigger)
            return _verify_and_place(part, final, source)
        raise DataError(f"{url}: the server answered {exc.code} {exc.reason}; check the URL or try later") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"{url}: cannot connect ({reason}); check the network or use --base-url for a mirror") from None
    with resp:
        status = getattr(resp, "status", 200)
        mode = "ab" if (have and status == 206) else "wb"
        if mode == "wb":
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        progress = _Progress(source.filename, total, have, quiet=quiet)
        got = 0
        try:
            with open(part, mode) as out:
                while True:
                    block = resp.read(1 << 20)
                    if not block:
                        break
                    out.write(block)
                    got += len(block)
                    progress.update(len(block))
                out.flush()
                os.fsync(out.fileno())
        except (OSError, urllib.error.URLError) as exc:
            progress.close()
            raise DataError(f"{url}: download interrupted ({exc}); run the same command again to resume") from None
        progress.close()
    size = os.path.getsize(part)
    if total is not None and size < total:
        raise DataError(f"{url}: download interrupted at {size:,} of {total:,} bytes; run the same command again to resume")
    return _verify_and_place(part, final, source)


def _verify_and_place(part: str, final: str, source: Source) -> str:
    digest = file_digest(part, source.algorithm)
    if digest != source.digest:
        os.remove(part)
        raise DataError(
            f"{source.filename}: {source.algorithm} checksum mismatch (got {digest[:12]}..., expected {source.digest[:12]}...); "
            "the partial file was removed, fetch again"
        )
    os.replace(part, final)
    return final


def fetch(name: str, data_dir: str, *, base_url: str | None = None, quiet: bool = False, convert: bool = True,
          sources: dict | None = None) -> list[str]:
    """Download data set ``name`` (a key of ``SOURCES``) into ``data_dir``; returns the paths made."""
    table = SOURCES if sources is None else sources
    if name not in table:
        raise DataError(f"unknown data set to fetch {name!r}: use one of {', '.join(sorted(table))}")
    for src in table[name]:
        _refuse_namesake(src, name, data_dir, table)
    paths = [download(src, data_dir, base_url=base_url, quiet=quiet) for src in table[name]]
    if name == "higgs" and convert:
        paths.append(convert_higgs(paths[0], os.path.join(data_dir, "HIGGS.npy"), quiet=quiet))
    return paths


def identify(path: str, filename: str, table: dict | None = None) -> str | None:
    """The data set whose published file ``filename`` the file at ``path`` is, or None.

    Only files that several data sets publish under the same name (the MNIST
    and Fashion-MNIST IDX files) are checked, so no large file is hashed.
    """
    table = SOURCES if table is None else table
    owners = [(name, src) for name, srcs in table.items() for src in srcs if src.filename == filename]
    if len(owners) < 2 or not os.path.exists(path):
        return None
    digests = {}
    for name, src in owners:
        if src.algorithm not in digests:
            digests[src.algorithm] = file_digest(path, src.algorithm)
        if digests[src.algorithm] == src.digest:
            return name
    return None


def _refuse_namesake(source: Source, name: str, data_dir: str, table: dict) -> None:
    """Stop before ``download`` calls another data set's file of the same name corrupt (and asks to delete it)."""
    final = os.path.join(data_dir, source.filename)
    owner = identify(final, source.filename, table)
    if owner is not None and owner != name:
        raise DataError(f"{final}: is {owner}'s file of the same name; fetch {name} into another folder, "
                        f"e.g. --data-dir {os.path.join(data_dir, name)}")


def convert_higgs(csv_path: str, npy_path: str, *, quiet: bool = False, chunk_rows: int = 250_000) -> str:
    """Stream HIGGS.csv[.gz] into a float32 .npy (rows x 29, label first), atomically."""
    import numpy as np

    from .files import csv_row_count_and_header, iter_csv_chunks

    if os.path.exists(npy_path):
        return npy_path
    n, _ = csv_row_count_and_header(csv_path)
    if n == 0:
        raise DataError(f"{csv_path}: no rows")
    tmp = npy_path + ".part"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, 29))
    progress = _Progress("HIGGS.npy", n, 0, quiet=quiet)
    try:
        for start, rows in iter_csv_chunks(csv_path, chunk_rows):
            if rows.shape[1] != 29:
                raise DataError(f"{csv_path}: rows must have 29 columns (label + 28 features), got {rows.shape[1]}")
            out[start : start + rows.shape[0]] = rows
            progress.update(rows.shape[0])
        out.flush()
        del out
        progress.close()
        os.replace(tmp, npy_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return npy_path
