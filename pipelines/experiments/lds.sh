#!/bin/bash
# lds.sh - `make lds`: the linear datamodeling score of every scoring method on
# Fashion-MNIST (softmax regression and an mlp, through pipelines/lds.mk), leave-one-out
# retraining of an mlp, and the mislabel-detection harness. Markdown on stdout
# (pipelines/experiments/LDS.md), the commands in $CMDS, the tools' stderr in $LOG.
. "$(dirname "$0")/lib.sh"
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
LDS_M=${LDS_M:-100}
D=lds
mkdir -p "$D"
load() { sed 's/ [0-9]*\/.*//' /proc/loadavg; }
t_start=$(now) load0=$(load)
MK="make -s -f $X/lds-model.mk TRAIN=$D/train.mp TEST=$D/test.mp M=$LDS_M SEED=$SEED"
# scoring methods per model (pipelines/experiments/lds-methods.mk has one line each)
SOFTMAX_METHODS="exact exact-damped cg lissa fastlissa fastif fastif-paper kfac ekfac diag identity cosine"
MLP_METHODS="cg lissa fastlissa fastif fastif-paper ggn ggn-lissa kfac ekfac diag identity cosine"
SOFTMAX_TRAIN="train --arch linear --l2 1e-3 --seed 1"
MLP_TRAIN="train --arch mlp:32 --optim adam --epochs 100 --l2 1e-3 --seed 1"

note "lds: Fashion-MNIST 5,000 / 500, pooled to 14x14"
x "import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz --fashion --limit 5000 | lds-stats.py pool 14 > $D/train.mp"
x "import-idx --images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz --fashion --prefix test- --limit 500 | lds-stats.py pool 14 > $D/test.mp"

