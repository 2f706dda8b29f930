#!/bin/bash
# correct.sh - error correction (FastIF Sec. 6.3 / C.3) and, with a POOL the
# model never trained on, data augmentation (Sec. 6.4).
#   OUT=dir DIR=data-dir SLICE=class POOL=examples [LRS="0.01 0.1 1"] correct.sh
# DIR holds model, train.mp, val.mp, test.mp. For each repetition r (REPS) and
# each method, starting from DIR/model, ITERS times: sample NA anchors of the
# slice (class SLICE) from val.mp (the same anchors for every method) ->
# helpful/harmful: kNN of their mean embedding over POOL (top K), one LiSSA
# s_test of their mean loss, influence of the K candidates, the NF most
# helpful (most negative) or most harmful points; random: NF random POOL
# points; anchors: the anchors themselves -> one full-batch SGD step
# (finetune-step, gold labels, learning rate LR) -> accuracy on the slice of
# test.mp and on all of test.mp. Every learning rate in LRS is run and
# reported (none is picked). Writes OUT/curves.tsv, OUT/summary.txt, OUT/*.png.
. "$(dirname "$0")/common.sh"
: "${SLICE:?}" "${POOL:?}"
REPS=${REPS:-3} ITERS=${ITERS:-10} NA=${NA:-10} NF=${NF:-10}
LRS=${LRS:-0.001 0.01 0.1}
METHODS=${METHODS:-helpful harmful random anchors}
PARAMS=${PARAMS:-default}
W=$OUT/work
mkdir -p "$W"
quiet "$BIN/pick" --where "label==$SLICE" "$DIR/test.mp" > "$W/test-slice.mp"
quiet "$BIN/pick" --where "label==$SLICE" "$DIR/val.mp" > "$W/val-slice.mp"

acc() { # MODEL EXAMPLES -> accuracy, from eval's log line "eval: accuracy A (..)"
  local a
  a=$("$BIN/eval" --model "$1" < "$2" 2>&1 >/dev/null | sed -n 's/^eval: accuracy \([0-9.]*\) .*/\1/p')
  [ -n "$a" ] || { echo "correct.sh: error: eval --model $1 < $2 failed" >&2; exit 1; }
  echo "$a"
}
evaluate() { # MODEL -> "slice_acc overall_acc"
  echo "$(acc "$1" "$W/test-slice.mp") $(acc "$1" "$DIR/test.mp")"
}
# anchors and random points depend on (rep, iter) only: the same for every method and lr
for rep in $(seq "$REPS"); do
  for it in $(seq "$ITERS"); do
    s=$((1000 * rep + it))
    $FSQ sample "$W/val-slice.mp" "$NA" "$s" > "$W/anchors.ids"
    quiet "$BIN/pick" --ids "$W/anchors.ids" "$W/val-slice.mp" > "$W/anchors-$rep-$it.mp"
    $FSQ sample "$POOL" "$NF" "$s" > "$W/random.ids"
    quiet "$BIN/pick" --ids "$W/random.ids" "$POOL" > "$W/random-$rep-$it.mp"
  done
done

base=$(evaluate "$DIR/model")
printf 'lr\trep\tmethod\titer\tslice_acc\toverall_acc\n' > "$OUT/curves.tsv"
for lr in $LRS; do
  for rep in $(seq "$REPS"); do
    for m in $METHODS; do
      cp "$DIR/model" "$W/model"
      printf '%s\t%s\t%s\t0\t%s\n' "$lr" "$rep" "$m" "${base// /$'\t'}" >> "$OUT/curves.tsv"
      for it in $(seq "$ITERS"); do
        s=$((1000 * rep + it))
        cp "$W/anchors-$rep-$it.mp" "$W/anchors.mp"
        case $m in
          helpful|harmful)
            IHVP_SEED=$s scores "$W/model" "$DIR/train.mp" "$POOL" "$W/s" "$W/anchors.mp" --mean
            quiet "$BIN/rank" -m "$NF" < "$W/s.scores.mp" > "$W/ranked.mp"
            $FSQ ids "$W/ranked.mp" "$m" "$NF" > "$W/ft.ids"
            quiet "$BIN/pick" --ids "$W/ft.ids" "$POOL" > "$W/ft.mp" ;;
          random) cp "$W/random-$rep-$it.mp" "$W/ft.mp" ;;
          anchors) cp "$W/anchors.mp" "$W/ft.mp" ;;
          *) echo "correct.sh: error: unknown method $m" >&2; exit 2 ;;
        esac
        quiet "$BIN/finetune-step" --model "$W/model" --lr "$lr" --params "$PARAMS" -o "$W/model.new" < "$W/ft.mp"
        mv "$W/model.new" "$W/model"
        r=$(evaluate "$W/model")
        printf '%s\t%s\t%s\t%s\t%s\n' "$lr" "$rep" "$m" "$it" "${r// /$'\t'}" >> "$OUT/curves.tsv"
      done
    done
  done
done
$PY "$APPS/curves.py" "$OUT" "${TITLE:-slice $SLICE}" | tee "$OUT/summary.txt"
