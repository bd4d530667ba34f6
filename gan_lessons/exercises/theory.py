"""Checks for chapters "The optimal discriminator" and "Divergences: KL and JSD"."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .. import theory
from ._core import Case, CheckResult, check_function

__all__ = ["check_optimal_discriminator", "check_js_divergence", "check_kl_gaussians", "check_generator_penalty",
           "check_js_distance_gap"]


def check_optimal_discriminator(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(p_data, p_g) -> D*`` on tensors of density values: p_data / (p_data + p_g), 1/2 where
    both densities are 0."""
    g = torch.Generator().manual_seed(3)
    cases = [
        Case("equal densities (the answer is 1/2 everywhere)", (torch.full((3,), 0.2), torch.full((3,), 0.2))),
        Case("p_data = [0.3, 0.1], p_g = [0.1, 0.3]", (torch.tensor([0.3, 0.1]), torch.tensor([0.1, 0.3]))),
        Case("p_g = 0 where p_data > 0 (D* = 1 there) and the reverse (D* = 0)",
             (torch.tensor([0.4, 0.0, 0.2]), torch.tensor([0.0, 0.5, 0.2]))),
        Case("both densities 0 at the last point (use D* = 1/2 there)",
             (torch.tensor([0.3, 0.0]), torch.tensor([0.1, 0.0]))),
        Case("random densities of shape [2, 5]", (torch.rand(2, 5, generator=g, dtype=torch.float64),
                                                  torch.rand(2, 5, generator=g, dtype=torch.float64))),
    ]
    return check_function(student_fn, _reference_d_star, cases, name="optimal discriminator D*",
                          blocked=["gan_lessons.theory.optimal_discriminator_values",
                                   "gan_lessons.theory.optimal_discriminator"])


