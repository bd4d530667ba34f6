"""The book's small MNIST classifier: a judge for generated digits, and the feature extractor of FID.

It is trained once with a FIXED recipe (:data:`RECIPE`; never tuned to flatter any GAN) on
``data.mnist("train")`` and cached in the data folder (``$GAN_LESSONS_DATA``) under a key made of the
recipe, the architecture and the training data, so a cached copy is never stale; it is loaded with
``torch.load(..., weights_only=True)``. ``get_classifier()`` returns it in eval mode:
``forward(x) -> logits [n, 10]`` and ``features(x) -> penultimate features [n, 128]`` for x [n, 1, 28, 28]
in [-1, 1].
"""
from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoints import atomic_save, content_hash
from .runtime import one_thread
from .checks import check_int

__all__ = ["Recipe", "RECIPE", "DigitClassifier", "get_classifier", "predict", "recognised_fraction",
           "class_entropy", "classifier_accuracy", "train_classifier"]


@dataclass(frozen=True)
class Recipe:
    """How the classifier is trained: fixed, and part of the cache key."""

    steps: int = 600  # AdamW updates
    batch_size: int = 64  # digits per update, drawn with replacement from the training split
    lr: float = 2e-3  # Adam learning rate, cosine-decayed to 0 over the steps
    weight_decay: float = 1e-4  # L2 penalty (AdamW-style decoupled)
    seed: int = 0  # seeds the initial weights and the minibatch stream


RECIPE = Recipe()
_TRAINING_CODE_VERSION = 2  # part of the cache key: bump it whenever train_classifier's numerics change
_model: dict[str, nn.Module] = {}  # in-memory: cache key -> loaded classifier


class DigitClassifier(nn.Module):
    """conv 5x5 (16) - pool - conv 3x3 (32) - pool - linear 128 (the features) - linear 10 (the logits)."""

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)  # [n, 16, 28, 28], then pooled to 14 x 14
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)  # [n, 32, 14, 14], then pooled to 7 x 7
        self.fc = nn.Linear(32 * 7 * 7, self.feature_dim)
        self.head = nn.Linear(self.feature_dim, 10)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations [n, 128] of images x [n, 1, 28, 28] in [-1, 1]."""
        _check_images(x)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # [n, 32, 7, 7]
        return F.relu(self.fc(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        """Logits [n, 10] of images x [n, 1, 28, 28] in [-1, 1]."""
        return self.head(self.features(x))


def get_classifier(recipe: Recipe = RECIPE, verbose: bool = True) -> DigitClassifier:
    """The trained classifier (eval mode, on the CPU, no gradients needed): from memory, from the disk cache,
    or trained now with ``recipe`` on ``data.mnist("train")`` (a few seconds) and cached."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a classifier.Recipe, got {type(recipe).__name__}")
    from . import data

    train_x, train_y = data.mnist("train")
    key = _cache_key(recipe, train_x, train_y)
    if key not in _model:
        path = _cache_folder() / f"classifier-{key[:20]}.pt"
        model = _load_cached(path)
        if model is None:
            if verbose:
                print(f"Training the book's MNIST classifier ({recipe.steps} steps on {len(train_x)} digits); "
                      f"cached in {path}")
            model = train_classifier(train_x, train_y, recipe)
            try:
                state = {"state": model.state_dict()}
                atomic_save({**state, "sha256": content_hash(state)}, path)
            except OSError as err:  # never lose the trained classifier to a failed save
                warnings.warn(f"could not cache the classifier at {path} ({err}); it is kept for this session. "
                              "Point GAN_LESSONS_DATA at a writable folder.", stacklevel=2)
        _model[key] = model.eval().requires_grad_(False)
    return _model[key]


