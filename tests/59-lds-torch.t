#!/bin/bash
# The LDS graph with a PyTorch RETRAIN (pipelines/experiments/lds-torch.mk over
# pipelines/lds.mk): a tiny CNN (2 and 4 channels) retrained by examples/torch-cnn/train.py
# on 4 subsets of 120 Fashion-MNIST images, evaluated by fastif_torch predictions, scored
# by identity and cosine over fastif_torch gradients. Checks (tests/torch/lds.py): the
# LDS records are finite and cover the test points, the scores are -g_i . g_t (and its
# cosine) of PyTorch autograd, subset 0's outputs are its model's margins; a retrain is a
# function of its subset (the wrapper rerun by hand gives the same bytes); a second make
# retrains and evaluates nothing.
. "$(dirname "$0")/lib.sh"
need_torch_fmnist
if ! command -v parallel > /dev/null; then
  echo "1..0 # SKIP GNU parallel is not installed"; exit 0
fi
export OMP_NUM_THREADS=1
ARGS='{"c1": 2, "c2": 4, "hidden": 8}'
import-idx --fashion --limit 120 --images "$FMNIST/train-images-idx3-ubyte.gz" \
  --labels "$FMNIST/train-labels-idx1-ubyte.gz" > "$T/train.mp" 2>/dev/null
import-idx --fashion --prefix test- --limit 12 --images "$FMNIST/t10k-images-idx3-ubyte.gz" \
  --labels "$FMNIST/t10k-labels-idx1-ubyte.gz" > "$T/test.mp" 2>/dev/null
R=$T/run
KNOBS=(-f "$TOP/pipelines/experiments/lds-torch.mk" OUT="$R" BIN="$BIN" TRAIN="$T/train.mp" TEST="$T/test.mp"
       M=4 JOBS=2 BOOT=50 CNN_EPOCHS=2 CNN_BATCH=16 MODEL_ARGS="$ARGS" METHODS='identity cosine')

run make --no-print-directory "${KNOBS[@]}" lds
is "$rc" 0 "the graph runs to the end with the torch RETRAIN"
[ "$rc" = 0 ] || { echo "$err" | tail -n 15 | sed 's/^/# /'; }
like "$(cat "$R/lds.md" 2>/dev/null)" "\| identity \| -?[0-9.]+ \|" "lds.md has the identity row"
like "$err" "lds: retraining 4 of 4 subsets" "4 models retrained"
(cd "$TOP/tests/torch" && $PY lds.py "$R" "$T/train.mp" "$T/test.mp" "$ARGS" identity cosine) > "$T/lds.out" 2>&1
tap_lines "$T/lds.out" 5

# The retrain contract by hand: subset-0's examples on stdin, the model on stdout, seeded.
pick --ids "$R/fan/ids/subset-0.mp" "$T/train.mp" 2>/dev/null |
  "$TOP/pipelines/experiments/lds-torch-retrain.sh" --epochs 2 --batch 16 --model-args "$ARGS" \
  > "$T/again.model" 2>/dev/null
ok "subset-0 retrained again: the same bytes" cmp "$T/again.model" "$R/fan/models/subset-0.model"
not_ok "the wrapper refuses an empty training stream" \
  "$TOP/pipelines/experiments/lds-torch-retrain.sh" --epochs 1 < /dev/null

# The cache: a second make retrains and evaluates nothing, and remakes nothing at all.
run make --no-print-directory "${KNOBS[@]}" lds
is "$rc" 0 "the second make runs"
is "$(grep -c 'retraining\|evaluating\|fastif_torch' <<< "$err$out")" 0 "the second make retrains, evaluates and scores nothing"
done_testing
