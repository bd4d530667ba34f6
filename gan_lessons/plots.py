"""One matplotlib style for the whole book, and animations that play in the static HTML.

Animations use ``FuncAnimation.to_jshtml`` (frames embedded as PNGs plus a small player): no ffmpeg, no
kernel, no CDN. :func:`slider` uses the same player as a static stand-in for an ipywidget slider.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation

from .checks import check_int

__all__ = ["use_style", "animate", "slider", "scatter_2d", "heatmap", "discriminator_heatmap", "plot_history",
           "image_grid", "REAL_COLOR", "FAKE_COLOR"]

REAL_COLOR = "#1f77b4"  # real data: blue throughout the book
FAKE_COLOR = "#d62728"  # generated samples: red throughout the book


def use_style() -> None:
    """The book's plotting style (call once at the top of a chapter)."""
    plt.rcParams.update({
        "figure.figsize": (6.4, 4.0), "figure.dpi": 90, "savefig.dpi": 90,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "font.size": 10, "legend.frameon": False, "animation.embed_limit": 40.0,
        "image.cmap": "viridis",
    })


def animate(draw: Callable[[int], None], n_frames: int, fig: plt.Figure, interval: int = 200,
            start: int = -1):
    """A jshtml animation: ``draw(i)`` redraws ``fig`` for frame i. Returns an IPython HTML object.

    The player opens on frame ``start`` (default -1: the last frame, the result of training; negative
    values count from the end); pressing play on the last frame starts again from the first.
    """
    from IPython.display import HTML

    check_int("n_frames", n_frames, minimum=1)
    if isinstance(start, bool) or not isinstance(start, int) or not -n_frames <= start < n_frames:
        raise ValueError(f"start must be a frame index in [-{n_frames}, {n_frames}), got {start!r}")
    anim = FuncAnimation(fig, lambda i: draw(i), frames=n_frames, interval=interval, repeat=False)
    html = _open_on_frame(anim.to_jshtml(default_mode="once"), start % n_frames)
    plt.close(fig)
    return HTML(html)


def _open_on_frame(html: str, frame: int) -> str:
    """Make matplotlib's jshtml player show ``frame`` first, and replay from frame 0 at the end."""
    pattern = re.compile(r"(anim\w+) = new Animation\(([^;]*)\);")
    if len(pattern.findall(html)) != 1:
        raise RuntimeError("matplotlib's jshtml template changed: cannot choose the opening frame")
    return pattern.sub(
        lambda m: (f"{m[1]} = new Animation({m[2]});\n"
                   f"        {m[1]}.set_frame({frame});\n"
                   f"        var play = {m[1]}.play_animation;\n"
                   f"        {m[1]}.play_animation = function() {{\n"
                   f"          if (this.current_frame >= this.frames.length - 1) this.set_frame(0);\n"
                   f"          play.call(this);\n"
                   f"        }};"),
        html)


def slider(draw: Callable[[object], None], values: Sequence, fig: plt.Figure, label: str = "value"):
    """Static fallback for a widget slider: one pre-rendered frame per value, stepped with the player."""
    values = list(values)
    if not values:
        raise ValueError("slider needs at least one value to pre-render")

    def frame(i: int) -> None:
        draw(values[i])
        fig.suptitle(f"{label} = {_fmt(values[i])}  (frame {i + 1}/{len(values)}: use the player's buttons)",
                     fontsize=9)

    return animate(frame, len(values), fig, interval=400, start=0)


def scatter_2d(ax: plt.Axes, real: torch.Tensor | np.ndarray | None = None,
               fake: torch.Tensor | np.ndarray | None = None, lim: float | None = None, size: float = 4) -> None:
    """Real (blue) and generated (red) 2D samples on one axis."""
    for pts, color, name in ((real, REAL_COLOR, "real"), (fake, FAKE_COLOR, "generated")):
        if pts is None:
            continue
        pts = _np(pts)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"{name} points must have shape [n, 2], got {pts.shape}")
        ax.scatter(pts[:, 0], pts[:, 1], s=size, c=color, alpha=0.5, label=name, linewidths=0)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")


def heatmap(ax: plt.Axes, values: torch.Tensor | np.ndarray, lim: float, *, probability: bool = False,
            alpha: float = 0.5):
    """D's values on the grid of :func:`gan_lessons.data.square_grid` ([res, res], x fastest) over
    [-lim, lim]^2: probabilities on [0, 1], raw scores scaled by their largest magnitude onto [-1, 1]
    (red high, blue low). The one heatmap of the book. Returns the image."""
    v = torch.as_tensor(values).detach().float().cpu()
    if v.dim() != 2 or v.shape[0] != v.shape[1]:
        raise ValueError(f"values must be a square grid [res, res], got {tuple(v.shape)}")
    if not probability:
        v = v / v.abs().max().clamp_min(1e-8)
    return ax.imshow(v.numpy(), extent=(-lim, lim, -lim, lim), origin="lower", cmap="RdBu_r",
                     vmin=0 if probability else -1, vmax=1, alpha=alpha)


def discriminator_heatmap(ax: plt.Axes, D: torch.nn.Module, lim: float, resolution: int = 100,
                          probability: bool = True, device: str | torch.device = "cpu"):
    """D's output over [-lim, lim]^2 as a :func:`heatmap` (sigmoid(D) when ``probability``). Returns the image."""
    from .data import square_grid

    with torch.no_grad():
        out = D(square_grid(lim, resolution).to(device)).reshape(resolution, resolution).float().cpu()
    return heatmap(ax, torch.sigmoid(out) if probability else out, lim, probability=probability, alpha=0.6)


def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> torch.Tensor:
    """Tile images [n, 1, H, W] in [-1, 1] into one picture [rows*(H+pad)+pad, nrow*(W+pad)+pad] in [0, 1]
    (white gaps), ``nrow`` per row: the one image grid of the book (show it with ``imshow(..., cmap="gray")``)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 1 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty tensor [n, 1, H, W], got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    check_int("nrow", nrow, minimum=1)
    n, _, h, w = images.shape
    rows = -(-n // nrow)
    out = torch.ones(rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i, img in enumerate(images.detach().float().cpu()):
        r, c = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top:top + h, left:left + w] = (img[0].clamp(-1, 1) + 1) / 2
    return out


def plot_history(history, ax_loss: plt.Axes | None = None, ax_d: plt.Axes | None = None,
                 probabilities: bool = True) -> plt.Figure:
    """Loss curves and mean D(x), D(G(z)) against the generator step."""
    if ax_loss is None or ax_d is None:
        fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(10, 3.2))
    else:
        fig = ax_loss.figure
    if len(history) == 0:
        raise ValueError("history is empty: train for at least one step first")
    ax_loss.plot(history.step, history.d_loss, label="D loss")
    ax_loss.plot(history.step, history.g_loss, label="G loss")
    ax_loss.set_xlabel("generator step")
    ax_loss.legend()
    name = "D" if probabilities else "critic score"
    ax_d.plot(history.step, history.d_real, color=REAL_COLOR, label=f"{name}(x)")
    ax_d.plot(history.step, history.d_fake, color=FAKE_COLOR, label=f"{name}(G(z))")
    if probabilities:
        ax_d.axhline(0.5, color="gray", ls="--", lw=1)
        ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("generator step")
    ax_d.legend()
    return fig


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _fmt(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
