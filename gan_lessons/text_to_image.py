"""Digits from a sentence: text-to-image synthesis with a matching-aware discriminator (Reed et al. 2016), at toy
scale.

Book: chapter "Conditional image generation". Every training digit gets a caption written from its label and
two of its *measured* attributes (:mod:`gan_lessons.attributes`): its stroke weight (ink) and its slant, each
called by which side of its class's median it lies on, e.g. "a bold right-leaning seven". A bag-of-words text
encoder (the mean of the caption's word embeddings) feeds the generator G(z, caption) and the discriminator
D(x, caption), which asks "is x real AND described by this caption?" by a projection (Miyato & Koyama 2018).

Matching-aware D (Reed et al. 2016, GAN-CLS): besides the fakes, a real image paired with a *wrong* caption
counts as fake, so D must check the text, and G is pushed to draw what the caption says::

    L_D = -E log D(x, t) - 1/2 E log(1 - D(G(z, t), t)) - 1/2 E log(1 - D(x', t))

with x' the real image of another sample of the batch (:class:`MatchingAwareObjective`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import attributes, models
from .checks import check_int
from .objectives import JSObjective

__all__ = ["DIGITS", "WEIGHTS", "SLANTS", "VOCABULARY", "attribute_medians", "attribute_levels", "caption",
           "tokenize", "caption_tokens", "TextEncoder", "TextGenerator", "TextDiscriminator",
           "MatchingAwareObjective", "mismatched", "attribute_agreement"]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WEIGHTS = ("thin", "bold")  # ink below / above the class's median
SLANTS = ("left-leaning", "right-leaning")  # slant below / above the class's median
VOCABULARY = ("a", *WEIGHTS, *SLANTS, *DIGITS)  # token id = position
CAPTION_LENGTH = 4  # "a <weight> <slant> <digit>"


def attribute_medians(images: Tensor, labels: Tensor) -> Tensor:
    """The median ink and slant of each digit class, [10, 2] (column 0: ink, 1: slant), of training images
    [n, 1, 28, 28] in [-1, 1] with labels [n]: the thresholds the captions use."""
    _check_labelled(images, labels)
    measured = torch.stack([attributes.ink(images).double(), attributes.slant(images)], 1)  # [n, 2]
    missing = [k for k in range(10) if not (labels == k).any()]
    if missing:
        raise ValueError(f"every digit class needs at least one image to set its medians; missing {missing}")
    return torch.stack([measured[labels == k].median(0).values for k in range(10)])


def attribute_levels(images: Tensor, labels: Tensor, medians: Tensor) -> Tensor:
    """[n, 2] of 0/1: is each digit's ink (column 0) and slant (column 1) above its class's median?"""
    _check_labelled(images, labels)
    if not isinstance(medians, Tensor) or medians.shape != (10, 2) or not torch.isfinite(medians).all():
        raise ValueError("medians must be the finite [10, 2] table of attribute_medians")
    measured = torch.stack([attributes.ink(images).double(), attributes.slant(images)], 1)  # [n, 2]
    return (measured > medians.double()[labels]).long()


def caption(label: int, weight: int, slant: int) -> str:
    """The sentence for a digit class and its two levels (0 or 1): caption(7, 1, 1) = 'a bold right-leaning
    seven'."""
    check_int("label", label, maximum=9)
    check_int("weight", weight, maximum=1)
    check_int("slant", slant, maximum=1)
    return f"a {WEIGHTS[weight]} {SLANTS[slant]} {DIGITS[label]}"


def tokenize(sentences: list[str]) -> Tensor:
    """Token ids [n, 4] (positions in :data:`VOCABULARY`) of captions of four known words each."""
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)) or not sentences:
        raise ValueError(f"sentences must be a non-empty list of captions, got {sentences!r}"[:200])
    ids = []
    for s in sentences:
        words = s.lower().split() if isinstance(s, str) else None
        if words is None or len(words) != CAPTION_LENGTH or any(w not in VOCABULARY for w in words):
            raise ValueError(f"{s!r} is not a caption of {CAPTION_LENGTH} words of the vocabulary "
                             f"{', '.join(VOCABULARY)}; e.g. 'a bold right-leaning seven'")
        ids.append([VOCABULARY.index(w) for w in words])
    return torch.tensor(ids)


def caption_tokens(labels: Tensor, levels: Tensor) -> Tensor:
    """Token ids [n, 4] of the captions of digits with classes ``labels`` [n] and ``levels`` [n, 2]: the same
    as :func:`tokenize` of their sentences, without building the strings."""
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.dtype != torch.int64 or \
            not isinstance(levels, Tensor) or levels.shape != (labels.shape[0], 2) or levels.dtype != torch.int64:
        raise ValueError("labels must be int64 [n] and levels int64 [n, 2] (attribute_levels)")
    if labels.numel() and (labels.min() < 0 or labels.max() > 9 or levels.min() < 0 or levels.max() > 1):
        raise ValueError("labels must lie in 0..9 and levels in {0, 1}")
    first = torch.zeros_like(labels)  # "a"
    return torch.stack([first, 1 + levels[:, 0], 3 + levels[:, 1], 5 + labels], 1)


