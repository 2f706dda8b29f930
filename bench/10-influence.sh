#!/usr/bin/env bash
# bench/10-influence.sh - full influence against PyTorch, the sgemm ceiling,
# FastIF (kNN + LiSSA) against full, record sizes, peak memory, 1 -> 2 cores.
# Run by bench/run (BENCH_W = scratch dir); writes markdown on stdout and
# progress on stderr. BENCH_QUICK=1 shrinks every size (a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
W=${BENCH_W:?BENCH_W not set}/influence
mkdir -p "$W"
PY=/usr/bin/python3
REF=bench/torch_ref.py
FM=/usr/share/datasets/fashion-mnist
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  NFM=6000 TFULL=20 NLOOP=500 TLOOP=4 NTX=4000 EPOCHS_FM=1 TFAST=4 K=200
else
  NFM=60000 TFULL=100 NLOOP=10000 TLOOP=10 NTX=4000 EPOCHS_FM=1 TFAST=10 K=1000
fi
log() { echo "bench: $*" >&2; }
# timed CMD... : runs CMD under GNU time; sets wall, cpu (user+sys), rss (MB)
timed() {
  /usr/bin/time -f "%e %U %S %M" -o "$W/.time" "$@"
  read -r wall u s kb < <(tail -n 1 "$W/.time")
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
  rss=$(awk -v k="$kb" 'BEGIN { printf "%.0f", k / 1024 }')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
sgemm_rate() { "$W/sgemm" "$@" | awk '{ print $2 }'; }
# maxrel A B : max over test points of max|a-b| / max|a|, for two scores streams
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

cc -O2 -Wall -Wextra -Werror -I/usr/include/openblas bench/sgemm.c -o "$W/sgemm" -lopenblas

# ---- data and models -------------------------------------------------
log "importing Fashion-MNIST and the fine-food reviews"
import-idx --fashion --limit "$NFM" --images $FM/train-images-idx3-ubyte.gz \
  --labels $FM/train-labels-idx1-ubyte.gz --prefix tr- > "$W/fm-train.mp" 2>/dev/null
import-idx --fashion --images $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz \
  --prefix te- > "$W/fm-test.mp" 2>/dev/null
xz -dc examples/data/fine-foods.csv.xz > "$W/ff.csv"
import-text --text review --label score --classes great,other --group product --where split=train \
  "$W/ff.csv" > "$W/tx-train.mp" 2>/dev/null
import-text --text review --label score --classes great,other --group product --where split=test \
  "$W/ff.csv" > "$W/tx-test.mp" 2>/dev/null
FM_ARCH=mlp:256 TX_ARCH=bow:65536,64,64
log "training $FM_ARCH on $NFM images, $TX_ARCH on $NTX reviews"
timed train --arch $FM_ARCH --epochs $EPOCHS_FM -o "$W/fm.model" < "$W/fm-train.mp" 2>/dev/null
fm_train_wall=$wall fm_train_rss=$rss
timed train --arch $TX_ARCH --epochs 5 -o "$W/tx.model" < "$W/tx-train.mp" 2>/dev/null
tx_train_wall=$wall tx_train_rss=$rss
fm_acc=$(bin/eval --model "$W/fm.model" < "$W/fm-test.mp" 2>&1 >/dev/null | sed -n 's/.*accuracy \([0-9.]*\).*/\1/p' | head -n 1)
tx_acc=$(bin/eval --model "$W/tx.model" < "$W/tx-test.mp" 2>&1 >/dev/null | sed -n 's/.*accuracy \([0-9.]*\).*/\1/p' | head -n 1)
pcount() { # P of the default selection
  $PY - "$1" <<'EOF'
import sys, msgpack, numpy as np
m = msgpack.unpack(open(sys.argv[1], "rb"), raw=False)
print(sum(int(np.prod(t["shape"])) for k, t in m["params"].items() if k != "embedding.weight"))
EOF
}
P_FM=$(pcount "$W/fm.model") P_TX=$(pcount "$W/tx.model")

# s_test for the first TFULL test points of each (LiSSA, FastIF's fast setting)
for d in fm tx; do
  pick --head "$TFULL" "$W/$d-test.mp" > "$W/$d-query.mp" 2>/dev/null
  log "$d: ihvp (LiSSA J=1000 B=1) for $TFULL test points"
  timed bash -c "grad --model $W/$d.model < $W/$d-query.mp 2>/dev/null |
    ihvp --model $W/$d.model --train $W/$d-train.mp --method lissa --depth 1000 --batch 1 > $W/$d-ihvp.mp 2>/dev/null"
  eval "${d}_ihvp_wall=$wall"
  pick --head "$TLOOP" "$W/$d-ihvp.mp" > "$W/$d-ihvp-loop.mp" 2>/dev/null
done
pick --head "$NLOOP" "$W/fm-train.mp" > "$W/fm-train-loop.mp" 2>/dev/null
# torch reads x; for bow it reads the mean embedding bag, a.layers.0 of grad --factored
grad --model "$W/tx.model" --factored < "$W/tx-train.mp" > "$W/tx-train-torch.mp" 2>/dev/null
cp "$W/tx-train.mp" "$W/tx-train-loop.mp"
ln -sf fm-train.mp "$W/fm-train-torch.mp"
ln -sf fm-train-loop.mp "$W/fm-train-loop-torch.mp"
cp "$W/tx-train-torch.mp" "$W/tx-train-loop-torch.mp"

cat <<EOF
## Full influence: fastif against PyTorch

Scores of every training point on every test point, \`-∇L(z_i)·s_test\`,
over all dense-layer parameters, with the same model, data and s_test
vectors. fastif and PyTorch $($PY -c 'import torch; print(torch.__version__)') both on **one thread**
(\`influence --threads 1\`, \`torch.set_num_threads(1)\`), run one after the
other. fastif times are whole-process wall times (reading the model, the
data and writing the scores included); PyTorch times are its compute loop
only (loading the data in Python excluded), so the ratios favour PyTorch.
The machine is shared with other jobs while this runs, so wall times are noisy;
the CPU-time ratio (user+sys) is the steadier one.
The PyTorch model is built from the fastif model file (msgpack + numpy →
\`torch.nn.Linear\` weights, bench/torch_ref.py).

- Fashion-MNIST: \`$FM_ARCH\` (784-256-10, tanh), P = $P_FM, trained $EPOCHS_FM epoch on $NFM images (test accuracy $fm_acc).
- Text: \`$TX_ARCH\` (hashed uni+bigrams → 64-d mean bag → 64 tanh → 2), P = $P_TX over the dense layers (the embedding table left out, the default), trained 5 epochs on $NTX reviews (test accuracy $tx_acc).
- s_test: \`grad | ihvp --method lissa --depth 1000 --batch 1\` for the first $TFULL test points (${fm_ihvp_wall} s for Fashion-MNIST, ${tx_ihvp_wall} s for text, 2 threads).
- loop = FastIF's reference code (\`compute_influences\`): per test point, per training point one autograd backward and a dot. loop-once computes each training gradient once for all test points. vmap = \`functorch.vmap(grad(loss))\` over chunks of 256, then one GEMM with the ihvp matrix.

| model | work T × N | implementation | wall s | CPU s | PyTorch / fastif: wall (CPU) | max rel. diff to fastif |
|---|---|---|---|---|---|---|
EOF

for d in fm tx; do
  if [ $d = fm ]; then N=$NFM NL=$NLOOP name="Fashion-MNIST mlp"; else N=$NTX NL=$NTX name="text bow"; fi
  M=$W/$d.model
  log "$d: fastif fused, $TFULL x $N"
  timed influence --threads 1 --ihvp "$W/$d-ihvp.mp" --model "$M" --train "$W/$d-train.mp" \
    > "$W/$d-fused.mp" 2>/dev/null
  f_wall=$wall f_cpu=$cpu
  echo "| $name | $TFULL × $N | fastif \`influence --model --train\` (fused) | $wall | $cpu | | |"
  log "$d: fastif grad --factored | influence, $TFULL x $N"
  timed bash -c "OPENBLAS_NUM_THREADS=1 grad --model $M --factored < $W/$d-train.mp 2>/dev/null |
    influence --threads 1 --ihvp $W/$d-ihvp.mp --model $M > $W/$d-factored.mp 2>/dev/null"
  echo "| $name | $TFULL × $N | fastif \`grad --factored \| influence --model\` | $wall | $cpu | | $(maxrel "$W/$d-fused.mp" "$W/$d-factored.mp") |"
  log "$d: torch vmap, $TFULL x $N"
  read -r _ secs _ tcpu < <(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY $REF vmap "$M" "$W/$d-train-torch.mp" "$W/$d-ihvp.mp" "$W/$d-vmap.mp")
  echo "| $name | $TFULL × $N | PyTorch functorch vmap | $secs | $tcpu | **$(ratio "$secs" "$f_wall")×** ($(ratio "$tcpu" "$f_cpu")×) | $(maxrel "$W/$d-fused.mp" "$W/$d-vmap.mp") |"
  # the loops, on a smaller identical piece of work
  timed influence --threads 1 --ihvp "$W/$d-ihvp-loop.mp" --model "$M" --train "$W/$d-train-loop.mp" \
    > "$W/$d-fused-loop.mp" 2>/dev/null
  fl_wall=$wall fl_cpu=$cpu
  echo "| $name | $TLOOP × $NL | fastif \`influence --model --train\` (fused) | $wall | $cpu | | |"
  log "$d: torch loop-once, $TLOOP x $NL"
  read -r _ secs _ tcpu < <(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY $REF loop-once "$M" "$W/$d-train-loop-torch.mp" "$W/$d-ihvp-loop.mp" "$W/$d-loop1.mp")
  echo "| $name | $TLOOP × $NL | PyTorch per-example loop, gradient once per training point | $secs | $tcpu | **$(ratio "$secs" "$fl_wall")×** ($(ratio "$tcpu" "$fl_cpu")×) | $(maxrel "$W/$d-fused-loop.mp" "$W/$d-loop1.mp") |"
  log "$d: torch loop (FastIF reference), $TLOOP x $NL"
  read -r _ secs _ tcpu < <(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY $REF loop "$M" "$W/$d-train-loop-torch.mp" "$W/$d-ihvp-loop.mp" "$W/$d-loop.mp")
  echo "| $name | $TLOOP × $NL | PyTorch per-example loop as FastIF's reference code | $secs | $tcpu | **$(ratio "$secs" "$fl_wall")×** ($(ratio "$tcpu" "$fl_cpu")×) | $(maxrel "$W/$d-fused-loop.mp" "$W/$d-loop.mp") |"
done
echo
echo "Max rel. diff = max over test points of max_i |s_fastif − s_other| / max_i |s_fastif|."
echo

# ---- the sgemm ceiling -----------------------------------------------
log "sgemm ceiling and 1 -> 2 threads"
g1=$(sgemm_rate 1) g2=$(sgemm_rate 2)
gs1=$(sgemm_rate 1 256 16384 784) gs2=$(sgemm_rate 2 256 16384 784)
FLOP=$(awk -v n="$NFM" -v t="$TFULL" -v p="$P_FM" 'BEGIN { printf "%.4g", n * 6 * p + 2 * t * n * p }')
timed influence --threads 1 --ihvp "$W/fm-ihvp.mp" --model "$W/fm.model" --train "$W/fm-train.mp" > /dev/null 2>&1
i1_wall=$wall i1_cpu=$cpu
g1b=$(sgemm_rate 1)
timed influence --threads 2 --ihvp "$W/fm-ihvp.mp" --model "$W/fm.model" --train "$W/fm-train.mp" > /dev/null 2>&1
i2_wall=$wall i2_cpu=$cpu
g2b=$(sgemm_rate 2)
rate() { awk -v f="$FLOP" -v s="$1" 'BEGIN { printf "%.1f", f / s / 1e9 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
best1=$(awk -v a="$g1" -v b="$g1b" 'BEGIN { print (a > b) ? a : b }')
best2=$(awk -v a="$g2" -v b="$g2b" 'BEGIN { print (a > b) ? a : b }')
cat <<EOF
## Influence path against the sgemm ceiling (Fashion-MNIST, $TFULL × $NFM)

Flops counted analytically (formats/DESIGN.md): N·6P + 2·T·N·P = $NFM·6·$P_FM + 2·$TFULL·$NFM·$P_FM = $FLOP.
sgemm measured here by bench/sgemm.c (OpenBLAS, C = A Bᵀ, best of 5
rounds), before and after the influence runs; the better of the two is the
ceiling. The machine is shared with other jobs, so the CPU-time rate
(flops / (user+sys) seconds) is the steadier measure for one thread.

| threads | sgemm 2048³ GFLOP/s (before, after) | sgemm 256×16384×784 GFLOP/s | \`influence\` wall s | GFLOP/s (wall) | of ceiling | CPU s | GFLOP/s per CPU-second |
|---|---|---|---|---|---|---|---|
| 1 | $g1, $g1b | $gs1 | $i1_wall | $(rate "$i1_wall") | **$(pct "$(rate "$i1_wall")" "$best1")** | $i1_cpu | $(rate "$i1_cpu") |
| 2 | $g2, $g2b | $gs2 | $i2_wall | $(rate "$i2_wall") | **$(pct "$(rate "$i2_wall")" "$best2")** | $i2_cpu | $(rate "$i2_cpu") |

1 → 2 threads: influence $(ratio "$i1_wall" "$i2_wall")× faster (sgemm 2048³: $(ratio "$best2" "$best1")×).
\`influence --threads N\` sets OpenBLAS's pool (all its work is BLAS calls from one thread, so there is
one pool and nothing to fight); \`ihvp --threads N>1\` runs its own threads over repeats/vectors and sets
OpenBLAS to 1; \`knn-select --threads N\` gives FAISS's OpenMP N threads and OpenBLAS 1.

EOF

# ---- FastIF against full ---------------------------------------------
log "FastIF (kNN k=$K + LiSSA) against full, $TFAST test points"
M=$W/fm.model
pick --head "$TFAST" "$W/fm-query.mp" > "$W/q.mp" 2>/dev/null
timed bash -c "grad --model $M < $W/q.mp 2>/dev/null | ihvp --model $M --train $W/fm-train.mp --method lissa --depth 1000 --batch 1 > $W/q-ihvp.mp 2>/dev/null"
t_ihvp=$wall
timed influence --ihvp "$W/q-ihvp.mp" --model "$M" --train "$W/fm-train.mp" > "$W/q-full.mp" 2>/dev/null
t_full=$wall
timed bash -c "embed --model $M < $W/fm-train.mp 2>/dev/null | knn-select --build $W/fm.index 2>/dev/null"
t_build=$wall
timed bash -c "embed --model $M < $W/q.mp 2>/dev/null | knn-select --index $W/fm.index -k $K > $W/q-cand.mp 2>/dev/null"
t_knn=$wall
timed influence --ihvp "$W/q-ihvp.mp" --model "$M" --train "$W/fm-train.mp" --candidates "$W/q-cand.mp" \
  > "$W/q-fast.mp" 2>/dev/null
t_cand=$wall
recall=$($PY - "$W/q-full.mp" "$W/q-fast.mp" <<'EOF'
import sys, msgpack, numpy as np
def load(p):
    with open(p, "rb") as f:
        return {r["id"]: (r["ids"], np.frombuffer(r["scores"]["data"], "<f4"))
                for r in msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31)}
full, fast = load(sys.argv[1]), load(sys.argv[2])
hit = tot = 0
agree = 0.0
for k, (ids, s) in full.items():
    cids, cs = fast[k]
    pos = {i: j for j, i in enumerate(ids)}
    agree = max(agree, max(abs(float(cs[j]) - float(s[pos[c]])) for j, c in enumerate(cids)) / np.abs(s).max())
    order = np.argsort(s)
    top = set(ids[j] for j in order[:10]) | set(ids[j] for j in order[-10:])
    hit += len(top & set(cids)); tot += len(top)
print(f"{hit}/{tot} {agree:.1e}")
EOF
)
fastif_tot=$(awk -v a="$t_knn" -v b="$t_cand" 'BEGIN { print a + b }')
cat <<EOF
## FastIF (kNN k=$K, LiSSA B=1, J=1000) against full (Fashion-MNIST, $TFAST test points, N = $NFM)

Both use the same s_test (\`ihvp --method lissa --depth 1000 --batch 1\`, $t_ihvp s); full scores all $NFM training
points, FastIF only each test point's $K nearest neighbours in the embedding space
(\`knn-select\`, exact \`IndexFlatL2\`). The index is built once per model.

| stage | full | FastIF |
|---|---|---|
| build the kNN index (\`embed \| knn-select --build\`, once per model) | | $t_build s |
| kNN candidates (\`embed \| knn-select -k $K\`) | | $t_knn s |
| s_test (LiSSA J=1000, B=1) | $t_ihvp s | $t_ihvp s |
| influence | $t_full s (\`--train\`) | $t_cand s (\`--candidates\`) |
| **influence stage speed-up** | | **$(ratio "$t_full" "$fastif_tot")×** (candidates + scoring vs full scoring) |
| end to end (index excluded) | $(awk -v a="$t_ihvp" -v b="$t_full" 'BEGIN { print a + b }') s | $(awk -v a="$t_ihvp" -v b="$fastif_tot" 'BEGIN { print a + b }') s |

Of the full run's top-10 helpful and top-10 harmful training points per test point, ${recall% *} are
among the kNN candidates; the candidates' scores equal the full run's (max rel. diff ${recall#* }).
With a model this small the per-example gradients are cheap, so LiSSA dominates both columns; the
kNN saving grows with the cost of a training gradient (FastIF's BERT) and with N.

EOF

# ---- record sizes ----------------------------------------------------
log "gradient record sizes"
cat <<EOF
## Bytes per gradient record, dense against factored

\`grad\` over the first 1000 training examples, file size / 1000 (msgpack framing and ids included).

| model | P | dense \`grad\` bytes/record | \`grad --factored\` bytes/record | dense / factored |
|---|---|---|---|---|
EOF
for d in fm tx; do
  pick --head 1000 "$W/$d-train.mp" > "$W/$d-1k.mp" 2>/dev/null
  dn=$(grad --model "$W/$d.model" < "$W/$d-1k.mp" 2>/dev/null | wc -c)
  fc=$(grad --model "$W/$d.model" --factored < "$W/$d-1k.mp" 2>/dev/null | wc -c)
  p=$([ $d = fm ] && echo "$P_FM" || echo "$P_TX")
  echo "| $([ $d = fm ] && echo "Fashion-MNIST $FM_ARCH" || echo "text $TX_ARCH") | $p | $((dn / 1000)) | $((fc / 1000)) | **$(ratio "$dn" "$fc")×** |"
done
echo

# ---- peak memory -----------------------------------------------------
log "peak memory by stage and N"
cat <<EOF
## Peak memory of each stage (Fashion-MNIST, GNU time maximum RSS, MB)

$TFAST ihvp vectors; the training set truncated to N. \`grad\`, \`grad --factored\` and the
streaming \`influence\` (reading gradient records) hold one batch at a time, plus, for
\`influence\`, the N × T scores it must write; \`influence --train\`, \`ihvp\` and
\`embed | knn-select --build\` hold the training set (or its embeddings) in memory.

| stage | $(for f in 4 2 1; do printf 'N = %s | ' $((NFM / f)); done)
|---|---|---|---|
EOF
declare -A MEM
stages=(grad-dense grad-factored influence-stream influence-fused ihvp knn-build)
for f in 4 2 1; do
  n=$((NFM / f))
  pick --head $n "$W/fm-train.mp" > "$W/mtr.mp" 2>/dev/null
  timed bash -c "grad --model $M < $W/mtr.mp > /dev/null 2>&1"; MEM[grad-dense,$f]=$rss
  timed bash -c "grad --model $M --factored < $W/mtr.mp > $W/mtr-f.mp 2>/dev/null"; MEM[grad-factored,$f]=$rss
  timed bash -c "influence --ihvp $W/q-ihvp.mp --model $M < $W/mtr-f.mp > /dev/null 2>&1"; MEM[influence-stream,$f]=$rss
  timed bash -c "influence --ihvp $W/q-ihvp.mp --model $M --train $W/mtr.mp > /dev/null 2>&1"; MEM[influence-fused,$f]=$rss
  timed bash -c "pick --head 2 $W/q.mp 2>/dev/null | ihvp --model $M --train $W/mtr.mp --method lissa --depth 200 > /dev/null 2>&1"; MEM[ihvp,$f]=$rss
  timed bash -c "embed --model $M < $W/mtr.mp 2>/dev/null | knn-select --build $W/m.index > /dev/null 2>&1"; MEM[knn-build,$f]=$rss
done
declare -A names
names=([grad-dense]="\`grad\` (dense, streaming)" [grad-factored]="\`grad --factored\` (streaming)"
       [influence-stream]="\`influence --model < factored\` (streaming)" [influence-fused]="\`influence --model --train\` (fused)"
       [ihvp]="\`ihvp\` (LiSSA)" [knn-build]="\`knn-select --build\` (with \`embed\`)")
for s in "${stages[@]}"; do
  echo "| ${names[$s]} | ${MEM[$s,4]} | ${MEM[$s,2]} | ${MEM[$s,1]} |"
done
echo
echo "(GNU time reports the largest process of a pipeline; its own RSS is ~2 MB.)"
echo
