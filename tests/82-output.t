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
# ---- issue 11: -o and --build through FIFOs, symlinks and devices ----
# A non-regular file is written through, never replaced; a symlink is
# followed (temp + rename beside its target) and stays a link.
"$BIN/train" --arch linear < "$B/ok.ms" > "$T/ref.model" 2>/dev/null
mkdir "$T/o"
mkfifo "$T/o/fifo"
timeout 20 cat "$T/o/fifo" > "$T/o/fifo.out" & reader=$!
run timeout 60 "$BIN/train" --arch linear -o "$T/o/fifo" < "$B/ok.ms"
wait $reader
is "$rc:$(test -p "$T/o/fifo" && echo fifo):$(cmp -s "$T/o/fifo.out" "$T/ref.model" && echo same)" "0:fifo:same" \
  "train -o FIFO: the model goes through the FIFO, which stays a FIFO"
echo old > "$T/o/real.model"; ln -s real.model "$T/o/link.model"
run "$BIN/train" --arch linear -o "$T/o/link.model" < "$B/ok.ms"
is "$rc:$(readlink "$T/o/link.model"):$(cmp -s "$T/o/real.model" "$T/ref.model" && echo same)" "0:real.model:same" \
  "train -o SYMLINK: the target is replaced, the link stays"
ln -s new.model "$T/o/dangling.model"
run "$BIN/train" --arch linear -o "$T/o/dangling.model" < "$B/ok.ms"
is "$rc:$(readlink "$T/o/dangling.model"):$(cmp -s "$T/o/new.model" "$T/ref.model" && echo same)" "0:new.model:same" \
  "train -o to a dangling symlink creates its target"
mkdir "$T/o/sub"; ln -s ../chained.model "$T/o/sub/l1"; ln -s sub/l1 "$T/o/l2"
run "$BIN/finetune-step" -m "$T/ref.model" --lr 0 -o "$T/o/l2" < "$B/ok.ms"
is "$rc:$(test -L "$T/o/l2" && test -L "$T/o/sub/l1" && echo links):$(cmp -s "$T/o/chained.model" "$T/ref.model" && echo same)" \
  "0:links:same" "finetune-step -o through two relative symlinks in different directories"
run "$BIN/train" --arch linear -o "$T/o" < "$B/ok.ms"
like "$rc:$(printf '%s\n' "$err" | tail -n 1)" "^1:train: error: .*/o: it is a directory$" "train -o DIR: exit 1, names the directory"
"$BIN/knn-select" --build "$T/o/real.idx" < "$B/emb.ms" 2>/dev/null
ln -s real.idx "$T/o/link.idx"
run "$BIN/knn-select" --build "$T/o/link.idx" < "$B/emb.ms"
is "$rc:$(readlink "$T/o/link.idx"):$(test -f "$T/o/link.idx.ids" && echo ids)" "0:real.idx:ids" \
  "knn-select --build SYMLINK: the link stays; the id map is INDEX.ids beside the name given"
"$BIN/knn-select" --index "$T/o/link.idx" -k 2 < "$B/emb.ms" > /dev/null 2>&1
is "$?" 0 "... and the pair is read back through the link"
# A character device. As root, one made in the scratch directory first (the
# same as /dev/null): only if it survives are the real /dev/full cases run,
# since a tool that renames over a device would destroy /dev/full.
devices_safe=1
if [ "$(id -u)" = 0 ] && mknod "$T/o/nulldev" c 1 3 2>/dev/null; then
  run "$BIN/train" --arch linear -o "$T/o/nulldev" < "$B/ok.ms"
  is "$rc:$(test -c "$T/o/nulldev" && echo chardev)" "0:chardev" "train -o CHARDEV (mknod c 1 3): written through, still a device"
  run "$BIN/knn-select" --build "$T/o/nulldev" < "$B/emb.ms"
  is "$rc:$(test -c "$T/o/nulldev" && echo chardev)" "0:chardev" "knn-select --build CHARDEV: still a device"
  test -c "$T/o/nulldev" || devices_safe=0
fi
if [ $devices_safe = 1 ] && [ -c /dev/full ]; then
  run "$BIN/train" --arch linear -o /dev/full < "$B/ok.ms"
  is "$rc:$(printf '%s\n' "$err" | grep -c ': error: .*/dev/full'):$(test -c /dev/full && echo chardev)" "1:1:chardev" \
    "train -o /dev/full: exit 1, one error line, /dev/full still a device"
  run "$BIN/knn-select" --build /dev/full < "$B/emb.ms"
  is "$rc:$(test -e /dev/full.ids || echo noids):$(test -c /dev/full && echo chardev)" "1:noids:chardev" \
    "knn-select --build /dev/full: exit 1, no /dev/full.ids, /dev/full still a device"
  is "$(ls -A /dev | grep -c '^\.full\.' || true)" 0 "no temp files left in /dev"
fi

# ---- issue 11: a signal during a write removes the temp file ----
# train writes a 14 MB model; the signal is sent as soon as its temp file
# appears (retried if the write won the race), and must leave nothing behind.
mkdir "$T/sig"
for sig in INT TERM HUP; do
  ok "SIG$sig while train -o writes: killed by it, no temp file, no output" $PY - "$BIN/train" "$B/ok.ms" "$T/sig" "$sig" <<'PYEOF'
import os, signal, subprocess, sys, time
train, data, d, name = sys.argv[1:]
sig = getattr(signal, "SIG" + name)
out = os.path.join(d, "m.model")
def dfl():  # as from an interactive shell, whatever the test runner ignores
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP): signal.signal(s, signal.SIG_DFL)
for attempt in range(20):
    with open(data, "rb") as f:
        p = subprocess.Popen([train, "--arch", "mlp:400000", "--epochs", "0", "-o", out], stdin=f,
                             stderr=subprocess.DEVNULL, preexec_fn=dfl)
        while p.poll() is None and not any(".tmp." in n for n in os.listdir(d)):
            time.sleep(0.0005)
        if p.poll() is None:
            p.send_signal(sig)
        rc = p.wait()
    left = os.listdir(d)
    if rc == -sig:
        assert left == [], left
        sys.exit(0)
    assert rc == 0, rc          # the write finished first: try again
    os.unlink(out)
sys.exit("the write always finished before the signal")
PYEOF
done
# A file size limit: the kernel's SIGXFSZ mid-write.
rc=$(bash -c "ulimit -f 2000; '$BIN/train' --arch mlp:400000 --epochs 0 -o '$T/sig/x.model' < '$B/ok.ms' 2>/dev/null; echo \$?" 2>/dev/null)
is "$rc:$(ls -A "$T/sig" | wc -l)" "153:0" "train -o past ulimit -f: killed by SIGXFSZ, no temp file left"
is "$(ls -A "$T" | grep -vE "^\.(run|ok)\.(out|err)$" | grep -cE '\.tmp|~$|^\.[^.]' || true)" 0 "no temp files left behind"
done_testing
