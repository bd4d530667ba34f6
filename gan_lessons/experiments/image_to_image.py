"""Conditional image generation: 4x super-resolution (bicubic, L1, L1 + GAN), pix2pix completion of masked digits
(L1 alone vs L1 + conditional GAN), and digits drawn from a sentence with a matching-aware discriminator."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import attributes, classifier, data, image_to_image as i2i, plots, runtime, text_to_image as t2i, train
from ..mnist import load_digits
from ..runtime import seed_everything, sized
from ..train import TrainConfig

NAME = "image-to-image"
SR_FACTOR = 4  # 28 x 28 digits from 7 x 7 inputs
METHODS = ("bicubic", "l1", "gan")  # the super-resolution methods compared, in the JSON's vocabulary
TASKS = ("sr", "pix2pix")  # the two paired translations


@dataclass(frozen=True)
class Budget(runtime.Budget):
    """How much the chapter trains: quick on 2 CPU cores, full (paper-sized) on a GPU."""

    pair_steps: int = sized(300, 10_000, steps=True, minimum=10)  # steps of each paired run (SR and pix2pix)
    pair_batch: int = sized(64, 128)  # batch of the paired runs
    pair_width: int = sized(16, 64)  # channels of the U-Net and of the PatchGAN
    # the GAN's weight against L1 (Isola et al.: 0.01). Measured on 2 CPU cores (300 steps, seeds 0 and 1): at
    # 0.05 the GAN's PSNR can still exceed the under-trained L1 network's; at 0.2 it is sharper and L1 keeps
    # the best PSNR, so quick shows the trade-off at 0.2
    gan_weight: float = sized(0.2, 0.1)
    sweep: tuple = sized((0.0, 0.05, 0.2, 0.5), (0.0, 0.01, 0.03, 0.1, 0.3))  # weights of the trade-off
    # measured (2 CPU cores, one thread): class accuracy 0.85-0.98 over seeds 0-2 after 600 steps, 0.96-0.98
    # after 800 (attribute agreement 0.92-1.0), so quick takes 800
    text_steps: int = sized(800, 20_000, steps=True, minimum=10)  # generator steps of text-to-digit
    text_batch: int = sized(64, 128)
    text_width: int = sized(16, 64)  # channels of the text-to-digit DCGAN G and D
    text_dim: int = sized(32, 128)  # size of the bag-of-words caption embedding
    n_eval: int = sized(1000, 10_000)  # test digits (or generated digits) per measurement


def budget(profile: str | None = None, **overrides) -> Budget:
    """The chapter's :class:`Budget` for ``profile``."""
    return Budget.of(profile, **overrides)


# -- paired translation: super-resolution and pix2pix -------------------------------------------------------
def task_input(task: str, images: Tensor) -> Tensor:
    """What the generator is given: ``'sr'``: the 7 x 7 area-downsampled digit; ``'pix2pix'``: the digit with
    its lower half masked."""
    if task == "sr":
        return i2i.downsample(images, SR_FACTOR)
    if task == "pix2pix":
        return i2i.mask_lower_half(images)
    raise ValueError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")


def paired_setup(task: str, weight: float, profile: str, seed: int = 0, digits: dict | None = None,
                 progress: bool = False) -> dict:
    """The arguments of :func:`train.train_gan` for one paired run (cached): U-Net G, PatchGAN D, (target,
    input) pairs, :class:`image_to_image.PairedObjective` with ``adversarial_weight = weight`` (0: L1 only);
    Adam (D 2e-4, G 1e-3: the short CPU budget), betas (0.5, 0.999). Seeds the networks' initial weights."""
    b = budget(profile)
    digits = load_digits() if digits is None else digits
    sampler = data.TensorSampler(digits["train_x"], task_input(task, digits["train_x"]))  # (target, input)
    seed_everything(seed)
    G, D = i2i.UNetGenerator(b["pair_width"]), i2i.PatchDiscriminator(b["pair_width"])
    cfg = TrainConfig(steps=b["pair_steps"], batch_size=b["pair_batch"], lr_d=2e-4, lr_g=1e-3,
                      betas=(0.5, 0.999), seed=seed, log_every=10)
    return {"generator": G, "discriminator": D, "real_sampler": sampler, "config": cfg, "latent_dim": 1,
            "objective": i2i.PairedObjective(adversarial_weight=weight), "cache": f"i2i-{task}",
            "progress": progress}


def translate(trainer: train.GANTrainer, inputs: Tensor) -> Tensor:
    """G's outputs [n, 1, 28, 28] for inputs [n, 1, h, w] (the trainer's one sampling entry point)."""
    if not isinstance(trainer, train.GANTrainer):
        raise TypeError(f"trainer must be a trained train.GANTrainer, got {type(trainer).__name__}")
    return trainer.sample(z=torch.zeros(len(inputs), 1), labels=inputs, batch=500)


