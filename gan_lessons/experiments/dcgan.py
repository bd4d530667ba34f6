"""DCGAN on MNIST: an MLP GAN baseline, a DCGAN with an EMA generator, a conditional GAN, and the improved
training techniques of Salimans et al. 2016, judged by the book's MNIST classifier."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace

import scipy.stats
import torch
from torch import Tensor, nn

from .. import classifier, data, metrics, models, objectives, train, vbn
from ..attributes import ink
from ..mnist import load_digits
from .. import runtime
from ..runtime import get_device, seed_everything, sized

NAME = "dcgan"
LATENT_DIM = 64  # z ~ N(0, I_64)
VARIANTS = ("plain", "feature matching", "label smoothing", "historical averaging")  # compared at one budget
GRID = 64  # digits in the fixed-noise sample grid (8 x 8)
SLIDES_GRID, SLIDES_EVERY = 25, 400  # the course's MNIST example keeps 25 samples every 400 batches: so does the MLP
CHECKPOINT_EVAL = 500  # digits of the fixed noise per snapshot, whose classifier features give its FID
NORMS = ("batch", "virtual")  # G's normalisation in the virtual-batch-norm comparison


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """How much the chapter trains: quick on 2 CPU cores, full (paper-sized) on a GPU."""

    steps: int = sized(1500, 20_000, steps=True, minimum=10)  # generator updates of the DCGAN
    mlp_steps: int = sized(3000, 20_000, steps=True, minimum=10)  # the MLP GAN baseline (quick: 2 steps: cheap)
    cgan_steps: int = sized(1000, 20_000, steps=True, minimum=10)  # the conditional GAN (quick: 2 steps / 3)
    compare_steps: int = sized(375, 5_000, steps=True, minimum=10)  # per technique (steps / 4)
    compare_ema_decay: float = sized(0.99, 0.999)  # shorter runs: a shorter EMA memory
    failure_steps: int = sized(150, 2_000, steps=True, minimum=10)  # the run where D wins
    vbn_steps: int = sized(250, 5_000, steps=True, minimum=10)  # each run of the batch norm vs VBN comparison
    vbn_width: int = sized(16, 64)  # its DCGAN channels (quick: half the chapter's width, to afford the seeds)
    vbn_seeds: int = sized(3, 5)  # seeds per normalisation
    batch_size: int = sized(64, 128)
    width: int = sized(32, 64)  # DCGAN channels (models.DCGANGenerator)
    ema_decay: float = sized(0.995, 0.999)  # EMA of G: ~1/(1 - decay) steps of memory
    # Adam 2e-4 for D as in the paper; on the short CPU budget G learns 5x faster (a measured choice)
    lr_g: float = sized(1e-3, 2e-4)
    # gamma of the R1 penalty on D at real digits (Mescheder et al. 2018) in the chapter's DCGAN; 0 = the paper's D
    r1_weight: float = sized(1.0, 1.0)
    # lazy R1 (Karras et al. 2020): the penalty on every r1_every-th D update, r1_every times as strong. Quick, seeds 0
    # and 1 (benchmarks/dcgan_lazy_r1.md): as many digits recognised as with R1 on every update, training 1.4x faster
    r1_every: int = sized(4, 4)
    n_eval: int = sized(1000, 10_000)  # generated digits per measurement

    @classmethod
    def derive(cls, profile: str, given: dict) -> dict:
        """A given ``steps`` sets the others as the profile does: quick 2 steps, 2 steps/3, steps/4."""
        if "steps" not in given:
            return {}
        steps = given["steps"]
        if profile == "full":
            return {"mlp_steps": steps, "cgan_steps": steps, "compare_steps": max(steps // 4, 10)}
        return {"mlp_steps": max(2 * steps, 10), "cgan_steps": max(2 * steps // 3, 10),
                "compare_steps": max(steps // 4, 10)}


def budget(profile: str | None = None, steps: int | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``; ``steps`` (>= 10) sets the DCGAN's and the others'."""
    return Budget.of(profile, steps=steps, **overrides)


