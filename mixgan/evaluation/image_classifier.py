"""A small CNN classifier trained on a data set's own training images, for offline image metrics.

It plays the role the pretrained MNIST classifier plays in the Stacked-MNIST protocol
(Metz et al. 2017; Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN): its
predictions give the class histogram of generated images, and its penultimate layer is
the feature space of a Fréchet distance (the FID recipe of Heusel et al. 2017 with this
network in place of Inception). Nothing is downloaded: it trains in seconds on digits.

Trained classifiers are cached as ``OUT/classifiers/<data>-<C>x<R>.pt`` (weights and
facts) with a ``.json`` beside it recording the held-out test accuracy, so every run and
``compare`` under one outputs folder measures with the same network.
"""
import hashlib
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mixgan.runs import folders
from mixgan.data.registry import data_label, make_data
from mixgan.errors import UsageError
from mixgan.data.images import FOLDER_PREFIX

CLASSIFIER_VERSION = 1  # bump when the network or its training changes, so old caches are not reused
FEATURES = 64  # width of the feature layer the Fréchet distance is measured in
TRAIN_SEED = 0
BATCH = 128
TRAIN_IMAGES = 30000  # images seen per training (at least 2, at most 30 epochs): ~20 epochs of digits


class ImageClassifier(nn.Module):
    """Two conv blocks (3x3 conv, ReLU, 2x2 max-pool), adaptive pooling to 4x4, a
    ``FEATURES``-wide ReLU layer (the feature space), and a linear layer to class logits.
    Works for every resolution mixgan supports (8 to 64) and any number of channels."""

    def __init__(self, channels, num_classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


@torch.no_grad()
def predict(model, images, batch=1000):
    """(features [N, FEATURES], predicted classes [N]) for images [N, C, H, W], in batches, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    feats, classes = [], []
    for part in torch.as_tensor(images, dtype=torch.float32).split(batch):
        f = model.features(part.to(device))
        feats.append(f.cpu())
        classes.append(model.head(f).argmax(dim=1).cpu())
    return torch.cat(feats), torch.cat(classes)


def train_classifier(train, test, device="cpu", seed=TRAIN_SEED, train_images=None):
    """Fit an :class:`ImageClassifier` on ImageData ``train`` and return (model, accuracy on ``test``).

    Adam (lr 1e-3), batches of 128 drawn with replacement from a seeded generator, no
    augmentation. Weights come from ``seed`` too; the global RNG is left as it was.
    """
    if train.labels is None or test.labels is None:
        raise UsageError(f"{train.name}: classifier metrics need labelled images "
                         "(for a folder: one sub-folder per class)")
    epochs = min(30, max(2, math.ceil((train_images or TRAIN_IMAGES) / len(train))))
    steps = max(1, epochs * len(train) // BATCH)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ImageClassifier(train.event_shape[0], train.num_classes).to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        x, y = train.sample_with_labels(BATCH, gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _, predicted = predict(model, test.images)
    return model.eval(), float((predicted == test.labels).double().mean())


def classifier_path(out, data, event_shape):
    """``OUT/classifiers/<data>-<C>x<R>.pt``; folders add a hash of their full path, so two
    folders with the same last name do not share one cache file."""
    c, r = event_shape[0], event_shape[-1]
    label = data_label(data)
    if data.startswith(FOLDER_PREFIX):
        label += "-" + hashlib.sha256(data.encode()).hexdigest()[:8]
    return Path(out) / "classifiers" / f"{label}-{c}x{r}.pt"


def load_or_train_classifier(config, device="cpu", progress=None):
    """The cached classifier for ``config``'s data set and resolution, training (and caching)
    it first if needed. ``config`` needs ``data``, ``data_root``, ``image_size``, ``out``.

    Returns (model, info) where info holds ``test_accuracy``, ``num_classes``, the
    ``train``/``test`` sizes and the held-out ``test`` ImageData itself (key ``test_data``).
    """
    train = make_data(config.data, config, split="train")
    test = make_data(config.data, config, split="test")
    path = classifier_path(config.out, config.data, train.event_shape)
    facts = {"version": CLASSIFIER_VERSION, "data": config.data, "event_shape": list(train.event_shape),
             "num_classes": train.num_classes, "train_size": len(train), "test_size": len(test)}
    model = None
    if path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            cached = {k: saved["facts"][k] for k in facts}
        except Exception as err:
            raise UsageError(f"corrupt classifier cache {path} ({type(err).__name__}); delete it to retrain") from err
        if cached == facts:
            model = ImageClassifier(train.event_shape[0], train.num_classes)
            model.load_state_dict(saved["weights"])
            model.to(device).eval()
            accuracy = saved["facts"]["test_accuracy"]
    if model is None:
        if progress:
            progress(f"training the metric classifier for {config.data} ({len(train)} images); "
                     f"it will be cached at {path}")
        model, accuracy = train_classifier(train, test, device)
        facts["test_accuracy"] = accuracy
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            weights = {k: v.cpu() for k, v in model.state_dict().items()}
            folders.atomic_torch_save(path, {"facts": facts, "weights": weights})
            folders.atomic_write_text(path.with_suffix(".json"), json.dumps(facts, indent=2) + "\n")
        except OSError as err:
            raise UsageError(f"cannot cache the metric classifier in {path.parent}: {err.strerror or err}") from err
    info = {**facts, "test_accuracy": accuracy, "test_data": test}
    return model, info
