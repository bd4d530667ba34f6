"""Mode collapse on 2D Gaussian mixtures: every remedy x several seeds, trained as vectorised ensembles.

Protocols (``--protocol``):

* ``book``: the chapter's own budget (quick on 2 CPU cores, larger in the full profile);
* ``pacgan``: the synthetic experiment of Lin et al. 2018 (PacGAN): ring of 8 (radius 1, std 0.01) and grid of
  25 (std 0.05), a fixed training set of 100,000 points, batch 100, Adam(lr 1e-4, beta1 0.8), z ~ N(0, I_2),
  G 4 x 400 ReLU + batch norm, D 3 x 200 maxout (5 pieces), N(0, 0.02) init, non-saturating loss, 2,500
  evaluation samples, 400 epochs (``--epochs`` scales it down); methods: GAN and PacGAN2/3/4;
* ``veegan``: the comparison of Srivastava et al. 2017 (VEEGAN) on the same two datasets (PacGAN reuses
  VEEGAN's), GAN against the unrolled GAN with 5 unrolling steps, 2,500 evaluation samples; networks are the
  book's MLPs (2 x 128), the optimiser Adam(1e-4, beta1 0.5).

The JSON has, for each dataset and method, ``modes_mean``, ``modes_se``, ``hq_mean``, ``hq_se``, ``rkl_mean``,
``rkl_se`` (mean and standard error over seeds).
"""
from __future__ import annotations

import argparse
import time
import dataclasses
from dataclasses import dataclass, field

from .. import collapse, data
from ..collapse import MethodRun, NetSpec
from .. import runtime
from ..runtime import seed_everything, sized
from ..train import TrainConfig, train_gan

NAME = "mode-collapse"
PROTOCOLS = ("book", "pacgan", "veegan")


@dataclass(frozen=True)
class Protocol:
    """Everything one comparison needs: datasets, methods, seeds, training and evaluation settings."""

    name: str  # book | pacgan | veegan
    datasets: dict = field(hash=False)  # name -> data.GaussianMixture
    methods: tuple[str, ...]  # entries of collapse.METHODS (or pacganM)
    seeds: int  # independent runs per (dataset, method), trained side by side in one ensemble
    config: TrainConfig  # steps, batch, optimiser of the one trainer
    net: NetSpec  # network sizes, the same for every method
    train_size: int | None  # None: fresh samples every batch; else a fixed training set of this size
    n_eval: int  # generated samples per run for the metrics
    snapshot_every: int = 0  # record the views of the chapter every this many steps (0: none)
    method_settings: dict = field(default_factory=dict, hash=False)  # method -> TrainConfig changes

    def config_for(self, method: str) -> TrainConfig:
        """The TrainConfig of one method: the shared one with that method's own settings (e.g. d_steps)."""
        return dataclasses.replace(self.config, **self.method_settings.get(method, {}))


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """The sizes of the protocols: the book's own (quick on 2 CPU cores) and the papers' (epochs, seeds)."""

    steps: int = sized(1000, 20_000, steps=True)  # generator steps of the book protocol
    hidden: int = sized(64, 128)  # width of every G and D of the book protocol
    unroll_steps: int = sized(2, 5)  # K of the unrolled GAN (Metz et al.: 5; quick: trimmed)
    wgan_gp_d_steps: int = sized(3, 5)  # WGAN-GP's critic updates per G update (Gulrajani et al.: 5)
    seeds: int = sized(3, 10)  # runs per (dataset, method)
    n_eval: int = sized(2500, 10_000)  # generated samples per run for the metrics
    paper_epochs: float = sized(1, 400)  # passes over the papers' 100,000 training points


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


