"""Discrete outputs: the known string distribution, the three ways to make symbols (and which carry a gradient),
the generator's exact distribution, total variation, and the `run discrete` CLI at a tiny step scale."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_lessons import cli, discrete, exercises
from gan_lessons.experiments import discrete as experiment


def test_markov_sequences_are_a_distribution_and_sample_it():
    target = discrete.MarkovSequences(length=2, alphabet=3, seed=1)
    assert target.probabilities.shape == (9,) and abs(target.probabilities.sum() - 1) < 1e-12
    assert target.strings()[:3] == ["aa", "ab", "ac"]
    x = target.sample(20_000, torch.Generator().manual_seed(0))
    assert x.shape == (20_000, 6) and torch.equal(x.view(-1, 2, 3).sum(-1), torch.ones(20_000, 2))
    index = (x.view(-1, 2, 3).argmax(-1) * torch.tensor([3, 1])).sum(-1)
    freq = np.bincount(index.numpy(), minlength=9) / 20_000
    assert discrete.total_variation(freq, target.probabilities) < 0.02
    # the first letter's marginal is `start`
    assert np.allclose(target.probabilities.reshape(3, 3).sum(1), target.start)


@pytest.mark.parametrize("kwargs, match", [({"length": 0}, "length"), ({"alphabet": 1}, "alphabet"),
                                           ({"alphabet": 27}, "at most"), ({"concentration": 0}, "concentration")])
def test_markov_sequences_reject_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        discrete.MarkovSequences(**kwargs)


def test_only_the_relaxations_carry_a_gradient():
    assert discrete.gradient_to_logits("argmax") is None
    soft, hot = discrete.gradient_to_logits("soft", 0.5), discrete.gradient_to_logits("soft", 2.0)
    assert soft > 0 and hot > 0 and soft > hot  # gradients grow as the temperature falls
    assert discrete.gradient_to_logits("straight-through", 0.5) == pytest.approx(soft)


def test_relax_modes():
    logits = torch.randn(500, 4, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    hard = discrete.relax(logits, "argmax")
    torch.manual_seed(0)
    st = discrete.relax(logits, "straight-through", 0.7)
    torch.manual_seed(0)
    soft = discrete.relax(logits, "soft", 0.7)
    for one_hot in (hard, st):
        assert torch.equal(one_hot.sum(-1), torch.ones(500)) and set(one_hot.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(soft.sum(-1), torch.ones(500)) and (soft.max(-1).values < 1).any()
    assert torch.equal(st.argmax(-1), soft.argmax(-1))  # same noise, same symbol
    with pytest.raises(ValueError, match="unknown mode"):
        discrete.relax(logits, "gumbel")


def test_gumbel_max_samples_the_softmax():
    logits = torch.tensor([[2.0, 0.0, -1.0]]).expand(40_000, 3)
    torch.manual_seed(1)
    freq = discrete.relax(logits, "argmax").mean(0)
    assert torch.allclose(freq, torch.softmax(logits[0], -1), atol=0.01)


def test_distribution_is_exact_for_the_generator():
    torch.manual_seed(0)
    G = discrete.SymbolGenerator(4, 2, 3, mode="argmax")
    p = discrete.distribution(G, n=4_000, seed=0)
    assert p.shape == (9,) and abs(p.sum() - 1) < 1e-9
    with torch.no_grad():
        torch.manual_seed(2)
        x = G(torch.randn(40_000, 4)).view(-1, 2, 3).argmax(-1)
    freq = np.bincount((x * torch.tensor([3, 1])).sum(-1).numpy(), minlength=9) / 40_000
    assert discrete.total_variation(freq, p) < 0.03
    with pytest.raises(TypeError, match="SymbolGenerator"):
        discrete.distribution(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("kwargs, match", [({"mode": "sample"}, "unknown mode"), ({"tau": 0}, "temperature"),
                                           ({"tau": float("nan")}, "temperature")])
def test_symbol_generator_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        discrete.SymbolGenerator(4, 2, 3, **kwargs)


def test_total_variation():
    assert discrete.total_variation([0.5, 0.5], [0.5, 0.5]) == 0
    assert discrete.total_variation([1, 0], [0, 1]) == 1
    with pytest.raises(ValueError, match="one length"):
        discrete.total_variation([1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="summing to 1"):
        discrete.total_variation([0.5, 0.6], [0.5, 0.5])


def test_exercise_check():
    assert exercises.check_total_variation(lambda p, q: float(0.5 * np.abs(p - q).sum()))
    with pytest.raises(AssertionError, match="disjoint"):
        exercises.check_total_variation(lambda p, q: float(np.abs(p - q).sum()))


@pytest.mark.slow
def test_cli_prints_the_total_variation(tmp_path, monkeypatch, capsys):
    for name, value in {"GAN_LESSONS_CACHE": str(tmp_path), "GAN_LESSONS_PROGRESS": "0",
                        "GAN_LESSONS_STEP_SCALE": "0.02"}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["run", "discrete", "--profile", "quick"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["gradient_norm_argmax"] is None and result["gradient_norm_soft"] > 0
    for mode, tau in experiment.RUNS:
        assert 0 <= result[f"tv_{mode}_tau_{tau:g}"] <= 1
    assert result["gumbel_softmax_tv"] == result["tv_straight-through_tau_1"]
    assert 0 < result["uniform_tv"] < 1
