"""Vectorised ensembles (``gan_lessons.ensemble``), the mode-collapse remedies (``gan_lessons.collapse``) and the
chapter's experiment (``gan_lessons.experiments.mode_collapse``): fixed inputs, hand-computed answers."""
from __future__ import annotations

import argparse
import math

import pytest
import torch
from torch import nn

from gan_lessons import collapse, data, ensemble, losses, objectives, train
from gan_lessons.experiments import mode_collapse as chapter

RING = data.ring(8, 2.0, 0.1)
GRID = data.grid(5, 2.0, 0.1)


# --- ensemble ------------------------------------------------------------------------------------------------------

def test_ensemble_linear_is_independent_linear_layers():
    torch.manual_seed(0)
    layer = ensemble.EnsembleLinear(3, 4, 2)
    x = torch.randn(3, 5, 4)  # [members, batch, in]
    out = layer(x)
    for m in range(3):
        ref = x[m] @ layer.weight[m] + layer.bias[m]
        torch.testing.assert_close(out[m], ref)


def test_ensemble_members_do_not_mix():
    torch.manual_seed(1)
    D = ensemble.EnsembleDiscriminator(4, hidden=8, depth=2)
    x = torch.randn(6, 4, 2)
    y = x.clone()
    y[:, 2] += 10.0  # change member 2's input only
    a, b = D(x), D(y)
    assert a.shape == (6, 4)
    torch.testing.assert_close(a[:, [0, 1, 3]], b[:, [0, 1, 3]])
    assert not torch.allclose(a[:, 2], b[:, 2])
    (D(x)[:, 1].sum()).backward()  # gradient of member 1's output reaches member 1's weights only
    g = D.hidden_layers[0].weight.grad
    assert g[1].abs().sum() > 0 and g[[0, 2, 3]].abs().sum() == 0


def test_maxout_and_batch_norm_by_hand():
    mlp = ensemble.EnsembleMLP(1, 1, 1, hidden=1, depth=1, activation="maxout", pieces=3)
    with torch.no_grad():
        mlp.hidden_layers[0].weight.copy_(torch.tensor([[[1.0, -2.0, 0.5]]]))
        mlp.hidden_layers[0].bias.zero_()
        mlp.out.weight.fill_(1.0)
        mlp.out.bias.zero_()
    x = torch.tensor([[[2.0]], [[-1.0]]])  # [batch=2, members=1, 1]
    # max(x, -2x, x/2): 2 at x=2, 2 at x=-1
    torch.testing.assert_close(mlp(x), torch.tensor([[[2.0]], [[2.0]]]))
    bn = ensemble.EnsembleBatchNorm(2, 1)
    h = torch.tensor([[[1.0], [3.0]], [[10.0], [10.0]]])  # [members, batch, features]: member 1 is constant
    out = bn(h)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([-1.0, 1.0]) / math.sqrt(1 + 1e-5))
    torch.testing.assert_close(out[1], torch.zeros(2, 1))
    torch.testing.assert_close(bn.running_mean[:, 0, 0], torch.tensor([0.2, 1.0]))  # 0.1 * mean


def test_spectral_norm_per_member():
    torch.manual_seed(2)
    layer = ensemble.EnsembleLinear(2, 5, 3, spectral_norm=True)
    with torch.no_grad():
        layer.weight[1] *= 7.0
    for _ in range(50):  # power iteration converges
        layer(torch.zeros(2, 1, 5))
    for m in range(2):
        sigma = torch.linalg.matrix_norm(layer.effective_weight()[m].detach(), ord=2)
        assert sigma == pytest.approx(1.0, abs=1e-4)
    # two forwards before one backward (real and fake batches) must not break autograd
    out = layer(torch.randn(2, 4, 5)).sum() + layer(torch.randn(2, 4, 5)).sum()
    out.backward()
    assert torch.isfinite(layer.weight.grad).all()


