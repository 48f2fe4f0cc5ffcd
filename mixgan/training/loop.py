"""The single-run training loop: one linear function from a TrainConfig to a finished run folder."""
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mixgan.data import is_image_dataset, make_data
from mixgan.errors import UsageError
from mixgan.objectives import OBJECTIVES
from mixgan.runs import checkpoints, folders
from mixgan.runs.snapshots import frame_iterations
from mixgan.training.averaging import start_average, update_average
from mixgan.training.memory import check_memory
from mixgan.training.nonfinite import LossWatch
from mixgan.training import distributed, threads
from mixgan.training.saving import keep_real, save_frame, save_snapshot
from mixgan.training.setup import (adam_options, build_models, create_run, flushing_denormals,
                                   snapshot_batch, warn)
from mixgan.training.tensorboard import TensorBoardLog, summary_writer_class


@flushing_denormals
def train(config, progress=True, resume=None):
    """Train one GAN as ``config`` says; return the run folder.

    ``resume``: an existing run folder to continue from its last good checkpoint instead of
    creating a new one (:func:`mixgan.training.resume` checks the folder and calls this).
    Started by ``torchrun`` with several processes, image data trains as one run with
    DistributedDataParallel (:mod:`mixgan.training.distributed`).

    >>> from mixgan import TrainConfig, train
    >>> run = train(TrainConfig(objective="mixup", data="ring", iterations=200))  # doctest: +SKIP
    """
    distributed.check_launch(is_image_dataset(config.data), config.mixup_layer)
    with distributed.joined() as team:
        return _train(config, progress, resume, team)


