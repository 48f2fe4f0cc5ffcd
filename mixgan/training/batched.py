"""Batched multi-run training: R runs of one architecture trained as one stacked model.

Each run keeps everything a run trained alone by ``loop.py`` has: its weights drawn from its
own seed (``setup.build_models``), its own named random streams (``mixgan/rng.py``) drawn in the
same order, its own Adam state (Adam is elementwise, so one optimiser over stacked weights is R
optimisers), its own run folder with the same files, and its own checkpoints in the single-run
format (``stacked_state.py``). Only the arithmetic is shared: one batched matrix product per
layer for all R runs, so a run trained in a batch gives the samples it gives alone, within float
rounding. The set-up is the single run's (``setup.py``) and so is the lifecycle
(``mixgan/runs/guard.py``).

Runs in one batch may differ in seed, dataset, α, λ distribution, snapshot iterations and
output folder; everything that fixes a tensor's shape or the optimiser (objective, pairing,
generator loss, sizes, schedule, learning rate, device) must be shared (``batch_key``).

A batch of one is how ``mixgan train`` and ``mixgan figure5`` train a toy run (``engines.py``
routes them): it keeps everything a run of ``loop.py`` has (EMA, frames, the landscape, NaN stop
with the same line, resumable single-run checkpoints), and on a GPU it replays each iteration as
one CUDA graph. Its numbers equal ``loop.py``'s within float rounding, not bitwise: the stacked
products (``torch.bmm`` then the bias) and ``nn.Linear``'s fused ``addmm`` round differently.
"""
import copy
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mixgan.data import DATASETS, make_data
from mixgan.errors import UsageError
from mixgan.nets import stack, unstack
from mixgan.nets.stacked import parameter_names
from mixgan.objectives import BATCHED_OBJECTIVES
from mixgan.rng import run_generators
from mixgan.runs import checkpoints, folders
from mixgan.runs.guard import RunGuard
from mixgan.training import cuda_graph, stacked_state, threads
from mixgan.training.averaging import update_average
from mixgan.runs.snapshots import frame_iterations
from mixgan.training.memory import check_memory
from mixgan.training.nonfinite import RunsLossWatch
from mixgan.training.saving import save_frame, save_snapshot
from mixgan.training.setup import (adam_options, build_models, create_run, flushing_denormals, prepare_device,
                                   snapshot_batch, warn)

# Options a run in a batch may choose for itself; every other TrainConfig field must agree.
PER_RUN_FIELDS = ("seed", "data", "alpha", "lambda_dist", "snapshots", "out", "preset")


def batch_key(config):
    """What runs must share to be trained in one batch (see PER_RUN_FIELDS)."""
    values = config.to_dict()
    if values["objective"] != "mixup":
        values["pairing"] = None  # only mixup reads the pairing
    return tuple((k, v) for k, v in sorted(values.items()) if k not in PER_RUN_FIELDS)


def batchable(config):
    """Whether the batched engine trains ``config`` as ``train()`` would: an objective with a
    batched form (``BATCHED_OBJECTIVES``) on 2D toy data, without the options it does not
    implement. Those stay on the single-run loop, each for a reason: gradient penalties (``r1``,
    ``r2``) differentiate D twice, which the fused stacked MLP does not; spectral norm keeps
    per-layer power-iteration vectors a stacked weight has no place for; manifold mixup
    (``mixup_layer``) mixes hidden activations inside D; image data needs conv nets; TensorBoard
    logging is written by the single-run loop."""
    return (config.objective in BATCHED_OBJECTIVES and config.data in DATASETS and config.r1 == 0
            and config.r2 == 0 and not config.spectral_norm and config.mixup_layer == 0
            and not config.tensorboard)


def check_batch(configs):
    """Raise UsageError with one line unless ``configs`` can train as one batch."""
    if not configs:
        raise UsageError("a batch needs at least one run")
    first = dict(batch_key(configs[0]))
    for c in configs[1:]:
        for name, value in batch_key(c):
            if value != first[name]:
                raise UsageError(f"runs in one batch must share {name}: got {first[name]!r} and {value!r}")
    if configs[0].objective not in BATCHED_OBJECTIVES:
        raise UsageError(f"objective {configs[0].objective!r} has no batched form yet; "
                         f"batched objectives: {', '.join(BATCHED_OBJECTIVES)}")
    if not all(batchable(c) for c in configs):
        raise UsageError("the batched engine trains 2D toy data without --r1/--r2/--spectral-norm/"
                         "--mixup-layer; train such runs alone")


