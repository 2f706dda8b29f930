"""Independent numpy references for the curvature tests (tests/54-curvature.t):
synthetic layer-factor gradient streams (formats/gradients.md), K-FAC,
EK-FAC and the diagonal Fisher fitted as formats/curvature.md defines them,
and inverse products, written from the spec, not from the C code."""

import sys

import numpy as np

import fastif_stream as fs

# Layers of the synthetic streams: name, in, out, rank, bias.
SHAPES = {
    "r7bias": [("enc.layer.0.dense", 6, 4, 7, True), ("head", 5, 3, 1, False)],
    "r1bias": [("layers.0", 6, 4, 1, True), ("layers.1", 4, 3, 1, True)],
    "r7": [("tok.proj", 5, 4, 7, False)],
}
DENSE = {"r7bias": [("emb.weight", 6)], "r1bias": [], "r7": [("norm.scale", 3)]}


def write_stream(path, kind, n, seed, independent=False, ranks=None):
    """n records; independent: a and delta drawn independently (K-FAC exact);
    ranks: every layer's rank, one per record in turn (not the SHAPES')."""
    rng = np.random.default_rng(seed)
    layers, dense = SHAPES[kind], DENSE[kind]
    params = []
    for name, i, o, r, b in layers:
        params += [name + ".weight"] + ([name + ".bias"] if b else [])
    params += [p for p, _ in dense]
    mix = {name: rng.standard_normal((i, i)) for name, i, o, r, b in layers}
    with open(path, "wb") as f:
        for k in range(n):
            rec = {"id": "g%d" % k, "params": ",".join(params)}
            for name, i, o, r, b in layers:
                rr = r if ranks is None else ranks[k % len(ranks)]
                a = rng.standard_normal((rr, i)) @ mix[name] * 0.5 + 0.3
                d = rng.standard_normal((rr, o)) * (1 + 0.5 * np.arange(o))
                if not independent:  # correlate delta with a: K-FAC is an approximation
                    d = d + 0.5 * a[:, :1] * a[:, 1:2]
                rec["a." + name] = (a if rr != 1 or k % 2 else a[0]).astype(np.float32)
                rec["delta." + name] = (d if rr != 1 or k % 2 else d[0]).astype(np.float32)
            for p, m in dense:
                rec["grad." + p] = rng.standard_normal(m).astype(np.float32) * 0.7
            fs.write_record(f, rec)


def read(path):
    return list(fs.read_stream(open(path, "rb")))


def rows(x):
    x = np.asarray(x, np.float64)
    return x[None, :] if x.ndim == 1 else x


def layout(rec):
    """[(part name, kind, layer)] in params order."""
    out = []
    for p in rec["params"].split(","):
        if "grad." + p in rec:
            out.append((p, "dense", None))
        else:
            layer, kind = p.rsplit(".", 1)
            out.append((p, kind, layer))
    return out


def layers_of(rec):
    lay = layout(rec)
    names = []
    for p, kind, layer in lay:
        if layer is not None and layer not in names:
            names.append(layer)
    return [(n, any(k == "weight" and l == n for _, k, l in lay), any(k == "bias" and l == n for _, k, l in lay))
            for n in names]


def abar(rec, name, w, b):
    a = rows(rec["a." + name])
    cols = [a] if w else []
    if b:
        cols.append(np.ones((a.shape[0], 1)))
    return np.hstack(cols)


def dense(rec):
    """The dense gradient vector g [P] of a record."""
    parts = []
    for p, kind, layer in layout(rec):
        if kind == "dense":
            parts.append(np.asarray(rec["grad." + p], np.float64).ravel())
        else:
            a, d = rows(rec["a." + layer]), rows(rec["delta." + layer])
            parts.append((d.T @ a).ravel() if kind == "weight" else d.sum(0))
    return np.concatenate(parts)


def block_matrix(rec, name, w, b):
    """D = sum_t delta_t abar_t^T, [out, k]."""
    return rows(rec["delta." + name]).T @ abar(rec, name, w, b)


