#!/bin/bash
# Output errors: every tool that writes gives exit 1 and one clear
# "TOOL: error: ..." line when stdout is full (/dev/full) or a closed pipe,
# and files written with -o/--build appear whole or not at all.
. "$(dirname "$0")/lib.sh"
B=$T/bad
$PY "$TOP/tests/bad/make.py" "$B" || { echo "Bail out! tests/bad/make.py failed"; exit 1; }
# a stream big enough that no tool can hide its output in a pipe buffer
$PY - "$T/big.ms" <<'PYEOF'
import sys, numpy as np, fastif_stream as fs
rng = np.random.default_rng(1)
with open(sys.argv[1], "wb") as f:
    for i in range(3000):
        fs.write_record(f, {"id": "b%d" % i, "label": i % 3, "x": rng.standard_normal(5).astype(np.float32)})
PYEOF
M=$B/ok.model
$BIN/knn-select --build "$T/e.idx" < "$B/emb.ms" 2>/dev/null
$BIN/dump "$T/big.ms" > "$T/big.jsonl" 2>/dev/null
$BIN/grad -m "$M" < "$T/big.ms" > "$T/g.ms" 2>/dev/null
python_csv() { $PY -c "
import sys
print('a,b,label')
for i in range(20000): print('%d,%d,%d' % (i, 2*i, i % 2))" > "$T/big.csv"; }
python_csv
# closedpipe CMD... : run CMD with stdout a pipe whose read end is closed
closedpipe() { $PY -c "import os, subprocess, sys
r, w = os.pipe(); os.close(r)
sys.exit(subprocess.call(sys.argv[1:], stdout=w))" "$@"; }

# case STDIN TOOL ARGS...
case_() {
  local in=$1 tool=$2; shift 2
  "$BIN/$tool" "$@" < "$in" > /dev/full 2> "$T/full.err"; local rc=$?
  is "$rc:$(grep -c ': error: ' "$T/full.err")" "1:1" "$tool $*: stdout /dev/full -> exit 1, one error line"
  closedpipe "$BIN/$tool" "$@" < "$in" 2> "$T/pipe.err"; rc=$?
  is "$rc:$(grep -c ': error: ' "$T/pipe.err")" "1:1" "$tool $*: closed pipe -> exit 1, one error line (not killed by SIGPIPE)"
}
case_ "$T/big.ms" dump
case_ "$T/big.jsonl" dump --reverse
case_ "$T/big.ms" pick
case_ "$T/big.ms" eval -m "$M"
case_ "$T/big.ms" embed -m "$M"
case_ "$T/big.ms" grad -m "$M"
case_ "$T/big.ms" grad -m "$M" --factored
case_ "$T/big.ms" train --arch linear
case_ "$T/big.ms" finetune-step -m "$M" --lr 0.1
case_ "$T/big.ms" ihvp -m "$M" --train "$B/ok.ms" --depth 5
case_ "$T/g.ms" influence --ihvp "$B/ihvp.ms"
case_ /dev/null influence --ihvp "$B/ihvp.ms" -m "$M" --train "$T/big.ms"
case_ "$B/emb.ms" knn-select --index "$T/e.idx" -k 3
case_ /dev/null import-csv "$T/big.csv"
case_ /dev/null import-idx --images "$B/idx-img.idx" --labels "$B/idx-lab.idx"
case_ /dev/null import-text --text a --label label "$T/big.csv"
$BIN/influence --ihvp "$B/ihvp.ms" -m "$M" --train "$T/big.ms" > "$T/sc.ms" 2>/dev/null
case_ "$T/sc.ms" rank -m 100
case_ "$T/sc.ms" rank -m 100 --text

# -o / --build into a place that cannot be written: exit 1, nothing left
mkdir "$T/ro"; chmod 555 "$T/ro"
if [ "$(id -u)" != 0 ]; then
  run "$BIN/train" --arch linear -o "$T/ro/m.model" < "$B/ok.ms"
  is "$rc" 1 "train -o into a read-only directory: exit 1"
fi
run "$BIN/train" --arch linear -o "$T/nodir/m.model" < "$B/ok.ms"
is "$rc:$(printf '%s\n' "$err" | grep -c ': error: ')" "1:1" "train -o into a missing directory: exit 1, one error line"
run "$BIN/knn-select" --build "$T/nodir/x.idx" < "$B/emb.ms"
is "$rc:$(printf '%s\n' "$err" | grep -c ': error: ')" "1:1" "knn-select --build into a missing directory: exit 1, one error line"
# an output that exists already is replaced only by a whole new file
echo old > "$T/m.model"
run "$BIN/train" --arch linear -o "$T/m.model" < "$B/x-nan.ms"
is "$rc:$(cat "$T/m.model")" "1:old" "train -o: a failed run leaves the previous file untouched"
run "$BIN/finetune-step" -m "$M" --lr 0.1 -o "$T/m.model" < "$B/x-dim.ms"
is "$rc:$(cat "$T/m.model")" "1:old" "finetune-step -o: a failed run leaves the previous file untouched"
echo old > "$T/k.idx"; echo old > "$T/k.idx.ids"
run "$BIN/knn-select" --build "$T/k.idx" < "$B/emb-nan.ms"
is "$rc:$(cat "$T/k.idx" "$T/k.idx.ids" | tr '\n' ' ')" "1:old old " "knn-select --build: a failed run leaves the previous index untouched"
is "$(ls -A "$T" | grep -vE "^\.(run|ok)\.(out|err)$" | grep -cE '\.tmp|~$|^\.[^.]' || true)" 0 "no temp files left behind"
done_testing
