"""The jshtml player opens on the chosen frame and replays from the start."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gan_lessons import plots  # noqa: E402


def _anim(**kwargs):
    fig, ax = plt.subplots(figsize=(1, 1))
    return plots.animate(lambda i: ax.set_title(str(i)), 3, fig, **kwargs).data


def test_opens_on_the_last_frame_by_default():
    html = _anim()
    assert ".set_frame(2);" in html and "this.set_frame(0)" in html


def test_opens_on_a_chosen_frame():
    assert ".set_frame(1);" in _anim(start=1)
    assert ".set_frame(1);" in _anim(start=-2)


@pytest.mark.parametrize("bad", [3, -4, 1.0, True])
def test_bad_start_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="start"):
        _anim(start=bad)
