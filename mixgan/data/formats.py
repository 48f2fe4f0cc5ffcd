"""Readers of the standard on-disk formats mixgan reads itself where torchvision is not at hand:
MNIST's IDX files and CIFAR-10's python batches. Both refuse damaged or hostile files with one
line naming the file, and neither can be made to run code."""
import gzip
import math
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from mixgan.errors import UsageError


def _one_line(err):
    return " ".join(str(err).split())


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Parse an IDX file (raw or .gz) into a numpy array; UsageError if it is not a valid one.

    Layout: two zero bytes, a type code (0x08 = uint8 ...), the number of dimensions, then
    each dimension as a big-endian uint32, then the data, row-major, big-endian.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise UsageError(f"cannot read {path}: {_one_line(err)}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise UsageError(f"{path} is not an IDX file (bad magic number 0x{raw[:4].hex() or 'empty'})")
    ndim, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise UsageError(f"{path} is truncated: {len(raw)} bytes, shorter than its {header}-byte header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + math.prod(dims) * dtype.itemsize  # Python ints: a hostile header cannot overflow
    if len(raw) != expected:
        raise UsageError(f"{path} is corrupt: its header says shape {dims} ({expected} bytes) "
                         f"but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims)


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dicts, lists, strings and numbers and nothing else:
    CIFAR-10's python batches are pickles, and a crafted one must not run code when it is read."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR-10 batch never holds "
                                     f"(refused unread: it could run code)")


def read_cifar_batch(path):
    """``(data uint8 [N, 3072], labels int64 [N])`` of one CIFAR-10 python batch."""
    try:
        with open(path, "rb") as fh:
            batch = _ArraysOnly(fh, encoding="bytes").load()
        data = np.asarray(batch.get(b"data", batch.get("data")))
        labels = np.asarray(batch.get(b"labels", batch.get("labels")), dtype=np.int64)
    except Exception as err:  # noqa: BLE001 - whatever is wrong, the file is not a batch we can use
        raise UsageError(f"{path} is not a CIFAR-10 python batch ({type(err).__name__}: {_one_line(err)})") from err
    return data, labels