def config(b: Budget, seed: int = 0, steps: int | None = None, **options) -> train.TrainConfig:
    """The DCGAN recipe of Radford et al. 2016 (Adam 2e-4, beta1 = 0.5; G's rate from the budget) with an EMA
    generator."""
    settings = dict(steps=steps or b["steps"], batch_size=b["batch_size"], lr_d=2e-4, lr_g=b["lr_g"],
                    betas=(0.5, 0.999), ema_decay=b["ema_decay"], seed=seed, log_every=5)
    return train.TrainConfig(**{**settings, **options})


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
              steps: int | None = None, progress: bool = True, checkpoints: bool = False,
              r1_weight: float = 0.0, r1_every: int | None = None, **options) -> train.GANTrainer:
    """Train one model through the book's trainer (cached: a second identical call loads the run).

    variant: one of :data:`VARIANTS` (the DCGAN with one improved technique switched on), or ``'d-wins'``:
    the saturating minimax loss with a 5x faster discriminator, the classic failure.
    r1_weight: gamma of the R1 penalty on D at the real batch (``objectives.JSObjective.r1_weight``); the
    chapter's DCGAN uses the budget's ``r1_weight``, 0 trains without it. r1_every: k of lazy R1
    (``objectives.JSObjective.r1_every``; None: the budget's ``r1_every``).
    Snapshots (every twelfth of the run, or for the MLP baseline every 400 steps, as the course's MNIST example
    saves its samples) hold ``"grid"``: the EMA generator's digits for the fixed noise of :func:`fixed_noise`
    (64, the MLP's 25); with ``checkpoints`` also ``"features"``: the classifier features of
    :data:`CHECKPOINT_EVAL` digits of the fixed noise (an FID per snapshot), and ``"G"``: the EMA generator's
    weights, a checkpoint to pick (:func:`checkpoint_fids`, :func:`checkpoint_samples`).
    """
    b = budget(profile)
    device = get_device()
    objective, cfg_options = config_for_variant(variant)
    if r1_weight:  # checked by JSObjective
        objective = replace(objective, r1_weight=r1_weight, r1_every=b["r1_every"] if r1_every is None else r1_every)
    speed = runtime.image_precision(device)  # bf16 + channels_last where the hardware has bf16 (measured)
    cfg = config(b, seed, steps, **{"precision": speed["precision"], **cfg_options, **options})
    seed_everything(seed)
    G, D = make_models(kind, b["width"])
    if speed["channels_last"]:  # NHWC: the layout oneDNN's and cuDNN's bf16 convolutions are fastest in
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    labels = digits["train_y"] if kind == "conditional" else None
    sampler = data.TensorSampler(digits["train_x"], labels)
    z = fixed_noise(seed, CHECKPOINT_EVAL)
    y = torch.arange(CHECKPOINT_EVAL) % 10 if kind == "conditional" else None
    grid, every = GRID, max(cfg.steps // 12, 1)
    if kind == "mlp":  # the course's example: 25 samples every 400 batches (more often in a run under 800)
        grid, every = SLIDES_GRID, (SLIDES_EVERY if cfg.steps >= 2 * SLIDES_EVERY else every)
    name = f"dcgan-{kind}-{variant.replace(' ', '-')}"
    return train.train_gan(G, D, sampler, cfg, latent_dim=LATENT_DIM, objective=objective, device=device,
                           cache=name, snapshot=_snapshot(z, y, grid, checkpoints), snapshot_every=every,
                           progress=progress)


def train_norm_run(norm: str, digits: dict[str, Tensor], profile: str, seed: int = 0,
                   progress: bool = True) -> train.GANTrainer:
    """One run of the batch norm vs virtual batch norm comparison (cached): the DCGAN recipe at the budget's
    ``vbn_width`` and ``vbn_steps``, G with batch norm (``'batch'``) or with :class:`vbn.VirtualBatchNormGenerator`
    (``'virtual'``: a fixed reference batch of ``batch_size`` codes drawn with ``seed``). D is the same in both."""
    if norm not in NORMS:
        raise ValueError(f"unknown normalisation {norm!r}: use one of {', '.join(NORMS)}")
    b = budget(profile)
    device = get_device()
    speed = runtime.image_precision(device)
    cfg = config(b, seed, b["vbn_steps"], precision=speed["precision"], ema_decay=b["compare_ema_decay"])
    seed_everything(seed)
    G, D = make_models("dcgan", b["vbn_width"])
    if norm == "virtual":
        G = vbn.VirtualBatchNormGenerator(G, reference=b["batch_size"], seed=seed)
    if speed["channels_last"]:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    return train.train_gan(G, D, data.TensorSampler(digits["train_x"]), cfg, latent_dim=LATENT_DIM, device=device,
                           cache=f"dcgan-norm-{norm}", progress=progress)


def batch_dependence(trainer: train.GANTrainer, n: int | None = None, seed: int = 0) -> float:
    """How much the digit G draws for one code changes with the rest of its batch *while training* (train mode):
    the largest absolute pixel difference between G(z_0) in two batches of n codes (default: the training batch)
    that share only z_0. Runs on a copy of G (batch norm's running statistics of the trained G stay as they are)."""
    n = trainer.config.batch_size if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (a batch with at least one other code), got {n!r}")
    G = copy.deepcopy(trainer.G).train()
    g = torch.Generator().manual_seed(seed)
    z0, a, b = (torch.randn(k, LATENT_DIM, generator=g).to(trainer.device) for k in (1, n - 1, n - 1))
    with torch.no_grad():
        first, second = G(torch.cat([z0, a]))[0], G(torch.cat([z0, b]))[0]
    return float((first.float() - second.float()).abs().max())


def mean_and_se(values) -> tuple[float, float]:
    """(mean, standard error = sample std / sqrt(n), 0 for one value) of a list of numbers (one per seed)."""
    x = torch.as_tensor(values, dtype=torch.float64)
    if x.dim() != 1 or len(x) == 0 or not torch.isfinite(x).all():
        raise ValueError("values must be a non-empty list of finite numbers, one per seed")
    return float(x.mean()), (float(x.std() / math.sqrt(len(x))) if len(x) > 1 else 0.0)


def fixed_noise(seed: int = 0, n: int = GRID) -> Tensor:
    """The same n latent codes [n, LATENT_DIM] for every snapshot, so frames differ only by training."""
    return torch.randn(n, LATENT_DIM, generator=torch.Generator().manual_seed(10_000 + seed))


def generate(trainer: train.GANTrainer, n: int, labels: Tensor | None = None, batch: int = 500) -> Tensor:
    """n digits [n, 1, 28, 28] from the trainer's EMA generator (or G), drawn from its own random stream."""
    if not isinstance(trainer, train.GANTrainer):
        raise TypeError(f"trainer must be a train.GANTrainer (a trained run), got {type(trainer).__name__}")
    return trainer.sample(n, labels=labels, batch=batch)


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


def decode(trainer: train.GANTrainer, z: Tensor, labels: Tensor | None = None) -> Tensor:
    """Images [n, 1, 28, 28] for the given codes z [n, LATENT_DIM] from the EMA generator (eval mode)."""
    return trainer.sample(z=z, labels=labels)


def bold_direction(trainer: train.GANTrainer, n: int = 2000, fraction: float = 0.2, seed: int = 0) -> Tensor:
    """Latent arithmetic (Radford et al. 2016, sec. 6.3): mean code of the boldest generated digits minus the
    mean code of the thinnest ones, a direction [LATENT_DIM] that adds ink to any digit."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction!r}")
    z = torch.randn(n, LATENT_DIM, generator=torch.Generator().manual_seed(20_000 + seed))
    order = ink(decode(trainer, z)).argsort()
    k = max(1, int(fraction * n))
    return z[order[-k:]].mean(0) - z[order[:k]].mean(0)


def checkpoint_fids(trainer: train.GANTrainer, real_features: Tensor) -> dict:
    """The FID (classifier features, :func:`metrics.fid_from_features`) of every snapshot's digits against
    ``real_features`` [n, k]: ``steps``, ``fid`` (one per snapshot), the ``best_step`` (lowest FID) and its
    ``best_fid``, and the ``final_fid`` of the last snapshot."""
    if not isinstance(trainer, train.GANTrainer) or not trainer.snapshots or \
            not isinstance(trainer.snapshots[0][1], dict) or "features" not in trainer.snapshots[0][1]:
        raise ValueError("trainer must be a run of train_run(..., checkpoints=True), whose snapshots hold the "
                         "digits' features")
    steps = [step for step, _ in trainer.snapshots]
    fids = [metrics.fid_from_features(real_features, snap["features"]) for _, snap in trainer.snapshots]
    best = min(range(len(fids)), key=fids.__getitem__)
    g_loss = losses_between(trainer.history, steps)
    rho = float(scipy.stats.spearmanr(g_loss, fids[1:])[0]) if len(g_loss) > 2 else float("nan")
    return {"steps": steps, "fid": fids, "best_step": steps[best], "best_fid": fids[best], "final_fid": fids[-1],
            "g_loss": g_loss, "loss_fid_rank_corr": rho}


def losses_between(history: train.History, steps: list[int], key: str = "g_loss") -> list[float]:
    """The mean of ``history``'s ``key`` over the logged steps after each of ``steps`` up to and including the
    next: one value per checkpoint but the first (what the loss curve said while the run went there). Where no
    step of an interval was logged, the last value logged before its end stands for it."""
    if key not in ("g_loss", "d_loss", "d_real", "d_fake"):
        raise ValueError(f"key must be g_loss, d_loss, d_real or d_fake, got {key!r}")
    values = getattr(history, key)
    out = []
    for lo, hi in zip(steps, steps[1:]):
        window = [v for s, v in zip(history.step, values) if lo < s <= hi] or \
            [v for s, v in zip(history.step, values) if s <= hi][-1:]
        if not window:
            raise ValueError(f"the history logged no step up to {hi}: log more often (TrainConfig.log_every)")
        out.append(sum(window) / len(window))
    return out


def checkpoint_samples(trainer: train.GANTrainer, step: int, n: int, seed: int = 0) -> Tensor:
    """n digits [n, 1, 28, 28] of the generator as it was at snapshot ``step`` (a run trained with
    ``checkpoints=True``), from the codes of a generator seeded with ``seed``."""
    kept = dict(trainer.snapshots)
    if step not in kept:
        raise ValueError(f"no snapshot at step {step!r}: this run kept steps {sorted(kept)}")
    if "G" not in kept[step]:
        raise ValueError("this run kept no weights in its snapshots: train it with train_run(..., checkpoints=True)")
    G = copy.deepcopy(trainer.ema if trainer.ema is not None else trainer.G)
    G.load_state_dict(kept[step]["G"])
    z = torch.randn(n, LATENT_DIM, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.eval()(z.to(trainer.device)).float().cpu()  # a copy: the trainer's own G is untouched


def run(profile: str = "quick", seed: int = 0, steps: int | None = None, progress: bool = False) -> dict:
    digits = load_digits()
    b = budget(profile, steps)
    start = time.perf_counter()
    dcgan = train_run("dcgan", digits, profile, seed, steps=b["steps"], r1_weight=b["r1_weight"], progress=progress)
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


def config_for_variant(variant: str) -> tuple[objectives.Objective, dict]:
    """(objective, TrainConfig options) of a variant: one of :data:`VARIANTS` or ``'d-wins'``."""
    if variant == "plain":
        return objectives.make_objective("ns"), {}
    if variant == "feature matching":
        return objectives.make_objective("feature-matching"), {}
    if variant == "label smoothing":
        return objectives.make_objective("ns", real_label=0.9), {}
    if variant == "historical averaging":
        return objectives.make_objective("ns"), {"historical_weight": 1.0}
    if variant == "d-wins":
        return objectives.make_objective("minimax"), {"lr_d": 1e-3, "lr_g": 2e-4, "ema_decay": None}
    raise ValueError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)} or 'd-wins'")


# --- helpers ---------------------------------------------------------------------------------------------------
def _snapshot(z: Tensor, labels: Tensor | None, grid: int, weights: bool):
    def snapshot(trainer: train.GANTrainer) -> dict:
        if not weights:
            return {"grid": decode(trainer, z[:grid], None if labels is None else labels[:grid])}
        images = decode(trainer, z, labels)  # [len(z), 1, 28, 28]
        net = trainer.ema if trainer.ema is not None else trainer.G
        return {"grid": images[:grid], "features": metrics.classifier_features(images),
                "G": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
    return snapshot


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def draw_checkpoints(ax, ck: dict) -> None:
    """The FID of every checkpoint (:func:`checkpoint_fids`; log scale, the best one starred) and, on a second
    axis, the generator's mean loss on the way to each checkpoint."""
    ax.semilogy(ck["steps"], ck["fid"], "o-", color="black", label="FID (classifier features)")
    ax.plot(ck["best_step"], ck["best_fid"], "*", ms=14, color="tab:red", label="best checkpoint")
    ax.set(xlabel="generator step", ylabel="FID (log scale)")
    twin = ax.twinx()
    twin.plot(ck["steps"][1:], ck["g_loss"], "s--", color="tab:orange", label="G loss (mean since last)")
    twin.set_ylabel("G loss", color="tab:orange")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper center")

