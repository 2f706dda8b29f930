#!/bin/bash
# simulate.sh - explainability by simulation (FastIF C.1).
#   OUT=dir DIR=fm-data-dir [N_RIGHT=10] [N_WRONG=10] [NPTS=10] [NLR=50] simulate.sh
# A simulator model (same architecture, another seed) is trained on the
# training inputs labelled with the task model's predictions. For N_RIGHT
# test points the task model gets right and N_WRONG it gets wrong, let q be
# the point labelled with the task model's prediction: the simulator's loss
# on q is how badly it forecasts the task model. FastIF (kNN top-K over the
# simulator's embeddings, LiSSA s_test of the simulator's loss on q with the
# Hessian of its training objective, influence of training points with
# their true labels) gives the NPTS most helpful and NPTS most harmful
# training points; NPTS random training points are the baseline. The
# simulator takes one SGD step on one such point (true label) at each of NLR
# learning rates log-spaced over [LR_LO, LR_HI]; its new loss on q is
# recorded. Writes OUT/losses.tsv, OUT/summary.txt, OUT/simulate.png.
. "$(dirname "$0")/common.sh"
N_RIGHT=${N_RIGHT:-10} N_WRONG=${N_WRONG:-10} NPTS=${NPTS:-10} NLR=${NLR:-50}
LR_LO=${LR_LO:-1e-3} LR_HI=${LR_HI:-10} SEED=${SEED:-1} JOBS=${JOBS:-2}
ARCH=${ARCH:-mlp:32}
W=$OUT/work
rm -rf "$W/pts" "$W/res"
mkdir -p "$W/pts" "$W/res"
# the simulator
quiet "$BIN/eval" --model "$DIR/model" < "$DIR/train.mp" > "$W/train-pred.mp"
$FSQ relabel "$W/train-pred.mp" < "$DIR/train.mp" > "$W/sim-train.mp"
quiet "$BIN/train" --arch "$ARCH" --epochs 10 --seed $((SEED + 1)) -o "$W/sim" < "$W/sim-train.mp"
quiet "$BIN/eval" --model "$W/sim" < "$W/sim-train.mp" > /dev/null
# the test points, labelled with the task model's predictions
{ $FSQ sample "$DIR/test.mp" "$N_RIGHT" "$SEED" --right "$DIR/test-pred.mp"
  $FSQ sample "$DIR/test.mp" "$N_WRONG" "$SEED" --wrong "$DIR/test-pred.mp"; } > "$W/query.ids"
quiet "$BIN/pick" --ids "$W/query.ids" "$DIR/test.mp" |
  $FSQ relabel "$DIR/test-pred.mp" > "$W/query.mp"
# influence on the simulator's loss: Hessian of its objective (sim-train),
# training gradients with the true labels (train.mp), candidates by kNN
index "$W/sim" "$DIR/train.mp" "$W/s"
quiet "$BIN/embed" --model "$W/sim" < "$W/query.mp" | quiet "$BIN/knn-select" --index "$W/s.index" -k "$K" > "$W/s.cand.mp"
quiet "$BIN/ihvp" --model "$W/sim" --train "$W/sim-train.mp" --threads "$THREADS" < "$W/query.mp" > "$W/s.ihvp.mp"
quiet "$BIN/influence" --ihvp "$W/s.ihvp.mp" --model "$W/sim" --train "$DIR/train.mp" --candidates "$W/s.cand.mp" > "$W/s.scores.mp"
quiet "$BIN/rank" -m "$NPTS" < "$W/s.scores.mp" > "$W/ranked.mp"
LRS=$($PY -c "import numpy as np; print(' '.join('%.6g' % x for x in np.logspace(np.log10($LR_LO), np.log10($LR_HI), $NLR)))")
echo "$LRS" > "$W/lrs"
quiet "$BIN/eval" --model "$W/sim" < "$W/query.mp" > "$W/base.mp"
# jobs: test point x type x fine-tuning point
: > "$W/jobs"
n=0
while read -r t; do
  n=$((n + 1))
  quiet "$BIN/pick" --ids <(echo "$t") "$W/query.mp" > "$W/pts/$t.q.mp"
  quiet "$BIN/pick" --ids <(echo "$t") "$W/ranked.mp" > "$W/pts/$t.ranked.mp"
  for type in helpful harmful random; do
    if [ $type = random ]; then
      $FSQ sample "$DIR/train.mp" "$NPTS" $((SEED * 1000 + n)) > "$W/pts/$t.$type.ids"
    else
      $FSQ ids "$W/pts/$t.ranked.mp" $type "$NPTS" > "$W/pts/$t.$type.ids"
    fi
  done
done < "$W/query.ids"
cat "$W"/pts/*.ids | sort -u > "$W/needed.ids"
quiet "$BIN/pick" --ids "$W/needed.ids" "$DIR/train.mp" > "$W/needed.mp"
while read -r t; do
  for type in helpful harmful random; do
    k=0
    while read -r i; do
      k=$((k + 1))
      quiet "$BIN/pick" --ids <(echo "$i") "$W/needed.mp" > "$W/pts/$t.$type.$k.mp"
      echo "$W/sim $W/pts/$t.$type.$k.mp $W/pts/$t.q.mp $W/res/$t.$type.$k.mp" >> "$W/jobs"
    done < "$W/pts/$t.$type.ids"
  done
done < "$W/query.ids"
# shellcheck disable=SC2086
parallel -j "$JOBS" --colsep ' ' --halt now,fail=1 "$APPS/sim-one.sh" {1} {2} {3} {4} $LRS < "$W/jobs"
$PY "$APPS/simulate.py" "$OUT" "$W" "$DIR/test-pred.mp" | tee "$OUT/summary.txt"
