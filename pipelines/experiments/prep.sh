#!/bin/bash
# prep.sh - data, model, predictions, embeddings, kNN index and the test
# points of the fine-food experiments (appendix B.1-B.3).
. "$(dirname "$0")/lib.sh"
note "prep: fine-food data, bow model, index"
x "xz -dc $FASTIF/examples/data/fine-foods.csv.xz > ff.csv"
x "import-text --text review --label score --classes great,other --group product --where split=train ff.csv > train.mp"
x "import-text --text review --label score --classes great,other --group product --where split=test ff.csv > test.mp"
x "train --arch $ARCH --l2 $L2 --lr $LR --epochs $EPOCHS --seed $SEED -o model < train.mp"
x "$BIN/eval --model model < test.mp > pred.mp"
x "embed --model model < train.mp > train-emb.mp"
x "knn-select --build index < train-emb.mp"
# test points: the first n/2 correctly and the first n/2 wrongly predicted, in test order
for n in 100 20 8; do
  x "$STATS select pred.mp $n > q$n.ids"
  x "pick --ids q$n.ids test.mp > q$n.mp"
done
grep -E '^(train|eval):' "$LOG" | grep -E 'accuracy|model:' | tail -n 3 > prep.summary