def sr_study(profile: str, seed: int = 0, digits: dict | None = None,
             progress: bool = False) -> dict[float, train.GANTrainer]:
    """The super-resolution runs of the trade-off: adversarial weight -> trained run (the sweep and the
    chapter's GAN weight)."""
    b = budget(profile)
    weights = sorted({*b["sweep"], 0.0, b["gan_weight"]})
    return {w: train.train_gan(**paired_setup("sr", w, profile, seed, digits, progress)) for w in weights}


def sr_scores(runs: dict[float, train.GANTrainer], digits: dict, n: int) -> dict:
    """'bicubic', each weight, 'real' -> {psnr, sharpness, accuracy} on the first n test digits (accuracy: the
    book's classifier on the upscaled digits against their true labels)."""
    x, y = digits["test_x"][:n], digits["test_y"][:n]
    low = task_input("sr", x)
    outputs = {"bicubic": i2i.upsample(low), **{w: translate(run, low) for w, run in runs.items()}, "real": x}
    return {name: _scores(out, x, y) for name, out in outputs.items()}


def draw_tradeoff(ax, table: dict) -> None:
    """The perception-distortion plane (Blau & Michaeli 2018) of :func:`sr_scores`: PSNR (distortion, right is
    better) against |sharpness - real sharpness| (a crude perception gap, down is better), one point a weight."""
    real = table["real"]["sharpness"]
    weights = sorted(w for w in table if not isinstance(w, str))
    pts = [(table[w]["psnr"], abs(table[w]["sharpness"] - real)) for w in weights]
    ax.plot(*zip(*pts), "-o", color=plots.FAKE_COLOR, label="U-Net, L1 + weight x GAN")
    for w, (x, y) in zip(weights, pts):
        ax.annotate(f"{w:g}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(xlabel="PSNR (dB): distortion, better to the right",
           ylabel="|sharpness - real sharpness|", title="perception-distortion trade-off")
    ax.legend(fontsize=8)


def pix2pix_study(profile: str, seed: int = 0, digits: dict | None = None,
                  progress: bool = False) -> dict[str, train.GANTrainer]:
    """'l1' and 'gan' (L1 + conditional GAN at the chapter's weight) -> the trained masked-digit completion."""
    w = budget(profile)["gan_weight"]
    return {name: train.train_gan(**paired_setup("pix2pix", weight, profile, seed, digits, progress))
            for name, weight in (("l1", 0.0), ("gan", w))}


def pix2pix_scores(runs: dict[str, train.GANTrainer], digits: dict, n: int) -> dict:
    """'l1', 'gan', 'real' -> {psnr, sharpness, accuracy} of the completed test digits."""
    x, y = digits["test_x"][:n], digits["test_y"][:n]
    outputs = {**{k: translate(run, task_input("pix2pix", x)) for k, run in runs.items()}, "real": x}
    return {name: _scores(out, x, y) for name, out in outputs.items()}


def draw_sr(fig, weight: float, runs: dict[float, train.GANTrainer], digits: dict, n: int = 8) -> None:
    """Widget figure: n test digits, rows: the 7 x 7 input, bicubic, the run with adversarial ``weight``, real."""
    if weight not in runs:
        raise ValueError(f"no run with adversarial weight {weight!r}: use one of {sorted(runs)}")
    x = digits["test_x"][:n]
    low = task_input("sr", x)
    rows = {"7 x 7 input": _nearest(low), "bicubic": i2i.upsample(low), f"L1 + {weight:g} x GAN": translate(runs[weight], low), "real": x}
    _rows(fig, rows, n)


def draw_pix2pix(fig, runs: dict[str, train.GANTrainer], digits: dict, n: int = 8) -> None:
    """n test digits, rows: masked input, L1 only, L1 + GAN, real."""
    x = digits["test_x"][:n]
    masked = task_input("pix2pix", x)
    titles = {"l1": "L1 only", "gan": "L1 + GAN"}
    _rows(fig, {"masked input": masked, **{titles.get(k, k): translate(r, masked) for k, r in runs.items()},
                "real": x}, n)


# -- digits from a sentence ---------------------------------------------------------------------------------
def caption_data(digits: dict) -> dict[str, Tensor]:
    """The training captions: ``medians`` [10, 2] (per-class medians of ink and slant), ``levels`` [n, 2] and
    ``tokens`` [n, 4] of every training digit."""
    x, y = digits["train_x"], digits["train_y"]
    medians = t2i.attribute_medians(x, y)
    levels = t2i.attribute_levels(x, y, medians)
    return {"medians": medians, "levels": levels, "tokens": t2i.caption_tokens(y, levels)}


