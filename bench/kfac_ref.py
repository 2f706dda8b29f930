#!/usr/bin/python3
"""bench/kfac_ref.py - a factored-Tikhonov K-FAC s_test built in numpy, for
bench/20-structured.sh (until `ihvp --curvature --factored-s` is on main).

usage: kfac_ref.py TRAIN_GRADS TEST_GRADS OUT_FACTORED OUT_DENSE [--damping D]

TRAIN_GRADS, TEST_GRADS: layer-factor gradient records of rank 1
(`grad --factored`: a.NAME [in], delta.NAME [out]). Per layer, with
a_bar = [a, 1] when NAME.bias is in params (Martens & Grosse 2015; Grosse
et al. 2023):

    A = (1/N) sum_i a_bar_i a_bar_i^T      G = (1/N) sum_i delta_i delta_i^T
    s_test = (G + g I)^-1 delta_t a_bar_t^T (A + a I)^-1

the factored Tikhonov damping of A (x) G + lambda I with
lambda = D * mean eig(A (x) G) = D * mean diag(A) * mean diag(G), split
between the factors as Martens & Grosse's pi does: a = sqrt(D) mean diag(A),
g = sqrt(D) mean diag(G). A rank-1 test gradient stays rank 1:
s_delta = (G + g I)^-1 delta_t, s_a = (A + a I)^-1 a_bar_t.

Writes OUT_FACTORED as ihvp records in the factored form (formats/ihvp.md:
s_a.NAME [1, in+b], s_delta.NAME [1, out], params) and OUT_DENSE as the same
s_test dense ("ihvp" f32[P], params order), so every scorer gets the same
vectors. Prints the fitting time on stderr.
"""
import argparse
import sys
import time

import msgpack
import numpy as np


def f32(t):
    return np.frombuffer(t["data"], "<f4").reshape(t["shape"])


def records(path):
    with open(path, "rb") as f:
        yield from msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31)


def tensor(x):
    x = np.ascontiguousarray(x, "<f4")
    return {"dtype": "f32", "shape": list(x.shape), "data": x.tobytes()}


def layout(params):
    """[(layer NAME, has weight, has bias)] in params order."""
    out = []
    for p in params.split(","):
        name, kind = p.rsplit(".", 1)
        if not out or out[-1][0] != name:
            out.append([name, False, False])
        out[-1][1 if kind == "weight" else 2] = True
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("out_factored")
    ap.add_argument("out_dense")
    ap.add_argument("--damping", type=float, default=0.1)
    a = ap.parse_args()
    t0 = time.perf_counter()
    params, lay, A, G, n = None, None, {}, {}, 0
    chunk = {}

    def flush():
        for name, _, b in lay:
            X = np.stack(chunk[name][0]).astype(np.float64)
            if b:
                X = np.hstack([X, np.ones((X.shape[0], 1))])
            D = np.stack(chunk[name][1]).astype(np.float64)
            A[name] = A.get(name, 0) + X.T @ X
            G[name] = G.get(name, 0) + D.T @ D
            chunk[name] = ([], [])

    for r in records(a.train):
        if params is None:
            params, lay = r["params"], layout(r["params"])
            chunk = {name: ([], []) for name, _, _ in lay}
        for name, _, _ in lay:
            chunk[name][0].append(f32(r["a." + name]).reshape(-1))
            chunk[name][1].append(f32(r["delta." + name]).reshape(-1))
        n += 1
        if n % 4096 == 0:
            flush()
    flush()
    inv = {}
    for name, _, _ in lay:
        Am, Gm = A[name] / n, G[name] / n
        da = np.sqrt(a.damping) * np.mean(np.diag(Am))
        dg = np.sqrt(a.damping) * np.mean(np.diag(Gm))
        inv[name] = (np.linalg.inv(Am + da * np.eye(len(Am))), np.linalg.inv(Gm + dg * np.eye(len(Gm))))
    fit = time.perf_counter() - t0
    with open(a.out_factored, "wb") as ff, open(a.out_dense, "wb") as fd:
        for r in records(a.test):
            assert r["params"] == params, "test and training gradients over other params"
            rf = {"id": r["id"], "method": "kfac-tikhonov-numpy", "damping": a.damping,
                  "params": params}
            dense = []
            for name, w, b in lay:
                x = f32(r["a." + name]).reshape(-1).astype(np.float64)
                if b:
                    x = np.append(x, 1.0)
                d = f32(r["delta." + name]).reshape(-1).astype(np.float64)
                Ai, Gi = inv[name]
                sa, sd = Ai @ x, Gi @ d
                rf["s_a." + name], rf["s_delta." + name] = tensor(sa[None]), tensor(sd[None])
                S = np.outer(sd, sa)  # [out, in+b]
                if w:
                    dense.append(S[:, :len(x) - b].ravel())
                if b:
                    dense.append(S[:, -1])
            ff.write(msgpack.packb(rf))
            fd.write(msgpack.packb({"id": r["id"], "ihvp": tensor(np.concatenate(dense)),
                                    "method": "kfac-tikhonov-numpy", "damping": a.damping,
                                    "params": params}))
    print(f"kfac_ref: fitted A, G over {n} training records in {fit:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
