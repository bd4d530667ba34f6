"""widgets.live without a front end: it draws off-screen into an Image widget, redraws on a slider change, and
holds no Output widget (nbclient's emulation of that widget makes headless runs hang: jupyter/nbclient#312)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from gan_lessons import widgets  # noqa: E402


def _parts(box):
    out = []
    for child in box.children:
        out += _parts(child) if hasattr(child, "children") else [child]
    return out


def test_live_draws_a_png_and_redraws_on_change():
    import ipywidgets as w

    calls = []

    def draw(fig, a, b):
        calls.append((a, b))
        fig.add_subplot().plot([0, a], [0, b])

    box = widgets.live(draw, figsize=(2, 1.5), a=[1, 2, 3], b=[0.5, 4.0])
    parts = _parts(box)
    (image,) = [p for p in parts if isinstance(p, w.Image)]
    sliders = {p.description: p for p in parts if isinstance(p, w.SelectionSlider)}
    assert calls == [(2, 4.0)] and bytes(image.value).startswith(b"\x89PNG")
    assert not [p for p in parts if isinstance(p, w.Output)]
    first = bytes(image.value)
    sliders["a"].value = 3
    assert calls[-1] == (3, 4.0) and bytes(image.value) != first


@pytest.mark.parametrize("sliders, match", [({}, "at least one slider"), ({"a": []}, "no values")])
def test_live_refuses_empty_sliders(sliders, match):
    with pytest.raises(ValueError, match=match):
        widgets.live(lambda fig, **v: None, **sliders)
