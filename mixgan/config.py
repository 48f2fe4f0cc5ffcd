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
    """Everything a training run needs; defaults follow the paper's equation and architecture.

    Building one checks every value; a ``preset`` sets its options under those given.

    >>> from mixgan import TrainConfig
    >>> TrainConfig(objective="standard", data="ring", iterations=500).width
    512
    >>> c = TrainConfig(preset="figure5", width=128)
    >>> c.width, c.lambda_dist, c.pairing
    (128, 'uniform', 'shuffled')
    """

    objective: str = opt("mixup", "GAN objective", choices="objectives")
    data: str = opt("spiral", "2D toy distribution, or image data: digits, mnist, fashion-mnist, cifar10, folder:PATH",
                    choices="datasets")
    alpha: float = opt(0.2, "mixup α: Beta(α, α) or U(0, α) for λ")
    lambda_dist: str = opt("beta", "mixup λ distribution: beta (the paper's equation) or uniform (the demo code)",
                           choices="lambda_dists")
    pairing: str = opt("real-fake", "mixup pairing: real-fake (the paper's equation) or shuffled (the demo code)",
                       choices="pairings")
    g_loss: str = opt("saturating", "generator loss: saturating (minimax) or nonsaturating (−log D(G(z)))",
                      choices="g_losses")
    g_loss_mean: str = opt("generated", "what the generator loss is averaged over: generated (its points) or batch "
                                        "(the demo code: the whole real+generated batch, so half as large)",
                           choices="g_loss_means")
    iterations: int = opt(20000, "generator updates")
    d_steps: int = opt(5, "discriminator updates per generator update")
    batch_size: int = opt(128, "real points (and generated points) per batch")
    width: int = opt(None, "hidden units per layer of G and D (MLP; default 512) or channels next to the image "
                           "(conv; default 64)")
    depth: int = opt(3, "hidden layers of G and D")
    z_dim: int = opt(None, "noise dimension of G; default 2 for 2D data, 100 for image data")
    lr: float = opt(1e-3, "Adam learning rate of G and D")
    beta1: float = opt(0.9, "Adam β1 of G and D")
    beta2: float = opt(0.999, "Adam β2 of G and D")
    snapshots: tuple = opt(None, "comma-separated snapshot iterations; default: those of 10,100,1000,10000,20000 "
                                 "within the run, and the last")
    snapshot_size: int = opt(1000, "fixed noise vectors and real points drawn once for every snapshot")
    log_every: int = opt(100, "iterations between lines of metrics.jsonl")
    tensorboard: bool = opt(False, "also log the metrics.jsonl lines and snapshot pictures to RUN/tensorboard/ "
                                   "(needs the tensorboard package: pip install 'mixgan[tensorboard]')")
    seed: int = opt(0, "seed for weights, data, noise and λ")
    device: str = opt("auto", "auto (cuda when present), cpu or cuda", choices="devices")
    out: str = opt("outputs", "folder that receives the numbered run folder")
    preset: str = opt(None, "named settings applied under the given options", choices="presets")
    # Image data: where the files of mnist, fashion-mnist and cifar10 live, fetching them, resolution.
    data_root: str = opt("data", "folder holding mnist, fashion-mnist and cifar10 in torchvision's layout")
    download: bool = opt(False, "fetch mnist, fashion-mnist or cifar10 into --data-root (needs torchvision)")
    image_size: int = opt(None, "image resolution: 8, 16, 28, 32 or 64 (default: the data set's own; digits 16, "
                                "folders 64)")
    # Baseline stabilisers: WGAN-GP's penalty weight, R1/R2, spectral norm, manifold mixup.
    gp_weight: float = opt(10.0, "wgan-gp: gradient-penalty weight λ (Gulrajani et al. 2017: 10, with Adam "
                                 "lr 1e-4, β1 0.5, β2 0.9 and 5 critic steps; 0.1 in their toy code: "
                                 "--preset wgan-gp-toy)")
    r1: float = opt(0.0, "R1 penalty γ: adds (γ/2)·E‖∇D(x)‖² on real points to D's loss (Mescheder et al. 2018); "
                         "0 = off")
    r2: float = opt(0.0, "R2 penalty γ: adds (γ/2)·E‖∇D(G(z))‖² on generated points to D's loss; 0 = off")
    spectral_norm: bool = opt(False, "spectral normalisation of every layer of D (Miyato et al. 2018)")
    mixup_layer: int = opt(0, "mixup only: mix at hidden layer k of D (manifold mixup, Verma et al. 2019); "
                              "0 = mix inputs")
    # Animation frames and discriminator landscapes (see docs/FIGURES.md).
    frames: int = opt(0, "extra frames (fixed noise, log-spaced iterations from 1 to the last) saved under "
                         "frames/ for animation; 0 = none")
    landscape: int = opt(0, "grid points per side of D's probability map saved with every snapshot and "
                            "frame (drawn as a heat map); 0 = none")
    # Checkpoints and resume (see mixgan/runs/guard.py and docs/RUNS.md).
    checkpoint_every: int = opt(1000, "iterations between checkpoints (one is also written at every snapshot "
                                      "and at the end; the last two are kept)")
    # The generator's weight average (see mixgan/training/averaging.py and docs/RUNS.md).
    ema: float = opt(0.0, "exponential moving average of G's weights, updated after every G step "
                          "(avg ← ema·avg + (1−ema)·G; e.g. 0.999); saved beside G, in snapshots and "
                          "checkpoints; 0 = off")

    def __post_init__(self):
        # width and z_dim left unset take the data's default (2D points vs images, see mixgan.data);
        # the resolved value is what config.json records.
        from mixgan.data import default_for
        for name in ("width", "z_dim"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default_for(self.data, name))
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
    "figure5": dict(alpha=0.2, lambda_dist="uniform", pairing="shuffled", g_loss="saturating", g_loss_mean="batch",
                    iterations=20000, d_steps=5, batch_size=128, width=512, depth=3, z_dim=2,
                    lr=1e-3, beta1=0.9, beta2=0.999, snapshot_size=1000),
    "paper": dict(lambda_dist="beta", pairing="real-fake", g_loss="saturating", g_loss_mean="generated",
                  iterations=20000, d_steps=5, batch_size=128, width=512, depth=3, z_dim=2, lr=1e-3),
    # Image data: DCGAN's settings (Radford et al. 2016): Adam 2e-4, β1 0.5, batch 64, one
    # D step per G step, non-saturating G loss; width and z_dim come from the data (64 and 100).
    "dcgan": dict(d_steps=1, batch_size=64, lr=2e-4, beta1=0.5, g_loss="nonsaturating", iterations=10000),
}


