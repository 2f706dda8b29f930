#!/bin/bash
# lissa.sh - appendix B.2 (Fig. 9): LiSSA speed/quality over J, B, T for 8
# test points, against the exact solve of the same damped system and of the
# undamped one. Wall time is the whole ihvp process for all 8 test points.
. "$(dirname "$0")/lib.sh"
load0=$(cut -d" " -f1-3 /proc/loadavg)
note "B.2 LiSSA grid J={$JS} B={$BS} T={$TS} (8 test points)"
mkdir -p b
: > b/times.tsv
x "ihvp --model model --train train.mp --method exact --damping 0 < q8.mp > b/ref0.mp"
x "influence --ihvp b/ref0.mp --model model --train train.mp > b/full0.mp"
for B in $BS; do
  for J in $JS; do
    for T in $TS; do
      note "  lissa J=$J B=$B T=$T"
      timed sec "ihvp --model model --train train.mp --method lissa --depth $J --batch $B --repeats $T --damping 0.005 --scale auto --seed $SEED < q8.mp > b/s-$J-$B-$T.mp"
      echo "$J $B $T $sec" >> b/times.tsv
      x "influence --ihvp b/s-$J-$B-$T.mp --model model --train train.mp > b/inf-$J-$B-$T.mp"
    done
  done
  # the exact solve of the system these runs solved: their auto scale, same damping
  S=$(field "b/s-$J-$B-1.mp" scale)
  x "ihvp --model model --train train.mp --method exact --scale $S --damping 0.005 < q8.mp > b/ref-$B.mp"
done
x "$STATS lissa b 0"
echo
echo "Load average (1, 5, 15 min) of this shared machine: $load0 at the start, $(cut -d" " -f1-3 /proc/loadavg) at the end."
