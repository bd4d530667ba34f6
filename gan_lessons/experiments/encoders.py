"""GANs with an encoder and with structured codes: VAE vs VAE-GAN on MNIST, the mode-regularised GAN against
the plain GAN on the ring and the grid, and InfoGAN's categorical and continuous codes."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import attributes, classifier, collapse, data, infogan, models, plots, runcache, runtime, train, vae
from ..checks import check_seed
from ..mnist import load_digits
from ..collapse import MethodRun, NetSpec
from ..runtime import seed_everything, sized
from ..train import TrainConfig

NAME = "encoders"
MODE_METHODS = ("ns", "mrgan")  # the plain GAN and the GAN with an encoder (collapse.build_method names)
CODES = ("c_1", "c_2", "c_3")  # InfoGAN's codes: the categorical one and the two continuous ones
SWEEP = (-1.0, -0.6, -0.2, 0.2, 0.6, 1.0)  # values of a continuous code in a traversal (its prior's range)
CLUSTER_NOISE = (30, 0.1)  # ClusterGAN's noise (Mukherjee et al. 2019): 30 numbers of standard deviation 0.1
LAYOUTS = ("late", "paper")  # InfoGAN's networks: the chapter's (info_options) and Chen et al.'s


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """How much the chapter trains: quick on 2 CPU cores, full (paper-sized) on a GPU."""

    vae_steps: int = sized(400, 20_000, steps=True, minimum=10)  # steps of the VAE and of the VAE-GAN (each)
    vae_width: int = sized(16, 64)  # channels of the VAE's encoder and decoder and of the VAE-GAN's D
    vae_latent: int = sized(16, 32)  # dimension of the VAE's code z
    vae_eval: int = sized(1000, 10_000)  # samples and test digits per measurement
    grid_steps: int = sized(1000, 20_000, steps=True)  # generator steps on the ring and grid (chapter 4's)
    grid_seeds: int = sized(5, 10)  # independent runs per method and test bed, one ensemble
    grid_hidden: int = sized(64, 128)  # width of every 2D G, E and D (chapter 4's)
    grid_eval: int = sized(2500, 10_000)  # samples per run for the mode metrics
    # InfoGAN (both runs: ClusterGAN's small noise, see CLUSTER_NOISE; Chen et al. 2016 use 62 numbers of std 1).
    # c_1's matched accuracy measured on 2 CPU cores, 1,500 steps of 64, lambda 2, lr_G 5e-4, seeds 0 / 1 / 2:
    # the chapter's networks (continuous codes at G's 7x7 features, D and Q seeing images shifted by up to 2
    # pixels) 0.90 / 0.75 / 0.80, with a code controlling the ink at |Spearman r| 0.80 / 0.76 / 0.63; Chen et
    # al.'s layout (every code at G's input, no shifts) 0.64 / 0.60 / 0.61. Either change alone, seeds 0 / 1:
    # late codes 0.82 / 0.65 (no code controlled slant or ink), shifts 0.51 / 0.67; shifts of 3: - / 0.85 / 0.77.
    info_steps: int = sized(1500, 20_000, steps=True, minimum=10)  # InfoGAN generator steps
    info_batch: int = sized(64, 128)  # InfoGAN batch size
    info_width: int = sized(16, 64)  # channels of InfoGAN's DCGAN G and D (models.DCGANGenerator)
    info_weight: float = sized(2.0, 1.0)  # lambda, the weight of the mutual-information bound
    info_std: float = sized(1.0, 1.0)  # std of Q's Gaussian over the continuous codes
    info_lr_g: float = sized(5e-4, 1e-3)  # the generator's learning rate (D's and Q's stay at 2e-4)
    info_shift: int = sized(2, 2)  # pixels by which D and Q see each image shifted (infogan.random_shift)
    info_eval: int = sized(100, 1000)  # generated digits per value of c_1 for the code accuracy


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


# -- VAE and VAE-GAN on MNIST --------------------------------------------------------------------------------
def train_vae_pair(profile: str, seed: int = 0, digits: dict | None = None,
                   progress: bool = True) -> dict[str, vae.VAE]:
    """The VAE (ELBO, :func:`vae.train_vae`) and the VAE-GAN (:class:`vae.VAEGANObjective` through the one
    trainer, cached) with the same encoder and decoder, steps and batch of 64: name -> the trained VAE module."""
    b = budget(profile)
    digits = load_digits() if digits is None else digits
    seed_everything(seed)
    plain = vae.train_vae(vae.VAE(b["vae_latent"], b["vae_width"]), digits["train_x"], steps=b["vae_steps"],
                          seed=seed, progress=progress)
    seed_everything(seed)
    G, D = vae.VAE(b["vae_latent"], b["vae_width"]), models.DCGANDiscriminator(b["vae_width"])
    cfg = TrainConfig(steps=b["vae_steps"], batch_size=64, lr_d=2e-4, lr_g=1e-3, betas=(0.5, 0.999), seed=seed,
                      log_every=10)
    trainer = train.train_gan(G, D, data.TensorSampler(digits["train_x"]), cfg, latent_dim=b["vae_latent"],
                              objective=vae.VAEGANObjective(G, seed=seed), cache="vaegan-mnist", progress=progress)
    return {"vae": plain, "vae-gan": trainer.G.eval()}


def vae_scores(pair: dict[str, vae.VAE], digits: dict, n: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """name -> recognised fraction, class entropy, sharpness of n prior samples, and the pixel reconstruction
    error of n held-out digits; ``'real'``: the same measures of n test digits."""
    test = digits["test_x"][:n]
    z = torch.randn(n, next(iter(pair.values())).latent_dim, generator=torch.Generator().manual_seed(seed + 1))
    out = {}
    for name, model in pair.items():
        with torch.no_grad():
            samples, recon = model(z), model.reconstruct(test)
        out[name] = {**_image_scores(samples), "reconstruction_error": float(vae.pixel_loss(test, recon))}
    out["real"] = _image_scores(test)
    return out


def vae_pictures(pair: dict[str, vae.VAE], digits: dict, seed: int = 0, n: int = 36) -> dict[str, Tensor]:
    """Titles -> images for the chapter's figure: n prior samples of each model, and n real test digits."""
    z = torch.randn(n, next(iter(pair.values())).latent_dim, generator=torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        shown = {f"{name}: samples": model(z) for name, model in pair.items()}
    return {**shown, "real test digits": digits["test_x"][:n]}


def draw_interpolation(fig, t: float, pair: dict[str, vae.VAE], digits: dict, seed: int = 0, rows: int = 4) -> None:
    """Widget figure: for ``rows`` pairs of test digits, each model decodes the point a fraction t along the
    line between the two digits' mean codes mu(x)."""
    g = torch.Generator().manual_seed(seed + 3)
    idx = torch.randperm(len(digits["test_x"]), generator=g)[: 2 * rows]
    axes = fig.subplots(1, len(pair))
    for ax, (name, model) in zip(axes, pair.items()):
        with torch.no_grad():
            mu = model.encode(digits["test_x"][idx])[0]  # [2 * rows, latent]
            images = model(_between(mu, float(t)))
        ax.imshow(plots.image_grid(images, nrow=rows, pad=1), cmap="gray", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[], title=f"{name}, t = {float(t):.2f}")


# -- an encoder against mode missing (ring and grid) ---------------------------------------------------------
def mode_config(b: Budget) -> TrainConfig:
    """Chapter 4's book protocol: batch 256, Adam 1e-3 for both players, ``grid_steps`` generator steps."""
    return TrainConfig(steps=b["grid_steps"], batch_size=256, lr_d=1e-3, lr_g=1e-3, log_every=10)


def mode_study(profile: str, seed: int = 0, progress: bool = False) -> dict[str, MethodRun]:
    """The plain NS GAN and the mode-regularised GAN (Che et al. 2017) on the book's ring and grid, the same
    networks, steps and batches, ``grid_seeds`` runs each: method -> :class:`collapse.MethodRun` (cached)."""
    b = budget(profile)
    net = NetSpec(g_hidden=b["grid_hidden"], d_hidden=b["grid_hidden"])
    runs = {}
    for m in MODE_METHODS:
        setup = collapse.prepare_method(m, collapse.test_beds(), b["grid_seeds"], mode_config(b), net=net,
                                        n_eval=b["grid_eval"], seed=seed, progress=progress, cache="encoders")
        runs[m] = setup.finish(train.train_gan(**setup.train_args))
    return runs


def mode_table(runs: dict[str, MethodRun]) -> dict[str, dict[str, dict[str, float]]]:
    """test bed -> method -> {modes_mean, modes_se, hq_mean, hq_se, rkl_mean, rkl_se} over the seeds."""
    beds = next(iter(runs.values())).metrics
    return {bed: {m: collapse.summarise(run.metrics[bed]) for m, run in runs.items()} for bed in beds}


def separation(a: dict[str, float], b: dict[str, float], key: str = "modes") -> float:
    """(mean_a - mean_b) / sqrt(se_a^2 + se_b^2): the difference in standard errors (inf if both se are 0)."""
    diff = a[f"{key}_mean"] - b[f"{key}_mean"]
    se = math.hypot(a[f"{key}_se"], b[f"{key}_se"])
    return diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))


