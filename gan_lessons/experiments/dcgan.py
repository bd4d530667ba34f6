"""DCGAN on MNIST: an MLP GAN baseline, a DCGAN with an EMA generator, a conditional GAN, and the improved
training techniques of Salimans et al. 2016, judged by the book's MNIST classifier."""
from __future__ import annotations

import math
import time

import torch
from torch import Tensor, nn

from .. import classifier, data, models, train
from ..runtime import get_device, pick, seed_everything

NAME = "dcgan"
LATENT_DIM = 64  # z ~ N(0, I_64)
VARIANTS = ("plain", "feature matching", "label smoothing", "historical averaging")  # compared at one budget
GRID = 64  # digits in the fixed-noise sample grid (8 x 8)


def budget(profile: str, steps: int | None = None) -> dict:
    """How much the chapter trains: quick on 2 CPU cores, full (paper-sized) on a GPU, or ``steps`` given."""
    steps = steps or pick(quick=1500, full=20_000, profile=profile)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 10:
        raise ValueError(f"steps must be an integer >= 10, got {steps!r}")
    return {
        "steps": steps,  # generator updates of the DCGAN and the MLP GAN
        "mlp_steps": pick(quick=max(steps // 3, 10), full=steps, profile=profile),  # the MLP GAN baseline
        "cgan_steps": pick(quick=max(2 * steps // 3, 10), full=steps, profile=profile),  # the conditional GAN
        "compare_steps": pick(quick=max(steps // 4, 10), full=steps // 4, profile=profile),  # per technique
        "compare_ema_decay": pick(quick=0.99, full=0.999, profile=profile),  # shorter runs: a shorter EMA memory
        "failure_steps": pick(quick=150, full=2_000, profile=profile),  # the run where D wins
        "batch_size": pick(quick=64, full=128, profile=profile),
        "width": pick(quick=32, full=64, profile=profile),  # DCGAN channels (models.DCGANGenerator)
        "ema_decay": pick(quick=0.995, full=0.999, profile=profile),  # EMA of G: ~1/(1 - decay) steps of memory
        # Adam 2e-4 for D as in the paper; on the short CPU budget G learns 5x faster (a measured choice)
        "lr_g": pick(quick=1e-3, full=2e-4, profile=profile),
        "n_eval": pick(quick=1000, full=10_000, profile=profile),  # generated digits per measurement
    }


def config(b: dict, seed: int = 0, steps: int | None = None, **options) -> train.TrainConfig:
    """The DCGAN recipe of Radford et al. 2016 (Adam 2e-4, beta1 = 0.5; G's rate from the budget) with an EMA
    generator."""
    settings = dict(steps=steps or b["steps"], batch_size=b["batch_size"], lr_d=2e-4, lr_g=b["lr_g"],
                    betas=(0.5, 0.999), ema_decay=b["ema_decay"], seed=seed, log_every=5)
    return train.TrainConfig(**{**settings, **options})


def load_digits() -> dict[str, Tensor]:
    """MNIST images [n, 1, 28, 28] in [-1, 1] and labels (``data.mnist``; offline, the real 5,000-digit subset)."""
    train_x, train_y = data.mnist(split="train")
    test_x, test_y = data.mnist(split="test")
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def make_models(kind: str, width: int = 32) -> tuple[nn.Module, nn.Module]:
    """(G, D): ``'mlp'`` (Goodfellow et al. 2014), ``'dcgan'`` or ``'conditional'`` (Mirza & Osindero 2014)."""
    if kind == "mlp":
        return models.MLPImageGenerator(LATENT_DIM, hidden=256), models.MLPImageDiscriminator(hidden=256)
    if kind == "dcgan":
        return models.DCGANGenerator(LATENT_DIM, width), models.DCGANDiscriminator(width)
    if kind == "conditional":
        return models.DCGANGenerator(LATENT_DIM, width, n_classes=10), models.DCGANDiscriminator(width, n_classes=10)
    raise ValueError(f"unknown model kind {kind!r}: use 'mlp', 'dcgan' or 'conditional'")


def train_run(kind: str, digits: dict[str, Tensor], profile: str, seed: int = 0, variant: str = "plain",
              steps: int | None = None, progress: bool = True, **options) -> train.GANTrainer:
    """Train one model through the book's trainer (cached: a second identical call loads the run).

    variant: one of :data:`VARIANTS` (the DCGAN with one improved technique switched on), or ``'d-wins'``:
    the saturating minimax loss with a 5x faster discriminator, the classic failure.
    Snapshots hold the EMA generator's digits for the fixed noise of :func:`fixed_noise`.
    """
    b = budget(profile)
    device = get_device()
    objective, cfg_options = config_for_variant(variant)
    cfg = config(b, seed, steps, **{**gpu_options(device), **cfg_options, **options})
    seed_everything(seed)
    G, D = make_models(kind, b["width"])
    if device.type == "cuda":  # NHWC lets cuDNN use Tensor Cores for the bf16 convolutions
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    labels = digits["train_y"] if kind == "conditional" else None
    sampler = data.TensorSampler(digits["train_x"], labels)
    z, y = fixed_noise(seed), (torch.arange(GRID) % 10 if kind == "conditional" else None)
    snap = _grid_snapshot(z, y)
    name = f"dcgan-{kind}-{variant.replace(' ', '-')}"
    return train.train_gan(G, D, sampler, cfg, latent_dim=LATENT_DIM, objective=objective, device=device,
                           cache=name, snapshot=snap, snapshot_every=max(cfg.steps // 12, 1), progress=progress)


def gpu_options(device: torch.device) -> dict:
    """TrainConfig options for ``device``: bf16 mixed precision on a GPU; none on the CPU, where the book's runs
    stay plain fp32 (reproducible numbers). Models also go channels_last on a GPU (``train_run``)."""
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device, got {type(device).__name__}")
    return {"precision": "bf16"} if device.type == "cuda" else {}


def fixed_noise(seed: int = 0, n: int = GRID) -> Tensor:
    """The same n latent codes [n, LATENT_DIM] for every snapshot, so frames differ only by training."""
    return torch.randn(n, LATENT_DIM, generator=torch.Generator().manual_seed(10_000 + seed))


def generate(trainer: train.GANTrainer, n: int, labels: Tensor | None = None, batch: int = 500) -> Tensor:
    """n digits [n, 1, 28, 28] from the trainer's EMA generator (or G), drawn from its own random stream."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if labels is not None and labels.shape != (n,):
        raise ValueError(f"labels must have shape [{n}], one class per digit, got {tuple(labels.shape)}")
    parts = [trainer.sample(min(batch, n - i), None if labels is None else labels[i:i + batch])
             for i in range(0, n, batch)]
    return torch.cat(parts)


def judge(images: Tensor) -> dict[str, float]:
    """Quality and diversity by the book's classifier: recognised fraction (p >= 0.9) and class entropy."""
    return {"recognised_fraction": classifier.recognised_fraction(images),
            "class_entropy": classifier.class_entropy(images)}


def class_accuracy(images: Tensor, labels: Tensor) -> float:
    """Fraction of images the classifier assigns to the class in ``labels`` (for the conditional GAN)."""
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape [{images.shape[0]}], got {tuple(labels.shape)}")
    return float((classifier.predict(images) == labels).float().mean())


def nearest_neighbours(queries: Tensor, pool: Tensor, batch: int = 256) -> tuple[Tensor, Tensor]:
    """For each query image the closest image of ``pool`` in pixel space: (indices [n], L2 distances [n])."""
    if queries.dim() != 4 or pool.dim() != 4 or queries.shape[1:] != pool.shape[1:]:
        raise ValueError(f"queries and pool must be images [n, C, H, W] of one size, got {tuple(queries.shape)} "
                         f"and {tuple(pool.shape)}")
    flat = pool.flatten(1)  # [m, C*H*W]
    idx, dist = [], []
    for q in queries.flatten(1).split(batch):
        d = torch.cdist(q, flat)  # [b, m]
        best = d.min(dim=1)
        idx.append(best.indices)
        dist.append(best.values)
    return torch.cat(idx), torch.cat(dist)


def interpolate(z0: Tensor, z1: Tensor, n: int) -> Tensor:
    """n codes [n, d] on the straight line from z0 to z1 (both [d]), endpoints included."""
    if z0.shape != z1.shape or z0.dim() != 1:
        raise ValueError(f"z0 and z1 must be two vectors [d] of one size, got {tuple(z0.shape)}, {tuple(z1.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (the two endpoints), got {n!r}")
    t = torch.linspace(0, 1, n).unsqueeze(1)  # [n, 1]
    return (1 - t) * z0 + t * z1


@torch.no_grad()
def decode(trainer: train.GANTrainer, z: Tensor, labels: Tensor | None = None) -> Tensor:
    """Images [n, 1, 28, 28] for the given codes z [n, LATENT_DIM] from the EMA generator (eval mode)."""
    net = trainer.ema if trainer.ema is not None else trainer.G
    was_training = net.training
    net.eval()
    out = net(z.to(trainer.device)) if labels is None else net(z.to(trainer.device), labels.to(trainer.device))
    net.train(was_training)
    return out.cpu()


def image_grid(images: Tensor, nrow: int = 8, pad: int = 2) -> Tensor:
    """Tile images [n, 1, 28, 28] in [-1, 1] into one picture [H, W] in [0, 1] with ``nrow`` per row."""
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 1 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty tensor [n, 1, H, W], got "
                         f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}")
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive integer, got {nrow!r}")
    n, _, h, w = images.shape
    rows = math.ceil(n / nrow)
    out = torch.ones(rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i, img in enumerate(images.detach().float().cpu()):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = \
            (img[0].clamp(-1, 1) + 1) / 2
    return out


def ink(images: Tensor) -> Tensor:
    """Stroke weight of each digit: the fraction of its pixels brighter than mid-grey (> 0 in [-1, 1]), [n]."""
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise ValueError("images must be a tensor [n, 1, H, W]")
    return (images > 0).float().flatten(1).mean(1)


def bold_direction(trainer: train.GANTrainer, n: int = 2000, fraction: float = 0.2, seed: int = 0) -> Tensor:
    """Latent arithmetic (Radford et al. 2016, sec. 6.3): mean code of the boldest generated digits minus the
    mean code of the thinnest ones, a direction [LATENT_DIM] that adds ink to any digit."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction!r}")
    z = torch.randn(n, LATENT_DIM, generator=torch.Generator().manual_seed(20_000 + seed))
    order = ink(decode(trainer, z)).argsort()
    k = max(1, int(fraction * n))
    return z[order[-k:]].mean(0) - z[order[:k]].mean(0)


def run(profile: str = "quick", seed: int = 0, steps: int | None = None, progress: bool = False) -> dict:
    digits = load_digits()
    b = budget(profile, steps)
    start = time.perf_counter()
    dcgan = train_run("dcgan", digits, profile, seed, steps=b["steps"], progress=progress)
    cgan = train_run("conditional", digits, profile, seed, steps=b["cgan_steps"], progress=progress)
    seconds = time.perf_counter() - start
    n = b["n_eval"]
    fakes = generate(dcgan, n)
    asked = torch.arange(n) % 10
    out = {"steps": dcgan.step, "seconds": round(seconds, 1), **_rounded(judge(fakes)),
           "real_recognised_fraction": round(classifier.recognised_fraction(digits["test_x"]), 4),
           "classifier_accuracy": round(classifier.classifier_accuracy(), 4),
           "cgan_class_accuracy": round(class_accuracy(generate(cgan, n, asked), asked), 4),
           "max_class_entropy": round(math.log(10), 4)}
    return out


def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=None, help="generator updates (default: by profile)")


def config_for_variant(variant: str) -> tuple[train.Objective, dict]:
    """(objective, TrainConfig options) of a variant: one of :data:`VARIANTS` or ``'d-wins'``."""
    if variant == "plain":
        return train.JSObjective(), {}
    if variant == "feature matching":
        return train.FeatureMatchingObjective(), {}
    if variant == "label smoothing":
        return train.JSObjective(real_label=0.9), {"real_label": 0.9}
    if variant == "historical averaging":
        return train.JSObjective(), {"historical_weight": 1.0}
    if variant == "d-wins":
        return train.JSObjective(saturating=True), {"lr_d": 1e-3, "lr_g": 2e-4, "ema_decay": None}
    raise ValueError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)} or 'd-wins'")


# --- helpers ---------------------------------------------------------------------------------------------------
def _grid_snapshot(z: Tensor, labels: Tensor | None):
    def grid_snapshot(trainer: train.GANTrainer) -> Tensor:
        return decode(trainer, z, labels)  # [GRID, 1, 28, 28]
    return grid_snapshot


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}
