#!/bin/bash
# lds-torch.sh - `make lds-torch`: the linear datamodeling score of the scoring methods that
# apply to a PyTorch model, for the CNN of examples/torch-cnn on Fashion-MNIST, through
# pipelines/lds.mk (pipelines/experiments/lds-torch.mk). Its section of LDS.md (markdown)
# on stdout, the commands in $CMDS, the tools' stderr in $LOG.
. "$(dirname "$0")/lib.sh"
F=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
LDS_M=${LDS_M:-100}
CNN_EP=${LDS_TORCH_EPOCHS:-20}
ARGS=${LDS_TORCH_ARGS:-'{"c1": 4, "c2": 8, "hidden": 16}'}
N=${LDS_TORCH_N:-5000} NT=${LDS_TORCH_NTEST:-500}
METHODS=${LDS_TORCH_METHODS:-"tfisher-exact tfisher-exact-1e-4 tfisher-exact-1e-2 fisher-exact fisher-cg fisher-lissa kfac ekfac diag identity cosine"}
D=lds-torch
mkdir -p "$D"
load() { sed 's/ [0-9]*\/.*//' /proc/loadavg; }
t_start=$(now) load0=$(load)
MK="make -s -f $X/lds-torch.mk OUT=$D/cnn TRAIN=$D/train.mp TEST=$D/test.mp M=$LDS_M SEED=$SEED CNN_EPOCHS=$CNN_EP MODEL_ARGS='$ARGS'"

note "lds-torch: Fashion-MNIST $N / $NT, 28x28"
x "import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz --fashion --limit $N > $D/train.mp.new && { cmp -s $D/train.mp.new $D/train.mp || mv -f $D/train.mp.new $D/train.mp; }"
x "import-idx --images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz --fashion --prefix test- --limit $NT > $D/test.mp.new && { cmp -s $D/test.mp.new $D/test.mp || mv -f $D/test.mp.new $D/test.mp; }"
rm -f "$D"/*.new

note "lds-torch: $LDS_M retrained CNNs, then the scoring methods ($METHODS)"
# The wall time of the retraining (and evaluation) step, kept from the run that did it
# (a rerun with everything cached takes seconds and would report that instead).
made() { stat -c %Y "$1" 2>/dev/null || echo 0; }
walls() { # STEP TARGET SECONDS BEFORE: record SECONDS if TARGET was remade, then print the record
  [ "$(made "$2")" = "$4" ] || echo "$3 s (run of $(date -u +%F))" > "$D/cnn/$1.wall"
  cat "$D/cnn/$1.wall" 2>/dev/null || echo "? s (not recorded)"
}
b_out=$(made "$D/cnn/outputs.mp")
timed t_retrain "$MK outputs"
timed t_score "$MK METHODS='$METHODS' lds"
w_retrain=$(walls retrain "$D/cnn/outputs.mp" "$t_retrain" "$b_out")
FT="PYTHONPATH=$FASTIF/python $PY -m fastif_torch"
x "OMP_NUM_THREADS=1 $FT predictions --model $FASTIF/examples/torch-cnn/model.py:CNN --model-args '$ARGS' --input-shape 1,28,28 --state-dict $D/cnn/model < $D/test.mp > $D/cnn/pred.mp"
right=$(pick --where 'pred==label' "$D/cnn/pred.mp" 2>&1 >/dev/null | sed -n 's/^pick: done \([0-9]*\) records*$/\1/p')
P=$($PY -c 'import sys, json; sys.path.insert(0, sys.argv[1]); from model import CNN
print(sum(p.numel() for p in CNN(**json.loads(sys.argv[2])).parameters()))' "$FASTIF/examples/torch-cnn" "$ARGS")
retrain=$(cat "$D"/cnn/fan/logs/*.retrain.log | sed -n 's/^lds: .*: retrain took \([0-9.]*\) s$/\1/p' |
  awk '{ s += $1; n++ } END { printf "%d models, %.0f s of job time (%.2f s each)", n, s, s / n }')
has() { [[ " $METHODS " == *" $1 "* ]]; }
relerr() { # METHOD REFERENCE: its s_test against the reference's
  echo "lds-stats.py relerr $D/cnn/work-$1/ihvp.mp $D/cnn/work-$2/ihvp.mp" >> "$CMDS"
  echo "- $1 against $2: $(lds-stats.py relerr "$D/cnn/work-$1/ihvp.mp" "$D/cnn/work-$2/ihvp.mp")"
}
paired() { # A B: the paired difference of their LDS
  echo "lds-stats.py paired $D/cnn/lds-$1.mp $D/cnn/lds-$2.mp 1000 $SEED" >> "$CMDS"
  echo "- $(lds-stats.py paired "$D/cnn/lds-$1.mp" "$D/cnn/lds-$2.mp" 1000 "$SEED")"
}
conv="" diffs=""
if has fisher-exact; then
  for m in fisher-cg fisher-lissa; do has $m && conv+="$(relerr $m fisher-exact)"$'\n'; done
fi
for pair in "ekfac identity" "kfac identity" "ekfac kfac" "tfisher-exact ekfac" "tfisher-exact-1e-4 ekfac" "tfisher-exact identity" "fisher-exact tfisher-exact"; do
  set -- $pair
  has "$1" && has "$2" && diffs+="$(paired "$1" "$2")"$'\n'
done
lds_of() { $PY -c 'import sys, msgpack; print("%.3f" % next(iter(msgpack.Unpacker(open(sys.argv[1], "rb"))))["lds"])' "$D/cnn/lds-$1.mp"; }
context() { # Kronfluence's published LDS beside these rows
  has ekfac && has identity || return 0
  local e i k lo
  e=$(lds_of ekfac) i=$(lds_of identity)
  k=$(has kfac && lds_of kfac || echo "?")
  lo=$(lds-stats.py paired "$D/cnn/lds-ekfac.mp" "$D/cnn/lds-identity.mp" 1000 "$SEED" | sed -n 's/.*interval \([-+][0-9.]*\) \.\..*/\1/p')
  cat <<C
