"""The minimax game: saturating vs non-saturating generator gradients, and a 1D and a 2D training run."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import data, models, train
from .. import runtime
from ..runtime import seed_everything, sized

NAME = "minimax"

TARGET_1D = data.gaussian_1d(mean=4.0, std=0.5)  # p_data of the 1D run: far from where G starts (near 0)
RING = data.ring(n_modes=8, radius=2.0, std=0.05)  # p_data of the 2D run


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """Training budget of the chapter: generator steps per run and discriminator steps in the probe."""

    steps_1d: int = sized(600, 5_000, steps=True)  # generator steps of the 1D runs
    steps_2d: int = sized(1_500, 20_000, steps=True)  # generator steps of the ring run
    probe_d_steps: int = sized(300, 2_000, steps=True)  # D updates against the fixed G of the probe
    batch_size: int = sized(128, 512)


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile`` (quick on 2 CPU cores, full on a GPU)."""
    return Budget.of(profile, **overrides)


def gradient_saturation(profile: str = "quick", seed: int = 0, n: int = 512) -> dict[str, list[float]]:
    """Train D against a FIXED, poor generator and probe G's gradient as D gets better.

    After each discriminator step, record mean D(G(z)) and the norm of the gradient of each generator loss
    with respect to G's parameters, on the same fixed batch of z: both losses face the same discriminator.
    """
    seed_everything(seed)
    G = models.MLPGenerator(latent_dim=1, data_dim=1, hidden=32, depth=2)
    D = models.MLPDiscriminator(data_dim=1, hidden=32, depth=2)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 1, generator=rng)
    cfg = train.TrainConfig(steps=0, batch_size=n, lr_d=1e-3, seed=seed)
    trainer = train.GANTrainer(G, D, TARGET_1D.sample, cfg, latent_dim=1, device="cpu")
    record: dict[str, list[float]] = {"d_fake": [], "grad_saturating": [], "grad_non_saturating": []}
    for _ in range(budget(profile).probe_d_steps):
        trainer.update_discriminator()  # only D learns; G stays as it was initialised
        d_fake, sat, ns = generator_gradient_norms(G, D, z)
        record["d_fake"].append(d_fake)
        record["grad_saturating"].append(sat)
        record["grad_non_saturating"].append(ns)
    return record


def generator_gradient_norms(G: torch.nn.Module, D: torch.nn.Module, z: torch.Tensor) -> tuple[float, float, float]:
    """(mean D(G(z)), ||grad_theta_G L_sat||, ||grad_theta_G L_ns||) for one batch z against one D."""
    from ..losses import minimax_generator_loss, modified_generator_loss

    logits = D(G(z))
    norms = []
    for loss_fn in (minimax_generator_loss, modified_generator_loss):
        grads = torch.autograd.grad(loss_fn(logits), list(G.parameters()), retain_graph=True)
        norms.append(math.sqrt(sum(float(g.pow(2).sum()) for g in grads)))
    return float(torch.sigmoid(logits.detach()).mean()), norms[0], norms[1]