def protocol(name: str = "book", profile: str = "quick", seeds: int | None = None,
             epochs: float | None = None) -> Protocol:
    """The settings of protocol ``name`` for ``profile``; ``seeds`` / ``epochs`` override the defaults."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}: use one of {', '.join(PROTOCOLS)}")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    if epochs is not None and not (isinstance(epochs, (int, float)) and epochs > 0):
        raise ValueError(f"epochs must be a positive number, got {epochs!r}")
    if name == "book":
        return _book(profile, seeds, epochs)
    paper = {"ring": data.ring(8, radius=1.0, std=0.01), "grid": data.grid(5, spacing=2.0, std=0.05)}
    train_size, batch = 100_000, 100
    b = budget(profile)
    epochs = b.paper_epochs * runtime.step_scale() if epochs is None else epochs
    steps = max(1, round(epochs * train_size / batch))
    seeds = b.seeds if seeds is None else seeds
    if name == "pacgan":
        net = NetSpec(latent_dim=2, g_hidden=400, g_depth=4, g_norm="batch", d_hidden=200, d_depth=3,
                      d_activation="maxout", pieces=5, init_std=0.02)
        config = TrainConfig(steps=steps, batch_size=batch, lr_d=1e-4, lr_g=1e-4, betas=(0.8, 0.999),
                             log_every=100)
        methods = ("ns", "pacgan2", "pacgan3", "pacgan4")
    else:
        net = NetSpec(g_hidden=128, g_depth=2, d_hidden=128, d_depth=2, unroll_steps=5)
        config = TrainConfig(steps=steps, batch_size=batch, lr_d=1e-4, lr_g=1e-4, log_every=100)
        methods = ("ns", "unrolled")
    return Protocol(name, paper, methods, seeds, config, net, train_size, 2500)


def _book(profile: str, seeds: int | None, epochs: float | None) -> Protocol:
    datasets = collapse.test_beds()
    b = budget(profile)
    steps, batch = b.steps, 256
    if epochs is not None:  # the book draws fresh samples: one "epoch" = 100,000 samples, as in PacGAN
        steps = max(1, round(epochs * 100_000 / batch))
    config = TrainConfig(steps=steps, batch_size=batch, lr_d=1e-3, lr_g=1e-3, log_every=10)
    net = NetSpec(g_hidden=b.hidden, d_hidden=b.hidden, unroll_steps=b.unroll_steps, unroll_lr=0.01)
    wgan_gp = {"d_steps": b.wgan_gp_d_steps, "betas": (0.5, 0.9)}  # Adam betas (0.5, 0.9) as Gulrajani et al.
    seeds = b.seeds if seeds is None else seeds
    return Protocol("book", datasets, collapse.METHODS, seeds, config, net, None, b.n_eval,
                    snapshot_every=max(1, steps // 20), method_settings={"wgan-gp": wgan_gp})


def study(proto: Protocol, seed: int = 0, snapshots: bool = False, progress: bool = False,
          cache: bool = True) -> dict[str, MethodRun]:
    """Train every method of ``proto`` (each one ensemble over datasets x seeds); method -> MethodRun."""
    runs = {}
    for method in proto.methods:
        setup = collapse.prepare_method(
            method, proto.datasets, proto.seeds, proto.config_for(method), net=proto.net, train_size=proto.train_size,
            n_eval=proto.n_eval, snapshot_every=proto.snapshot_every if snapshots else 0, seed=seed,
            progress=progress, cache=f"collapse-{proto.name}" if cache else None)
        runs[method] = setup.finish(train_gan(**setup.train_args))  # proto.config_for(method): its d_steps
    return runs


def table(runs: dict[str, MethodRun]) -> dict[str, dict[str, dict[str, float]]]:
    """dataset -> method -> {modes_mean, modes_se, hq_mean, hq_se, rkl_mean, rkl_se}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method, run in runs.items():
        for dataset, per_seed in run.metrics.items():
            out.setdefault(dataset, {})[method] = collapse.summarise(per_seed)
    return out


def run(profile: str = "quick", seed: int = 0, protocol_name: str = "book", seeds: int | None = None,
        epochs: float | None = None, **_: object) -> dict:
    """Train the protocol's comparison and return its table (JSON-serialisable)."""
    seed_everything(seed)
    proto = protocol(protocol_name, profile, seeds, epochs)
    start = time.perf_counter()
    runs = study(proto, seed=seed)
    return {
        "protocol": proto.name, "profile": profile, "seed": seed, "seeds": proto.seeds,
        "steps": proto.config.steps, "batch_size": proto.config.batch_size, "n_eval": proto.n_eval,
        "datasets": {k: {"modes": v.n_modes, "std": v.stds[0]} for k, v in proto.datasets.items()},
        "results": table(runs), "train_seconds": round(time.perf_counter() - start, 1),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", dest="protocol_name", choices=PROTOCOLS, default="book",
                        help="book (the chapter's budget), pacgan (Lin et al. 2018) or veegan (Srivastava et al. 2017)")
    parser.add_argument("--seeds", type=_positive(int), default=None, help="runs per method and dataset")
    parser.add_argument("--epochs", type=_positive(float), default=None,
                        help="passes over 100,000 training points (PacGAN: 400); scales the training down")


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