class TextEncoder(nn.Module):
    """Bag of words: e(t) = mean of the caption's word embeddings, [n, dim] of token ids [n, L]."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        check_int("dim", dim, minimum=1, maximum=models.MAX_WIDTH)
        self.dim = dim
        self.embed = nn.EmbeddingBag(len(VOCABULARY), dim, mode="mean")

    def forward(self, tokens: Tensor) -> Tensor:
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.dtype != torch.int64 or \
                tokens.shape[1] == 0:
            raise ValueError(f"tokens must be int64 token ids [n, length], got "
                             f"{getattr(tokens, 'dtype', type(tokens).__name__)} {tuple(getattr(tokens, 'shape', ()))}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= len(VOCABULARY)):
            raise ValueError(f"token ids must lie in 0..{len(VOCABULARY) - 1} (positions in VOCABULARY)")
        return self.embed(tokens)


class TextGenerator(nn.Module):
    """G(z, t) = the book's DCGAN generator (:class:`models.DCGANGenerator`) applied to [z, e(t)]."""

    def __init__(self, latent_dim: int = 32, width: int = 32, text_dim: int = 32) -> None:
        super().__init__()
        check_int("latent_dim", latent_dim, minimum=1, maximum=models.MAX_WIDTH)
        self.latent_dim = latent_dim
        self.text = TextEncoder(text_dim)
        self.body = models.DCGANGenerator(latent_dim + text_dim, width)

    def forward(self, z: Tensor, tokens: Tensor | None = None) -> Tensor:
        if tokens is None:
            raise ValueError("the text-to-digit generator needs a caption: call it as G(z, tokens)")
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be a tensor [n, {self.latent_dim}], got {getattr(z, 'shape', type(z).__name__)}")
        e = self.text(tokens)
        if e.shape[0] != z.shape[0]:
            raise ValueError(f"one caption per code: got {e.shape[0]} captions and {z.shape[0]} codes")
        return self.body(torch.cat([z, e], 1))  # [n, 1, 28, 28]


class TextDiscriminator(nn.Module):
    """D(x, t) = w^T phi(x) + b + (W e(t))^T phi(x): the DCGAN discriminator's features phi(x) and a projection
    of its own bag-of-words text embedding e(t) (Miyato & Koyama 2018): "real, and matching the text?"."""

    def __init__(self, width: int = 32, text_dim: int = 32) -> None:
        super().__init__()
        self.base = models.DCGANDiscriminator(width)
        self.text = TextEncoder(text_dim)
        self.project = nn.Linear(text_dim, 4 * width * 4 * 4)

    def forward(self, x: Tensor, tokens: Tensor | None = None) -> Tensor:
        if tokens is None:
            raise ValueError("the matching-aware discriminator needs the caption: call it as D(x, tokens)")
        phi = self.base.features(x)  # [n, 4w * 16]
        e = self.text(tokens)
        if e.shape[0] != phi.shape[0]:
            raise ValueError(f"one caption per image: got {e.shape[0]} captions and {phi.shape[0]} images")
        return self.base.head(phi).squeeze(1) + (self.project(e) * phi).sum(1)  # [n] logits


def mismatched(real: Tensor) -> Tensor:
    """The real images shifted by one place in the batch, [n, ...]: paired with the batch's captions, each
    image now carries another digit's caption. (Two neighbours can share a caption by chance, ~1 in 40.)"""
    if not isinstance(real, Tensor) or real.dim() == 0 or real.shape[0] < 2:
        raise ValueError("real must be a batch of at least 2 images to mismatch their captions")
    if real.is_floating_point() and not torch.isfinite(real).all():
        raise ValueError("real has NaN or infinite values")
    return real.roll(1, dims=0)


@dataclass
class MatchingAwareObjective(JSObjective):
    """GAN-CLS (Reed et al. 2016, Algorithm 1):  L_D = BCE(D(x, t), 1) + 1/2 BCE(D(G(z, t), t), 0)
    + 1/2 BCE(D(x', t), 0), x' = :func:`mismatched` (x);  L_G = -E log D(G(z, t), t) (non-saturating)."""

    def discriminator_loss(self, D, real, fake, rng):
        real_out, fake_out, wrong_out = D(real), D(fake), D(mismatched(real))
        loss = F.binary_cross_entropy_with_logits(real_out, torch.full_like(real_out, self.real_label)) \
            + 0.5 * F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)) \
            + 0.5 * F.binary_cross_entropy_with_logits(wrong_out, torch.zeros_like(wrong_out))
        return loss, real_out, fake_out


def attribute_agreement(images: Tensor, labels: Tensor, asked: Tensor, medians: Tensor) -> float:
    """The fraction of (image, attribute) pairs whose measured level (:func:`attribute_levels`, against the
    training medians of the asked class ``labels``) equals the asked one ``asked`` [n, 2]: 1 = every drawn
    digit has the stroke weight and the slant its caption asks for; 0.5 = chance."""
    drawn = attribute_levels(images, labels, medians)
    if not isinstance(asked, Tensor) or asked.shape != drawn.shape:
        raise ValueError(f"asked must be the levels [n, 2] the captions ask for, got "
                         f"{tuple(getattr(asked, 'shape', ())) or type(asked).__name__}")
    return float((drawn == asked).double().mean())


def _check_labelled(images: object, labels: object) -> None:
    attributes.ink(images)  # checks images [n, 1, H, W], finite
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
        raise ValueError(f"labels must be int64 digit classes [{images.shape[0]}], got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError("labels must be digit classes 0..9")
