#!/bin/bash
# curvature: K-FAC, EK-FAC and the diagonal Fisher fitted from synthetic
# layer-factor streams (ranks 7 and 1, with and without bias, dense parts)
# against the numpy reference in tests/curv/ref.py.
. "$(dirname "$0")/lib.sh"
REF=$TOP/tests/curv/ref.py

run curvature --help; is "$rc" 0 "curvature --help exits 0"
run curvature --bogus; is "$rc" 2 "bad option exits 2"
run curvature; is "$rc" 2 "missing -o is a usage error"

for kind in r7bias r1bias r7; do
  $PY "$REF" write "$T/$kind.g" $kind 300 7
  for m in kfac ekfac diag; do
    run curvature --method $m --grads "$T/$kind.g" -o "$T/$kind.$m"
    is "$rc" 0 "$kind: curvature --method $m runs"
    like "$err" "curvature: done 300 records" "$kind $m: done line"
    e=$($PY "$REF" check-fit "$T/$kind.$m" "$T/$kind.g" $m 2>&1)
    ok "$kind $m: factors, eigenvalues and diagonals match numpy (max rel err $e)" \
      $PY -c "import sys; sys.exit(not float('$e') < 2e-4)"
  done
done

# ekfac reads twice: standard input that is a file is reread, a pipe is refused
run curvature --method ekfac -o "$T/stdin.ekfac" < "$T/r7bias.g"
is "$rc" 0 "ekfac from standard input that is a regular file"
ok "... gives the bytes of --grads FILE" cmp "$T/stdin.ekfac" "$T/r7bias.ekfac"
run bash -c "cat '$T/r7bias.g' | curvature --method ekfac -o '$T/pipe.ekfac'"
is "$rc" 2 "ekfac from a pipe is a usage error"
like "$err" "method.*regular file" "... saying why"
ok "... and writes no file" test ! -e "$T/pipe.ekfac"
run bash -c "cat '$T/r7bias.g' | curvature --method kfac -o '$T/pipe.kfac'"
is "$rc" 0 "kfac reads a pipe (one pass)"
ok "... the same file" cmp "$T/pipe.kfac" "$T/r7bias.kfac"

# bad input: one line naming the record, exit 1, no file
printf '' > "$T/empty"
run curvature --method kfac --grads "$T/empty" -o "$T/x.curv"; is "$rc" 1 "no records: exit 1"
ok "... no file" test ! -e "$T/x.curv"
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]
with open(d + "/bad.g", "wb") as f:
    fs.write_record(f, {"id": "a", "params": "l.weight", "a.l": np.ones((2, 3), np.float32), "delta.l": np.ones((2, 2), np.float32)})
    fs.write_record(f, {"id": "b", "params": "l.weight", "a.l": np.ones((2, 4), np.float32), "delta.l": np.ones((2, 2), np.float32)})
with open(d + "/ex.ms", "wb") as f:
    fs.write_record(f, {"id": "e", "label": 1, "x": np.ones(3, np.float32)})
PY
run curvature --method kfac --grads "$T/bad.g" -o "$T/x.curv"; is "$rc" 1 "a record of another width: exit 1"
like "$err" "record 'b'.*width" "... naming the record"
run curvature --method diag --grads "$T/ex.ms" -o "$T/x.curv"; is "$rc" 1 "examples are not gradients: exit 1"
like "$err" "record 'e'.*not a gradient record" "... naming the record"
done_testing
