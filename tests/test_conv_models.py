"""DCGAN-style convolutional generator and discriminator: shapes, per-example logits, errors."""
import pytest
import torch
from torch import nn

from mixgan.nets.conv import SUPPORTED_RESOLUTIONS, ConvDiscriminator, ConvGenerator
from mixgan.errors import UsageError


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("resolution", SUPPORTED_RESOLUTIONS)
def test_shapes_for_every_resolution(resolution, channels):
    torch.manual_seed(0)
    g = ConvGenerator(z_dim=8, channels=channels, resolution=resolution, width=4)
    d = ConvDiscriminator(channels=channels, resolution=resolution, width=4)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, channels, resolution, resolution) == (3, *g.event_shape)
    assert x.abs().max() <= 1
    logits = d(x)
    assert logits.shape == (3,) and d.event_ndim == 3 and d.event_shape == g.event_shape
    assert d(x[:1]).shape == (1,)


def test_structure_follows_dcgan():
    g = ConvGenerator(z_dim=16, channels=3, resolution=64)  # default width 64
    d = ConvDiscriminator(channels=3, resolution=64)
    ups = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    downs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in ups] == [256, 128, 64, 3] and g.project.out_features == 512 * 4 * 4
    assert [m.out_channels for m in downs] == [64, 128, 256, 512] and d.head.in_features == 512 * 4 * 4
    assert all(m.kernel_size == (4, 4) and m.stride == (2, 2) and m.padding == (1, 1) for m in ups + downs)
    assert isinstance(list(g.modules())[-1], nn.Tanh)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())
    assert any(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in d.modules())
    g28 = ConvGenerator(z_dim=4, channels=1, resolution=28, width=8)
    assert g28.project.out_features == 16 * 7 * 7
    small = ConvDiscriminator(1, 16, width=8)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in ConvDiscriminator(1, 16, width=16).parameters())


def test_discriminator_is_per_example_and_supports_gradient_penalty():
    torch.manual_seed(0)
    d = ConvDiscriminator(channels=1, resolution=16, width=8)
    x = torch.randn(5, 1, 16, 16, requires_grad=True)
    logits = d(x)
    torch.testing.assert_close(logits[2:3], d(x[2:3]))
    grad, = torch.autograd.grad(logits.sum(), x, create_graph=True)
    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    penalty.backward()
    assert all(m.weight.grad is not None for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_one_training_step_on_digits():
    from mixgan.data.images import load_image_data

    data = load_image_data("digits")
    gen = torch.Generator().manual_seed(0)
    g = ConvGenerator(16, *data.event_shape[:2], width=8)
    d = ConvDiscriminator(*data.event_shape[:2], width=8)
    real, fake = data.sample(8, gen), g(torch.randn(8, 16, generator=gen))
    loss = nn.functional.softplus(-d(real)).mean() + nn.functional.softplus(d(fake)).mean()
    loss.backward()
    assert torch.isfinite(loss) and g.project.weight.grad is not None


@pytest.mark.parametrize("resolution", [0, 4, 24, 48, 128, "32", True])
def test_unsupported_resolution(resolution):
    for build in (lambda: ConvGenerator(8, 1, resolution), lambda: ConvDiscriminator(1, resolution)):
        with pytest.raises(UsageError, match="8, 16, 28, 32, 64"):
            build()


def test_bad_sizes():
    with pytest.raises(UsageError, match="width"):
        ConvDiscriminator(3, 32, width=0)
    with pytest.raises(UsageError, match="channels"):
        ConvGenerator(8, 0, 32)
    with pytest.raises(UsageError, match="z_dim"):
        ConvGenerator(2.5, 3, 32)