def test_sampler_noise_and_member():
    sampler = ensemble.EnsembleSampler([RING.sample, GRID.sample])
    x = sampler(7, torch.Generator().manual_seed(0))
    assert x.shape == (7, 2, 2) and sampler.members == 2
    z = ensemble.ensemble_noise(3, 2)(5, torch.Generator().manual_seed(0))
    assert z.shape == (5, 3, 2)
    torch.testing.assert_close(ensemble.member(x, 1), x[:, 1])


@pytest.mark.parametrize("make, message", [
    (lambda: ensemble.EnsembleLinear(0, 2, 2), "members"),
    (lambda: ensemble.EnsembleLinear(2, 2, 2, init_std=-1.0), "init_std"),
    (lambda: ensemble.EnsembleLinear(2, 3, 4)(torch.zeros(3, 1, 3)), "members=2"),
    (lambda: ensemble.EnsembleMLP(2, 2, 1, activation="swish"), "activation"),
    (lambda: ensemble.EnsembleMLP(2, 2, 1, norm="layer"), "norm"),
    (lambda: ensemble.EnsembleMLP(2, 2, 1)(torch.zeros(4, 2)), "shape"),
    (lambda: ensemble.EnsembleBatchNorm(1, 2)(torch.zeros(1, 1, 2)), "at least 2"),
    (lambda: ensemble.EnsembleSampler([]), "non-empty"),
    (lambda: ensemble.ensemble_noise(0, 2), "members"),
    (lambda: ensemble.member(torch.zeros(3, 2), 2), "member index"),
    (lambda: ensemble.member(torch.zeros(3), 0), "ensemble tensor"),
])
def test_ensemble_rejects_bad_input(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- the remedies --------------------------------------------------------------------------------------------------

def test_minibatch_stddev_by_hand():
    h = torch.tensor([[[0.0, 0.0]], [[2.0, 4.0]]])  # [batch=2, members=1, features=2]: stds 1 and 2
    out = collapse.minibatch_stddev(h)
    assert out.shape == (2, 1, 3)
    torch.testing.assert_close(out[:, 0, 2], torch.tensor([1.5, 1.5]))
    torch.testing.assert_close(out[:, :, :2], h)
    same = collapse.minibatch_stddev(torch.ones(4, 2, 3))  # a collapsed batch: ~0 (sqrt of 1e-8)
    torch.testing.assert_close(same[:, :, 3], torch.full((4, 2), 1e-4))


def test_minibatch_features_by_hand_and_in_groups():
    m = torch.tensor([[[[0.0]]], [[[1.0]]], [[[3.0]]]])  # [batch=3, members=1, B=1, C=1]
    o = collapse.minibatch_features(m, group=3)[:, 0, 0]
    e = torch.exp
    want = torch.stack([1 + e(torch.tensor(-1.0)) + e(torch.tensor(-3.0)), 1 + e(torch.tensor(-1.0)) +
                        e(torch.tensor(-2.0)), 1 + e(torch.tensor(-2.0)) + e(torch.tensor(-3.0))])
    torch.testing.assert_close(o, want)
    # groups of 2: samples 0 and 1 see each other, sample 2 only itself
    torch.testing.assert_close(collapse.minibatch_features(m, group=2)[:, 0, 0],
                               torch.stack([1 + e(torch.tensor(-1.0)), 1 + e(torch.tensor(-1.0)), torch.tensor(1.0)]))
    # L1 over the C numbers of one kernel, kernels and members separate
    g = torch.randn(5, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    o = collapse.minibatch_features(g, group=5)
    i, mem, b = 2, 1, 0
    ref = sum(torch.exp(-(g[i, mem, b] - g[j, mem, b]).abs().sum()) for j in range(5))
    torch.testing.assert_close(o[i, mem, b], ref)
    assert torch.allclose(collapse.minibatch_features(torch.ones(4, 2, 3, 2), 64), torch.full((4, 2, 3), 4.0))
    with pytest.raises(ValueError, match="kernels, kernel_dim"):
        collapse.minibatch_features(torch.ones(4, 2, 3))


def test_minibatch_discrimination_discriminator_members_never_mix():
    torch.manual_seed(0)
    D = collapse.MinibatchDiscriminationDiscriminator(3, 2, hidden=8, depth=2, kernels=2, kernel_dim=3, group=4)
    x = torch.randn(8, 3, 2)
    out = D(x)
    assert out.shape == (8, 3)
    y = x.clone()
    y[:, 1] += 5.0  # change member 1's batch only
    changed = D(y)
    torch.testing.assert_close(changed[:, [0, 2]], out[:, [0, 2]])
    assert not torch.allclose(changed[:, 1], out[:, 1])
    z = x.clone()
    z[5, 0] += 3.0  # one sample of group 2 (samples 4-7): group 1's outputs do not move
    torch.testing.assert_close(D(z)[:4, 0], out[:4, 0])
    assert "kernels=2, kernel_dim=3, group=4" in repr(D)  # the run cache's key sees the settings


def test_packed_discriminator_packs_consecutive_samples_of_one_member():
    seen = {}

    class Spy(nn.Module):
        def forward(self, x):
            seen["x"] = x
            return x.sum(2)

    D = collapse.PackedDiscriminator(Spy(), pack=2)
    x = torch.arange(4 * 2 * 2, dtype=torch.float32).reshape(4, 2, 2)  # [batch, members, dim]
    out = D(x)
    assert out.shape == (2, 2)
    torch.testing.assert_close(seen["x"][0, 1], torch.cat([x[0, 1], x[1, 1]]))  # samples 0 and 1 of member 1
    torch.testing.assert_close(seen["x"][1, 0], torch.cat([x[2, 0], x[3, 0]]))
    with pytest.raises(ValueError, match="multiple of the pack size"):
        D(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="pack"):
        collapse.PackedDiscriminator(Spy(), pack=0)


def test_ensemble_gradient_penalty_by_hand():
    w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # member 0: |grad| = 5, member 1: |grad| = 1

    def critic(x):  # [batch, members, 2] -> [batch, members], linear per member
        return (x * w).sum(2)

    real, fake = torch.randn(5, 2, 2), torch.randn(5, 2, 2)
    gp = losses.wasserstein_gradient_penalty(critic, real, fake, eps=torch.rand(5, 2), per_member=True)
    assert float(gp) == pytest.approx(((5 - 1) ** 2 + 0) / 2)  # mean over samples and members
    with pytest.raises(ValueError, match="one shape"):
        losses.wasserstein_gradient_penalty(critic, real, fake[:, :1], per_member=True)
    with pytest.raises(ValueError, match="eps"):
        losses.wasserstein_gradient_penalty(critic, real, fake, eps=torch.rand(5), per_member=True)


def test_unrolled_objective():
    torch.manual_seed(3)
    D = ensemble.EnsembleDiscriminator(2, hidden=8, depth=1)
    real, fake = torch.randn(6, 2, 2), torch.randn(6, 2, 2, requires_grad=True)
    base = objectives.JSObjective()
    zero = objectives.UnrolledObjective(base, steps=0)
    torch.testing.assert_close(zero.generator_loss(D, fake, real), base.generator_loss(D, fake, real))
    # one unrolled step by hand: theta' = theta - lr * members * grad(L_D), then L_G at theta'
    lr = 0.1
    names = [n for n, _ in D.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in D.parameters()]
    call = lambda ps: (lambda x: torch.func.functional_call(D, dict(zip(names, ps)), (x,)))  # noqa: E731
    loss_d, _, _ = base.discriminator_loss(call(params), real, fake, None)
    grads = torch.autograd.grad(loss_d * 2, params)
    stepped = [p - lr * g for p, g in zip(params, grads)]
    expected = base.generator_loss(call(stepped), fake, real)
    got = objectives.UnrolledObjective(base, steps=1, lr=lr).generator_loss(D, fake, real)
    torch.testing.assert_close(got, expected)
    (g_fake,) = torch.autograd.grad(got, fake)
    assert torch.isfinite(g_fake).all() and g_fake.abs().sum() > 0
    with pytest.raises(ValueError, match="steps"):
        objectives.UnrolledObjective(base, steps=-1)
    with pytest.raises(ValueError, match="lr"):
        objectives.UnrolledObjective(base, lr=0)
    with pytest.raises(TypeError, match="Objective"):
        objectives.UnrolledObjective("ns")


@pytest.mark.parametrize("method", [*collapse.METHODS, "pacgan4"])
def test_every_method_builds_and_gives_per_member_logits(method):
    torch.manual_seed(0)
    G, D, objective = collapse.build_method(method, 3, collapse.NetSpec(g_hidden=8, d_hidden=8))
    x = G(torch.randn(8, 3, 2))
    assert x.shape == (8, 3, 2)
    out = D(x)
    pack = 4 if method == "pacgan4" else 2 if method == "pacgan" else 1
    assert out.shape == (8 // pack, 3)
    assert isinstance(objective, objectives.Objective)


def test_build_method_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown method"):
        collapse.build_method("vae", 2)
    with pytest.raises(ValueError, match="unknown method"):
        collapse.build_method("pacgan0", 2)
    with pytest.raises(TypeError, match="NetSpec"):
        collapse.build_method("ns", 2, net={"g_hidden": 8})


def test_summarise_by_hand():
    per_seed = [{"modes": 8, "hq_fraction": 0.9, "reverse_kl": 0.0},
                {"modes": 6, "hq_fraction": 0.7, "reverse_kl": 0.3},
                {"modes": 7, "hq_fraction": 0.8, "reverse_kl": 0.6}]
    s = collapse.summarise(per_seed)
    assert s["modes_mean"] == pytest.approx(7.0) and s["modes_se"] == pytest.approx(1 / math.sqrt(3))
    assert s["hq_mean"] == pytest.approx(0.8) and s["hq_se"] == pytest.approx(0.1 / math.sqrt(3))
    assert s["rkl_mean"] == pytest.approx(0.3) and s["rkl_se"] == pytest.approx(0.3 / math.sqrt(3))
    assert collapse.summarise(per_seed[:1])["modes_se"] == 0.0
    with pytest.raises(ValueError, match="at least one"):
        collapse.summarise([])


@pytest.mark.parametrize("method", collapse.METHODS)
def test_train_method_is_deterministic_and_reports_every_seed(method, monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    cfg = train.TrainConfig(steps=4, batch_size=16, lr_d=1e-3, lr_g=1e-3)
    net = collapse.NetSpec(g_hidden=8, d_hidden=8, unroll_steps=2)
    runs = [collapse.train_method(method, {"ring": RING, "grid": GRID}, 2, cfg, net=net, n_eval=50,
                                  snapshot_every=2, seed=5) for _ in range(2)]
    a, b = runs
    assert a.metrics == b.metrics
    torch.testing.assert_close(a.samples, b.samples)
    assert set(a.metrics) == {"ring", "grid"} and all(len(v) == 2 for v in a.metrics.values())
    assert a.samples.shape == (50, 4, 2) and a.member("grid", 1) == 3
    assert [s for s, _ in a.snapshots] == [0, 2, 4]
    snap = a.snapshots[-1][1]
    batch = 32 if method == "pacgan" else 16  # PacGAN: 16 packs of 2 samples
    assert snap["samples"].shape == (batch, 4, 2) and snap["arrows"].shape[1:] == (4, 2)
    assert (snap["heat"] is None) == (method in ("pacgan", "mbstd", "mbdisc"))


def test_train_method_uses_the_run_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LESSONS_CACHE", str(tmp_path))
    cfg = train.TrainConfig(steps=3, batch_size=8)
    net = collapse.NetSpec(g_hidden=8, d_hidden=8)
    a = collapse.train_method("ns", {"ring": RING}, 2, cfg, net=net, n_eval=20, cache="t")
    files = list((tmp_path / "runs").glob("t-ns-*.pt"))
    assert len(files) == 1
    b = collapse.train_method("ns", {"ring": RING}, 2, cfg, net=net, n_eval=20, cache="t")
    torch.testing.assert_close(a.samples, b.samples)
    collapse.train_method("ns", {"ring": data.ring(8, 2.0, 0.2)}, 2, cfg, net=net, n_eval=20, cache="t")
    assert len(list((tmp_path / "runs").glob("t-ns-*.pt"))) == 2  # other data, other entry


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(datasets={}), ValueError, "datasets"),
    (dict(datasets={"ring": "ring"}), ValueError, "datasets"),
    (dict(seeds=0), ValueError, "seeds"),
    (dict(n_eval=0), ValueError, "n_eval"),
    (dict(train_size=-5), ValueError, "train_size"),
    (dict(method="gan"), ValueError, "unknown method"),
])
def test_train_method_rejects_bad_input(kwargs, error, message):
    args = dict(method="ns", datasets={"ring": RING}, seeds=1, config=train.TrainConfig(steps=1, batch_size=4))
    args.update(kwargs)
    with pytest.raises(error, match=message):
        collapse.train_method(args.pop("method"), args.pop("datasets"), args.pop("seeds"), args.pop("config"),
                              **args)


def test_a_collapsed_generator_is_measured_as_collapsed():
    """A trained run's metrics are the metrics of its samples: collapse every member of G onto mode 0."""
    cfg = train.TrainConfig(steps=0, batch_size=8)
    run = collapse.train_method("ns", {"ring": RING}, 2, cfg, net=collapse.NetSpec(g_hidden=4, d_hidden=4),
                                n_eval=30)
    with torch.no_grad():
        run.trainer.G.out.weight.zero_()
        run.trainer.G.out.bias.copy_(torch.tensor([2.0, 0.0]))  # every sample at mode 0, (2, 0)
    samples = run.trainer.sample(30, rng=torch.Generator().manual_seed(0))
    from gan_lessons.metrics import mode_collapse_metrics

    m = mode_collapse_metrics(samples[:, 1], RING)
    assert m == {"modes": 1, "hq_fraction": 1.0, "reverse_kl": pytest.approx(math.log(8))}


# --- the experiment --------------------------------------------------------------------------------------------

def test_protocols_follow_the_papers():
    p = chapter.protocol("pacgan", "quick", epochs=2)
    assert p.datasets["ring"].means[0] == pytest.approx((1.0, 0.0)) and p.datasets["ring"].stds[0] == 0.01
    assert p.datasets["grid"].stds[0] == 0.05 and p.datasets["grid"].means[0] == (-4.0, -4.0)
    assert p.train_size == 100_000 and p.config.batch_size == 100 and p.n_eval == 2500
    assert p.config.steps == 2 * 1000 and p.config.lr_g == 1e-4 and p.config.betas == (0.8, 0.999)
    assert (p.net.g_hidden, p.net.g_depth, p.net.g_norm) == (400, 4, "batch")
    assert (p.net.d_hidden, p.net.d_depth, p.net.d_activation, p.net.pieces) == (200, 3, "maxout", 5)
    assert p.net.init_std == 0.02 and p.methods[0] == "ns"
    v = chapter.protocol("veegan", "quick", seeds=2)
    assert v.n_eval == 2500 and v.net.unroll_steps == 5 and "unrolled" in v.methods and v.seeds == 2
    b = chapter.protocol("book", "quick")
    assert set(b.methods) == set(collapse.METHODS) and b.seeds >= 3
    assert chapter.protocol("book", "full").seeds > b.seeds


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="bigan"), "unknown protocol"), (dict(seeds=0), "seeds"), (dict(epochs=-1.0), "epochs"),
])
def test_protocol_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        chapter.protocol(**kwargs)


