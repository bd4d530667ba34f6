"""Networks used across the book. Small and explicit: every layer is visible in ``print(model)``."""
from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from .checks import check_allocation, check_int

MAX_DEPTH = 1000  # hidden layers of one MLP: a bound checked before any layer is built
MAX_WIDTH = 4096  # widths, codes and classes of the image networks (checked before allocation)

__all__ = ["ACTIVATIONS", "mlp", "MLPGenerator", "MLPDiscriminator", "MLPImageGenerator", "MLPImageDiscriminator",
           "DCGANGenerator", "DCGANDiscriminator", "ConvCritic", "dcgan_init", "without_batchnorm"]

# The activations every network of the book may use (this MLP and the ensembles of gan_lessons.ensemble)
ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": partial(nn.LeakyReLU, 0.2), "tanh": nn.Tanh, "elu": nn.ELU}


def mlp(in_dim: int, out_dim: int, hidden: int = 128, depth: int = 2, activation: str = "relu",
        norm: str | None = None) -> nn.Sequential:
    """in_dim -> [Linear -> (norm) -> act] x depth -> Linear -> out_dim.

    norm: None | 'batch' | 'layer' (WGAN-GP critics use 'layer' or None, never 'batch').
    """
    for name, value, low in (("in_dim", in_dim, 1), ("out_dim", out_dim, 1), ("hidden", hidden, 1),
                             ("depth", depth, 0)):
        check_int(name, value, low, maximum=MAX_DEPTH if name == "depth" else None)
    check_allocation("this MLP", in_dim * hidden + hidden * hidden * max(depth - 1, 0) + hidden * out_dim
                     if depth else in_dim * out_dim)
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: use one of {', '.join(ACTIVATIONS)}")
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
        layers.append(ACTIVATIONS[activation]())
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


# --- images: 28x28 MNIST-sized networks (chapter "DCGAN on MNIST") -----------------------------------------------

class MLPImageGenerator(nn.Module):
    """The fully connected MNIST generator of Goodfellow et al. 2014 (as in the widely copied PyTorch code):
    z [batch, latent_dim] -> ReLU MLP -> Tanh -> images [batch, 1, 28, 28] in [-1, 1]."""

    def __init__(self, latent_dim: int = 64, hidden: int = 256, depth: int = 2) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(mlp(latent_dim, 784, hidden, depth, "relu"), nn.Tanh(),
                                 nn.Unflatten(1, (1, 28, 28)))  # [batch, 1, 28, 28]

    def forward(self, z: Tensor) -> Tensor:
        _check_latent(z, self.latent_dim)
        return self.net(z)


