"""MAGAN's adaptive hinge margin (gan_lessons.magan): the losses by hand, the rule case by case, the margin kept
through checkpoints and the run cache, and chapter 9's study of it."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gan_lessons import data, magan, models, objectives, runtime, train
from gan_lessons.experiments import biggan_tricks as chapter

RING = data.ring(n_modes=8, radius=2.0, std=0.05)


def scripted(outputs):
    """A 'discriminator' that returns the next tensor of ``outputs`` on every call (real first, then fake)."""
    it = iter(outputs)
    return lambda x: next(it)


def test_losses_are_the_energy_based_hinge_by_hand():
    obj = magan.MarginObjective(margin=1.0, adaptive=False, epoch=10)
    real, fake = torch.tensor([0.0, -2.0]), torch.tensor([1.0, -1.0])
    loss, r, f = obj.discriminator_loss(scripted([real, fake]), None, None, None)
    e_real = [math.log(2), math.log1p(math.exp(-2))]
    e_fake = [math.log1p(math.e), math.log1p(math.exp(-1))]
    want = sum(e_real) / 2 + sum(max(0.0, 1 - e) for e in e_fake) / 2
    assert loss.item() == pytest.approx(want, rel=1e-6)
    assert torch.equal(r, real) and torch.equal(f, fake)
    g = obj.generator_loss(scripted([fake]), None, None)
    assert g.item() == pytest.approx(sum(e_fake) / 2, rel=1e-6)
    assert torch.allclose(magan.energy(torch.tensor([-50.0, 0.0, 50.0])), F.softplus(torch.tensor([-50.0, 0, 50])))


def energies_to_outputs(e):
    """D outputs whose softplus is the energies ``e`` (> 0)."""
    e = torch.as_tensor(e, dtype=torch.float64)
    return torch.log(torch.expm1(e))


@pytest.mark.parametrize("real_e, fake_e, want", [
    ([0.4, 0.6], [2.0, 2.0], 0.5),  # mean real 0.5 < m = 1 and S_real < S_fake: m falls to 0.5
    ([1.5, 1.5], [2.0, 2.0], 1.0),  # mean real above m: no change (the margin never grows)
    ([0.4, 0.6], [0.2, 0.2], 1.0),  # real energies above the fakes': no change
])
def test_the_rule_case_by_case(real_e, fake_e, want):
    obj = magan.MarginObjective(margin=1.0, epoch=1)
    obj.discriminator_loss(scripted([energies_to_outputs(real_e), energies_to_outputs(fake_e)]), None, None, None)
    assert obj.m.item() == pytest.approx(want, rel=1e-6)
    updates, trace = obj.margins()
    assert updates == [1] and trace[0].item() == pytest.approx(want, rel=1e-6)


def test_the_rule_uses_the_whole_epoch_per_member_and_a_fixed_margin_stays():
    # two members: [batch, 2]. Epoch of 2 updates; member 0's epoch mean is 0.5, member 1's is 1.5 (> m)
    outs = []
    for real in ([[0.2, 1.4], [0.4, 1.6]], [[0.6, 1.5], [0.8, 1.5]]):
        outs += [energies_to_outputs(real), energies_to_outputs([[3.0, 3.0], [3.0, 3.0]])]
    adaptive, fixed = magan.MarginObjective(margin=1.0, epoch=2), magan.MarginObjective(margin=1.0, adaptive=False,
                                                                                        epoch=2)
    for obj in (adaptive, fixed):
        feed = scripted(list(outs))
        obj.discriminator_loss(feed, None, None, None)
        assert obj.trace == []  # no epoch has ended after one update
        with pytest.raises(ValueError, match="no epoch has ended"):
            obj.margins()
        obj.discriminator_loss(feed, None, None, None)
    assert torch.allclose(adaptive.m, torch.tensor([0.5, 1.0], dtype=adaptive.m.dtype))
    assert torch.equal(fixed.m, torch.ones(2, dtype=fixed.m.dtype))
    assert adaptive.sums[2] == 0 and adaptive.sums[3] == 2  # the sums restart each epoch, the count goes on


def test_bad_settings_are_refused():
    for bad, match in (({"margin": 0.0}, "margin"), ({"epoch": 0}, "epoch"), ({"adaptive": "yes"}, "adaptive")):
        with pytest.raises((ValueError, TypeError), match=match):
            magan.MarginObjective(**bad)


def test_stateless_objectives_refuse_a_state_and_the_repr_is_the_settings():
    with pytest.raises(ValueError, match="keeps no training state"):
        objectives.HingeObjective().load_state_dict({"m": torch.ones(1)})
    objectives.HingeObjective().load_state_dict({})
    obj = magan.MarginObjective(margin=2.0)
    before = repr(obj)
    obj.discriminator_loss(scripted([torch.zeros(4), torch.zeros(4)]), None, None, None)
    assert repr(obj) == before == "MarginObjective(margin=2.0, adaptive=True, epoch=100)"  # the run cache's key


def small(steps=12):
    runtime.seed_everything(0)
    G, D = models.MLPGenerator(2, 2, 16, 1), models.MLPDiscriminator(2, 16, 1)
    obj = magan.MarginObjective(margin=1.0, epoch=3)
    return train.GANTrainer(G, D, RING.sample, train.TrainConfig(steps=steps, batch_size=16), latent_dim=2,
                            device="cpu", objective=obj), obj


def test_a_resumed_run_continues_with_its_margin(tmp_path):
    full, full_obj = small()
    full.fit(progress=False)
    part, _ = small()
    part.fit(steps=7, checkpoint_path=tmp_path / "ck.pt", progress=False)  # mid-epoch: the sums are saved too
    resumed, obj = small()
    resumed.load(tmp_path / "ck.pt")
    assert len(obj.trace) == 2 and obj.sums[3] == 7
    resumed.fit(progress=False)
    assert torch.equal(obj.m, full_obj.m)
    assert [u for u, _ in obj.trace] == [u for u, _ in full_obj.trace] == [3, 6, 9, 12]
    for a, b in zip(full.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)


def test_the_run_cache_brings_the_margin_back(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    runs = []
    for _ in range(2):
        runtime.seed_everything(0)
        obj = magan.MarginObjective(margin=1.0, epoch=3)
        t = train.train_gan(models.MLPGenerator(2, 2, 16, 1), models.MLPDiscriminator(2, 16, 1), RING.sample,
                            train.TrainConfig(steps=9, batch_size=16), latent_dim=2, device="cpu", objective=obj,
                            cache="magan-test", progress=False)
        runs.append(obj.margins())
    assert len(list(tmp_path.rglob("*.pt"))) == 1  # the second call loaded the first's run
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_the_chapter_study_at_a_short_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    study = chapter.margin_study("quick", steps=2 * chapter.MARGIN_EPOCH)
    assert set(study) == set(chapter.MARGINS)
    assert study["fixed at 1"]["margin"] == 1.0 and study["fixed at 1"]["margin_se"] == 0.0
    for run, scores in study.items():
        assert scores["updates"] == list(range(20, 201, 20))  # a 200-step run: ten epochs of 20 updates
        assert scores["trace"].shape == (10, chapter.budget("quick").margin_seeds)
        assert 0 <= scores["hq"] <= 1 and 0 <= scores["modes"] <= 8
        assert scores["margin"] <= chapter.MARGINS[run][0]
    summary = chapter.margin_summary(study)
    assert set(summary) == {f"{k}_{r.replace(' ', '_')}" for r in chapter.MARGINS for k in ("margin", "modes", "hq")}
    with pytest.raises(ValueError, match="unknown margin run"):
        chapter.train_margin("adaptive from 2", "quick")