retrain_seconds() { # DIR: summed job time of the cached models' retraining (their logs)
  cat "$1"/fan/logs/*.retrain.log | sed -n 's/^lds: .*: retrain took \([0-9.]*\) s$/\1/p' |
    awk '{ s += $1; n++ } END { printf "%d models, %.0f s of job time (%.2f s each)", n, s, s / n }'
}
accuracy() { grep -Eo 'accuracy [0-9.]+ \([0-9/]+\)' "$1" | tail -n 1; }
section() { # NAME "RETRAIN" "METHODS" [make variables]: one model's table
  local name=$1 rt=$2 methods=$3
  shift 3
  note "lds: $name: $LDS_M retrained models, then the scoring methods ($methods)"
  timed t_retrain "$MK OUT=$D/$name RETRAIN='$rt' $* outputs"
  timed t_score "$MK OUT=$D/$name RETRAIN='$rt' METHODS='$methods' $* lds"
  x "fastif eval --model $D/$name/model < $D/test.mp > $D/$name/pred.mp"
  local acc
  acc=$(accuracy "$LOG")
  cat <<T
Retraining: $(retrain_seconds "$D/$name"), 2 jobs at a time; wall time of the
retraining step in this run $t_retrain s (0 when the models were cached), of all scoring
and LDS steps $t_score s. The full-data model: test $acc.

$(cat "$D/$name/lds.md")
T
}

softmax=$(section softmax "$SOFTMAX_TRAIN" "$SOFTMAX_METHODS" CG_DAMPING=1e-6)
mlp=$(section mlp "$MLP_TRAIN" "$MLP_METHODS" GGN_DAMPING=1e-4)
converged() { # MODEL REFERENCE-IHVP: LiSSA's s_test, converged and fast, against the same system solved directly
  local d=$D/$1
  for m in lissa fastlissa; do
    echo "lds-stats.py relerr $d/work-$m/ihvp.mp $2" >> "$CMDS"
    echo "- $m against it: $(lds-stats.py relerr "$d/work-$m/ihvp.mp" "$2")"
  done
}
conv_softmax=$(converged softmax "$D/softmax/work-exact-damped/ihvp.mp")
conv_mlp=$(converged mlp "$D/mlp/work-cg/ihvp.mp")

# The damping ladder: CG on the full-data mlp model at the next smaller damping fails.
if x "$X/lds-score.sh $D/mlp/model $D/train.mp $D/test.mp $D/mlp/work-cg-1e-4 full --method cg --damping 1e-4 --scale auto --seed 1 -B 1 --group 500 > /dev/null"; then
  ladder="CG at damping 1e-4 converges on this mlp too."
else
  ladder="At damping 1e-4 CG stops: \`$(grep 'ihvp: error' "$LOG" | tail -n 1)\`."
fi

# ---- leave-one-out on an mlp, from the same initialisation ----
note "lds: leave-one-out retraining of an mlp"
L=$D/loo
LOO_TRAIN="train --arch mlp:16:tanh --optim lbfgs --l2 0.01 --tol 1e-6 --max-iter 5000 --seed 1"
mkdir -p "$L"
x "pick --head 1000 $D/train.mp > $L/train.mp"
x "$LOO_TRAIN < $L/train.mp > $L/model"
x "$LOO_TRAIN < $L/train.mp > $L/model.again && cmp $L/model $L/model.again"
x "fastif eval --model $L/model < $D/test.mp > $L/pred.mp"
x "$STATS select $L/pred.mp 4 > $L/test.ids && pick --ids $L/test.ids $D/test.mp > $L/test.mp"
timed t_loo_score "grad --model $L/model < $L/test.mp | ihvp --model $L/model --train $L/train.mp --method exact --hessian full --damping 0 > $L/ihvp.mp && influence --ihvp $L/ihvp.mp --model $L/model --train $L/train.mp > $L/scores.mp"
x "lds-stats.py loo-subsets 50 $L/train.mp < $L/scores.mp > $L/subsets.mp"
first=$(pick --head 1 --keep id "$L/subsets.mp" 2>/dev/null | dump 2>/dev/null | sed 's/^{"id":"loo-\(.*\)"}$/\1/')
x "pick --head 1 $L/subsets.mp > $L/first.mp"
x "pick --ids $L/first.mp $L/train.mp | $LOO_TRAIN > $L/without-$first.a && pick --ids $L/first.mp $L/train.mp | $LOO_TRAIN > $L/without-$first.b && cmp $L/without-$first.a $L/without-$first.b"
timed t_loo "$FASTIF/pipelines/lds/fanout.sh -d $L/fan -s $L/subsets.mp -t $L/train.mp -e $L/test.mp -r '$LOO_TRAIN' -E 'fastif eval --model' -O loss > $L/outputs.mp"
x "fastif eval --model $L/model < $L/test.mp | lds --collect full --output loss > $L/full.mp"
nloo=$(pick --keep id "$L/subsets.mp" 2>/dev/null | dump 2>/dev/null | wc -l)
loo=$(lds-stats.py loo 1000 50 "$L/scores.mp" "$L/outputs.mp" "$L/full.mp")
echo "lds-stats.py loo 1000 50 $L/scores.mp $L/outputs.mp $L/full.mp" >> "$CMDS"

# ---- mislabel detection: 10% of the labels flipped ----
note "lds: mislabel detection"
B=$D/mislabel
mkdir -p "$B"
x "lds-stats.py flip 0.1 $SEED < $D/train.mp > $B/fm-train.mp"
x "$SOFTMAX_TRAIN < $B/fm-train.mp > $B/fm.model"
x "fastif eval --model $B/fm.model < $B/fm-train.mp > $B/fm-pred.mp && lds-stats.py self-from loss $B/fm-pred.mp > $B/fm-loss.mp"
timed t_self_fm "grad --model $B/fm.model < $B/fm-train.mp > $B/fm-grad.mp && ihvp --model $B/fm.model --train $B/fm-train.mp --method exact --damping 0 --group 5000 < $B/fm-grad.mp > $B/fm-ihvp.mp && lds-stats.py self-from quad $B/fm-grad.mp $B/fm-ihvp.mp > $B/fm-self.mp"
ekfac_self() { # NAME: influence --self under EK-FAC fitted on sampled-label factored gradients
  echo "grad --model $B/$1.model --factored --label sample --seed 1 < $B/$1-train.mp > $B/$1-sample.mp && curvature --method ekfac --grads $B/$1-sample.mp -o $B/$1.curv && grad --model $B/$1.model --factored < $B/$1-train.mp | influence --self --curvature $B/$1.curv > $B/$1-self-ekfac.mp"
}
timed t_selfk_fm "$(ekfac_self fm)"
mis_fm=$(lds-stats.py mislabel "$B/fm-train.mp" "training loss:$B/fm-loss.mp" "self-influence, exact:$B/fm-self.mp" "self-influence, EK-FAC:$B/fm-self-ekfac.mp")
echo "lds-stats.py mislabel $B/fm-train.mp 'training loss:$B/fm-loss.mp' 'self-influence, exact:$B/fm-self.mp' 'self-influence, EK-FAC:$B/fm-self-ekfac.mp'" >> "$CMDS"
xz -dc "$FASTIF/examples/data/fine-foods.csv.xz" > "$B/ff.csv"
x "import-text --text review --label score --classes great,other --where split=train $B/ff.csv | lds-stats.py flip 0.1 $SEED > $B/ff-train.mp"
x "train --arch $ARCH --l2 $L2 --lr $LR --epochs $EPOCHS --seed $SEED < $B/ff-train.mp > $B/ff.model"
x "fastif eval --model $B/ff.model < $B/ff-train.mp > $B/ff-pred.mp && lds-stats.py self-from loss $B/ff-pred.mp > $B/ff-loss.mp"
timed t_self_ff "grad --model $B/ff.model < $B/ff-train.mp > $B/ff-grad.mp && ihvp --model $B/ff.model --train $B/ff-train.mp --method exact --damping 0 --group 4000 < $B/ff-grad.mp > $B/ff-ihvp.mp && lds-stats.py self-from quad $B/ff-grad.mp $B/ff-ihvp.mp > $B/ff-self.mp"
timed t_selfk_ff "$(ekfac_self ff)"
mis_ff=$(lds-stats.py mislabel "$B/ff-train.mp" "training loss:$B/ff-loss.mp" "self-influence, exact:$B/ff-self.mp" "self-influence, EK-FAC:$B/ff-self-ekfac.mp")
echo "lds-stats.py mislabel $B/ff-train.mp 'training loss:$B/ff-loss.mp' 'self-influence, exact:$B/ff-self.mp' 'self-influence, EK-FAC:$B/ff-self-ekfac.mp'" >> "$CMDS"

t_all=$(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
rev=$(git -C "$FASTIF" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat <<HEAD
# Linear datamodeling score, leave-one-out and mislabel detection (\`make lds\`)

Made by \`make lds\` (pipelines/experiments/lds.sh) on $(date -u +%Y-%m-%d) (UTC), $(nproc)
cores ($cpu), fastif at git $rev (plus uncommitted changes, if any); $t_all s in all, load average (1, 5, 15 min) $load0 at the
start and $(load) at the end (a machine shared with other engineers' builds and tests).
Commands run in \`${OUT#"$FASTIF"/}\` with \`bin/\` and \`pipelines/experiments/\` on PATH. Every score
and s_test comes from the fastif tools; LDS and its interval from \`lds\`; the
leave-one-out and mislabel statistics from \`lds-stats.py\` (numpy), which also divides the
identity scores by |g_i| for the cosine.

Data: the first 5,000 Fashion-MNIST training images and the first 500 test images,
mean-pooled to 14x14 (196 features, so softmax regression has P = 1,970 and its exact
solve takes seconds). LDS (Park et al. 2023): $LDS_M subsets of 2,500 (alpha = 0.5,
\`lds --draw $LDS_M --seed $SEED\`), one model retrained on each with the same command
and seed as the full-data model; output = margin (log p_y - log max_{c != y} p_c) on
each test point; for each test point the Spearman correlation over subsets of the actual
margin with the predicted -sum_{i in S} score_i; LDS = mean over the 500 test points;
95% percentile bootstrap interval over test points (formats/lds.md).

Methods (pipelines/experiments/lds-methods.mk; shift = damping x scale, scale auto =
2 x the top eigenvalue of single-example Hessians, so every iterative method at the same
damping solves the same system):
- exact: dense H, LAPACK eigendecomposition, undamped (pseudo-inverse of the softmax
  bias direction); softmax regression only (the mlp has P = 6,634).
- exact-damped: the same at damping 1e-3: the system the LiSSA rows solve.
- cg: conjugate gradients with full-batch HVPs at the smallest damping of 1e-6, 1e-4,
  1e-3, 5e-3 at which CG meets no negative curvature on the full-data model: 1e-6 for
  softmax regression (only its zero-curvature bias direction needs it), 1e-3 for the
  mlp. $ladder
- lissa: LiSSA converged, B = 1, J = 5,000, T = 4, damping 1e-3.
- fastlissa: FastIF's fast LiSSA, B = 1, J = 1,000, T = 1, damping 1e-3, every training point scored.
- fastif: FastIF, kNN k = 1,000 candidates (the rest count 0) + the fast LiSSA above.
- fastif-paper: the same at FastIF's own damping 5e-3.
- ggn (mlp): CG on the Gauss-Newton matrix G + shift (positive semi-definite, so CG
  converges at a smaller damping: 1e-4), ggn-lissa: converged LiSSA on G at damping 1e-3;
  on softmax regression G = H, so the exact/cg rows are its rows.
- kfac, ekfac, diag: \`curvature --method\` fitted on the factored training gradients under
  labels sampled from the model (the true Fisher), \`ihvp --curvature\` with lambda = 0.1 x
  each block's mean eigenvalue (Kronfluence's heuristic), scores over the factored gradients;
  no Hessian oracle.
- identity: s_test = the test gradient (\`ihvp --method identity\`: gradient dot product,
  TracIn-like at one checkpoint).
- cosine: identity / |g_i| (gradient cosine).

Scoring time is the wall time of the whole scoring command for the 500 test points
(test gradients, solve, scores; for fastif also embeddings, index and kNN).

## Softmax regression (\`$SOFTMAX_TRAIN\`: L-BFGS to |grad| <= 1e-6)

$softmax

LiSSA's solve, against the exact solve of the same damped system (damping 1e-3):
$conv_softmax

## mlp (\`$MLP_TRAIN\`)

$mlp

LiSSA's solve, against CG's solve of the same damped system (damping 1e-3):
$conv_mlp

## Beside dattri's MNIST figures (context only: the data differ)

dattri's benchmark (MNIST, 5,000 training / 500 test points, its own models and
training) reports for softmax regression LDS 0.80 (explicit inverse and CG), 0.79
(LiSSA), 0.33 (TracIn), 0.68 (TRAK-50); for its MNIST mlp 0.26 (CG), 0.14 (LiSSA),
0.45 (TRAK-50). Our rows: Fashion-MNIST pooled to 14x14, our own training recipes and
damping rule above.
HEAD
echo
echo "## Leave-one-out on an mlp, from the same initialisation"
cat <<T

\`$LOO_TRAIN\` on the first 1,000 of the training images above
(P = 3,322); full-batch L-BFGS from the seed's initialisation, so a retrain is a
deterministic function of the data: the full-data model retrained twice and the model
without training point $first retrained twice are byte-identical (\`cmp\`). Test
points: the first 2 correct and first 2 wrong predictions of the 500. s_test exact (the Hessian, --hessian full),
undamped ($t_loo_score s for the 4 test points). For each test point the 50 training
points of largest |score|; each removed and the model retrained ($nloo distinct
retrains, fanned out by pipelines/lds/fanout.sh, $t_loo s). Predicted change of the test
loss: -score/n; actual: retrained minus full-data loss.

$loo
T
echo
cat <<T
## Mislabel detection by self-influence

10% of the training labels flipped to another class, uniformly (\`lds-stats.py flip 0.1
$SEED\`), the model retrained on the flipped set, training points ranked by a per-point
score, largest first: AUC of that ranking for "is flipped", and the fraction of the
flipped labels among the top 10% and 20% (random: AUC 0.5, 0.1 and 0.2). Self-influence
g_i^T (C + lambda)^-1 g_i: "exact" with the model's Hessian and the exact undamped solve (P
small; g_i . s_i in numpy), "EK-FAC" from \`influence --self --curvature\` (EK-FAC fitted
on factored gradients under labels sampled from the model, lambda = 0.1 x each block's
mean eigenvalue; no Hessian oracle, O(N)).

Fashion-MNIST (5,000, 14x14), softmax regression \`$SOFTMAX_TRAIN\` ($t_self_fm s for the
5,000 exact self-influences, $t_selfk_fm s under EK-FAC):

$mis_fm

Fine-food reviews (4,000), \`$ARCH\` (influence over the classifier layer, P = 66;
$t_self_ff s exact, $t_selfk_ff s under EK-FAC):

$mis_ff
T
echo
commands_block
