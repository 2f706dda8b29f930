#!/usr/bin/python3
"""curv-stats.py - helpers of curvature.sh (numpy only; every score comes
from the fastif tools).

  curv-stats.py pool IN OUT      28x28 images -> 7x7 mean pooled (x f32 [49])
  curv-stats.py corr REF OTHER   mean over test points of Pearson, Spearman
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fastif_stream as fs  # noqa: E402


def read(path):
    with open(path, "rb") as f:
        return list(fs.read_stream(f))


def rank(x):
    r = np.empty(len(x))
    r[np.argsort(x, kind="mergesort")] = np.arange(len(x))
    return r


if sys.argv[1] == "pool":
    with open(sys.argv[3], "wb") as f:
        for r in read(sys.argv[2]):
            r["x"] = np.asarray(r["x"], np.float32).reshape(7, 4, 7, 4).mean(axis=(1, 3)).ravel()
            fs.write_record(f, r)
elif sys.argv[1] == "corr":
    ref = {r["id"]: r for r in read(sys.argv[2])}
    ps, ss = [], []
    for r in read(sys.argv[3]):
        a = np.asarray(ref[r["id"]]["scores"], float)
        b = np.asarray(r["scores"], float)
        assert list(ref[r["id"]]["ids"]) == list(r["ids"])
        ps.append(np.corrcoef(a, b)[0, 1])
        ss.append(np.corrcoef(rank(a), rank(b))[0, 1])
    print("%.3f %.3f" % (np.mean(ps), np.mean(ss)))