def _stack_per_run(draw, generators):
    """``draw(r, generator)`` returns a list of tensors for run r; stack each position run-first."""
    per_run = [draw(r, g) for r, g in enumerate(generators)]
    return [torch.stack(parts) for parts in zip(*per_run)]


@flushing_denormals
def train_batched(configs, progress=True, cuda_graph=None, resume=None):
    """Train every config in ``configs`` as one batch; return their run folders, in order.

    ``cuda_graph``: capture one iteration in a CUDA graph and replay it (None: on CUDA only;
    see ``cuda_graph.py``). On the CPU the plain eager loop runs.
    ``resume``: the run folders of a stopped batch, in the order of ``configs``: training goes
    on from their last checkpoint, or from the start where they have none. Every run is
    checkpointed as a single run is: every ``checkpoint_every`` iterations, at its snapshots, at
    the end, and on Ctrl-C/SIGTERM, which then stops the batch. A run whose numbers turn NaN/Inf
    is marked failed and the others train on (a batch whose every run has failed stops); a batch
    of one stops with RunFailed and the failure's line, as ``train()`` does.

    >>> from mixgan import make_config, train_batched
    >>> runs = train_batched([make_config(dict(data="ring", seed=s, iterations=200)) for s in range(4)])  # doctest: +SKIP
    """
    # Set-up: everything that can fail on bad input fails before anything is written.
    configs = list(configs)
    check_batch(configs)
    c0 = configs[0]
    device = prepare_device(c0.device)
    datas = [make_data(c.data) for c in configs]
    objective = BATCHED_OBJECTIVES[c0.objective](configs, device)
    check_memory(c0, device)  # every run has c0's sizes: refuse one that cannot fit before allocating
    # The runs share their matrix products: one choice for the batch (a resumed batch keeps its own).
    used = threads.apply(c0, device, runs=len(configs), resume=resume[0] if resume else None)
    # "engine" tells a later resume which engine to go on with (``engines.py``).
    run_folders = ([create_run(c, device, {**used, "engine": "batched"}) for c in configs] if resume is None
                   else [Path(run) for run in resume])
    with RunGuard(run_folders) as guard:
        return _train(configs, run_folders, guard, device, datas, objective, progress, cuda_graph, resume is not None)


