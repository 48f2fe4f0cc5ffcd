"""mixgan: generator and discriminator modules, interchangeable GAN objectives
(standard and mixup) and the tools to train, see and compare them."""
from mixgan.config import TrainConfig
from mixgan.train import train

__all__ = ["TrainConfig", "train"]
