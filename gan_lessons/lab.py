"""A GAN Lab inside the book: step the game by hand, change it while it trains, draw your own data.

After GAN Lab (Kahng et al. 2018). Three layers, each usable without the next:

* :class:`Lab` — the state: a 2-D toy GAN (``models.MLPGenerator`` with a 2-D latent,
  ``models.MLPDiscriminator``) trained by the book's one trainer, ``train.GANTrainer``. ``step_d`` is one
  ``update_discriminator()``, ``step_g`` one ``update_generator()``, ``step`` one full step of Algorithm 1
  (k D updates, then G, through ``GANTrainer.fit``). ``set_*`` change a setting mid-run and rebuild only what
  must change. ``views()`` and ``curves()`` return arrays (no drawing), so tests and the static tour use them.
* :class:`LabFigure` — one matplotlib figure of the views, built once and then updated in place (fast enough
  to redraw every step). The live widget and the static jshtml tour draw with the same class.
* :class:`LabWidget` — buttons and controls (ipywidgets) around a LabFigure on an ipympl canvas.

Why ipympl (not bqplot or anywidget): the lab's views are matplotlib drawings, the same code renders the
pre-rendered tour for the HTML book (``plots.animate``) and the live canvas, with the book's colours and
helpers (``plots.scatter_2d``; D's map on the grid of ``plots.discriminator_heatmap``); ipympl is matplotlib's own Jupyter
backend, kept by the matplotlib organisation, works in JupyterLab, Notebook 7, VS Code and Colab, and sends
mouse clicks back to Python (how the reader draws data). bqplot would need a second plotting code path for
the static book; anywidget would need our own JavaScript.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from . import data, models, objectives, plots, runtime, theory, train

__all__ = ["Lab", "LabViews", "LabFrame", "LabFigure", "LabWidget", "TARGETS", "LAB_LOSSES",
           "generator_arrows"]

# Target distributions. The ring is chapter 1's ring (8 modes, radius 2, std 0.05); the grid is data.grid()'s
# 5 x 5 grid at spacing 2 (std 0.05). Drawn points become a mixture of equal Gaussians of std DRAW_STD.
TARGETS = {"ring": data.ring(n_modes=8, radius=2.0, std=0.05), "grid": data.grid(n=5, spacing=2.0, std=0.05)}
LAB_LOSSES = ("minimax", "ns", "wgan-gp", "hinge")  # the lab's loss menu: names of objectives.OBJECTIVES
DRAW_STD = 0.1  # std of the Gaussian around each drawn point
SPEEDS = {"slow motion (1/s)": 1000, "slow (4/s)": 250, "medium (10/s)": 100, "fast": 20}  # ms between steps


@dataclass(frozen=True)
class LabViews:
    """What the lab shows at one moment, as arrays (float64 numpy, CPU)."""

    lim: float  # the views cover [-lim, lim]^2
    data: np.ndarray  # [m, 2] a fixed reference sample of the target
    fakes: np.ndarray  # [n, 2] G(z) for the lab's fixed evaluation noise z
    arrows: np.ndarray  # [a, 2] -dl_G/dx at fakes[:a]: where the generator's loss pushes each fake
    heat: np.ndarray  # [res, res] D on a grid (row = y), in [0, 1]: sigmoid(D), or a score scaled to [0, 1]
    heat_label: str  # what heat shows
    manifold: np.ndarray  # [g, g, 2] G of a regular g x g latent grid over [-2, 2]^2
    jsd: float  # histogram estimate of JSD(p_data, p_g), nats
    d_data: float  # mean D over the data reference: sigmoid(D) for JS losses, the raw score for critics
    d_fakes: float  # mean D over the fakes, same convention


@dataclass(frozen=True)
class LabFrame:
    """One moment of the lab for drawing: its views, the curves so far, and a title."""

    views: LabViews
    curves: dict[str, np.ndarray]
    title: str


class Lab:
    """A 2-D toy GAN to poke at: one trainer, steps by hand, settings changed mid-run, drawn data.

    Settings (each has a ``set_*`` method): loss in LAB_LOSSES, lr_d, lr_g, d_steps (k), batch_size, seed,
    target in ("ring", "grid", "drawn"). ``hidden``/``depth`` size both MLPs (fixed for a lab).
    """

    def __init__(self, loss: str = "ns", lr_d: float = 1e-3, lr_g: float = 1e-3, d_steps: int = 1,
                 batch_size: int = 128, seed: int = 0, target: str = "ring", hidden: int = 64, depth: int = 2,
                 n_eval: int = 1000, n_arrows: int = 64, resolution: int = 40, latent_lines: int = 15,
                 bins: int = 30) -> None:
        _check_choice("loss", loss, LAB_LOSSES)
        for name, value, low in (("hidden", hidden, 1), ("depth", depth, 1), ("n_eval", n_eval, 2),
                                 ("n_arrows", n_arrows, 1), ("resolution", resolution, 2),
                                 ("latent_lines", latent_lines, 2), ("bins", bins, 2)):
            _check_int(name, value, low)
        if n_arrows > n_eval:
            raise ValueError(f"n_arrows ({n_arrows}) must not exceed n_eval ({n_eval})")
        self.hidden, self.depth = hidden, depth
        self.n_eval, self.n_arrows, self.resolution, self.latent_lines, self.bins = (
            n_eval, n_arrows, resolution, latent_lines, bins)
        # validates every number the way the trainer does (positive lrs, integer k >= 1, ...)
        self.config = train.TrainConfig(steps=0, batch_size=batch_size, d_steps=d_steps, loss=loss, lr_d=lr_d,
                                        lr_g=lr_g, seed=seed)
        self.points: list[tuple[float, float]] = []  # the reader's drawn points
        self._draw_lim = 3.0
        self.target = "ring"
        self._set_target_data(target)
        self.trainer = train.GANTrainer(*self._networks(), self.sampler, self.config, latent_dim=2, device="cpu")
        self._restart()

    # -- running the game ------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """New G and D from ``seed`` (default: the current one), fresh optimizers, empty curves."""
        if seed is not None:
            self.config = dataclasses.replace(self.config, seed=seed)  # validated by TrainConfig
        self.trainer = train.GANTrainer(*self._networks(), self.sampler, self.config, latent_dim=2, device="cpu")
        self._restart()

    def _networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """Fresh G and D, seeded with the lab's seed."""
        runtime.seed_everything(self.config.seed)
        return (models.MLPGenerator(latent_dim=2, data_dim=2, hidden=self.hidden, depth=self.depth),
                models.MLPDiscriminator(data_dim=2, hidden=self.hidden, depth=self.depth))

    def _restart(self) -> None:
        """Fixed evaluation noise and latent grid of the current seed, zero counts, empty curves."""
        rng = torch.Generator().manual_seed(self.config.seed + 1)
        self._z = torch.randn(self.n_eval, 2, generator=rng)  # fixed evaluation noise: views move smoothly
        side = torch.linspace(-2.0, 2.0, self.latent_lines)
        zx, zy = torch.meshgrid(side, side, indexing="xy")
        self._latent_grid = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)  # [g*g, 2]
        self.d_updates = self.g_updates = 0
        self._log: dict[str, list[float]] = {k: [] for k in ("d_t", "d_loss", "g_t", "g_loss", "t", "jsd")}
        self._evaluate()

    def step_d(self) -> float:
        """One discriminator update (``GANTrainer.update_discriminator``); returns L_D."""
        with runtime.one_thread():
            d_loss, _, _ = self.trainer.update_discriminator()
        self.d_updates += 1
        self._record(d_loss=d_loss)
        return d_loss

    def step_g(self) -> float:
        """One generator update on a fresh batch (``GANTrainer.update_generator``); returns L_G."""
        with runtime.one_thread():
            g_loss = self.trainer.update_generator()
        self.g_updates += 1
        self._record(g_loss=g_loss)
        return g_loss

    def step(self) -> tuple[float, float]:
        """One full step of Algorithm 1: k = d_steps D updates, then one G update (``GANTrainer.fit``)."""
        self.trainer.fit(self.trainer.step + 1, progress=False)  # fit trains small CPU models on one thread
        h = self.trainer.history
        self.d_updates += self.config.d_steps
        self._record(d_loss=h.d_loss[-1], before_g=True)
        self.g_updates += 1
        self._record(g_loss=h.g_loss[-1])
        return h.d_loss[-1], h.g_loss[-1]

    def run(self, steps: int, every: int = 0, title: str = "") -> list[LabFrame]:
        """``steps`` full steps; a frame after every ``every`` of them (0: none) for the tour."""
        _check_int("steps", steps, 0)
        _check_int("every", every, 0)
        frames = []
        for i in range(1, steps + 1):
            self.step()
            if every and i % every == 0:
                frames.append(self.frame(title))
        return frames

    # -- live settings: each rebuilds only what must change ---------------------------------------------
    def set_loss(self, loss: str) -> None:
        """Swap the objective (``objectives.make_objective``); weights and optimizer state are kept."""
        _check_choice("loss", loss, LAB_LOSSES)
        self._configure(loss=loss)
        self.trainer.objective = objectives.make_objective(self.config.loss)
        self._evaluate()

    def set_lr(self, lr_d: float | None = None, lr_g: float | None = None) -> None:
        """Set the learning rates in place in the two Adam optimizers (their moment estimates are kept)."""
        self._configure(lr_d=self.config.lr_d if lr_d is None else lr_d,
                        lr_g=self.config.lr_g if lr_g is None else lr_g)
        for opt, lr in ((self.trainer.opt_d, self.config.lr_d), (self.trainer.opt_g, self.config.lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr

    def set_d_steps(self, d_steps: int) -> None:
        """k: discriminator updates per full step (read by the trainer at the next step)."""
        self._configure(d_steps=d_steps)

    def set_batch_size(self, batch_size: int) -> None:
        """Real samples and fakes per update (read by the trainer at the next update)."""
        self._configure(batch_size=batch_size)

    def set_seed(self, seed: int) -> None:
        """A new seed means new initial weights: the lab restarts from them (same settings)."""
        self.reset(seed=seed)

    def set_target(self, target: str) -> None:
        """Train on another target ("ring", "grid", or "drawn" once points are drawn); G and D are kept."""
        self._set_target_data(target)
        self.trainer.real_sampler = self.sampler
        self._evaluate()

    def add_point(self, x: float, y: float) -> None:
        """Add a drawn point and train on the drawn points from now on (target "drawn")."""
        for name, v in (("x", x), ("y", y)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if not self.points:
            self._draw_lim = self.lim
        if max(abs(x), abs(y)) > self._draw_lim:
            raise ValueError(f"point ({x:.2f}, {y:.2f}) lies outside the drawing area [-{self._draw_lim:g}, "
                             f"{self._draw_lim:g}]^2: click inside the plot")
        self.points.append((float(x), float(y)))
        self.set_target("drawn")

    def clear_points(self) -> None:
        """Forget the drawn points; a lab training on them goes back to the ring."""
        self.points = []
        if self.target == "drawn":
            self.set_target("ring")

    # -- what to show -------------------------------------------------------------------------------------
    def views(self) -> LabViews:
        """Samples, data, D's map, the generator's gradient arrows and the latent manifold, as arrays."""
        t = self.trainer
        with runtime.one_thread(), _eval_mode(t.G, t.D):
            with torch.no_grad():
                manifold = t.G(self._latent_grid).reshape(self.latent_lines, self.latent_lines, 2)
                heat = t.D(self._heat_grid).reshape(self.resolution, self.resolution)  # [res, res], row = y
                read = torch.sigmoid if t.objective.probabilities else (lambda s: s)
                d_data, d_fakes = (float(read(t.D(x)).mean()) for x in (self._data_eval, self._fakes))
            arrows = generator_arrows(t.objective, t.D, self._fakes[: self.n_arrows], self._real_eval)
        if t.objective.probabilities:
            heat, label = torch.sigmoid(heat), "D(x)"
        else:
            heat, label = 0.5 + 0.5 * heat / heat.abs().max().clamp_min(1e-12), "critic score (scaled)"
        return LabViews(lim=self.lim, data=self._data_eval.double().numpy(), fakes=self._fakes.double().numpy(),
                        arrows=arrows.double().numpy(), heat=heat.double().numpy(), heat_label=label,
                        manifold=manifold.double().numpy(), jsd=self._log["jsd"][-1], d_data=d_data,
                        d_fakes=d_fakes)

    def curves(self) -> dict[str, np.ndarray]:
        """Losses and the JSD estimate so far against t = D and G updates so far (d_t, d_loss, g_t, g_loss,
        t, jsd)."""
        return {k: np.asarray(v, dtype=np.float64) for k, v in self._log.items()}

    def status(self) -> str:
        """Where the game is: loss, k and the number of updates of each player."""
        return f"{self.config.loss}, k={self.config.d_steps}: {self.d_updates} D and {self.g_updates} G updates"

    def frame(self, title: str | None = None) -> LabFrame:
        """The current views and curves; the title is ``title (status)``, the status alone for None."""
        text = self.status() if title is None else (f"{title}  ({self.status()})" if title else "")
        return LabFrame(self.views(), self.curves(), text)

    @property
    def lim(self) -> float:
        return self._lim

    # -- helpers ------------------------------------------------------------------------------------------
    def _configure(self, **changes: Any) -> None:
        self.config = dataclasses.replace(self.config, **changes)  # TrainConfig validates the new values
        self.trainer.config = self.config

    def _set_target_data(self, target: str) -> None:
        _check_choice("target", target, (*TARGETS, "drawn"))
        if target == "drawn":
            if not self.points:
                raise ValueError("no drawn points yet: click on the plot (or call add_point) to draw some")
            n = len(self.points)
            mixture = data.GaussianMixture(tuple(self.points), (DRAW_STD,) * n, (1.0 / n,) * n)
            lim = self._draw_lim
        else:
            mixture = TARGETS[target]
            lim = float(math.ceil(float(mixture.centres().abs().max()) + 1.0))  # ring: 3, grid: 5
        self.target, self.mixture, self.sampler, self._lim = target, mixture, mixture.sample, lim
        fixed = torch.Generator().manual_seed(12345)
        self._data_eval = mixture.sample(self.n_eval, fixed)  # a fixed reference sample of the target
        self._real_eval = mixture.sample(self.n_arrows, fixed)  # a real batch, for objectives that use one
        xs = torch.linspace(-lim, lim, self.resolution)  # the grid of plots.discriminator_heatmap
        gx, gy = torch.meshgrid(xs, xs, indexing="xy")
        self._heat_grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # [res*res, 2]

    def _evaluate(self) -> None:
        """G(z) of the fixed noise and the JSD estimate, after every change of G or of the target."""
        if not hasattr(self, "trainer"):
            return
        with runtime.one_thread(), _eval_mode(self.trainer.G), torch.no_grad():
            self._fakes = self.trainer.G(self._z)  # [n_eval, 2]
        jsd = theory.js_divergence_histogram_2d(self._data_eval, self._fakes, self.lim, self.bins)
        if self._log["t"] and self._log["t"][-1] == self.d_updates + self.g_updates:
            self._log["jsd"][-1] = jsd  # a setting changed, no update: refresh the last estimate
        else:
            self._log["t"].append(self.d_updates + self.g_updates)
            self._log["jsd"].append(jsd)

    def _record(self, d_loss: float | None = None, g_loss: float | None = None, before_g: bool = False) -> None:
        t = self.d_updates + self.g_updates
        if d_loss is not None:
            self._log["d_t"].append(t)
            self._log["d_loss"].append(float(d_loss))
        if g_loss is not None:
            self._log["g_t"].append(t)
            self._log["g_loss"].append(float(g_loss))
        if not before_g:
            self._evaluate()


def generator_arrows(objective: train.Objective, D: torch.nn.Module, fakes: Tensor, real: Tensor) -> Tensor:
    """-n dL_G/dx_i for each fake x_i [n, 2] = -d l_G(x_i)/dx_i, with L_G = (1/n) sum_i l_G(x_i) the
    objective's generator loss on these fakes: the direction (and size) in which the loss pushes each sample.

    D's weights get no gradient. Returns [n, dim], detached.
    """
    if not isinstance(objective, objectives.Objective):
        raise TypeError(f"objective must be an objectives.Objective, got {type(objective).__name__}")
    if not isinstance(D, torch.nn.Module):
        raise TypeError(f"D must be a torch.nn.Module, got {type(D).__name__}")
    for name, t in (("fakes", fakes), ("real", real)):
        if not isinstance(t, Tensor) or t.dim() != 2 or t.shape[0] == 0 or not t.is_floating_point():
            raise ValueError(f"{name} must be a tensor [n, dim] of floats with n >= 1, got "
                             f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf")
    x = fakes.detach().clone().requires_grad_(True)
    D.requires_grad_(False)
    try:
        (grad,) = torch.autograd.grad(objective.generator_loss(D, x, real), x)
    finally:
        D.requires_grad_(True)
    return -grad * x.shape[0]


class LabFigure:
    """The lab's views in one matplotlib figure, built once and updated in place by :meth:`show`.

    Left: D's map (background), data (blue), samples (red) and the generator's arrows (black). Middle: the
    manifold, G's image of a regular latent grid. Right: the losses and the JSD estimate against updates.
    ``blit=True`` (the live widget): :meth:`render` redraws only the artists that change, over a cached
    background, and redraws everything only when an axis range changes (ranges grow in steps).
    """

    def __init__(self, fig, first: LabFrame, blit: bool = False) -> None:
        from matplotlib.collections import LineCollection

        self.fig, self.blit = fig, blit
        grid = fig.add_gridspec(2, 3, width_ratios=(1.0, 1.0, 0.9))
        self.ax_main = fig.add_subplot(grid[:, 0])
        self.ax_manifold = fig.add_subplot(grid[:, 1])
        self.ax_loss, self.ax_jsd = fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, 2])
        v = first.views
        self.heat = self.ax_main.imshow(v.heat, extent=(-v.lim, v.lim, -v.lim, v.lim), origin="lower",
                                        cmap="RdBu_r", vmin=0, vmax=1, alpha=0.6)
        plots.scatter_2d(self.ax_main, real=v.data, fake=v.fakes, lim=v.lim, size=3)
        self.real_dots, self.fake_dots = self.ax_main.collections[-2:]
        a = len(v.arrows)
        self.arrows = self.ax_main.quiver(v.fakes[:a, 0], v.fakes[:a, 1], v.arrows[:, 0], v.arrows[:, 1],
                                          angles="xy", scale_units="xy", scale=1, width=0.005, color="black")
        plots.scatter_2d(self.ax_manifold, real=v.data, lim=v.lim, size=2)
        self.real_faint = self.ax_manifold.collections[-1]
        self.mesh = LineCollection(_mesh_segments(v.manifold), colors=plots.FAKE_COLOR, linewidths=0.7)
        self.ax_manifold.add_collection(self.mesh)
        for ax in (self.ax_main, self.ax_manifold):
            ax.set(xticks=[], yticks=[])
        self.ax_manifold.set_title("manifold: G of a regular latent grid", fontsize=8)
        self._setup_curves()
        self.title = fig.suptitle("", fontsize=9)
        self._dynamic = [self.heat, self.fake_dots, self.arrows, self.mesh,
                         self.d_line, self.g_line, self.jsd_line, self.jsd_value, self.title]
        self._background = None
        self._lims: dict[str, tuple] = {}
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.13, top=0.86, wspace=0.2, hspace=0.45)
        self.show(first)

    def _setup_curves(self) -> None:
        """The right column: the two losses, and the JSD estimate with its current value."""
        (self.d_line,) = self.ax_loss.plot([], [], lw=1, label="D loss")
        (self.g_line,) = self.ax_loss.plot([], [], lw=1, label="G loss")
        self.ax_loss.legend(loc="best", fontsize=7)
        (self.jsd_line,) = self.ax_jsd.plot([], [], lw=1, color="black")
        self.ax_jsd.set_ylim(0, math.log(2) * 1.05)
        self.ax_jsd.set_xlabel("D + G updates", fontsize=8)
        for ax in (self.ax_loss, self.ax_jsd):
            ax.tick_params(labelsize=7)
        self.ax_jsd.set_title("JSD(data, samples) estimate, nats", fontsize=8)
        self.jsd_value = self.ax_jsd.text(0.98, 0.9, "", transform=self.ax_jsd.transAxes, ha="right",
                                          va="top", fontsize=8)

    def show(self, frame: LabFrame) -> None:
        """Put ``frame`` on the figure (updates artists; :meth:`render` or a save draws them)."""
        v, c = frame.views, frame.curves
        self.heat.set_data(v.heat)
        self.fake_dots.set_offsets(v.fakes)
        a = len(v.arrows)
        scale = 0.15 * v.lim / max(float(np.linalg.norm(v.arrows, axis=1).max()), 1e-12)  # longest: 15% of lim
        self.arrows.set_offsets(v.fakes[:a])
        self.arrows.set_UVC(v.arrows[:, 0] * scale, v.arrows[:, 1] * scale)
        self.mesh.set_segments(_mesh_segments(v.manifold))
        self.d_line.set_data(c["d_t"], c["d_loss"])
        self.g_line.set_data(c["g_t"], c["g_loss"])
        self.jsd_line.set_data(c["t"], c["jsd"])
        self.jsd_value.set_text(f"{v.jsd:.3f}")
        self.title.set_text(frame.title)
        t_end = float(c["t"][-1]) if len(c["t"]) else 0.0
        losses = np.concatenate([c["d_loss"], c["g_loss"]])
        self._set_limits(lim=v.lim, label=v.heat_label, data=v.data, t=_grown_range(self._lims.get("t"), np.array([0.0, t_end, 40.0]), False),
                         loss=_grown_range(self._lims.get("loss"), losses[np.isfinite(losses)], True))

    def render(self) -> None:
        """Draw the canvas: everything, or (blit) only the changing artists over the cached background."""
        canvas = self.fig.canvas
        if not self.blit:
            canvas.draw_idle()
            return
        if self._background is None:
            for artist in self._dynamic:
                artist.set_visible(False)
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.fig.bbox)
            for artist in self._dynamic:
                artist.set_visible(True)
        canvas.restore_region(self._background)
        for artist in self._dynamic:
            (artist.axes or self.fig).draw_artist(artist)
        canvas.blit(self.fig.bbox)

    def _set_limits(self, **lims: Any) -> None:
        for key, value in lims.items():
            if key == "data":
                same = key in self._lims and np.array_equal(self._lims[key], value)
            else:
                same = self._lims.get(key) == value
            if value is None or same:
                continue
            self._lims[key], self._background = value, None  # a new range: the background is stale
            if key == "lim":
                self.heat.set_extent((-value, value, -value, value))
                for ax in (self.ax_main, self.ax_manifold):
                    ax.set(xlim=(-value, value), ylim=(-value, value))
            elif key == "data":  # the data change only with the target: they are part of the background
                self.real_dots.set_offsets(value)
                self.real_faint.set_offsets(value)
            elif key == "label":
                self.ax_main.set_title(f"data, samples, {value}, arrows -grad L_G", fontsize=8)
            elif key == "t":
                for ax in (self.ax_loss, self.ax_jsd):
                    ax.set_xlim(*value)
            else:
                self.ax_loss.set_ylim(*value)


