#!/bin/bash
# influence over layer-factor gradient records of any rank, no model file:
# scores against dense and factored s_test equal -g_i.s computed in numpy
# from the dense vectors the records define (formats/gradients.md,
# formats/ihvp.md, formats/scores.md).
. "$(dirname "$0")/lib.sh"

# Synthetic records, written with python/fastif_stream.py. Parameters, in
# params order: a dense part first (emb.weight), a layer with bias
# (enc.block.0.dense), one without (head), and one with only its bias
# selected (tail). Every record also gets its dense vector, so numpy builds
# the reference from the definition: W-grad = sum_t delta_t a_t^T, b-grad =
# sum_t delta_t, S_t = sum_u sd_u sa_u^T ([out, in+b], bias last column).
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]
rng = np.random.default_rng(14)
LAY = [("enc.block.0.dense", 6, 5, True, True), ("head", 5, 3, True, False), ("tail", 4, 2, False, True)]
params = ["emb.weight"]
for name, i, o, w, b in LAY:
    params += ([name + ".weight"] if w else []) + ([name + ".bias"] if b else [])
PARAMS = ",".join(params)
f32 = lambda x: np.asarray(x, np.float32)

def dense_of(parts):
    """The dense vector of {pname: array} in params order."""
    return np.concatenate([parts[p].ravel() for p in params]).astype(np.float64)

def grad_record(i, ranks, rowvec=False, dense_layers=()):
    rec, parts = {"id": "tr-%d" % i, "label_kind": "gold", "params": PARAMS}, {}
    e = f32(rng.normal(size=(4, 3)))
    rec["grad.emb.weight"], parts["emb.weight"] = e, e
    for (name, n_in, n_out, w, b), r in zip(LAY, ranks):
        a, dl = f32(rng.normal(size=(r, n_in))), f32(rng.normal(size=(r, n_out)))
        W, B = dl.T.astype(np.float64) @ a, dl.sum(0, dtype=np.float64)
        if w: parts[name + ".weight"] = W
        if b: parts[name + ".bias"] = B
        if name in dense_layers:  # this layer travels dense in this stream
            if w: rec["grad." + name + ".weight"] = f32(W)
            if b: rec["grad." + name + ".bias"] = f32(B)
            continue
        if rowvec and r == 1: a, dl = a[0], dl[0]
        rec["a." + name], rec["delta." + name] = a, dl
    return rec, dense_of({k: np.asarray(v, np.float64) for k, v in parts.items()})

def write(path, recs):
    with open(path, "wb") as f:
        for r in recs: fs.write_record(f, r)

N = 40
streams = {
    "r1": [grad_record(i, (1, 1, 1), rowvec=True) for i in range(N)],
    "r3": [grad_record(i, (3, 3, 3)) for i in range(N)],
    "r7": [grad_record(i, (7, 7, 7)) for i in range(N)],
    "rvar": [grad_record(i, tuple(rng.integers(0, 8, size=3))) for i in range(N)],
    "hdense": [grad_record(i, tuple(rng.integers(1, 5, size=3)), dense_layers=("head",)) for i in range(N)],
}
for k, v in streams.items():
    write(d + "/g-" + k, [r for r, _ in v])
    np.save(d + "/G-" + k + ".npy", np.stack([g for _, g in v]))
    write(d + "/gw-" + k, [{"id": r["id"], "label_kind": "gold", "params": PARAMS, "grad": f32(g)} for r, g in v])

