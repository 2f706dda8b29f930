#!/usr/bin/env bash
# bench/20-structured.sh - structured scoring (issue 17 item 4): full
# influence T x N on the Fashion-MNIST mlp with a factored (K-FAC) s_test
# against the dense path and functorch vmap on the same T x N, one run; and
# how K-FAC influence differs from LiSSA's and from the exact Hessian's.
# Run by bench/run (BENCH_W = scratch dir; reuses bench/10-influence.sh's
# model, data and LiSSA s_test when it ran first, else makes them); writes
# markdown on stdout and progress on stderr. BENCH_QUICK=1 shrinks it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
W0=${BENCH_W:?BENCH_W not set}/influence
W=${BENCH_W}/structured
mkdir -p "$W0" "$W"
PY=/usr/bin/python3
FM=/usr/share/datasets/fashion-mnist
if [ "${BENCH_QUICK:-0}" = 1 ]; then NFM=6000 TFULL=20; else NFM=60000 TFULL=100; fi
log() { echo "bench: $*" >&2; }
timed() { # CMD...: wall, cpu (user+sys), rss (MB) of CMD under GNU time
  /usr/bin/time -f "%e %U %S %M" -o "$W/.time" "$@"
  read -r wall u s kb < <(tail -n 1 "$W/.time")
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
  rss=$(awk -v k="$kb" 'BEGIN { printf "%.0f", k / 1024 }')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
# maxrel A B : max over test points of max|a-b| / max|a|
maxrel() {
  $PY - "$1" "$2" <<'EOF'
import sys, msgpack, numpy as np
def load(p):
    with open(p, "rb") as f:
        return {r["id"]: (r["ids"], np.frombuffer(r["scores"]["data"], "<f4"))
                for r in msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31)}
a, b = load(sys.argv[1]), load(sys.argv[2])
worst = 0.0
for k, (ids, s) in a.items():
    ids2, s2 = b[k]
    assert list(ids) == list(ids2), "training ids differ"
    worst = max(worst, float(np.abs(s - s2).max() / max(np.abs(s).max(), 1e-30)))
print(f"{worst:.1e}")
EOF
}

# ---- model, data, LiSSA s_test (bench/10-influence.sh's, when it ran) ----
M=$W0/fm.model
if [ ! -s "$M" ] || [ ! -s "$W0/fm-ihvp.mp" ]; then
  log "structured: importing Fashion-MNIST, training mlp:256, LiSSA s_test for $TFULL test points"
  import-idx --fashion --limit "$NFM" --images $FM/train-images-idx3-ubyte.gz \
    --labels $FM/train-labels-idx1-ubyte.gz --prefix tr- > "$W0/fm-train.mp" 2>/dev/null
  import-idx --fashion --images $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz \
    --prefix te- > "$W0/fm-test.mp" 2>/dev/null
  train --arch mlp:256 --epochs 1 -o "$M" < "$W0/fm-train.mp" 2>/dev/null
  pick --head "$TFULL" "$W0/fm-test.mp" > "$W0/fm-query.mp" 2>/dev/null
  grad --model "$M" < "$W0/fm-query.mp" 2>/dev/null |
    ihvp --model "$M" --train "$W0/fm-train.mp" --depth 1000 --batch 1 > "$W0/fm-ihvp.mp" 2>/dev/null
fi
TR=$W0/fm-train.mp
N=$(pick < "$TR" 2>&1 >/dev/null | sed -n 's/.*done \([0-9]*\) record.*/\1/p')

# ---- the factored K-FAC s_test --------------------------------------
log "structured: grad --factored of $N training and $TFULL test examples"
timed bash -c "OPENBLAS_NUM_THREADS=1 grad --model $M --factored < $TR > $W/train-f.mp 2>/dev/null"
grad_wall=$wall grad_cpu=$cpu
grad --model "$M" --factored < "$W0/fm-query.mp" > "$W/test-f.mp" 2>/dev/null
log "structured: K-FAC (factored Tikhonov, damping 0.1): curvature | ihvp --curvature --factored-s"
timed curvature --method kfac -o "$W/curv" < "$W/train-f.mp" 2>/dev/null
curv_wall=$wall
timed bash -c "ihvp --curvature $W/curv --factored-s < $W/test-f.mp > $W/kfac-fact.mp 2>/dev/null"
ih_wall=$wall
# the same s_test dense ("ihvp" f32[P], formats/ihvp.md's definition), for the dense scorers
$PY - "$W/kfac-fact.mp" "$W/kfac-dense.mp" <<'EOF'
import sys, msgpack, numpy as np
f32 = lambda t: np.frombuffer(t["data"], "<f4").reshape(t["shape"])
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as out:
    for r in msgpack.Unpacker(f, raw=False):
        names, parts = r["params"].split(","), []
        for p in names:
            if "s." + p in r: parts.append(f32(r["s." + p]).ravel()); continue
            layer, kind = p.rsplit(".", 1)
            M = np.atleast_2d(f32(r["s_delta." + layer])).T @ np.atleast_2d(f32(r["s_a." + layer]))
            b = layer + ".bias" in names
            parts.append(M[:, :M.shape[1] - b].ravel() if kind == "weight" else M[:, -1])
        s = np.ascontiguousarray(np.concatenate(parts), "<f4")
        out.write(msgpack.packb({"id": r["id"], "ihvp": {"dtype": "f32", "shape": [s.size], "data": s.tobytes()},
                                 "method": "kfac-factored-densified", "params": r["params"]}))