# Baseline stabilisers: the WGAN-GP toy code's settings (Gulrajani et al. 2017,
# gan_toy.py: 256 points a batch, 5 critic steps, λ = 0.1, Adam 1e-4 with β = (0.5, 0.9)).
PRESETS["wgan-gp-toy"] = dict(objective="wgan-gp", gp_weight=0.1, d_steps=5, batch_size=256,
                              lr=1e-4, beta1=0.5, beta2=0.9)


# Labels of training settings that are not objectives of their own: an objective with other
# options (the usual non-saturating baselines; the demo's ERM uses the saturating loss).
# ``compare`` and the summary tables name runs by these. Adding a baseline is one entry.
VARIANTS = {
    "standard-ns": dict(objective="standard", g_loss="nonsaturating"),
    "mixup-ns": dict(objective="mixup", g_loss="nonsaturating"),
}


def label_overrides(label):
    """Config overrides for one label (an objective or a variant), or UsageError naming the valid ones."""
    from mixgan.objectives import OBJECTIVES
    if label in OBJECTIVES:
        return {"objective": label}
    if label in VARIANTS:
        return dict(VARIANTS[label])
    raise UsageError(f"unknown objective {label!r}; choose from: {', '.join([*OBJECTIVES, *VARIANTS])}")


def config_label(config):
    """The label of a run's config (a dict): the variant it matches, else its objective's name."""
    for label, overrides in VARIANTS.items():
        if all(config.get(k) == v for k, v in overrides.items()):
            return label
    return config["objective"]


