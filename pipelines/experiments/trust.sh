#!/usr/bin/env bash
# trust.sh - issue 13's measurement (make -f pipelines/experiments.mk trust):
# a held-out model that looks like a user's, fastif's default pipeline
# against exact influence, before and after the issue's defaults.
#
# The user-like model: Fashion-MNIST, a feature network (fastif `train
# --arch mlp:64` on N training images), its 64-d last hidden layer (`embed`)
# as the features, and heads trained on them with fastif's own `train`:
#   linear  softmax regression, l2 1e-4 (P = 650), as the issue's user had;
#   mlp     mlp:16 (tanh), l2 1e-4 (P = 1210), a non-convex head.
# For NQ misclassified test images: `grad | ihvp | influence` over all N
# training images with every default ("after"), with the old defaults
# spelled out ("before": --method lissa --hessian full), and exact influence
# computed in numpy (trust.py: the dense Hessian, or Gauss-Newton matrix, of
# the head from closed forms / PyTorch autograd, pseudo-inverse, scores
# -g_i . s): Pearson over the N scores, top-10 helpful and harmful overlap.
# Writes a markdown report on stdout; commands in $CMDS, tool stderr in $LOG.
. "$(dirname "$0")/lib.sh"
N=${N:-5000} NQ=${NQ:-3}
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
x "import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz --limit $N --fashion > tr-img.mp"
x "import-idx --images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz --limit 500 --prefix te- --fashion > te-img.mp"
x "train --arch mlp:64 --epochs 5 --seed $SEED < tr-img.mp > feat.model"
for s in tr te; do
  x "embed --model feat.model < $s-img.mp > $s-emb.mp"
  x "$PY $X/trust.py features $s-img.mp $s-emb.mp > $s.mp"
done
x "train --arch linear --l2 1e-4 < tr.mp > linear.model"
x "train --arch mlp:16 --l2 1e-4 --epochs 20 --seed $SEED < tr.mp > mlp.model"
for h in linear mlp; do
  x "$BIN/eval --model $h.model < te.mp > $h-pred.mp"
  x "pick --where 'pred!=label' --head $NQ $h-pred.mp > $h-wrong.mp"
  x "pick --ids $h-wrong.mp te.mp > $h-q.mp"
  x "grad --model $h.model < $h-q.mp > $h-g.mp"
done
# name model ihvp-options: scores over every training image, and the log
score() {
  local name=$1 model=$2; shift 2
  if x "ihvp --model $model.model --train tr.mp $* < $model-g.mp > $name.ihvp 2> $name.err"; then
    x "influence --ihvp $name.ihvp --model $model.model --train tr.mp > $name.scores"
  else
    rm -f "$name.ihvp" "$name.scores"
  fi
  cat "$name.err" >> "$LOG"
}
score lin-after linear
score lin-before linear --method lissa --hessian full
score lin-cg linear --method cg
score lin-exact linear --method exact
score lin-exact0 linear --method exact --damping 0
score lin-exact-old linear --method exact --damping 0.005
score mlp-after mlp
score mlp-before mlp --method lissa --hessian full
score mlp-lissa-ggn mlp --method lissa --hessian ggn
score mlp-cg-full mlp --method cg --hessian full
score mlp-cg-ggn mlp --method cg --hessian ggn
score mlp-exact-ggn mlp --method exact --hessian ggn
x "$PY $X/trust.py report $N"
