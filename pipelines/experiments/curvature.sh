#!/bin/bash
# curvature.sh - curvature from gradient streams against the exact
# Gauss-Newton solve on fastif's own mlp: influence scores of EK-FAC, K-FAC,
# the diagonal Fisher, the empirical and the sampled ("true") Fisher and
# the identity (grad-dot), each correlated with the scores of
# `ihvp --hessian ggn --method exact` at the same ridge. Fashion-MNIST
# pooled to 7x7 so that the exact solve (P = 1930) is cheap.
. "$(dirname "$0")/lib.sh"
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
CN=${CURV_N:-2000}
RIDGE=${CURV_RIDGE:-1e-3}
CL2=${CURV_L2:-1e-3}
note "curvature: Fashion-MNIST 7x7, mlp:32, $CN training images"
mkdir -p curv && cd curv
x "import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz --fashion --limit $CN > raw-train.mp"
x "import-idx --images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz --fashion --prefix test- --limit 20 > raw-test.mp"
x "curv-stats.py pool raw-train.mp train.mp"
x "curv-stats.py pool raw-test.mp test.mp"
x "train --arch mlp:32 --l2 $CL2 --epochs 30 --seed $SEED -o model < train.mp"
x "grad --model model < test.mp > test.g"
x "grad --model model --factored < train.mp > train-gold.g"
x "grad --model model --factored --label sample --seed $SEED < train.mp > train-sample.g"
# the ridge: GGN carries l2 on the weights itself; the others get l2 + RIDGE
SH=$(awk -v a="$CL2" -v b="$RIDGE" 'BEGIN { printf "%.6g", a + b }')
timed t_ggn "ihvp --model model --train train.mp --hessian ggn --method exact --shift $RIDGE < test.g > ggn.ihvp"
for m in ekfac kfac diag; do
  timed t_fit_$m "curvature --method $m --grads train-sample.g -o $m.curv"
  timed t_$m "ihvp --curvature $m.curv --shift $SH < test.g > $m.ihvp"
done
timed t_emp "ihvp --fisher train-gold.g --method exact --shift $SH < test.g > fisher-emp.ihvp"
timed t_true "ihvp --fisher train-sample.g --method exact --shift $SH < test.g > fisher-sample.ihvp"
timed t_id "ihvp --method identity < test.g > identity.ihvp"
for s in ggn ekfac kfac diag fisher-emp fisher-sample identity; do
  x "influence --ihvp $s.ihvp --model model --train train.mp > $s.scores"
done
echo "| s_test from | ihvp (s) | fit (s) | Pearson vs GGN exact | Spearman vs GGN exact |"
echo "|---|---|---|---|---|"
row() { # LABEL NAME IHVP-SECONDS FIT-SECONDS
  read -r p s <<< "$(curv-stats.py corr ggn.scores "$2.scores")"
  echo "| $1 | $3 | $4 | $p | $s |"
}
row "\`ihvp --hessian ggn --method exact\` (reference)" ggn "$t_ggn" "–"
row "EK-FAC (\`curvature --method ekfac\`, sampled labels)" ekfac "$t_ekfac" "$t_fit_ekfac"
row "K-FAC (\`curvature --method kfac\`)" kfac "$t_kfac" "$t_fit_kfac"
row "diagonal Fisher (\`curvature --method diag\`)" diag "$t_diag" "$t_fit_diag"
row "\`ihvp --fisher\` exact, sampled labels (true Fisher, 1 draw)" fisher-sample "$t_true" "–"
row "\`ihvp --fisher\` exact, gold labels (empirical Fisher)" fisher-emp "$t_emp" "–"
row "\`ihvp --method identity\` (grad-dot)" identity "$t_id" "–"
echo
echo "$CN training images (7x7 mean-pooled Fashion-MNIST), 20 test images, mlp 49-32-10 tanh,"
echo "l2 $CL2, every parameter (P = 1930); ridge: GGN + $RIDGE (its own l2 on the weights), the others"
echo "+ $SH. Correlations are per test point over all $CN training scores, then the mean."
echo "Times are wall seconds on a machine shared with other jobs (not quiet)."
