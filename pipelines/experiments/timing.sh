#!/bin/bash
# timing.sh - wall time of fast vs full influence for the same test points.
#   timing.sh DATA MODEL TRAIN QUERIES PRED FULL_IHVP_OPTS K...
# Full: ihvp FULL_IHVP_OPTS over all training points, then influence over all
# of them. Fast: embed the queries + kNN top-k, LiSSA (B=1, J=1000, T=1 or 4,
# damping 5e-3, scale auto), influence on the k candidates only. One-time
# costs (embedding the training set, building the index) are listed apart.
# Each pipeline runs $REPS times; the table shows medians.
. "$(dirname "$0")/lib.sh"
load0=$(cut -d" " -f1-3 /proc/loadavg)
data=$1 model=$2 train=$3 q=$4 pred=$5 fullopts=$6; shift 6; ks=("$@")
d=d/$data; mkdir -p "$d"
note "timing $data: full ($fullopts) vs fast (k = ${ks[*]}), $REPS run(s) each"
declare -A T
add() { T[$1]="${T[$1]:-} $2"; }
for r in $(seq "$REPS"); do
  timed s "embed --model $model < $train > $d/train-emb.mp"; add emb "$s"
  timed s "knn-select --build $d/index < $d/train-emb.mp"; add build "$s"
  timed s "ihvp --model $model --train $train $fullopts < $q > $d/full-s.mp"; add full_ihvp "$s"
  timed s "influence --ihvp $d/full-s.mp --model $model --train $train > $d/full.mp"; add full_inf "$s"
  for T_ in 1 4; do
    timed s "ihvp --model $model --train $train --method lissa --depth 1000 --batch 1 --repeats $T_ --damping 0.005 --scale auto --seed $SEED < $q > $d/fast-s-T$T_.mp"; add "lissa$T_" "$s"
  done
  for k in "${ks[@]}"; do
    timed s "embed --model $model < $q | knn-select --index $d/index -k $k > $d/cand-$k.mp"; add "knn$k" "$s"
    for T_ in 1 4; do
      timed s "influence --ihvp $d/fast-s-T$T_.mp --model $model --train $train --candidates $d/cand-$k.mp > $d/fast-k$k-T$T_.mp"; add "inf$k-$T_" "$s"
    done
  done
done
m() { median ${T[$1]}; }
full=$(awk -v a="$(m full_ihvp)" -v b="$(m full_inf)" 'BEGIN { printf "%.3f", a + b }')
echo "One-time for fast: embed training set $(m emb) s, build index $(m build) s."
echo
echo "| pipeline | ihvp s | embed+kNN s | influence s | total s | speed-up vs full |"
echo "|---|---|---|---|---|---|"
echo "| full ($fullopts, all N) | $(m full_ihvp) | - | $(m full_inf) | $full | 1 |"
for k in "${ks[@]}"; do
  for T_ in 1 4; do
    tot=$(awk -v a="$(m lissa$T_)" -v b="$(m knn$k)" -v c="$(m inf$k-$T_)" 'BEGIN { printf "%.3f", a + b + c }')
    sp=$(awk -v f="$full" -v t="$tot" 'BEGIN { printf "%.1f", f / t }')
    echo "| fast k=$k, LiSSA T=$T_ | $(m lissa$T_) | $(m knn$k) | $(m inf$k-$T_) | $tot | $sp |"
  done
done
echo
echo "Agreement of the fast scores with the full ones on the same candidates (full s_test shift $(field $d/full-s.mp shift), fast shift $(field $d/fast-s-T1.mp shift)):"
echo
specs=()
for k in "${ks[@]}"; do for T_ in 1 4; do specs+=("fast_k${k}_T$T_:$d/fast-k$k-T$T_.mp"); done; done
x "$STATS corr $pred $d/full.mp ${specs[*]}"
echo
echo "Load average (1, 5, 15 min) of this shared machine: $load0 at the start, $(cut -d" " -f1-3 /proc/loadavg) at the end."
