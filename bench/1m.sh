#!/usr/bin/env bash
# bench/1m.sh - a million training examples (make bench-1m): generated
# Fashion-MNIST (bench/fashion_augment.py), indexed (stream-index), through
# grad | ihvp, embed | knn-select (Flat and IVF) and influence (fused, full
# and FastIF's candidates); peak RSS at three N, through the stream index
# and reading the stream whole, recall of IVF against Flat, FastIF against
# full. Run by bench/run (BENCH_W = scratch dir); markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
W=${BENCH_W:?BENCH_W not set}/1m
mkdir -p "$W"
PY=/usr/bin/python3
FM=/usr/share/datasets/fashion-mnist
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  NS="6000 25000 100000" K=100 NLIST=64 TQ=4
else
  NS="60000 250000 1000000" K=1000 NLIST=1024 TQ=10
fi
NMAX=${NS##* } N0=${NS%% *}
log() { echo "bench: 1m: $*" >&2; }
# timed CMD... : GNU time; sets wall, cpu (user+sys), rss (MB)
timed() {
  /usr/bin/time -f "%e %U %S %M" -o "$W/.time" "$@"
  read -r wall u s kb < <(tail -n 1 "$W/.time")
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.1f", u + s }')
  rss=$(awk -v k="$kb" 'BEGIN { printf "%.0f", k / 1024 }')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }

load0=$(cut -d" " -f1 /proc/loadavg)  # how busy the machine was, printed at the end
# ---- data, model, test gradients ---------------------------------------
if [ ! -s "$W/fm-$NMAX.mp" ]; then
  log "generating $NMAX examples"
  timed bash -c "$PY bench/fashion_augment.py $NMAX 1 > $W/fm-$NMAX.mp.tmp"
  mv "$W/fm-$NMAX.mp.tmp" "$W/fm-$NMAX.mp"
  gen="$wall s"
else
  gen="(kept from an earlier run in BENCH_DIR)"
fi
for n in $NS; do
  [ "$n" = "$NMAX" ] || [ -s "$W/fm-$n.mp" ] || pick --head "$n" "$W/fm-$NMAX.mp" > "$W/fm-$n.mp" 2>/dev/null
done
gbytes=$(stat -c %s "$W/fm-$NMAX.mp" | awk '{ printf "%.2f", $1 / 1e9 }')
for n in $NS; do # the index of each stream, once per data set (rebuilt: kept files may have changed)
  log "stream-index, N = $n"
  timed stream-index "$W/fm-$n.mp" 2>/dev/null
done
t_sidx=$wall r_sidx=$rss sidx_mb=$(stat -c %s "$W/fm-$NMAX.mp.sidx" | awk '{ printf "%.0f", $1 / 1e6 }')
log "training mlp:256 on the first $N0"
train --arch mlp:256 --epochs 1 -o "$W/m" < "$W/fm-$N0.mp" 2>/dev/null
import-idx --limit "$TQ" --images $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz \
  --prefix te- > "$W/q.mp" 2>/dev/null
grad --model "$W/m" < "$W/q.mp" > "$W/qg.mp" 2>/dev/null
LISSA="--method lissa --depth 1000 --batch 1"

# ---- peak memory against N --------------------------------------------
declare -A R T
for n in $NS; do
  log "ihvp (LiSSA B=1 J=1000), N = $n, through the stream index and reading the stream whole"
  timed ihvp --model "$W/m" --train "$W/fm-$n.mp" $LISSA < "$W/qg.mp" > "$W/s-$n.mp" 2>/dev/null
  R[ihvp,$n]=$rss T[ihvp,$n]=$wall
  timed ihvp --model "$W/m" --train "$W/fm-$n.mp" $LISSA --train-index none < "$W/qg.mp" > "$W/s-$n.whole" 2>/dev/null
  R[ihvpw,$n]=$rss T[ihvpw,$n]=$wall
  cmp -s "$W/s-$n.mp" "$W/s-$n.whole" || { log "ihvp through the index differs from the whole read at N = $n"; exit 1; }
done
for n in $NS; do
  log "fused influence over all of train, N = $n"
  timed influence --ihvp "$W/s-$NMAX.mp" --model "$W/m" --train "$W/fm-$n.mp" > "$W/full-$n.mp" 2>"$W/full-$n.log"
  R[inf,$n]=$rss T[inf,$n]=$wall
  timed influence --ihvp "$W/s-$NMAX.mp" --model "$W/m" --train "$W/fm-$n.mp" --train-index none \
    > "$W/full-$n.whole" 2>"$W/full-$n.whole.log"
  R[infw,$n]=$rss T[infw,$n]=$wall
  cmp -s "$W/full-$n.mp" "$W/full-$n.whole" || { log "fused influence through the index differs at N = $n"; exit 1; }
done
full_log=$(grep 'times:' "$W/full-$NMAX.log" | sed 's/^influence: times: //')
full_log_w=$(grep 'times:' "$W/full-$NMAX.whole.log" | sed 's/^influence: times: //')
for n in ${NS% *}; do # the in-memory path beside it (fused: at the smallest N only, for time)
  log "in memory, N = $n"
  timed ihvp --model "$W/m" --train "$W/fm-$n.mp" $LISSA --train-index none --train-rows memory < "$W/qg.mp" > /dev/null 2>&1
  R[ihvpm,$n]=$rss
  R[infm,$n]="(not run)"
done
timed influence --ihvp "$W/s-$NMAX.mp" --model "$W/m" --train "$W/fm-$N0.mp" --train-index none --train-rows memory > /dev/null 2>&1
R[infm,$N0]=$rss

# ---- kNN: Flat against IVF ---------------------------------------------
log "embed $NMAX"
timed bash -c "embed --model $W/m < $W/fm-$NMAX.mp > $W/emb.mp 2>/dev/null"; t_embed=$wall
embed --model "$W/m" < "$W/q.mp" > "$W/qemb.mp" 2>/dev/null
timed bash -c "embed --model $W/m < $W/q.mp 2>/dev/null | cat > /dev/null"; t_qembed=$wall
log "knn-select --build Flat"
timed knn-select --build "$W/flat.idx" < "$W/emb.mp" 2>/dev/null; t_bflat=$wall r_bflat=$rss
log "knn-select --build IVF$NLIST,Flat"
timed knn-select --build "$W/ivf.idx" --index-spec "IVF$NLIST,Flat" --threads 0 < "$W/emb.mp" 2>/dev/null
t_bivf=$wall r_bivf=$rss
timed knn-select --index "$W/flat.idx" -k "$K" < "$W/qemb.mp" > "$W/cand-flat.mp" 2>/dev/null; t_qflat=$wall
declare -A QT RC
PROBES=$(printf "%s\n" 1 16 64 "$NLIST" | sort -nu | tr "\n" " ")
for np in $PROBES; do
  timed knn-select --index "$W/ivf.idx" -k "$K" --nprobe "$np" < "$W/qemb.mp" > "$W/cand-ivf$np.mp" 2>/dev/null
  QT[$np]=$wall
  RC[$np]=$($PY - "$W/cand-flat.mp" "$W/cand-ivf$np.mp" "$K" <<'EOF'
import sys, msgpack
rd = lambda p: {r["id"]: r["ids"] for r in msgpack.Unpacker(open(p, "rb"), raw=False)}
a, b, k = rd(sys.argv[1]), rd(sys.argv[2]), int(sys.argv[3])
print("%.3f" % (sum(len(set(a[q]) & set(b.get(q, []))) for q in a) / (k * len(a))))
EOF
)
done

# ---- FastIF against full ------------------------------------------------
NPF=16
log "FastIF: influence --candidates (IVF nprobe $NPF, and Flat)"
timed influence --ihvp "$W/s-$NMAX.mp" --model "$W/m" --train "$W/fm-$NMAX.mp" --candidates "$W/cand-ivf$NPF.mp" \
  > "$W/fast-ivf.mp" 2>"$W/fast.log"; t_civf=$wall r_civf=$rss
timed influence --ihvp "$W/s-$NMAX.mp" --model "$W/m" --train "$W/fm-$NMAX.mp" --candidates "$W/cand-flat.mp" \
  > "$W/fast-flat.mp" 2>/dev/null; t_cflat=$wall
timed influence --ihvp "$W/s-$NMAX.mp" --model "$W/m" --train "$W/fm-$NMAX.mp" --candidates "$W/cand-ivf$NPF.mp" \
  --train-index none > "$W/fast-ivf.whole" 2>/dev/null; t_civfw=$wall r_civfw=$rss
cmp -s "$W/fast-ivf.mp" "$W/fast-ivf.whole" || { log "candidates through the index differ"; exit 1; }
hits=$($PY - "$W/full-$NMAX.mp" "$W/fast-ivf.mp" "$W/fast-flat.mp" <<'EOF'
import sys, msgpack, numpy as np
def load(p):
    with open(p, "rb") as f:
        return {r["id"]: (r["ids"], np.frombuffer(r["scores"]["data"], "<f4"))
                for r in msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31)}
full = load(sys.argv[1])
out = []
for p in sys.argv[2:]:
    fast = load(p)
    hit = tot = 0
    agree = 0.0
    for k, (ids, s) in full.items():
        cids, cs = fast[k]
        pos = {i: j for j, i in enumerate(ids)}
        agree = max(agree, max(abs(float(cs[j]) - float(s[pos[c]])) for j, c in enumerate(cids)) / np.abs(s).max())
        order = np.argsort(s)
        top = set(ids[j] for j in order[:10]) | set(ids[j] for j in order[-10:])
        hit += len(top & set(cids)); tot += len(top)
    out.append(f"{hit}/{tot} {agree:.1e}")
print(";".join(out))
EOF
)
hit_ivf=${hits%;*} hit_flat=${hits#*;}
fast_ivf=$(add "$t_qembed" "$(add "${QT[$NPF]}" "$t_civf")")
fast_flat=$(add "$t_qembed" "$(add "$t_qflat" "$t_cflat")")
fast_ivfw=$(add "$t_qembed" "$(add "${QT[$NPF]}" "$t_civfw")")
t_s=${T[ihvp,$NMAX]} t_sw=${T[ihvpw,$NMAX]}

cat <<EOF
## A million training examples (Fashion-MNIST, generated; mlp 784-256-10)

\`bench/fashion_augment.py $NMAX 1\` ($gen, ${gbytes} GB of examples): image i mod 60000
of Debian's Fashion-MNIST, every copy after the first shifted by a seeded −2..2
pixels with Gaussian noise σ 0.05. The model is \`train --arch mlp:256 --epochs 1\`
on the first $N0 (the original images); $TQ test points (t10k), their gradients by \`grad\`.
Each stream indexed once: \`stream-index fm-N.mp\` ($t_sidx s and $r_sidx MB at N = $NMAX; the
index is $sidx_mb MB), so the tools' default (\`--train-index auto\`) reads only the rows they use;
every figure is beside \`--train-index none\` (the whole stream read), whose records are the same
bytes (the bench checks). s_test: \`ihvp --model M --train fm-N.mp $LISSA\` (LiSSA, FastIF's fast setting,
\`--scale auto\`). The load average at the end of this section says how busy the machine
was; ratios within this table are the measure.

### Peak memory (GNU time maximum RSS, MB) against N

| stage | $(for n in $NS; do printf 'N = %s | ' "$n"; done)
|---|---|---|---|
| \`ihvp --train\` (through the stream index, the default) | $(for n in $NS; do printf '%s | ' "${R[ihvp,$n]}"; done)
| \`ihvp --train --train-index none\` (rows in a temp file) | $(for n in $NS; do printf '%s | ' "${R[ihvpw,$n]}"; done)
| \`ihvp --train --train-index none --train-rows memory\` | $(for n in ${NS% *}; do printf '%s | ' "${R[ihvpm,$n]}"; done) (not run) |
| \`influence --model --train\` (fused, all N; through the index, the default) | $(for n in $NS; do printf '%s | ' "${R[inf,$n]}"; done)
| \`influence --model --train --train-index none\` (rows in a temp file) | $(for n in $NS; do printf '%s | ' "${R[infw,$n]}"; done)
| \`influence --model --train --train-index none --train-rows memory\` | $(for n in ${NS% *}; do printf '%s | ' "${R[infm,$n]}"; done) (not run) |
| \`influence --candidates\` (K = $K per test point; index / whole) | | | $r_civf / $r_civfw |
| \`knn-select --build\` Flat / IVF$NLIST,Flat (holds the embeddings) | | | $r_bflat / $r_bivf |

Wall s (N as above), through the index / whole: ihvp $(for n in $NS; do printf '%s/%s ' "${T[ihvp,$n]}" "${T[ihvpw,$n]}"; done)· fused
influence $(for n in $NS; do printf '%s/%s ' "${T[inf,$n]}" "${T[infw,$n]}"; done).
What still grows with N in the default path: the index in memory (offset, CRC-32,
label and id of each example, formats/stream-index.md), and fused influence's answer
itself (T × N scores, written as T records); the N × 784 floats stay in the stream
file, in the page cache (formats/DESIGN.md, "Training sets of any size"). The fused
run at N = $NMAX through the index: $full_log; reading the stream whole: $full_log_w.

### kNN over $NMAX embeddings (256-d): Flat against IVF$NLIST,Flat

| index | build s | query s ($TQ queries, k = $K) | recall@$K against Flat |
|---|---|---|---|
| \`Flat\` (exact) | $t_bflat | $t_qflat | 1 |
$(for np in $PROBES; do echo "| \`IVF$NLIST,Flat\` \`--nprobe $np\` | $t_bivf | ${QT[$np]} | ${RC[$np]} |"; done)

Build: \`embed --model M < fm-$NMAX.mp > emb.mp\` ($t_embed s), then \`knn-select --build IDX
[--index-spec IVF$NLIST,Flat --threads 0] < emb.mp\`; query: \`knn-select --index IDX -k $K
[--nprobe N] < query-emb.mp\` (one thread). Query times include loading the index.

### FastIF (K = $K, LiSSA B = 1, J = 1000) against full influence over all $NMAX

| stage | full | FastIF, IVF (nprobe $NPF) | FastIF, Flat | FastIF, IVF, stream read whole (\`--train-index none\`) |
|---|---|---|---|---|
| s_test (\`ihvp\`, the same records for all) | $t_s | $t_s | $t_s | $t_sw |
| candidates (\`embed\` the queries, \`knn-select -k $K\`) | | $(add "$t_qembed" "${QT[$NPF]}") | $(add "$t_qembed" "$t_qflat") | $(add "$t_qembed" "${QT[$NPF]}") |
| influence (\`--train\` / \`--candidates\`) | ${T[inf,$NMAX]} | $t_civf | $t_cflat | $t_civfw |
| **influence stage speed-up** | | **$(ratio "${T[inf,$NMAX]}" "$fast_ivf")×** | **$(ratio "${T[inf,$NMAX]}" "$fast_flat")×** | **$(ratio "${T[inf,$NMAX]}" "$fast_ivfw")×** |
| end to end (kNN and stream indexes built once, excluded) | $(add "$t_s" "${T[inf,$NMAX]}") | $(add "$t_s" "$fast_ivf") (**$(ratio "$(add "$t_s" "${T[inf,$NMAX]}")" "$(add "$t_s" "$fast_ivf")")×**) | $(add "$t_s" "$fast_flat") (**$(ratio "$(add "$t_s" "${T[inf,$NMAX]}")" "$(add "$t_s" "$fast_flat")")×**) | $(add "$t_sw" "$fast_ivfw") (**$(ratio "$(add "$t_s" "${T[inf,$NMAX]}")" "$(add "$t_sw" "$fast_ivfw")")×**) |

Of the full run's top-10 helpful and top-10 harmful training points per test point,
${hit_ivf% *} (IVF) and ${hit_flat% *} (Flat) are among the candidates; the candidates'
scores equal the full run's (max rel. diff ${hit_ivf#* }, ${hit_flat#* }). Through the stream
index \`influence --candidates FILE\` reads only the candidates' rows; with \`--train-index none\`
it reads and checks the whole training stream (${gbytes} GB) to keep them. s_test is the same
for the full and the FastIF column (the paper's speed-up also counts its faster s_test
settings against the original's), so the end-to-end ratio is bounded by s_test's time.

EOF
echo "Load average (1 min) on this $(nproc)-core machine: $load0 when this section started, $(cut -d" " -f1 /proc/loadavg) when it ended."
echo
