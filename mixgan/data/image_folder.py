"""An image folder (``folder:PATH``) streamed from disk: the data set holds the files' paths, and
images are decoded when a batch draws them, so memory holds about one batch, never the folder.

The rule for bad files: every file's header is read when the data set is made
(:func:`open_image`, PIL's ``Image.open``, which decodes no pixels), so a file that is not an image,
or is too large, is refused before anything is written. Pixels are decoded per batch; a file
whose header reads but whose pixels are damaged (a truncated PNG, say) stops the run at the batch
that draws it, with one line naming the file. Nothing is skipped silently: a skipped file would
change which images a seed draws.
"""
import warnings

import numpy as np
import torch

from mixgan.errors import UsageError

# Larger images are refused unread: a training image is at most 64x64, so even a large photo
# (this allows about 8192x8192) carries far more than enough, and a decompression bomb is stopped.
MAX_IMAGE_PIXELS = 1 << 26
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def one_line(err):
    return " ".join(str(err).split())


def to_float(uint8_images):
    """uint8 pixels as float32 in [-1, 1]."""
    return uint8_images.float().div_(127.5).sub_(1.0)


def open_image(path):
    """The image at ``path`` with its header read and no pixel decoded; sizes past
    MAX_IMAGE_PIXELS are refused here, before any decoding. UsageError (one line) names the file."""
    from PIL import Image
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning: the limit below is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise UsageError(f"cannot read image {path}: {one_line(err)}") from err
    if im.width * im.height > MAX_IMAGE_PIXELS:
        im.close()
        raise UsageError(f"image {path} is {im.width}x{im.height} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                         f"mixgan reads (training images are at most 64x64); refused undecoded")
    return im


class FolderImages(torch.utils.data.Dataset):
    """The images at ``paths``, each decoded on request: ``dataset[i]`` is uint8 [C, H, W],
    converted to ``mode`` ("L" or "RGB"), resized and centre-cropped to ``size`` x ``size``."""

    def __init__(self, paths, mode, size):
        self.paths, self.mode, self.size = tuple(str(p) for p in paths), mode, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image, ImageOps
        path = self.paths[i]
        with open_image(path) as im:
            try:
                if im.mode.startswith("I;16"):  # 16-bit grey: PIL's convert would clip at 255
                    im = Image.fromarray((np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8), "L")
                im = ImageOps.fit(im.convert(self.mode), (self.size, self.size), Image.Resampling.BICUBIC)
                pixels = np.asarray(im, dtype=np.uint8)
            # A damaged file raises OSError from PIL; it must read as bad input, not as a failed write.
            except (OSError, ValueError, SyntaxError) as err:
                raise UsageError(f"cannot read image {path}: {one_line(err)}") from err
        pixels = torch.from_numpy(pixels.copy())
        return pixels.unsqueeze(0) if self.mode == "L" else pixels.permute(2, 0, 1).contiguous()


class FolderImageData:
    """A folder's split as a data source like :class:`mixgan.data.images.ImageData`
    (``sample(n, generator)``, ``sample_with_labels``, ``event_shape``, ``labels``, ...) that
    holds the files' paths (:class:`FolderImages`) and int64 labels [N] or None, not pixels.

    The same generator state draws the same indices as an in-memory ``ImageData`` of the same
    images would, and decodes them to the same values, so a seed gives the same batches.
    """

    def __init__(self, name, files, labels=None, class_names=None, split="all"):
        self.files, self.split = files, split
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
        self.class_names = tuple(class_names) if class_names is not None else None
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def event_shape(self):
        return torch.Size((1 if self.files.mode == "L" else 3, self.files.size, self.files.size))

    @property
    def num_classes(self):
        return None if self.class_names is None else len(self.class_names)

    @property
    def images(self):
        """Every image of the split, decoded now and not kept: for measuring against a held-out
        split, never for training (which decodes per batch)."""
        return self._decode(torch.arange(len(self)))

    def __len__(self):
        return len(self.files)

    def __repr__(self):
        return (f"FolderImageData({self.name!r}, split={self.split!r}, n={len(self)}, "
                f"event_shape={tuple(self.event_shape)}, num_classes={self.num_classes})")

    def _decode(self, idx):
        """Float images [len(idx), C, H, W] of the indices ``idx`` (CPU), each file decoded once."""
        unique, where = torch.unique(idx, return_inverse=True)
        decoded = torch.stack([self.files[i] for i in unique.tolist()])
        return to_float(decoded)[where]

    def sample(self, n, generator):
        """``n`` images drawn uniformly with replacement, on ``generator.device``."""
        return self.sample_with_labels(n, generator)[0]

    def sample_with_labels(self, n, generator):
        """Like ``sample`` (same draws for the same generator state) plus their labels or None."""
        idx = torch.randint(len(self), (n,), generator=generator, device=generator.device)
        images = self._decode(idx.cpu()).to(generator.device)
        labels = None if self.labels is None else self.labels.to(generator.device)[idx]
        return images, labels
