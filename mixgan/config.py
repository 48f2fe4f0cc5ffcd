"""TrainConfig: the one documented source of every training option.

The CLI, ``--config`` files (TOML or JSON) and the ``config.json`` of every run folder are
all built from this dataclass. Unknown keys and wrong types are errors.
"""
import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mixgan.errors import UsageError

PAPER_SNAPSHOTS = (10, 100, 1000, 10000, 20000)


def opt(default, doc, **meta):
    """A config field with its one-line doc (shown by ``--help``)."""
    return field(default=default, metadata={"doc": doc, **meta})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; defaults follow the paper's equation and architecture."""

    objective: str = opt("mixup", "GAN objective", choices="objectives")
    data: str = opt("spiral", "2D toy distribution", choices="datasets")
    alpha: float = opt(0.2, "mixup α: Beta(α, α) or U(0, α) for λ")
    lambda_dist: str = opt("beta", "mixup λ distribution: beta (the paper's equation) or uniform (the demo code)",
                           choices="lambda_dists")
    pairing: str = opt("real-fake", "mixup pairing: real-fake (the paper's equation) or shuffled (the demo code)",
                       choices="pairings")
    g_loss: str = opt("saturating", "generator loss: saturating (minimax) or nonsaturating (−log D(G(z)))",
                      choices="g_losses")
    iterations: int = opt(20000, "generator updates")
    d_steps: int = opt(5, "discriminator updates per generator update")
    batch_size: int = opt(128, "real points (and generated points) per batch")
    width: int = opt(512, "hidden units per layer of G and D")
    depth: int = opt(3, "hidden layers of G and D")
    z_dim: int = opt(2, "noise dimension of G")
    lr: float = opt(1e-3, "Adam learning rate of G and D")
    beta1: float = opt(0.9, "Adam β1 of G and D")
    beta2: float = opt(0.999, "Adam β2 of G and D")
    snapshots: tuple = opt(None, "snapshot iterations; default: those of 10,100,1000,10000,20000 within the run, "
                                 "and the last")
    snapshot_size: int = opt(1000, "fixed noise vectors and real points drawn once for every snapshot")
    log_every: int = opt(100, "iterations between lines of metrics.jsonl")
    seed: int = opt(0, "seed for weights, data, noise and λ")
    device: str = opt("auto", "auto (cuda when present), cpu or cuda", choices="devices")
    out: str = opt("outputs", "folder that receives the numbered run folder")
    preset: str = opt(None, "named settings applied under the given options", choices="presets")
    # Checkpoints and resume (issue 7; see mixgan/run_guard.py and docs/RUNS.md).
    checkpoint_every: int = opt(1000, "iterations between checkpoints (one is also written at every snapshot "
                                      "and at the end; the last two are kept)")

    def __post_init__(self):
        check(self)

    @property
    def snapshot_iterations(self):
        """The resolved, sorted snapshot iterations."""
        if self.snapshots is not None:
            return tuple(sorted(set(self.snapshots)))
        return tuple(i for i in PAPER_SNAPSHOTS if i < self.iterations) + (self.iterations,)

    def to_dict(self):
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}

# Named settings. ``figure5`` is exactly what the authors' demo code used for Figure 5:
# λ ~ U(0, α), two shuffled real+fake batches mixed, saturating generator loss, α = 0.2,
# and the paper's architecture and schedule. With objective ``standard`` it is the ERM baseline.
PRESETS = {
    "figure5": dict(alpha=0.2, lambda_dist="uniform", pairing="shuffled", g_loss="saturating",
                    iterations=20000, d_steps=5, batch_size=128, width=512, depth=3, z_dim=2,
                    lr=1e-3, beta1=0.9, beta2=0.999, snapshot_size=1000),
    "paper": dict(lambda_dist="beta", pairing="real-fake", g_loss="saturating", iterations=20000,
                  d_steps=5, batch_size=128, width=512, depth=3, z_dim=2, lr=1e-3),
}


def choices(kind):
    """Valid names for a field with ``choices`` metadata (imported late: registries live beside what they register)."""
    from mixgan import data, objectives
    return {
        "objectives": list(objectives.OBJECTIVES),
        "datasets": list(data.DATASETS),
        "lambda_dists": list(objectives.LAMBDA_DISTRIBUTIONS),
        "pairings": list(objectives.PAIRINGS),
        "g_losses": list(objectives.GENERATOR_LOSSES),
        "devices": ["auto", "cpu", "cuda"],
        "presets": list(PRESETS),
    }[kind]