def train_1d(loss: str = "ns", profile: str = "quick", seed: int = 0, snapshot_every: int = 0,
             grid: torch.Tensor | None = None) -> train.GANTrainer:
    """Fit N(4, 0.5^2) from z ~ N(0, 1) with a small MLP GAN; snapshots hold samples and D on ``grid``.

    Plain SGD and k = 5 discriminator steps per generator step: the discriminator gets ahead, as it does
    early in real training, and the size of the generator's gradient is what moves G (no Adam rescaling).
    """
    seed_everything(seed)
    b = budget(profile)
    G = models.MLPGenerator(latent_dim=1, data_dim=1, hidden=32, depth=2)
    D = models.MLPDiscriminator(data_dim=1, hidden=32, depth=2)
    cfg = train.TrainConfig(steps=b.steps_1d, batch_size=b.batch_size, loss=loss, optimizer="sgd",
                            lr_d=0.1, lr_g=0.02, d_steps=5, seed=seed, log_every=5)
    grid = torch.linspace(-2, 7, 200).unsqueeze(1) if grid is None else grid
    return train.train_gan(G, D, TARGET_1D.sample, cfg, latent_dim=1, cache=f"minimax-1d-{loss}",
                           snapshot=_Snapshot1D(grid), snapshot_every=snapshot_every or cfg.steps // 20)


def train_2d(profile: str = "quick", seed: int = 0, snapshot_every: int = 0) -> train.GANTrainer:
    """Fit the ring of 8 Gaussians with the non-saturating loss; snapshots hold samples and D on a grid."""
    seed_everything(seed)
    b = budget(profile)
    G = models.MLPGenerator(latent_dim=2, data_dim=2, hidden=128, depth=3)
    D = models.MLPDiscriminator(data_dim=2, hidden=128, depth=3)
    cfg = train.TrainConfig(steps=b.steps_2d, batch_size=b.batch_size, loss="ns", lr_d=1e-3, lr_g=1e-3,
                            seed=seed, log_every=10)
    return train.train_gan(G, D, RING.sample, cfg, latent_dim=2, cache="minimax-2d", snapshot=_snapshot_2d,
                           snapshot_every=snapshot_every or cfg.steps // 20)


def distance_to_nearest_mode(samples: torch.Tensor, mixture: data.GaussianMixture) -> torch.Tensor:
    """Per-sample Euclidean distance to the closest component mean, [n]."""
    return torch.cdist(samples.float(), mixture.centres()).min(dim=1).values


def run(profile: str = "quick", seed: int = 0) -> dict:
    probe = gradient_saturation(profile, seed)
    i = min(range(len(probe["d_fake"])), key=lambda j: probe["d_fake"][j])  # the most confident D
    out: dict = {
        "probe_min_d_fake": round(probe["d_fake"][i], 6),
        "probe_grad_saturating": round(probe["grad_saturating"][i], 6),
        "probe_grad_non_saturating": round(probe["grad_non_saturating"][i], 6),
        "probe_gradient_ratio": round(probe["grad_non_saturating"][i] / probe["grad_saturating"][i], 3),
    }
    for loss in ("minimax", "ns"):
        samples = train_1d(loss, profile, seed).sample(4096)
        out[f"1d_{loss}_mean"] = round(float(samples.mean()), 4)
        out[f"1d_{loss}_std"] = round(float(samples.std()), 4)
    ring_samples = train_2d(profile, seed).sample(2048)
    close = distance_to_nearest_mode(ring_samples, RING) < 3 * RING.stds[0]
    nearest = torch.cdist(ring_samples, RING.centres()).argmin(dim=1)[close]
    out["2d_fraction_within_3_std"] = round(float(close.float().mean()), 4)
    out["2d_modes_hit"] = int(nearest.unique().numel())
    out["target_1d"] = {"mean": TARGET_1D.means[0][0], "std": TARGET_1D.stds[0]}
    return out


def draw_value_explorer(fig, d_real: float, d_fake: float) -> None:
    """Widget figure: V(D, G) for this D, and both generator gradients d L_G / d logit against D(G(z))."""
    import numpy as np

    p = np.linspace(0.001, 0.999, 300)
    ax_v, ax_g = fig.subplots(1, 2)
    ax_v.plot(p, np.log(d_real) + np.log1p(-p), color="gray")
    ax_v.plot([d_fake], [np.log(d_real) + np.log1p(-d_fake)], "o", color="black")
    ax_v.set(xlabel="D(G(z))", ylabel="V(D, G)", title=f"V = {np.log(d_real) + np.log1p(-d_fake):.3f}")
    ax_g.plot(p, p, label="saturating  |dL/da| = D(G(z))", color="#d62728")
    ax_g.plot(p, 1 - p, label="non-saturating  |dL/da| = 1 - D(G(z))", color="#2ca02c")
    ax_g.plot([d_fake, d_fake], [d_fake, 1 - d_fake], "o", color="black")
    ax_g.set(xlabel="D(G(z))", ylabel="gradient size w.r.t. the logit a", ylim=(0, 1.05))
    ax_g.legend(fontsize=8, loc="center right")
    fig.tight_layout()


def _snapshot_2d(trainer: train.GANTrainer, lim: float = 3.0, res: int = 60) -> dict:
    pts = data.square_grid(lim, res).to(trainer.device)  # [res*res, 2]
    with torch.no_grad():
        d = torch.sigmoid(trainer.D(pts)).reshape(res, res).cpu()
    return {"samples": trainer.sample(512, use_ema=False), "d": d}


class _Snapshot1D:
    """Snapshot of the 1D run: 1,024 samples and D on ``grid``; its repr names the grid (run-cache key)."""

    def __init__(self, grid: torch.Tensor) -> None:
        self.grid = grid

    def __call__(self, trainer: train.GANTrainer) -> dict:
        with torch.no_grad():
            d = torch.sigmoid(trainer.D(self.grid.to(trainer.device))).cpu()
        return {"samples": trainer.sample(1024, use_ema=False).squeeze(1), "d": d}

    def __repr__(self) -> str:
        g = self.grid
        return f"_Snapshot1D(grid={tuple(g.shape)}, {float(g.min()):.6g}..{float(g.max()):.6g}, sum={float(g.sum()):.9g})"