class MLPImageDiscriminator(nn.Module):
    """The fully connected MNIST discriminator: images [batch, 1, 28, 28] -> LeakyReLU(0.2) MLP -> logits [batch]."""

    def __init__(self, hidden: int = 256, depth: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), mlp(784, hidden, hidden, depth - 1, "leaky_relu"),
                                  nn.LeakyReLU(0.2))  # [batch, hidden]
        self.head = nn.Linear(hidden, 1)

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer [batch, hidden] (what feature matching compares)."""
        _check_images(x, 1)
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(1)  # [batch]


class DCGANGenerator(nn.Module):
    """DCGAN generator for 28x28 (Radford et al. 2016): z -> Linear -> [4w, 7, 7] -> ConvT -> [2w, 14, 14]
    -> ConvT -> [1, 28, 28]. Batch norm + ReLU after every layer except the output, which is Tanh.

    width: w, the number of channels of the last hidden layer is 2w (32 keeps a CPU run fast; 64 is the
    usual GPU size). n_classes > 0 makes it conditional (Mirza & Osindero 2014): G(z, y) with a learned
    embedding of the class y concatenated to z.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, n_classes: int = 0) -> None:
        super().__init__()
        _check_sizes(latent_dim=latent_dim, width=width, n_classes=(n_classes, 0))
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.embed = nn.Embedding(n_classes, n_classes) if n_classes else None
        self.project = nn.Sequential(
            nn.Linear(latent_dim + n_classes, 4 * width * 7 * 7, bias=False),
            nn.Unflatten(1, (4 * width, 7, 7)), nn.BatchNorm2d(4 * width), nn.ReLU())  # [batch, 4w, 7, 7]
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, 1, 4, 2, 1), nn.Tanh())  # [batch, 1, 28, 28]
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        _check_latent(z, self.latent_dim)
        if self.embed is not None:
            z = torch.cat([z, self.embed(_check_labels(labels, z.shape[0], self.n_classes))], dim=1)
        elif labels is not None:
            raise ValueError("this generator is unconditional (n_classes=0): call it as G(z), without labels")
        return self.up(self.project(z))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator for 28x28, the generator in reverse: Conv(stride 2) -> [w, 14, 14] -> Conv(stride 2)
    -> BN -> [2w, 7, 7] -> Conv(stride 2) -> BN -> [4w, 4, 4] -> Linear -> logit. LeakyReLU(0.2), no batch norm
    at the input layer (Radford et al. 2016).

    n_classes > 0 makes it conditional: D(x, y) sees the one-hot class y as n_classes extra constant
    input channels (Mirza & Osindero 2014 concatenate y to the input).
    """

    def __init__(self, width: int = 32, n_classes: int = 0) -> None:
        super().__init__()
        _check_sizes(width=width, n_classes=(n_classes, 0))
        self.n_classes = n_classes
        self.body = nn.Sequential(
            nn.Conv2d(1 + n_classes, width, 4, 2, 1), nn.LeakyReLU(0.2),  # [batch, w, 14, 14]
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * width), nn.LeakyReLU(0.2),
            nn.Flatten())  # [batch, 4w * 4 * 4]
        self.head = nn.Linear(4 * width * 4 * 4, 1)
        dcgan_init(self)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """The last hidden layer [batch, 4w*4*4] (what feature matching compares)."""
        _check_images(x, 1)
        if self.n_classes:
            y = _check_labels(labels, x.shape[0], self.n_classes)
            onehot = torch.nn.functional.one_hot(y, self.n_classes).to(x.dtype)  # [batch, classes]
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        elif labels is not None:
            raise ValueError("this discriminator is unconditional (n_classes=0): call it as D(x), without labels")
        return self.body(x)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, labels)).squeeze(1)  # [batch] logits


class ConvCritic(nn.Module):
    """A WGAN-GP critic for 28x28 images, without batch norm (Gulrajani et al. 2017, sec. 4):

    images [batch, 1, 28, 28] -> Conv(4, stride 2) -> [w, 14, 14] -> Conv(4, stride 2) -> LayerNorm
    -> [2w, 7, 7] -> Linear -> scores [batch]. LeakyReLU(0.2). Batch norm would make D(x) of one sample
    depend on the others in its batch, and the gradient penalty is defined per sample; layer norm does not.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        check_int("width", width, 1, maximum=MAX_WIDTH)
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),  # [batch, w, 14, 14]
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LayerNorm([2 * width, 7, 7]), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))  # [batch, 1]

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must be images of shape [batch, 1, 28, 28], got {getattr(x, 'shape', x)}")
        return self.net(x).squeeze(1)  # [batch]


