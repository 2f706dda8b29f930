#!/bin/bash
# explain-images.sh - Fashion-MNIST test images beside their most helpful and
# most harmful training images (FastIF: kNN top-K, LiSSA, influence).
#   OUT=dir DIR=fm-data-dir [N_WRONG=4] [N_RIGHT=2] [M=5] explain-images.sh
# DIR holds model, train.mp, test.mp, test-pred.mp. Writes OUT/explain.png and
# OUT/table.txt (the scores), and prints the table.
. "$(dirname "$0")/common.sh"
N_WRONG=${N_WRONG:-4} N_RIGHT=${N_RIGHT:-2} M=${M:-5} SEED=${SEED:-1}
{ $FSQ sample "$DIR/test.mp" "$N_WRONG" "$SEED" --wrong "$DIR/test-pred.mp"
  $FSQ sample "$DIR/test.mp" "$N_RIGHT" "$SEED" --right "$DIR/test-pred.mp"; } > "$OUT/query.ids"
quiet "$BIN/pick" --ids "$OUT/query.ids" "$DIR/test.mp" > "$OUT/query.mp"
scores "$DIR/model" "$DIR/train.mp" "$DIR/train.mp" "$OUT/q" "$OUT/query.mp"
quiet "$BIN/rank" -m "$M" < "$OUT/q.scores.mp" > "$OUT/ranked.mp"
$PY "$APPS/tiles.py" "$OUT" "$OUT/ranked.mp" "$OUT/query.mp" "$DIR/test-pred.mp" "$DIR/train.mp" "$M" > "$OUT/table.txt"
gnuplot "$OUT/explain.gp"
cat "$OUT/table.txt"
echo "plot: $OUT/explain.png"
