"""WGAN-GP on 2D toys over seeds (modes captured, gradient norms at interpolates), clipping vs penalty, MNIST."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import classifier, collapse, data, metrics, models, train, wgan
from ..ensemble import EnsembleSampler, ensemble_noise
from .. import runtime
from ..runtime import seed_everything, sized
from ..checks import check_int

NAME = "wgan-gp"

RING = data.ring(n_modes=8, radius=2.0, std=0.05)  # "8 Gaussians" (Gulrajani et al.'s toy, up to a scale)
GRID = data.grid(n=5, spacing=2.0, std=0.05)  # "25 Gaussians"
TOYS = {"8 Gaussians": RING.sample, "25 Gaussians": GRID.sample, "swiss roll": data.swiss_roll}
MIXTURES = {"8 Gaussians": RING, "25 Gaussians": GRID}
LIMITS = {"8 Gaussians": 3.0, "25 Gaussians": 5.5, "swiss roll": 2.2}  # plotting box [-lim, lim]^2
CLIP_VALUES = (0.1, 0.01, 0.001)  # c of the clipping study (Gulrajani et al. 2017, Fig. 1a)
SETTINGS = tuple(f"clip c={c:g}" for c in CLIP_VALUES) + ("gradient penalty",)
CLIP_OPTIMIZERS = ("rmsprop", "adam")  # the clipped WGAN on MNIST: the paper's RMSProp, and Adam with beta1 = 0.5
MNIST_CLIP = 0.01  # c of the clipped WGAN on MNIST (Arjovsky et al.)


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """Training budget: generator steps of the toy ensembles, seeds on the ring, the depth study, MNIST."""

    toy_steps: int = sized(600, 20_000, steps=True)  # generator steps of the toy ensembles
    ring_seeds: int = sized(3, 5)  # independent runs on the ring (ensemble members)
    batch_size: int = sized(128, 256)
    depth_steps: int = sized(100, 2_000, steps=True)  # generator steps of the deep-critic study
    # learning rates of the depth study: the papers' (full) or ten times larger for its few hundred updates
    clip_lr: float = sized(5e-4, 5e-5)  # RMSProp with weight clipping (Arjovsky et al.: 5e-5)
    gp_lr: float = sized(1e-3, 1e-4)  # Adam with the gradient penalty (Gulrajani et al.: 1e-4)
    # WGAN-GP on MNIST. Quick: 300 steps at 2e-3 draw >= 0.5 recognised digits (seeds 0-2: 0.55, 0.55, 0.52; at the
    # old 100 steps and 5e-4: 0.15), measured on a 2-core AMD EPYC, width 16, 512 samples judged
    mnist_steps: int = sized(300, 10_000, steps=True)
    mnist_width: int = sized(16, 64)  # channels of the MNIST generator and critic
    mnist_lr: float = sized(2e-3, 1e-4)  # Adam, both players (Gulrajani et al.: 1e-4)
    clip_mnist_steps: int = sized(120, 10_000, steps=True)  # generator steps of each clipped WGAN on MNIST
    clip_mnist_lr: float = sized(5e-4, 5e-5)  # both optimizers, both players (Arjovsky et al.: 5e-5)


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


@dataclass
class ToyRun:
    """One ensemble run: member m trains on ``members[m]`` (the ring once per seed, then the others)."""

    objective: str  # 'wgan-gp' or 'ns'
    members: list[str]  # dataset name of each member
    trainer: train.GANTrainer
    samples: Tensor  # [n_eval, members, 2] final samples, fixed noise
    metrics: list[dict | None]  # mode_collapse_metrics per member (None for the swiss roll)

    def index(self, name: str) -> list[int]:
        return [m for m, n in enumerate(self.members) if n == name]


def train_toys(objective: str = "wgan-gp", profile: str = "quick", seed: int = 0, ring_seeds: int | None = None,
               steps: int | None = None, progress: bool = False) -> ToyRun:
    """Train G and D on the ring (``ring_seeds`` times), the grid and the swiss roll, as one ensemble.

    objective: 'wgan-gp' (lambda = 10, n_critic = 5, Adam betas (0.5, 0.9), Gulrajani et al. 2017) or 'ns'
    (the non-saturating JS GAN, one D step per G step). Adam learning rates 1e-3 for D and 3e-4 for G: larger
    than the paper's 1e-4 so that the quick profile converges in hundreds of steps instead of 100,000. Snapshots record, per member, the critic's W1
    estimate (or D's JS loss) on fixed held-out batches and the mode metrics of 2,500 samples.
    """
    if objective not in ("wgan-gp", "ns"):
        raise ValueError(f"objective must be 'wgan-gp' or 'ns', got {objective!r}")
    b = budget(profile)
    seeds = b.ring_seeds if ring_seeds is None else ring_seeds
    steps = b.toy_steps if steps is None else steps
    check_int("ring_seeds", seeds, minimum=1)
    names = ["8 Gaussians"] * seeds + ["25 Gaussians", "swiss roll"]
    rng = seed_everything(seed)
    net = collapse.NetSpec(g_hidden=128, g_depth=3, d_hidden=128, d_depth=3, d_activation="relu")
    G, D, obj = collapse.build_method(objective, len(names), net)
    gp = objective == "wgan-gp"  # n_critic = 5 critic updates per G update, Adam betas (0.5, 0.9)
    cfg = train.TrainConfig(steps=steps, batch_size=b.batch_size, d_steps=5 if gp else 1, lr_d=1e-3, lr_g=3e-4,
                            betas=(0.5, 0.9) if gp else (0.5, 0.999), seed=seed, log_every=10)
    probe = _toy_probe(names, rng, objective)
    trainer = train.train_gan(G, D, EnsembleSampler([TOYS[n] for n in names]), cfg, objective=obj,
                              noise_sampler=ensemble_noise(len(names), 2), cache=f"wgan-toys-{objective}",
                              snapshot=probe, snapshot_every=max(steps // 20, 1), progress=progress)
    samples = trainer.sample(2500, rng=torch.Generator().manual_seed(seed + 1), use_ema=False)
    mets = [metrics.mode_collapse_metrics(samples[:, m], MIXTURES[n]) if n in MIXTURES else None
            for m, n in enumerate(names)]
    return ToyRun(objective, names, trainer, samples, mets)


def clipping_study(profile: str = "quick", seed: int = 0, progress: bool = False) -> dict[str, dict]:
    """Deep critics (12 ReLU layers of 64, no normalisation) trained on the swiss roll, as in Gulrajani et
    al. (2017, Fig. 1): weight clipping with each c of :data:`CLIP_VALUES` (RMSProp, Arjovsky et al.) and the
    gradient penalty (Adam, betas (0.5, 0.9)); n_critic = 5 for all. The full profile uses the papers' learning
    rates (5e-5 and 1e-4); the quick profile ten times larger ones, so that its few hundred critic updates move
    the weights as far as the papers' thousands do.

    Returns, per setting: 'layer_norms' (||dL_D/dW_l|| from input to output), 'weights' (all weights),
    'interp_norms' (||grad_x D|| at 1,024 interpolates), 'init_weights' (the same critic before training)
    and 'lr' (the learning rate both players used).
    """
    b = budget(profile)
    out = {}
    for setting in SETTINGS:
        seed_everything(seed)
        G = models.MLPGenerator(latent_dim=2, data_dim=2, hidden=64, depth=3)
        D = models.MLPDiscriminator(data_dim=2, hidden=64, depth=12, activation="relu")
        init = wgan.linear_weights(D)
        if setting == "gradient penalty":
            cfg = train.TrainConfig(loss="wgan-gp", lr_d=b.gp_lr, lr_g=b.gp_lr, betas=(0.5, 0.9))
        else:
            cfg = train.TrainConfig(loss="wasserstein", optimizer="rmsprop", lr_d=b.clip_lr, lr_g=b.clip_lr,
                                    clip_value=float(setting.split("=")[1]))
        cfg = dataclasses.replace(cfg, steps=b.depth_steps, batch_size=b.batch_size, d_steps=5, seed=seed,
                                  log_every=5)
        trainer = train.train_gan(G, D, data.swiss_roll, cfg, latent_dim=2, cache="wgan-depth", progress=progress)
        real, fake = data.swiss_roll(1024, torch.Generator().manual_seed(seed + 1)), trainer.sample(1024)
        out[setting] = {
            "layer_norms": wgan.layer_gradient_norms(trainer.D, real, fake),
            "weights": wgan.linear_weights(trainer.D),
            "init_weights": init,
            "interp_norms": wgan.interpolate_gradient_norms(trainer.D, real, fake,
                                                            generator=torch.Generator().manual_seed(seed + 2)),
            "clip_value": cfg.clip_value,
            "lr": cfg.lr_d,  # the learning rate of both players in this setting
        }
    return out


def train_mnist(profile: str = "quick", seed: int = 0, progress: bool = False,
                steps: int | None = None) -> train.GANTrainer:
    """WGAN-GP on MNIST: DCGAN generator (batch norm is fine in G) against :class:`gan_lessons.models.ConvCritic`
    (layer norm, no batch norm), lambda = 10, n_critic = 5, Adam at ``mnist_lr`` with betas (0.5, 0.9) (Gulrajani
    et al.: 1e-4); ``steps`` replaces the budget's ``mnist_steps`` (None: the profile's)."""
    b = budget(profile, mnist_steps=steps)  # None: the profile's
    cfg = train.TrainConfig(steps=b.mnist_steps, batch_size=64, loss="wgan-gp", d_steps=5, lr_d=b.mnist_lr,
                            lr_g=b.mnist_lr, betas=(0.5, 0.9), seed=seed, log_every=5)
    G, D, images = _mnist_setup(cfg, b.mnist_width)
    return train.train_gan(G, D, images, cfg, latent_dim=64, cache="wgan-gp-mnist", progress=progress)


def train_mnist_clipped(optimizer: str, profile: str = "quick", seed: int = 0,
                        progress: bool = False) -> train.GANTrainer:
    """The original WGAN on MNIST: the networks of :func:`train_mnist`, weights clipped to [-0.01, 0.01] after
    every critic update, n_critic = 5, and ``optimizer`` (:data:`CLIP_OPTIMIZERS`) for both players at one
    learning rate: ``'rmsprop'`` as Arjovsky et al., or ``'adam'`` with beta1 = 0.5 (the momentum they avoid)."""
    if optimizer not in CLIP_OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}: use one of {', '.join(CLIP_OPTIMIZERS)}")
    b = budget(profile)
    betas = {"betas": (0.5, 0.999)} if optimizer == "adam" else {}
    cfg = train.TrainConfig(steps=b.clip_mnist_steps, batch_size=64, loss="wasserstein", optimizer=optimizer,
                            clip_value=MNIST_CLIP, d_steps=5, lr_d=b.clip_mnist_lr, lr_g=b.clip_mnist_lr,
                            seed=seed, log_every=5, **betas)
    G, D, images = _mnist_setup(cfg, b.mnist_width)
    return train.train_gan(G, D, images, cfg, latent_dim=64, cache=f"wgan-clip-mnist-{optimizer}", progress=progress)


def roughness(values) -> float:
    """Mean absolute change between consecutive logged values of a curve, over the curve's mean absolute value:
    how much it jumps from one log point to the next, on its own scale."""
    x = torch.as_tensor(values, dtype=torch.float64)
    if x.dim() != 1 or len(x) < 2 or not torch.isfinite(x).all():
        raise ValueError("values must be a 1D sequence of at least two finite numbers (a logged curve)")
    scale = float(x.abs().mean())
    if scale == 0:
        raise ValueError("the curve is zero everywhere: its roughness is undefined")
    return float(x.diff().abs().mean()) / scale


def _mnist_setup(cfg: train.TrainConfig, width: int):
    """(G, critic, sampler of MNIST images) for an MNIST run of this chapter, seeded with ``cfg.seed``."""
    images, _ = data.mnist("train", verbose=False)
    seed_everything(cfg.seed)
    return models.DCGANGenerator(latent_dim=64, width=width), models.ConvCritic(width=width), \
        data.TensorSampler(images)


def ring_summary(run: ToyRun, seed: int = 0) -> dict:
    """ring_modes_mean, ring_hq_mean over the ring members, and gp_grad_norm_mean: the mean critic gradient
    norm at interpolates between 1,024 real points and 1,024 fakes per ring member, at the end of training."""
    ring = run.index("8 Gaussians")
    summary = collapse.summarise([run.metrics[m] for m in ring])
    members = len(run.members)
    real = EnsembleSampler([TOYS[n] for n in run.members])(1024, torch.Generator().manual_seed(seed + 3))
    norms = wgan.interpolate_gradient_norms(run.trainer.D, real, run.samples[:1024], ensemble=True,
                                            generator=torch.Generator().manual_seed(seed + 4))
    assert norms.shape == (1024, members)
    return {
        "ring_modes_mean": summary["modes_mean"], "ring_modes_se": summary["modes_se"],
        "ring_hq_mean": summary["hq_mean"], "ring_hq_se": summary["hq_se"],
        "ring_modes_per_seed": [run.metrics[m]["modes"] for m in ring],
        "gp_grad_norm_mean": float(norms[:, ring].mean()),
    }


def run(profile: str = "quick", seed: int = 0, mnist: bool = False) -> dict:
    toys = train_toys("wgan-gp", profile, seed)
    out: dict = {"ring_seeds": len(toys.index("8 Gaussians")), "steps": toys.trainer.config.steps}
    out.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in ring_summary(toys, seed).items()})
    grid = toys.metrics[toys.index("25 Gaussians")[0]]
    out["grid_modes"], out["grid_hq"] = grid["modes"], round(grid["hq_fraction"], 4)
    ns = train_toys("ns", profile, seed)
    ns_ring = collapse.summarise([ns.metrics[m] for m in ns.index("8 Gaussians")])
    out["ns_ring_modes_mean"], out["ns_ring_hq_mean"] = ns_ring["modes_mean"], round(ns_ring["hq_mean"], 4)
    study = clipping_study(profile, seed)
    for setting, res in study.items():
        key = setting.replace("clip c=", "clip_").replace("gradient penalty", "gp")
        out[f"{key}_layer_grad_median"] = float(f"{float(torch.tensor(res['layer_norms']).median()):.4g}")
        out[f"{key}_interp_grad_norm_mean"] = float(f"{float(res['interp_norms'].mean()):.4g}")
    if mnist:
        t = train_mnist(profile, seed)
        out["mnist_final_w_estimate"] = round(t.history.d_real[-1] - t.history.d_fake[-1], 4)
        runs = {"mnist": t, **{f"clip_{opt}": train_mnist_clipped(opt, profile, seed) for opt in CLIP_OPTIMIZERS}}
        for key, trainer in runs.items():  # 1,000 digits of each, judged by the book's classifier
            images = trainer.sample(1000)
            out[f"{key}_recognised"] = round(classifier.recognised_fraction(images), 4)
            out[f"{key}_entropy"] = round(classifier.class_entropy(images), 4)
    return out


def add_arguments(parser) -> None:
    parser.add_argument("--mnist", action="store_true",
                        help="also train WGAN-GP and the clipped WGANs on MNIST (slower)")


# -- private helpers --------------------------------------------------------------------------------------
def _toy_probe(names: list[str], rng: torch.Generator, objective: str, n: int = 1024, res: int = 48):
    """Snapshot: per member the W1 estimate (or JS loss of D) on held-out batches, mode metrics, samples, D map."""
    sources = [TOYS[name] for name in names]
    real = EnsembleSampler(sources)(n, rng)  # [n, members, 2], held out: never trained on
    z = ensemble_noise(len(names), 2)(n, rng)
    grid = data.square_grid([LIMITS[name] for name in names], res)  # [res*res, members, 2]

    def probe(trainer: train.GANTrainer) -> dict:
        G, D = trainer.G, trainer.D
        with torch.no_grad():
            fake = G(z.to(trainer.device))
            d_real, d_fake = D(real.to(trainer.device)), D(fake)
            if objective == "wgan-gp":
                score = d_real.mean(0) - d_fake.mean(0)  # W1 estimate per member
            else:  # D's loss per member: -E[log D(x)] - E[log(1 - D(G(z)))]
                score = torch.nn.functional.softplus(-d_real).mean(0) + torch.nn.functional.softplus(d_fake).mean(0)
            heat = D(grid.to(trainer.device)).reshape(res, res, -1)
        hq = [metrics.mode_collapse_metrics(fake[:, m].cpu(), MIXTURES[name])["hq_fraction"]
              if name in MIXTURES else math.nan for m, name in enumerate(names)]
        return {"score": score.cpu(), "hq": torch.tensor(hq), "samples": fake[:512].cpu(), "heat": heat.cpu()}

    return probe