class LabWidget:
    """The live lab: buttons, live controls and the figure on an ipympl canvas (click on the left plot to
    draw data). ``LabWidget(Lab())`` then display ``.box``; every control calls one :class:`Lab` method."""

    def __init__(self, lab: Lab, figsize: tuple[float, float] = (10.0, 3.5)) -> None:
        import ipywidgets as w

        if not isinstance(lab, Lab):
            raise TypeError(f"lab must be a Lab (LabWidget(Lab(loss='ns'))), got {type(lab).__name__}")
        self.lab = lab
        self.fig, self.canvas = _ipympl_figure(figsize)
        self.view = LabFigure(self.fig, self.lab.frame(""), blit=True)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        cfg = self.lab.config
        button = lambda text, tip: w.Button(description=text, tooltip=tip, layout=w.Layout(width="auto"))  # noqa
        self.d_button = button("D step", "one discriminator update")
        self.g_button = button("G step", "one generator update")
        self.step_button = button("full step", "k discriminator updates, then one generator update")
        self.reset_button = button("reset", "new G and D from the seed")
        self.clear_button = button("clear drawn points", "forget the points you drew")
        self.play = w.Play(value=0, min=0, max=10**9, step=1, interval=SPEEDS["medium (10/s)"],
                           show_repeat=False, description="play")
        self.speed = w.Dropdown(options=list(SPEEDS.items()), value=SPEEDS["medium (10/s)"], description="speed")
        self.loss = w.Dropdown(options=list(LAB_LOSSES), value=cfg.loss, description="loss")
        self.lr_d = w.FloatLogSlider(value=cfg.lr_d, base=10, min=-5, max=-1, step=0.25, description="lr D",
                                     readout_format=".0e", continuous_update=False)
        self.lr_g = w.FloatLogSlider(value=cfg.lr_g, base=10, min=-5, max=-1, step=0.25, description="lr G",
                                     readout_format=".0e", continuous_update=False)
        self.d_steps = w.IntSlider(value=cfg.d_steps, min=1, max=10, description="k (D steps)",
                                   continuous_update=False)
        self.batch_size = w.Dropdown(options=[16, 32, 64, 128, 256, 512], value=cfg.batch_size,
                                     description="batch")
        self.seed = w.BoundedIntText(value=cfg.seed, min=0, max=10**6, description="seed")
        self.target = w.ToggleButtons(options=["ring", "grid", "drawn"], value=self.lab.target,
                                      description="target")
        self.status = w.Label(value="Click on the left plot to draw your own data.")
        self.counts = w.Label(value=self.lab.status())
        self._wire()
        self.box = self._layout(w)
        self.skip_backlog = True  # drop play ticks that queued up while a step was still drawing
        self._last_tick = 0.0

    def _layout(self, w) -> Any:
        """The controls in five rows above the figure."""
        controls = w.VBox([w.HBox([self.d_button, self.g_button, self.step_button, self.play, self.reset_button]),
                           w.HBox([self.speed, self.loss, self.batch_size]),
                           w.HBox([self.lr_d, self.lr_g, self.d_steps]),
                           w.HBox([self.target, self.clear_button, self.seed]),
                           w.HBox([self.counts, self.status])])
        return w.VBox([controls, self.canvas if isinstance(self.canvas, w.DOMWidget) else w.Output()])

    def _wire(self) -> None:
        act = self._act
        self.d_button.on_click(lambda _: act(self.lab.step_d))
        self.g_button.on_click(lambda _: act(self.lab.step_g))
        self.step_button.on_click(lambda _: act(self.lab.step))
        self.reset_button.on_click(lambda _: act(self.lab.reset))
        self.clear_button.on_click(lambda _: act(self._clear))
        self.play.observe(self._on_tick, names="value")
        self.speed.observe(lambda ch: setattr(self.play, "interval", ch["new"]), names="value")
        self.loss.observe(lambda ch: act(self.lab.set_loss, ch["new"]), names="value")
        self.lr_d.observe(lambda ch: act(self.lab.set_lr, lr_d=ch["new"]), names="value")
        self.lr_g.observe(lambda ch: act(self.lab.set_lr, lr_g=ch["new"]), names="value")
        self.d_steps.observe(lambda ch: act(self.lab.set_d_steps, ch["new"]), names="value")
        self.batch_size.observe(lambda ch: act(self.lab.set_batch_size, ch["new"]), names="value")
        self.seed.observe(lambda ch: act(self.lab.set_seed, ch["new"]), names="value")
        self.target.observe(self._on_target, names="value")

    def _act(self, fn: Callable, *args: Any, **kwargs: Any) -> None:
        """Run one Lab method, redraw; a bad setting or a diverged run pauses and shows the message."""
        try:
            fn(*args, **kwargs)
        except (ValueError, train.TrainingDiverged) as err:
            self.play.playing = False
            self.status.value = f"stopped: {err}"
            return
        self.redraw()

    def redraw(self) -> None:
        self.view.show(self.lab.frame(""))  # the status goes to a label: text is slow to render
        self.view.render()
        self.counts.value = self.lab.status()

    def _on_tick(self, change: dict) -> None:
        if change["new"] <= change["old"]:  # the player was rewound, not a tick
            return
        now = time.monotonic()
        if self.skip_backlog and now - self._last_tick < 0.5e-3 * self.play.interval:
            return  # a tick that queued while the last step drew: skip it instead of falling behind
        self._act(self.lab.step)
        self._last_tick = time.monotonic()

    def _on_target(self, change: dict) -> None:
        if change["new"] == "drawn" and not self.lab.points:
            self.status.value = "Click on the left plot to draw points first."
            self.target.value = change["old"]
            return
        self._act(self.lab.set_target, change["new"])

    def _on_click(self, event) -> None:
        if event.inaxes is not self.view.ax_main or event.xdata is None:
            return
        self._act(self.lab.add_point, float(event.xdata), float(event.ydata))
        if self.lab.target == "drawn" and self.target.value != "drawn":
            self.target.value = "drawn"
        self.status.value = f"{len(self.lab.points)} drawn points"

    def _clear(self) -> None:
        self.lab.clear_points()
        self.target.value = self.lab.target


