"""_tensorfile.py — writer of the reference-dump format read by tests/tensorfile.h.

Helper module (the leading underscore keeps tests/run.sh from running it). Format, little-endian:
  8-byte magic "CHTENSOR", uint32 count, then `count` records:
  uint32 name_len, name bytes (no NUL), uint32 ndim, ndim x int64 dims, float32 data (C order).
Usage: write(path, {"x": array_or_tensor, ...}) — insertion order kept, values cast to float32,
written to path + ".tmp" then renamed so a half-written file never has the final name.
"""
import os
import struct

import numpy as np


def _as_array(a):
    try:
        import torch
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().double().numpy()
    except ImportError:
        pass
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def write(path, tensors):
    """Writes the dict name -> array (numpy or torch) to path in the CHTENSOR format."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"CHTENSOR")
        f.write(struct.pack("<I", len(tensors)))
        for name, a in tensors.items():
            a = _as_array(a)
            nb = name.encode("utf-8")
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<I", a.ndim))
            if a.ndim:
                f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(a.astype("<f4").tobytes())
    os.replace(tmp, path)
