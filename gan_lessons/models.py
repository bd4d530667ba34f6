"""Networks used across the book. Small and explicit: every layer is visible in ``print(model)``."""
from __future__ import annotations

from torch import Tensor, nn

__all__ = ["mlp", "MLPGenerator", "MLPDiscriminator"]

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}


def mlp(in_dim: int, out_dim: int, hidden: int = 128, depth: int = 2, activation: str = "relu",
        norm: str | None = None) -> nn.Sequential:
    """in_dim -> [Linear -> (norm) -> act] x depth -> Linear -> out_dim.

    norm: None | 'batch' | 'layer' (WGAN-GP critics use 'layer' or None, never 'batch').
    """
    for name, value, low in (("in_dim", in_dim, 1), ("out_dim", out_dim, 1), ("hidden", hidden, 1),
                             ("depth", depth, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: use one of {', '.join(_ACTIVATIONS)}")
    if norm not in (None, "batch", "layer"):
        raise ValueError(f"unknown norm {norm!r}: use None, 'batch' or 'layer'")
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers.append(nn.Linear(width, hidden))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(hidden))
        elif norm == "layer":
            layers.append(nn.LayerNorm(hidden))
        layers.append(_ACTIVATIONS[activation]())
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """G: z [batch, latent_dim] -> x [batch, data_dim], a plain MLP with a linear output."""

    def __init__(self, latent_dim: int = 2, data_dim: int = 2, hidden: int = 128, depth: int = 2,
                 activation: str = "relu") -> None:
        super().__init__()
        self.latent_dim, self.data_dim = latent_dim, data_dim
        self.net = mlp(latent_dim, data_dim, hidden, depth, activation)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape [batch, {self.latent_dim}], got {tuple(z.shape)}")
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """D: x [batch, data_dim] -> logits [batch] (raw scores; apply sigmoid for a probability)."""

    def __init__(self, data_dim: int = 2, hidden: int = 128, depth: int = 2, activation: str = "leaky_relu",
                 norm: str | None = None) -> None:
        super().__init__()
        self.data_dim = data_dim
        self.net = mlp(data_dim, 1, hidden, depth, activation, norm)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.data_dim:
            raise ValueError(f"x must have shape [batch, {self.data_dim}], got {tuple(x.shape)}")
        return self.net(x).squeeze(1)  # [batch]
