"""An image folder (``folder:PATH``) as a data set that opens its files lazily: it holds the files'
paths, and an image is decoded (PIL, then ``torchvision.transforms.v2``) when a batch draws it, so
memory holds about one batch, never the folder.

The rule for what a folder holds (docs/IMAGES.md):

* Files named ``*.png``, ``*.jpg``, ``*.jpeg``, ``*.bmp``, ``*.webp`` (any case) below PATH are the
  images; other files and names starting with ``.`` are left out. Symbolic links are followed;
  a folder reached twice (a link loop, or two links to one folder) is refused, as is a link
  that leads nowhere.
* Every image's header is read when the data set is made (``Image.open``, which decodes no
  pixels): an empty file, a file that is not an image, and an image of more than
  ``MAX_IMAGE_PIXELS`` (a decompression bomb) are refused before anything is written, with one
  line naming the file (the first such file in the sorted order). An empty folder is refused too.
  A large folder's headers are read by several processes at once, one per usable CPU: about
  100,000 files take seconds, not a minute.
* Modes and sizes are converted: the images are grey when every file is grey (1, L, LA, I, I;16,
  F) and RGB otherwise; palette images take their palette's colours, transparency is dropped,
  16-bit images keep their top 8 bits; each image is resized (bicubic) so its shorter side is
  the resolution, then centre-cropped to a square.
* A file whose header reads but whose pixels are damaged (a truncated PNG) stops the run at the
  batch that draws it, with one line naming the file. Nothing is skipped silently: a skipped
  file would change which images a seed draws.
"""
import multiprocessing
import os
import signal
import sys
import warnings
from contextlib import nullcontext

import numpy as np
import torch

from mixgan.errors import UsageError
from mixgan.system import affinity_cpus, cgroup_cpus, signal_when_parent_dies

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# Larger images are refused unread: a training image is at most 64x64, so even a large photo
# (this allows about 8192x8192) carries far more than enough, and a decompression bomb is stopped.
# PIL's own limit (Image.MAX_IMAGE_PIXELS) stays as it is; this one is lower.
MAX_IMAGE_PIXELS = 1 << 26
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def one_line(err):
    return " ".join(str(err).split())


def open_image(path, quiet=False):
    """The image at ``path`` with its header read and no pixel decoded; sizes past
    MAX_IMAGE_PIXELS are refused here, before any decoding. UsageError (one line) names the file.
    ``quiet``: the caller has already silenced PIL's own decompression-bomb warning."""
    from PIL import Image
    try:
        if quiet:
            im = Image.open(path)
        else:
            with warnings.catch_warnings():  # PIL's own bomb warning: the limit below is lower
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        if _is_empty(path):  # looked at only on failure: a stat per file is a tenth of a header read
            raise UsageError(f"cannot read image {path}: the file is empty (0 bytes)") from err
        raise UsageError(f"cannot read image {path}: {one_line(err)}") from err
    if im.width * im.height > MAX_IMAGE_PIXELS:
        im.close()
        raise UsageError(f"image {path} is {im.width}x{im.height} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                         f"mixgan reads (training images are at most 64x64); refused undecoded")
    return im


def _is_empty(path):
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def list_images(root):
    """The image files below ``root`` as path strings (``root`` joined with each file's path
    relative to it), sorted by that relative path, symbolic links followed; UsageError for a folder
    reached twice or a link that leads nowhere. Strings, not ``Path``s: for 100,000 files pathlib's
    parsing alone would take seconds."""
    files, seen = [], {}

    def walk(folder):
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino)
        if key in seen:
            raise UsageError(f"{folder} leads back to {seen[key]}, which is already read (a symbolic-link loop "
                             f"or a second link to one folder); remove the link")
        seen[key] = folder
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = entry.path
            try:
                is_dir, is_file = entry.is_dir(), entry.is_file()  # both follow links
            except OSError as err:  # a link to itself: too many levels of symbolic links
                raise UsageError(f"cannot follow {path}: a link that leads nowhere or in a loop "
                                 f"({one_line(err.strerror)})") from err
            if is_dir:
                walk(path)
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
                if not is_file:
                    raise UsageError(f"cannot read image {path}: a link that leads nowhere or in a loop")
                files.append(path)

    try:
        walk(str(root))
    except OSError as err:
        raise UsageError(f"cannot list {root}: {one_line(err)}") from err
    return files


