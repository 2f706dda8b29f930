#!/bin/bash
# explain-images.sh - Fashion-MNIST test images beside their most helpful and
# most harmful training images (FastIF: kNN top-K, LiSSA, influence).
#   OUT=dir DIR=fm-data-dir [N_WRONG=4] [N_RIGHT=2] [M=5] explain-images.sh
# DIR holds model, train.mp, test.mp, test-pred.mp. Writes OUT/explain.png
# (`picture`) and OUT/table.txt (the same lists as text, `rank --text`), and
# prints the table.
. "$(dirname "$0")/common.sh"
N_WRONG=${N_WRONG:-4} N_RIGHT=${N_RIGHT:-2} M=${M:-5} SEED=${SEED:-1}
{ $FSQ sample "$DIR/test.mp" "$N_WRONG" "$SEED" --wrong "$DIR/test-pred.mp"
  $FSQ sample "$DIR/test.mp" "$N_RIGHT" "$SEED" --right "$DIR/test-pred.mp"; } > "$OUT/query.ids"
quiet "$BIN/pick" --ids "$OUT/query.ids" "$DIR/test.mp" > "$OUT/query.mp"
scores "$DIR/model" "$DIR/train.mp" "$DIR/train.mp" "$OUT/q" "$OUT/query.mp"
JOIN=(--join "$DIR/train.mp" --query "$OUT/query.mp,$DIR/test-pred.mp")
quiet "$BIN/rank" -m "$M" "${JOIN[@]}" < "$OUT/q.scores.mp" > "$OUT/ranked.mp"
quiet "$BIN/rank" -m "$M" "${JOIN[@]}" --text < "$OUT/q.scores.mp" > "$OUT/table.txt"
# Fashion-MNIST is dark on light (ink on paper): --invert, as the data set shows it.
quiet "$BIN/picture" -m "$M" "${JOIN[@]}" --invert -o "$OUT/explain.png" \
  --title "Fashion-MNIST: test image | most helpful training images | most harmful training images (influence = -grad L(z) . s_test; negative helps)" \
  < "$OUT/ranked.mp"
cat "$OUT/table.txt"
echo "plot: $OUT/explain.png"
