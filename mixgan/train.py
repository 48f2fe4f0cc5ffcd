"""The training loop: one linear function from a TrainConfig to a finished run folder."""
import functools
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mixgan import runs
from mixgan.cpu_memory import keep_freed_memory
from mixgan.data import data_label, make_data
from mixgan.memory import check_memory
from mixgan.run_guard import RunGuard, records_failure
from mixgan.errors import UsageError
from mixgan.frames import frame_iterations, write_frame
from mixgan.networks import make_networks
from mixgan.objectives import OBJECTIVES
from mixgan.snapshots import write_snapshot
from mixgan.spectral import spectral_norm_layers
from mixgan.measure import record_snapshot_metrics  # snapshot metrics (issue 4)


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    return torch.device(name)


def stream_generator(seed, stream, device):
    """An independent torch.Generator per named stream of randomness, derived from the run's seed,
    so that e.g. the snapshot noise is the same for every objective at one seed."""
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & (2**63 - 1))


STREAMS = {"weights": 0, "snapshot": 1, "data": 2, "noise": 3, "objective": 4}


def build_models(config, event_dim=2):
    """G and D with weights drawn from the run's seed, leaving the global RNG as it was.
    ``event_dim``: the shape of one example (an int for points; [C, H, W] gives conv nets)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(stream_generator(config.seed, STREAMS["weights"], "cpu").initial_seed()))
        G, D = make_networks(event_dim, config)
        if config.spectral_norm:  # issue 8; inside the fork: its power-iteration vectors are random
            spectral_norm_layers(D)
    return G, D


def flushing_denormals(train_fn):
    """Run ``train_fn`` with denormal floats treated as zero on the CPU, then restore the
    caller's setting. A saturated discriminator (the ERM runs of Figure 5) fills gradients and
    Adam's moments with values below 1e-38, and x86 arithmetic on them is many times slower:
    with this, the figure5 ERM run on ring took 41 ms per iteration over its first 100 instead
    of 54, and the gap grows as D saturates. Values that small carry no information here."""
    @functools.wraps(train_fn)
    def wrapper(*args, **kwargs):
        was_on = (torch.tensor([1e-40]) * 1.0).item() == 0.0  # torch has no getter for the flag
        torch.set_flush_denormal(True)
        try:
            return train_fn(*args, **kwargs)
        finally:
            torch.set_flush_denormal(was_on)
    return wrapper


def run_label(config):
    return f"{data_label(config.data)}-{config.objective}-s{config.seed}"


@flushing_denormals
@records_failure  # issue 7: an exception escaping a started run is recorded in its status.json
def train(config, progress=True, resume=None):
    """Train one GAN as ``config`` says; return the run folder.

    ``resume``: an existing run folder to continue from its last good checkpoint instead of
    creating a new one (``mixgan.resume.resume`` checks the folder and calls this)."""
    # Set-up: everything that can fail on bad input fails before anything is written.
    device = resolve_device(config.device)
    if device.type == "cpu":
        keep_freed_memory()  # no page faults for re-allocated activations (mixgan/cpu_memory.py)
    data = make_data(config.data, config)
    event_shape = getattr(data, "event_shape", 2)  # image data (issue 5): [C, H, W] picks conv nets
    objective = OBJECTIVES[config.objective](config)
    check_memory(config, device, event_shape)  # issue 7: refuse sizes that cannot fit before allocating
    G, D = build_models(config, event_shape)
    if config.mixup_layer > D.hidden_layers:  # the conv D's depth is known only once it is built
        raise UsageError(f"mixup_layer must be in 0..{D.hidden_layers} (D's hidden layers for this data), "
                         f"got {config.mixup_layer}")
    run = runs.create_run_folder(config.out, run_label(config)) if resume is None else Path(resume)
    if resume is None:
        runs.atomic_write_json(run / "config.json", config.to_dict())
        (run / "snapshots").mkdir()

    gen = {name: stream_generator(config.seed, s, device) for name, s in STREAMS.items() if name != "weights"}
    G, D = G.to(device), D.to(device)
    # Fused Adam: the same update rule as the default implementation in one kernel per
    # step; on 2 CPU cores its step is over 10x cheaper than the default for-loop version.
    adam = dict(lr=config.lr, betas=(config.beta1, config.beta2), fused=device.type in ("cpu", "cuda"))
    opt_g = torch.optim.Adam(G.parameters(), **adam)
    opt_d = torch.optim.Adam(D.parameters(), **adam)

    # One fixed batch of noise and real points for every snapshot, as in Figure 5.
    fixed_z = torch.randn(config.snapshot_size, config.z_dim, generator=gen["snapshot"], device=device)
    fixed_real = data.sample(config.snapshot_size, gen["snapshot"]).cpu().numpy()
    snapshot_at = set(config.snapshot_iterations)
    frame_at = set(frame_iterations(config.frames, config.iterations))  # animation frames (issue 3); empty when off

    B = config.batch_size
    d_chunk = objective.d_batches * B  # real (and fake) points one discriminator step consumes
    sums = {"d_loss": torch.zeros((), device=device), "g_loss": torch.zeros((), device=device)}
    start, window = time.perf_counter(), 0
    # Issue 7: lock the run and mark it running; on resume put back every piece of state from the
    # last good checkpoint (weights, optimisers, random streams, fixed noise, loss sums).
    guard = RunGuard(run, config, G=G, D=D, opt_g=opt_g, opt_d=opt_d, streams=gen, fixed_z=fixed_z,
                     fixed_real=fixed_real, sums=sums)
    first, window, start = guard.begin(resumed=resume is not None, start=start)
    bar = tqdm(total=config.iterations, initial=first - 1, disable=not progress, unit="it", dynamic_ncols=True,
               mininterval=0.5)
    for it in range(first, config.iterations + 1):
        # Discriminator steps. G is fixed while they run, so every fake they need comes from
        # one no-grad forward pass (one large matrix product beats d_steps small ones), and
        # no graph through G is built.
        with torch.no_grad():
            z = torch.randn(config.d_steps * d_chunk, config.z_dim, generator=gen["noise"], device=device)
            fakes = G(z)
        reals = data.sample(config.d_steps * d_chunk, gen["data"])
        for real, fake in zip(reals.split(d_chunk), fakes.split(d_chunk)):
            d_loss = objective.d_loss(D, real, fake, gen["objective"])
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

        # Generator step through a frozen D: gradients flow to G's weights only.
        D.requires_grad_(False)
        z = torch.randn(B, config.z_dim, generator=gen["noise"], device=device)
        g_loss = objective.g_loss(D, G(z))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)

        # Bookkeeping. Losses stay on the device until a log line is due (no per-step sync).
        sums["d_loss"] += d_loss.detach()
        sums["g_loss"] += g_loss.detach()
        window += 1
        guard.watch(it, d_loss, g_loss)  # issue 7: NaN/Inf flag kept on the device, read at log lines
        if it in snapshot_at:
            write_snapshot(run, it, G, D, fixed_z, fixed_real, config)
            # Snapshot metrics (issue 4): sample quality of the saved points and D's smoothness,
            # appended to metrics.jsonl as a "kind": "snapshot" record (a fraction of a second).
            record_snapshot_metrics(run, it, D, data, config)
        if it in frame_at:
            write_frame(run, it, G, D, fixed_z, fixed_real, config)
        if it % config.log_every == 0 or it == config.iterations:
            with torch.no_grad():
                d_real = torch.sigmoid(D(real[:B])).mean().item()
                d_fake = torch.sigmoid(D(fake[:B])).mean().item()
            record = {"iteration": it, "d_loss": sums["d_loss"].item() / window,
                      "g_loss": sums["g_loss"].item() / window, "d_real": d_real, "d_fake": d_fake,
                      "elapsed_s": round(time.perf_counter() - start, 3)}
            runs.append_jsonl(run / "metrics.jsonl", record)
            bar.set_postfix(d_loss=f"{record['d_loss']:.3f}", g_loss=f"{record['g_loss']:.3f}", refresh=False)
            for v in sums.values():
                v.zero_()
            window = 0
        bar.update(1)
        guard.end_of_iteration(it, window, start)  # issue 7: checkpoint when due; stop here on Ctrl-C/SIGTERM
    bar.close()

    # Final weights.
    runs.atomic_torch_save(run / "generator.pt", G.state_dict())
    runs.atomic_torch_save(run / "discriminator.pt", D.state_dict())
    guard.finish()  # issue 7: status.json says finished
    return Path(run)