def fit(recs, method):
    """{layer: dict(A, G, eigA, eigG, QA, QG, eig)} and {part: diag}."""
    N = len(recs)
    out, diag = {}, {}
    if method == "diag":
        g2 = sum(dense(r) ** 2 for r in recs) / N
        off = 0
        for p, kind, layer in layout(recs[0]):
            n = dense_sizes(recs[0])[p]
            diag[p] = g2[off:off + n]
            off += n
        return out, diag
    for name, w, b in layers_of(recs[0]):
        A = sum(abar(r, name, w, b).T @ abar(r, name, w, b) for r in recs) / N
        G = sum(rows(r["delta." + name]).T @ rows(r["delta." + name]) for r in recs) / N
        eA, QA = np.linalg.eigh(A)
        eG, QG = np.linalg.eigh(G)
        L = {"A": A, "G": G, "eigA": eA, "eigG": eG, "QA": QA, "QG": QG}
        if method == "ekfac":
            L["eig"] = sum((QG.T @ block_matrix(r, name, w, b) @ QA) ** 2 for r in recs) / N
        out[name] = L
    for p, kind, layer in layout(recs[0]):
        if kind == "dense":
            diag[p] = sum(np.asarray(r["grad." + p], np.float64).ravel() ** 2 for r in recs) / N
    return out, diag


def dense_sizes(rec):
    sizes = {}
    for p, kind, layer in layout(rec):
        if kind == "dense":
            sizes[p] = np.asarray(rec["grad." + p]).size
        else:
            a, d = rows(rec["a." + layer]), rows(rec["delta." + layer])
            sizes[p] = d.shape[1] * (a.shape[1] if kind == "weight" else 1)
    return sizes


def dense_curvature(recs, method, fitted=None):
    """The curvature as a dense [P, P] matrix in params order (block diagonal)."""
    rec = recs[0]
    layer_fit, diag = fitted or fit(recs, method)
    sizes = dense_sizes(rec)
    offs, off = {}, 0
    for p, _, _ in layout(rec):
        offs[p] = off
        off += sizes[p]
    P = off
    C = np.zeros((P, P))
    if method == "diag":
        for p, v in diag.items():
            C[offs[p]:offs[p] + len(v), offs[p]:offs[p] + len(v)] = np.diag(v)
        return C, offs, P
    for name, w, b in layers_of(rec):
        L = layer_fit[name]
        QA, QG = L["QA"], L["QG"]
        eig = L["eig"] if method == "ekfac" else np.outer(L["eigG"], L["eigA"])
        Q = np.kron(QG, QA)  # vec of [out, k] row-major
        Cb = Q @ np.diag(eig.ravel()) @ Q.T
        idx = block_index(rec, name, w, b, offs, sizes)
        C[np.ix_(idx, idx)] = Cb
    for p, v in diag.items():
        C[offs[p]:offs[p] + len(v), offs[p]:offs[p] + len(v)] = np.diag(v)
    return C, offs, P


def block_index(rec, name, w, b, offs, sizes):
    """Dense-vector index of each entry of the block's [out, k] matrix."""
    o = rows(rec["delta." + name]).shape[1]
    i = rows(rec["a." + name]).shape[1]
    idx = []
    for r in range(o):
        if w:
            idx += list(offs[name + ".weight"] + r * i + np.arange(i))
        if b:
            idx.append(offs[name + ".bias"] + r)
    return np.array(idx)


def mean_eigs(recs, method, fitted):
    """Per block (layer or dense part): its mean eigenvalue, for --damping."""
    layer_fit, diag = fitted
    m = {}
    for name, L in layer_fit.items():
        m[name] = L["eig"].mean() if method == "ekfac" else L["eigG"].mean() * L["eigA"].mean()
    for p, v in diag.items():
        m[p] = v.mean()
    return m


def ridge(recs, method, fitted, damping=None, shift=None):
    """The ridge as a vector [P]: lambda of the block each entry belongs to."""
    rec = recs[0]
    sizes = dense_sizes(rec)
    offs, off = {}, 0
    for p, _, _ in layout(rec):
        offs[p] = off
        off += sizes[p]
    lam = np.zeros(off)
    me = mean_eigs(recs, method, fitted)
    val = lambda blk: shift if shift is not None else damping * me[blk]
    for name, w, b in layers_of(rec) if method != "diag" else []:
        lam[block_index(rec, name, w, b, offs, sizes)] = val(name)
    for p in fitted[1]:
        lam[offs[p]:offs[p] + sizes[p]] = val(p)
    return lam


