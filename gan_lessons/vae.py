"""The variational autoencoder (Kingma & Welling 2014) and the VAE-GAN (Larsen et al. 2016), on MNIST.

Book: chapter "GANs with an encoder and with structured codes". A VAE has an encoder q(z | x) = N(mu(x),
diag sigma^2(x)) and a decoder G(z); it maximises the evidence lower bound (ELBO)::

    log p(x) >= E_{q(z|x)}[log p(x | z)] - KL(q(z | x) || N(0, I))

With a Gaussian pixel likelihood, -log p(x | z) is the squared error |x - G(z)|^2 / (2 s^2) up to a constant,
and the decoder that minimises it predicts the *average* of the digits a code could mean: blur. The VAE-GAN
keeps encoder, decoder and KL, replaces the pixel error by the error in a discriminator's feature space, and
adds the GAN loss (:class:`VAEGANObjective`, trained by the book's one trainer with the VAE as its generator).
The VAE alone is not a game, so it has its own short loop, :func:`train_vae`.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from . import fitcache, losses, models, runtime
from .checks import check_int, check_positive
from .config import TrainingDiverged
from .objectives import JSObjective

__all__ = ["VAE", "reparameterise", "kl_divergence", "pixel_loss", "VAEGANObjective", "train_vae"]


class VAE(nn.Module):
    """Encoder: the DCGAN discriminator's convolutions (:class:`models.DCGANDiscriminator`) -> Linear ->
    (mu, logvar) [batch, latent_dim] each; decoder: :class:`models.DCGANGenerator` (the book's DCGAN G).

    ``forward(z)`` decodes, so the VAE is a generator for the trainer and ``trainer.sample`` draws G(z) for
    z ~ N(0, I); ``encode(x)`` gives (mu, logvar); ``reconstruct(x)`` decodes the mean code mu(x).
    """

    def __init__(self, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        check_int("latent_dim", latent_dim, minimum=1, maximum=models.MAX_WIDTH)
        check_int("width", width, minimum=1, maximum=models.MAX_WIDTH)
        self.latent_dim = latent_dim
        self.body = models.DCGANDiscriminator(width)
        self.body.head = nn.Linear(4 * width * 4 * 4, 2 * latent_dim)  # the code head replaces the logit head
        self.decoder = models.DCGANGenerator(latent_dim, width)

    def forward(self, z: Tensor) -> Tensor:
        return self.decoder(z)  # [batch, 1, 28, 28]

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z | x), each [batch, latent_dim]."""
        mu, logvar = self.body.head(self.body.features(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)  # a variance in [e^-10, e^10]: no overflow in exp

    def reconstruct(self, x: Tensor) -> Tensor:
        """G(mu(x)): the decoder's image of the mean code of x, [batch, 1, 28, 28]."""
        return self.decoder(self.encode(x)[0])


def reparameterise(mu: Tensor, logvar: Tensor, eps: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) (drawn from ``generator`` unless given): a sample of
    N(mu, diag exp(logvar)) that is a differentiable function of mu and logvar (Kingma & Welling 2014)."""
    _check_codes(mu, logvar)
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    elif not isinstance(eps, Tensor) or eps.shape != mu.shape or not torch.isfinite(eps).all():
        raise ValueError(f"eps must be a finite tensor of mu's shape {tuple(mu.shape)}")
    return mu + torch.exp(logvar / 2) * eps


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) in closed form, summed over the code and averaged over the batch::

        KL = mean_i  -1/2 sum_j (1 + log sigma_ij^2 - mu_ij^2 - sigma_ij^2)
    """
    _check_codes(mu, logvar)
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()


def pixel_loss(x: Tensor, recon: Tensor) -> Tensor:
    """-log p(x | z) of a Gaussian pixel likelihood with s^2 = 1/2, up to a constant: the squared error summed
    over the pixels and averaged over the batch, mean_i |x_i - recon_i|^2."""
    if not isinstance(x, Tensor) or not isinstance(recon, Tensor) or x.shape != recon.shape or x.dim() < 2 \
            or 0 in x.shape or not x.is_floating_point() or not recon.is_floating_point():
        raise ValueError("x and recon must be two non-empty float image batches [batch, ...] of one shape")
    if not (torch.isfinite(x).all() and torch.isfinite(recon).all()):
        raise ValueError("x or recon has NaN or infinite pixels")
    return (x - recon).pow(2).flatten(1).sum(1).mean()


class VAEGANObjective(JSObjective):
    """VAE-GAN (Larsen et al. 2016) for the one trainer, the VAE as its generator and a discriminator D with
    ``features(x)`` (:class:`models.DCGANDiscriminator`). D plays the original game against samples G(z_p) of
    the prior; the encoder and decoder minimise, for a real batch x with x~ = G(z), z ~ q(z | x),

        L_{E,G} = kl_weight * KL(q(z|x) || N(0, I)) + feature_weight * mean_i |D_l(x_i) - D_l(x~_i)|^2
                  - E[log D(G(z_p))] - E[log D(x~)]

    D_l = D.features, the last hidden layer: the reconstruction is judged by what D sees, not by pixels.
    """

    def __init__(self, model: VAE, feature_weight: float = 1.0, kl_weight: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(model, VAE):
            raise TypeError(f"model must be the VAE the trainer trains as G, got {type(model).__name__}")
        self.model = model
        self.feature_weight = check_positive("feature_weight", feature_weight)
        self.kl_weight = check_positive("kl_weight", kl_weight)
        self.rng = torch.Generator().manual_seed(check_int("seed", seed, minimum=0, maximum=2**63 - 1))

    def __repr__(self) -> str:  # the run cache's key: every setting, not the model (its weights are keyed)
        return f"VAEGANObjective(feature_weight={self.feature_weight}, kl_weight={self.kl_weight})"

    def generator_loss(self, D, fake, real):
        features = getattr(D, "features", None)
        if features is None:
            raise TypeError("the VAE-GAN needs a discriminator with a features(x) method (models.DCGANDiscriminator)")
        mu, logvar = self.model.encode(real)
        recon = self.model(reparameterise(mu, logvar, generator=self.rng))
        with torch.no_grad():
            target = features(real)  # [batch, k]: a constant for E and G
        feature_error = (features(recon) - target).pow(2).sum(1).mean() / target.shape[1] * 100
        gan = losses.modified_generator_loss(D(fake)) + losses.modified_generator_loss(D(recon))
        return self.kl_weight * kl_divergence(mu, logvar) / mu.shape[1] + self.feature_weight * feature_error + gan


def train_vae(model: VAE, images: Tensor, *, steps: int, batch_size: int = 64, lr: float = 1e-3,
              seed: int = 0, progress: bool = True, cache: str | None = "vae-mnist") -> VAE:
    """Fit a VAE by maximising the ELBO (minimising pixel_loss + KL) with Adam on random batches of ``images``
    [n, 1, 28, 28] in [-1, 1], seeded; stops with TrainingDiverged on a non-finite loss. Returns the model
    (in eval mode). ``cache``: the run cache's name for the finished weights (:func:`fitcache.load_or_fit`,
    keyed by the settings, the initial weights, the images and the source); ``None`` always trains."""
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a vae.VAE, got {type(model).__name__}")
    _check_images(images)
    check_int("steps", steps, minimum=0)
    check_int("batch_size", batch_size, minimum=1, maximum=len(images))
    check_int("seed", seed, minimum=0, maximum=2**63 - 1)
    check_positive("lr", lr)
    fit = partial(_fit_vae, model, images, steps, batch_size, lr, seed, progress)
    if cache is None:
        return fit()
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed}
    return fitcache.load_or_fit(cache, model, settings, images, fit)


def _fit_vae(model: VAE, images: Tensor, steps: int, batch_size: int, lr: float, seed: int,
             progress: bool) -> VAE:
    """train_vae's loop: Adam (betas 0.5, 0.999) on pixel_loss + KL of random batches drawn from ``seed``."""
    rng = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    bar = runtime.progress_bar(total=steps, enabled=progress, desc="VAE")
    model.train()
    with runtime.ThreadPolicy.of(model, device=next(model.parameters()).device) as threads:
        for step in range(steps):
            threads.check()
            x = images[torch.randint(len(images), (batch_size,), generator=rng)]
            mu, logvar = model.encode(x)
            finite = bool(torch.isfinite(mu).all() and torch.isfinite(logvar).all())
            loss = pixel_loss(x, model(reparameterise(mu, logvar, generator=rng))) + kl_divergence(mu, logvar) \
                if finite else torch.tensor(float("nan"))
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"VAE training diverged at step {step + 1}: the loss is {loss.item()}. "
                                       f"Try a smaller learning rate (now lr={lr}) or check the images for NaN.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(1)
    bar.close()
    return model.eval()


def _check_codes(mu: object, logvar: object) -> None:
    for name, t in (("mu", mu), ("logvar", logvar)):
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() != 2 or t.numel() == 0:
            raise ValueError(f"{name} must be a non-empty float tensor [batch, latent_dim], got "
                             f"{getattr(t, 'dtype', type(t).__name__)} {tuple(getattr(t, 'shape', ()))}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} has NaN or infinite entries")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have one shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")


def _check_images(images: object) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[0] == 0 or images.shape[2] < 2 \
            or images.shape[3] < 2 or not images.is_floating_point():
        raise ValueError(f"images must be a non-empty float tensor [n, C, H, W] with H, W >= 2, got "
                         f"{tuple(getattr(images, 'shape', ())) or type(images).__name__}")
    if not torch.isfinite(images).all():
        raise ValueError("images have NaN or infinite pixels")
