"""mixgan: a PyTorch toolkit for studying GAN training stability with the mixup discriminator objective."""
