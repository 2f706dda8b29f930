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
# ... from the offset standard input had, not byte 0: the records after a first one read by another
$PY - "$T" <<'PY'
import sys, subprocess, fastif_stream as fs
d = sys.argv[1]
recs = list(fs.read_stream(open(d + "/r7bias.g", "rb")))
with open(d + "/tail.g", "wb") as f:
    for r in recs[1:]: fs.write_record(f, r)
with open(d + "/r7bias.g", "rb") as f:
    u = fs.msgpack.Unpacker(f, raw=False); next(u); f.seek(u.tell())  # the first record consumed
    sys.exit(subprocess.run(["curvature", "--method", "ekfac", "-o", d + "/off.ekfac"], stdin=f).returncode)
PY
is "$?" 0 "ekfac from standard input opened past its first record"
curvature --method ekfac --grads "$T/tail.g" -o "$T/tail.ekfac" 2>/dev/null
ok "... gives the file of the remaining records" cmp "$T/off.ekfac" "$T/tail.ekfac"
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
# records whose curvature would be empty: ihvp refuses such a file, so curvature must not write it
with open(d + "/w0.g", "wb") as f:
    fs.write_record(f, {"id": "w0", "params": "l.weight", "a.l": np.ones((2, 0), np.float32), "delta.l": np.ones((2, 3), np.float32)})
with open(d + "/w0b.g", "wb") as f:  # P = 3 (the bias), but the weight [3, 0] is an empty factor
    fs.write_record(f, {"id": "w0b", "params": "l.weight,l.bias", "a.l": np.ones((2, 0), np.float32), "delta.l": np.ones((2, 3), np.float32)})
with open(d + "/huge.g", "wb") as f:  # 0 rows of a declared width 2^40: A would be [2^40, 2^40]
    fs.write_record(f, {"id": "huge", "params": "l.weight", "a.l": np.ones((0, 2**40), np.float32), "delta.l": np.ones((0, 3), np.float32)})
with open(d + "/p0.g", "wb") as f:
    fs.write_record(f, {"id": "p0", "params": "", "grad": np.ones(0, np.float32)})
with open(d + "/ex.ms", "wb") as f:
    fs.write_record(f, {"id": "e", "label": 1, "x": np.ones(3, np.float32)})
PY
run curvature --method kfac --grads "$T/bad.g" -o "$T/x.curv"; is "$rc" 1 "a record of another width: exit 1"
like "$err" "record 'b'.*width" "... naming the record"
for z in w0 p0; do
  run curvature --method kfac --grads "$T/$z.g" -o "$T/x.curv"; is "$rc" 1 "$z: an empty curvature (P = 0): exit 1"
  like "$err" "^curvature: error: record '$z'.*P = 0" "... naming the first record"
  ok "... no file" test ! -e "$T/x.curv"
done
run curvature --method kfac --grads "$T/w0b.g" -o "$T/x.curv"; is "$rc" 1 "a selected weight of width 0: exit 1"
like "$err" "^curvature: error: record 'w0b'.*layer 'l' has in 0, out 3" "... naming the record and the layer"
run curvature --method kfac --grads "$T/huge.g" -o "$T/x.curv"; is "$rc" 1 "a factor too large to size: exit 1"
like "$err" "^curvature: error: record 'huge'.*layer 'l'.*overflow" "... naming the record and the layer"
run curvature --method diag --grads "$T/ex.ms" -o "$T/x.curv"; is "$rc" 1 "examples are not gradients: exit 1"
like "$err" "record 'e'.*not a gradient record" "... naming the record"
# memory independent of N when a layer has 0 rows in every record (nothing to
# buffer, so no flush: those examples must not be counted either)
$PY - "$T" <<'PY'
import sys, io, numpy as np, fastif_stream as fs
b = io.BytesIO()
fs.write_record(b, {"id": "r0000000", "params": "l.weight,z.weight", "a.l": np.ones((1, 3), np.float32),
                    "delta.l": np.ones((1, 2), np.float32), "a.z": np.ones((0, 3), np.float32),
                    "delta.z": np.ones((0, 2), np.float32)})
t = b.getvalue(); i = t.index(b"r0000000")
for name, N in (("r0-few.g", 2000), ("r0-many.g", 400000)):
    with open(sys.argv[1] + "/" + name, "wb") as f:
        f.write(b"".join(t[:i] + b"r%07d" % n + t[i + 8:] for n in range(N)))
PY
for m in diag ekfac; do
  for g in few many; do
    /usr/bin/time -f '%M' -o "$T/rss.$g" curvature --method $m --grads "$T/r0-$g.g" -o "$T/r0.curv" 2>/dev/null
  done
  few=$(tail -n 1 "$T/rss.few"); many=$(tail -n 1 "$T/rss.many")
  ok "$m: 0-row layer, peak RSS of 400k records within 1.5 MB of 2k's ($many vs $few KB)" test $((many - few)) -lt 1500
done
rm -f "$T"/r0-*.g

