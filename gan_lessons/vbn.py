"""Virtual batch normalisation (Salimans et al. 2016, sec. 3.4) for the book's DCGAN generator.

Batch norm makes every sample's output depend on the other samples of its batch: with a small batch, the
generator's output for one z changes with whatever else was drawn. Virtual batch norm normalises each example x
with the statistics of a *reference batch*, fixed once at the start, together with x itself::

    mu(x)   = c mean_x(h) + (1 - c) mu_ref          c = 1 / (R + 1), R the reference batch's size
    m2(x)   = c mean_x(h^2) + (1 - c) m2_ref         (per channel; means over the example's pixels)
    VBN(h)  = gamma (h - mu(x)) / sqrt(m2(x) - mu(x)^2 + eps) + beta

mu_ref and m2_ref are the reference batch's own per-channel statistics at that layer, recomputed in every
forward pass (the reference codes run through the network with the batch, so gradients flow through them, as in
the paper), and the reference examples are normalised by them alone. No running averages: train and eval
behave alike. The price is a forward pass over the reference batch at every call.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .checks import check_int, check_positive

__all__ = ["VirtualBatchNorm2d", "VirtualBatchNormGenerator"]


class VirtualBatchNorm2d(nn.Module):
    """VBN over channels of h [reference + n, C, H, W]: the first ``reference`` rows are the reference batch."""

    def __init__(self, num_features: int, reference: int, eps: float = 1e-5) -> None:
        super().__init__()
        check_int("num_features", num_features, minimum=1)
        check_int("reference", reference, minimum=1)
        self.num_features, self.reference, self.eps = num_features, reference, check_positive("eps", eps)
        self.weight = nn.Parameter(torch.ones(num_features))  # gamma
        self.bias = nn.Parameter(torch.zeros(num_features))  # beta

    def forward(self, h: Tensor) -> Tensor:
        if h.dim() != 4 or h.shape[1] != self.num_features or h.shape[0] <= self.reference:
            raise ValueError(f"h must be [reference ({self.reference}) + n >= 1, {self.num_features}, H, W] with the "
                             f"reference batch first, got {tuple(h.shape)}")
        h = h.float()  # statistics in fp32 also under bf16 autocast
        ref, x = h[:self.reference], h[self.reference:]
        mu_ref, m2_ref = ref.mean((0, 2, 3)), ref.pow(2).mean((0, 2, 3))  # [C]
        c = 1.0 / (self.reference + 1)
        mu = c * x.mean((2, 3)) + (1 - c) * mu_ref  # [n, C]: the virtual batch of each example
        m2 = c * x.pow(2).mean((2, 3)) + (1 - c) * m2_ref
        out_ref = (ref - mu_ref[:, None, None]) / (m2_ref - mu_ref ** 2 + self.eps).sqrt()[:, None, None]
        out_x = (x - mu[:, :, None, None]) / (m2 - mu ** 2 + self.eps).clamp_min(self.eps).sqrt()[:, :, None, None]
        return torch.cat([out_ref, out_x]) * self.weight[:, None, None] + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f"{self.num_features}, reference={self.reference}, eps={self.eps}"


class VirtualBatchNormGenerator(nn.Module):
    """A generator whose every ``nn.BatchNorm2d`` is replaced by :class:`VirtualBatchNorm2d` (same gamma, beta),
    with a fixed reference batch of ``reference`` latent codes (drawn from N(0, I) with ``seed``, kept as a buffer):
    G_vbn(z) = G(concat(reference codes, z)) without the reference rows."""

    def __init__(self, generator: nn.Module, reference: int = 64, seed: int = 0) -> None:
        super().__init__()
        latent = getattr(generator, "latent_dim", None)
        if not isinstance(generator, nn.Module) or not isinstance(latent, int):
            raise TypeError("generator must be a generator module with a latent_dim (e.g. models.DCGANGenerator)")
        if getattr(generator, "n_classes", 0):
            raise ValueError("virtual batch norm is written here for unconditional generators (n_classes=0)")
        check_int("reference", reference, minimum=1)
        found = [(name, m) for name, m in generator.named_modules() if isinstance(m, nn.BatchNorm2d)]
        if not found:
            raise ValueError("the generator has no nn.BatchNorm2d layer to make virtual")
        for name, bn in found:
            vbn = VirtualBatchNorm2d(bn.num_features, reference, bn.eps)
            with torch.no_grad():
                vbn.weight.copy_(bn.weight)
                vbn.bias.copy_(bn.bias)
            parent, _, attr = name.rpartition(".")
            setattr(generator.get_submodule(parent) if parent else generator, attr, vbn)
        self.G, self.latent_dim, self.n_classes, self.reference_size = generator, latent, 0, reference
        self.register_buffer("reference", torch.randn(reference, latent, generator=torch.Generator().manual_seed(seed)))

    def forward(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be [n, {self.latent_dim}], got {getattr(z, 'shape', type(z).__name__)}")
        out = self.G(torch.cat([self.reference.to(z.dtype), z]))
        return out[self.reference_size:]
