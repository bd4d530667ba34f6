"""The GAN Lab (gan_lessons.lab, issue 21): the state object, its views, and the widget driven headlessly.

Buttons are pressed through their handlers (``Button.click()``), controls are changed by setting their value
(which fires the same observers a browser would), and clicks on the plot go through matplotlib's own event
machinery. What is checked is the trainer's state and the views' data, not pixels.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_lessons import lab as labmod
from gan_lessons import train
from gan_lessons.lab import LAB_LOSSES, Lab, LabFigure, LabWidget, generator_arrows
from gan_lessons.theory import js_divergence_histogram_2d as histogram_jsd

SMALL = dict(hidden=16, n_eval=200, n_arrows=16, resolution=12, latent_lines=5, batch_size=32)


def params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()]).clone()


@pytest.fixture()
def lab() -> Lab:
    return Lab(**SMALL)


# --- the state object ------------------------------------------------------------------------------------------

def test_step_d_updates_only_the_discriminator(lab):
    g0, d0 = params(lab.trainer.G), params(lab.trainer.D)
    loss = lab.step_d()
    assert math.isfinite(loss) and lab.d_updates == 1 and lab.g_updates == 0 and lab.trainer.step == 0
    assert torch.equal(params(lab.trainer.G), g0) and not torch.equal(params(lab.trainer.D), d0)


def test_step_g_updates_only_the_generator(lab):
    g0, d0 = params(lab.trainer.G), params(lab.trainer.D)
    lab.step_g()
    assert lab.g_updates == 1 and lab.d_updates == 0
    assert not torch.equal(params(lab.trainer.G), g0) and torch.equal(params(lab.trainer.D), d0)


def test_full_step_is_one_step_of_the_trainer_with_k_d_updates(lab):
    lab.set_d_steps(3)
    lab.step()
    lab.step()
    assert lab.trainer.step == 2 and len(lab.trainer.history) == 2
    assert lab.d_updates == 6 and lab.g_updates == 2
    c = lab.curves()
    assert list(c["d_t"]) == [3, 7] and list(c["g_t"]) == [4, 8]  # t counts D and G updates
    assert c["t"][-1] == 8 and len(c["jsd"]) == len(c["t"]) == 3  # the start, then after each step


def test_a_seeded_lab_is_reproducible():
    a, b = Lab(**SMALL, seed=3), Lab(**SMALL, seed=3)
    for x in (a, b):
        x.step_d()
        x.step()
    assert torch.equal(params(a.trainer.G), params(b.trainer.G))
    np.testing.assert_array_equal(a.views().fakes, b.views().fakes)


def test_reset_and_seed_restart_from_the_seeds_initial_weights(lab):
    g_init = params(lab.trainer.G)
    lab.run(3)
    lab.reset()
    assert torch.equal(params(lab.trainer.G), g_init) and lab.trainer.step == 0 and lab.d_updates == 0
    assert len(lab.curves()["d_loss"]) == 0
    lab.set_seed(5)
    assert lab.config.seed == 5 and torch.equal(params(lab.trainer.G), params(Lab(**SMALL, seed=5).trainer.G))


def test_learning_rates_are_set_in_place_keeping_adams_state(lab):
    lab.step()
    opt_d = lab.trainer.opt_d
    lab.set_lr(lr_d=3e-4)
    assert lab.trainer.opt_d is opt_d and opt_d.state, "the optimizer (and its moments) must be kept"
    assert [g["lr"] for g in opt_d.param_groups] == [3e-4]
    assert [g["lr"] for g in lab.trainer.opt_g.param_groups] == [1e-3]
    lab.set_lr(lr_g=5e-3)
    assert lab.trainer.opt_g.param_groups[0]["lr"] == 5e-3 and lab.trainer.config.lr_g == 5e-3


@pytest.mark.parametrize("loss, kind, extra", [("minimax", train.JSObjective, {"saturating": True}),
                                               ("ns", train.JSObjective, {"saturating": False}),
                                               ("wgan-gp", train.WassersteinObjective, {"gp_weight": 10.0}),
                                               ("hinge", train.HingeObjective, {})])
def test_changing_the_loss_swaps_the_objective_and_keeps_the_weights(lab, loss, kind, extra):
    lab.step()
    g, d = params(lab.trainer.G), params(lab.trainer.D)
    lab.set_loss(loss)
    assert type(lab.trainer.objective) is kind and lab.trainer.config.loss == loss
    for key, value in extra.items():
        assert getattr(lab.trainer.objective, key) == value
    assert torch.equal(params(lab.trainer.G), g) and torch.equal(params(lab.trainer.D), d)
    lab.step()
    assert lab.trainer.step == 2 and np.isfinite(lab.curves()["d_loss"]).all()


def test_batch_size_and_k_are_read_by_the_trainer_at_the_next_step(lab):
    seen = []
    sampler = lab.trainer.real_sampler
    lab.trainer.real_sampler = lambda n, rng: seen.append(n) or sampler(n, rng)
    lab.set_batch_size(8)
    lab.set_d_steps(2)
    lab.step()
    assert seen == [8, 8] and lab.d_updates == 2


def test_targets_and_drawn_points(lab):
    assert lab.target == "ring" and lab.lim == 3.0
    lab.set_target("grid")
    assert lab.lim == 5.0 and lab.trainer.real_sampler == labmod.TARGETS["grid"].sample
    lab.step()
    lab.add_point(1.0, -2.0)
    lab.add_point(-3.0, 4.0)
    assert lab.target == "drawn" and lab.points == [(1.0, -2.0), (-3.0, 4.0)] and lab.lim == 5.0
    x = lab.trainer.real_sampler(4000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, torch.tensor(lab.points)).min(1).values
    assert nearest.max() < 6 * labmod.DRAW_STD and abs(float((x[:, 0] > 0).float().mean()) - 0.5) < 0.05
    lab.step()
    assert lab.trainer.step == 2  # the same run goes on, on the new data
    lab.clear_points()
    assert lab.points == [] and lab.target == "ring"


def test_views_have_the_documented_shapes_for_every_loss_and_target(lab):
    lab.add_point(0.5, 0.5)
    for target in ("ring", "grid", "drawn"):
        lab.set_target(target)
        for loss in LAB_LOSSES:
            lab.set_loss(loss)
            lab.step()
            v = lab.views()
            assert v.data.shape == (200, 2) and v.fakes.shape == (200, 2) and v.arrows.shape == (16, 2)
            assert v.heat.shape == (12, 12) and v.manifold.shape == (5, 5, 2)
            for array in (v.data, v.fakes, v.arrows, v.heat, v.manifold):
                assert np.isfinite(array).all()
            assert v.heat.min() >= 0 and v.heat.max() <= 1 and 0 <= v.jsd <= math.log(2) + 1e-12
            assert v.heat_label == ("D(x)" if loss in ("minimax", "ns") else "critic score (scaled)")


def test_the_manifold_is_g_of_a_regular_latent_grid(lab):
    side = torch.linspace(-2, 2, 5)
    z = torch.tensor([[float(side[1]), float(side[3])]])  # column 1, row 3 of the grid ("xy" indexing)
    with torch.no_grad():
        expected = lab.trainer.G(z)[0].double().numpy()
    np.testing.assert_allclose(lab.views().manifold[3, 1], expected, rtol=1e-5, atol=1e-6)


def test_a_run_records_frames(lab):
    frames = lab.run(4, every=2, title="tour")
    assert len(frames) == 2 and frames[-1].title.startswith("tour  (ns, k=1: 4 D and 4 G updates")


@pytest.mark.parametrize("call, message", [
    (lambda: Lab(loss="wasserstein"), "unknown loss"),
    (lambda: Lab(target="moon"), "unknown target"),
    (lambda: Lab(lr_d=-1.0), "lr_d must be a positive number"),
    (lambda: Lab(hidden=0), "hidden must be an integer >= 1"),
    (lambda: Lab(n_eval=10, n_arrows=20), "must not exceed n_eval"),
    (lambda: Lab(**SMALL).set_d_steps(0), "d_steps must be an integer >= 1"),
    (lambda: Lab(**SMALL).set_batch_size(2.5), "batch_size must be an integer"),
    (lambda: Lab(**SMALL).set_loss("gan"), "unknown loss"),
    (lambda: Lab(**SMALL).set_target("drawn"), "no drawn points yet"),
    (lambda: Lab(**SMALL).add_point(7.0, 0.0), "outside the drawing area"),
    (lambda: Lab(**SMALL).add_point(float("nan"), 0.0), "x must be a finite number"),
    (lambda: Lab(**SMALL).run(-1), "steps must be an integer >= 0"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- the two formulas -----------------------------------------------------------------------------------------

def test_histogram_jsd_matches_hand_computed_values():
    assert histogram_jsd(np.zeros((5, 2)), np.zeros((7, 2)), lim=1.0, bins=4) == pytest.approx(0.0, abs=1e-12)
    far = histogram_jsd(np.full((3, 2), -0.9), np.full((3, 2), 0.9), lim=1.0, bins=4)
    assert far == pytest.approx(math.log(2))  # disjoint supports
    # p: half in one cell, half in another; q: all in the first. m = (3/4, 1/4).
    p, q = np.array([[-0.9, -0.9], [0.9, 0.9]]), np.array([[-0.9, -0.9], [-0.8, -0.8]])
    expected = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) + 0.5 * math.log(1 / 0.75)
    assert histogram_jsd(p, q, lim=1.0, bins=4) == pytest.approx(expected)
    # points outside the square count in the nearest border cell
    assert histogram_jsd(np.array([[5.0, 5.0]]), np.array([[0.9, 0.9]]), lim=1.0, bins=4) == pytest.approx(0.0)


@pytest.mark.parametrize("args, message", [((np.zeros((0, 2)), np.zeros((3, 2)), 1.0), "p_samples"),
                                           ((np.zeros((3, 3)), np.zeros((3, 2)), 1.0), "p_samples"),
                                           ((np.zeros((3, 2)), np.full((3, 2), np.inf), 1.0), "q_samples"),
                                           ((np.zeros((3, 2)), np.zeros((3, 2)), 0.0), "lim")])
def test_histogram_jsd_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        histogram_jsd(*args)


def test_generator_arrows_are_minus_the_per_sample_gradient():
    """For the non-saturating loss l(x) = softplus(-D(x)) and a linear D(x) = w.x + b:
    -dl/dx = sigmoid(-D(x)) w."""
    D = torch.nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[0.5, -2.0]]))
        D.bias.fill_(0.3)
    critic = lambda x: D(x).squeeze(1)  # noqa: E731
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5]])
    arrows = generator_arrows(train.JSObjective(), D, x, x)
    expected = torch.sigmoid(-critic(x))[:, None] * D.weight.detach()
    torch.testing.assert_close(arrows, expected)
    assert D.weight.requires_grad and D.weight.grad is None  # D gets no gradient and stays trainable
    hinge = generator_arrows(train.HingeObjective(), D, x, x)  # l = -D(x): -dl/dx = w for every sample
    torch.testing.assert_close(hinge, D.weight.detach().expand(3, 2))
    with pytest.raises(ValueError, match="fakes must be a tensor"):
        generator_arrows(train.JSObjective(), D, torch.zeros(0, 2), x)


# --- the figure ------------------------------------------------------------------------------------------------

def test_figure_shows_the_frame_data(lab):
    import matplotlib.pyplot as plt

    lab.run(3)
    fig = plt.figure(figsize=(9, 3.5))
    view = LabFigure(fig, lab.frame("a title"))
    v = lab.views()
    np.testing.assert_array_equal(view.fake_dots.get_offsets(), v.fakes)
    assert len(view.mesh.get_segments()) == 2 * 5 and view.title.get_text().startswith("a title")
    np.testing.assert_array_equal(view.jsd_line.get_ydata(), lab.curves()["jsd"])
    assert view.heat.get_extent() == [-3.0, 3.0, -3.0, 3.0]
    fig.canvas.draw()
    plt.close(fig)


# --- the widget, headless ---------------------------------------------------------------------------------------

@pytest.fixture()
def widget() -> LabWidget:
    w = LabWidget(Lab(**SMALL))
    w.skip_backlog = False  # ticks in a test come faster than any real player sends them
    return w


def test_buttons_drive_the_trainer(widget):
    lab = widget.lab
    widget.d_button.click()
    widget.d_button.click()
    widget.g_button.click()
    widget.step_button.click()
    assert (lab.d_updates, lab.g_updates, lab.trainer.step) == (3, 2, 1)
    assert widget.counts.value == lab.status() and "3 D and 2 G updates" in widget.counts.value
    np.testing.assert_array_equal(widget.view.fake_dots.get_offsets(), lab.views().fakes)  # the view follows
    g_init = params(Lab(**SMALL).trainer.G)
    widget.reset_button.click()
    assert lab.trainer.step == 0 and lab.d_updates == 0 and torch.equal(params(lab.trainer.G), g_init)


def test_play_ticks_step_and_speed_sets_the_interval(widget):
    widget.play.value = 1
    widget.play.value = 2
    widget.play.value = 3
    assert widget.lab.trainer.step == 3
    widget.play.value = 0  # rewinding the player is not a step
    assert widget.lab.trainer.step == 3
    widget.speed.value = labmod.SPEEDS["slow motion (1/s)"]
    assert widget.play.interval == 1000


def test_backlogged_ticks_are_skipped(widget):
    widget.skip_backlog = True
    widget.speed.value = labmod.SPEEDS["slow motion (1/s)"]
    widget.play.value = 1
    widget.play.value = 2  # arrives at once: a tick that queued up behind the first
    assert widget.lab.trainer.step == 1


def test_controls_change_the_run_mid_way(widget):
    lab = widget.lab
    widget.step_button.click()
    widget.loss.value = "wgan-gp"
    assert isinstance(lab.trainer.objective, train.WassersteinObjective) and lab.trainer.objective.gp_weight == 10
    widget.lr_d.value = 1e-4
    widget.lr_g.value = 1e-2
    assert lab.trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert lab.trainer.opt_g.param_groups[0]["lr"] == pytest.approx(1e-2)
    widget.d_steps.value = 4
    widget.batch_size.value = 16
    assert lab.trainer.config.d_steps == 4 and lab.trainer.config.batch_size == 16
    widget.step_button.click()
    assert lab.trainer.step == 2 and lab.d_updates == 1 + 4
    assert widget.view.ax_main.get_title().startswith("data, samples, critic score")
    widget.seed.value = 7
    assert lab.config.seed == 7 and lab.trainer.step == 0 and lab.config.loss == "wgan-gp"
    widget.target.value = "grid"
    assert lab.target == "grid" and widget.view.ax_main.get_xlim() == (-5.0, 5.0)


def test_clicking_on_the_plot_draws_data(widget):
    from matplotlib.backend_bases import MouseEvent

    widget.canvas.draw()
    ax = widget.view.ax_main
    for point in [(1.0, 1.5), (-2.0, 0.5)]:
        x, y = ax.transData.transform(point)
        widget.canvas.callbacks.process("button_press_event",
                                        MouseEvent("button_press_event", widget.canvas, x, y, button=1))
    lab = widget.lab
    assert lab.target == "drawn" and widget.target.value == "drawn" and len(lab.points) == 2
    np.testing.assert_allclose(lab.points, [(1.0, 1.5), (-2.0, 0.5)], atol=0.05)
    widget.step_button.click()
    assert lab.trainer.step == 1
    x, y = widget.view.ax_manifold.transData.transform((0.0, 0.0))  # a click on another panel draws nothing
    widget.canvas.callbacks.process("button_press_event",
                                    MouseEvent("button_press_event", widget.canvas, x, y, button=1))
    assert len(lab.points) == 2
    widget.clear_button.click()
    assert lab.points == [] and lab.target == "ring" and widget.target.value == "ring"


def test_bad_choices_are_refused_with_a_message(widget):
    widget.target.value = "drawn"  # nothing drawn yet
    assert widget.target.value == "ring" and widget.lab.target == "ring"
    assert "draw points first" in widget.status.value


def test_the_blitted_figure_renders_and_keeps_its_background(widget):
    widget.step_button.click()
    assert widget.view._background is not None
    background = widget.view._background
    widget.g_button.click()  # nothing moved out of range: the same background is reused
    assert widget.view._background is background
    widget.target.value = "grid"  # a new range: a new background
    assert widget.view._background is not None and widget.view._background is not background


def test_the_speed_benchmark_runs_with_a_front_end_and_beside_a_busy_process(capsys):
    """benchmarks/lab_speed.py at a tiny size: every reported number is positive and the spinning process ends."""
    import json
    import multiprocessing as mp
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import lab_speed

    assert lab_speed.main(["--steps", "3", "--rounds", "1", "--busy", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["front_end_attached"] is True and out["busy_processes"] == 1
    for key in ("fps_with_views", "fps_beside_busy_process", "fps_per_cpu_second", "train_only_steps_per_second"):
        assert out[key] > 0, key
    assert out["target"] == {"fps_with_views": 20, "fps_beside_busy_process": 20}
    assert not mp.active_children()  # the busy process was stopped
    with pytest.raises(SystemExit):
        lab_speed.main(["--busy", "-1"])
