"""Optional TensorBoard logging (``--tensorboard``): what a run writes to ``metrics.jsonl`` and its
snapshots, mirrored into an event file in ``RUN/tensorboard/`` through ``torch.utils.tensorboard``.

The run folder stays the record: this module reads the lines and pictures the run has just
written and copies them, so TensorBoard never shows anything the folder does not hold.
Scalars: every number of a loss line as ``train/<key>`` and of a snapshot record as
``snapshot/<key>``, at its iteration. Images: each snapshot's picture (the scatter plot of a 2D
run, real beside generated images for an image run) as ``snapshot``, and for image runs the
first 64 generated images as ``generated``, tiled by ``torchvision.utils.make_grid``.
"""
import json
import math

import numpy as np

from mixgan.errors import UsageError
from mixgan.runs import snapshots
from mixgan.viz.image_plots import GRID_IMAGES, grid_tensor

FOLDER = "tensorboard"
SKIPPED = {"iteration", "kind"}


def summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, or UsageError (one line) saying how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise UsageError(f"--tensorboard needs the tensorboard package ({' '.join(str(err).split())}); "
                         f"install it with: pip install 'mixgan[tensorboard]'") from err
    return SummaryWriter


class TensorBoardLog:
    """The event file of ``run``. ``after``: the iteration a resumed run goes on from; what
    an earlier process logged past it is hidden (TensorBoard's ``purge_step``) and logged anew."""

    def __init__(self, run, after=0):
        self.run, self.after, self.offset = run, after, 0
        self.writer = summary_writer_class()(log_dir=str(run / FOLDER), purge_step=after + 1 if after else None)

    def update(self, snapshot=None):
        """Copy the lines metrics.jsonl gained since the last call, and the pictures of
        ``snapshot`` (an iteration) if given."""
        with open(self.run / "metrics.jsonl", "rb") as f:
            f.seek(self.offset)
            new = f.read()
        complete = new[:new.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self.offset += len(complete)
        for line in complete.decode().splitlines():
            record = json.loads(line)
            if record.get("iteration", 0) <= self.after:
                continue
            group = "snapshot" if record.get("kind") == "snapshot" else "train"
            for key, value in record.items():
                if key not in SKIPPED and isinstance(value, (int, float)) and not isinstance(value, bool) \
                        and math.isfinite(value):
                    self.writer.add_scalar(f"{group}/{key}", value, record["iteration"])
        if snapshot is not None:
            self._pictures(snapshot)
        self.writer.flush()

    def _pictures(self, iteration):
        from PIL import Image
        with Image.open(snapshots.path(self.run, "snapshots", iteration, ".png")) as im:
            self.writer.add_image("snapshot", np.asarray(im.convert("RGB")), iteration, dataformats="HWC")
        fake = snapshots.load(self.run, "snapshots", iteration)["fake"]
        if fake.ndim == 4:
            self.writer.add_image("generated", grid_tensor(fake[:GRID_IMAGES]), iteration)

    def close(self):
        self.writer.close()
