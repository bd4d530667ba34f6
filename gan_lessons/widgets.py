"""Explorable figures: a live ipywidget in a running notebook, a pre-rendered slider in the static book.

A chapter writes ONE drawing function ``draw(fig, **values)`` and shows it twice:

* ``widgets.live(draw, a=[...], b=[...])`` — sliders that redraw on change (needs a kernel). Tag that cell
  ``remove-output`` so the static HTML, where no kernel runs, does not show a dead widget.
* ``widgets.static(draw, vary="a", values=[...], fixed={"b": ...})`` — the same figure pre-rendered for each
  value of one parameter, stepped with a jshtml player that works offline in the built HTML.
"""
from __future__ import annotations

import io
from typing import Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import plots

__all__ = ["live", "static"]

Draw = Callable[..., None]  # draw(fig, **values): clear and redraw fig for these parameter values


def live(draw: Draw, figsize: tuple[float, float] = (8, 3.5), **sliders: Sequence[Any]):
    """Sliders (one per keyword, over the given values) that call ``draw(fig, **values)`` on change.

    The figure is drawn off-screen and shown as a PNG in an ``ipywidgets.Image``: no ``Output`` widget, whose
    emulation makes headless runs (nbclient, nbgrader) hang now and then (jupyter/nbclient#312)."""
    import ipywidgets as w
    from IPython.display import display

    if not sliders:
        raise ValueError("give at least one slider, e.g. live(draw, d_fake=[0.01, 0.1, 0.5])")
    controls = {}
    for name, values in sliders.items():
        values = list(values)
        if not values:
            raise ValueError(f"slider {name!r} has no values")
        controls[name] = w.SelectionSlider(options=values, value=values[len(values) // 2], description=name,
                                           continuous_update=False)
    fig = Figure(figsize=figsize)  # not pyplot's: nothing else shows it
    image = w.Image(format="png")

    def redraw(_change: Any = None) -> None:
        fig.clear()
        draw(fig, **{name: control.value for name, control in controls.items()})
        buffer = io.BytesIO()
        FigureCanvasAgg(fig).print_png(buffer)
        image.value = buffer.getvalue()

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = w.VBox([w.HBox(list(controls.values())), image])
    display(box)
    return box


def static(draw: Draw, vary: str, values: Sequence[Any], fixed: Mapping[str, Any] | None = None,
           figsize: tuple[float, float] = (8, 3.5)):
    """The static stand-in: ``draw`` pre-rendered for each of ``values`` of parameter ``vary``."""
    fixed = dict(fixed or {})
    if vary in fixed:
        raise ValueError(f"{vary!r} is the varied parameter: do not also fix it")
    fig = plt.figure(figsize=figsize)

    def frame(value: Any) -> None:
        fig.clear()
        draw(fig, **{vary: value}, **fixed)

    return plots.slider(frame, values, fig, label=vary)
