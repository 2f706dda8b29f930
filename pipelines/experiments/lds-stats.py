#!/usr/bin/python3
"""lds-stats.py - data preparation and plain statistics for the LDS experiment
(pipelines/experiments/lds.mk). Influence scores and inverse HVPs all come from
the fastif tools; this file reshapes streams and compares numbers.

  lds-stats.py pool SIDE < examples > examples      mean-pool square images to SIDE x SIDE
  lds-stats.py cosine TRAIN_GRADS < scores > scores  score_i / |g_i| (gradient cosine, up to 1/|g_test|;
                                                     dense or layer-factor gradient records)
  lds-stats.py flip FRACTION SEED < examples > examples   flip labels (field flipped: 1)
  lds-stats.py mislabel EXAMPLES NAME:SELF_SCORES...      AUC and found@10%/20% table
  lds-stats.py self-from loss PREDICTIONS | quad GRADS IHVP   one scores record {id: self}
  lds-stats.py loo-subsets K TRAIN < scores > subsets      leave-one-out subsets of the top K by |score|
  lds-stats.py loo N K SCORES OUTPUTS FULL                   predicted vs actual loss change table
  lds-stats.py relerr IHVP REFERENCE                          mean |s - s_ref| / |s_ref| and cosine
  lds-stats.py paired LDS_A LDS_B BOOT SEED                   LDS(A) - LDS(B) over the same test points,
                                                              paired percentile bootstrap (95%)
"""
import io
import sys

import msgpack
import numpy as np


def read(f):
    return list(msgpack.Unpacker(f, raw=False))


def read_path(p):
    with open(p, "rb") as f:
        return read(f)


def tensor(t):
    dt = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8", "u8": "u1"}[t["dtype"]]
    return np.frombuffer(t["data"], dt).reshape(t["shape"])


def f32(a):
    a = np.ascontiguousarray(a, "<f4")
    return {"dtype": "f32", "shape": list(a.shape), "data": a.tobytes()}


def write(recs, f=None):
    f = f or sys.stdout.buffer
    for r in recs:
        f.write(msgpack.packb(r, use_bin_type=True))


def cmd_pool(side):
    side = int(side)
    recs = read(sys.stdin.buffer)
    for r in recs:
        x = tensor(r["x"])
        d = int(round(np.sqrt(x.size)))
        k = d // side
        assert d * d == x.size and k * side == d, "pool: %s is not a square image of a multiple of %d" % (r["id"], side)
        r["x"] = f32(x.reshape(side, k, side, k).mean(axis=(1, 3)).ravel())
    write(recs)


def grad_norm(r):
    """|g| of a gradient record, dense ("grad") or in layer factors (formats/gradients.md:
    weight sum_t delta_t a_t^T, bias sum_t delta_t, and grad.PNAME parts)."""
    if "grad" in r:
        return float(np.linalg.norm(tensor(r["grad"]).astype(float)))
    params = set(r.get("params", "").split(","))
    sq = 0.0
    for k, v in r.items():
        if k.startswith("grad."):
            sq += float(np.sum(tensor(v).astype(float) ** 2))
        elif k.startswith("a."):
            name = k[2:]
            a = tensor(v).astype(float)
            d = tensor(r["delta." + name]).astype(float)
            a, d = a.reshape(-1, a.shape[-1]), d.reshape(-1, d.shape[-1])
            sq += float(np.sum((d.T @ a) ** 2))
            if name + ".bias" in params:
                sq += float(np.sum(d.sum(0) ** 2))
    return float(np.sqrt(sq))


def cmd_cosine(train_grads):
    norm = {r["id"]: grad_norm(r) for r in read_path(train_grads)}
    out = []
    for r in read(sys.stdin.buffer):
        s = tensor(r["scores"]).astype(float)
        n = np.array([norm[i] for i in r["ids"]])
        r["scores"] = f32(s / np.maximum(n, 1e-30))
        out.append(r)
    write(out)


def cmd_paired(a_path, b_path, boot, seed):
    """Two lds records (lds --subsets) over the same test points: the difference of
    their LDS with a percentile bootstrap interval that resamples test points for both
    at once (the correlations of one test point are not independent across methods)."""
    (a,), (b,) = read_path(a_path), read_path(b_path)
    pos = {t: k for k, t in enumerate(b["ids"])}
    sa, sb = tensor(a["spearman"]).astype(float), tensor(b["spearman"]).astype(float)
    keep = [(k, pos[t]) for k, t in enumerate(a["ids"]) if t in pos]
    d = np.array([sa[i] - sb[j] for i, j in keep])
    d = d[np.isfinite(d)]
    rng = np.random.default_rng(int(seed))
    means = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(int(boot))]
    lo, hi = np.percentile(means, [2.5, 97.5])
    print("%s - %s: %+.3f (95%% paired bootstrap interval %+.3f .. %+.3f over %d test points; "
          "%s ahead on %d of them)" % (a["id"], b["id"], d.mean(), lo, hi, len(d), a["id"], int((d > 0).sum())))


def cmd_flip(fraction, seed):
    recs = read(sys.stdin.buffer)
    rng = np.random.default_rng(int(seed))
    C = max(int(r["label"]) for r in recs) + 1
    flip = rng.choice(len(recs), int(round(float(fraction) * len(recs))), replace=False)
    for i in flip:   # a different class, uniformly
        y = int(recs[i]["label"])
        recs[i]["label"] = int((y + rng.integers(1, C)) % C)
        recs[i]["flipped"] = 1
    for r in recs:
        r.pop("label_name", None)   # the names would contradict the flipped labels
    write(recs)


