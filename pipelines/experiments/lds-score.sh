#!/bin/bash
# lds-score.sh MODEL TRAIN TEST DIR MODE [ihvp options] > scores - one scoring method of the
# LDS experiment (pipelines/experiments/lds.mk): scores records for every test example of
# TEST against the training examples of TRAIN, intermediate files in DIR. MODE:
#   full       grad of the test points | ihvp OPTIONS | influence over every training point
#   knn:K      FastIF: the K nearest training points (embed, knn-select) scored with ihvp OPTIONS
#   curv:M     curvature --method M (kfac, ekfac, diag) fitted on the factored training
#              gradients (labels sampled from the model, the true Fisher's), ihvp --curvature
#              OPTIONS, influence over the same factored gradients (no model oracle)
#   identity   no curvature: s_test = the test gradient (gradient dot product, TracIn-like)
#   cosine     identity divided by |g_i| (gradient cosine; the norms in numpy, lds-stats.py)
# Every score comes from the fastif tools except the cosine's division.
set -eu -o pipefail
[ $# -ge 5 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
model=$1 train=$2 test=$3 dir=$4 mode=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
mkdir -p "$dir"
grad --model "$model" < "$test" > "$dir/test-grad.mp"
case $mode in
  full)
    ihvp --model "$model" --train "$train" "$@" < "$dir/test-grad.mp" > "$dir/ihvp.mp"
    influence --ihvp "$dir/ihvp.mp" --model "$model" --train "$train" ;;
  knn:*)
    embed --model "$model" < "$train" > "$dir/train-emb.mp"
    knn-select --build "$dir/index" < "$dir/train-emb.mp"
    embed --model "$model" < "$test" | knn-select --index "$dir/index" -k "${mode#knn:}" > "$dir/candidates.mp"
    ihvp --model "$model" --train "$train" "$@" < "$dir/test-grad.mp" > "$dir/ihvp.mp"
    influence --ihvp "$dir/ihvp.mp" --model "$model" --train "$train" --candidates "$dir/candidates.mp" ;;
  curv:*)
    grad --model "$model" --factored --label sample --seed 1 < "$train" > "$dir/train-sample.mp"
    curvature --method "${mode#curv:}" --grads "$dir/train-sample.mp" -o "$dir/curvature"
    grad --model "$model" --factored < "$test" > "$dir/test-fgrad.mp"
    grad --model "$model" --factored < "$train" > "$dir/train-fgrad.mp"
    ihvp --curvature "$dir/curvature" "$@" < "$dir/test-fgrad.mp" > "$dir/ihvp.mp"
    influence --ihvp "$dir/ihvp.mp" --model "$model" < "$dir/train-fgrad.mp" ;;
  identity | cosine)
    ihvp --method identity < "$dir/test-grad.mp" > "$dir/ihvp.mp"
    if [ "$mode" = identity ]; then
      influence --ihvp "$dir/ihvp.mp" --model "$model" --train "$train"
    else
      influence --ihvp "$dir/ihvp.mp" --model "$model" --train "$train" > "$dir/dot.mp"
      grad --model "$model" < "$train" > "$dir/train-grad.mp"
      $PY "$here/lds-stats.py" cosine "$dir/train-grad.mp" < "$dir/dot.mp"
    fi ;;
  *) echo "lds-score.sh: error: unknown mode '$mode'" >&2; exit 2 ;;
esac
