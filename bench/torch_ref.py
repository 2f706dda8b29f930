#!/usr/bin/python3
"""bench/torch_ref.py - PyTorch CPU reference for full influence scores.

usage: torch_ref.py loop|loop-once|vmap MODEL TRAIN IHVP OUT [--n N] [--t T]
                    [--threads K] [--chunk C]

Loads a fastif model file (msgpack) into an equivalent torch module (mlp or
bow, parameters copied through numpy), the training examples and the ihvp
vectors, and computes scores[t, i] = -grad L(z_i) . s_test[t] for the first
T ihvp records and the first N training examples, over the ihvp records'
selected parameters, as bench/run compares them with fastif:

  loop       FastIF's reference code (nn_influence_utils.compute_influences):
             for each test point, for each training point, one autograd
             backward, then the dot with s_test (T*N backward passes)
  loop-once  the same loop computing each training gradient once and
             dotting it with all T vectors (N backward passes)
  vmap       functorch vmap(grad) per-example gradients in chunks of C
             training points, then one GEMM with the [T, P] ihvp matrix

Writes OUT as a fastif scores stream (one record per test point) and prints
the compute wall and CPU time (excluding loading) on stdout as
`seconds S cpu C`.
"""
import argparse
import sys
import time

import msgpack
import numpy as np
import torch
import torch.nn.functional as F

DT = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8", "u8": "u1"}


def tensor(t):
    return np.frombuffer(t["data"], DT[t["dtype"]]).reshape(t["shape"])


def records(path):
    with open(path, "rb") as f:
        yield from msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31)


class Net(torch.nn.Module):
    """mlp, or bow's mean embedding bag followed by the mlp."""

    def __init__(self, model):
        super().__init__()
        arch = model["arch"]
        self.type = arch["type"]
        p = {k: torch.from_numpy(tensor(v).copy()) for k, v in model["params"].items()}
        nl = len([k for k in p if k.startswith("layers.") and k.endswith(".weight")])
        self.layers = torch.nn.ModuleList()
        for k in range(nl):
            w = p[f"layers.{k}.weight"]
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            lin.bias.data.copy_(p[f"layers.{k}.bias"])
            self.layers.append(lin)
        if "embedding.weight" in p:
            e = p["embedding.weight"]
            self.embedding = torch.nn.EmbeddingBag(e.shape[0], e.shape[1], mode="mean")
            self.embedding.weight.data.copy_(e)
        act = arch.get("activation", "tanh")
        self.act = torch.tanh if act == "tanh" else torch.relu

    def head(self, h):
        for k, lin in enumerate(self.layers):
            h = lin(h)
            if k < len(self.layers) - 1:
                h = self.act(h)
        return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["loop", "loop-once", "vmap"])
    ap.add_argument("model")
    ap.add_argument("train")
    ap.add_argument("ihvp")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--t", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=256)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.model, "rb") as f:
        model = msgpack.unpack(f, raw=False)
    net = Net(model)
    arch = model["arch"]

    S, tid, params = [], [], None
    for r in records(a.ihvp):
        if a.t and len(S) == a.t:
            break
        S.append(tensor(r["ihvp"]))
        tid.append(r["id"])
        params = r.get("params", params)
    S = torch.from_numpy(np.stack(S).astype(np.float32))  # [T, P]
    named = dict(net.named_parameters())
    # model order; "default" = all but embedding.weight, else names/prefixes
    order = [k for k in model["params"]]
    if params in (None, "default"):
        names = [k for k in order if k != "embedding.weight"]
    elif params == "all":
        names = order
    else:
        want = params.split(",")
        names = [k for k in order if any(k == w or k.startswith(w) for w in want)]
    sel = [named[n] for n in names]
    assert sum(p.numel() for p in sel) == S.shape[1], "ihvp size != selected parameters"

    ids, X, Y = [], [], []
    for r in records(a.train):
        if a.n and len(ids) == a.n:
            break
        ids.append(r["id"])
        Y.append(r["label"])
        # bow: TRAIN is `grad --factored` output, whose a.layers.0 is the
        # mean embedding bag (the hashed-text featuriser is not repeated
        # here; with the default params the embedding is not selected)
        X.append(tensor(r["x"] if "x" in r else r["a.layers.0"]))
    Y = torch.tensor(Y, dtype=torch.long)
    assert "embedding.weight" not in names, "embedding.weight selected: not supported here"
    X = torch.from_numpy(np.stack(X))
    N, T = len(ids), S.shape[0]

    scores = torch.zeros(T, N)
    t0, c0 = time.perf_counter(), time.process_time()
    if a.mode in ("loop", "loop-once"):
        def grad_of(i):
            loss = F.cross_entropy(net.head(X[i:i + 1]), Y[i:i + 1])
            g = torch.autograd.grad(loss, sel)
            return torch.cat([x.reshape(-1) for x in g])
        if a.mode == "loop":
            for t in range(T):
                for i in range(N):
                    scores[t, i] = -torch.dot(grad_of(i), S[t])
        else:
            for i in range(N):
                scores[:, i] = -(S @ grad_of(i))
    else:
        from functorch import grad, make_functional, vmap
        fmodel, fparams = make_functional(net)
        pnames = [n for n, _ in net.named_parameters()]
        pos = [pnames.index(n) for n in names]

        def loss1(sel_params, x, y):
            ps = list(fparams)
            for j, p in zip(pos, sel_params):
                ps[j] = p
            return F.cross_entropy(fmodel_head(ps, x[None]), y[None])

        def fmodel_head(ps, h):
            # the head of the functional model: the dense layers only
            k0 = pnames.index("layers.0.weight")
            nl = len(net.layers)
            for k in range(nl):
                h = F.linear(h, ps[k0 + 2 * k], ps[k0 + 2 * k + 1])
                if k < nl - 1:
                    h = net.act(h)
            return h

        per_ex = vmap(grad(loss1), in_dims=(None, 0, 0))
        selp = tuple(fparams[j] for j in pos)
        with torch.no_grad():
            for i0 in range(0, N, a.chunk):
                gs = per_ex(selp, X[i0:i0 + a.chunk], Y[i0:i0 + a.chunk])
                G = torch.cat([g.reshape(g.shape[0], -1) for g in gs], 1)  # [c, P]
                scores[:, i0:i0 + a.chunk] = -(S @ G.T)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    with open(a.out, "wb") as f:
        for t in range(T):
            f.write(msgpack.packb({"id": tid[t], "ids": ids, "scores": {
                "dtype": "f32", "shape": [N], "data": scores[t].numpy().astype("<f4").tobytes()}}))
    print(f"seconds {secs:.3f} cpu {cpu:.3f}")


if __name__ == "__main__":
    sys.exit(main())