def _train(config, progress, resume, team):
    """The loop of :func:`train`, run by each process of ``team`` (one, unless torchrun started several).
    With several, only rank 0 writes; the rest of the loop is the same on every rank."""
    main = team.is_main
    # Set-up: everything that can fail on bad input fails before anything is written.
    device = team.device(config.device)
    data = make_data(config.data, config)
    event_shape = getattr(data, "event_shape", 2)  # [C, H, W] for image data picks conv nets
    objective = OBJECTIVES[config.objective](config)
    check_memory(config, device, event_shape)  # refuse sizes that cannot fit before allocating
    G, D = build_models(config, event_shape)
    if config.mixup_layer > D.hidden_layers:  # the conv D's depth is known only once it is built
        raise UsageError(f"mixup_layer must be in 0..{D.hidden_layers} (D's hidden layers for this data), "
                         f"got {config.mixup_layer}")
    used = threads.apply(config, device, resume=resume)  # before any tensor work; see threads.py
    if config.tensorboard:
        summary_writer_class()  # installed, or one line now, before anything is written
    gen = team.generators(config.seed, device)  # noise and λ differ per rank; see rng.rank_generators
    # Drawn before the run folder exists: an image folder decodes these files now, and a damaged one must
    # stop the run before anything is written.
    fixed_z, fixed_real = snapshot_batch(config, data, gen["snapshot"], device)
    # Rank 0 makes the folder; the others learn its path (they write nothing into it).
    run = Path(team.from_main(lambda: str(create_run(config, device, {**used, **team.recorded(config)})
                                          if resume is None else Path(resume))))

    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), **adam_options(config, device))
    opt_d = torch.optim.Adam(D.parameters(), **adam_options(config, device))
    G_ema = start_average(G) if config.ema else None  # the weight average that only generates
    snapshot_at = set(config.snapshot_iterations)
    frame_at = set(frame_iterations(config.frames, config.iterations))  # empty without --frames

    B = config.batch_size
    d_chunk = objective.d_batches * B  # real (and fake) points one discriminator step consumes
    sums = {"d_loss": torch.zeros((), device=device), "g_loss": torch.zeros((), device=device)}
    state = dict(G=G, D=D, opt_g=opt_g, opt_d=opt_d, streams=gen, fixed_z=fixed_z, sums=sums, G_ema=G_ema)
    watch = LossWatch(device)

    with team.guard(run) as guard:
        # Lock the run; on resume put back every piece of state from the last good checkpoint
        # (weights, optimisers, random streams, fixed noise, loss sums) and mark it running.
        # Rank 0 reads the checkpoint and sends it to the others.
        start, window, done = time.perf_counter(), 0, 0
        if resume is not None:
            ckpt = team.from_main(lambda: _checkpoint_to_resume(run, config, device, team.size))
            if ckpt is not None:
                done, window, elapsed = checkpoints.restore(ckpt, **state)
                if "ranks" in ckpt:
                    distributed.restore_rank(ckpt, team.rank, gen, sums)
                start -= elapsed
        # From here G and D train in step on every rank: DDP copies rank 0's weights to the others now
        # and averages gradients from then on. G and D stay the plain modules for everything else.
        G_train, D_train = team.wrap(G, device), team.wrap(D, device)
        guard.begin(done, resuming=resume is not None)
        # Image data comes through a DataLoader, one batch per iteration from the one this run is at
        # (with several processes, each from its own share of the data); toy distributions are
        # sampled on the device.
        image_batches = (data.training_batches(config.d_steps * d_chunk, config.seed, done + 1, device,
                                               shard=team.shard)
                         if hasattr(data, "training_batches") else None)
        board = TensorBoardLog(run, after=done) if config.tensorboard and main else None
        if main:
            fixed_real = keep_real(run, fixed_real)  # image runs: once in real.npz, not in every snapshot

        def stop_if_bad(it):
            problem = team.first_problem(watch.problem(it, G, D))
            if problem:
                guard.fail(0, problem)
                raise guard.failure()

        # disable=None: no bar when standard error is not a terminal (a log gets the result line only)
        bar = tqdm(total=config.iterations, initial=done, disable=None if progress and main else True, unit="it",
                   dynamic_ncols=True,
                   mininterval=0.5)
        for it in range(done + 1, config.iterations + 1):
            # Discriminator steps. G is fixed while they run, so every fake they need comes from
            # one no-grad forward pass (one large matrix product beats d_steps small ones), and
            # no graph through G is built.
            with torch.no_grad():
                z = torch.randn(config.d_steps * d_chunk, config.z_dim, generator=gen["noise"], device=device)
                fakes = G(z)
            reals = (next(image_batches) if image_batches is not None
                     else data.sample(config.d_steps * d_chunk, gen["data"]))
            for real, fake in zip(reals.split(d_chunk), fakes.split(d_chunk)):
                d_loss = objective.d_loss(D_train, real, fake, gen["objective"])
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()

            # Generator step through a frozen D: gradients flow to G's weights only.
            D.requires_grad_(False)
            z = torch.randn(B, config.z_dim, generator=gen["noise"], device=device)
            g_loss = objective.g_loss(D, G_train(z))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            D.requires_grad_(True)
            if G_ema is not None:  # the weight average follows every G step and never trains
                update_average(G_ema, G, config.ema)

            # Bookkeeping. Losses stay on the device until a log line is due (no per-step sync).
            sums["d_loss"] += d_loss.detach()
            sums["g_loss"] += g_loss.detach()
            window += 1
            watch.watch(it, d_loss, g_loss)
            logged = it % config.log_every == 0 or it == config.iterations
            if it in snapshot_at or logged:
                stop_if_bad(it)  # no snapshot or metrics line ever holds a NaN
            if it in snapshot_at and main:
                save_snapshot(run, it, G, D, fixed_z, fixed_real, config, data, G_ema)
            if it in frame_at and main:
                save_frame(run, it, G, D, fixed_z, fixed_real, config, G_ema)
            if logged:
                with torch.no_grad():
                    d_real = torch.sigmoid(D(real[:B])).mean()
                    d_fake = torch.sigmoid(D(fake[:B])).mean()
                    # with several processes, the means over all of them
                    values = team.mean(torch.stack([sums["d_loss"], sums["g_loss"], d_real, d_fake]).cpu()).tolist()
                record = {"iteration": it, "d_loss": values[0] / window, "g_loss": values[1] / window,
                          "d_real": values[2], "d_fake": values[3], "elapsed_s": round(time.perf_counter() - start, 3)}
                if main:
                    folders.append_jsonl(run / "metrics.jsonl", record)
                bar.set_postfix(d_loss=f"{record['d_loss']:.3f}", g_loss=f"{record['g_loss']:.3f}", refresh=False)
                for v in sums.values():
                    v.zero_()
                window = 0
            if board is not None and (logged or it in snapshot_at):
                board.update(snapshot=it if it in snapshot_at else None)
            bar.update(1)

            # Checkpoint when due, at every snapshot and at the end, and after Ctrl-C/SIGTERM,
            # which then stops the run here (on every rank at the same iteration).
            stopping = guard.stop_due(team.agree_stop(guard.stop_signal))
            if stopping is not None or it % config.checkpoint_every == 0 or it in snapshot_at \
                    or it == config.iterations:
                stop_if_bad(it)  # a checkpoint never holds a NaN
                ranks = team.gather(distributed.per_rank_state(gen, sums)) if team.size > 1 else None
                if main:
                    folders.fsync_file(run / "metrics.jsonl")  # the lines it vouches for are on disk first
                    ckpt = checkpoints.capture(it, window, time.perf_counter() - start, config, **state)
                    if ranks is not None:  # each rank's own noise, λ and loss sums, to resume every rank
                        ckpt.update(ranks=ranks, world_size=team.size)
                    checkpoints.save(run, ckpt)
                guard.checkpointed(it)
            guard.stop_here(it, stopping)
        bar.close()

        # Final weights.
        if main:
            folders.atomic_torch_save(run / "generator.pt", G.state_dict())
            folders.atomic_torch_save(run / "discriminator.pt", D.state_dict())
            if G_ema is not None:
                folders.atomic_torch_save(run / "generator_ema.pt", G_ema.state_dict())
        if board is not None:
            board.close()
        guard.finish(config.iterations)
    return Path(run)


def _checkpoint_to_resume(run, config, device, world_size):
    """The checkpoint ``run`` resumes from (None when it has none yet), checked to have been made
    by as many processes as now train it: each holds its own share of the data and its own noise."""
    ckpts = checkpoints.load_for_resume([run], [config], device, warn=warn)
    if not ckpts:
        return None
    made = ckpts[0].get("world_size", 1)
    if made != world_size:
        raise UsageError(f"checkpoint of {run} was written by {made} process(es), and {world_size} would resume it; "
                         f"resume it with as many (torchrun --nproc-per-node {made} -m mixgan train --resume RUN"
                         f"{'' if made > 1 else ', or plain mixgan train --resume RUN'})")
    return ckpts[0]
