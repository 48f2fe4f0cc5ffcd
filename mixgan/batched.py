"""Batched multi-run training: R runs of one architecture trained as one stacked model.

Each run keeps everything a run trained alone by ``mixgan/train.py`` has: its weights drawn
from its own seed (``build_models``), its own named random streams (``stream_generator``,
``STREAMS``) drawn in the same order, its own Adam state (Adam is elementwise, so one
optimiser over stacked weights is R optimisers), and its own run folder with the same files.
Only the arithmetic is shared: one batched matrix product per layer for all R runs, so a
run trained in a batch gives the samples it gives alone, within float rounding.

Runs in one batch may differ in seed, dataset, α, λ distribution, snapshot iterations and
output folder; everything that fixes a tensor's shape or the optimiser (objective, pairing,
generator loss, sizes, schedule, learning rate, device) must be shared (``batch_key``).
"""
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from mixgan import batched_checkpoints, checkpoints, runs
from mixgan.batched_checkpoints import BatchGuard
from mixgan.cpu_memory import keep_freed_memory
from mixgan.data import make_data
from mixgan.errors import UsageError
from mixgan.objectives import GENERATOR_LOSSES, LAMBDA_DRAWS, shuffle_pairs
from mixgan.run_guard import fsync_file
from mixgan.measure import record_snapshot_metrics
from mixgan.snapshots import write_snapshot
from mixgan.stacked import stack, unstack
from mixgan.train import STREAMS, build_models, flushing_denormals, resolve_device, run_label, stream_generator
from mixgan import fast_path

# Options a run in a batch may choose for itself; every other TrainConfig field must agree.
PER_RUN_FIELDS = ("seed", "data", "alpha", "lambda_dist", "snapshots", "out", "preset")


def batch_key(config):
    """What runs must share to be trained in one batch (see PER_RUN_FIELDS)."""
    values = config.to_dict()
    if values["objective"] != "mixup":
        values["pairing"] = None  # only mixup reads the pairing
    return tuple((k, v) for k, v in sorted(values.items()) if k not in PER_RUN_FIELDS)


def batchable(config):
    """Whether the batched engine trains ``config`` exactly as ``train()`` would: a batched
    objective on 2D toy data, with none of the options the batched loop does not implement
    (penalties, spectral norm, manifold mixup, animation frames). Other runs train alone."""
    from mixgan.data import DATASETS
    return (config.objective in BATCHED_OBJECTIVES and config.data in DATASETS and config.r1 == 0
            and config.r2 == 0 and not config.spectral_norm and config.mixup_layer == 0 and config.frames == 0)


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
                         "--mixup-layer/--frames; train such runs alone")


def _stack_per_run(draw, generators):
    """``draw(r, generator)`` returns a list of tensors for run r; stack each position run-first."""
    per_run = [draw(r, g) for r, g in enumerate(generators)]
    return [torch.stack(parts) for parts in zip(*per_run)]


