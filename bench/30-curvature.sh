#!/usr/bin/env bash
# bench/30-curvature.sh - curvature from gradient streams: fitting K-FAC,
# EK-FAC and the diagonal Fisher (records/s, peak memory at two N: it must
# not grow with N), ihvp --curvature throughput (test records/s) and
# influence --self, on synthetic factor streams shaped like an mlp
# 784-256-10 (grad --factored of Fashion-MNIST). Run by bench/run (BENCH_W =
# scratch dir); markdown on stdout, progress on stderr. BENCH_QUICK=1 shrinks.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
W=${BENCH_W:?BENCH_W not set}/curvature
mkdir -p "$W"
PY=/usr/bin/python3
if [ "${BENCH_QUICK:-0}" = 1 ]; then NS="2000 8000" NT=100; else NS="15000 60000" NT=1000; fi
log() { echo "bench: $*" >&2; }
timed() { # sets wall, cpu (user + sys, s) and rss (MB)
  /usr/bin/time -f "%e %M %U %S" -o "$W/.time" "$@"
  read -r wall kb us sy < <(tail -n 1 "$W/.time")
  rss=$(awk -v k="$kb" 'BEGIN { printf "%.0f", k / 1024 }')
  cpu=$(awk -v u="$us" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
gen() { # N SEED OUT: factor records of an mlp 784-256-10 (r = 1, with biases)
  $PY - "$1" "$2" "$3" <<'PYEOF'
import sys, numpy as np
sys.path.insert(0, "python")
import fastif_stream as fs
n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(seed)
params = "layers.0.weight,layers.0.bias,layers.1.weight,layers.1.bias"
with open(out, "wb") as f:
    for i in range(n):
        fs.write_record(f, {"id": "g%d" % i, "params": params,
                            "a.layers.0": rng.random(784, dtype=np.float32),
                            "delta.layers.0": rng.standard_normal(256).astype(np.float32) * 0.01,
                            "a.layers.1": np.tanh(rng.standard_normal(256)).astype(np.float32),
                            "delta.layers.1": rng.standard_normal(10).astype(np.float32) * 0.1})
PYEOF
}
echo "## Curvature from gradient streams"
echo
echo "Synthetic \`grad --factored\`-shaped records of an mlp 784-256-10 (r = 1, biases; P = 203,530)."
echo "Machine shared with other jobs (not quiet): wall times vary."
echo
echo "| step | N | wall | rate | peak RSS |"
echo "|---|---|---|---|---|"
for n in $NS; do
  log "curvature: generating $n records"
  gen "$n" 1 "$W/train.$n.g"
  for m in kfac ekfac diag; do
    timed curvature --method "$m" --grads "$W/train.$n.g" -o "$W/$m.$n.curv" 2>/dev/null
    echo "| \`curvature --method $m\` | $n | ${wall} s | $(rate "$n" "$wall") records/s | $rss MB |"
  done
done
n=${NS##* }
gen "$NT" 2 "$W/test.g"
log "ihvp --curvature: the test records also as whole dense \"grad\" records"
$PY - "$W/test.g" "$W/test.dense" <<'PYEOF'
import sys, numpy as np
sys.path.insert(0, "python")
import fastif_stream as fs
with open(sys.argv[2], "wb") as f:
    for r in fs.read_stream(open(sys.argv[1], "rb")):
        parts = []
        for l in ("layers.0", "layers.1"):
            a, d = r["a." + l], r["delta." + l]
            parts += [np.outer(d, a).ravel(), d]
        fs.write_record(f, {"id": r["id"], "grad": np.concatenate(parts).astype(np.float32)})
PYEOF
timed ihvp --curvature "$W/diag.$n.curv" < "$W/test.g" > /dev/null 2>&1
echo "| \`ihvp --curvature\` (diag) | $NT test records | ${wall} s | $(rate "$NT" "$wall") records/s | $rss MB |"
timed ihvp --curvature "$W/kfac.$n.curv" --factored-s < "$W/test.g" > "$W/fs.ihvp" 2>/dev/null
echo "| \`ihvp --curvature --factored-s\` (kfac) | $NT test records | ${wall} s | $(rate "$NT" "$wall") records/s | $rss MB |"
timed influence --self --curvature "$W/ekfac.$n.curv" < "$W/train.$n.g" > "$W/self" 2>/dev/null
echo "| \`influence --self --curvature\` (ekfac) | $n | ${wall} s | $(rate "$n" "$wall") records/s | $rss MB |"
echo
echo "Peak memory of \`curvature\` is the factors (A 785², G 256², their eigenvectors) and"
echo "the row buffers, the same at both N."
echo
echo "\`ihvp --curvature\` with a dense s [P] out (800 KB a record, here to /dev/null): the same"
echo "$NT test records as factor records (rotated as their rows, Q_Gᵀ δ āᵀ Q_A = (δᵀQ_G)ᵀ(āᵀQ_A),"
echo "r (in² + out²) per record; only the rotation back, Q_G M Q_Aᵀ, is dense) and as whole dense"
echo "\`grad\` records (rotated both ways: twice the GEMM work). Every rotation is one GEMM over"
echo "the group of 32. Each run twice, alternating; the faster of the two (wall, and its CPU"
echo "time = user + sys, which the other jobs on the machine disturb less)."
echo
echo "| curvature | dense \`grad\` records: wall, CPU | records/s | factor records: wall, CPU | records/s | CPU ratio |"
echo "|---|---|---|---|---|---|"
faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b == "" || a < b) }'; } # WALL BEST
for m in kfac ekfac; do
  dw= fw=
  for rep in 1 2; do # alternating, so both forms see the same load
    timed ihvp --curvature "$W/$m.$n.curv" < "$W/test.dense" > /dev/null 2>&1
    if faster "$wall" "$dw"; then dw=$wall dc=$cpu; fi
    timed ihvp --curvature "$W/$m.$n.curv" < "$W/test.g" > /dev/null 2>&1
    if faster "$wall" "$fw"; then fw=$wall fc=$cpu; fi
  done
  echo "| $m | ${dw} s, ${dc} s | $(rate "$NT" "$dw") | ${fw} s, ${fc} s | $(rate "$NT" "$fw") | $(awk -v a="$dc" -v b="$fc" 'BEGIN { printf "%.2f", a / b }') |"
done
echo
echo "Commands: bench/30-curvature.sh."
echo
rm -f "$W"/*.g "$W"/*.ihvp "$W"/test.dense