def dcgan_init(module: nn.Module) -> nn.Module:
    """DCGAN initialisation (Radford et al. 2016): conv and linear weights ~ N(0, 0.02), batch-norm scales
    ~ N(1, 0.02), biases 0. Draws from torch's global generator (seed it first)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"dcgan_init needs an nn.Module, got {type(module).__name__}")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def without_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm layer replaced by the identity, in place (returned for chaining).

    A WGAN-GP critic must not use batch statistics (the penalty is per sample, Gulrajani et al. 2017), and
    spectral normalisation takes over batch norm's job of keeping a discriminator in check (Miyato et al. 2018).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            without_batchnorm(child)
    return module


def _check_latent(z: object, latent_dim: int) -> None:
    if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != latent_dim:
        shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(f"z must be a tensor of shape [batch, {latent_dim}], got {shape}")


def _check_images(x: object, channels: int) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (channels, 28, 28):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be images of shape [batch, {channels}, 28, 28], got {shape}")


def _check_labels(labels: object, batch: int, n_classes: int) -> Tensor:
    if labels is None:
        raise ValueError(f"this network is conditional (n_classes={n_classes}): pass labels [batch] of class ids")
    if not isinstance(labels, Tensor) or labels.shape != (batch,) or labels.dtype != torch.int64:
        got = (tuple(labels.shape), labels.dtype) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be an int64 tensor of shape [{batch}], got {got}")
    if batch and not (0 <= int(labels.min()) and int(labels.max()) < n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got values from {int(labels.min())} "
                         f"to {int(labels.max())}")
    return labels


def _check_sizes(**sizes: object) -> None:
    for name, value in sizes.items():
        value, low = value if isinstance(value, tuple) else (value, 1)
        check_int(name, value, low, maximum=MAX_WIDTH)


# --- BigGAN-style conditioning (chapter "Scaling up") -------------------------------------------------------------

class ConditionalBatchNorm2d(nn.Module):
    """Class-conditional batch norm (de Vries et al. 2017; BigGAN, Brock et al. 2019): batch norm without its
    own affine parameters, then a per-sample gain and bias projected from a class embedding e [batch, k]::

        y = (1 + W_g e) * (x - mu) / sqrt(var + eps) + W_b e     (mu, var: batch statistics per channel)

    The gain is centred on 1 (W_g starts at 0), so at initialisation the layer is plain batch norm.
    """

    def __init__(self, channels: int, embed_dim: int) -> None:
        super().__init__()
        _check_sizes(channels=channels, embed_dim=embed_dim)
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain, self.bias = nn.Linear(embed_dim, channels, bias=False), nn.Linear(embed_dim, channels, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        if x.dim() != 4 or e.dim() != 2 or e.shape[0] != x.shape[0]:
            raise ValueError(f"x must be [batch, C, H, W] and e [batch, k] with one row per sample, got "
                             f"{tuple(x.shape)} and {tuple(e.shape)}")
        gain, bias = 1 + self.gain(e)[:, :, None, None], self.bias(e)[:, :, None, None]  # [batch, C, 1, 1]
        return gain * self.norm(x) + bias


class CCBNGenerator(nn.Module):
    """The DCGAN generator with class-conditional batch norm: z [batch, latent] and labels y [batch] ->
    images [batch, 1, 28, 28]. One class embedding (n_classes x embed_dim), shared by every layer, feeds the
    gains and biases of each :class:`ConditionalBatchNorm2d`; y enters nowhere else (BigGAN's shared
    embedding). Same layers and widths as :class:`DCGANGenerator` otherwise."""

    def __init__(self, latent_dim: int = 64, width: int = 32, n_classes: int = 10, embed_dim: int = 32) -> None:
        super().__init__()
        _check_sizes(latent_dim=latent_dim, width=width, n_classes=(n_classes, 2), embed_dim=embed_dim)
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.project = nn.Sequential(nn.Linear(latent_dim, 4 * width * 7 * 7, bias=False),
                                     nn.Unflatten(1, (4 * width, 7, 7)))  # [batch, 4w, 7, 7]
        self.bn1 = ConditionalBatchNorm2d(4 * width, embed_dim)
        self.up1 = nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False)  # [batch, 2w, 14, 14]
        self.bn2 = ConditionalBatchNorm2d(2 * width, embed_dim)
        self.up2 = nn.ConvTranspose2d(2 * width, 1, 4, 2, 1)  # [batch, 1, 28, 28]
        for layer in (self.project, self.up1, self.up2):  # N(0, 0.02); the conditional gains start at 0
            dcgan_init(layer)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        _check_latent(z, self.latent_dim)
        e = self.embed(_check_labels(labels, z.shape[0], self.n_classes))  # [batch, embed_dim]
        h = torch.relu(self.bn1(self.project(z), e))
        h = torch.relu(self.bn2(self.up1(h), e))
        return torch.tanh(self.up2(h))


class ProjectionDiscriminator(nn.Module):
    """The DCGAN discriminator with a projection head (Miyato & Koyama 2018): with phi(x) [batch, k] the last
    hidden layer and an embedding V [n_classes, k] of the class y::

        D(x, y) = w^T phi(x) + b + V_y^T phi(x)

    The class does not enter as input channels (concatenation); it asks "is phi(x) real AND of class y?" by
    an inner product, which is what the log density ratio of a conditional model looks like (their eq. 3)."""

    def __init__(self, width: int = 32, n_classes: int = 10) -> None:
        super().__init__()
        _check_sizes(width=width, n_classes=(n_classes, 2))
        self.n_classes = n_classes
        self.base = DCGANDiscriminator(width)  # phi and the unconditional head w, b
        self.embed = nn.Embedding(n_classes, 4 * width * 4 * 4)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """phi(x) [batch, 4w*4*4]; the class does not change it."""
        return self.base.features(x)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        phi = self.features(x)
        y = _check_labels(labels, x.shape[0], self.n_classes)
        return self.base.head(phi).squeeze(1) + (self.embed(y) * phi).sum(1)  # [batch] logits


__all__ += ["ConditionalBatchNorm2d", "CCBNGenerator", "ProjectionDiscriminator"]
