#!/usr/bin/python3
"""bench/kfac_exact_last.py - how K-FAC influence differs from exact
influence, on the one layer of the mlp where the exact Hessian is small
and closed-form: the last (classifier) layer, whose logits are linear in
its weights, so its Hessian is the Gauss-Newton matrix

    H = (1/N) sum_i (diag p_i - p_i p_i^T) (x) a_bar_i a_bar_i^T + l2 on the weights

usage: kfac_exact_last.py MODEL TRAIN_GRADS TEST_GRADS

TRAIN_GRADS, TEST_GRADS: `grad --factored` records with gold labels
(delta = p - onehot(y) for the last layer, so p = delta + onehot(y)).
Influence over that layer only, -g_i . s_t, with s_t from
  exact: (H + lambda I)^-1 v_t, lambda = 0.1 * mean eig(H);
  K-FAC (empirical Fisher, as bench/kfac_ref.py): (G + g I)^-1 V (A + a I)^-1
      with G = E[delta delta^T], A = E[a_bar a_bar^T], a, g = sqrt(0.1) * mean diag;
  K-FAC (Gauss-Newton factor): the same with G = E[diag p - p p^T].
Prints, for both K-FACs against exact, the median over test points of the
Pearson and Spearman correlations of the N scores and the mean overlap of
the 10 most helpful: "P S O P' S' O'".
"""
import sys
import time

import msgpack
import numpy as np
from scipy.stats import spearmanr

D = 0.1


def f32(t):
    return np.frombuffer(t["data"], "<f4").reshape(t["shape"])


def records(path):
    with open(path, "rb") as f:
        yield from msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31)


def factors(path, name):
    A, Dl, y = [], [], []
    for r in records(path):
        A.append(f32(r["a." + name]).reshape(-1))
        Dl.append(f32(r["delta." + name]).reshape(-1))
        y.append(r["label"])
    A = np.hstack([np.stack(A), np.ones((len(A), 1), np.float32)])
    return A, np.stack(Dl), np.array(y)


def main():
    model = msgpack.unpack(open(sys.argv[1], "rb"), raw=False)
    l2 = float(model.get("l2", 0.0))
    nl = len([k for k in model["params"] if k.startswith("layers.") and k.endswith(".weight")])
    name = f"layers.{nl - 1}"
    t0 = time.perf_counter()
    A, Dl, y = factors(sys.argv[2], name)
    At, Dt, _ = factors(sys.argv[3], name)
    N, w = A.shape
    o = Dl.shape[1]
    p = Dl.astype(np.float64)
    p[np.arange(N), y] += 1.0
    # exact H in the augmented order (out, in+1): H[(o,k),(q,l)] = E[M_oq a_k a_l]
    H = np.zeros((o, w, o, w))
    for i in range(o):
        for j in range(i, o):
            m = (p[:, i] * ((i == j) - p[:, j])).astype(np.float32)
            C = (A.T @ (A * m[:, None])).astype(np.float64) / N
            H[i, :, j, :] = C
            H[j, :, i, :] = C.T
    H = H.reshape(o * w, o * w)
    reg = np.ones((o, w))
    reg[:, -1] = 0  # l2 on the weights, not the biases
    H += np.diag(l2 * reg.ravel())
    lam = D * np.trace(H) / len(H)
    Hinv = np.linalg.inv(H + lam * np.eye(len(H)))
    Af = (A.T.astype(np.float64) @ A) / N
    Gemp = (Dl.T.astype(np.float64) @ Dl) / N
    Gggn = np.diag(p.mean(0)) - (p.T @ p) / N

    def kfac(G):
        a = np.sqrt(D) * np.mean(np.diag(Af))
        g = np.sqrt(D) * np.mean(np.diag(G))
        return np.linalg.inv(Af + a * np.eye(w)), np.linalg.inv(G + g * np.eye(o))

    def scores(S):  # S [out, w] -> -delta_i^T S a_bar_i for every i
        return -np.sum(Dl * (A @ S.T.astype(np.float32)), axis=1).astype(np.float64)

    ke, kg = kfac(Gemp), kfac(Gggn)
    res = {"emp": ([], [], []), "ggn": ([], [], [])}
    for t in range(len(At)):
        V = np.outer(Dt[t], At[t]).astype(np.float64)
        ex = scores((Hinv @ V.ravel()).reshape(o, w))
        top = set(np.argsort(ex)[:10])
        for key, (Ai, Gi) in (("emp", ke), ("ggn", kg)):
            sk = scores(Gi @ V @ Ai)
            res[key][0].append(np.corrcoef(ex, sk)[0, 1])
            res[key][1].append(spearmanr(ex, sk)[0])
            res[key][2].append(len(top & set(np.argsort(sk)[:10])) / 10)
    out = []
    for key in ("emp", "ggn"):
        out += [f"{np.median(res[key][0]):.2f}", f"{np.median(res[key][1]):.2f}", f"{np.mean(res[key][2]):.2f}"]
    print(" ".join(out))
    print(f"kfac_exact_last: {name}, N = {N}, T = {len(At)}, {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
