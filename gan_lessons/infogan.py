"""InfoGAN (Chen et al. 2016): a GAN whose generator input carries structured codes c next to the noise, and a
term that makes the codes readable from the images.

InfoGAN maximises the mutual information I(c; G(z, c)) through a variational lower bound (their Lemma 5.1)::

    I(c; G(z, c)) >= L_I = E_{c ~ p(c), x ~ G(z, c)} [log Q(c | x)] + H(c)

with Q a second head on the discriminator's body. For MNIST the codes are one categorical c_1 ~ Uniform{0..9}
(Q: a softmax, log Q is minus the cross-entropy) and two continuous c_2, c_3 ~ U(-1, 1) (Q: a Gaussian with a
fixed std sigma, log Q is minus a weighted squared error). Both players add -lambda * L_I to their loss
(:class:`InfoGANObjective`); the trainer is the book's one loop (:mod:`gan_lessons.train`).

Two changes to the paper's networks let the categorical code find the classes on a short budget (both off by
default): :class:`InfoGANGenerator` with ``late=m`` feeds the m continuous codes to G's 7x7 features instead of its
input layer, where the digit's layout is already chosen, and :class:`InfoGANDiscriminator` with ``shift=s`` shows D
and Q every image moved by up to s pixels (:func:`random_shift`, the translation of DiffAugment, Zhao et al. 2020),
so Q cannot read a code from a pixel-exact mark.

Measured with the book's classifier: :func:`code_accuracy` (the categorical code, matched to digit labels by
the Hungarian method) and :func:`attribute_correlations` (each continuous code swept against the slant and the
ink of the digits it draws).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata
from torch import Tensor, nn

from . import classifier, data, losses, models, train
from .attributes import ink, slant
from .checks import check_choice, check_int, check_positive, check_seed, check_type
from .objectives import Objective
from .runtime import get_device, seed_everything

__all__ = ["LatentCodes", "InfoGANGenerator", "InfoGANDiscriminator", "random_shift", "InfoGANObjective",
           "mutual_information_bound", "train_infogan", "code_accuracy", "noise_share", "within_share",
           "confusion_matrix", "matched_accuracy", "correlation", "attribute_correlations", "ATTRIBUTES"]

MAX_CODES = models.MAX_WIDTH  # the largest noise, category and continuous sizes (checked before allocation)
MAX_SAMPLES = 10**6  # the most codes one call draws


@dataclass
class LatentCodes:
    """The InfoGAN prior and the trainer's noise sampler: ``codes(n, rng)`` returns z [n, dim] laid out as

        z = [ noise ~ N(0, noise_std^2 I_noise_dim) | one-hot c_1, c_1 ~ Uniform{0..categories-1} | c_2.. ~ U(-1, 1) ]

    (62 + 10 + 2 = 74 numbers for MNIST, as in Chen et al. 2016, sec. 6, where noise_std is 1). A small
    ``noise_std`` (0.1 in ClusterGAN, Mukherjee et al. 2019) keeps the ten one-hot corners of G's input far apart
    compared with the noise around each, so the noise cannot move G from one digit to another as cheaply as c_1.
    Every method takes noise in standard units (draws of N(0, I)); :meth:`assemble` scales it by ``noise_std``.

    The memory contract: the trainer does not pass z to the objective, so every call remembers its draw in
    ``last`` and :class:`InfoGANObjective` reads the codes of the fakes from there. This holds because
    ``GANTrainer.update_discriminator`` draws z, makes the fakes from it and keeps them, and
    ``update_generator`` reuses those fakes: the most recent draw is always the one behind the fakes being
    scored. Anything that draws in between (``trainer.sample(n)``) overwrites it; the objective checks that
    the remembered batch has the fakes' size. Give the trainer and the objective the same object.
    """

    noise_dim: int = 62  # incompressible noise z
    categories: int = 10  # size of the one categorical code c_1 (0: none)
    continuous: int = 2  # number of continuous codes c_2, c_3, ... ~ U(-1, 1)
    noise_std: float = 1.0  # standard deviation of the noise part of z
    last: Tensor | None = field(default=None, init=False, repr=False, compare=False)  # the latest draw

    def __post_init__(self) -> None:
        check_int("noise_dim", self.noise_dim, minimum=0, maximum=MAX_CODES)
        check_int("categories", self.categories, minimum=0, maximum=MAX_CODES)
        check_int("continuous", self.continuous, minimum=0, maximum=MAX_CODES)
        check_positive("noise_std", self.noise_std)
        if self.categories + self.continuous == 0:
            raise ValueError("InfoGAN needs at least one code: give categories >= 1 or continuous >= 1")
        if self.categories == 1:
            raise ValueError("categories must be 0 (no categorical code) or >= 2: one category carries no "
                             "information")

    @property
    def dim(self) -> int:
        """Length of z: noise_dim + categories + continuous (the generator's latent_dim)."""
        return self.noise_dim + self.categories + self.continuous

    def __call__(self, n: int, rng: torch.Generator | None = None) -> Tensor:
        """n codes z [n, dim] drawn from ``rng``; remembered in ``last``."""
        check_int("n", n, minimum=1, maximum=MAX_SAMPLES)
        noise = torch.randn(n, self.noise_dim, generator=rng)
        category = torch.randint(max(self.categories, 1), (n,), generator=rng)
        cont = torch.rand(n, self.continuous, generator=rng) * 2 - 1  # U(-1, 1)
        self.last = self.assemble(noise, category, cont)
        return self.last

    def assemble(self, noise: Tensor, category: Tensor | None, cont: Tensor) -> Tensor:
        """z [n, dim] from noise [n, noise_dim] in standard units (scaled here by ``noise_std``), category ids
        [n] (int64; None when categories == 0) and continuous codes [n, continuous]."""
        n = _check_matrix("noise", noise, self.noise_dim).shape[0]
        _check_matrix("cont", cont, self.continuous, n)
        parts = [noise.float() * self.noise_std, cont.float()]
        if self.categories:
            if not isinstance(category, Tensor) or category.shape != (n,) or category.dtype != torch.int64:
                raise ValueError(f"category must be an int64 tensor [{n}] of category ids, got "
                                 f"{getattr(category, 'shape', type(category).__name__)}")
            if n and not (0 <= int(category.min()) and int(category.max()) < self.categories):
                raise ValueError(f"category ids must lie in 0..{self.categories - 1}")
            parts.insert(1, F.one_hot(category, self.categories).float())  # [n, categories]
        return torch.cat(parts, dim=1)  # [n, dim]

    def split(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        """The inverse of :meth:`assemble`: (noise [n, noise_dim] in standard units, category ids [n] or None,
        continuous [n, m])."""
        _check_matrix("z", z, self.dim)
        noise, onehot, cont = z.split([self.noise_dim, self.categories, self.continuous], dim=1)
        return noise / self.noise_std, (onehot.argmax(dim=1) if self.categories else None), cont

    def category_grid(self, per_category: int, seed: int = 0) -> Tensor:
        """Codes [categories * per_category, dim] for a figure with one row per category: row k has c_1 = k,
        column j the same noise in every row, continuous codes 0."""
        if not self.categories:
            raise ValueError("these codes have no categorical part (categories=0)")
        check_int("per_category", per_category, minimum=1, maximum=MAX_SAMPLES // self.categories)
        g = torch.Generator().manual_seed(check_seed("seed", seed))
        noise = torch.randn(per_category, self.noise_dim, generator=g).repeat(self.categories, 1)
        category = torch.arange(self.categories).repeat_interleave(per_category)
        return self.assemble(noise, category, torch.zeros(len(category), self.continuous))

    def traversal(self, code: int, values: Sequence[float] | Tensor, rows: Sequence[int] | None = None,
                  seed: int = 0) -> Tensor:
        """Codes [len(rows) * len(values), dim] that sweep continuous code ``code`` (0-based) over ``values``
        along each row, the rest fixed: row r has c_1 = rows[r] (default: every category) and one noise
        vector drawn from ``seed``, the other continuous codes 0."""
        check_int("code", code, minimum=0, maximum=self.continuous - 1 if self.continuous else -1)
        sweep = _check_values(values)
        rows = list(range(max(self.categories, 1))) if rows is None else rows
        category = _check_rows(rows, self.categories).repeat_interleave(len(sweep))
        g = torch.Generator().manual_seed(check_seed("seed", seed))
        noise = torch.randn(len(rows), self.noise_dim, generator=g).repeat_interleave(len(sweep), dim=0)
        cont = torch.zeros(len(category), self.continuous)
        cont[:, code] = sweep.repeat(len(rows))
        return self.assemble(noise, category if self.categories else None, cont)

    def remembered(self, n: int) -> tuple[Tensor | None, Tensor]:
        """(category ids [n] or None, continuous codes [n, continuous]) of the latest draw, checked to be of
        the size n of the fake batch they are meant for (see the memory contract above)."""
        if self.last is None or self.last.shape[0] != n:
            got = "no draw yet" if self.last is None else f"a draw of {self.last.shape[0]} codes"
            raise ValueError(f"the LatentCodes sampler remembers {got} but the fake batch has {n} samples: give "
                             "the trainer and InfoGANObjective the same LatentCodes object, and do not draw "
                             "(trainer.sample) between a discriminator and a generator update")
        _, category, cont = self.split(self.last)
        return category, cont


class InfoGANGenerator(models.DCGANGenerator):
    """The DCGAN generator (:class:`models.DCGANGenerator`) for z = [noise | c_1 | continuous codes] of length
    ``latent_dim``, with the last ``late`` numbers of z entering later: the rest of z goes through the Linear
    layer to the features h [batch, 4w, 7, 7], and the ``late`` codes join h as constant 7x7 channels before the
    first transposed convolution::

        h = Linear(z[:, :-late]) -> BN -> ReLU;   x = ConvT(concat(h, broadcast(z[:, -late:])))  -> ... -> Tanh

    The digit's layout is chosen in h, so these codes can change how it is drawn (its stroke, say) more cheaply
    than which digit it is. ``late=0`` is the DCGAN generator itself (every code at the input, as in Chen et al.).
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, late: int = 0) -> None:
        check_int("latent_dim", latent_dim, minimum=1, maximum=MAX_CODES)
        check_int("late", late, minimum=0, maximum=latent_dim - 1)
        super().__init__(latent_dim - late, width)
        self.latent_dim, self.late = latent_dim, late
        if late:
            first = nn.ConvTranspose2d(4 * width + late, 2 * width, 4, 2, 1, bias=False)
            nn.init.normal_(first.weight, 0.0, 0.02)  # the DCGAN initialisation
            self.up[0] = first

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if not self.late:
            return super().forward(z, labels)
        if labels is not None:
            raise ValueError("InfoGAN's generator is unconditional: its codes are part of z, call it as G(z)")
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape [batch, {self.latent_dim}], got {shape}")
        early, late = z.split([self.latent_dim - self.late, self.late], dim=1)
        h = self.project(early)  # [batch, 4w, 7, 7]
        h = torch.cat([h, late[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1)  # [batch, 4w + late, 7, 7]
        return self.up(h)


def random_shift(images: Tensor, shift: int, fill: float = -1.0) -> Tensor:
    """Every image of ``images`` [n, c, h, w] moved by its own random whole number of pixels in [-shift, shift]
    along each axis, the uncovered border filled with ``fill`` (the background, -1 in the book's [-1, 1] range):
    the translation of DiffAugment (Zhao et al. 2020). Differentiable in the images; the shifts come from torch's
    global generator (seeded by the trainer and saved in its checkpoints)."""
    check_int("shift", shift, minimum=0, maximum=MAX_CODES)
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        got = (tuple(images.shape), images.dtype) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a floating-point tensor [n, channels, height, width], got {got}")
    if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not math.isfinite(fill):
        raise ValueError(f"fill must be a finite number (the background: -1 for the book's images), got {fill!r}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf values: a diverged generator? (see the run's history)")
    if not shift:
        return images
    n, channels, height, width = images.shape
    padded = F.pad(images, (shift, shift, shift, shift), value=fill)
    dy = torch.randint(-shift, shift + 1, (n, 1))
    dx = torch.randint(-shift, shift + 1, (n, 1))
    rows = (torch.arange(height)[None] + shift + dy).to(images.device)  # [n, height]
    cols = (torch.arange(width)[None] + shift + dx).to(images.device)  # [n, width]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(channels, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # [n, c, height, width]


class InfoGANDiscriminator(nn.Module):
    """D and Q sharing one body (Chen et al. 2016, sec. 6): the DCGAN discriminator's convolutions
    (:class:`models.DCGANDiscriminator`) give features h [batch, 4w*4*4]; D's head gives the real/fake logit,
    Q's head Linear -> LeakyReLU(0.2) -> Linear gives category logits [batch, categories] and the means of
    the continuous codes [batch, continuous].

    ``forward(x)`` is D alone (the trainer calls it); ``heads(x)`` returns (logits, category logits, means)
    from a single pass through the body. ``shift > 0``: while training, both see every image (real or fake)
    moved by up to ``shift`` pixels (:func:`random_shift`); in eval mode they see it as it is.
    """

    def __init__(self, width: int = 32, categories: int = 10, continuous: int = 2, hidden: int = 128,
                 shift: int = 0) -> None:
        super().__init__()
        for name, value, low in (("categories", categories, 0), ("continuous", continuous, 0),
                                 ("hidden", hidden, 1), ("shift", shift, 0)):
            check_int(name, value, minimum=low, maximum=MAX_CODES)
        if categories + continuous == 0:
            raise ValueError("Q needs at least one code to read: give categories >= 1 or continuous >= 1")
        self.categories, self.continuous, self.shift = categories, continuous, shift
        self.base = models.DCGANDiscriminator(width)  # the shared body and D's head
        self.q = nn.Sequential(nn.Linear(4 * width * 4 * 4, hidden), nn.LeakyReLU(0.2),
                               nn.Linear(hidden, categories + continuous))  # [batch, categories + continuous]
        models.dcgan_init(self.q)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(self._seen(x))  # [batch] logits

    def heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(D logits [batch], Q's category logits [batch, categories], Q's means [batch, continuous])."""
        h = self.base.features(self._seen(x))  # [batch, 4w*4*4]
        category_logits, means = self.q(h).split([self.categories, self.continuous], dim=1)
        return self.base.head(h).squeeze(1), category_logits, means

    def _seen(self, x: Tensor) -> Tensor:
        return random_shift(x, self.shift) if self.shift and self.training else x


@dataclass
class InfoGANObjective(Objective):
    """InfoGAN's loss pair: the non-saturating GAN plus lambda times the information term on both players::

        L_D = -E[log D(x)] - E[log(1 - D(G(z, c)))] - lambda * L_I      (D and Q; fakes detached)
        L_G = -E[log D(G(z, c))]                     - lambda * L_I      (G, through the fakes)

    L_I is :func:`mutual_information_bound` of Q's outputs on the fakes and the codes c behind them, which
    ``codes`` (the trainer's noise sampler, see its memory contract) remembers. The discriminator must be an
    :class:`InfoGANDiscriminator` (a module with ``heads(x)``).
    """

    codes: LatentCodes = field(default_factory=LatentCodes)  # the same object as the trainer's noise_sampler
    info_weight: float = 1.0  # lambda (Chen et al. use 1 for discrete codes)
    continuous_std: float = 1.0  # sigma of Q's Gaussian over the continuous codes (fixed, not learned)

    def __post_init__(self) -> None:
        check_type("codes", self.codes, LatentCodes, "a LatentCodes (the trainer's noise_sampler)")
        check_positive("info_weight", self.info_weight)
        check_positive("continuous_std", self.continuous_std)

    def discriminator_loss(self, D, real, fake, rng):
        real_out = D(real)
        fake_out, info = self._scored(D, fake)
        return losses.minimax_discriminator_loss(real_out, fake_out) - self.info_weight * info, real_out, fake_out

    def generator_loss(self, D, fake, real):
        fake_out, info = self._scored(D, fake)
        return losses.modified_generator_loss(fake_out) - self.info_weight * info

    def _scored(self, D, fake: Tensor) -> tuple[Tensor, Tensor]:
        """(D's logits on the fakes, L_I of Q's outputs on them) from one pass of the shared body."""
        heads = getattr(D, "heads", None)
        if heads is None:
            raise TypeError("InfoGANObjective needs a discriminator with a heads(x) method that returns (logits, "
                            "category logits, means): use infogan.InfoGANDiscriminator")
        logits, category_logits, means = heads(fake)
        category, cont = self.codes.remembered(fake.shape[0])
        category = None if category is None else category.to(fake.device)
        return logits, mutual_information_bound(category_logits, category, means, cont.to(fake.device),
                                                self.continuous_std)


def mutual_information_bound(category_logits: Tensor, category: Tensor | None, means: Tensor,
                             cont: Tensor, std: float = 1.0) -> Tensor:
    """InfoGAN's variational lower bound (Chen et al. 2016, eq. 4) on I(c; G(z, c)), averaged over a batch::

        L_I = mean_i [ log softmax(category_logits_i)[category_i]
                       + sum_j log N(cont_ij; means_ij, std^2) ] + H(c)
        log N(c; mu, s^2) = -(c - mu)^2 / (2 s^2) - log s - log(2 pi) / 2
        H(c) = log K + m log 2      (c_1 uniform over K categories, m continuous codes uniform on (-1, 1))

    category_logits [n, K] (K = 0: no categorical code, pass category None) and category ids [n] (int64);
    means and cont [n, m]. L_I <= H(c); it reaches log K (the categorical part) when Q reads c_1 perfectly.
    """
    n = _check_matrix("means", means, means.shape[1] if isinstance(means, Tensor) and means.dim() == 2 else -1,
                      minimum_rows=1).shape[0]
    _check_matrix("cont", cont, means.shape[1], n)
    _check_matrix("category_logits", category_logits, category_logits.shape[1]
                  if isinstance(category_logits, Tensor) and category_logits.dim() == 2 else -1, n)
    s = check_positive("std", std)
    k, m = category_logits.shape[1], means.shape[1]
    log_q = -(cont - means).pow(2).sum(1) / (2 * s * s) - m * (math.log(s) + 0.5 * math.log(2 * math.pi))
    if k:
        log_q = log_q - F.cross_entropy(category_logits, _check_category(category, n, k), reduction="none")
    elif category is not None:
        raise ValueError("category must be None when there is no categorical code (category_logits [n, 0])")
    return log_q.mean() + (math.log(k) if k else 0.0) + m * math.log(2.0)


def train_infogan(digits: dict[str, Tensor], *, steps: int = 1000, batch_size: int = 64, width: int = 32,
                  seed: int = 0, codes: LatentCodes | None = None, info_weight: float = 1.0,
                  continuous_std: float = 1.0, late_codes: bool = False, shift: int = 0,
                  lr_d: float = 2e-4, lr_g: float = 1e-3,
                  ema_decay: float | None = 0.995, device: str | torch.device | None = None,
                  progress: bool = True, cache: str = "infogan-mnist", **fit_options) -> train.GANTrainer:
    """Train InfoGAN on ``digits["train_x"]`` [n, 1, 28, 28] in [-1, 1] through the book's trainer and run
    cache: G = :class:`InfoGANGenerator` (``late_codes``: the continuous codes enter at its 7x7 features, else
    every code at its input), D and Q = :class:`InfoGANDiscriminator` (``shift``: the pixels by which they see
    every image moved while training, 0: none), Adam with betas (0.5, 0.999), lr_d for D and Q, lr_g for G, an
    EMA copy of G for sampling. Seeded: the same arguments give the same run (on the CPU, bit for bit).
    ``fit_options`` go to ``GANTrainer.fit`` (snapshots). The defaults are the quick CPU profile.
    """
    if not isinstance(digits, dict) or not isinstance(digits.get("train_x"), Tensor):
        raise TypeError("digits must be the dict of mnist.load_digits() (with a 'train_x' tensor)")
    codes = LatentCodes() if codes is None else codes
    objective = InfoGANObjective(codes, info_weight, continuous_std)
    cfg = train.TrainConfig(steps=steps, batch_size=batch_size, lr_d=lr_d, lr_g=lr_g, betas=(0.5, 0.999),
                            ema_decay=ema_decay, seed=seed, log_every=10)
    seed_everything(seed)
    if not isinstance(late_codes, bool):
        raise TypeError(f"late_codes must be True or False, got {late_codes!r}")
    G = InfoGANGenerator(codes.dim, width, late=codes.continuous if late_codes else 0)
    D = InfoGANDiscriminator(width, codes.categories, codes.continuous, shift=shift)
    return train.train_gan(G, D, data.TensorSampler(digits["train_x"]), cfg, noise_sampler=codes,
                           objective=objective, device=get_device(None if device is None else str(device)),
                           cache=cache, progress=progress, **fit_options)


def code_accuracy(trainer: train.GANTrainer, per_category: int = 100, seed: int = 0) -> tuple[float, Tensor]:
    """How well the categorical code picks the digit: draw ``per_category`` codes for each value k of c_1
    (noise and continuous codes from the prior, seeded), classify the digits G draws with the book's
    classifier, count the confusion matrix C[k, label] and return (accuracy, mapping):

        accuracy = max over one-to-one maps pi of  sum_k C[k, pi(k)] / sum C

    (:func:`matched_accuracy`, the Hungarian method) and mapping [K], the digit label each code value draws.
    """
    codes = _codes_of(trainer)
    check_int("per_category", per_category, minimum=1, maximum=MAX_SAMPLES // max(codes.categories, 1))
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    if not codes.categories:
        raise ValueError("this InfoGAN has no categorical code (categories=0): there is nothing to match")
    category = torch.arange(codes.categories).repeat_interleave(per_category)
    z = codes.assemble(torch.randn(len(category), codes.noise_dim, generator=g), category,
                       torch.rand(len(category), codes.continuous, generator=g) * 2 - 1)
    labels = classifier.predict(trainer.sample(z=z, batch=500).clamp(-1, 1))
    return matched_accuracy(confusion_matrix(category, labels, codes.categories, 10))


def noise_share(trainer: train.GANTrainer, per_category: int = 10, seed: int = 0) -> float:
    """How much the generator's images change with the noise when the codes stay fixed: the images of the codes
    of :meth:`LatentCodes.category_grid` (``per_category`` noises, each with every value of c_1, the continuous
    codes at 0), grouped by c_1, through :func:`within_share`. 0: each value of c_1 draws one image whatever the
    noise; 1: c_1 changes nothing."""
    codes = _codes_of(trainer)
    check_int("per_category", per_category, minimum=2, maximum=MAX_SAMPLES // max(codes.categories, 1))
    z = codes.category_grid(per_category, seed=check_seed("seed", seed))  # [K * per_category, dim], row k: c_1 = k
    return within_share(trainer.sample(z=z, batch=500).view(codes.categories, per_category, -1))


def within_share(groups: Tensor) -> float:
    """The share of the variance of images that lies within their groups, for groups [K, n, ...] (K groups of
    n images each, K, n >= 2), every image a vector x_kj::

        share = sum_kj |x_kj - mean_j x_kj|^2 / sum_kj |x_kj - mean_kj x_kj|^2
    """
    if not isinstance(groups, Tensor) or groups.dim() < 3 or groups.shape[0] < 2 or groups.shape[1] < 2 \
            or not groups.is_floating_point() or not torch.isfinite(groups).all():
        raise ValueError(f"groups must be a finite float tensor [K, n, ...] with K, n >= 2, got "
                         f"{tuple(groups.shape) if isinstance(groups, Tensor) else type(groups).__name__}")
    x = groups.flatten(2).double()  # [K, n, pixels]
    within = (x - x.mean(1, keepdim=True)).pow(2).sum()
    total = (x - x.mean((0, 1), keepdim=True)).pow(2).sum()
    if not total > 0:
        raise ValueError("all the images are the same: the share of their variance is undefined")
    return float(within / total)


def confusion_matrix(codes: Tensor, labels: Tensor, n_codes: int, n_labels: int = 10) -> Tensor:
    """C [n_codes, n_labels] (int64): C[k, l] = number of samples i with codes[i] == k and labels[i] == l."""
    check_int("n_codes", n_codes, minimum=1, maximum=MAX_CODES)
    check_int("n_labels", n_labels, minimum=1, maximum=MAX_CODES)
    for name, ids, size in (("codes", codes, n_codes), ("labels", labels, n_labels)):
        if not isinstance(ids, Tensor) or ids.dim() != 1 or ids.dtype != torch.int64:
            raise ValueError(f"{name} must be an int64 tensor [n] of ids, got "
                             f"{getattr(ids, 'dtype', type(ids).__name__)} {tuple(getattr(ids, 'shape', ()))}")
        if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < size):
            raise ValueError(f"{name} must lie in 0..{size - 1}, got values from {int(ids.min())} to {int(ids.max())}")
    if codes.shape != labels.shape:
        raise ValueError(f"codes and labels must have one entry per sample each, got {len(codes)} and {len(labels)}")
    flat = codes * n_labels + labels
    return torch.bincount(flat, minlength=n_codes * n_labels).view(n_codes, n_labels)


def matched_accuracy(confusion: Tensor) -> tuple[float, Tensor]:
    """(accuracy, mapping) of the best one-to-one map from codes (rows) to labels (columns) of a confusion
    matrix C [K, L] of counts, found by the Hungarian method (``scipy.optimize.linear_sum_assignment``)::

        accuracy = max_pi sum_k C[k, pi(k)] / sum_{k,l} C[k, l],    mapping[k] = pi(k)  (int64 [K])

    With K > L some codes stay unmatched (mapping -1) and count as errors.
    """
    if not isinstance(confusion, (Tensor, np.ndarray)) or confusion.ndim != 2 or 0 in confusion.shape:
        raise ValueError(f"confusion must be a matrix [codes, labels] of counts, got "
                         f"{getattr(confusion, 'shape', type(confusion).__name__)}")
    c = torch.as_tensor(confusion).double()
    if not torch.isfinite(c).all() or (c < 0).any() or c.sum() <= 0:
        raise ValueError("confusion must hold finite counts >= 0, not all zero")
    rows, cols = linear_sum_assignment(c.numpy(), maximize=True)
    mapping = torch.full((c.shape[0],), -1, dtype=torch.int64)
    mapping[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.int64)
    return float(c[rows, cols].sum() / c.sum()), mapping


ATTRIBUTES: dict[str, Callable[[Tensor], Tensor]] = {"slant": slant, "ink": ink}  # measured per image


def correlation(x: Tensor | np.ndarray, y: Tensor | np.ndarray, method: str = "pearson") -> float:
    """Correlation of two samples x, y [n] (n >= 2): ``'pearson'``
    r = sum (x - x_bar)(y - y_bar) / sqrt(sum (x - x_bar)^2 sum (y - y_bar)^2), or ``'spearman'``: the same of
    their ranks (ties get their average rank)."""
    check_choice("method", method, ("pearson", "spearman"))
    a, b = (_check_sample(name, t) for name, t in (("x", x), ("y", y)))
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"x and y must be two samples [n] of one length n >= 2, got {a.shape} and {b.shape}")
    if method == "spearman":
        a, b = rankdata(a), rankdata(b)
    a, b = a - a.mean(), b - b.mean()
    scale = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError("x or y is constant (or overflows): their correlation is undefined")
    return max(-1.0, min(1.0, float((a * b).sum()) / scale))


def attribute_correlations(trainer: train.GANTrainer, values: Sequence[float] | Tensor = (-1, -0.5, 0, 0.5, 1),
                           rows: int = 100, seed: int = 0, method: str = "spearman") -> dict[str, list[float]]:
    """For each measured attribute (:data:`ATTRIBUTES`) and each continuous code j: sweep c_j over ``values``
    for ``rows`` random codes (noise, category and the other continuous codes from the prior, seeded), and
    return the correlation (:func:`correlation`, ``method``) of c_j with the attribute of the digits drawn,
    over all rows * len(values) digits: {"slant": [r_1, r_2, ...], "ink": [...]}.
    """
    codes = _codes_of(trainer)
    sweep = _check_values(values)
    check_int("rows", rows, minimum=1, maximum=MAX_SAMPLES // len(sweep))
    check_choice("method", method, ("pearson", "spearman"))
    g = torch.Generator().manual_seed(check_seed("seed", seed))
    out: dict[str, list[float]] = {name: [] for name in ATTRIBUTES}
    for j in range(codes.continuous):
        noise, category, cont = codes.split(codes(rows, g).repeat_interleave(len(sweep), dim=0))
        cont[:, j] = sweep.repeat(rows)  # [rows * len(values), continuous]
        z = codes.assemble(noise, category, cont)  # [rows * len(values), dim]
        images = trainer.sample(z=z, batch=500).clamp(-1, 1)
        for name, measure in ATTRIBUTES.items():
            out[name].append(correlation(sweep.repeat(rows), measure(images), method))
    return out


# -- helpers ------------------------------------------------------------------------------------------------
def _codes_of(trainer: object) -> LatentCodes:
    check_type("trainer", trainer, train.GANTrainer, "a train.GANTrainer (a run of train_infogan)")
    if not isinstance(trainer.noise_sampler, LatentCodes):
        raise TypeError("trainer must be an InfoGAN run: its noise_sampler must be an infogan.LatentCodes "
                        f"(train_infogan makes one), got {type(trainer.noise_sampler).__name__}")
    return trainer.noise_sampler


def _check_matrix(name: str, t: object, columns: int, rows: int | None = None, minimum_rows: int = 0) -> Tensor:
    ok = isinstance(t, Tensor) and t.dim() == 2 and t.shape[1] == columns and t.is_floating_point()
    if not ok or (rows is not None and t.shape[0] != rows) or t.shape[0] < minimum_rows:
        want = f"[{rows if rows is not None else 'n'}, {columns if columns >= 0 else 'k'}]"
        got = (tuple(t.shape), t.dtype) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a floating-point tensor {want}"
                         f"{' with n >= 1' if minimum_rows else ''}, got {got}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return t


def _check_category(category: object, n: int, k: int) -> Tensor:
    if not isinstance(category, Tensor) or category.shape != (n,) or category.dtype != torch.int64:
        got = (tuple(category.shape), category.dtype) if isinstance(category, Tensor) else type(category).__name__
        raise ValueError(f"category must be an int64 tensor [{n}] of category ids, got {got}")
    if not (0 <= int(category.min()) and int(category.max()) < k):
        raise ValueError(f"category ids must lie in 0..{k - 1}, got {int(category.min())}..{int(category.max())}")
    return category


def _check_values(values: object) -> Tensor:
    try:
        sweep = torch.as_tensor(values, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"values must be a list of numbers (e.g. [-1, 0, 1]), got {type(values).__name__}") from None
    if sweep.dim() != 1 or not 1 <= len(sweep) <= MAX_SAMPLES or not torch.isfinite(sweep).all():
        raise ValueError(f"values must be 1 to {MAX_SAMPLES:,} finite numbers in a flat list, got shape "
                         f"{tuple(sweep.shape)}")
    return sweep


def _check_rows(rows: object, categories: int) -> Tensor:
    ids = list(rows) if isinstance(rows, (list, tuple, range)) else None
    if not ids or len(ids) > MAX_SAMPLES or not all(isinstance(r, int) and not isinstance(r, bool) and
                                                     0 <= r < max(categories, 1) for r in ids):
        raise ValueError(f"rows must be a non-empty list of category ids in 0..{max(categories, 1) - 1}, "
                         f"got {rows!r}"[:300])
    return torch.tensor(ids, dtype=torch.int64)


def _check_sample(name: str, t: object) -> np.ndarray:
    if isinstance(t, Tensor):
        t = t.detach().cpu().double().numpy()
    if not isinstance(t, np.ndarray) or t.ndim != 1 or t.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a 1-D tensor or array of numbers, got "
                         f"{getattr(t, 'shape', type(t).__name__)}")
    t = t.astype(np.float64)
    if not np.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf values")
    return t