EOF
# an independent numpy K-FAC of the same definition (bench/kfac_ref.py), as a check
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY bench/kfac_ref.py "$W/train-f.mp" "$W/test-f.mp" \
  "$W/np-fact.mp" "$W/np-dense.mp" 2>"$W/kfac.log"
P=$($PY -c "
import sys, msgpack, numpy as np
r = next(msgpack.Unpacker(open('$W/kfac-dense.mp', 'rb'), raw=False))
print(r['ihvp']['shape'][0])")

# ---- the same T x N four ways, one thread each -----------------------
log "structured: influence, factored s_test, $TFULL x $N"
timed influence --threads 1 --ihvp "$W/kfac-fact.mp" < "$W/train-f.mp" > "$W/sc-fact.mp" 2>/dev/null
f_wall=$wall f_cpu=$cpu f_rss=$rss
log "structured: influence, dense s_test, $TFULL x $N"
timed influence --threads 1 --ihvp "$W/kfac-dense.mp" < "$W/train-f.mp" > "$W/sc-dense.mp" 2>/dev/null
d_wall=$wall d_cpu=$cpu d_rss=$rss
log "structured: influence fused, dense s_test, $TFULL x $N"
timed influence --threads 1 --ihvp "$W/kfac-dense.mp" --model "$M" --train "$TR" > "$W/sc-fused.mp" 2>/dev/null
u_wall=$wall u_cpu=$cpu u_rss=$rss
log "structured: functorch vmap, $TFULL x $N"
read -r _ v_secs _ v_cpu < <(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY bench/torch_ref.py vmap "$M" "$TR" \
  "$W/kfac-dense.mp" "$W/sc-vmap.mp")
log "structured: grad --factored | influence (factored s_test), end to end"
timed bash -c "OPENBLAS_NUM_THREADS=1 grad --model $M --factored < $TR 2>/dev/null |
  influence --threads 1 --ihvp $W/kfac-fact.mp > $W/sc-pipe.mp 2>/dev/null"
e_wall=$wall e_cpu=$cpu
fact_bytes=$(wc -c < "$W/train-f.mp")
influence --ihvp "$W/np-fact.mp" < "$W/train-f.mp" > "$W/sc-np.mp" 2>/dev/null
np_diff=$(maxrel "$W/sc-fact.mp" "$W/sc-np.mp")

# ---- K-FAC against LiSSA and against the exact Hessian (last layer) ---
log "structured: LiSSA scores, and K-FAC against the exact last-layer Hessian"
influence --ihvp "$W0/fm-ihvp.mp" --model "$M" --train "$TR" > "$W/sc-lissa.mp" 2>/dev/null
cmp_lissa=$($PY - "$W/sc-fact.mp" "$W/sc-lissa.mp" <<'EOF'
import sys, msgpack, numpy as np
from scipy.stats import spearmanr
def load(p):
    with open(p, "rb") as f:
        return {r["id"]: np.frombuffer(r["scores"]["data"], "<f4").astype(np.float64)
                for r in msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31)}
a, b = load(sys.argv[1]), load(sys.argv[2])
pr, sr, ov = [], [], []
for k in a:
    x, y = a[k], b[k]
    pr.append(np.corrcoef(x, y)[0, 1]); sr.append(spearmanr(x, y)[0])
    ov.append(len(set(np.argsort(x)[:10]) & set(np.argsort(y)[:10])) / 10)
print(f"{np.median(pr):.2f} {np.median(sr):.2f} {np.mean(ov):.2f}")
EOF
)
cmp_exact=$(OMP_NUM_THREADS=2 $PY bench/kfac_exact_last.py "$M" "$W/train-f.mp" "$W/test-f.mp" 2>"$W/exact.log")

