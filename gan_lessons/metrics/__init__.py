"""Metrics computed on generated samples, one module per topic:

* :mod:`gan_lessons.metrics.modes`: mode-collapse metrics on mixtures of Gaussians (chapter "Mode collapse");
* :mod:`gan_lessons.metrics.scores`: FID, KID, Inception Score and Parzen-window log-likelihood on image
  features (chapter "Evaluating GANs").

Chapters use them as ``metrics.NAME``.
"""
from .modes import *  # noqa: F401,F403
from .modes import __all__ as _modes
from .scores import *  # noqa: F401,F403
from .scores import __all__ as _scores

__all__ = [*_modes, *_scores]
