"""The baseline objectives on hand-checkable tensors, the option wrappers, and D's feature layers."""
import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_config
from mixgan import objectives
from mixgan.objectives import with_options
from mixgan.objectives.baselines import HingeObjective, LSGANObjective, ManifoldMixup, Penalised, WGANGPObjective
from mixgan.nets.conv import ConvDiscriminator
from mixgan.errors import UsageError
from mixgan.nets.mlp import MLPDiscriminator
from mixgan.objectives.core import MixupObjective
from mixgan.objectives.penalties import r1, r2


def points(logits):
    """Points whose first coordinate is the given logit."""
    x = torch.tensor(logits, dtype=torch.float32)
    return torch.stack([x, torch.zeros_like(x)], dim=-1)


REAL, FAKE = [0.5, 2.0, -1.0], [-2.0, 0.3, 1.5]


def test_hinge_by_hand(first_coordinate):
    obj = HingeObjective()
    d = obj.d_loss(first_coordinate, points(REAL), points(FAKE), None)
    # real: max(0, 1 − r) = 0.5, 0, 2;  fake: max(0, 1 + f) = 0, 1.3, 2.5
    assert d.item() == pytest.approx((0.5 + 0 + 2) / 3 + (0 + 1.3 + 2.5) / 3, rel=1e-6)
    assert obj.g_loss(first_coordinate, points(FAKE)).item() == pytest.approx(-(-2.0 + 0.3 + 1.5) / 3, rel=1e-6)


def test_lsgan_by_hand(first_coordinate):
    obj = LSGANObjective()
    d = obj.d_loss(first_coordinate, points(REAL), points(FAKE), None)
    real_term = ((0.5 - 1) ** 2 + (2 - 1) ** 2 + (-1 - 1) ** 2) / 3
    fake_term = (4 + 0.09 + 2.25) / 3
    assert d.item() == pytest.approx(0.5 * real_term + 0.5 * fake_term, rel=1e-6)
    g = obj.g_loss(first_coordinate, points(FAKE))
    assert g.item() == pytest.approx(0.5 * (9 + 0.49 + 0.25) / 3, rel=1e-6)


def test_wgan_gp_by_hand(first_coordinate):
    # D(x) = x₀ has ‖∇D‖ = 1 everywhere, so the penalty vanishes whatever its weight.
    for weight in (0.0, 10.0):
        d = WGANGPObjective(weight).d_loss(first_coordinate, points(REAL), points(FAKE), torch.Generator())
        assert d.item() == pytest.approx(sum(FAKE) / 3 - sum(REAL) / 3, rel=1e-6)
    assert WGANGPObjective().g_loss(first_coordinate, points(FAKE)).item() == pytest.approx(-sum(FAKE) / 3)


