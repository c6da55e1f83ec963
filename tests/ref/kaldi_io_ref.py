"""kaldi_io_ref.py — an independent NumPy writer of Kaldi archives, for tests/test_kaldi_io.c.

Usage: /usr/bin/python3 tests/ref/kaldi_io_ref.py OUT_DIR   (run by tests/run.sh before the C tests)

Writes, following Kaldi's own writers (kaldi-matrix.cc / kaldi-vector.cc / io-funcs.cc):
  kaldi_ref_float.ark   binary FM/FV entries: "<key> \\0B" "FM " <4><int32 rows><4><int32 cols> data
  kaldi_ref_float.scp   "key <abs path of the ark>:<offset of \\0B>" for kaldi_ref_float.ark
  kaldi_ref_mixed.ark   binary FM, FV, DM, DV (double entries hold float64 data)
  kaldi_ref_text.ark    text: "key  [\\n  1 2 3 \\n  4 5 6 ]\\n" and "key  [ 1 2 3 ]\\n",
                        numbers as "%.7g" (a C++ stream with Kaldi's text precision of 7)
  kaldi_ref_values.bin  CHTENSOR file (tests/tensorfile.h): every entry's values as float32,
                        named by key; doubles rounded to float32 once (what a float reader gives)
The C test reads all three arks and the scp and compares values, and writes the same float data
itself to check that its archives are byte-identical to kaldi_ref_float.ark / kaldi_ref_text.ark.
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _tensorfile  # noqa: E402


def binary_entry(key, a):
    """Bytes of one binary entry; a is float32/float64, 1-D (vector) or 2-D (matrix)."""
    kind = ("F" if a.dtype == np.float32 else "D") + ("V" if a.ndim == 1 else "M")
    out = key.encode() + b" \0B" + kind.encode() + b" "
    if a.ndim == 2:
        out += struct.pack("<bi", 4, a.shape[0]) + struct.pack("<bi", 4, a.shape[1])
    else:
        out += struct.pack("<bi", 4, a.shape[0])
    return out + a.astype("<f4" if a.dtype == np.float32 else "<f8").tobytes()


def text_entry(key, a):
    """Bytes of one text entry, as Kaldi's Matrix/Vector::Write(os, binary=false)."""
    fmt = lambda v: "%.7g " % float(v)  # noqa: E731
    if a.ndim == 1:
        return (key + "  [ " + "".join(fmt(v) for v in a) + "]\n").encode()
    if a.shape[1] == 0:
        return (key + "  [ ]\n").encode()
    s = key + "  ["
    for row in a:
        s += "\n  " + "".join(fmt(v) for v in row)
    return (s + "]\n").encode()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240611)
    f32 = np.float32
    special = np.array([0.0, -0.0, 1.0, -1.0, 1e-30, -3.0e38, 1.17549435e-38, 123456.789,
                        np.pi, -np.e, 1e-7, 65504.0], dtype=f32)
    entries = [
        ("utt-a", (rng.standard_normal((7, 13)) * 10).astype(f32)),
        ("utt_b", rng.standard_normal(9).astype(f32)),
        ("special", special.reshape(3, 4)),
        ("one-row", rng.uniform(-100, 100, (1, 5)).astype(f32)),
        ("one-col", rng.uniform(-1, 1, (6, 1)).astype(f32)),
        ("vec1", np.array([42.0], dtype=f32)),
        ("feats.0001", (rng.standard_normal((50, 40)) * 3 + 8).astype(f32)),
    ]
    # binary float ark + scp
    ark = os.path.join(out, "kaldi_ref_float.ark")
    scp_lines, data = [], b""
    for key, a in entries:
        scp_lines.append("%s %s:%d\n" % (key, os.path.abspath(ark), len(data) + len(key) + 1))
        data += binary_entry(key, a)
    with open(ark + ".tmp", "wb") as f:
        f.write(data)
    os.replace(ark + ".tmp", ark)
    with open(os.path.join(out, "kaldi_ref_float.scp"), "w") as f:
        f.writelines(scp_lines)

    # binary mixed precision ark
    d_mat = rng.standard_normal((4, 6)) * 1e3
    d_vec = rng.standard_normal(11) / 7
    mixed = [("fm", entries[0][1]), ("dm", d_mat), ("fv", entries[1][1]), ("dv", d_vec),
             ("dm-special", np.array([[1e30, -1e-300], [0.1, 2.0 / 3.0]]))]
    with open(os.path.join(out, "kaldi_ref_mixed.ark"), "wb") as f:
        for key, a in mixed:
            f.write(binary_entry(key, a))

    # text ark (float data only, so the C writer can reproduce it byte for byte)
    with open(os.path.join(out, "kaldi_ref_text.ark"), "wb") as f:
        for key, a in entries:
            f.write(text_entry(key, a))

    values = {}
    for key, a in entries:
        values[key] = a
    for key, a in mixed:
        values["mixed/" + key] = a.astype(f32)
    _tensorfile.write(os.path.join(out, "kaldi_ref_values.bin"), values)
    print("wrote kaldi_ref_{float.ark,float.scp,mixed.ark,text.ark,values.bin} to", out)


if __name__ == "__main__":
    main()