def reconstructions(run: MethodRun, bed: str, seed: int, n: int = 500) -> tuple[Tensor, Tensor]:
    """(real points [n, 2], their reconstructions G(E(x)) [n, 2]) of one mode-regularised run."""
    G = run.trainer.G
    if not hasattr(G, "reconstruct"):
        raise ValueError(f"the {run.method!r} run has no encoder: reconstructions need the 'mrgan' run")
    mix = run.datasets[bed]
    x = mix.sample(n, torch.Generator().manual_seed(seed))  # [n, 2]
    batch = x[:, None, :].expand(-1, G.generator.members, -1)  # [n, members, 2]: every member sees them
    with torch.no_grad():
        recon = G.reconstruct(batch)[:, run.member(bed, seed % run.seeds)]
    return x, recon


def draw_modes(ax, run: MethodRun, bed: str, seed: int, title: str) -> None:
    """One run's samples (red) on one test bed, with the mixture's centres (crosses)."""
    m = run.member(bed, seed % run.seeds)
    pts, mix = run.samples[:1000, m], run.datasets[bed]
    ax.scatter(pts[:, 0], pts[:, 1], s=3, color="#d62728", alpha=0.4, linewidths=0)
    ax.scatter(*mix.centres().T, marker="x", s=20, color="#1f77b4")
    lim = float(mix.centres().abs().max()) + 1.0
    metrics = run.metrics[bed][seed % run.seeds]
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[],
           title=f"{title}: {metrics['modes']} modes, {metrics['hq_fraction']:.0%} HQ")