def test_command_line_arguments():
    parser = argparse.ArgumentParser()
    chapter.add_arguments(parser)
    args = parser.parse_args(["--protocol", "pacgan", "--seeds", "2", "--epochs", "0.5"])
    assert (args.protocol_name, args.seeds, args.epochs) == ("pacgan", 2, 0.5)
    with pytest.raises(SystemExit):
        parser.parse_args(["--seeds", "0"])


def test_run_returns_the_table(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    monkeypatch.setattr(chapter, "protocol", lambda *a, **k: chapter.Protocol(
        "book", {"ring": RING}, ("ns", "mbstd"), 2, train.TrainConfig(steps=3, batch_size=8),
        collapse.NetSpec(g_hidden=8, d_hidden=8), None, 40))
    out = chapter.run("quick", 0)
    assert set(out["results"]["ring"]) == {"ns", "mbstd"}
    assert set(out["results"]["ring"]["ns"]) == {"modes_mean", "modes_se", "hq_mean", "hq_se", "rkl_mean", "rkl_se"}
    import json

    json.dumps(out)


def test_views_and_table(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("GAN_LESSONS_CACHE", "off")
    cfg = train.TrainConfig(steps=2, batch_size=8)
    net = collapse.NetSpec(g_hidden=8, d_hidden=8)
    runs = {m: collapse.train_method(m, {"ring": RING, "grid": GRID}, 2, cfg, net=net, n_eval=30,
                                     snapshot_every=1) for m in ("ns", "mbstd")}
    fig, ax = plt.subplots()
    assert chapter.draw_view(ax, runs["ns"], "grid", 1, -1) == 2
    assert chapter.draw_view(ax, runs["mbstd"], "ring", 0, 0) == 0  # no heatmap for a minibatch discriminator
    with pytest.raises(ValueError, match="unknown dataset"):
        chapter.draw_view(ax, runs["ns"], "spiral", 0)
    with pytest.raises(ValueError, match="seed"):
        chapter.draw_view(ax, runs["ns"], "ring", 2)
    plt.close(fig)
    plt.close(chapter.mode_histograms(runs, "ring", 0))
    html = chapter.table_html(chapter.table(runs)).data
    assert html.count("<tr>") == 4 and "ring" in html and "±" in html


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["pacgan", "veegan"])
def test_command_line_prints_the_table_as_json(protocol, tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "GAN_LESSONS_PROGRESS": "0", "GAN_LESSONS_CACHE": str(tmp_path)}
    cmd = [sys.executable, "-m", "gan_lessons", "run", "mode-collapse", "--protocol", protocol, "--epochs", "0.003",
           "--seeds", "2", "--profile", "quick"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["protocol"] == protocol and out["steps"] == 3 and out["n_eval"] == 2500 and out["seeds"] == 2
    methods = {"pacgan": {"ns", "pacgan2", "pacgan3", "pacgan4"}, "veegan": {"ns", "unrolled"}}[protocol]
    for dataset in ("ring", "grid"):
        assert set(out["results"][dataset]) == methods
        for row in out["results"][dataset].values():
            assert set(row) == {"modes_mean", "modes_se", "hq_mean", "hq_se", "rkl_mean", "rkl_se"}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)  # from the run cache
    assert json.loads(again.stdout.strip().splitlines()[-1])["results"] == out["results"]


def test_sampler_draws_once_per_shared_source():
    calls = []

    def counting(n, rng=None):
        calls.append(n)
        return RING.sample(n, rng)

    sampler = ensemble.EnsembleSampler([counting, counting, GRID.sample, GRID.sample, GRID.sample])
    x = sampler(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 5, 2) and calls == [8]  # one draw of 2 x 4 samples for the two ring members
    assert not torch.equal(x[:, 0], x[:, 1]) and not torch.equal(x[:, 2], x[:, 3])  # members see different data
    y = sampler(4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, y)