# -- the chapter's views --------------------------------------------------------------------------------------
def draw_view(ax, run: MethodRun, dataset: str, seed: int, index: int = -1, arrows: bool = True) -> int:
    """GAN Lab-style view of one run at snapshot ``index``: D as a heatmap, samples, -grad of L_G as arrows.

    The heatmap is D's raw output (logit or critic score) scaled to [-1, 1] for this frame; discriminators that
    judge several samples at once (PacGAN, minibatch stddev) have no pointwise map and get none. Returns the step.
    """
    if dataset not in run.datasets:
        raise ValueError(f"unknown dataset {dataset!r}: use one of {', '.join(run.datasets)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < run.seeds:
        raise ValueError(f"seed must be an integer in [0, {run.seeds}), got {seed!r}")
    if not run.snapshots:
        raise ValueError("this run has no snapshots: train it with snapshots=True (snapshot_every > 0)")
    from .. import plots

    step, snap = run.snapshots[index]
    m = run.member(dataset, seed)
    lim = float(snap["lims"][m])
    ax.clear()
    if snap["heat"] is not None:
        plots.heatmap(ax, snap["heat"][:, :, m], lim, alpha=0.45)
    ax.scatter(*run.datasets[dataset].centres().T, marker="x", s=25, color=plots.REAL_COLOR)
    pts = snap["samples"][:, m]
    ax.scatter(pts[:, 0], pts[:, 1], s=5, color=plots.FAKE_COLOR, alpha=0.6, linewidths=0)
    if arrows:
        g = snap["arrows"][:, m]
        g = g / g.norm(dim=1).max().clamp_min(1e-12) * 0.15 * lim  # longest arrow: 15% of the half-width
        n = g.shape[0]
        ax.quiver(pts[:n, 0], pts[:n, 1], g[:, 0], g[:, 1], angles="xy", scale_units="xy", scale=1, width=0.006,
                  color="black")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
    ax.set_title(f"{run.method}, {dataset}, seed {seed}, step {step}", fontsize=9)
    return int(step)


def mode_histograms(runs: dict[str, MethodRun], dataset: str = "ring", seed: int = 0):
    """Bar chart per method: how many high-quality samples each mode of ``dataset`` got (one seed)."""
    import matplotlib.pyplot as plt

    from ..metrics import mode_histogram

    fig, axes = plt.subplots(1, len(runs), figsize=(1.6 * len(runs), 2.0), sharey=True)
    for ax, (method, run) in zip(axes, runs.items()):
        counts = mode_histogram(run.samples[:, run.member(dataset, seed)], run.datasets[dataset])
        ax.bar(range(len(counts)), counts.numpy(), color="#555555")
        ax.set_title(method, fontsize=9)
        ax.set_xticks([])
        ax.grid(False)
    axes[0].set_ylabel("HQ samples per mode")
    fig.tight_layout()
    return fig


def table_html(summary: dict[str, dict[str, dict[str, float]]]):
    """The table as HTML, "mean ± standard error" over seeds: rows methods, columns dataset x metric."""
    from IPython.display import HTML

    metrics = (("modes", "modes"), ("hq", "HQ fraction"), ("rkl", "reverse KL"))
    head = "".join(f"<th colspan=3>{d}</th>" for d in summary)
    sub = "".join(f"<th>{label}</th>" for _ in summary for _, label in metrics)
    methods = list(next(iter(summary.values())))
    rows = "".join("<tr><th>" + m + "</th>" + "".join(
        f"<td>{summary[d][m][k + '_mean']:.2f} ± {summary[d][m][k + '_se']:.2f}</td>"
        for d in summary for k, _ in metrics) + "</tr>" for m in methods)
    return HTML(f"<table><tr><th rowspan=2>method</th>{head}</tr><tr>{sub}</tr>{rows}</table>")
