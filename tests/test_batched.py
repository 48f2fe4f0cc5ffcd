"""The batched engine: a run trained inside a batch is the run trained alone, within float rounding."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from conftest import tiny_config
from mixgan import objectives
from mixgan.objectives import core
from mixgan.training.batched import BATCHED_OBJECTIVES, batch_key, check_batch, train_batched
from mixgan.errors import UsageError
from mixgan.nets.mlp import MLPDiscriminator, MLPGenerator
from mixgan.nets.stacked import stack, unstack
from mixgan.training import train

BATCHES = {
    # Runs differing in seed, dataset, α and λ distribution, for each shape of objective.
    "mixup real-fake": [dict(seed=1), dict(seed=2, alpha=0.5, lambda_dist="uniform", data="ring"),
                        dict(seed=3, alpha=0.05, data="grid")],
    "mixup shuffled": [dict(seed=1, pairing="shuffled"),
                       dict(seed=4, pairing="shuffled", lambda_dist="uniform", alpha=0.2, data="grid")],
    "standard": [dict(seed=1, objective="standard"), dict(seed=5, objective="standard", data="ring",
                                                          g_loss="saturating")],
    # With the generator's weight average: each run's average is the one it keeps alone.
    "mixup ema": [dict(seed=1, ema=0.9), dict(seed=2, ema=0.9, alpha=0.5, lambda_dist="uniform", data="ring")],
}


def fake_at(run, iteration, key="fake"):
    with np.load(run / "snapshots" / f"iter_{iteration:06d}.npz") as z:
        return z[key], z["real"]


@pytest.mark.parametrize("name", list(BATCHES))
def test_batched_runs_match_runs_trained_alone(tmp_path, name):
    configs = [tiny_config(out=str(tmp_path / "batch"), snapshots=(1, 12), **o) for o in BATCHES[name]]
    batched = train_batched(configs, progress=False)
    for options, run_b in zip(BATCHES[name], batched):
        run_a = train(tiny_config(out=str(tmp_path / "alone"), snapshots=(1, 12), **options), progress=False)
        # The same files, but for the checkpoints (and their lock) that only single runs keep.
        files = lambda run: sorted(p.name for p in run.rglob("*")  # noqa: E731
                                   if p.name != ".lock" and "checkpoints" not in p.parts)
        assert files(run_a) == files(run_b)
        keys = ("fake", "fake_ema") if options.get("ema") else ("fake",)
        for it, key in ((it, key) for it in (1, 12) for key in keys):
            (fa, ra), (fb, rb) = fake_at(run_a, it, key), fake_at(run_b, it, key)
            assert np.array_equal(ra, rb)  # the same snapshot stream
            np.testing.assert_allclose(fb, fa, atol=1e-5, rtol=1e-4)
        la, lb = ([json.loads(l) for l in (r / "metrics.jsonl").read_text().splitlines()] for r in (run_a, run_b))
        assert [l["iteration"] for l in la] == [l["iteration"] for l in lb]
        for a, b in zip(la, lb):
            assert a.get("kind") == b.get("kind")
            keys = ("d_loss", "g_loss", "d_real", "d_fake") if "kind" not in a else ("energy_distance", "grad_norm_real")
            assert a.keys() == b.keys()
            for key in keys + tuple(k for k in a if k.startswith("ema_") and a[k] is not None):
                assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5)
        for name in ("generator.pt", "generator_ema.pt") if options.get("ema") else ("generator.pt",):
            wa, wb = (torch.load(r / name) for r in (run_a, run_b))
            assert wa.keys() == wb.keys()
            for k in wa:
                torch.testing.assert_close(wb[k], wa[k], atol=1e-5, rtol=1e-4)


def test_runs_in_a_batch_differ_and_do_not_leak(tmp_path):
    """Changing one run of a batch leaves the others' results as they were."""
    base = [tiny_config(out=str(tmp_path), seed=s, iterations=4, snapshots=(4,)) for s in (1, 2)]
    a = train_batched(base, progress=False)
    b = train_batched([base[0], tiny_config(out=str(tmp_path), seed=9, alpha=0.9, iterations=4, snapshots=(4,))],
                      progress=False)
    np.testing.assert_allclose(fake_at(a[0], 4)[0], fake_at(b[0], 4)[0], atol=1e-6)
    assert not np.allclose(fake_at(a[0], 4)[0], fake_at(a[1], 4)[0])