def choices(kind):
    """Valid names for a field with ``choices`` metadata (imported late: registries live beside what they register)."""
    from mixgan import data, objectives
    return {
        "objectives": list(objectives.OBJECTIVES),
        "labels": [*objectives.OBJECTIVES, *VARIANTS],
        "datasets": data.dataset_names(),
        "lambda_dists": list(objectives.LAMBDA_DISTRIBUTIONS),
        "pairings": list(objectives.PAIRINGS),
        "g_losses": list(objectives.GENERATOR_LOSSES),
        "g_loss_means": list(objectives.G_LOSS_MEANS),
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
    if kind is bool:  # flags (--download, --spectral-norm) take only true or false
        if not isinstance(value, bool):
            raise UsageError(f"{name} must be true or false, got {value!r}")
        return
    expected = {"int": int, "float": (int, float), "str": str}[kind if isinstance(kind, str) else kind.__name__]
    if isinstance(value, bool) or not isinstance(value, expected):
        raise UsageError(f"{name} must be {getattr(expected, '__name__', 'a number')}, got {value!r}")


MAX_FRAMES = 100_000  # beyond this the frames folder, not the run, would be the experiment
MAX_LANDSCAPE = 1024  # a million D evaluations per picture is already far more than a heat map shows

# Sizes past which a run would exhaust memory or never end; refused before anything is allocated.
LIMITS = dict(iterations=10**9, d_steps=1000, batch_size=1 << 20, width=1 << 14, depth=64, z_dim=1 << 14,
              snapshot_size=1 << 20, log_every=10**9)


def check(c):
    """Raise UsageError with one line for the first invalid option."""
    from mixgan.data import is_image_dataset
    for name in FIELDS:
        _check_type(name, getattr(c, name))
    for name in ("objective", "data", "lambda_dist", "pairing", "g_loss", "g_loss_mean", "device", "preset"):
        value, valid = getattr(c, name), choices(FIELDS[name].metadata["choices"])
        if value is not None and value not in valid and not (name == "data" and is_image_dataset(value)):
            noun = {"data": "dataset", "lambda_dist": "lambda distribution", "g_loss": "generator loss",
                    "g_loss_mean": "generator loss mean"}.get(name, name)
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
    for name in ("gp_weight", "r1", "r2"):
        if not math.isfinite(getattr(c, name)) or getattr(c, name) < 0:
            raise UsageError(f"{name} must be a finite number >= 0, got {getattr(c, name)}")
    if c.mixup_layer != 0 and c.objective != "mixup":
        raise UsageError(f"mixup_layer applies to objective mixup only, got objective {c.objective!r}")
    if not 0 <= c.mixup_layer <= c.depth:
        raise UsageError(f"mixup_layer must be in 0..{c.depth} (D's hidden layers, = depth), got {c.mixup_layer}")
    if not 0 <= c.frames <= MAX_FRAMES:
        raise UsageError(f"frames must be in 0..{MAX_FRAMES} (0 = none), got {c.frames}")
    if c.frames == 1:
        raise UsageError("frames must be 0 (none) or at least 2 (the first and the last iteration)")
    if c.landscape != 0 and not 2 <= c.landscape <= MAX_LANDSCAPE:
        raise UsageError(f"landscape must be 0 (none) or a grid size in 2..{MAX_LANDSCAPE}, got {c.landscape}")
    if not (c.ema == 0 or 0 < c.ema < 1):  # NaN fails both tests
        raise UsageError(f"ema must be 0 (off) or between 0 and 1 (e.g. 0.999), got {c.ema}")
    if not 1 <= c.checkpoint_every <= 10**9:
        raise UsageError(f"checkpoint_every must be in 1..{10**9}, got {c.checkpoint_every}")
    check_image_options(c)


def check_image_options(c):
    """image_size is a resolution the convolutional models support, and only for image data."""
    from mixgan.data import is_image_dataset
    from mixgan.nets import SUPPORTED_RESOLUTIONS
    if c.landscape and is_image_dataset(c.data):
        raise UsageError("landscape (D's map over the plane) applies to 2D data only, not to image data")
    if c.image_size is not None:
        if not is_image_dataset(c.data):
            raise UsageError(f"image_size applies to image data only, not to {c.data!r}")
        if c.image_size not in SUPPORTED_RESOLUTIONS:
            raise UsageError(f"image_size must be one of {', '.join(map(str, SUPPORTED_RESOLUTIONS))}, "
                             f"got {c.image_size}")


def read_config_file(path):
    """Options from a TOML or JSON file, as a dict of field names (dashes allowed)."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
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

    >>> from mixgan import make_config
    >>> make_config(dict(preset="figure5", data="grid")).lambda_dist
    'uniform'
    """
    values = read_config_file(config_file) if config_file else {}
    values.update({k: v for k, v in (overrides or {}).items()})
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}; valid options: {', '.join(FIELDS)}")
    return TrainConfig(**values)  # the preset is applied there, as for any TrainConfig