def auc(score, positive):
    """Area under the ROC curve of ranking by score (ties count half): Mann-Whitney U."""
    from stats import ranks   # average ranks, beside this file
    pos = np.asarray(positive, bool)
    r = ranks(score) + 1
    npos, nneg = pos.sum(), (~pos).sum()
    return float((r[pos].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def found(score, positive, frac):
    """Fraction of the positives among the top frac of the points by score."""
    k = int(round(frac * len(score)))
    top = np.argsort(-np.asarray(score, float), kind="mergesort")[:k]
    return float(np.asarray(positive, bool)[top].sum() / np.asarray(positive, bool).sum())


def cmd_mislabel(examples, *methods):
    flipped = {r["id"]: bool(r.get("flipped", 0)) for r in read_path(examples)}
    print("| ranking by | AUC | flipped found in top 10% | in top 20% |")
    print("|---|---|---|---|")
    for m in methods:
        name, path = m.split(":", 1)
        recs = read_path(path)
        assert len(recs) == 1, "%s: expected one scores record (id self)" % path
        ids, sc = recs[0]["ids"], tensor(recs[0]["scores"])
        assert sorted(ids) == sorted(flipped), "%s: scores other training ids" % path
        pos = [flipped[i] for i in ids]
        print("| %s | %.3f | %.3f | %.3f |" % (name, auc(sc, pos), found(sc, pos, 0.1), found(sc, pos, 0.2)))


def cmd_self_from(kind, *paths):
    """One scores record {id: self} per training point: kind 'loss' from eval predictions,
    'quad' g_i . s_i from a gradient and an ihvp stream with the same ids (self-influence)."""
    if kind == "loss":
        recs = read_path(paths[0])
        ids = [r["id"] for r in recs]
        sc = np.array([r["loss"] for r in recs])
    else:
        g = {r["id"]: tensor(r["grad"]).astype(float) for r in read_path(paths[0])}
        recs = read_path(paths[1])
        ids = [r["id"] for r in recs]
        sc = np.array([g[r["id"]] @ tensor(r["ihvp"]).astype(float) for r in recs])
    write([{"id": "self", "ids": ids, "scores": f32(sc)}])


def top_by_abs(recs, k):
    """test id -> [(train id, score)] of its k largest |score| (ties in input order)."""
    out = {}
    for r in recs:
        sc = tensor(r["scores"])
        order = np.argsort(-np.abs(sc), kind="mergesort")[:k]
        out[r["id"]] = [(r["ids"][i], float(sc[i])) for i in order]
    return out


def cmd_loo_subsets(k, train):
    ids = [r["id"] for r in read_path(train)]
    top = top_by_abs(read(sys.stdin.buffer), int(k))
    drop = sorted({i for lst in top.values() for i, _ in lst}, key=ids.index)
    write([{"id": "loo-" + d, "ids": [i for i in ids if i != d]} for d in drop])


def outputs(path):
    """subset id -> {test id: output}"""
    return {r["id"]: dict(zip(r["ids"], tensor(r["values"]).tolist())) for r in read_path(path)}


def pearson(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def spearman(a, b):
    from scipy.stats import spearmanr
    return float(spearmanr(a, b).correlation)


def cmd_loo(n, k, scores, outs, full):
    n, k = int(n), int(k)
    top = top_by_abs(read_path(scores), k)
    retrained = outputs(outs)
    base = outputs(full)["full"]
    print("| test point | pairs | Pearson | Spearman | sign agreement | mean \\|actual\\| | mean \\|predicted\\| |")
    print("|---|---|---|---|---|---|---|")
    A, P = [], []
    for t, lst in top.items():
        # removing z_i changes the test loss by about -score_i / n (formats/scores.md)
        pred = np.array([-s / n for _, s in lst])
        act = np.array([retrained["loo-" + i][t] - base[t] for i, _ in lst])
        A.extend(act)
        P.extend(pred)
        print("| %s | %d | %.3f | %.3f | %.2f | %.2e | %.2e |" % (
            t, len(lst), pearson(pred, act), spearman(pred, act), np.mean(np.sign(pred) == np.sign(act)),
            np.abs(act).mean(), np.abs(pred).mean()))
    A, P = np.array(A), np.array(P)
    print("| all | %d | %.3f | %.3f | %.2f | %.2e | %.2e |" % (
        len(A), pearson(P, A), spearman(P, A), np.mean(np.sign(P) == np.sign(A)), np.abs(A).mean(), np.abs(P).mean()))


def cmd_relerr(path, ref):
    r = {x["id"]: tensor(x["ihvp"]).astype(float) for x in read_path(ref)}
    err, cos = [], []
    for x in read_path(path):
        s, q = tensor(x["ihvp"]).astype(float), r[x["id"]]
        err.append(np.linalg.norm(s - q) / np.linalg.norm(q))
        cos.append(s @ q / (np.linalg.norm(s) * np.linalg.norm(q)))
    print("relative error %.3f, cosine %.4f (mean over %d test points)" % (np.mean(err), np.mean(cos), len(err)))


if __name__ == "__main__":
    cmds = {"relerr": cmd_relerr, "loo-subsets": cmd_loo_subsets, "loo": cmd_loo,
            "pool": cmd_pool, "cosine": cmd_cosine, "paired": cmd_paired,
            "flip": cmd_flip, "mislabel": cmd_mislabel, "self-from": cmd_self_from}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
