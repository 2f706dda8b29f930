#!/bin/bash
# lds-torch-score.sh NET ARGS SHAPE STATE TRAIN TEST DIR MODE [ihvp options] > scores - one
# scoring method of the PyTorch rows of the LDS table (pipelines/experiments/lds-torch.mk):
# scores records for every test example of TEST against every training example of TRAIN,
# for the torch model NET (FILE.py:CLASS) built with ARGS (JSON), input shape SHAPE and
# weights STATE; intermediate files in DIR. The gradients come from python/fastif_torch
# (layer factors, formats/gradients.md), everything else from the fastif tools. MODE:
#   identity   s_test = the test gradient (gradient dot product, TracIn-like)
#   cosine     identity divided by |g_i| (gradient cosine; the norms in numpy, lds-stats.py)
#   curv:M     curvature --method M (kfac, ekfac, diag) fitted on the training gradients
#              under labels sampled from the model (the true Fisher; every layer as factors),
#              ihvp --curvature OPTIONS
#   fisher:L   ihvp --fisher OPTIONS over the training gradients of labels L: gold (the
#              empirical Fisher) or sample (the true Fisher, one label drawn per example)
# Scores are over the gold-label training gradients, s_test from the gold-label test
# gradients.
set -eu -o pipefail
[ $# -ge 8 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
net=$1 args=$2 shape=$3 state=$4 train=$5 test=$6 dir=$7 mode=$8
shift 8
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
mkdir -p "$dir"
ft() { # gradients [options] < examples > gradients: the adapter on one torch thread
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH="$here/../../python${PYTHONPATH:+:$PYTHONPATH}" \
    $PY -m fastif_torch "$1" --model "$net" --model-args "$args" --input-shape "$shape" \
    --state-dict "$state" "${@:2}"
}
ft gradients < "$test" > "$dir/test-grad.mp"
ft gradients < "$train" > "$dir/train-grad.mp"
case $mode in
  identity | cosine)
    ihvp --method identity < "$dir/test-grad.mp" > "$dir/ihvp.mp"
    if [ "$mode" = identity ]; then
      influence --ihvp "$dir/ihvp.mp" < "$dir/train-grad.mp"
    else
      influence --ihvp "$dir/ihvp.mp" < "$dir/train-grad.mp" > "$dir/dot.mp"
      $PY "$here/lds-stats.py" cosine "$dir/train-grad.mp" < "$dir/dot.mp"
    fi ;;
  curv:*)
    ft gradients --label sample --seed 1 --factors always < "$train" > "$dir/train-sample.mp"
    curvature --method "${mode#curv:}" --grads "$dir/train-sample.mp" -o "$dir/curvature"
    ihvp --curvature "$dir/curvature" "$@" < "$dir/test-grad.mp" > "$dir/ihvp.mp"
    influence --ihvp "$dir/ihvp.mp" < "$dir/train-grad.mp" ;;
  fisher:gold)
    ihvp --fisher "$dir/train-grad.mp" "$@" < "$dir/test-grad.mp" > "$dir/ihvp.mp"
    influence --ihvp "$dir/ihvp.mp" < "$dir/train-grad.mp" ;;
  fisher:sample)
    ft gradients --label sample --seed 1 < "$train" > "$dir/train-sample.mp"
    ihvp --fisher "$dir/train-sample.mp" "$@" < "$dir/test-grad.mp" > "$dir/ihvp.mp"
    influence --ihvp "$dir/ihvp.mp" < "$dir/train-grad.mp" ;;
  *) echo "lds-torch-score.sh: error: unknown mode '$mode'" >&2; exit 2 ;;
esac