def check_js_divergence(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(p, q) -> float``, the Jensen-Shannon divergence in nats of two probability vectors."""
    rng = np.random.default_rng(4)
    cases = [
        Case("p = q = [0.2, 0.3, 0.5] (answer 0)", (np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5]))),
        Case("disjoint p = [1, 0], q = [0, 1] (answer log 2; remember 0 log 0 = 0)",
             (np.array([1.0, 0.0]), np.array([0.0, 1.0]))),
        Case("p = [0.5, 0.5, 0], q = [0, 0.5, 0.5]", (np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5]))),
        Case("p = [0.9, 0.1], q = [0.1, 0.9] (answer in nats, not bits)", (np.array([0.9, 0.1]), np.array([0.1, 0.9]))),
        Case("two random distributions over 6 outcomes", (rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6)))),
    ]
    return check_function(student_fn, _reference_jsd, cases, name="Jensen-Shannon divergence", atol=1e-8, rtol=1e-6,
                          blocked=["gan_lessons.theory.js_divergence_discrete"])


def check_kl_gaussians(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(mu1, sigma1, mu2, sigma2) -> KL(N(mu1, sigma1^2) || N(mu2, sigma2^2))`` (floats)."""
    cases = [
        Case("the same Gaussian N(0, 1) twice (answer 0)", (0.0, 1.0, 0.0, 1.0)),
        Case("N(0, 1) against N(2, 1) (answer 2^2 / 2 = 2)", (0.0, 1.0, 2.0, 1.0)),
        Case("N(0, 1) against N(0, 2^2) (widths differ; sigma is a standard deviation)", (0.0, 1.0, 0.0, 2.0)),
        Case("N(1, 0.5^2) against N(-1, 3^2)", (1.0, 0.5, -1.0, 3.0)),
        Case("N(-1, 3^2) against N(1, 0.5^2) (KL is not symmetric)", (-1.0, 3.0, 1.0, 0.5)),
    ]
    return check_function(student_fn, _reference_kl, cases, name="KL between Gaussians", atol=1e-8, rtol=1e-6,
                          blocked=["gan_lessons.theory.kl_gaussians"])


def check_generator_penalty(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(p_data, p_g, loss) -> float``: the penalty of the ``"saturating"`` or
    ``"non-saturating"`` generator loss against D* for two probability vectors (theory.generator_penalty)."""
    rng = np.random.default_rng(11)
    a, b = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
    cases = [
        Case("p_data = p_g = [0.2, 0.3, 0.5], saturating (answer 0)",
             (np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5]), "saturating")),
        Case("p_data = p_g = [0.2, 0.3, 0.5], non-saturating (answer 0)",
             (np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5]), "non-saturating")),
        Case("p_data = [0.5, 0.5], p_g = [1, 0], saturating (a missed outcome: remember 0 log 0 = 0)",
             (np.array([0.5, 0.5]), np.array([1.0, 0.0]), "saturating")),
        Case("p_data = [0.5, 0.5], p_g = [1, 0], non-saturating",
             (np.array([0.5, 0.5]), np.array([1.0, 0.0]), "non-saturating")),
        Case("p_data = [1, 0], p_g = [0.5, 0.5], saturating (at most log 2 per unit of p_g mass)",
             (np.array([1.0, 0.0]), np.array([0.5, 0.5]), "saturating")),
        Case("p_data = [1, 0], p_g = [0.5, 0.5], non-saturating (p_g has mass where p_data = 0: inf)",
             (np.array([1.0, 0.0]), np.array([0.5, 0.5]), "non-saturating")),
        Case("two random distributions over 5 outcomes, saturating", (a, b, "saturating")),
        Case("two random distributions over 5 outcomes, non-saturating", (a, b, "non-saturating")),
    ]
    return check_function(student_fn, _reference_penalty, cases, name="generator penalty against D*", atol=1e-8,
                          rtol=1e-6, blocked=["gan_lessons.theory.generator_penalty_discrete",
                                              "gan_lessons.theory.generator_penalty_terms"])


def check_js_distance_gap(student_fn: Callable) -> CheckResult:
    """Check ``student_fn(p, q, r) -> float``: d(p, q) + d(q, r) - d(p, r) for the JS distance d = sqrt(JSD)."""
    rng = np.random.default_rng(12)
    cases = [
        Case("p = [1, 0], q = [0.5, 0.5], r = [0, 1] (the JSD itself gives a negative gap here)",
             (np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.array([0.0, 1.0]))),
        Case("p = q = r = [0.25, 0.75] (answer 0)",
             (np.array([0.25, 0.75]), np.array([0.25, 0.75]), np.array([0.25, 0.75]))),
        Case("p = r = [0.9, 0.1], q = [0.1, 0.9] (answer 2 d(p, q))",
             (np.array([0.9, 0.1]), np.array([0.1, 0.9]), np.array([0.9, 0.1]))),
        Case("three random distributions over 4 outcomes", tuple(rng.dirichlet(np.ones(4), size=3))),
    ]
    return check_function(student_fn, _reference_js_gap, cases, name="JS distance triangle gap", atol=1e-8,
                          rtol=1e-6, blocked=["gan_lessons.theory.js_divergence_discrete",
                                              "gan_lessons.theory.js_distance_discrete"])


def _reference_penalty(p_data: np.ndarray, p_g: np.ndarray, loss: str) -> float:
    return theory.generator_penalty_discrete(p_data, p_g, loss)


def _reference_js_gap(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> float:
    d = theory.js_distance_discrete  # looked up at call time: blockable
    return d(p, q) + d(q, r) - d(p, r)


def _reference_d_star(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    values = theory.optimal_discriminator_values(p_data.numpy(), p_g.numpy())  # looked up at call time: blockable
    return torch.as_tensor(values, dtype=p_data.dtype)


def _reference_jsd(p: np.ndarray, q: np.ndarray) -> float:
    return theory.js_divergence_discrete(p, q)


def _reference_kl(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    return theory.kl_gaussians(mu1, sigma1, mu2, sigma2)


def _wrong_d_star_swapped(p_data, p_g):
    """returns p_g / (p_data + p_g), the probability of FAKE"""
    total = p_data + p_g
    return torch.where(total > 0, p_g / total, torch.full_like(total, 0.5))


def _wrong_d_star_ratio(p_data, p_g):
    """returns the density ratio p_data / p_g"""
    return p_data / p_g


def _wrong_d_star_no_zero_case(p_data, p_g):
    """divides by p_data + p_g without the 1/2 convention where both are 0 (nan there)"""
    return p_data / (p_data + p_g)


def _jsd_terms(p, q):
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(p / m), 0.0), np.where(q > 0, q * np.log(q / m), 0.0)


def _wrong_jsd_bits(p, q):
    """uses log base 2 (bits) instead of nats"""
    a, b = _jsd_terms(p, q)
    return float(0.5 * (a.sum() + b.sum()) / math.log(2))


def _wrong_jsd_no_half(p, q):
    """forgets the 1/2: KL(p || m) + KL(q || m)"""
    a, b = _jsd_terms(p, q)
    return float(a.sum() + b.sum())


def _wrong_jsd_kl(p, q):
    """computes KL(p || q) instead (inf or nan on disjoint supports)"""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nansum(p * np.log(p / q)))


def _kl(mu1, sigma1, mu2, sigma2):
    return math.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5


def _wrong_kl_swapped(mu1, sigma1, mu2, sigma2):
    """computes KL(q || p): the arguments swapped"""
    return _kl(mu2, sigma2, mu1, sigma1)


def _wrong_kl_variance(mu1, sigma1, mu2, sigma2):
    """treats sigma as a variance"""
    return _kl(mu1, math.sqrt(sigma1), mu2, math.sqrt(sigma2))


def _penalty_terms(p_data, p_g):
    m = 0.5 * (p_data + p_g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return p_g * np.log(p_g / m), p_g * np.log(m / p_data)


def _wrong_penalty_nan(p_data, p_g, loss):
    """no 0 log 0 = 0: nan where p_g = 0"""
    sat, ns = _penalty_terms(p_data, p_g)
    return float((sat if loss == "saturating" else ns).sum())


def _wrong_penalty_swapped(p_data, p_g, loss):
    """gives the other loss's penalty"""
    sat, ns = _penalty_terms(p_data, p_g)
    keep = p_g > 0
    return float((ns if loss == "saturating" else sat)[keep].sum())


def _wrong_penalty_raw_loss(p_data, p_g, loss):
    """returns the loss against D* (E log(1 - D*) or E[-log D*]) without subtracting its value at p_g = p_data"""
    sat, ns = _penalty_terms(p_data, p_g)
    keep = p_g > 0
    return float((sat[keep].sum() - math.log(2)) if loss == "saturating" else (ns[keep].sum() + math.log(2)))


def _js_distance(p, q):
    a, b = _jsd_terms(p, q)
    return math.sqrt(max(0.5 * (a.sum() + b.sum()), 0.0))


def _wrong_gap_jsd(p, q, r):
    """uses the JSD itself instead of its square root"""
    return sum(_js_distance(*pair) ** 2 for pair in ((p, q), (q, r))) - _js_distance(p, r) ** 2


def _wrong_gap_order(p, q, r):
    """subtracts d(p, q) instead of d(p, r)"""
    return _js_distance(p, r) + _js_distance(q, r) - _js_distance(p, q)


WRONG_IMPLEMENTATIONS = {
    "check_generator_penalty": [_wrong_penalty_nan, _wrong_penalty_swapped, _wrong_penalty_raw_loss],
    "check_js_distance_gap": [_wrong_gap_jsd, _wrong_gap_order],
    "check_optimal_discriminator": [_wrong_d_star_swapped, _wrong_d_star_ratio, _wrong_d_star_no_zero_case],
    "check_js_divergence": [_wrong_jsd_bits, _wrong_jsd_no_half, _wrong_jsd_kl],
    "check_kl_gaussians": [_wrong_kl_swapped, _wrong_kl_variance],
}
