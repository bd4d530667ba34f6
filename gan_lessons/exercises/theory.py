"""Checks for chapters "The optimal discriminator" and "Divergences: KL and JSD"."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .. import theory
from ._core import Case, CheckResult, check_function

__all__ = ["check_optimal_discriminator", "check_js_divergence", "check_kl_gaussians"]


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


WRONG_IMPLEMENTATIONS = {
    "check_optimal_discriminator": [_wrong_d_star_swapped, _wrong_d_star_ratio, _wrong_d_star_no_zero_case],
    "check_js_divergence": [_wrong_jsd_bits, _wrong_jsd_no_half, _wrong_jsd_kl],
    "check_kl_gaussians": [_wrong_kl_swapped, _wrong_kl_variance],
}
