"""The loss pairs the one trainer can train with, and the one registry that names them.

An :class:`Objective` says what D and G minimise; :class:`gan_lessons.train.GANTrainer` does the rest. Every
chapter, the command line and the JSON summaries use the names of :data:`OBJECTIVES`::

    minimax | ns | wasserstein | wgan-gp | hinge | feature-matching | unrolled

``TrainConfig(loss=NAME)`` picks one with its default settings; ``make_objective(NAME, **options)`` (or the
class itself) gives one with other settings, passed to the trainer as ``objective=``. A new GAN variant is a
new subclass, not a new training loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from . import losses, spectral
from .checks import check_int, check_positive, check_real

__all__ = [
    "Objective",
    "JSObjective",
    "WassersteinObjective",
    "HingeObjective",
    "FeatureMatchingObjective",
    "UnrolledObjective",
    "OrthogonalRegularisedObjective",
    "feature_matching_loss",
    "OBJECTIVES",
    "make_objective",
]


class Objective:
    """A loss pair for the trainer. Subclass it to try a new GAN variant without a new training loop.

    ``D`` below is the discriminator already bound to its conditioning labels (if any): ``D(x) -> logits``.
    """

    probabilities = True  # True: D outputs logits of a probability, history records mean sigmoid(D)

    def discriminator_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                           rng: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Return (loss to minimise, D(real), D(fake))."""
        raise NotImplementedError("subclasses of Objective define discriminator_loss")

    def generator_loss(self, D: Callable[[Tensor], Tensor], fake: Tensor, real: Tensor) -> Tensor:
        """Return the generator's loss to minimise for fakes ``fake`` (with grad) and a real batch."""
        raise NotImplementedError("subclasses of Objective define generator_loss")

    def state_dict(self) -> dict:
        """What the objective learns while training (e.g. an adaptive margin), saved in checkpoints: none here."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; a stateless objective accepts only an empty state."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no training state, but the checkpoint holds "
                             f"{sorted(state)}: it was written with another objective")


@dataclass
class JSObjective(Objective):
    """The original GAN: L_D = -E[log D(x)] - E[log(1 - D(G(z)))]; G saturating or non-saturating.

    ``r1_weight`` = gamma > 0 adds the R1 penalty gamma / 2 * E[||grad_x D(x)||^2] at the real batch to L_D
    (Mescheder et al. 2018; :func:`gan_lessons.losses.r1_penalty`): D is pushed to be flat on the data.
    ``r1_every`` = k > 1 makes it lazy (Karras et al. 2020, sec. 3.1): only every k-th call of
    :meth:`discriminator_loss` (the trainer makes one per D update) pays the penalty, k times as strong, so it
    costs its double backward pass once in k updates. The count is the objective's state (:meth:`state_dict`):
    a resumed run penalises the same updates.
    """

    saturating: bool = False  # True: L_G = E[log(1 - D(G(z)))];  False: L_G = -E[log D(G(z))]
    real_label: float = 1.0  # one-sided label smoothing: 0.9 in Salimans et al. 2016
    r1_weight: float = 0.0  # gamma of the R1 penalty on real data; 0 = none
    r1_every: int = 1  # k: the R1 penalty on every k-th D update only, times k (1 = every update)
    d_updates: int = field(default=0, init=False, repr=False, compare=False)  # D losses computed so far

    def __post_init__(self) -> None:
        if not (isinstance(self.real_label, (int, float)) and 0 < self.real_label <= 1):
            raise ValueError(f"real_label must be in (0, 1], got {self.real_label!r} (0.9 is the usual smoothing)")
        check_real("r1_weight", self.r1_weight, 0.0)  # gamma >= 0 (10 in Mescheder et al., 1 for the DCGAN here)
        check_int("r1_every", self.r1_every, minimum=1)  # k >= 1 (16 in StyleGAN2)

    def discriminator_loss(self, D, real, fake, rng):
        penalise = bool(self.r1_weight) and self.d_updates % self.r1_every == 0  # lazy R1: every k-th update
        self.d_updates += 1
        if penalise:
            real = real.detach().requires_grad_(True)  # R1 differentiates D(real) with respect to real
        real_out, fake_out = D(real), D(fake)
        loss = losses.minimax_discriminator_loss(real_out, fake_out, self.real_label)
        if penalise:
            loss = loss + self.r1_every * self.r1_weight / 2 * losses.r1_penalty(real_out, real)
        return loss, real_out, fake_out

    def state_dict(self) -> dict:
        """Lazy R1 (``r1_every`` > 1): the count of D updates, which decides the next penalised one."""
        return {"d_updates": self.d_updates} if self.r1_every > 1 else {}

    def load_state_dict(self, state: dict) -> None:
        if not state:  # nothing counted: no lazy R1, or a checkpoint written before it (count from 0)
            return
        count = state.get("d_updates")
        if set(state) != {"d_updates"} or isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{type(self).__name__}: the checkpoint's objective state {state!r} is not a count "
                             "of D updates {'d_updates': n >= 0}: it was written with another objective")
        if self.r1_every == 1:
            raise ValueError(f"the checkpoint counts D updates for lazy R1, but this {type(self).__name__} has "
                             "r1_every=1: give the trainer the objective settings that wrote it "
                             "(e.g. objective=dataclasses.replace(run.objective))")
        self.d_updates = count

    def generator_loss(self, D, fake, real):
        out = D(fake)
        return losses.minimax_generator_loss(out) if self.saturating else losses.modified_generator_loss(out)


@dataclass
class WassersteinObjective(Objective):
    """WGAN: L_D = E[D(G(z))] - E[D(x)] (+ lambda * GP), L_G = -E[D(G(z))].

    ``per_member=True`` takes the penalty's gradient norm per ensemble member (inputs [batch, members, dim]),
    so the members of an ensemble never mix (:func:`gan_lessons.losses.wasserstein_gradient_penalty`).
    """

    gp_weight: float = 0.0  # lambda of the gradient penalty at interpolates; 0 = plain WGAN (clip instead)
    per_member: bool = False  # ensemble layout: one gradient norm per (sample, member)
    probabilities = False

    def __post_init__(self) -> None:
        if not (isinstance(self.gp_weight, (int, float)) and self.gp_weight >= 0):
            raise ValueError(f"gp_weight must be a number >= 0 (0 = no penalty), got {self.gp_weight!r}")

    def discriminator_loss(self, D, real, fake, rng):
        real_out, fake_out = D(real), D(fake)
        loss = losses.wasserstein_critic_loss(real_out, fake_out)
        if self.gp_weight > 0:
            gp = losses.wasserstein_gradient_penalty(D, real, fake, generator=rng, per_member=self.per_member)
            loss = loss + self.gp_weight * gp
        return loss, real_out, fake_out

    def generator_loss(self, D, fake, real):
        return losses.wasserstein_generator_loss(D(fake))


@dataclass
class HingeObjective(Objective):
    """Hinge GAN: L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], L_G = -E[D(G(z))]."""

    probabilities = False

    def discriminator_loss(self, D, real, fake, rng):
        real_out, fake_out = D(real), D(fake)
        return losses.hinge_discriminator_loss(real_out, fake_out), real_out, fake_out

    def generator_loss(self, D, fake, real):
        return losses.hinge_generator_loss(D(fake))


@dataclass
class FeatureMatchingObjective(JSObjective):
    """Feature matching (Salimans et al. 2016, sec. 3.1): D trains as in the original GAN, G matches the
    mean of D's last hidden layer f on real data:  L_G = || E_x f(x) - E_z f(G(z)) ||_2^2.

    The discriminator must have a ``features(x)`` method (``models.DCGANDiscriminator`` has one).
    """

    def generator_loss(self, D, fake, real):
        features = getattr(D, "features", None)
        if features is None:
            raise TypeError("feature matching needs a discriminator with a features(x) method "
                            "(e.g. models.DCGANDiscriminator), the layer whose mean G matches")
        with torch.no_grad():
            target = features(real)  # [batch, k] features of a real batch: a constant for G
        return feature_matching_loss(target, features(fake))


@dataclass
class UnrolledObjective(Objective):
    """Unrolled GAN (Metz et al. 2017): G descends L_G(theta_G, theta_D^K), D unrolled K steps ahead.

    theta_D^0 = theta_D,  theta_D^{k+1} = theta_D^k - eta * grad_{theta_D} L_D(theta_D^k, theta_G)
    (plain gradient steps on the same real batch and fakes), with the graph kept (``create_graph``) so the
    gradient reaches G through every unrolled step: G sees how D *would react* to its move. D itself is
    updated as usual with the base objective's loss. Metz et al. unroll with Adam and fresh batches; SGD
    steps on one batch keep the surrogate simple. In the ensemble layout ``[batch, members, dim]`` the
    mean loss is multiplied by members, so each member's unrolled step is its own (see ensemble docs).
    """

    base: Objective = field(default_factory=JSObjective)  # the loss pair being unrolled (NS by default)
    steps: int = 5  # K, unrolling steps (5 in VEEGAN's comparison)
    lr: float = 0.01  # eta of the unrolled SGD steps (0.5 made every seed collapse in our runs)

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=0)
        check_positive("lr", self.lr)
        if not isinstance(self.base, Objective):
            raise TypeError(f"base must be an Objective (e.g. objectives.JSObjective()), got "
                            f"{type(self.base).__name__}")
        # the look-ahead calls the base's D loss `steps` extra times: they would count as D updates of a lazy R1
        if getattr(self.base, "r1_weight", 0) and getattr(self.base, "r1_every", 1) > 1:
            raise ValueError("the unrolled look-ahead would count as D updates of a lazy R1 penalty: give the "
                             "base objective r1_every=1")
        self.probabilities = self.base.probabilities

    def discriminator_loss(self, D, real, fake, rng):
        return self.base.discriminator_loss(D, real, fake, rng)

    def generator_loss(self, D, fake, real):
        if not isinstance(D, nn.Module):
            raise TypeError("UnrolledObjective needs the discriminator module itself (no conditioning labels)")
        names = [n for n, _ in D.named_parameters()]
        params = [p.detach().requires_grad_(True) for _, p in D.named_parameters()]
        scale = real.shape[1] if real.dim() == 3 else 1  # ensemble: per-member losses, not their mean

        def unrolled(ps: Sequence[Tensor]) -> Callable[[Tensor], Tensor]:
            return lambda x: functional_call(D, dict(zip(names, ps)), (x,))

        for _ in range(self.steps):
            loss_d, _, _ = self.base.discriminator_loss(unrolled(params), real, fake, None)
            grads = torch.autograd.grad(loss_d * scale, params, create_graph=True)
            params = [p - self.lr * g for p, g in zip(params, grads)]
        return self.base.generator_loss(unrolled(params), fake, real)


@dataclass(eq=False)
class OrthogonalRegularisedObjective(JSObjective):
    """The original game with BigGAN's orthogonal regularisation of G (Brock et al. 2019, sec. 3.1)::

        L_G = (the JS objective's L_G) + R_beta(G)      R_beta: :func:`spectral.orthogonal_penalty`

    L_D is unchanged. ``model`` is the generator the trainer trains (the objective needs its weights).
    """

    model: nn.Module = field(default=None, repr=False)  # G, as the trainer trains it
    beta: float = 1e-4  # BigGAN's strength

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.model, nn.Module):
            raise TypeError(f"model must be the generator the trainer trains, got {type(self.model).__name__}")
        spectral.orthogonal_penalty(self.model, self.beta)  # checks beta and that G has weights to regularise

    def generator_loss(self, D, fake, real):
        return super().generator_loss(D, fake, real) + spectral.orthogonal_penalty(self.model, self.beta)


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """L_G = || mean_i f(x_i) - mean_j f(G(z_j)) ||_2^2  (Salimans et al. 2016, sec. 3.1).

    real_features [n, k] and fake_features [m, k]: one row of discriminator features per sample; the two
    batch means are compared, so G must match the statistics of the data, not any single digit.
    """
    for name, t in (("real_features", real_features), ("fake_features", fake_features)):
        if not isinstance(t, Tensor) or t.dim() != 2 or t.shape[0] == 0 or not t.is_floating_point():
            got = (tuple(t.shape), t.dtype) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a float tensor [batch, features] with batch >= 1, got {got}")
    if real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"real and fake features must have the same width, got {real_features.shape[1]} "
                         f"and {fake_features.shape[1]}")
    return (real_features.mean(0) - fake_features.mean(0)).pow(2).sum()


OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "minimax": partial(JSObjective, saturating=True),  # Goodfellow et al. 2014, eq. 1
    "ns": JSObjective,  # the non-saturating generator loss, sec. 3 of the same paper
    "wasserstein": WassersteinObjective,  # WGAN with weight clipping (TrainConfig.clip_value)
    "wgan-gp": partial(WassersteinObjective, gp_weight=10.0),  # lambda = 10, Gulrajani et al. 2017
    "hinge": HingeObjective,  # Lim & Ye 2017; Miyato et al. 2018
    "feature-matching": FeatureMatchingObjective,  # Salimans et al. 2016
    "unrolled": UnrolledObjective,  # Metz et al. 2017
}


def make_objective(name: str, **options) -> Objective:
    """The objective :data:`OBJECTIVES` names, with ``options`` for its fields (e.g. ``gp_weight=5``)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown loss {name!r}: use one of {', '.join(OBJECTIVES)}")
    try:
        return OBJECTIVES[name](**options)
    except TypeError as err:
        raise TypeError(f"objective {name!r} does not take these options {sorted(options)}: {err}") from None