def _load_cached(path: Path) -> DigitClassifier | None:
    """The classifier cached at ``path``, or None when there is none; a damaged or foreign file (unreadable, or its
    weights do not match the SHA-256 stored with them, or do not fit) is reported and then replaced by a new
    training run, so the cache repairs itself."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if not (isinstance(saved, dict) and saved.keys() == {"state", "sha256"}
                and saved["sha256"] == content_hash({"state": saved["state"]})):
            raise ValueError("its content does not match the SHA-256 stored with it")
        model = DigitClassifier()
        model.load_state_dict(saved["state"])
        return model
    except Exception as err:  # noqa: BLE001 - any damage: say so, train again, overwrite the file
        warnings.warn(f"ignoring the damaged classifier cache {path} ({type(err).__name__}: {str(err)[:200]}); "
                      "training the classifier again and replacing the file", stacklevel=3)
        return None


def train_classifier(images: Tensor, labels: Tensor, recipe: Recipe = RECIPE) -> DigitClassifier:
    """Train a fresh :class:`DigitClassifier` on images [n, 1, 28, 28] in [-1, 1] and labels [n] in 0..9 with
    the cross-entropy loss and ``recipe``; deterministic on the CPU for a given recipe.seed."""
    _check_images(images)
    if not isinstance(labels, Tensor) or labels.shape != (images.shape[0],) or labels.dtype != torch.int64:
        raise ValueError(f"labels must be an int64 tensor [{images.shape[0]}], got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError("labels must be digit classes 0..9")
    with one_thread():  # small convolutions: one thread is as fast, never oversubscribes, same bits anywhere
        return _fit(images, labels, recipe)


def _fit(images: Tensor, labels: Tensor, recipe: Recipe) -> DigitClassifier:
    g = torch.Generator().manual_seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    model = DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    for step in range(recipe.steps):
        for group in opt.param_groups:  # cosine decay from lr to 0
            group["lr"] = recipe.lr * 0.5 * (1 + math.cos(math.pi * step / recipe.steps))
        idx = torch.randint(images.shape[0], (recipe.batch_size,), generator=g)
        loss = F.cross_entropy(model(images[idx]), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def predict(images: Tensor, batch_size: int = 1000) -> Tensor:
    """Predicted digit classes, int64 [n], of images [n, 1, 28, 28] in [-1, 1]."""
    return _logits(images, batch_size).argmax(dim=1)


def recognised_fraction(images: Tensor, threshold: float = 0.9) -> float:
    """Fraction of images the classifier recognises: max_c softmax(logits)_c >= ``threshold``."""
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a probability in (0, 1], got {threshold!r}")
    confidence = _logits(images).softmax(dim=1).max(dim=1).values  # [n]
    return float((confidence >= threshold).double().mean())


def class_entropy(images: Tensor) -> float:
    """Entropy in nats, H = -sum_c p_c log p_c, of the histogram p of predicted classes: log 10 = 2.303 when
    every digit is predicted equally often, 0 when all images get the same class (mode collapse)."""
    counts = torch.bincount(predict(images), minlength=10).double()
    p = counts / counts.sum()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def classifier_accuracy() -> float:
    """Accuracy of the classifier on the held-out split ``data.mnist("test")`` (never used for training)."""
    from . import data

    test_x, test_y = data.mnist("test")
    return float((predict(test_x) == test_y).double().mean())


def _logits(images: Tensor, batch_size: int = 1000) -> Tensor:
    _check_images(images)
    check_int("batch_size", batch_size, minimum=1)
    model = get_classifier()
    with torch.no_grad():
        x = images.detach().to("cpu", torch.float32)
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def _check_images(x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"images must be a torch.Tensor [n, 1, 28, 28], got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1:] != (1, 28, 28) or x.shape[0] == 0:
        raise ValueError(f"images must have shape [n, 1, 28, 28] with n >= 1 (reshape with "
                         f".view(-1, 1, 28, 28)), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"images must be floating point with pixels in [-1, 1], got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf pixels: the classifier cannot judge them (a diverged "
                         "generator? check the training run)")
    low, high = x.min().item(), x.max().item()
    if low < -1 - _RANGE_TOL or high > 1 + _RANGE_TOL:
        raise ValueError(f"images must have pixels in [-1, 1] (as data.mnist gives and a tanh generator makes), got "
                         f"values in [{low:.3g}, {high:.3g}]: rescale with x * 2 - 1 from [0, 1], or clamp(-1, 1)")


_RANGE_TOL = 1e-3  # rounding slack around [-1, 1] (e.g. a blur of in-range images)


def _cache_key(recipe: Recipe, images: Tensor, labels: Tensor) -> str:
    h = hashlib.sha256()
    h.update(repr(sorted(asdict(recipe).items())).encode())
    h.update(f"training code v{_TRAINING_CODE_VERSION}".encode())  # bump when train_classifier changes
    h.update(repr(DigitClassifier()).encode())  # the architecture
    h.update(images.numpy().tobytes())
    h.update(labels.numpy().tobytes())
    return h.hexdigest()


def _cache_folder() -> Path:
    from .mnist import data_dir

    return data_dir()
