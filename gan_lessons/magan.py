"""The adaptive hinge margin of MAGAN (Wang et al. 2017, "Margin Adaptation for GANs"), for the one trainer.

An energy-based GAN (Zhao et al. 2017) scores samples with an energy E(x) >= 0, low on real data. Its losses
are hinge losses with a margin m::

    L_D = E[ E(x) ] + E[ relu(m - E(G(z))) ]          L_G = E[ E(G(z)) ]

A fake whose energy is already above m teaches D nothing, so m decides how hard D pushes; a fixed m is one
more knob to tune. MAGAN adapts it: after every epoch, with S_real and S_fake the summed energies of the epoch's
real and fake samples and N the number of real samples, ::

    if S_real / N < m  and  S_real < S_fake:      m <- S_real / N

the margin falls to the real data's mean energy whenever D scores the real data below the margin and below the
fakes. It never grows. Here E(x) = softplus(D(x)) turns any discriminator's output into an energy, and an epoch
is ``epoch`` discriminator updates (the test beds draw fresh samples forever).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_int, check_positive
from .objectives import Objective

__all__ = ["MarginObjective", "energy"]


def energy(out: Tensor) -> Tensor:
    """E = softplus(D's output) >= 0, elementwise: the energy of each sample (low = judged real)."""
    return F.softplus(out)


@dataclass(eq=False)
class MarginObjective(Objective):
    """The energy-based GAN with a hinge margin, fixed (``adaptive=False``) or adapted as in MAGAN.

    The margin is kept per ensemble member (D's output [batch, members] gives m [members]); ``trace`` holds
    (discriminator updates so far, m) after every epoch, and :meth:`state_dict` puts the margin, the epoch's
    sums and the trace into the trainer's checkpoints, so a resumed or cached run continues with its margin.
    """

    margin: float = 1.0  # m at the start (for ``adaptive=False``, always)
    adaptive: bool = True  # MAGAN's rule after every epoch; False: the fixed-margin EBGAN
    epoch: int = 100  # discriminator updates per epoch (the rule's period)
    probabilities = False
    m: Tensor | None = field(default=None, init=False, repr=False)  # the current margin(s)
    sums: list = field(default_factory=list, init=False, repr=False)  # [S_real, S_fake, N, updates]
    trace: list = field(default_factory=list, init=False, repr=False)  # [(updates, m), ...]

    def __post_init__(self) -> None:
        check_positive("margin", self.margin)
        check_int("epoch", self.epoch, minimum=1)
        if not isinstance(self.adaptive, bool):
            raise TypeError(f"adaptive must be True (MAGAN) or False (a fixed margin), got {self.adaptive!r}")

    def discriminator_loss(self, D, real, fake, rng):
        real_out, fake_out = D(real), D(fake)
        real_e, fake_e = energy(real_out), energy(fake_out)
        if self.m is None:
            self.m = torch.full(real_out.shape[1:], float(self.margin))
            self.sums = [torch.zeros_like(self.m), torch.zeros_like(self.m), 0, 0]
        loss = real_e.mean() + torch.relu(self.m.to(fake_e.device) - fake_e).mean()
        self._count(real_e.detach().sum(0).cpu(), fake_e.detach().sum(0).cpu(), real_out.shape[0])
        return loss, real_out, fake_out

    def generator_loss(self, D, fake, real):
        return energy(D(fake)).mean()

    def _count(self, real_sum: Tensor, fake_sum: Tensor, n: int) -> None:
        s_real, s_fake, count, updates = self.sums
        s_real, s_fake, count, updates = s_real + real_sum, s_fake + fake_sum, count + n, updates + 1
        if updates % self.epoch == 0:
            if self.adaptive:
                mean = s_real / count
                self.m = torch.where((mean < self.m) & (s_real < s_fake), mean, self.m)
            self.trace.append((updates, self.m.clone()))
            s_real, s_fake, count = torch.zeros_like(s_real), torch.zeros_like(s_fake), 0
        self.sums = [s_real, s_fake, count, updates]

    def state_dict(self) -> dict:
        if self.m is None:
            return {}
        return {"m": self.m.clone(), "sums": list(self.sums),
                "trace": [[u, m.clone()] for u, m in self.trace]}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            self.m, self.sums, self.trace = None, [], []
            return
        self.m, self.sums = state["m"].clone(), list(state["sums"])
        self.trace = [(int(u), m.clone()) for u, m in state["trace"]]

    def margins(self) -> tuple[list[int], Tensor]:
        """(discriminator updates at each epoch's end, margins [epochs, *members]) from the trace."""
        if not self.trace:
            raise ValueError("no epoch has ended yet: train for at least `epoch` discriminator updates")
        return [u for u, _ in self.trace], torch.stack([m for _, m in self.trace])
