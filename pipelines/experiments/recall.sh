#!/bin/bash
# recall.sh - appendix B.1 (Fig. 8): does the kNN top-k contain the top-m
# influential training points found by full influence (exact s_test, all N)?
. "$(dirname "$0")/lib.sh"
note "B.1 kNN recall: full influence of 100 test points over all training points"
mkdir -p a
N=$($PY -c 'import sys,msgpack; print(sum(1 for _ in msgpack.Unpacker(open(sys.argv[1],"rb"),raw=False)))' train.mp)
x "ihvp --model model --train train.mp --method exact --damping 0 < q100.mp > a/s.mp"
x "influence --ihvp a/s.mp --model model --train train.mp > a/full.mp"
x "rank -m 100 < a/full.mp > a/ranked.mp"
x "embed --model model < q100.mp > a/qemb.mp"
specs=()
for k in $KS; do
  x "knn-select --index index -k $k < a/qemb.mp > a/cand-$k.mp"
  specs+=("$k:a/cand-$k.mp")
done
x "$STATS recall pred.mp a/ranked.mp $N ${specs[*]}"