read -r l_p l_s l_o <<<"$cmp_lissa"
read -r x_p x_s x_o xk_p xk_s xk_o <<<"$cmp_exact"
flop_dense=$(awk -v n="$N" -v t="$TFULL" -v p="$P" 'BEGIN { printf "%.3g", 2 * t * n * p }')
flop_fact=$($PY -c "
import msgpack
r = next(msgpack.Unpacker(open('$W/kfac-fact.mp', 'rb'), raw=False))
w = sum(r[k]['shape'][-1] for k in r if k.startswith(('s_a.', 's_delta.')))
print('%.3g' % (2 * $TFULL * $N * w))")
cat <<EOF
## Structured scoring: factored (K-FAC) s_test against the dense path and functorch vmap

Full influence, every one of N = $N training images on each of T = $TFULL test images
(Fashion-MNIST, \`mlp:256\` 784-256-10 tanh, P = $P, all four dense-layer tensors), made in
one run of \`bench/20-structured.sh\` ($(date -u +%Y-%m-%d), **machine not quiet**: other jobs shared
the 2 cores, so compare the ratios and CPU times of this run, not absolute times across runs).
Every implementation on one thread and with the **same s_test**: a factored-Tikhonov K-FAC
(Martens & Grosse 2015) from the training records of \`grad --factored\` (A = E[ā āᵀ],
G = E[δ δᵀ], gold labels, damping 0.1 × the mean eigenvalue of A ⊗ G split between the factors):
\`curvature --method kfac -o curv < train-f.mp\` ($curv_wall s) and
\`ihvp --curvature curv --factored-s < test-f.mp > kfac-fact.mp\` ($ih_wall s for the $TFULL test
points), which stays rank 1 per layer for a rank-1 test gradient, densified in numpy
(formats/ihvp.md's definition) into \`ihvp\` f32[P] records for the dense scorers. The same
K-FAC fitted independently in numpy (\`bench/kfac_ref.py\`) gives scores within $np_diff
(max rel. diff) of fastif's. \`grad --factored\` of the training set, stored once ($((fact_bytes / N)) bytes/record),
took $grad_wall s (CPU $grad_cpu s); the first three rows read it, or the examples.

| implementation | command | wall s | CPU s | peak RSS MB | flops (analytic) | wall / factored | max rel. diff to factored |
|---|---|---|---|---|---|---|---|
| fastif, factored s_test | \`influence --threads 1 --ihvp kfac-fact.mp < train-f.mp\` | $f_wall | $f_cpu | $f_rss | $flop_fact | 1 | |
| fastif, dense s_test (stream) | \`influence --threads 1 --ihvp kfac-dense.mp < train-f.mp\` | $d_wall | $d_cpu | $d_rss | $flop_dense | **$(ratio "$d_wall" "$f_wall")×** | $(maxrel "$W/sc-fact.mp" "$W/sc-dense.mp") |
| fastif, dense s_test (fused) | \`influence --threads 1 --ihvp kfac-dense.mp --model M --train fm-train.mp\` | $u_wall | $u_cpu | $u_rss | same + N·6P (gradients) | **$(ratio "$u_wall" "$f_wall")×** | $(maxrel "$W/sc-fact.mp" "$W/sc-fused.mp") |
| PyTorch functorch vmap (compute only) | \`bench/torch_ref.py vmap M fm-train.mp kfac-dense.mp OUT\` | $v_secs | $v_cpu | | same + N·6P (gradients) | **$(ratio "$v_secs" "$f_wall")×** | $(maxrel "$W/sc-fact.mp" "$W/sc-vmap.mp") |
| fastif end to end, factored | \`grad --factored < fm-train.mp \| influence --threads 1 --ihvp kfac-fact.mp\` | $e_wall | $e_cpu | | | $(ratio "$e_wall" "$f_wall")× | |

vmap / factored end to end (examples in, scores out, against vmap's compute alone): **$(ratio "$v_secs" "$e_wall")×**.
With a rank-1 s_test a pair costs 2·(in+1+out) flops per layer instead of 2·out·(in+1), so the
factored scoring is bound by reading the $((fact_bytes >> 20)) MB of gradient records, not by arithmetic.

**It is K-FAC influence, not exact influence.** The four rows agree to float rounding because they
use the same s_test; how that s_test differs from the Hessian's, on the same $TFULL test points:
- against FastIF's LiSSA estimate of (H + shift I)⁻¹v (\`bench/10-influence.sh\`'s s_test, J = 1000,
  B = 1, all $P parameters): median over test points Pearson $l_p, Spearman $l_s of the $N scores;
  top-10 helpful overlap $l_o.
- against the exact Hessian of the last layer (P = 2570, where logits are linear in the weights, so
  H = Gauss-Newton, computed in numpy as (1/N) Σᵢ (diag pᵢ − pᵢpᵢᵀ) ⊗ āᵢāᵢᵀ + l2 on the weights, by
  \`bench/kfac_exact_last.py\`), with the same damping rule: empirical-Fisher K-FAC on that layer
  vs exact: Pearson $x_p, Spearman $x_s, top-10 overlap $x_o; K-FAC with the Gauss-Newton factor
  E[diag p − ppᵀ] in place of E[δδᵀ] vs exact: Pearson $xk_p, Spearman $xk_s, top-10 overlap $xk_o.
  The gap has two sources: the Kronecker factorisation (E[M ⊗ āāᵀ] ≈ E[M] ⊗ E[āāᵀ]) and, with
  gold-label δ, the empirical Fisher in place of the Gauss-Newton matrix.

EOF
