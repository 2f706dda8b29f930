#!/bin/bash
# fashion-prep.sh - Fashion-MNIST (60k train) with an mlp, for the timing
# comparison where kNN pre-selection has more to save.
. "$(dirname "$0")/lib.sh"
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
note "prep: Fashion-MNIST 60k, $FARCH"
mkdir -p fm
x "import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz --fashion > fm/train.mp"
x "import-idx --images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz --fashion --prefix test- > fm/test.mp"
x "train --arch $FARCH --l2 $L2 --epochs $FEPOCHS --seed $SEED -o fm/model < fm/train.mp"
x "$BIN/eval --model fm/model < fm/test.mp > fm/pred.mp"
x "$STATS select fm/pred.mp 10 > fm/q10.ids"
x "pick --ids fm/q10.ids fm/test.mp > fm/q10.mp"
# is the undamped Hessian usable here? (record the answer for RESULTS.md)
if x "pick --head 1 fm/q10.mp | ihvp --model fm/model --train fm/train.mp --method cg --damping 0 > fm/undamped.mp"; then
  echo "undamped CG converged on the first test point" > fm/undamped.txt
else
  grep 'ihvp: error' "$LOG" | tail -n 1 > fm/undamped.txt
fi