def train_text(profile: str, seed: int = 0, digits: dict | None = None, progress: bool = False) -> train.GANTrainer:
    """Text-to-digit through the one trainer (cached): :class:`text_to_image.TextGenerator` and
    :class:`text_to_image.TextDiscriminator`, the matching-aware objective, DCGAN's Adam settings."""
    b = budget(profile)
    digits = load_digits() if digits is None else digits
    sampler = data.TensorSampler(digits["train_x"], caption_data(digits)["tokens"])  # (image, its caption)
    seed_everything(seed)
    G = t2i.TextGenerator(latent_dim=32, width=b["text_width"], text_dim=b["text_dim"])
    D = t2i.TextDiscriminator(b["text_width"], b["text_dim"])
    cfg = TrainConfig(steps=b["text_steps"], batch_size=b["text_batch"], lr_d=2e-4, lr_g=1e-3,
                      betas=(0.5, 0.999), seed=seed, log_every=10)
    return train.train_gan(G, D, sampler, cfg, latent_dim=32, objective=t2i.MatchingAwareObjective(),
                           cache="i2i-text", progress=progress)


def asked_captions(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """n captions drawn uniformly over the 40 (class, weight, slant) combinations: (labels [n], levels [n, 2])."""
    g = torch.Generator().manual_seed(seed + 7)
    return torch.randint(10, (n,), generator=g), torch.randint(2, (n, 2), generator=g)


def text_scores(trainer: train.GANTrainer, medians: Tensor, n: int, seed: int = 0) -> dict[str, float]:
    """Draw n digits for uniformly drawn captions: class accuracy (the classifier's class = the caption's) and
    attribute agreement (:func:`text_to_image.attribute_agreement` against the training medians)."""
    labels, levels = asked_captions(n, seed)
    images = trainer.sample(n, labels=t2i.caption_tokens(labels, levels),
                            rng=torch.Generator().manual_seed(seed + 8))
    accuracy = float((classifier.predict(images) == labels).double().mean())
    return {"class_accuracy": accuracy, "attribute_agreement": t2i.attribute_agreement(images, labels, levels, medians)}


def draw_caption(fig, sentence: str, trainer: train.GANTrainer, seed: int = 0, n: int = 8) -> None:
    """Widget figure: n digits drawn for one caption (n noise draws, the same for every caption)."""
    tokens = t2i.tokenize([sentence]).expand(n, -1)
    images = trainer.sample(n, labels=tokens, rng=torch.Generator().manual_seed(seed + 9))
    ax = fig.subplots(1, 1)
    ax.imshow(plots.image_grid(images, nrow=n, pad=1), cmap="gray", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], title=f'"{sentence}"')


def run(profile: str = "quick", seed: int = 0, progress: bool = False) -> dict:
    """Train the chapter's experiments and return the summary (JSON-serialisable)."""
    seed_everything(seed)
    start = time.perf_counter()
    digits, b = load_digits(), budget(profile)
    sr = sr_scores(sr_study(profile, seed, digits, progress), digits, b["n_eval"])
    named = {"bicubic": sr["bicubic"], "l1": sr[0.0], "gan": sr[b["gan_weight"]], "real": sr["real"]}
    out = {f"sr_{key}_{m}": round(named[m][key], 4) for key in ("psnr", "accuracy") for m in METHODS}
    out.update({f"sr_sharpness_{m}": round(named[m]["sharpness"], 4) for m in ("l1", "gan", "real")})
    p2p = pix2pix_scores(pix2pix_study(profile, seed, digits, progress), digits, b["n_eval"])
    out["pix2pix_l1_only_sharpness"] = round(p2p["l1"]["sharpness"], 4)
    out["pix2pix_gan_sharpness"] = round(p2p["gan"]["sharpness"], 4)
    text = text_scores(train_text(profile, seed, digits, progress), caption_data(digits)["medians"], b["n_eval"],
                       seed)
    out.update({f"text_{k}": round(v, 4) for k, v in text.items()})
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


# -- helpers ---------------------------------------------------------------------------------------------------
def _scores(images: Tensor, targets: Tensor, labels: Tensor) -> dict[str, float]:
    return {"psnr": i2i.psnr(images, targets), "sharpness": attributes.sharpness(images),
            "accuracy": float((classifier.predict(images) == labels).double().mean())}


def _nearest(low: Tensor) -> Tensor:
    """The low-resolution input shown at 28 x 28 with its blocks visible."""
    return torch.nn.functional.interpolate(low, size=(i2i.SIZE, i2i.SIZE), mode="nearest")


def _rows(fig, rows: dict[str, Tensor], n: int) -> None:
    axes = fig.subplots(len(rows), 1)
    for ax, (title, images) in zip(axes, rows.items()):
        ax.imshow(plots.image_grid(images[:n], nrow=n, pad=1), cmap="gray", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ax.set_title(title, fontsize=9, loc="left")