def load_curv(path):
    recs = read(path)
    return recs[0], {r["id"]: r for r in recs[1:]}


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "write":  # write PATH KIND N SEED [independent | ranks=R1,R2,...]
        opt = sys.argv[6] if len(sys.argv) > 6 else ""
        write_stream(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                     independent=opt == "independent",
                     ranks=[int(x) for x in opt[6:].split(",")] if opt.startswith("ranks=") else None)
    elif cmd == "check-fit":  # check-fit CURV GRADS METHOD: the file against the reference
        head, blocks = load_curv(sys.argv[2])
        recs = read(sys.argv[3])
        method = sys.argv[4]
        layer_fit, diag = fit(recs, method)
        assert head["method"] == method and head["n"] == len(recs), head
        assert head["params"] == recs[0]["params"]
        assert head["P"] == len(dense(recs[0]))
        worst = 0.0
        rel = lambda a, b: np.abs(np.asarray(a, float) - b).max() / max(np.abs(b).max(), 1e-30)
        for name, L in layer_fit.items():
            B = blocks[name]
            assert B["kind"] == "kron", B["kind"]
            for key in ("A", "G", "eigA", "eigG"):
                worst = max(worst, rel(B[key], L[key]))
            for Q, M, e in ((B["QA"], L["A"], B["eigA"]), (B["QG"], L["G"], B["eigG"])):
                Q = np.asarray(Q, float)
                worst = max(worst, np.abs(Q.T @ Q - np.eye(len(Q))).max())  # orthonormal
                worst = max(worst, rel(Q @ np.diag(e) @ Q.T, M))           # and diagonalises
            if method == "ekfac":
                # eig with numpy's own eigenbases (signs do not matter in squares)
                worst = max(worst, rel(B["eig"], L["eig"]))
            else:
                assert "eig" not in B
        for p, v in diag.items():
            assert blocks[p]["kind"] == "diag"
            worst = max(worst, rel(blocks[p]["diag"], v))
        assert len(blocks) == len(layer_fit) + len(diag), (sorted(blocks), sorted(layer_fit), sorted(diag))
        print("%.3g" % worst)
    elif cmd == "check-identity":  # check-identity IHVP GRADS: s = the dense gradient
        recs = {r["id"]: r for r in read(sys.argv[3])}
        out = read(sys.argv[2])
        assert [r["id"] for r in out] == list(recs), "ids or order differ"
        worst = 0.0
        for r in out:
            assert r["method"] == "identity" and r["params"] == recs[r["id"]]["params"]
            g = dense(recs[r["id"]])
            worst = max(worst, np.abs(r["ihvp"] - g).max() / np.abs(g).max())
        print("%.3g" % worst)
    elif cmd == "check-ihvp":  # check-ihvp IHVP TRAIN TEST METHOD damping|shift X
        out, train, test = read(sys.argv[2]), read(sys.argv[3]), {r["id"]: r for r in read(sys.argv[4])}
        method, how, x = sys.argv[5], sys.argv[6], float(sys.argv[7])
        fitted = fit(train, method)
        C, offs, P = dense_curvature(train, method, fitted)
        lam = ridge(train, method, fitted, **{how: x})
        me = mean_eigs(train, method, fitted)
        worst = 0.0
        for r in out:
            assert r["method"] == "curvature" and r["curvature"] == method
            assert r[how] == x, (r.get(how), x)
            want = [x if how == "shift" else x * me[b] for b in r["blocks"]]
            worst = max(worst, np.abs(np.asarray(r["shifts"]) - want).max() / max(want))
            v = dense(test[r["id"]])
            s = np.linalg.solve(C + np.diag(lam), v)  # dense solve, not the eigenbasis route
            worst = max(worst, np.linalg.norm(r["ihvp"] - s) / np.linalg.norm(s))
        print("%.3g" % worst)
    elif cmd == "fisher-error":  # fisher-error IHVP TRAIN TEST SHIFT: distance to the dense Fisher solve
        out, train, test = read(sys.argv[2]), read(sys.argv[3]), {r["id"]: r for r in read(sys.argv[4])}
        shift = float(sys.argv[5])
        Gm = np.array([dense(r) for r in train])
        F = Gm.T @ Gm / len(train)
        err = 0.0
        for r in out:
            s = np.linalg.solve(F + shift * np.eye(len(F)), dense(test[r["id"]]))
            err = max(err, np.linalg.norm(r["ihvp"] - s) / np.linalg.norm(s))
        print("%.4g" % err)
    elif cmd == "fisher-hvp":  # fisher-hvp HVP TRAIN TEST: F v against numpy
        out, train, test = read(sys.argv[2]), read(sys.argv[3]), {r["id"]: r for r in read(sys.argv[4])}
        Gm = np.array([dense(r) for r in train])
        err = 0.0
        for r in out:
            v = dense(test[r["id"]])
            want = Gm.T @ (Gm @ v) / len(train)
            err = max(err, np.linalg.norm(r["hvp"] - want) / np.linalg.norm(want))
        print("%.3g" % err)
    elif cmd == "check-self":  # check-self SELF TRAIN METHOD damping|shift X: g_i^T (C + lam)^-1 g_i one by one
        out, train = read(sys.argv[2]), read(sys.argv[3])
        method, how, x = sys.argv[4], sys.argv[5], float(sys.argv[6])
        assert len(out) == 1 and out[0]["id"] == "self", [r["id"] for r in out]
        r = out[0]
        assert list(r["ids"]) == [t["id"] for t in train]
        fitted = fit(train, method)
        C, offs, P = dense_curvature(train, method, fitted)
        M = C + np.diag(ridge(train, method, fitted, **{how: x}))
        want = np.array([g @ np.linalg.solve(M, g) for g in (dense(t) for t in train)])
        assert (want > 0).all()
        print("%.3g" % (np.abs(r["scores"] - want).max() / np.abs(want).max()))
    elif cmd == "check-factored":  # check-factored IHVP TRAIN TEST METHOD damping|shift X
        out, train, test = read(sys.argv[2]), read(sys.argv[3]), {r["id"]: r for r in read(sys.argv[4])}
        method, how, x = sys.argv[5], sys.argv[6], float(sys.argv[7])
        layer_fit, diag = fitted = fit(train, "kfac")
        me = mean_eigs(train, "kfac", fitted)
        worst = 0.0
        assert len(out) == len(test)
        for r in out:
            assert r["factored"] == 1 and "ihvp" not in r and r["curvature"] == "kfac"
            t = test[r["id"]]
            for j, (name, w, b) in enumerate(layers_of(t)):
                L = layer_fit[name]
                k, o = L["A"].shape[0], L["G"].shape[0]
                lam = x if how == "shift" else x * me[name]
                pi = np.sqrt((np.trace(L["A"]) / k) / (np.trace(L["G"]) / o))
                gA, gG = pi * np.sqrt(lam), np.sqrt(lam) / pi
                worst = max(worst, abs(r["gammas"][j][0] - gA) / gA, abs(r["gammas"][j][1] - gG) / gG)
                # the dense Tikhonov solve: ((G + gG I) (x) (A + gA I)) vec S = vec V
                M = np.kron(L["G"] + gG * np.eye(o), L["A"] + gA * np.eye(k))
                want = np.linalg.solve(M, block_matrix(t, name, w, b).ravel()).reshape(o, k)
                sa, sd = np.asarray(r["s_a." + name], float), np.asarray(r["s_delta." + name], float)
                assert sa.shape == (rows(t["a." + name]).shape[0], k), sa.shape
                got = sd.T @ sa
                worst = max(worst, np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))  # rank 0: s is 0
            for p, dv in diag.items():
                lam = x if how == "shift" else x * me[p]
                want = np.asarray(t["grad." + p], float).ravel() / (dv + lam)
                worst = max(worst, np.abs(r["s." + p] - want).max() / np.abs(want).max())
        print("%.3g" % worst)