def _check_type(name, value):
    kind = FIELDS[name].type
    if value is None and FIELDS[name].default is None:
        return
    if kind == "tuple" or kind is tuple:
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
            raise UsageError(f"{name} must be a list of whole numbers, got {value!r}")
        return
    expected = {"int": int, "float": (int, float), "str": str}[kind if isinstance(kind, str) else kind.__name__]
    if isinstance(value, bool) or not isinstance(value, expected):
        raise UsageError(f"{name} must be {getattr(expected, '__name__', 'a number')}, got {value!r}")


# Sizes past which a run would exhaust memory or never end; refused before anything is allocated.
LIMITS = dict(iterations=10**9, d_steps=1000, batch_size=1 << 20, width=1 << 14, depth=64, z_dim=1 << 14,
              snapshot_size=1 << 20, log_every=10**9)


def check(c):
    """Raise UsageError with one line for the first invalid option."""
    for name in FIELDS:
        _check_type(name, getattr(c, name))
    for name in ("objective", "data", "lambda_dist", "pairing", "g_loss", "device", "preset"):
        value, valid = getattr(c, name), choices(FIELDS[name].metadata["choices"])
        if value is not None and value not in valid:
            noun = {"data": "dataset", "lambda_dist": "lambda distribution", "g_loss": "generator loss"}.get(name, name)
            raise UsageError(f"unknown {noun} {value!r}; choose from: {', '.join(valid)}")
    for name in ("alpha", "lr", "beta1", "beta2"):
        if not math.isfinite(getattr(c, name)):
            raise UsageError(f"{name} must be a finite number, got {getattr(c, name)}")
    if c.alpha <= 0:
        raise UsageError(f"alpha must be > 0, got {c.alpha}")
    if c.lambda_dist == "uniform" and c.alpha > 1:
        raise UsageError(f"alpha must be <= 1 with lambda_dist uniform (λ ~ U(0, α) must stay in [0, 1]), got {c.alpha}")
    if c.lr <= 0:
        raise UsageError(f"lr must be > 0, got {c.lr}")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(c, name) < 1:
            raise UsageError(f"{name} must be in [0, 1), got {getattr(c, name)}")
    for name, limit in LIMITS.items():
        value = getattr(c, name)
        if value < 1:
            raise UsageError(f"{name} must be >= 1, got {value}")
        if value > limit:
            raise UsageError(f"{name} = {value} is beyond the supported maximum of {limit}")
    if c.seed < 0:
        raise UsageError(f"seed must be >= 0, got {c.seed}")
    if c.snapshots is not None:
        bad = [i for i in c.snapshots if not 1 <= i <= c.iterations]
        if bad:
            raise UsageError(f"snapshot iteration {bad[0]} is outside 1..{c.iterations} (the run's iterations)")
        if not c.snapshots:
            raise UsageError("snapshots must name at least one iteration")
    # Checkpoints and resume (issue 7).
    if not 1 <= c.checkpoint_every <= 10**9:
        raise UsageError(f"checkpoint_every must be in 1..{10**9}, got {c.checkpoint_every}")


def read_config_file(path):
    """Options from a TOML or JSON file, as a dict of field names (dashes allowed)."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path (issue 7)
        raise UsageError(f"cannot read config file {path}: {getattr(e, 'strerror', None) or e}")
    try:
        values = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"malformed config file {path}: {str(e).splitlines()[0]}")
    if not isinstance(values, dict):
        raise UsageError(f"malformed config file {path}: expected a table of options")
    values = {k.replace("-", "_"): v for k, v in values.items()}
    if "config" in values:
        raise UsageError(f"config file {path}: a config file cannot name another config file")
    return values


def make_config(overrides=None, config_file=None):
    """Build a TrainConfig: defaults, then the preset, then the config file, then ``overrides``.

    The preset may come from either the file or the overrides.
    """
    values = read_config_file(config_file) if config_file else {}
    values.update({k: v for k, v in (overrides or {}).items()})
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}; valid options: {', '.join(FIELDS)}")
    preset = values.get("preset")
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose from: {', '.join(PRESETS)}")
    merged = {**PRESETS.get(preset, {}), **values}
    for name, value in merged.items():  # a whole number is a fine float (e.g. alpha = 1 in TOML)
        if FIELDS[name].type is float and isinstance(value, int) and not isinstance(value, bool):
            merged[name] = float(value)
    if isinstance(merged.get("snapshots"), list):
        merged["snapshots"] = tuple(merged["snapshots"])
    return TrainConfig(**merged)