# -- InfoGAN ---------------------------------------------------------------------------------------------------
def info_options(profile: str, layout: str = "late") -> dict:
    """The keyword arguments of :func:`infogan.train_infogan` at the chapter's budget for ``profile``: codes with
    ClusterGAN's small noise (:data:`CLUSTER_NOISE`) and two continuous codes; ``layout`` ``'late'``: the
    continuous codes enter at G's 7x7 features and D and Q see shifted images (``info_shift``); ``'paper'``:
    every code at G's input and no shifts (Chen et al.'s networks), all else the same, its own run-cache name."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    b = budget(profile)
    noise_dim, noise_std = CLUSTER_NOISE
    late = layout == "late"
    return {"steps": b["info_steps"], "batch_size": b["info_batch"], "width": b["info_width"],
            "codes": infogan.LatentCodes(noise_dim=noise_dim, noise_std=noise_std), "info_weight": b["info_weight"],
            "continuous_std": b["info_std"], "lr_g": b["info_lr_g"], "late_codes": late,
            "shift": b["info_shift"] if late else 0, "cache": "infogan-mnist" if late else "infogan-paper-layout"}


def train_infogan_run(profile: str, seed: int = 0, layout: str = "late", progress: bool = False):
    """The chapter's InfoGAN of ``layout`` (:func:`info_options`) on :func:`load_digits`, through the run cache."""
    return infogan.train_infogan(load_digits(), seed=seed, progress=progress, **info_options(profile, layout))


class _Background(list):
    """The processes of :func:`start_infogans` (a list of ``subprocess.Popen``) and ``threads``, this process's torch
    thread count before they started (:func:`wait_for` restores it)."""

    threads: int | None = None


def start_infogans(profile: str, seed: int = 0, layouts: tuple[str, ...] = LAYOUTS) -> list[subprocess.Popen]:
    """Start training the chapter's InfoGANs (:func:`train_infogan_run`, one per layout) in background processes of
    one torch thread each, so that they train while the chapter's other models do, and return the processes.

    A later ``infogan.train_infogan`` call with the same arguments finds the finished run in the run cache (or
    waits for the process training it: the cache's lock) and loads it. Measured on a 2-core AMD EPYC, one and two
    threads train these runs bit for bit alike, so the page shows what training in place shows; where a CPU's
    kernels round differently per thread count, it shows the one-thread run. Nothing starts when the run cache is
    off (``GAN_LESSONS_CACHE=off``): the call then trains in place. A process that fails leaves no file behind,
    and the later call trains the run itself.

    While they run, this process uses one torch thread for everything, its training and its drawing: with two
    processes of one thread each beside it, a second thread of its own would only wait for a core. :func:`wait_for`
    waits for them and gives this process its thread count back."""
    for layout in layouts:
        info_options(profile, layout)  # checks the profile and the layout here, not in the children
    seed = check_seed("seed", seed)
    if runcache.cache_root() is None:
        return []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GAN_LESSONS_PROGRESS": "0"}
    started = _Background()
    for layout in layouts:
        code = (f"from gan_lessons.experiments import encoders; "
                f"encoders.train_infogan_run({profile!r}, {seed}, {layout!r})")
        try:
            started.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        except OSError:  # no second process here (a sandbox): the later call trains in place
            break
    if started:
        started.threads = torch.get_num_threads()
        torch.set_num_threads(1)
    return started