def test_wgan_gp_penalty_weight_scales_the_penalty():
    """For D(x) = 3·x₀ the gradient norm is 3: the penalty adds λ·(3 − 1)² = 4λ."""
    D = lambda x: 3 * x[..., 0]  # noqa: E731
    D.event_ndim = 1
    real, fake = points(REAL), points(FAKE)
    base = 3 * (sum(FAKE) - sum(REAL)) / 3
    for weight in (0.1, 10.0):
        d = WGANGPObjective(weight).d_loss(D, real, fake, torch.Generator())
        assert d.item() == pytest.approx(base + 4 * weight, rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_penalised_adds_exactly_r1_and_r2(seed):
    torch.manual_seed(seed)
    D = MLPDiscriminator(2, 16, 2)
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    inner = objectives.StandardObjective()
    wrapped = Penalised(inner, r1_gamma=2.0, r2_gamma=0.5)
    expected = inner.d_loss(D, real, fake, None) + r1(D, real, 2.0) + r2(D, fake, 0.5)
    torch.testing.assert_close(wrapped.d_loss(D, real, fake, None), expected)
    torch.testing.assert_close(wrapped.g_loss(D, fake), inner.g_loss(D, fake))
    assert Penalised(MixupObjective(pairing="shuffled"), 1.0).d_batches == 2


def test_with_options_wraps_only_when_asked():
    build = with_options(objectives.standard)  # the plain builder; the registry holds it wrapped
    assert type(build(tiny_config(objective="standard"))) is objectives.StandardObjective
    assert isinstance(build(tiny_config(objective="standard", r2=1.0)), Penalised)
    obj = objectives.OBJECTIVES["mixup"](tiny_config(objective="mixup", mixup_layer=1, r1=1.0))
    assert isinstance(obj, Penalised) and isinstance(obj.inner, ManifoldMixup) and obj.inner.layer == 1
    for name in ("wgan-gp", "hinge", "lsgan"):
        assert isinstance(objectives.OBJECTIVES[name](tiny_config(objective=name, r1=0.5)), Penalised)


# ---------------------------------------------------------------- feature layers and manifold mixup
@pytest.mark.parametrize("layer", range(4))
def test_mlp_hidden_layers_compose_to_forward(layer):
    torch.manual_seed(layer)
    D = MLPDiscriminator(2, 16, 3)
    x = torch.randn(4, 5, 2)
    h = D.hidden(x, layer)
    assert h.shape == ((4, 5, 2) if layer == 0 else (4, 5, 16))
    if layer:
        assert (h >= 0).all()  # the output of a ReLU
    torch.testing.assert_close(D.from_hidden(h, layer), D(x))


@pytest.mark.parametrize("layer", range(3))
def test_conv_hidden_layers_compose_to_forward(layer):
    torch.manual_seed(layer)
    D = ConvDiscriminator(channels=3, resolution=16, width=4)
    x = torch.randn(2, 3, 16, 16)
    h = D.hidden(x, layer)
    assert h.shape[-1] == 16 >> layer
    torch.testing.assert_close(D.from_hidden(h, layer), D(x))


def test_hidden_layer_out_of_range_is_a_usage_error():
    with pytest.raises(UsageError, match="mixup_layer must be in 0..3"):
        MLPDiscriminator(2, 8, 3).hidden(torch.zeros(1, 2), 4)
    with pytest.raises(UsageError, match="mixup_layer must be in 0..1"):
        ConvDiscriminator(1, 8, 4).hidden(torch.zeros(1, 1, 8, 8), 2)


@pytest.mark.parametrize("pairing", ["real-fake", "shuffled"])
def test_manifold_mixup_at_layer_zero_is_input_mixup(pairing):
    torch.manual_seed(0)
    D = MLPDiscriminator(2, 16, 2)
    real, fake = torch.randn(64, 2), torch.randn(64, 2) + 2
    inner = MixupObjective(alpha=0.4, pairing=pairing)
    expected = inner.d_loss(D, real, fake, torch.Generator().manual_seed(5))
    got = ManifoldMixup(inner, 0).d_loss(D, real, fake, torch.Generator().manual_seed(5))
    torch.testing.assert_close(got, expected)


def test_manifold_mixup_mixes_hidden_features_by_hand():
    torch.manual_seed(1)
    D = MLPDiscriminator(2, 8, 2)
    real, fake = torch.randn(10, 2), torch.randn(10, 2)
    inner = MixupObjective(pairing="real-fake")
    inner.sample_lambda = lambda shape, generator, device: torch.full(tuple(shape), 0.3)
    h = 0.3 * D.hidden(real, 2) + 0.7 * D.hidden(fake, 2)
    expected = F.binary_cross_entropy_with_logits(D.from_hidden(h, 2), torch.full((10,), 0.3))
    torch.testing.assert_close(ManifoldMixup(inner, 2).d_loss(D, real, fake, torch.Generator()), expected)
    # Mixing features is not mixing inputs: the network is non-linear.
    assert not torch.allclose(expected, ManifoldMixup(inner, 0).d_loss(D, real, fake, torch.Generator()))


# ---------------------------------------------------------------- every objective on images
@pytest.mark.parametrize("name,options", [("standard", {}), ("mixup", {}), ("mixup", dict(mixup_layer=1)),
                                          ("wgan-gp", {}), ("hinge", {}), ("lsgan", {}),
                                          ("standard", dict(r1=1.0, r2=1.0))])
def test_every_objective_trains_a_conv_discriminator(name, options):
    """A few optimiser steps of a spectrally normalised conv D on 8x8 images change D and stay finite."""
    from mixgan.nets.spectral import spectral_norm_layers
    torch.manual_seed(0)
    D = spectral_norm_layers(ConvDiscriminator(channels=1, resolution=8, width=4))
    before = [p.detach().clone() for p in D.parameters()]
    obj = objectives.OBJECTIVES[name](tiny_config(objective=name, **options))
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    real = torch.rand(2 * obj.d_batches * 8, 1, 8, 8) * 2 - 1
    fake = torch.randn(2 * obj.d_batches * 8, 1, 8, 8).tanh()
    for r, f in zip(real.chunk(2), fake.chunk(2)):
        loss = obj.d_loss(D, r, f, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, D.parameters()))
    assert torch.isfinite(obj.g_loss(D, fake[:4]))