_dataclass_init = TrainConfig.__init__


def _init_under_preset(self, *args, **given):
    """TrainConfig's constructor: the named preset's settings under the options given. This is
    the one place presets apply, so Python (``TrainConfig(preset="figure5")``), config files and
    the command line get the same run."""
    given.update(zip(FIELDS, args))
    preset = given.get("preset")
    if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):
        raise UsageError(f"unknown preset {preset!r}; choose from: {', '.join(PRESETS)}")
    values = {**PRESETS.get(preset, {}), **given}
    for name, value in values.items():  # a whole number is a fine float (e.g. alpha = 1 in TOML)
        if name in FIELDS and FIELDS[name].type is float and isinstance(value, int) and not isinstance(value, bool):
            values[name] = float(value)
    if isinstance(values.get("snapshots"), list):  # as JSON and TOML give it, and checkpoints store it
        values["snapshots"] = tuple(values["snapshots"])
    _dataclass_init(self, **values)


TrainConfig.__init__ = _init_under_preset


# The key of config.json under which a run records how it was made (the device it trained on,
# the versions of mixgan, torch and Python, the command line): facts, not options.
RECORDED = "recorded"


def recorded_fact(run, key):
    """One fact from the ``recorded`` table of ``run``'s config.json; None when the file, the table
    or the key is missing or unreadable (runs made by older versions record fewer facts)."""
    try:
        recorded = json.loads((Path(run) / "config.json").read_text()).get(RECORDED, {})
    except (OSError, ValueError, AttributeError):
        return None
    return recorded.get(key) if isinstance(recorded, dict) else None

# Options added after runs were already made, with the value those older runs trained with: a
# config.json without the option means this value, whatever today's default or preset says.
OLDER_RUNS = {"g_loss_mean": "generated", "ema": 0.0, "tensorboard": False}


def read_run_config(run):
    """The options a run folder was made with, as the dict in its ``config.json`` (runs made by
    older versions may lack newer fields; the ``recorded`` facts are left out); one-line
    UsageError when there is none or it is damaged."""
    if "\x00" in str(run):  # the OS cannot even look such a path up
        raise UsageError(f"no run folder at {str(run)!r}")
    path = Path(run) / "config.json"
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run} is not a mixgan run folder (it has no config.json)")
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}")
    if not isinstance(values, dict) or not {"data", "objective", "seed"} <= set(values):
        raise UsageError(f"{path} is damaged: expected a table of options")
    values.pop(RECORDED, None)
    return {**OLDER_RUNS, **values}


def load_run_config(run):
    """The TrainConfig a run folder was made with (validated like any other)."""
    return make_config(read_run_config(run))
