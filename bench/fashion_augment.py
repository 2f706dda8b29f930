#!/usr/bin/env python3
"""fashion_augment.py N [SEED] > examples: N realistic training examples from
Fashion-MNIST (Debian's dataset-fashion-mnist), generated, never stored.

Example i is training image i mod 60000; its copy c = i div 60000 is the image
itself for c = 0, else the image shifted by a seeded (dx, dy) in -2..2 pixels
(zero fill) with seeded Gaussian pixel noise (sigma 0.05), clipped to [0, 1].
Record: {"id": "fm-%07d", "label": int, "x": f32[784]} (pixels / 255, as
import-idx writes them), so the first 60000 records equal import-idx's x."""
import gzip
import sys

import msgpack
import numpy as np

F = "/usr/share/datasets/fashion-mnist/"


def idx(path, offset):
    with gzip.open(F + path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    n = int(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    img = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28).astype(np.float32) / 255
    lab = idx("train-labels-idx1-ubyte.gz", 8).astype(int)
    m = len(img)
    out = sys.stdout.buffer
    for c in range((n + m - 1) // m):
        k = min(m, n - c * m)
        x = img[:k]
        if c > 0:
            rng = np.random.default_rng([seed, c])
            d = rng.integers(-2, 3, size=(k, 2))
            pad = np.zeros((k, 32, 32), np.float32)
            pad[:, 2:30, 2:30] = x
            rows = (np.arange(28)[None, :] + 2 - d[:, 0:1])[:, :, None]
            cols = (np.arange(28)[None, :] + 2 - d[:, 1:2])[:, None, :]
            x = pad[np.arange(k)[:, None, None], rows, cols]
            x = np.clip(x + rng.normal(0, 0.05, x.shape).astype(np.float32), 0, 1)
        x = np.ascontiguousarray(x.reshape(k, 784), "<f4")
        buf = []
        for j in range(k):
            i = c * m + j
            buf.append(msgpack.packb({"id": "fm-%07d" % i, "label": int(lab[j]),
                                      "x": {"dtype": "f32", "shape": [784], "data": x[j].tobytes()}}))
            if len(buf) == 4096:
                out.write(b"".join(buf))
                buf = []
        out.write(b"".join(buf))


if __name__ == "__main__":
    main()
