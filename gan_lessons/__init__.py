"""GAN Lessons: the code behind the chapters of the book.

Import the modules the chapters cite by their names: ``from gan_lessons import losses, train, data``.
Nothing here touches the network at import time.
"""
from . import data, losses, models, objectives, plots, runtime, train
from .runtime import banner, get_device, get_profile, pick, seed_everything
from .train import GANTrainer, TrainConfig, TrainingDiverged, train_gan

__version__ = "0.1.0"

__all__ = [
    "data", "losses", "models", "objectives", "plots", "runtime", "train",
    "banner", "get_device", "get_profile", "pick", "seed_everything",
    "GANTrainer", "TrainConfig", "TrainingDiverged", "train_gan",
]
