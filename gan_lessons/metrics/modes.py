"""Mode-collapse metrics on 2D mixtures of Gaussians: modes captured, high-quality fraction, reverse KL.

The standard metrics of the mode-collapse literature (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).
Book: chapter "Mode collapse on 2D Gaussian mixtures".
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..data import GaussianMixture

__all__ = ["nearest_modes", "mode_histogram", "reverse_kl_to_uniform", "mode_collapse_metrics"]


def mode_collapse_metrics(samples: Tensor, mixture: GaussianMixture) -> dict:
    """Modes captured, high-quality fraction and reverse KL of generated samples on a Gaussian mixture.

    With mu_k, sigma_k the mixture's K centres and stds and k(x) = argmin_k |x - mu_k|_2:

    * x is *high quality* (HQ) if |x - mu_{k(x)}|_2 <= 3 sigma_{k(x)};
    * ``modes`` = #{k : k(x) = k for at least one HQ sample x};
    * ``hq_fraction`` = #HQ samples / #samples;
    * ``reverse_kl`` = KL(p || u) = sum_k p_k log(p_k K), where p_k = #{HQ x : k(x) = k} / #HQ is the mode
      histogram of the HQ samples and u = 1/K uniform. Empty modes add 0 (0 log 0 = 0), so it lies in
      [0, log K]: 0 for a perfectly even spread, log K for all HQ samples on one mode. With no HQ sample at
      all, p is undefined and we return log K, the value of total collapse.

    samples: [n, dim] float tensor of generated points (n >= 1, finite). Returns
    ``{"modes": int, "hq_fraction": float, "reverse_kl": float}``.
    """
    counts, n = mode_histogram(samples, mixture), samples.shape[0]
    return {
        "modes": int((counts > 0).sum()),
        "hq_fraction": float(counts.sum()) / n,
        "reverse_kl": reverse_kl_to_uniform(counts),
    }


def mode_histogram(samples: Tensor, mixture: GaussianMixture) -> Tensor:
    """counts [K] (int64): how many high-quality samples have mode k as their nearest centre."""
    idx, hq = nearest_modes(samples, mixture)
    return torch.bincount(idx[hq], minlength=mixture.n_modes)


def nearest_modes(samples: Tensor, mixture: GaussianMixture) -> tuple[Tensor, Tensor]:
    """(k(x) [n] int64, high_quality [n] bool): nearest centre by Euclidean distance, and |x - mu_k| <= 3 sigma_k."""
    _check_samples(samples, mixture)
    x = samples.detach().to("cpu", torch.float64)
    mu = torch.tensor(mixture.means, dtype=torch.float64)  # [K, dim]
    std = torch.tensor(mixture.stds, dtype=torch.float64)  # [K]
    dist = torch.cdist(x, mu)  # [n, K]
    d_min, idx = dist.min(dim=1)
    return idx, d_min <= 3.0 * std[idx]


def reverse_kl_to_uniform(counts: Tensor) -> float:
    """KL(p || uniform) = sum_{k: p_k > 0} p_k log(p_k K) for p = counts / sum(counts); log K if all are 0."""
    if not isinstance(counts, Tensor) or counts.dim() != 1 or counts.numel() == 0:
        raise ValueError("counts must be a non-empty 1D tensor of per-mode counts")
    counts = counts.to(torch.float64)
    if (counts < 0).any() or not torch.isfinite(counts).all():
        raise ValueError("counts must be finite and non-negative")
    k, total = counts.numel(), float(counts.sum())
    if total == 0:
        return math.log(k)
    p = counts[counts > 0] / total
    return max(float((p * torch.log(p * k)).sum()), 0.0)  # clamp -1e-16 rounding to 0


def _check_samples(samples: object, mixture: object) -> None:
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"mixture must be a data.GaussianMixture (e.g. data.ring()), got {type(mixture).__name__}")
    if not isinstance(samples, Tensor):
        raise TypeError(f"samples must be a torch.Tensor [n, {mixture.dim}], got {type(samples).__name__}")
    if samples.dim() != 2 or samples.shape[1] != mixture.dim or samples.shape[0] == 0:
        raise ValueError(f"samples must have shape [n, {mixture.dim}] with n >= 1, got {tuple(samples.shape)}; "
                         "for an ensemble [n, members, dim] pass one member at a time, samples[:, m]")
    if not samples.is_floating_point():
        raise TypeError(f"samples must be floating point, got {samples.dtype}: call .float() first")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contain NaN or inf: the generator diverged; metrics need finite points")