def _train(configs, run_folders, guard, device, datas, objective, progress, graph, resuming):
    """The body of :func:`train_batched`, run while ``guard`` holds every run's lock."""
    c0, R = configs[0], len(configs)
    ckpts = checkpoints.load_for_resume(run_folders, configs, device, warn=warn) if resuming else None

    per_run = [run_generators(c.seed, device) for c in configs]
    gens = {name: [g[name] for g in per_run] for name in per_run[0]}
    singles = [build_models(c) for c in configs]
    for (g, d), ckpt in zip(singles, ckpts or ()):
        g.load_state_dict(ckpt["G"])
        d.load_state_dict(ckpt["D"])
    G, D = stack([g for g, _ in singles]).to(device), stack([d for _, d in singles]).to(device)
    G_ema = None
    if c0.ema:  # the weight average: each run's G as it starts, or as its checkpoint left the average
        averages = [g for g, _ in singles] if not ckpts else [copy.deepcopy(g) for g, _ in singles]
        for average, ckpt in zip(averages, ckpts or ()):
            average.load_state_dict(ckpt["G_ema"])
        G_ema = stack(averages).to(device).requires_grad_(False)
    like_G, like_D = singles_like = singles[0]  # templates for unstacking one run
    del singles
    graph = cuda_graph.want_graph(graph, device)
    opt_g = torch.optim.Adam(G.parameters(), **adam_options(c0, device, graph))
    opt_d = torch.optim.Adam(D.parameters(), **adam_options(c0, device, graph))
    if ckpts:
        stacked_state.load_stacked_optimizer(opt_g, G, [c["opt_g"] for c in ckpts])
        stacked_state.load_stacked_optimizer(opt_d, D, [c["opt_d"] for c in ckpts])

    # One fixed batch of noise and real points per run for every snapshot, as in Figure 5.
    fixed_z, fixed_real = map(list, zip(*(snapshot_batch(c, data, g, device)
                                          for c, data, g in zip(configs, datas, gens["snapshot"]))))
    due, frame_due = {}, {}  # iteration -> runs with a snapshot (a frame) then
    for r, c in enumerate(configs):
        for it in c.snapshot_iterations:
            due.setdefault(it, []).append(r)
        for it in frame_iterations(c.frames, c.iterations):
            frame_due.setdefault(it, []).append(r)

    B, z_dim, d_steps = c0.batch_size, c0.z_dim, c0.d_steps
    d_chunk = objective.d_batches * B
    state = {"d_loss": torch.zeros(R, device=device), "g_loss": torch.zeros(R, device=device)}
    losses = {name: state[name] for name in ("d_loss", "g_loss")}
    done, window, elapsed = 0, 0, 0.0
    if ckpts:
        done, window, elapsed = stacked_state.restore_runs(ckpts, gens, fixed_z, losses)
    guard.begin(done, resuming)
    watch = RunsLossWatch(R, device, done)
    names_G, names_D = parameter_names(singles_like[0]), parameter_names(singles_like[1])

    def iteration():
        """One iteration of every run; leaves the last step's real/fake in ``state`` for logging."""
        # All of one iteration's noise per run, in the order a single run draws it (D steps, then G step).
        zs = _stack_per_run(lambda r, g: [torch.randn(d_steps * d_chunk, z_dim, generator=g, device=device),
                                          torch.randn(B, z_dim, generator=g, device=device)], gens["noise"])
        reals = torch.stack([data.sample(d_steps * d_chunk, g) for data, g in zip(datas, gens["data"])])
        # Discriminator steps: every run's loss summed, so each run's weights get its own gradient.
        for s in range(d_steps):
            real = reals[:, s * d_chunk:(s + 1) * d_chunk]
            # G is fixed during the D steps. A single run makes all its fakes in one pass; here each
            # step's fakes are made just before the step, so R runs' activations stay in cache.
            with torch.no_grad():
                fake = G(zs[0][:, s * d_chunk:(s + 1) * d_chunk])
            d_loss = objective.d_loss(D, real, fake, gens["objective"])
            opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            opt_d.step()
        # Generator step through a frozen D.
        D.requires_grad_(False)
        g_loss = objective.g_loss(D, G(zs[1]))
        opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        opt_g.step()
        D.requires_grad_(True)
        if G_ema is not None:
            update_average(G_ema, G, c0.ema)
        # Losses stay on the device until a log line is due (no host synchronisation). In place:
        # a CUDA graph replays its kernels on the tensors it captured.
        state["d_loss"] += d_loss.detach()
        state["g_loss"] += g_loss.detach()
        watch.watch(d_loss, g_loss)
        state["real"], state["fake"] = real[:, :B], fake[:, :B]

    step = cuda_graph.Stepper(iteration, graph, [gens[name] for name in ("noise", "data", "objective")], device)
    start = time.perf_counter() - elapsed
    # disable=None: no bar when standard error is not a terminal (a log gets the result line only)
    bar = tqdm(total=c0.iterations, initial=done, disable=None if progress else True, unit="it", dynamic_ncols=True,
               mininterval=0.5, desc=f"{R} runs" if R > 1 else None)

    def check(it):
        """Mark failed every run whose losses or weights are no longer finite. The runs of a stack
        do not touch each other's numbers, so the others train on; a failed run keeps its last
        good checkpoint and gets no more snapshots, metrics or checkpoints. A run alone stops with
        its failure's line, as train() does; returns whether any run is left to train."""
        for r, problem in watch.problems(it, G, D, names_G, names_D).items():
            guard.fail(r, problem)
        if R == 1 and guard.failed:
            bar.close()
            raise guard.failure(0)
        return bool(guard.live())

    # Everything between two of these iterations (D steps, G step, λ draws, Adam, the average)
    # is step(); what reads values back (checks, snapshots, frames, log lines, checkpoints) runs
    # here, only at its iterations.
    for it in range(done + 1, c0.iterations + 1):
        step()
        window += 1
        logged = it % c0.log_every == 0 or it == c0.iterations
        # Checkpoints as a run alone takes them: when due, at its snapshots, at the end, and on a signal.
        stopping = guard.stop_due(guard.stop_signal)
        checkpointed = (stopping is not None or it % c0.checkpoint_every == 0 or it in due
                        or it == c0.iterations)
        # No snapshot, frame, metrics line or checkpoint ever holds a NaN; a batch whose every run
        # has failed stops here (the command that trains it says what failed).
        if (it in due or it in frame_due or logged or checkpointed) and not check(it):
            break
        for r in due.get(it, ()):
            if r not in guard.failed:
                save_snapshot(run_folders[r], it, unstack(G, r, like_G), unstack(D, r, like_D), fixed_z[r],
                              fixed_real[r], configs[r], datas[r],
                              None if G_ema is None else unstack(G_ema, r, like_G))
        for r in frame_due.get(it, ()):
            if r not in guard.failed:
                save_frame(run_folders[r], it, unstack(G, r, like_G), unstack(D, r, like_D), fixed_z[r],
                           fixed_real[r], configs[r], None if G_ema is None else unstack(G_ema, r, like_G))
        if logged:
            record = _log(run_folders, it, window, state, D, start, guard.failed)
            if R == 1:  # a run alone shows its losses on its bar, as train() does
                bar.set_postfix(d_loss=f"{record[0]:.3f}", g_loss=f"{record[1]:.3f}", refresh=False)
            for name in ("d_loss", "g_loss"):
                state[name].zero_()
            window = 0
        bar.update(1)
        if checkpointed:
            for r in guard.live():
                folders.fsync_file(run_folders[r] / "metrics.jsonl")  # the lines it vouches for are on disk first
                checkpoints.save(run_folders[r], stacked_state.capture_run(
                    r, it, window, time.perf_counter() - start, configs[r], G, D, opt_g, opt_d, like_G, like_D,
                    gens, fixed_z, losses, G_ema))
            guard.checkpointed(it)
        guard.stop_here(it, stopping)  # after Ctrl-C/SIGTERM: every run is checkpointed; stop
    bar.close()
    if step.note:
        print(f"mixgan: {step.note}", file=sys.stderr)

    # Final weights, saved per run under the names and keys a single run uses.
    for r in guard.live():
        folders.atomic_torch_save(run_folders[r] / "generator.pt", unstack(G, r, like_G).state_dict())
        folders.atomic_torch_save(run_folders[r] / "discriminator.pt", unstack(D, r, like_D).state_dict())
        if G_ema is not None:
            folders.atomic_torch_save(run_folders[r] / "generator_ema.pt", unstack(G_ema, r, like_G).state_dict())
    guard.finish(c0.iterations)
    if guard.failed:
        print(f"mixgan: {len(guard.failed)} of {R} runs failed (NaN/Inf) and are marked so: "
              + ", ".join(str(run_folders[r]) for r in sorted(guard.failed)), file=sys.stderr)
    return [Path(run) for run in run_folders]


def _log(run_folders, it, window, state, D, start, failed=()):
    """One metrics.jsonl line per run (but the ``failed`` ones), from a single device-to-host copy;
    returns the first run's (d_loss, g_loss, d_real, d_fake)."""
    with torch.no_grad():
        d_real = torch.sigmoid(D(state["real"])).mean(1)
        d_fake = torch.sigmoid(D(state["fake"])).mean(1)
    table = torch.stack([state["d_loss"] / window, state["g_loss"] / window, d_real, d_fake]).T.tolist()
    elapsed = round(time.perf_counter() - start, 3)
    for r, (run, (d_loss, g_loss, dr, df)) in enumerate(zip(run_folders, table)):
        if r in failed:
            continue
        folders.append_jsonl(run / "metrics.jsonl", {"iteration": it, "d_loss": d_loss, "g_loss": g_loss,
                                                     "d_real": dr, "d_fake": df, "elapsed_s": elapsed})
    return table[0]