# dense s_test (T = 4) and factored s_test (ranks 1, 2, 5, 0 per test point)
P = streams["r1"][0][1].size
S = rng.normal(size=(4, P))
write(d + "/s-dense", [{"id": "te-%d" % t, "ihvp": f32(S[t]), "params": PARAMS} for t in range(4)])
np.save(d + "/S-dense.npy", f32(S).astype(np.float64))
write(d + "/s-dense1", [{"id": "te-0", "ihvp": f32(S[0]), "params": PARAMS}])
np.save(d + "/S-dense1.npy", f32(S[:1]).astype(np.float64))
recs, Sf = [], []
for t, rs in enumerate((1, 2, 5, 0)):
    rec, parts = {"id": "te-%d" % t, "params": PARAMS}, {}
    e = f32(rng.normal(size=(4, 3)))
    rec["s.emb.weight"], parts["emb.weight"] = e, e.astype(np.float64)
    for name, n_in, n_out, w, b in LAY:
        sa, sd = f32(rng.normal(size=(rs, n_in + b))), f32(rng.normal(size=(rs, n_out)))
        M = sd.T.astype(np.float64) @ sa  # [out, in+b]
        if w: parts[name + ".weight"] = M[:, :n_in]
        if b: parts[name + ".bias"] = M[:, n_in]
        rec["s_a." + name], rec["s_delta." + name] = (sa[0], sd[0]) if rs == 1 else (sa, sd)
    recs.append(rec)
    Sf.append(dense_of(parts))
write(d + "/s-fact", recs)
np.save(d + "/S-fact.npy", np.stack(Sf))
PY
ok "synthetic factor streams and s_test records written" test -s "$T/s-fact"

# check SCORES GRADS.npy S.npy [IHVP]: every score equals -g_i.s_t (float64
# numpy); test ids te-0.. or those of the ihvp records IHVP
check() {
  $PY - "$@" <<'PY'
import sys, numpy as np, fastif_stream as fs
recs = list(fs.read_stream(open(sys.argv[1], "rb")))
G, S = np.load(sys.argv[2]), np.load(sys.argv[3])
want = -G @ S.T
tids = [r["id"] for r in fs.read_stream(open(sys.argv[4], "rb"))] if len(sys.argv) > 4 else ["te-%d" % t for t in range(S.shape[0])]
assert [r["id"] for r in recs] == tids, "one record per test, in order"
worst = 0
for t, r in enumerate(recs):
    assert r["ids"] == ["tr-%d" % i for i in range(G.shape[0])], "train ids in input order"
    worst = max(worst, np.abs(r["scores"] - want[:, t]).max() / np.abs(want).max())
print("max rel err %.2g" % worst)
sys.exit(0 if worst < 1e-5 else 1)
PY
}
for k in r1 r3 r7 rvar hdense; do
  for s in dense fact; do
    influence --ihvp "$T/s-$s" --batch 7 < "$T/g-$k" > "$T/sc-$k-$s" 2>"$T/err"
    ok "factors $k, $s s_test: exit 0 (no --model)" test $? = 0
    ok "factors $k, $s s_test: scores = -g.s in numpy" check "$T/sc-$k-$s" "$T/G-$k.npy" "$T/S-$s.npy"
  done
done
# Against dense s_test, records of r > 1 rows are scored through their dense
# gradient (cheaper when r*T > r + T, as for T = 4 above), and through the
# stacked rows and a segmented sum otherwise: T = 1 takes that path at every r.
for k in r3 r7 rvar; do
  influence --ihvp "$T/s-dense1" --batch 7 < "$T/g-$k" > "$T/sc1-$k" 2>/dev/null
  ok "factors $k, one dense s_test (stacked rows): scores = -g.s" check "$T/sc1-$k" "$T/G-$k.npy" "$T/S-dense1.npy"
done
# one batch for everything, and the dense form of the same gradients against factored s
influence --ihvp "$T/s-fact" --batch 100000 < "$T/g-rvar" > "$T/sc-big" 2>/dev/null
ok "one batch of all records: scores = -g.s" check "$T/sc-big" "$T/G-rvar.npy" "$T/S-fact.npy"
influence --ihvp "$T/s-fact" < "$T/gw-r3" > "$T/sc-w" 2>/dev/null
ok "dense \"grad\" records against factored s_test: scores = -g.s" check "$T/sc-w" "$T/G-r3.npy" "$T/S-fact.npy"
not_ok "(the check fails for scores against another s_test)" check "$T/sc-w" "$T/G-r3.npy" "$T/S-dense.npy"
influence --ihvp "$T/s-fact" < "$T/g-r3" > "$T/sc-log" 2>"$T/err"
like "$(cat "$T/err")" "factored s_test" "the log says the s_test was factored"