# a forged or broken curvature file: one line, exit 1, nothing allocated from its claims
$PY - "$T" <<'PY'
import sys, fastif_stream as fs
d = sys.argv[1]
recs = list(fs.read_stream(open(d + "/r7bias.kfac", "rb")))
def write(name, rs):
    with open(d + "/" + name, "wb") as f:
        for r in rs: fs.write_record(f, r)
h = dict(recs[0]); h["P"] = 10**12; write("bigP.curv", [h] + recs[1:])
write("short.curv", recs[:-1])
h = dict(recs[0]); h["P"] = 10**15; h["blocks"] = 2 * 10**9; write("bigblocks.curv", [h] + recs[1:])
b = dict(recs[1]); b["off_w"] = 3; write("overlap.curv", [recs[0], b] + recs[2:])
h = dict(recs[0]); h["P"] = 2**62; b = dict(recs[1]); b["in"] = b["out"] = 2**61  # k * out overflows int64
write("bigkron.curv", [h, b] + recs[2:])
# a curvature is positive semi-definite: a negative eigenvalue or diagonal is a broken file
b = dict(recs[1]); b["eigA"] = -b["eigA"]; write("negeigA.curv", [recs[0], b] + recs[2:])
d7 = list(fs.read_stream(open(d + "/r7bias.diag", "rb")))
b = dict(d7[1]); b["diag"] = b["diag"].copy(); b["diag"][2] = -1; write("negdiag.curv", [d7[0], b] + d7[2:])
PY
for f in bigP short bigblocks overlap bigkron negeigA negdiag; do
  run ihvp --curvature "$T/$f.curv" < "$T/r7bias.g"; is "$rc" 1 "curvature file $f: exit 1"
  is "$(printf '%s\n' "$err" | grep -c .)" 1 "... one line: $err"
done
like "$(ihvp --curvature "$T/bigblocks.curv" < "$T/r7bias.g" 2>&1 >/dev/null)" "bigblocks.curv: 2000000000 blocks announced, 3 found" \
  "a forged block count: nothing allocated from it, the shortfall reported"
like "$(ihvp --curvature "$T/bigkron.curv" < "$T/r7bias.g" 2>&1 >/dev/null)" "record '.*block larger than P" \
  "in x out past int64: refused before multiplying"
like "$(ihvp --curvature "$T/negdiag.curv" < "$T/r7bias.g" 2>&1 >/dev/null)" "record '.*'diag' has -1 at element 2" \
  "a negative diagonal: the error names the record and the element"

# grad --label sample: labels drawn from the model's predictive distribution
# (the true Fisher's), seeded by --seed and the example's id
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]; rng = np.random.default_rng(4)
C = rng.standard_normal((3, 5)) * 0.8
with open(d + "/tr.ms", "wb") as f:
    for i in range(150):
        y = i % 3
        fs.write_record(f, {"id": "t%d" % i, "label": y, "x": (C[y] + rng.standard_normal(5)).astype(np.float32)})
x = (C[0] * 0.3 + C[1] * 0.3).astype(np.float32)  # an ambiguous point, copied under 3000 ids
with open(d + "/same.ms", "wb") as f:
    for i in range(3000):
        fs.write_record(f, {"id": "s%d" % i, "label": 0, "x": x})
PY
train --arch linear --epochs 20 < "$T/tr.ms" > "$T/lin.model" 2>/dev/null
runb() { "$@" >"$T/.run.out" 2>"$T/.run.err"; rc=$?; err=$(cat "$T/.run.err"); }
runb grad --model "$T/lin.model" --factored --label sample < "$T/same.ms"; is "$rc" 0 "grad --label sample runs"
cp "$T/.run.out" "$T/s1.g"
grad --model "$T/lin.model" --factored --label sample --batch 7 < "$T/same.ms" > "$T/s1b.g" 2>/dev/null
ok "the same labels in batches of 7 (seeded by id, not by position)" cmp "$T/s1.g" "$T/s1b.g"
grad --model "$T/lin.model" --factored --label sample --seed 2 < "$T/same.ms" > "$T/s2.g" 2>/dev/null
not_ok "another --seed draws other labels" cmp "$T/s1.g" "$T/s2.g"
"$BIN/eval" --model "$T/lin.model" < "$T/same.ms" > "$T/same.pred" 2>/dev/null
r=$($PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
from scipy.stats import chisquare
d = sys.argv[1]
g = list(fs.read_stream(open(d + "/s1.g", "rb")))
p = next(fs.read_stream(open(d + "/same.pred", "rb")))["probs"].astype(float)
assert all(r["label_kind"] == "sample" for r in g)
counts = np.bincount([r["label"] for r in g], minlength=3)
# delta of softmax regression is p - onehot(label): the record's own label
for r in g[:50]:
    assert np.allclose(r["delta.layers.0"], p - np.eye(3)[r["label"]], atol=1e-5)
print("%.4f %s %s" % (chisquare(counts, p / p.sum() * len(g)).pvalue, counts.tolist(), np.round(p, 3).tolist()))
PY
)
set -- $r
ok "sampled labels follow the predictive distribution (chi-square p = $1; counts and p: ${*:2})" \
  $PY -c "import sys; sys.exit(not $1 > 0.001)"
done_testing