Beside Kronfluence's published LDS (context only: other models, data and retraining;
the READMEs of pomonam/kronfluence's examples, 500 retrainings each: 100 subsets x 5
repeats, margin output): BERT fine-tuned on GLUE RTE identity 0.10, diagonal 0.15, K-FAC
0.32, EK-FAC 0.32; GPT-2 on WikiText-2 EK-FAC 0.44 against identity 0.12; SWAG EK-FAC
0.33. There EK-FAC and K-FAC score about three times the identity. Here, on the CNN,
EK-FAC $e, K-FAC $k, identity $i $(awk -v e="$e" -v i="$i" 'BEGIN { if (i > 0) printf "(EK-FAC / identity = %.1f)", e / i }'):
$(awk -v lo="$lo" 'BEGIN { if (lo + 0 > 0) print "EK-FAC is ahead of the identity by a clear margin (the paired interval above starts at " lo "),"; else print "EK-FAC is not ahead of the identity by a clear margin (the paired interval above reaches " lo "),"; }')
a smaller ratio than Kronfluence's. Each subset is retrained once here, with one seed:
the retraining noise that repeats would average out stays in the actual outputs and
lowers the LDS every row can reach.
C
}
t_all=$(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
rev=$(git -C "$FASTIF" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat <<T
## PyTorch CNN (\`make lds-torch\`)

Made by \`make lds-torch\` (pipelines/experiments/lds-torch.sh, the graph
pipelines/experiments/lds-torch.mk over pipelines/lds.mk) on $(date -u +%Y-%m-%d) (UTC), $(nproc)
cores, fastif at git $rev (plus uncommitted changes, if any); this invocation $t_all s
(seconds when the models and scores are cached: the steps' own times are below), load
average (1, 5, 15 min) $load0 at its start and $(load) at its end (measured under load:
a machine shared with other engineers' builds and tests).

Model: the CNN of examples/torch-cnn/model.py at widths $ARGS (P = $P),
trained in PyTorch by examples/torch-cnn/train.py (Adam, lr 1e-3, batch 64, $CNN_EP epochs,
seed 1, one torch thread per job) through pipelines/experiments/lds-torch-retrain.sh, the
RETRAIN of the graph; EVAL is \`python3 -m fastif_torch predictions\`. Data: the first
$N Fashion-MNIST training images and the first $NT test images, the same images as the
rows above but at 28x28 (the CNN's input). $LDS_M subsets of round($N / 2)
(\`lds --draw $LDS_M --seed $SEED\`), output = margin, as above.

Retraining: $retrain, 2 jobs at a time; wall time of the retraining and evaluation step
$w_retrain; each scoring method's own wall time is in the table (this invocation's
scoring and LDS steps: $t_score s, seconds for the methods already scored).
The full-data model: test accuracy $right/$NT.

Methods (pipelines/experiments/lds-torch.mk; gradients from python/fastif_torch, every
solve and score from the fastif tools; s_test from the gold-label test gradients, scores
over the gold-label training gradients):
- tfisher-exact: the true Fisher (one label per training image sampled from the model:
  a Monte Carlo estimate of the Gauss-Newton matrix, the curvature K-FAC and EK-FAC
  approximate), dense, solved exactly (\`ihvp --fisher --method exact\`), damping 1e-3 x
  scale auto (2 x the top single-example eigenvalue): the system the curvature rows
  approximate, solved without approximation. An exact Gauss-Newton row (torch-ggn.py's dense GGN) is not here: it
  took 451 s for 2,000 images in TORCH.md and would take about 19 minutes for 5,000.
- tfisher-exact-1e-4, tfisher-exact-1e-2: the same at damping 1e-4 and 1e-2.
- fisher-exact, fisher-cg, fisher-lissa: the empirical Fisher (gold labels), solved
  exactly, by CG and by LiSSA (B = 1, J = 5,000, T = 4), at the same damping.
- kfac, ekfac, diag: \`curvature --method\` fitted on the training gradients under
  sampled labels, every layer as factors (Kronecker blocks for the convolutions too),
  \`ihvp --curvature\` with lambda = 0.1 x each block's mean eigenvalue, as above.
- identity: s_test = the test gradient (gradient dot product, TracIn-like at one
  checkpoint); cosine: identity / |g_i|.

Scoring time is the wall time of the whole scoring command for the $NT test points
(fastif_torch gradients of the test and training images, fit, solve, scores).

$(cat "$D/cnn/lds.md")

Paired differences (the same test points resampled for both methods, \`lds-stats.py paired\`):

$diffs
${conv:+The iterative Fisher solves against the exact one:

$conv}
$(context)

T
commands_block "commands (PyTorch CNN)"
