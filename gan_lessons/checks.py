"""Argument checks shared by every public function: one place for "must be an integer >= 1" and friends.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) with a message that names the
argument, says what it must be and shows what was passed, so a reader knows what to change.
"""
from __future__ import annotations

import math

__all__ = ["check_int", "check_positive", "check_choice", "check_real", "check_seed", "check_allocation",
           "check_type", "check_module", "check_first_batch", "check_real_batch", "check_codes", "name_of",
           "SEED_LIMIT", "MAX_ELEMENTS"]

SEED_LIMIT = 2**64  # torch.manual_seed takes seeds in [0, 2**64)


def check_int(name: str, value: object, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` must be an int (not a bool) >= ``minimum`` (and <= ``maximum`` if given); returns it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = {0: " (a non-negative integer)", 1: " (a positive integer)"}.get(minimum, "")
        raise ValueError(f"{name} must be an integer >= {minimum}{kind}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum:,} (a bound checked before anything is "
                         f"allocated), got {value!r}")
    return value


MAX_ELEMENTS = 2**31  # the most numbers one tensor or network of the book may hold (8 GiB of float32)


def check_allocation(what: str, elements: int, limit: int = MAX_ELEMENTS) -> int:
    """Refuse, before allocating it, ``what`` that would hold more than ``limit`` numbers; returns ``elements``."""
    check_int("elements", elements)
    check_int("limit", limit)
    if elements > limit:
        raise ValueError(f"{what} would hold {elements:,} numbers (more than {limit:,}): pick smaller sizes")
    return elements


def check_positive(name: str, value: object) -> float:
    """``value`` must be a finite real number > 0; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_real(name: str, value: object, low: float = -math.inf, high: float = math.inf, *,
               open_low: bool = False, open_high: bool = False) -> float:
    """``value`` must be a finite real number in [low, high] (``open_low`` / ``open_high``: that end excluded);
    returns it as a float."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        span = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be a finite number in {span}, got {value!r}")
    return float(value)


def check_seed(name: str, value: object) -> int:
    """``value`` must be an integer seed in [0, 2**64) (the range torch.manual_seed accepts); returns it."""
    if isinstance(value, bool) or not hasattr(value, "__index__") or not 0 <= int(value.__index__()) < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**64) (torch seeds are 64-bit), got {value!r}")
    return int(value.__index__())


def check_type(name: str, value: object, types, what: str) -> object:
    """``value`` must be an instance of ``types``; else a TypeError saying ``what`` to pass. Returns it."""
    if not isinstance(value, types) or isinstance(value, bool) and bool not in (types if isinstance(types, tuple)
                                                                                else (types,)):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def check_module(name: str, value: object) -> object:
    """``value`` must be a torch.nn.Module; returns it."""
    from torch import nn

    return check_type(name, value, nn.Module, "a torch.nn.Module (a network)")


def check_choice(name: str, value: object, choices) -> object:
    """``value`` must be one of ``choices``; returns it."""
    try:
        known = value in tuple(choices)
    except TypeError:  # e.g. an unhashable value against dict keys
        known = False
    if not known:
        raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(map(repr, choices))}")
    return value


def check_first_batch(who: str, real, labels, fake, dtype) -> None:
    """The first real batch of a fit (its sampler named ``who`` in errors) against G's fakes: floating point of
    G's weight ``dtype``, finite, labels one integer class per sample [n] or one finite conditioning input per sample
    [n, ...] (paired translation: a low-resolution image; text-to-image: token ids), the shape of G's samples."""
    import torch

    if not (isinstance(real, torch.Tensor) and isinstance(fake, torch.Tensor)) or real.dim() == 0:
        raise TypeError(f"{who}: the batch and G's samples must be tensors [n, ...]")
    if labels is not None and not isinstance(labels, torch.Tensor):
        raise TypeError(f"{who} returned labels of type {type(labels).__name__}: give a LongTensor [n]")
    if real.dtype != dtype:
        raise TypeError(f"{who} returned {str(real.dtype).replace('torch.', '')} data but the models are "
                        f"{str(dtype).replace('torch.', '')}: return x.to({dtype}) (e.g. x.float())")
    if not torch.isfinite(real).all():
        raise ValueError(f"{who} returned NaN or inf values: clean the data (torch.nan_to_num) or fix the sampler")
    if labels is not None and labels.dim() >= 2 and labels.shape[0] == real.shape[0]:
        if not torch.isfinite(labels.float()).all():  # a conditioning input per sample: an image, token ids
            raise ValueError(f"{who} returned conditioning inputs with NaN or inf values")
    elif labels is not None and (labels.is_floating_point() or labels.shape != real.shape[:1]):
        raise TypeError(f"{who} returned labels of dtype {labels.dtype} and shape {tuple(labels.shape)}: give one "
                        f"integer class per sample (a LongTensor [{real.shape[0]}]) or one conditioning input "
                        f"per sample [{real.shape[0]}, ...] (a low-resolution image, a caption's token ids)")
    if tuple(fake.shape[1:]) != tuple(real.shape[1:]):
        raise ValueError(f"{who} returned samples of shape {tuple(real.shape[1:])} but the generator makes "
                         f"{tuple(fake.shape[1:])}: the data and G's output must have the same shape")


def name_of(fn: object) -> str:
    """A readable name of a function or callable object, for error messages."""
    return getattr(fn, "__qualname__", None) or type(fn).__qualname__


def check_real_batch(sampler: object, batch: object, n: int) -> tuple:
    """What a trainer's real sampler returned for ``n`` samples: a tensor x [n, ...] or a pair (x, labels)."""
    from torch import Tensor

    who = f"real_sampler {name_of(sampler)}"
    if isinstance(batch, (tuple, list)) and not (len(batch) == 2 and all(isinstance(b, Tensor) for b in batch)):
        raise TypeError(f"{who} returned a {type(batch).__name__} of {len(batch)} items: return a tensor "
                        "x [n, ...] or a pair (x, labels) of tensors")
    x, labels = batch if isinstance(batch, (tuple, list)) else (batch, None)
    if not isinstance(x, Tensor):
        raise TypeError(f"{who} must return a tensor (or (tensor, labels)), got {type(x).__name__}")
    if x.dim() == 0 or x.shape[0] != n:
        raise ValueError(f"{who} returned a batch of shape {tuple(x.shape)}: {n} samples were asked")
    return x, labels


def check_codes(sampler: object, z: object, n: int):
    """What a trainer's noise sampler returned for ``n`` codes: a tensor [n, ...]."""
    from torch import Tensor

    if not isinstance(z, Tensor) or z.dim() == 0 or z.shape[0] != n:
        raise TypeError(f"noise_sampler {name_of(sampler)} must return a tensor of {n} codes [n, ...], "
                        f"got {getattr(z, 'shape', type(z).__name__)}")
    return z
