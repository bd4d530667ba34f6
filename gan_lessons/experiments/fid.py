"""Evaluating GANs: FID's floor and bias (FID_infinity), corruptions, a leaderboard, IS, KID and Parzen windows."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import metrics, train
from ..mnist import load_digits
from . import dcgan, hinge_sn, wgan_gp  # the chapters whose trained models the leaderboard evaluates
from .. import runtime
from ..checks import check_int
from ..runtime import get_device, seed_everything, sized

NAME = "fid"
FEATURES = "FID (MNIST-classifier features)"  # the name of every FID number of this chapter
MODELS = ("mlp-ns", "ns", "wgan-gp", "hinge-sn")  # the leaderboard, in this order: the book's method names
LABELS = {"mlp-ns": "MLP GAN", "ns": "DCGAN", "wgan-gp": "WGAN-GP", "hinge-sn": "hinge + SN"}  # for the page
LEVELS = {  # corruption strengths, one list per kind, indexed by the widget's "level"
    "noise": [0.0, 0.1, 0.2, 0.3, 0.5, 0.8],  # std of Gaussian pixel noise (pixels live in [-1, 1])
    "blur": [0.0, 0.5, 0.75, 1.0, 1.5, 2.0],  # std in pixels of a Gaussian blur
    "drop classes": [0, 1, 2, 4, 6, 8],  # digit classes removed (mode dropping), same N kept
}


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """How much data and training the chapter uses: quick on 2 CPU cores, full on a GPU (or as overridden)."""

    n_eval: int = sized(2000, 10_000, minimum=16)  # N: samples per model for the leaderboard
    kid_subset: int = sized(500, 1000)
    kid_subsets: int = sized(20, 100)
    parzen_centres: int = sized(1000, 10_000)  # kernels per "model"
    parzen_val: int = sized(500, 1000)  # validation digits to choose sigma

    @property
    def fid_ns(self) -> list[int]:
        """Sample sizes for FID_N and FID_infinity: N/8, N/4, N/2, N."""
        n = self.n_eval
        return [n // 8, n // 4, n // 2, n]

    def __getitem__(self, key: str):
        return self.fid_ns if key == "fid_ns" else super().__getitem__(key)


def budget(profile: str | None = None, n_eval: int | None = None) -> Budget:
    """The chapter's :class:`Budget` for ``profile``; ``n_eval`` (>= 16) overrides it."""
    return Budget.of(profile, n_eval=n_eval)


# --- data and features ----------------------------------------------------------------------------------------
def features(images: Tensor) -> Tensor:
    """The chapter's features: the MNIST classifier's penultimate layer (see metrics.classifier_features)."""
    return metrics.classifier_features(images)


# --- the floor: real against real -----------------------------------------------------------------------------
def real_vs_real(train_f: Tensor, test_f: Tensor, seed: int = 0) -> dict[str, float]:
    """FID between two random halves of the training digits, and between test and training digits."""
    perm = torch.randperm(train_f.shape[0], generator=torch.Generator().manual_seed(seed))
    half = train_f.shape[0] // 2
    return {
        "train_halves": metrics.fid_from_features(train_f[perm[:half]], train_f[perm[half:]]),
        "test_vs_train": metrics.fid_from_features(test_f, train_f),
        "n_half": int(half), "n_test": int(test_f.shape[0]), "n_train": int(train_f.shape[0]),
    }


