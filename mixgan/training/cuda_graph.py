"""The GPU fast path of the batched engine: one iteration replayed as a CUDA graph.

A small MLP run on a GPU is bound by kernel launches and Python, not arithmetic: one batched
iteration is a few hundred small kernels. Captured once in a CUDA graph (``torch.cuda.graph``),
the whole iteration (every run's random draws from its own generators, the λ draws and
shuffles, the D steps, the G step, both Adam updates, the weight average and the NaN watch)
replays as one launch from Python. Nothing in the iteration reads a value back to the host (a
capture fails on any synchronisation, so a finished capture proves it), and the loop waits for
the GPU only at log lines, snapshots, frames and checkpoints, which run between replays.

What an iteration must respect to be captured: a replay re-runs the captured kernels on the
tensors they used at the capture, so state carried from one iteration to the next is updated in
place (``+=``, ``copy_``), never rebound to a new tensor, and nothing in it may depend on a Python
number that changes between iterations (the NaN watch counts iterations on the device).

On the CPU the plain eager loop runs, with fused Adam: ``torch.compile`` of the stacked G and D
did not pay there (32 runs at width 64 on a shared 2-core CPU: 50 s to compile, then 2.4–2.5 ms
of CPU time per run-iteration against 2.4–2.7 ms eager).
"""
import torch

from mixgan.errors import UsageError

WARMUP_ITERATIONS = 3  # eager iterations before capture (lazy initialisation, Adam state, caches)


def want_graph(cuda_graph, device):
    """Resolve the ``cuda_graph`` request: None means on for CUDA devices, off otherwise."""
    if cuda_graph is None:
        return device.type == "cuda"
    if cuda_graph and device.type != "cuda":
        raise UsageError(f"CUDA graphs need a CUDA device, got {device}")
    return bool(cuda_graph)


class Stepper:
    """Calls ``iteration()`` once per training iteration: eagerly, or (``graph``) eagerly for
    WARMUP_ITERATIONS on a side stream, then captured once and replayed for every later iteration.

    The capture records kernels without running them, so every iteration still runs exactly
    once. ``generators`` (lists of per-run CUDA generators) are registered with the graph so each
    replay draws fresh numbers from every run's streams. If capture fails (an operation that
    cannot be captured, e.g. in a new dataset's sampler), training goes on eagerly and ``note``
    says so; the runs stay correct but their random streams may have moved on by one capture.
    """

    def __init__(self, iteration, graph, generators, device):
        self.iteration, self.graph, self.device = iteration, graph, device
        self.generators = [g for group in generators for g in group]
        self.captured, self.note = None, None
        self.calls = 0  # counted here, not taken from the iteration number: a resumed batch starts late

    def __call__(self):
        self.calls += 1
        if not self.graph:
            return self.iteration()
        if self.captured is not None:
            return self.captured.replay()
        if self.calls <= WARMUP_ITERATIONS:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self.iteration()
            torch.cuda.current_stream(self.device).wait_stream(side)
            return None
        return self._capture_and_replay()

    def _capture_and_replay(self):
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        for g in self.generators:
            graph.register_generator_state(g)
        try:
            with torch.cuda.graph(graph):
                self.iteration()
        except Exception as e:  # noqa: BLE001 - any capture failure means: run eagerly instead
            self.graph = False
            self.note = f"CUDA graph capture failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); " \
                        "trained eagerly instead"
            torch.cuda.synchronize(self.device)
            return self.iteration()
        self.captured = graph
        graph.replay()
        return None