def _ipympl_figure(figsize: tuple[float, float]):
    """A figure on an ipympl canvas (a widget) without switching pyplot's backend for the rest of the book;
    where ipympl is missing, an Agg canvas (the lab still runs, the figure is not interactive)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=72)
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    except ImportError:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        return fig, FigureCanvasAgg(fig)
    class _LabCanvas(Canvas):
        def handle_set_device_pixel_ratio(self, event):  # keep 1: 4x the pixels on a HiDPI screen, 1/4 the speed
            pass

    canvas = _LabCanvas(fig)
    FigureManager(canvas, 0)
    canvas.header_visible = False
    return fig, canvas


def _grown_range(current: tuple | None, values: np.ndarray, pad_low: bool) -> tuple | None:
    """An axis range that holds ``values`` and only grows, in steps (so a blitted background rarely goes
    stale): the top doubles; with ``pad_low`` the bottom moves down by half the span."""
    if values.size == 0:
        return current
    lo, hi = float(values.min()), float(values.max())
    if current is not None and current[0] <= lo and hi <= current[1]:
        return current
    if current is None:
        span = max(hi - lo, 0.1)
        return (lo - 0.5 * span, hi + 0.5 * span) if pad_low else (0.0, hi)
    span = current[1] - current[0]
    new_lo = min(current[0], lo - 0.5 * span) if pad_low and lo < current[0] else current[0]
    new_hi = max(hi, current[1] + span) if hi > current[1] else current[1]
    return (new_lo, new_hi)


def _mesh_segments(manifold: np.ndarray) -> list[np.ndarray]:
    """The lines of a warped g x g grid [g, g, 2]: g rows and g columns, each a polyline [g, 2]."""
    return [manifold[i] for i in range(manifold.shape[0])] + [manifold[:, j] for j in range(manifold.shape[1])]


@contextlib.contextmanager
def _eval_mode(*nets: torch.nn.Module):
    modes = [n.training for n in nets]
    for n in nets:
        n.eval()
    try:
        yield
    finally:
        for n, m in zip(nets, modes):
            n.train(m)


def _check_choice(name: str, value: object, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(map(str, choices))}")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