# --- bias in N and FID_infinity -------------------------------------------------------------------------------
def sample_sizes(limit: int, ns: list[int]) -> list[int]:
    """The sizes of ``ns`` that ``limit`` samples allow; when fewer than two do, N/8, N/4, N/2, N of ``limit``."""
    check_int("limit", limit, minimum=8)
    fit = [n for n in ns if n <= limit]
    return fit if len(fit) >= 2 else [limit // 8, limit // 4, limit // 2, limit]


def fid_curve(real_stats: tuple[np.ndarray, np.ndarray], fake_f: Tensor, ns: list[int],
              seed: int = 0) -> list[float]:
    """FID_N: the real statistics fixed, N generated features drawn at random (no repeats) for each N."""
    if max(ns) > fake_f.shape[0]:
        raise ValueError(f"largest N ({max(ns)}) exceeds the {fake_f.shape[0]} features given")
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in ns:
        mu, sigma = metrics.feature_statistics(fake_f[torch.randperm(fake_f.shape[0], generator=g)[:n]])
        out.append(metrics.frechet_distance(*real_stats, mu, sigma))
    return out


def kid_curve(real_f: Tensor, other_f: Tensor, ns: list[int], n_subsets: int = 10,
              seed: int = 0) -> list[tuple[float, float]]:
    """KID_N (mean, std over ``n_subsets`` subsets of N samples from each set) for each N."""
    return [metrics.kernel_inception_distance(real_f, other_f, subset_size=n, n_subsets=n_subsets, seed=seed)
            for n in ns]


# --- controlled corruptions -----------------------------------------------------------------------------------
def corrupt(images: Tensor, labels: Tensor, kind: str, strength: float, seed: int = 0) -> Tensor:
    """Corrupted copies of ``images`` (same count): Gaussian noise of std ``strength`` (clamped to [-1, 1]),
    Gaussian blur of std ``strength`` pixels, or ``strength`` digit classes dropped (the survivors resampled)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "noise":
        return (images + strength * torch.randn(images.shape, generator=g)).clamp(-1, 1)
    if kind == "blur":
        return gaussian_blur(images, strength)
    if kind == "drop classes":
        keep = (labels >= int(strength)).nonzero().squeeze(1)  # drop classes 0 .. strength-1
        if keep.numel() == 0:
            raise ValueError("cannot drop all 10 classes: use strength <= 9")
        return images[keep[torch.randint(keep.numel(), (images.shape[0],), generator=g)]]
    raise ValueError(f"unknown corruption {kind!r}: use one of {', '.join(LEVELS)}")


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of [n, 1, H, W] images with std ``sigma`` pixels (0 = unchanged)."""
    if sigma <= 0:
        return images.clone()
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=images.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))


def corruption_sweep(images: Tensor, labels: Tensor, real_stats, seed: int = 0) -> dict[str, list[float]]:
    """FID against ``real_stats`` of the corrupted ``images``, for every kind and level of :data:`LEVELS`."""
    return {kind: [metrics.frechet_distance(*real_stats, *metrics.feature_statistics(
                features(corrupt(images, labels, kind, s, seed)))) for s in strengths]
            for kind, strengths in LEVELS.items()}


# --- the leaderboard ------------------------------------------------------------------------------------------
def train_models(digits: dict[str, Tensor], profile: str, seed: int = 0, names=MODELS,
                 steps: int | None = None) -> dict[str, train.GANTrainer]:
    """The leaderboard's models as the book's chapters train them: the MLP GAN and the DCGAN of chapter "DCGAN"
    (:mod:`.dcgan`), the WGAN-GP on MNIST of chapter "WGAN" (:mod:`.wgan_gp`) and the hinge + SN GAN on MNIST of
    chapter "Hinge loss and spectral normalisation" (:mod:`.hinge_sn`), each with its own chapter's networks,
    settings and budget. They come from the run cache when those chapters have run (same call, same key);
    otherwise they are trained here, once.

    ``digits``: :func:`load_digits`'s dict; ``names``: some of :data:`MODELS`; ``steps`` (>= 1) replaces every
    model's number of generator updates (None: each chapter's own).
    """
    if not isinstance(digits, dict) or "train_x" not in digits:
        raise TypeError(f"digits must be the dict of load_digits() (with 'train_x'), got {type(digits).__name__}")
    if not isinstance(names, (tuple, list)) or not names or any(n not in MODELS for n in names):
        raise ValueError(f"unknown leaderboard model(s) in {names!r}: give a tuple of {', '.join(MODELS)}")
    if steps is not None:
        check_int("steps", steps, minimum=1)
    train_x, mlp_steps = digits["train_x"], steps or dcgan.budget(profile)["mlp_steps"]
    runs = {  # each exactly as its chapter's page calls it, so that the run cache holds it already
        "mlp-ns": lambda: dcgan.train_run("mlp", digits, profile, seed, steps=mlp_steps, progress=False),
        "ns": lambda: dcgan.train_run("dcgan", digits, profile, seed, steps=steps,
                                      r1_weight=dcgan.budget(profile)["r1_weight"], checkpoints=True,
                                      progress=False),
        "wgan-gp": lambda: wgan_gp.train_mnist(profile, seed, steps=steps),
        "hinge-sn": lambda: hinge_sn.train_mnist_variant("hinge-sn", train_x, profile, seed, steps=steps),
    }
    return {name: runs[name]() for name in names}


