"""Checks of a finished pipelines/torch-cnn.mk run (tests/59-torch-graph.t),
against numpy references written from the specs, not from the tools:

- the curvature: K-FAC / EK-FAC fitted in numpy from the run's own fit
  gradients (formats/curvature.md), inverted per block with lambda = damping
  x the block's mean eigenvalue (formats/ihvp.md), gives the run's s_test;
- the scores: each query is scored over exactly its K candidates, and each
  score is -g . s with g rebuilt densely from the candidates' factor records
  and s the run's ihvp record.

    python3 graph.py OUT METHOD DAMPING"""

import sys

import numpy as np
import torch

import fastif_stream as fs
from ref import check, reconstruct

OUT, METHOD, DAMPING = sys.argv[1], sys.argv[2], float(sys.argv[3])


def stream(name):
    with open(f"{OUT}/{name}", "rb") as f:
        return list(fs.read_stream(f))


shapes = {k: tuple(v.shape) for k, v in torch.load(f"{OUT}/cnn.pt").items()}
fit = stream("fit-grad.mp")
params = fit[0]["params"].split(",")
sizes = [int(np.prod(shapes[p])) for p in params]
offs = dict(zip(params, np.cumsum([0] + sizes[:-1])))
P = sum(sizes)


def dense(rec):
    g = reconstruct(rec, shapes)
    return np.concatenate([g[p].ravel() for p in params])


def block(rec, layer, bias):
    """The example's [out, in(+1)] gradient of a factored layer and its rows."""
    a = np.asarray(rec[f"a.{layer}"], np.float64)
    d = np.asarray(rec[f"delta.{layer}"], np.float64)
    a, d = a.reshape(-1, a.shape[-1]), d.reshape(-1, d.shape[-1])
    if bias:
        a = np.hstack([a, np.ones((a.shape[0], 1))])
    return a, d


layers = sorted({k[2:] for k in fit[0] if k.startswith("a.")})
N = len(fit)
fits = {}
for L in layers:
    bias = f"{L}.bias" in params
    A = G = 0
    for r in fit:
        a, d = block(r, L, bias)
        A, G = A + a.T @ a, G + d.T @ d
    eA, QA = np.linalg.eigh(A / N)
    eG, QG = np.linalg.eigh(G / N)
    eA, eG = np.maximum(eA, 0), np.maximum(eG, 0)
    if METHOD == "ekfac":
        lam = 0
        for r in fit:
            a, d = block(r, L, bias)
            lam = lam + (QG.T @ (d.T @ a) @ QA) ** 2
        lam = lam / N
    else:
        lam = np.outer(eG, eA)
    fits[L] = (bias, QA, QG, lam, DAMPING * lam.mean())
covered = {f"{L}.{k}" for L in layers for k in ("weight", "bias")}
assert covered >= set(params), "the run's fit gradients have dense parts: it should factor every layer"


def s_numpy(v):
    s = np.zeros(P)
    for L, (bias, QA, QG, lam, ridge) in fits.items():
        ow = offs[f"{L}.weight"]
        out, inn = shapes[f"{L}.weight"][0], sizes[params.index(f"{L}.weight")] // shapes[f"{L}.weight"][0]
        V = v[ow:ow + out * inn].reshape(out, inn)
        if bias:
            ob = offs[f"{L}.bias"]
            V = np.hstack([V, v[ob:ob + out, None]])
        S = QG @ ((QG.T @ V @ QA) / (lam + ridge)) @ QA.T
        s[ow:ow + out * inn] = S[:, :inn].ravel()
        if bias:
            s[ob:ob + out] = S[:, inn]
    return s


ihvp = {r["id"]: r for r in stream("ihvp.mp")}
queries = stream("query-grad.mp")


def curvature():
    worst = 0.0
    for q in queries:
        want = s_numpy(dense(q))
        got = np.asarray(ihvp[q["id"]]["ihvp"], np.float64)
        worst = max(worst, np.linalg.norm(got - want) / np.linalg.norm(want))
    return worst < 2e-3 and len(ihvp) == len(queries), f"max relative error {worst:.2g} over {len(queries)} queries"


check(f"{METHOD}: s_test = numpy's {METHOD} fit of the fit gradients, inverted with damping "
      f"{DAMPING:g} x each block's mean eigenvalue", curvature)

cands = {r["id"]: list(r["ids"]) for r in stream("candidates.mp")}
grads = {r["id"]: dense(r) for r in stream("cand-grad.mp")}
scores = stream("scores.mp")


def own_candidates():
    bad = [r["id"] for r in scores if sorted(r["ids"]) != sorted(cands[r["id"]])]
    return not bad and [r["id"] for r in scores] == [q["id"] for q in queries], \
        f"{len(scores)} scores records" + (f"; not over their own candidates: {bad}" if bad else "")


def minus_g_dot_s():
    worst = 0.0
    for r in scores:
        s = np.asarray(ihvp[r["id"]]["ihvp"], np.float64)
        want = np.array([-grads[i] @ s for i in r["ids"]])
        got = np.asarray(r["scores"], np.float64)
        worst = max(worst, np.abs(got - want).max() / np.abs(want).max())
    return worst < 1e-4, f"max error {worst:.2g} relative to the largest |score|"


check("each query is scored over exactly its own K candidates, in query order", own_candidates)
check("scores = -g . s, g rebuilt from the candidates' factor records, s the ihvp record", minus_g_dot_s)
