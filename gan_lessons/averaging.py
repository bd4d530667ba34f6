"""Averages of weights that the trainer keeps on request: the EMA of G and historical averaging.

* EMA (``TrainConfig(ema_decay=...)``): theta_ema <- decay * theta_ema + (1 - decay) * theta_G after every G
  update; sampling uses the average (Yazici et al. 2019), which is smoother than the last iterate.
* Historical averaging (``TrainConfig(historical_weight=lambda)``, Salimans et al. 2016, sec. 3.3): each
  player pays lambda ||theta - (1/t) sum_{i<t} theta_i||^2; the mean of its past weights is a constant.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from .checks import check_module

__all__ = ["trainable", "ema_copy", "ema_update", "historical_state", "add_historical_gradient",
           "fold_into_average"]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``model`` that require gradients, in ``parameters()`` order."""
    check_module("model", model)
    return [p for p in model.parameters() if p.requires_grad]


def ema_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` (eval mode, no gradients) to hold the moving average."""
    check_module("model", model)
    return copy.deepcopy(model).eval().requires_grad_(False)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta; buffers (batch-norm statistics) are copied."""
    check_module("ema", ema)
    check_module("model", model)
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def historical_state(G: nn.Module, D: nn.Module) -> dict[str, Any]:
    """The running means of both players' weights (their initial weights so far) and how many went in."""
    check_module("G", G)
    check_module("D", D)
    return {"G": _param_copy(G), "D": _param_copy(D), "count_G": 1, "count_D": 1}


def add_historical_gradient(net: nn.Module, averages: dict | None, role: str, weight: float) -> None:
    """Add the gradient of  weight * ||theta - mean||^2, i.e. 2 weight (theta - mean), to ``net``'s gradients.

    ``averages`` None (historical averaging off) does nothing; role is 'G' or 'D'.
    """
    if averages is None:
        return
    _check_averages(averages, role)
    with torch.no_grad():
        for p, avg in zip(trainable(net), averages[role]):
            if p.grad is not None:
                p.grad.add_(p - avg, alpha=2 * weight)


def fold_into_average(net: nn.Module, averages: dict | None, role: str) -> None:
    """After an update: mean <- mean + (theta - mean) / (t + 1), the running mean of all weights so far."""
    if averages is None:
        return
    _check_averages(averages, role)
    averages[f"count_{role}"] += 1
    with torch.no_grad():
        for p, avg in zip(trainable(net), averages[role]):
            avg.lerp_(p, 1.0 / averages[f"count_{role}"])


def _check_averages(averages: Any, role: str) -> None:
    if not isinstance(averages, dict) or role not in ("G", "D") or role not in averages \
            or f"count_{role}" not in averages:
        keys = sorted(map(str, averages)) if isinstance(averages, dict) else "-"
        raise ValueError(f"averages must be the dict of historical_state(G, D) and role 'G' or 'D', got role "
                         f"{role!r} and {type(averages).__name__} with keys {keys}")


def _param_copy(model: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in trainable(model)]
