#!/bin/bash
# pipelines/apps: the paper's applications on a tiny Fashion-MNIST task:
# explain-images, correct.sh (error correction), graph.sh (C.2 tables and
# graph), simulate.sh (C.1), each checked for real properties.
. "$(dirname "$0")/lib.sh"
APPS=$TOP/pipelines/apps
FM=/usr/share/datasets/fashion-mnist
for p in gnuplot neato parallel; do
  command -v $p >/dev/null || { echo "1..0 # SKIP $p not installed (Debian gnuplot-nox, graphviz, parallel)"; exit 0; }
done
[ -r $FM/train-images-idx3-ubyte.gz ] || { echo "1..0 # SKIP Fashion-MNIST not installed"; exit 0; }
export BIN PY K=200
D=$T/fm
mkdir -p "$D"
import-idx --fashion --prefix tr- --limit 1000 --images $FM/train-images-idx3-ubyte.gz \
  --labels $FM/train-labels-idx1-ubyte.gz > "$D/train.mp" 2>/dev/null
import-idx --fashion --prefix te- --limit 600 --images $FM/t10k-images-idx3-ubyte.gz \
  --labels $FM/t10k-labels-idx1-ubyte.gz > "$T/all-test.mp" 2>/dev/null
pick --head 300 "$T/all-test.mp" > "$D/val.mp" 2>/dev/null
pick --skip 300 "$T/all-test.mp" > "$D/test.mp" 2>/dev/null
train --arch mlp:16 --epochs 5 -o "$D/model" < "$D/train.mp" 2>/dev/null
"$BIN/eval" --model "$D/model" < "$D/test.mp" > "$D/test-pred.mp" 2>/dev/null
ok "tiny Fashion-MNIST task" test -s "$D/test-pred.mp"

# 5. explain-images
run env OUT="$T/ex" DIR="$D" N_WRONG=1 N_RIGHT=1 M=3 "$APPS/explain-images.sh"
is "$rc" 0 "explain-images.sh runs"
is "$(head -c 8 "$T/ex/explain.png" | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a "explain.png is a PNG"
# table.txt is rank --text: numbered entries under "helpful" and "harmful" headings
lists() { awk '/^  [a-z]/ {s = $1} /^ +[0-9]+\. / {n[s]++; if (s == "helpful" && $3 >= 0 || s == "harmful" && $3 <= 0) bad++}
               END {print n["helpful"] + 0 "/" n["harmful"] + 0 "/" bad + 0}' "$T/ex/table.txt"; }
is "$(lists | cut -d/ -f1-2)" 6/6 "3 helpful and 3 harmful training images for each of 2 test images"
is "$(lists | cut -d/ -f3)" 0 "helpful scores are negative, harmful positive"

# 1. error correction: the curve file, the start point, and a property of fine-tuning
run env OUT="$T/co" DIR="$D" SLICE=6 POOL="$D/train.mp" REPS=1 ITERS=2 LRS=0.1 \
  METHODS="helpful random anchors" "$APPS/correct.sh"
is "$rc" 0 "correct.sh runs"
is "$(tail -n +2 "$T/co/curves.tsv" | wc -l)" 9 "3 methods x (start + 2 iterations)"
pick --where "label==6" "$D/test.mp" 2>/dev/null | "$BIN/eval" --model "$D/model" 2>&1 >/dev/null |
  sed -n 's/^eval: accuracy \([0-9.]*\) .*/\1/p' > "$T/acc0"
is "$(awk -F'\t' '$4 == 0 {print $5}' "$T/co/curves.tsv" | sort -u)" "$(cat "$T/acc0")" \
  "iteration 0 is the trained model's slice accuracy"
like "$(awk -F'\t' '$3 == "anchors" && $4 == 2 {print ($5 > A) ? "up" : "not up"}' A="$(cat "$T/acc0")" "$T/co/curves.tsv")" \
  '^up$' "two steps on slice anchors raise the slice accuracy"
ok "curves.png drawn" test -s "$T/co/curves.png"

# 4. graph: every (test, candidate) edge counted; shares add up to 1
run env OUT="$T/gr" DIR="$D" SLICES="6 2" PER_SLICE=3 EDGES=2 "$APPS/graph.sh"
is "$rc" 0 "graph.sh runs"
like "$(grep -E '^(Shirt|Pullover) ' "$T/gr/tables.txt" | head -2 | awk '{print $2, $3}' | tr '\n' ' ')" \
  '^3 600 3 600 $' "Table 5 counts 3 test points x K=200 edges per slice"
is "$(grep -E '^(Shirt|Pullover) ' "$T/gr/tables.txt" | head -2 | awk '{s = $6 + $7; print (s > 0.999 && s < 1.001) ? 1 : 0}' | sort -u)" 1 \
  "helpful and harmful shares add up to 1"
ok "graph.svg drawn by neato" grep -q '<svg' "$T/gr/graph.svg"

# 3. simulation: a vanishing learning rate leaves the simulator's loss unchanged
run env OUT="$T/si" DIR="$D" N_RIGHT=1 N_WRONG=1 NPTS=2 NLR=3 LR_LO=1e-9 LR_HI=1 ARCH=mlp:16 "$APPS/simulate.sh"
is "$rc" 0 "simulate.sh runs"
is "$(tail -n +2 "$T/si/losses.tsv" | wc -l)" 36 "2 tests x 3 types x 2 points x 3 learning rates"
is "$(awk -F'\t' 'NR > 1 && $5 == 1e-09 {d = $6 - $7; if (d < 0) d = -d; if (d > 1e-4 * (1 + $7)) bad++} END {print bad + 0}' "$T/si/losses.tsv")" 0 \
  "lr 1e-9 leaves the simulator's loss as it was"
done_testing
