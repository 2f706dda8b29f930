#!/bin/bash
# graph.sh - influence-interaction picture (FastIF C.2) and Tables 5 and 6.
#   OUT=dir DIR=fm-data-dir [SLICES="6 2 4 0"] [PER_SLICE=50] [EDGES=3] graph.sh
# For PER_SLICE wrongly predicted test points of each slice (a Fashion-MNIST
# class): kNN top-K training candidates, one LiSSA s_test per point, the
# influence of every candidate. Table 5: mean |influence| and share of
# helpful/harmful edges per slice (all K edges of every test point). Table 6:
# correlation between slices of Z[i,j] = mean signed influence of training
# point i on slice j, over training points scored for both, and their number.
# The picture keeps each test point's EDGES most helpful and EDGES most
# harmful edges: test points on the outer circle grouped by slice, each
# training point at the |influence|-weighted mean position of the test points
# it is joined to (the minimiser of the weighted squared distances), drawn
# with graphviz (neato -n2) to OUT/graph.svg and OUT/graph.png.
. "$(dirname "$0")/common.sh"
SLICES=${SLICES:-6 2 4 0} PER_SLICE=${PER_SLICE:-50} EDGES=${EDGES:-3} SEED=${SEED:-1}
: > "$OUT/query.ids"
for c in $SLICES; do
  quiet "$BIN/pick" --where "label==$c" "$DIR/test.mp" > "$OUT/slice.mp"
  $FSQ sample "$OUT/slice.mp" "$PER_SLICE" "$SEED" --wrong "$DIR/test-pred.mp" >> "$OUT/query.ids"
done
quiet "$BIN/pick" --ids "$OUT/query.ids" "$DIR/test.mp" > "$OUT/query.mp"
scores "$DIR/model" "$DIR/train.mp" "$DIR/train.mp" "$OUT/q" "$OUT/query.mp"
$PY "$APPS/graph.py" "$OUT" "$OUT/q.scores.mp" "$OUT/query.mp" "$DIR/train.mp" "$EDGES" | tee "$OUT/tables.txt"
neato -n2 -Tsvg -o "$OUT/graph.svg" "$OUT/graph.dot"
neato -n2 -Tpng -o "$OUT/graph.png" "$OUT/graph.dot"
echo "plot: $OUT/graph.svg $OUT/graph.png"