def _per_run_bce(logits, target):
    """Each run's mean BCE-with-logits [R], as ``F.binary_cross_entropy_with_logits`` gives it alone."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)


class BatchedStandard:
    """:class:`mixgan.objectives.StandardObjective` for R runs; returns per-run losses [R]."""

    d_batches = 1

    def __init__(self, configs, device):
        self.generator_loss = torch.vmap(GENERATOR_LOSSES[configs[0].g_loss])

    def d_loss(self, D, real, fake, generators):
        logits = D(torch.cat([real, fake], dim=1))
        target = torch.cat([torch.ones(real.shape[:2], device=real.device),
                            torch.zeros(fake.shape[:2], device=fake.device)], dim=1)
        return _per_run_bce(logits, target)

    def g_loss(self, D, fake):
        return self.generator_loss(D(fake))


class BatchedMixup(BatchedStandard):
    """:class:`mixgan.objectives.MixupObjective` for R runs with per-run α and λ distribution.

    A single run draws, per discriminator step, the pairing's shuffle keys and then λ from its
    ``objective`` stream; here each run draws exactly those numbers from its own stream, and
    the transforms (Marsaglia–Tsang for Beta, the shuffle, the mix) run once on the stack.
    """

    def __init__(self, configs, device):
        super().__init__(configs, device)
        self.shuffled = configs[0].pairing == "shuffled"
        self.d_batches = 2 if self.shuffled else 1
        self.dists = [c.lambda_dist for c in configs]
        # Runs grouped by λ distribution: (name, run indices, the same on the device, α per run [n, 1] in float64).
        self.groups = []
        for name in dict.fromkeys(self.dists):
            idx = [r for r, d in enumerate(self.dists) if d == name]
            alpha = torch.tensor([[configs[r].alpha] for r in idx], dtype=torch.float64, device=device)
            self.groups.append((name, idx, torch.tensor(idx, device=device), alpha))

    def d_loss(self, D, real, fake, generators):
        n_real = real.shape[1]
        # Per mixed pair: real-fake mixes B reals with B fakes; shuffled mixes two halves of 2B reals+fakes.
        pairs = 2 * ((n_real + 1) // 2) if self.shuffled else n_real

        def draw(r, g):
            keys = [torch.rand((pairs,), generator=g, device=real.device)] if self.shuffled else []
            return keys + LAMBDA_DRAWS[self.dists[r]][0]((pairs,), g, real.device)

        per_run = [draw(r, g) for r, g in enumerate(generators)]
        if self.shuffled:
            keys = torch.stack([d[0] for d in per_run])
            x1, y1, x2, y2 = shuffle_pairs(real, fake, 1, keys)
            per_run = [d[1:] for d in per_run]
        else:
            y1 = torch.ones(real.shape[:2], device=real.device)
            x1, x2, y2 = real, fake, torch.zeros_like(y1)
        lam = self._lambda(per_run, y1.shape, real.device)
        mixed = torch.lerp(x2, x1, lam.unsqueeze(-1))
        target = torch.lerp(y2, y1, lam)
        return _per_run_bce(D(mixed), target)

    def _lambda(self, per_run, shape, device):
        if len(self.groups) == 1:  # the common case: one distribution, no scatter
            name, _, _, alpha = self.groups[0]
            draws = [torch.stack(parts) for parts in zip(*per_run)]
            return LAMBDA_DRAWS[name][1](draws, alpha)
        lam = torch.empty(shape, device=device)
        for name, idx, idx_on_device, alpha in self.groups:
            draws = [torch.stack(parts) for parts in zip(*(per_run[r] for r in idx))]
            lam[idx_on_device] = LAMBDA_DRAWS[name][1](draws, alpha)
        return lam


# objective name -> batched form (per-run losses [R] from stacked inputs [R, N, 2]).
BATCHED_OBJECTIVES = {"standard": BatchedStandard, "mixup": BatchedMixup}


@flushing_denormals
def train_batched(configs, progress=True, cuda_graph=None, resume=None):
    """Train every config in ``configs`` as one batch; return their run folders, in order.

    ``cuda_graph``: capture one iteration in a CUDA graph and replay it (None: on CUDA only;
    see ``mixgan/fast_path.py``). On the CPU the plain eager loop runs.
    ``resume``: the run folders of a stopped batch, in the order of ``configs``: training goes
    on from their last checkpoint (``mixgan/batched_checkpoints.py``), or from the start where
    they have none. Every run is checkpointed as a single run is: every ``checkpoint_every``
    iterations, at the end, and on Ctrl-C/SIGTERM, which then stops the batch.
    """
    # Set-up: everything that can fail on bad input fails before anything is written.
    configs = list(configs)
    check_batch(configs)
    c0 = configs[0]
    device = resolve_device(c0.device)
    if device.type == "cpu":
        keep_freed_memory()  # 2 MiB activations re-allocated without page faults (mixgan/cpu_memory.py)
    datas = [make_data(c.data) for c in configs]
    objective = BATCHED_OBJECTIVES[c0.objective](configs, device)
    if resume is None:
        folders = []
        for c in configs:
            run = runs.create_run_folder(c.out, run_label(c))
            runs.atomic_write_json(run / "config.json", c.to_dict())
            (run / "snapshots").mkdir()
            folders.append(run)
    else:
        folders = [Path(run) for run in resume]
    guard = BatchGuard(folders, configs)
    with guard:
        return _train(configs, folders, guard, device, datas, objective, progress, cuda_graph, resume is not None)


def _train(configs, folders, guard, device, datas, objective, progress, cuda_graph, resuming):
    """The body of :func:`train_batched`, run while ``guard`` holds every run's lock."""
    c0, R = configs[0], len(configs)
    ckpts = batched_checkpoints.load_batch(folders, configs, device) if resuming else None

    gens = {name: [stream_generator(c.seed, s, device) for c in configs]
            for name, s in STREAMS.items() if name != "weights"}
    singles = [build_models(c) for c in configs]
    for (g, d), ckpt in zip(singles, ckpts or ()):
        g.load_state_dict(ckpt["G"])
        d.load_state_dict(ckpt["D"])
    G, D = stack([g for g, _ in singles]).to(device), stack([d for _, d in singles]).to(device)
    like_G, like_D = singles[0]  # templates for unstacking one run
    del singles
    graph = fast_path.want_graph(cuda_graph, device)
    adam = dict(lr=c0.lr, betas=(c0.beta1, c0.beta2), **fast_path.adam_options(device, graph))
    opt_g = torch.optim.Adam(G.parameters(), **adam)
    opt_d = torch.optim.Adam(D.parameters(), **adam)
    if ckpts:
        batched_checkpoints.load_stacked_optimizer(opt_g, G, [c["opt_g"] for c in ckpts])
        batched_checkpoints.load_stacked_optimizer(opt_d, D, [c["opt_d"] for c in ckpts])

    # One fixed batch of noise and real points per run for every snapshot, as in Figure 5.
    fixed_z = [torch.randn(c.snapshot_size, c.z_dim, generator=g, device=device)
               for c, g in zip(configs, gens["snapshot"])]
    fixed_real = [data.sample(c.snapshot_size, g).cpu().numpy()
                  for c, data, g in zip(configs, datas, gens["snapshot"])]
    due = {}  # iteration -> runs with a snapshot then
    for r, c in enumerate(configs):
        for it in c.snapshot_iterations:
            due.setdefault(it, []).append(r)

    B, z_dim, d_steps = c0.batch_size, c0.z_dim, c0.d_steps
    d_chunk = objective.d_batches * B
    state = {"d_loss": torch.zeros(R, device=device), "g_loss": torch.zeros(R, device=device)}
    losses = {name: state[name] for name in ("d_loss", "g_loss")}
    first, window, elapsed = 1, 0, 0.0
    if ckpts:
        done, window, elapsed = batched_checkpoints.restore_runs(ckpts, gens, fixed_z, fixed_real, losses)
        first = done + 1
    guard.begin(first - 1, resuming)

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
        # Losses stay on the device until a log line is due (no host synchronisation).
        state["d_loss"] += d_loss.detach()
        state["g_loss"] += g_loss.detach()
        state["real"], state["fake"] = real[:, :B], fake[:, :B]

    step = fast_path.Stepper(iteration, graph, [gens[name] for name in ("noise", "data", "objective")], device)
    start = time.perf_counter() - elapsed
    bar = tqdm(total=c0.iterations, initial=first - 1, disable=not progress, unit="it", dynamic_ncols=True,
               mininterval=0.5, desc=f"{R} runs")

    def check(it):
        """Mark failed every run whose losses or weights are no longer finite (one host sync). The
        runs of a stack do not touch each other's numbers, so the others train on; a failed run
        keeps its last good checkpoint and gets no more snapshots, metrics or checkpoints."""
        bad = ~(torch.isfinite(state["d_loss"]) & torch.isfinite(state["g_loss"]))
        for p in (*G.parameters(), *D.parameters()):
            bad |= ~torch.isfinite(p.detach()).flatten(1).all(1)
        for r in bad.nonzero().flatten().tolist():
            guard.fail(r, f"a loss or weight became NaN/Inf by iteration {it} (checked at log lines, snapshots "
                          f"and checkpoints; in a batch)")

    def checkpoint(it):
        for r, (run, c) in enumerate(zip(folders, configs)):
            if r in guard.failed:
                continue
            fsync_file(run / "metrics.jsonl")  # the lines the checkpoint vouches for are on disk first
            checkpoints.save(run, batched_checkpoints.capture_run(
                r, it, window, time.perf_counter() - start, c, G, D, opt_g, opt_d, like_G, like_D, gens,
                fixed_z, fixed_real, losses))
        guard.checkpointed(it)

    for it in range(first, c0.iterations + 1):
        step()
        window += 1
        logged = it % c0.log_every == 0 or it == c0.iterations
        checkpointed = guard.stop_signal is not None or it % c0.checkpoint_every == 0 or it == c0.iterations
        if it in due or logged or checkpointed:
            check(it)  # no snapshot, metrics line or checkpoint ever holds a NaN
        for r in due.get(it, ()):
            if r in guard.failed:
                continue
            D_r = unstack(D, r, like_D)
            write_snapshot(folders[r], it, unstack(G, r, like_G), D_r, fixed_z[r], fixed_real[r], configs[r])
            record_snapshot_metrics(folders[r], it, D_r, datas[r], configs[r])  # as a single run does
        if logged:
            _log(folders, it, window, state, D, start, guard.failed)
            for name in ("d_loss", "g_loss"):
                state[name].zero_()
            window = 0
        bar.update(1)
        if checkpointed:
            checkpoint(it)
        guard.stop_here(it)  # after Ctrl-C/SIGTERM: every run is checkpointed; stop
    bar.close()
    if step.note:
        print(f"mixgan: {step.note}", file=sys.stderr)

    # Final weights, saved per run under the names and keys a single run uses.
    for r, run in enumerate(folders):
        if r in guard.failed:
            continue
        runs.atomic_torch_save(run / "generator.pt", unstack(G, r, like_G).state_dict())
        runs.atomic_torch_save(run / "discriminator.pt", unstack(D, r, like_D).state_dict())
    guard.finish(c0.iterations)
    if guard.failed:
        print(f"mixgan: {len(guard.failed)} of {R} runs failed (NaN/Inf) and are marked so: "
              + ", ".join(str(folders[r]) for r in sorted(guard.failed)), file=sys.stderr)
    return [Path(run) for run in folders]


def _log(folders, it, window, state, D, start, failed=()):
    """One metrics.jsonl line per run (but the ``failed`` ones), from a single device-to-host copy."""
    with torch.no_grad():
        d_real = torch.sigmoid(D(state["real"])).mean(1)
        d_fake = torch.sigmoid(D(state["fake"])).mean(1)
    table = torch.stack([state["d_loss"] / window, state["g_loss"] / window, d_real, d_fake]).T.tolist()
    elapsed = round(time.perf_counter() - start, 3)
    for r, (run, (d_loss, g_loss, dr, df)) in enumerate(zip(folders, table)):
        if r in failed:
            continue
        runs.append_jsonl(run / "metrics.jsonl", {"iteration": it, "d_loss": d_loss, "g_loss": g_loss,
                                                  "d_real": dr, "d_fake": df, "elapsed_s": elapsed})