def wait_for(processes: list[subprocess.Popen]) -> list[int]:
    """Wait for the processes of :func:`start_infogans` to finish and give this process back the torch thread count
    it had before they started; their exit codes (0: the run is cached)."""
    try:
        return [p.wait() for p in processes]
    finally:
        threads = getattr(processes, "threads", None)
        if threads:
            torch.set_num_threads(threads)


def draw_code(fig, code: str, trainer, seed: int = 0) -> None:
    """Widget figure: ``'c_1'``: one row per noise, one column per value of c_1; ``'c_2'``, ``'c_3'``: one
    row per value of c_1, the continuous code swept over :data:`SWEEP` along the row."""
    if code not in CODES:
        raise ValueError(f"unknown code {code!r}: use one of {', '.join(CODES)}")
    codes = trainer.noise_sampler
    if code == "c_1":
        z = codes.category_grid(per_category=6, seed=seed)  # [10 * 6, dim], row k: c_1 = k
        z = z.view(codes.categories, 6, -1).transpose(0, 1).reshape(-1, z.shape[1])  # one column per c_1
        images, ncol = trainer.sample(z=z), codes.categories
    else:
        z = codes.traversal(CODES.index(code) - 1, SWEEP, seed=seed)  # [10 * len(SWEEP), dim]
        images, ncol = trainer.sample(z=z), len(SWEEP)
    ax = fig.subplots(1, 1)
    ax.imshow(plots.image_grid(images, nrow=ncol, pad=1), cmap="gray", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], title=f"{code}: " + ("one column per value" if code == "c_1" else
                                                     "swept from -1 (left) to 1 (right)"))


def run(profile: str = "quick", seed: int = 0, progress: bool = False) -> dict:
    """Train the chapter's experiments and return the summary (JSON-serialisable)."""
    seed_everything(seed)
    start = time.perf_counter()
    background = start_infogans(profile, seed)  # the InfoGANs train beside the VAEs and the 2D GANs
    digits = load_digits()
    scores = vae_scores(train_vae_pair(profile, seed, digits, progress), digits, budget(profile)["vae_eval"], seed)
    vae_out = {f"{prefix}_{key}": round(scores[name][key], 4) for prefix, name in
               (("vae", "vae"), ("vaegan", "vae-gan"), ("real", "real")) for key in ("recognised", "sharpness")}
    table = mode_table(mode_study(profile, seed, progress))
    grid = table["grid"]
    out = {f"{name}_grid_{key}_{stat}": round(grid[m][f"{key}_{stat}"], 4)
           for name, m in (("gan", "ns"), ("mrgan", "mrgan")) for key in ("modes", "hq", "rkl")
           for stat in ("mean", "se")}
    out.update(vae_out)
    out.update({f"{p}_reconstruction_error": round(scores[n]["reconstruction_error"], 4)
                for p, n in (("vae", "vae"), ("vaegan", "vae-gan"))})
    out["mode_table"] = {bed: {m: {k: round(v, 4) for k, v in row.items()} for m, row in rows.items()}
                         for bed, rows in table.items()}
    wait_for(background)
    info = infogan.train_infogan(digits, seed=seed, progress=progress, **info_options(profile))
    out["infogan_code_accuracy"] = round(infogan.code_accuracy(info, budget(profile)["info_eval"], seed)[0], 4)
    correlations = infogan.attribute_correlations(info, seed=seed)
    for name, values in correlations.items():
        out[f"infogan_{name}_correlation"] = round(max(values, key=abs), 4)
    out["infogan_noise_share"] = round(infogan.noise_share(info, seed=seed), 4)
    paper = infogan.train_infogan(digits, seed=seed, progress=progress, **info_options(profile, "paper"))
    out["infogan_paper_layout_accuracy"] = round(
        infogan.code_accuracy(paper, budget(profile)["info_eval"], seed)[0], 4)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


# -- helpers ---------------------------------------------------------------------------------------------------
def _image_scores(images: Tensor) -> dict[str, float]:
    return {"recognised": classifier.recognised_fraction(images), "class_entropy": classifier.class_entropy(images),
            "sharpness": attributes.sharpness(images)}


def _between(mu: Tensor, t: float) -> Tensor:
    """The codes a fraction t along the straight lines mu[2r] -> mu[2r + 1]: [len(mu) / 2, latent]."""
    if not 0 <= t <= 1:
        raise ValueError(f"t must lie in [0, 1], got {t!r}")
    start, end = mu[0::2], mu[1::2]
    return start + t * (end - start)