def sample_images(trainer: train.GANTrainer, n: int, batch: int = 1000) -> Tensor:
    """n generated images [n, 1, 28, 28] in [-1, 1], on the CPU."""
    return trainer.sample(n, batch=batch).view(n, 1, 28, 28)


def kid_and_is(real_f: Tensor, fake_f: Tensor, fake_logits: Tensor, b: dict, seed: int = 0) -> dict:
    """KID (mean, std over subsets) against the real features, and the Inception Score of the logits;
    ``b`` is the :func:`budget` (subset size and count of KID)."""
    kid, kid_std = metrics.kernel_inception_distance(real_f, fake_f, b["kid_subset"], b["kid_subsets"], seed)
    score, score_std = metrics.inception_score(fake_logits, splits=10)
    return {"kid": kid, "kid_std": kid_std, "is": score, "is_std": score_std}


# --- Parzen windows -------------------------------------------------------------------------------------------
def kmeans(x: Tensor, k: int, iters: int = 15, seed: int = 0) -> Tensor:
    """Lloyd's k-means on the rows of x [n, d] from a k-means++ start (Arthur & Vassilvitskii 2007): the k
    centroids [k, d] (an empty cluster keeps its centroid)."""
    g = torch.Generator().manual_seed(seed)
    x = x.reshape(x.shape[0], -1).float().to(get_device())  # [n, d], on the GPU if there is one
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= x.shape[0]:
        raise ValueError(f"k must be an integer between 1 and the number of points ({x.shape[0]}), got {k!r}")
    picks = [int(torch.randint(x.shape[0], (1,), generator=g))]
    nearest = ((x - x[picks[0]]) ** 2).sum(1)  # [n] squared distance to the closest chosen centre
    for _ in range(k - 1):  # k-means++: the next centre with probability proportional to that distance
        picks.append(int(torch.multinomial(nearest.double().cpu() + 1e-12, 1, generator=g)))
        nearest = torch.minimum(nearest, ((x - x[picks[-1]]) ** 2).sum(1))
    centres = x[torch.tensor(picks, device=x.device)].clone()
    for _ in range(iters):
        assign = torch.cdist(x, centres).argmin(dim=1)  # [n]
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    return centres.float().cpu()


def parzen_table(candidates: dict[str, Tensor], validation: Tensor, test: Tensor,
                 sigmas=None) -> dict[str, dict[str, float]]:
    """Goodfellow et al. 2014's protocol per candidate "model" (a set of kernel centres, images in [-1, 1]):
    pixels mapped to [0, 1], sigma chosen on ``validation``, mean log-likelihood (nats) of ``test`` reported."""
    sigmas = np.logspace(-1.3, -0.3, 11) if sigmas is None else sigmas
    flat = lambda x: ((x.reshape(x.shape[0], -1) + 1) / 2).double()  # noqa: E731  [n, 784] in [0, 1]
    out = {}
    for name, centres in candidates.items():
        sigma, _ = metrics.parzen_select_sigma(flat(centres), flat(validation), sigmas)
        ll = metrics.parzen_log_likelihood(flat(centres), flat(test), sigma)
        out[name] = {"sigma": sigma, "log_likelihood": float(ll.mean()),
                     "sem": float(ll.std(ddof=1) / math.sqrt(ll.size))}
    return out


def one_per_class(images: Tensor, labels: Tensor, n: int) -> Tensor:
    """The first image of each digit class, repeated to n images: ten perfect digits and no diversity."""
    firsts = torch.stack([images[(labels == c).nonzero()[0, 0]] for c in range(10)])  # [10, 1, 28, 28]
    return firsts.repeat(math.ceil(n / 10), 1, 1, 1)[:n]


def parzen_candidates(train_x: Tensor, generated: dict[str, Tensor], n_centres: int, n_val: int,
                      seed: int = 0) -> tuple[dict[str, Tensor], Tensor]:
    """({name: kernel centres}, validation digits): ``n_centres`` samples of each GAN, k-means centroids of
    the training digits and copies of training digits; the validation digits are held out of all of them.
    Every candidate gets the same number of centres: ``n_centres``, or fewer when the digits left after the
    validation set (or a GAN's samples) are fewer (the offline MNIST subset under the full profile)."""
    if not 0 < n_val < train_x.shape[0]:
        raise ValueError(f"n_val must leave training digits for the centres: 0 < n_val < {train_x.shape[0]}, "
                         f"got {n_val}")
    perm = torch.randperm(train_x.shape[0], generator=torch.Generator().manual_seed(seed))
    validation, pool = train_x[perm[:n_val]], train_x[perm[n_val:]]
    n_centres = min(n_centres, pool.shape[0], *(x.shape[0] for x in generated.values()))
    candidates = {name: x[:n_centres] for name, x in generated.items()}
    candidates["k-means centroids"] = kmeans(pool, n_centres, seed=seed).view(-1, 1, 28, 28)
    candidates["copies of training digits"] = pool[:n_centres]
    return candidates, validation


