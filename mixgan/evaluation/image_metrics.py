"""Sample metrics for image runs that work offline: the Stacked-MNIST style protocol.

A small classifier trained on the data set's own training images
(:mod:`mixgan.image_classifier`) labels the generated images. From it:

* ``classes_covered`` / ``classes_total``: classes predicted for at least one generated image
  (the "modes captured" of Metz et al. 2017 and Srivastava et al. 2017);
* ``class_kl``: KL(q ‖ p) between the predicted class histogram q of the generated images
  and the true class histogram p of the held-out test images (the KL of Lin et al. 2018,
  PacGAN, Table 2); 0 for a perfect match, log(1/p_c) when every image is class c;
* ``classifier_fd``: the Fréchet distance (Heusel et al. 2017, eq. 6) between Gaussians fitted
  to the classifier's features of the generated and of the held-out test images;
* ``classifier_test_accuracy``: how far to trust the above;
* ``nonfinite_fraction``: generated images with a NaN/inf pixel (left out of the rest);
* ``fid`` only when asked, through :mod:`mixgan.fid` (never a silent zero).

:func:`image_snapshot_metrics` returns a flat dict of plain numbers, like
:func:`mixgan.evaluation.toy_metrics.snapshot_metrics` does for 2D points.
"""
import types
from pathlib import Path

import numpy as np
import torch

from mixgan.config import read_run_config
from mixgan.errors import UsageError
from mixgan.evaluation.fid import frechet_inception_distance
from mixgan.evaluation.image_classifier import load_or_train_classifier, predict
from mixgan.data import is_image_dataset
from mixgan.runs import snapshots


def frechet_distance(x, y):
    """‖μx − μy‖² + tr(Σx + Σy − 2(Σx Σy)^½) between Gaussians fitted to features x [N, d] and y [M, d].

    Computed in float64 as tr((Σx^½ Σy Σx^½)^½), the square root of a symmetric PSD matrix
    (same eigenvalues as (Σx Σy)^½), so no complex parts appear; tiny negative eigenvalues
    from rounding are clipped to 0. Needs N, M ≥ 2.
    """
    x = np.asarray(torch.as_tensor(x).double().cpu())
    y = np.asarray(torch.as_tensor(y).double().cpu())
    if x.ndim != 2 or y.ndim != 2 or len(x) < 2 or len(y) < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected feature arrays [N >= 2, d] of one width, got {x.shape} and {y.shape}")
    mx, my = x.mean(0), y.mean(0)
    sx, sy = np.cov(x, rowvar=False).reshape(x.shape[1], -1), np.cov(y, rowvar=False).reshape(y.shape[1], -1)
    w, v = np.linalg.eigh(sx)
    root_sx = (v * np.sqrt(w.clip(min=0))) @ v.T
    middle = np.linalg.eigvalsh(root_sx @ sy @ root_sx)
    value = ((mx - my) ** 2).sum() + np.trace(sx) + np.trace(sy) - 2 * np.sqrt(middle.clip(min=0)).sum()
    return float(max(value, 0.0))  # ≥ 0 in exact arithmetic; rounding can leave −1e-5


def class_histogram(classes, num_classes):
    counts = np.bincount(np.asarray(classes, dtype=np.int64), minlength=num_classes)[:num_classes]
    return counts / max(1, counts.sum())


def kl_divergence(q, p):
    """KL(q ‖ p) = Σ q log(q / p) with 0·log 0 = 0; infinite where q > 0 = p."""
    q, p = np.asarray(q, dtype=np.float64), np.asarray(p, dtype=np.float64)
    on = q > 0
    with np.errstate(divide="ignore"):
        return float((q[on] * (np.log(q[on]) - np.log(p[on]))).sum())


def classifier_metrics(model, info, fake):
    """The classifier-based keys (see the module docstring) for generated images ``fake`` [N, C, H, W]."""
    fake = torch.as_tensor(np.asarray(fake), dtype=torch.float32)
    finite = torch.isfinite(fake.flatten(1)).all(dim=1)
    out = {"classes_total": int(info["num_classes"]), "classifier_test_accuracy": float(info["test_accuracy"]),
           "nonfinite_fraction": float(1 - finite.double().mean())}
    test = info["test_data"]
    k = out["classes_total"]
    if finite.sum() < 2:  # nothing to measure: say so with NaN, never 0
        return {**out, "classes_covered": 0, "class_kl": float("nan"), "classifier_fd": float("nan")}
    fake_features, fake_classes = predict(model, fake[finite])
    real_features, _ = predict(model, test.images)
    q = class_histogram(fake_classes, k)
    return {**out, "classes_covered": int((q > 0).sum()),
            "class_kl": kl_divergence(q, class_histogram(test.labels, k)),
            "classifier_fd": frechet_distance(fake_features, real_features)}


def _options(config, out=None):
    """The few options the metrics need, from a TrainConfig or a config.json dict."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    if not is_image_dataset(get("data")):
        raise UsageError(f"image metrics need an image data set, not {get('data')!r} (2D runs: mixgan.evaluation.toy_metrics)")
    return types.SimpleNamespace(data=get("data"), data_root=get("data_root"), download=False,
                                 image_size=get("image_size"), out=str(out or get("out") or "outputs"))


def image_snapshot_metrics(config, fake, device="cpu", fid=False, cache_dir=None, progress=None, classifier=None):
    """Every offline image metric for generated images ``fake`` [N, C, H, W] in [-1, 1] of ``config``'s data set.

    ``config``: a TrainConfig or the dict of a run's ``config.json``. The classifier is cached
    under ``cache_dir`` (default: the config's ``out``). ``fid=True`` adds ``fid`` against
    the held-out test images or raises UsageError saying why it cannot be computed here.
    ``classifier``: the (model, info) of :func:`load_or_train_classifier`, to measure many
    snapshots without reloading it.
    """
    options = _options(config, cache_dir)
    model, info = classifier or load_or_train_classifier(options, device=device, progress=progress)
    fake = np.asarray(fake)
    if tuple(fake.shape[1:]) != tuple(info["event_shape"]):
        raise UsageError(f"generated images have shape {tuple(fake.shape[1:])}, but {options.data} at this "
                         f"resolution has {tuple(info['event_shape'])}")
    out = classifier_metrics(model, info, fake)
    if fid:
        out["fid"] = frechet_inception_distance(fake, info["test_data"].images, device)
    return out


def run_image_metrics(run, fid=False, device="cpu", progress=None):
    """``[{"iteration": i, **image_snapshot_metrics}]`` for every snapshot of image run folder ``run``,
    with the classifier cached beside the run (in its outputs folder)."""
    run = Path(run)
    config = read_run_config(run)
    iterations = snapshots.saved_iterations(run / "snapshots")
    if not iterations:
        raise UsageError(f"{run} has no snapshots (snapshots/iter_NNNNNN.npz)")
    rows, classifier = [], None
    for iteration in iterations:
        fake = snapshots.load(run, "snapshots", iteration)["fake"]
        if fake.ndim != 4:
            raise UsageError(f"{run} is not an image run (its snapshots hold points of shape {fake.shape[1:]})")
        if classifier is None:
            classifier = load_or_train_classifier(_options(config, run.parent), device=device, progress=progress)
        rows.append({"iteration": iteration, **image_snapshot_metrics(config, fake, device, fid, run.parent,
                                                                      classifier=classifier)})
    return rows
