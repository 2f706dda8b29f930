#!/usr/bin/python3
"""Write the multi-MiB seeds in the "FZRP" form of fuzz/harness.h.

usage: fuzz/corpus/make-big.py   (from the top of the tree; rewrites big-*)

Each seed is a few hundred bytes standing for an input of several MiB: runs
of one byte become a single repeated segment.
"""
import struct

import msgpack
import numpy as np


def fzrp(data):
    """Runs of 64 or more equal bytes become one repeated segment."""
    out, lit, i = [b"FZRP"], bytearray(), 0
    def flush():
        for k in range(0, len(lit), 65535):
            chunk = bytes(lit[k:k + 65535])
            out.append(struct.pack("<IH", 1, len(chunk)) + chunk)
        lit.clear()
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        if j - i >= 64:
            flush()
            out.append(struct.pack("<IH", j - i, 1) + data[i:i + 1])
        else:
            lit.extend(data[i:j])
        i = j
    flush()
    return b"".join(out)


def segments(*segs):
    """Explicit (count, bytes) segments, for units longer than one byte."""
    return b"FZRP" + b"".join(struct.pack("<IH", n, len(b)) + b for n, b in segs)


def tensor(a):
    return {"dtype": "f32", "shape": list(a.shape), "data": a.astype("<f4").tobytes()}


def write(path, data):
    with open(path, "wb") as f:
        f.write(fzrp(data))


pack = lambda o: msgpack.packb(o, use_bin_type=True)
# a 10 MB array of nils, then a small record
write("fuzz/corpus/stream/big-nils", pack({"id": "nils", "x": [None] * 10_000_000}) + pack({"id": "b", "label": 1}))
# a 4 MiB tensor of zeros
write("fuzz/corpus/stream/big-tensor", pack({"id": "t", "label": 0, "x": tensor(np.zeros(1 << 20))}))
# a 3.6 MB model: linear, 300,000 inputs (the loader's trailing-data check after a big record)
write("fuzz/corpus/model/big-linear", pack({"format": "fastif-model", "version": 1,
                                            "arch": {"type": "linear", "sizes": [300_000, 3]}, "l2": 0.001,
                                            "params": {"layers.0.weight": tensor(np.zeros((3, 300_000))),
                                                       "layers.0.bias": tensor(np.zeros(3))}}))
# a CSV row of 3 MB, a JSON line of 4 MB
write("fuzz/corpus/csv/big-row.csv", b"a,b,label\n" + b"1" * 3_000_000 + b",2,0\n3,4,1\n")
with open("fuzz/corpus/json/big-line.json", "wb") as f:
    f.write(segments((1, b'{"id":"a","x":['), (2_000_000, b"0,"), (1, b'0]}\n')))