# --- figures --------------------------------------------------------------------------------------------------
def show_grid(ax, images: Tensor, nrow: int = 4) -> None:
    """Show images [n, 1, 28, 28] in [-1, 1] as a grid with ``nrow`` rows on ``ax`` (white background)."""
    from ..plots import image_grid

    grid = image_grid(images, nrow=math.ceil(images.shape[0] / nrow), pad=0)  # [nrow*28, ncol*28] in [0, 1]
    ax.imshow(1 - grid.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def draw_corruptions(fig, level: int, sweep: dict[str, list[float]], images: Tensor, labels: Tensor) -> None:
    """For each corruption kind: eight corrupted test digits at ``level`` and FID against strength (level
    marked). The drawing function of the chapter's widget."""
    axes = fig.subplots(len(LEVELS), 2, gridspec_kw={"width_ratios": [2.2, 1]})
    for row, (kind, strengths) in zip(axes, LEVELS.items()):
        shown = corrupt(images[:64], labels[:64], kind, strengths[level])[:8]
        show_grid(row[0], shown, nrow=1)
        row[0].set_ylabel(f"{kind}\n{strengths[level]:g}", rotation=0, ha="right", va="center", fontsize=9)
        row[1].plot(strengths, sweep[kind], "o-", ms=3)
        row[1].plot([strengths[level]], [sweep[kind][level]], "o", ms=9, mfc="none", mec="#d62728", mew=2)
        row[1].set_ylabel("FID", fontsize=9)
        row[1].set_yscale("symlog", linthresh=1.0)
    fig.tight_layout()


# --- the headline run -----------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=None,
                        help="generator updates of every model (default: as its chapter trains it)")
    parser.add_argument("--n-eval", type=int, default=None, help="N, samples per model (default: profile)")


def run(profile: str = "quick", seed: int = 0, steps: int | None = None, n_eval: int | None = None) -> dict:
    """Everything the chapter measures, as JSON: the floor, FID_infinity and scores per model, corruptions."""
    b = budget(profile, n_eval=n_eval)
    seed_everything(seed)
    digits = load_digits()
    train_f, test_f = features(digits["train_x"]), features(digits["test_x"])
    real_stats = metrics.feature_statistics(train_f)
    trainers = train_models(digits, profile, seed, steps=steps)
    board, fid_inf, kid, inc, fakes = {}, {}, {}, {}, {}
    for name, trainer in trainers.items():
        fake = sample_images(trainer, b["n_eval"])
        fake_f = features(fake)
        board[name] = metrics.frechet_distance(*real_stats, *metrics.feature_statistics(fake_f))
        fid_inf[name] = metrics.fid_infinity(b["fid_ns"], fid_curve(real_stats, fake_f, b["fid_ns"], seed))[0]
        scores = kid_and_is(train_f, fake_f, metrics.classifier_logits(fake), b, seed)
        kid[name], inc[name] = scores["kid"], scores["is"]
        fakes[name] = fake
    candidates, validation = parzen_candidates(digits["train_x"], fakes, min(b["parzen_centres"], b["n_eval"]),
                                               b["parzen_val"], seed)
    parzen = parzen_table(candidates, validation, digits["test_x"])
    return {
        "features": FEATURES, "n_eval": b["n_eval"], "fid_ns": b["fid_ns"],
        "steps": {name: t.step for name, t in trainers.items()},
        "real_vs_real": real_vs_real(train_f, test_f, seed),
        "leaderboard": board, "fid_infinity": fid_inf, "kid": kid, "inception_score": inc,
        "corruptions": corruption_sweep(digits["test_x"], digits["test_y"], real_stats, seed),
        "parzen_log_likelihood": {name: v["log_likelihood"] for name, v in parzen.items()},
    }