# The factored s_test of ihvp --curvature --factored-s (factored-Tikhonov
# K-FAC of a curvature fitted on the rank-3 stream, for three rank-7
# records): scored as factors, equal to -g.s with s densified in numpy from
# the records by formats/ihvp.md's definition.
curvature --method kfac -o "$T/C" < "$T/g-r3" 2>/dev/null
pick --head 3 "$T/g-r7" 2>/dev/null | ihvp --curvature "$T/C" --factored-s > "$T/s-curv" 2>/dev/null
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]
out = []
for r in fs.read_stream(open(d + "/s-curv", "rb")):
    assert "ihvp" not in r and any(k.startswith("s_a.") for k in r), "factored records"
    names, parts = r["params"].split(","), []
    for p in names:
        if "s." + p in r: parts.append(r["s." + p].astype(np.float64).ravel()); continue
        layer, kind = p.rsplit(".", 1)
        sa, sd = np.atleast_2d(r["s_a." + layer]), np.atleast_2d(r["s_delta." + layer])
        M = sd.T.astype(np.float64) @ sa
        b = layer + ".bias" in names
        parts.append(M[:, :M.shape[1] - b].ravel() if kind == "weight" else M[:, -1])
    out.append(np.concatenate(parts))
np.save(d + "/S-curv.npy", np.stack(out))
PY
influence --ihvp "$T/s-curv" < "$T/g-rvar" > "$T/sc-curv" 2>/dev/null
ok "ihvp --curvature --factored-s records: factored scores = -g.s in numpy" check "$T/sc-curv" "$T/G-rvar.npy" "$T/S-curv.npy" "$T/s-curv"

# bad input: one line naming the record, exit 1
$PY - "$T" <<'PY'
import sys, fastif_stream as fs
d = sys.argv[1]
recs = list(fs.read_stream(open(d + "/s-fact", "rb")))
bad = dict(recs[1]); bad["s_a.head"] = bad["s_a.head"][:, :4]  # width 4, the first record's 5
with open(d + "/s-badw", "wb") as f:
    for r in (recs[0], bad): fs.write_record(f, r)
bad = dict(recs[0]); del bad["s_delta.tail"]
with open(d + "/s-miss", "wb") as f: fs.write_record(f, bad)
bad = dict(recs[0]); bad["params"] = bad["params"].replace(",tail.bias", "")
del bad["s_a.tail"], bad["s_delta.tail"]
with open(d + "/s-fewer", "wb") as f: fs.write_record(f, bad)
# both sides factored, widths swapped: the same 24 elements of l.weight, [4, 6] against [6, 4]
import numpy as np
with open(d + "/g-swap", "wb") as f:
    for i in range(3):
        fs.write_record(f, {"id": "sw-%d" % i, "params": "l.weight", "a.l": np.ones((2, 6), np.float32),
                            "delta.l": np.ones((2, 4), np.float32)})
with open(d + "/s-swap", "wb") as f:
    fs.write_record(f, {"id": "st", "params": "l.weight", "s_a.l": np.ones((1, 4), np.float32),
                        "s_delta.l": np.ones((1, 6), np.float32)})
PY
run influence --ihvp "$T/s-badw" < "$T/g-r3"; echo "# $err"
like "$rc:$err" "^1:influence: error: record 'te-1'.*s_a.head.*width" "s_a of another width: exit 1 naming the ihvp record"
run influence --ihvp "$T/s-miss" < "$T/g-r3"; echo "# $err"
like "$rc:$err" "^1:influence: error: record 'te-0'.*s_delta.tail" "s_a without s_delta: exit 1 naming the field"
run influence --ihvp "$T/s-fewer" < "$T/g-r3"; echo "# $err"
like "$rc:$err" "^1:influence: error: record 'tr-0'.*params" "gradients over other params than the ihvp's: exit 1 naming the record"
run influence --ihvp "$T/s-swap" < "$T/g-swap"; echo "# $err"
like "$rc:$err" "^1:influence: error: record 'sw-0'.*layer 'l' has in 6, out 4.*in 4, out 6" \
  "factored gradients and s_test of swapped widths: exit 1 naming the record and the layer"

done_testing