HEADERS_PER_TASK = 2000  # headers one process reads per task: about a tenth of a second of work


def grey_or_rgb(paths, processes=None):
    """"L" when every image at ``paths`` is grey, else "RGB": every header read, no pixel decoded.
    ``processes`` read the headers (by default one per usable CPU; one for a small folder), and
    the refusal is always that of the first bad file in ``paths``' order, however many read."""
    paths = [os.fspath(p) for p in paths]
    tasks = [paths[i:i + HEADERS_PER_TASK] for i in range(0, len(paths), HEADERS_PER_TASK)]
    if processes is None:
        processes = min(n for n in (affinity_cpus(), cgroup_cpus()) if n)
    processes = min(processes, len(tasks))
    parallel = processes > 1 and "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux"
    # fork, not spawn: a spawned process would import torch again (seconds) before reading a
    # header; the children only run PIL. Leaving the block (a refusal, Ctrl-C) ends them.
    pool = multiprocessing.get_context("fork").Pool(processes, _header_reader_start) if parallel else nullcontext()
    modes = set()
    with pool:
        for seen, refusal in (pool.imap(_modes_of, tasks) if parallel else map(_modes_of, tasks)):
            if refusal:
                raise UsageError(refusal)
            modes |= seen
    return "L" if modes <= GREY_MODES else "RGB"


def _header_reader_start():
    """In each header-reading process: Ctrl-C is the parent's to handle, the SIGTERM that ends the
    pool ends the process quietly, and the process ends with its parent however the parent ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal_when_parent_dies(signal.SIGKILL)


def _modes_of(paths):
    """``(modes, refusal)``: the modes of the images at ``paths`` read in order, up to the first
    file refused, and that refusal's line (None when every header read)."""
    from PIL import Image
    modes = set()
    with warnings.catch_warnings():  # PIL's own bomb warning: open_image's limit is lower
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for path in paths:
            try:
                with open_image(path, quiet=True) as im:
                    modes.add(im.mode)
            except UsageError as err:
                return modes, str(err)
    return modes, None


def to_mode(im, mode):
    """PIL image ``im`` as 8-bit ``mode`` ("L" or "RGB")."""
    from PIL import Image
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey: convert() would clip at 255
        im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8), "L")
    elif im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # PIL warns when a palette with transparency goes straight to RGB
    return im if im.mode == mode else im.convert(mode)


class ToTraining:
    """A PIL image or uint8 tensor [C, H, W] -> float32 [C, size, size] in [-1, 1] through
    ``torchvision.transforms.v2.functional``: with ``crop``, a resize of the shorter side to ``size``
    (bicubic, on the PIL image) and a centre crop; without, a resize to ``size`` x ``size`` (bilinear,
    antialiased, on the floats); none when ``size`` is None. The kernels are called directly:
    ``v2.Compose`` gives the same values at about twice the cost per image."""

    def __init__(self, channels, size=None, crop=False):
        self.mean = self.std = [0.5] * channels
        self.size, self.crop = size, crop

    def __call__(self, image):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.v2 import functional as F
        if self.crop:
            image = F.center_crop(F.resize(image, self.size, interpolation=InterpolationMode.BICUBIC), self.size)
        image = F.to_dtype(F.to_image(image), torch.float32, scale=True)
        if self.size is not None and not self.crop:
            image = F.resize(image, [self.size, self.size], antialias=True)
        return F.normalize(image, self.mean, self.std)


class ImageFiles(torch.utils.data.Dataset):
    """The images at ``paths``, each opened when asked for: ``dataset[i]`` is
    ``(float32 [C, size, size] in [-1, 1], label)``, label -1 where ``labels`` is None."""

    def __init__(self, paths, mode, size, labels=None):
        self.paths, self.mode, self.size = tuple(str(p) for p in paths), mode, size
        self.labels = None if labels is None else tuple(int(v) for v in labels)
        self.transform = ToTraining(1 if mode == "L" else 3, size, crop=True)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = self.paths[i]
        with open_image(path) as im:
            try:
                image = self.transform(to_mode(im, self.mode))
            # A damaged file raises OSError from PIL; it must read as bad input, not as a failed write.
            except (OSError, ValueError, SyntaxError) as err:
                raise UsageError(f"cannot read image {path}: {one_line(err)}") from err
        return image, -1 if self.labels is None else self.labels[i]
