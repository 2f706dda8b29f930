#!/bin/bash
# pipelines/torch-cnn.mk end to end on a tiny CNN (2 and 4 channels) and 300
# Fashion-MNIST images: PyTorch training, fastif_torch embeddings and layer
# factors, kNN, curvature, ihvp --curvature, influence, rank, picture. The
# run's s_test is checked against numpy's EK-FAC (then K-FAC) fitted from
# the run's own fit gradients, its scores against -g . s rebuilt from the
# candidates' factor records (tests/torch/graph.py); a new METHOD remakes the
# curvature and what follows, not the PyTorch steps.
. "$(dirname "$0")/lib.sh"
need_torch_fmnist
export OMP_NUM_THREADS=1
R=$T/run
KNOBS=(-f "$TOP/pipelines/torch-cnn.mk" OUT="$R" BIN="$BIN" N_TRAIN=300 N_TEST=100 NWRONG=3 K=20 M=3
       FIT_N=200 EPOCHS=1 TRAIN_BATCH=16 MODEL_ARGS='{"c1": 2, "c2": 4, "hidden": 8}')

run make --no-print-directory "${KNOBS[@]}"
is "$rc" 0 "make -f pipelines/torch-cnn.mk runs to the end"
[ "$rc" = 0 ] || { echo "$err" | tail -n 15 | sed 's/^/# /'; }
like "$out" "test te-[0-9]+ +gold: [A-Za-z/ -]+ +predicted: " "the table names the classes"
is "$(pick "$R/query.mp" 2>&1 >/dev/null)" "pick: done 3 records" "3 misclassified test images explained"
is "$(od -An -tx1 -N8 "$R/explain.png" | tr -d ' ')" "89504e470d0a1a0a" "the picture is a PNG"
like "$(dump "$R/curv" 2>/dev/null | head -1)" '"method":"ekfac"' "an EK-FAC curvature file"
(cd "$TOP/tests/torch" && $PY graph.py "$R" ekfac 0.1) > "$T/ekfac.out" 2>&1
tap_lines "$T/ekfac.out" 3

# A new METHOD remakes the curvature, the ihvp and what follows: no PyTorch step.
redo=$(make --no-print-directory -n "${KNOBS[@]}" METHOD=kfac DAMPING=0.2 2>/dev/null)
is "$(grep -c 'fastif_torch\|train.py' <<< "$redo")" 0 "METHOD=kfac: no PyTorch step is redone"
like "$redo" "curvature --method kfac" "METHOD=kfac: the curvature is refitted"
run make --no-print-directory "${KNOBS[@]}" METHOD=kfac DAMPING=0.2
is "$rc" 0 "METHOD=kfac DAMPING=0.2 runs"
(cd "$TOP/tests/torch" && $PY graph.py "$R" kfac 0.2) > "$T/kfac.out" 2>&1
grep -q '^ok - kfac: s_test' "$T/kfac.out"; is "$?" 0 "kfac: s_test = numpy's K-FAC inverse, damping 0.2"
[ "$(grep -c '^ok - ' "$T/kfac.out")" = 3 ] || sed 's/^/# /' "$T/kfac.out" | tail -n 5
is "$(grep -c '^ok - ' "$T/kfac.out")" 3 "kfac: the scores checks hold too"
done_testing
