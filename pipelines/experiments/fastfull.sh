#!/bin/bash
# fastfull.sh - appendix B.3 (Table 4): fast (kNN top-k + LiSSA B=1, J=1000,
# T=1..4, damping 5e-3, scale auto) vs full (all training points, exact
# s_test) influence on the kNN-selected points of 20 test points (10 correctly,
# 10 wrongly predicted).
. "$(dirname "$0")/lib.sh"
note "B.3 fast vs full on 20 test points"
mkdir -p c
x "ihvp --model model --train train.mp --method exact --damping 0 < q20.mp > c/exact0.mp"
x "influence --ihvp c/exact0.mp --model model --train train.mp > c/full0.mp"
x "embed --model model < q20.mp > c/qemb.mp"
specs0=(); specsd=()
for T in 1 2 3 4; do
  x "ihvp --model model --train train.mp --method lissa --depth 1000 --batch 1 --repeats $T --damping 0.005 --scale auto --seed $SEED < q20.mp > c/fast-T$T.mp"
done
# the same damped system solved exactly, to separate LiSSA's error from the damping's
S=$(field c/fast-T1.mp scale)
x "ihvp --model model --train train.mp --method exact --scale $S --damping 0.005 < q20.mp > c/exactd.mp"
x "influence --ihvp c/exactd.mp --model model --train train.mp > c/fulld.mp"
for k in 100 1000; do
  x "knn-select --index index -k $k < c/qemb.mp > c/cand-$k.mp"
  for T in 1 2 3 4; do
    x "influence --ihvp c/fast-T$T.mp --model model --train train.mp --candidates c/cand-$k.mp > c/fast-k$k-T$T.mp"
    specs0+=("fast_k${k}_T$T:c/fast-k$k-T$T.mp")
  done
  x "influence --ihvp c/exactd.mp --model model --train train.mp --candidates c/cand-$k.mp > c/exactd-k$k.mp"
  specs0+=("exact_damped_k${k}:c/exactd-k$k.mp")
  specsd+=("fast_k${k}_T1:c/fast-k$k-T1.mp" "fast_k${k}_T4:c/fast-k$k-T4.mp")
done
echo "Full = exact s_test of the undamped H (pseudo-inverse), scores over all training points:"
echo
x "$STATS corr pred.mp c/full0.mp ${specs0[*]}"
echo
echo "Full = exact s_test of the same damped system the fast LiSSA solves (shift = damping x scale = $(field c/fast-T1.mp shift)):"
echo
x "$STATS corr pred.mp c/fulld.mp ${specsd[*]}"
