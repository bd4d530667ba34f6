"""An encoder against mode missing: the mode-regularised GAN (Che et al. 2017), for the ensemble layout.

Book: chapter "GANs with an encoder and with structured codes". A plain GAN's generator is only ever told
"look real" at the points it already makes; a mode it never visits sends it no signal. The mode-regularised
GAN adds an encoder E: data -> codes and asks G to *reconstruct every data point*, x ~ G(E(x)). A data point
of a missing mode reconstructs badly, so the reconstruction loss pulls G's range towards it:

    L_D      = -E_x[log D(x)] - E_z[log(1 - D(G(z)))]                           (the original D)
    L_{G,E}  = -E_z[log D(G(z))]                                                 (the non-saturating G)
               + lambda_1 E_x ||x - G(E(x))||^2                                  (geometric regulariser)
               + lambda_2 E_x[-log D(G(E(x)))]                                   (mode regulariser)

G and E are one module (:class:`EncodedGenerator`), so the trainer's one generator optimiser trains both on
L_{G,E}. The mode regulariser is written in its non-saturating form: the reconstructions must fool D too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from . import losses
from .checks import check_int
from .ensemble import EnsembleGenerator, EnsembleMLP
from .objectives import JSObjective

__all__ = ["EncodedGenerator", "ModeRegularisedObjective", "reconstruction_error", "build"]


class EncodedGenerator(nn.Module):
    """G with an encoder E: ``forward(z) = G(z)``, ``encode(x) = E(x)``, ``reconstruct(x) = G(E(x))``.

    Ensemble layout (:mod:`gan_lessons.ensemble`): z [batch, members, latent], x [batch, members, dim].
    """

    def __init__(self, generator: nn.Module, encoder: nn.Module) -> None:
        super().__init__()
        if not isinstance(generator, nn.Module) or not isinstance(encoder, nn.Module):
            raise TypeError("generator and encoder must be torch.nn.Module instances")
        self.generator, self.encoder = generator, encoder

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def reconstruct(self, x: Tensor) -> Tensor:
        """G(E(x)): the generator's attempt at the data point x."""
        return self.generator(self.encoder(x))


@dataclass(eq=False)
class ModeRegularisedObjective(JSObjective):
    """Che et al. 2017: the NS GAN plus lambda_1 ||x - G(E(x))||^2 + lambda_2 (-log D(G(E(x)))) for G and E.

    ``model`` is the :class:`EncodedGenerator` the trainer trains as G (the objective needs its encoder).
    """

    model: EncodedGenerator = field(default=None, repr=False)
    geometric_weight: float = 1.0  # lambda_1: weight of the squared reconstruction error
    mode_weight: float = 0.1  # lambda_2: weight of the reconstructions' own "look real" loss

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.model, EncodedGenerator):
            raise TypeError("model must be the EncodedGenerator the trainer trains (its encoder reconstructs the "
                            f"data), got {type(self.model).__name__}")
        for name in ("geometric_weight", "mode_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def generator_loss(self, D, fake, real):
        recon = self.model.reconstruct(real)  # [batch, members, dim]
        loss = super().generator_loss(D, fake, real)  # the GAN's own G loss (non-saturating by default)
        loss = loss + self.geometric_weight * reconstruction_error(real, recon)
        if self.mode_weight:
            loss = loss + self.mode_weight * losses.modified_generator_loss(D(recon))
        return loss


def reconstruction_error(x: Tensor, recon: Tensor) -> Tensor:
    """E ||x - x_hat||^2: the squared distance summed over the last (data) axis, averaged over the rest."""
    for name, t in (("x", x), ("recon", recon)):
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() < 2 or t.numel() == 0:
            raise ValueError(f"{name} must be a non-empty float tensor [..., dim], got "
                             f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
    if x.shape != recon.shape:
        raise ValueError(f"x and recon must have one shape, got {tuple(x.shape)} and {tuple(recon.shape)}")
    return (x - recon).pow(2).sum(-1).mean()


def build(members: int, latent_dim: int = 2, data_dim: int = 2, hidden: int = 128, depth: int = 2,
          geometric_weight: float = 1.0, mode_weight: float = 0.1) -> tuple[EncodedGenerator,
                                                                            ModeRegularisedObjective]:
    """(G with its encoder, the objective) for ``members`` independent runs: E is an MLP of G's size."""
    check_int("members", members, minimum=1)
    G = EnsembleGenerator(members, latent_dim, data_dim, hidden, depth, "relu")
    E = EnsembleMLP(members, data_dim, latent_dim, hidden, depth, "leaky_relu")
    model = EncodedGenerator(G, E)
    return model, ModeRegularisedObjective(model=model, geometric_weight=geometric_weight, mode_weight=mode_weight)