@settings(max_examples=20, deadline=None)
@given(alphas=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=4), dist=st.sampled_from(["beta", "uniform"]),
       seed=st.integers(0, 2**31))
def test_lambda_per_run_draws_equal_single_draws(alphas, dist, seed):
    """Stacked per-run draws with per-run α give each run's own λ (up to the last bit or so: the
    vectorised and scalar tails of elementwise kernels may round differently)."""
    draw, transform = core.LAMBDA_DRAWS[dist]
    gens = [torch.Generator().manual_seed(seed + r) for r in range(len(alphas))]
    stacked = [torch.stack(p) for p in zip(*(draw((40,), g, "cpu") for g in gens))]
    lam = transform(stacked, torch.tensor([[a] for a in alphas], dtype=torch.float64))
    for r, a in enumerate(alphas):
        alone = objectives.LAMBDA_DISTRIBUTIONS[dist]((40,), a, torch.Generator().manual_seed(seed + r), "cpu")
        torch.testing.assert_close(lam[r], alone, rtol=1e-6, atol=1e-7)


def test_stack_and_unstack_round_trip():
    torch.manual_seed(0)
    Gs = [MLPGenerator(2, 2, 8, 2) for _ in range(3)]
    G = stack(Gs)
    z = torch.randn(3, 5, 2)
    for r in range(3):
        torch.testing.assert_close(G(z)[r], Gs[r](z[r]))
        back = unstack(G, r, Gs[0])
        for k, v in Gs[r].state_dict().items():
            assert torch.equal(back.state_dict()[k], v)
    Ds = [MLPDiscriminator(2, 8, 2) for _ in range(2)]
    assert stack(Ds)(torch.randn(2, 7, 2)).shape == (2, 7)


def test_batch_refuses_runs_that_cannot_share_a_batch(tmp_path):
    with pytest.raises(UsageError, match="must share width"):
        check_batch([tiny_config(), tiny_config(width=8)])
    with pytest.raises(UsageError, match="must share objective"):
        check_batch([tiny_config(), tiny_config(objective="standard")])
    with pytest.raises(UsageError, match="at least one"):
        check_batch([])
    # Per-run options do not split a batch; pairing does not matter to the standard objective.
    assert batch_key(tiny_config(seed=1, alpha=0.3, data="ring")) == batch_key(tiny_config(seed=2))
    assert batch_key(tiny_config(objective="standard", pairing="shuffled")) == \
        batch_key(tiny_config(objective="standard"))
    assert not list(tmp_path.iterdir())


def test_objective_without_batched_form_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(objectives.OBJECTIVES, "other", objectives.OBJECTIVES["standard"])
    monkeypatch.delitem(BATCHED_OBJECTIVES, "standard")
    with pytest.raises(UsageError, match="no batched form"):
        train_batched([tiny_config(objective="standard", out=str(tmp_path))], progress=False)
    assert not list(tmp_path.iterdir())  # nothing written


def test_cuda_graph_on_cpu_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="CUDA graphs need a CUDA device"):
        train_batched([tiny_config(out=str(tmp_path), device="cpu")], progress=False, cuda_graph=True)


def test_fast_path_choices_on_the_cpu():
    from mixgan.training import cuda_graph as fast_path
    cpu = torch.device("cpu")
    assert fast_path.want_graph(None, cpu) is False and fast_path.want_graph(False, cpu) is False
    from mixgan.training.setup import adam_options
    c = tiny_config()
    assert adam_options(c, cpu) == {"lr": c.lr, "betas": (c.beta1, c.beta2), "fused": True}
    assert adam_options(c, torch.device("cuda"), graph=True)["capturable"] is True
    assert "capturable" not in adam_options(c, torch.device("cuda"), graph=False)
    calls = []
    step = fast_path.Stepper(lambda: calls.append(1), False, [], cpu)
    for _ in range(5):
        step()
    assert len(calls) == 5 and step.note is None  # eager: exactly one iteration per call


def test_shuffle_permutations_are_the_same_row_by_row_and_alone():
    """A run's shuffle must not depend on the batch around it, ties in the keys included."""
    g = torch.Generator().manual_seed(5)
    keys = torch.randint(0, 6, (8, 40), generator=g).float() / 8  # many ties per row
    rows = core.argsort_rows(keys)
    for r in range(keys.shape[0]):
        assert torch.equal(rows[r], core.argsort_rows(keys[r]))
        assert torch.equal(keys[r][rows[r]], keys[r].sort().values)

