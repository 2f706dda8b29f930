#!/bin/bash
# sim-one.sh MODEL POINT QUERY OUTFILE LRS... - for each learning rate, one SGD
# step of MODEL on the example(s) POINT (gold labels), then the prediction of
# the result on QUERY; the predictions records, one per learning rate in order,
# are written to OUTFILE (atomically). A helper of simulate.sh.
set -euo pipefail
BIN=${BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
model=$1 point=$2 query=$3 outfile=$4; shift 4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for lr in "$@"; do
  "$BIN/finetune-step" --model "$model" --lr "$lr" -o "$tmp/m" < "$point" 2>/dev/null
  "$BIN/eval" --model "$tmp/m" < "$query" 2>/dev/null >> "$tmp/p"
done
mv "$tmp/p" "$outfile"
