#!/bin/bash
# import-csv, import-text, import-idx: real data checked record by record
# against independent readers (Python's csv module; gzip + numpy for IDX),
# RFC 4180 edge cases with golden records, and the error paths.
. "$(dirname "$0")/lib.sh"

FM=/usr/share/datasets/fashion-mnist
FOODS=$DATA/fine-foods.csv.xz

# Prints a stream as one JSON line per record (tensors as lists), sorted keys.
cat > "$T/show.py" <<'EOF'
import json, sys, msgpack, numpy as np
for r in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False):
    for k, v in r.items():
        if isinstance(v, dict) and "dtype" in v:
            r[k] = np.frombuffer(v["data"], "<f4").reshape(v["shape"]).tolist()
    print(json.dumps(r, sort_keys=True))
EOF
show() { $PY "$T/show.py" "$1"; }
# run, for commands that write a binary stream: stdout stays in $T/.run.out.
runb() { "$@" >"$T/.run.out" 2>"$T/.run.err"; rc=$?; err=$(cat "$T/.run.err"); }

for t in import-csv import-text import-idx; do
  run $t --help
  is "$rc" 0 "$t --help exits 0"
  like "$out" "^$t - [a-zA-Z]" "$t --help has a purpose line"
  like "$out" "^usage: $t " "$t --help has a usage line"
  run $t --no-such-option
  is "$rc" 2 "$t: bad option exits 2"
done

# ---- fine-food reviews: every record against Python's csv module ----
xz -dc "$FOODS" > "$T/foods.csv"
ok "fine-foods.csv.xz decompresses" test -s "$T/foods.csv"
for split in train test; do
  runb import-text --text review --label score --classes great,other --group product \
    --where split=$split "$T/foods.csv"
  cp "$T/.run.out" "$T/$split.mp"
  is "$rc" 0 "import-text --where split=$split"
  like "$err" "done [0-9]+ records" "import-text prints its summary"
done
xz -dc "$FOODS" | import-text --text review --label score > "$T/all.mp" 2>"$T/all.err"
is "$?" 0 "import-text reads stdin"
like "$(cat "$T/all.err")" "classes: other=0 great=1" "names numbered in order of first appearance"
cat > "$T/foods.py" <<'EOF'
import csv, sys, msgpack
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
classes = ["great", "other"]
seen = set()
for split, want_n in (("train", 4000), ("test", 1000)):
    recs = list(msgpack.Unpacker(open(f"{sys.argv[2]}/{split}.mp", "rb"), raw=False))
    want = [(f"row-{i + 1}", r) for i, r in enumerate(rows) if r["split"] == split]
    assert len(recs) == want_n == len(want), (split, len(recs))
    for rec, (rid, r) in zip(recs, want):
        assert set(rec) == {"id", "label", "text", "label_name", "group"}, rec.keys()
        assert rec["id"] == rid, (rec["id"], rid)
        assert rec["text"] == r["review"], rid
        assert rec["label"] == classes.index(r["score"]) and rec["label_name"] == r["score"], rid
        assert rec["group"] == r["product"], rid
        seen.add(rec["id"])
assert len(seen) == 5000
# without --classes: first appearance over the whole file
allr = list(msgpack.Unpacker(open(f"{sys.argv[2]}/all.mp", "rb"), raw=False))
order = list(dict.fromkeys(r["score"] for r in rows))
assert len(allr) == 5000 and all(a["label"] == order.index(r["score"]) for a, r in zip(allr, rows))
print("ok")
EOF
run $PY "$T/foods.py" "$T/foods.csv" "$T"
is "$out" ok "4,000 train + 1,000 test reviews match Python's csv module (text, labels, ids, groups)"
[ "$out" = ok ] || diag "$err"

gzip -c "$T/foods.csv" > "$T/foods.csv.gz"
import-text --text review --label score "$T/foods.csv.gz" 2>/dev/null > "$T/gz.mp"
ok "a .csv.gz file is read transparently, same records" cmp "$T/gz.mp" "$T/all.mp"

# Train and test imported separately without --classes agree on numbering.
import-text --text review --label score --where split=test "$T/foods.csv" > "$T/test2.mp" 2>/dev/null
run $PY -c '
import msgpack, sys
a = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))
b = {r["id"]: r for r in msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False)}
assert len(a) == 1000 and all(b[r["id"]]["label"] == r["label"] for r in a)
print("ok")' "$T/test2.mp" "$T/all.mp"
is "$out" ok "a --where split gets the same class numbers as the whole file"

# ---- RFC 4180 edge cases: quotes, embedded commas/newlines, CRLF ----
printf 'id,txt,lab\r\nq1,"say ""hi"", ok",pos\r\nq2,"two\r\nlines",neg\r\n\r\nq3,"a\nb,c",pos\r\nq4,,neg' > "$T/edge.csv"
runb import-text --id id --text txt --label lab "$T/edge.csv"
cp "$T/.run.out" "$T/edge.mp"
is "$rc" 0 "import-text on RFC 4180 edge cases"
is "$(show "$T/edge.mp")" '{"id": "q1", "label": 0, "label_name": "pos", "text": "say \"hi\", ok"}
{"id": "q2", "label": 1, "label_name": "neg", "text": "two\r\nlines"}
{"id": "q3", "label": 0, "label_name": "pos", "text": "a\nb,c"}
{"id": "q4", "label": 1, "label_name": "neg", "text": ""}' "edge-case records are exact"

# ---- import-csv: numeric features ----
printf 'f1,name,f2,y,f3\n1.5,a,-2,1\n' > "$T/ragged.csv"
printf 'f1,name,f2,y,f3\n1.5,a,-2,1,3e-1\n"0.25",b,1e2,0,7\n-0,"c",  4 ,2,0.1\n' > "$T/num.csv"
runb import-csv --label y --id name "$T/num.csv"
cp "$T/.run.out" "$T/num.mp"
is "$rc" 0 "import-csv with all-other features"
is "$(show "$T/num.mp")" "$($PY -c '
import csv, json, numpy as np
for r in csv.DictReader(open("'"$T/num.csv"'", newline="")):
    x = [float(np.float32(float(r[k]))) for k in ("f1", "f2", "f3")]
    print(json.dumps({"id": r["name"], "label": int(r["y"]), "x": x}, sort_keys=True))')" \
  "numeric labels, features as f32, order of columns kept"
runb import-csv --label y --features f3,f1 --classes neg,pos,mid --where name=b "$T/num.csv"
cp "$T/.run.out" "$T/num2.mp"
is "$(show "$T/num2.mp")" '{"id": "row-2", "label": 0, "label_name": "neg", "x": [7.0, 0.25]}' \
  "--features order, --classes names numeric labels, --where, row ids"
runb import-csv --label f1 "$T/num.csv"
is "$rc" 1 "non-numeric feature cell: exit 1"
like "$err" "^import-csv: error: .*num.csv:2: record 'row-1': column 'name' \(#2\): not a finite number: 'a'" \
  "non-numeric feature error names line, record and column"
runb import-csv --label y "$T/ragged.csv"
is "$rc" 1 "ragged row: exit 1"
like "$err" "ragged.csv:2: ragged row: 4 fields, expected 5" "ragged row error names the line"
printf 'a,b\n1,2\n3,"4\n5,6\n' > "$T/unterm.csv"
runb import-csv --label a "$T/unterm.csv"
is "$rc" 1 "unterminated quote: exit 1"
like "$err" "unterm.csv:3: unterminated quoted field \(no closing quote before the end of the input\)" \
  "unterminated quote error names the lines"
runb import-csv --label nope "$T/num.csv"
is "$rc" 1 "unknown column: exit 1"
like "$err" "no column 'nope' \(columns: f1, name, f2, y, f3\)" "unknown column error lists the columns"
printf 'id,x,y\na,1,0\nb,2,1\na,3,0\n' > "$T/dup.csv"
runb import-csv --id id --label y "$T/dup.csv"
like "$rc:$err" "^1:.*dup.csv:4: record 'a': duplicate id \(first on line 2\)" "duplicate id rejected"
printf 'x,y\n1,great\n2,meh\n' > "$T/cls.csv"
runb import-csv --label y --classes great,other "$T/cls.csv"
like "$rc:$err" "^1:.*cls.csv:3: record 'row-2': column 'y': label 'meh' is not one of --classes" \
  "label outside --classes rejected"
printf 'x,y\n1,0\n2,two\n' > "$T/mixed.csv"
runb import-csv --label y "$T/mixed.csv"
like "$rc:$err" "^1:.*mixed.csv:3: .*label 'two' is not a class number" "numeric label column with a name rejected"
runb import-csv --label y --max-row 4 "$T/cls.csv"
like "$rc:$err" "^1:.*cls.csv:2: row longer than 4 bytes" "row size limit enforced"

# ---- Fashion-MNIST: every record against gzip + numpy ----
start=$(date +%s%N)
import-idx --images $FM/train-images-idx3-ubyte.gz --labels $FM/train-labels-idx1-ubyte.gz \
  --prefix train- --fashion > "$T/fm-train.mp" 2>"$T/fm.err"
is "$?" 0 "import-idx train"
diag "import-idx: 60,000 images in $((($(date +%s%N) - start) / 1000000)) ms"
import-idx --images $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz \
  --prefix test- --fashion > "$T/fm-test.mp" 2>/dev/null
is "$?" 0 "import-idx test"
cat > "$T/fm.py" <<'EOF'
import gzip, sys, msgpack, numpy as np
names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
         "Sneaker", "Bag", "Ankle boot"]
def idx(path):
    b = gzip.open(path).read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)
fm, out = sys.argv[1], sys.argv[2]
for split, pre, n in (("train", "train", 60000), ("t10k", "test", 10000)):
    im = idx(f"{fm}/{split}-images-idx3-ubyte.gz").reshape(n, 784).astype(np.float32) / np.float32(255)
    lb = idx(f"{fm}/{split}-labels-idx1-ubyte.gz")
    k = 0
    lo, hi = 1.0, 0.0
    for r in msgpack.Unpacker(open(f"{out}/fm-{pre}.mp", "rb"), raw=False):
        assert r["id"] == f"{pre}-{k}" and r["label"] == lb[k] and r["label_name"] == names[lb[k]], r["id"]
        assert r["x"]["dtype"] == "f32" and r["x"]["shape"] == [784]
        x = np.frombuffer(r["x"]["data"], "<f4")
        assert np.array_equal(x, im[k]), r["id"]
        lo, hi = min(lo, x.min()), max(hi, x.max())
        k += 1
    assert k == n and lo == 0.0 and hi == 1.0, (k, lo, hi)
    assert np.bincount(lb).tolist() == [n // 10] * 10
print("ok")
EOF
run $PY "$T/fm.py" $FM "$T"
is "$out" ok "60,000 + 10,000 images: ids, labels, names, pixels in [0,1] equal numpy's parse"
[ "$out" = ok ] || diag "$err"
runb import-idx --images $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz --limit 3
cp "$T/.run.out" "$T/lim.mp"
is "$(show "$T/lim.mp" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] + ":" + str(json.loads(l)["label"]) for l in sys.stdin))')" \
  "img-0:9 img-1:2 img-2:1" "--limit and the default prefix; no names without --fashion"

# ---- IDX errors ----
head -c 2000000 $FM/t10k-images-idx3-ubyte.gz > "$T/cut.gz"
runb import-idx --images "$T/cut.gz" --labels $FM/t10k-labels-idx1-ubyte.gz
is "$rc" 1 "truncated gzip IDX: exit 1"
like "$err" "^import-idx: error: record 'img-[0-9]+': .*cut.gz: item [0-9]+ of 10000: truncated file" \
  "truncated gzip IDX error names the record"
$PY -c '
import gzip, sys
b = gzip.open(sys.argv[1]).read()
gzip.open(sys.argv[2], "wb").write(b[:16 + 784 * 5 + 100])           # whole gzip, short data
gzip.open(sys.argv[3], "wb").write(b"\x12\x34\x08\x03" + b[4:])
gzip.open(sys.argv[4], "wb").write(b[:4] + (2**31).to_bytes(4, "big") + b[8:16])
gzip.open(sys.argv[5], "wb").write(b[:8] + (0).to_bytes(4, "big") + b[12:16])
' $FM/t10k-images-idx3-ubyte.gz "$T/short.gz" "$T/magic.gz" "$T/huge.gz" "$T/zero.gz"
runb import-idx --images "$T/short.gz" --labels $FM/t10k-labels-idx1-ubyte.gz
like "$rc:$err" "^1:import-idx: error: record 'img-5': .*short.gz: item 5 of 10000: truncated file \(100 of 784 bytes\)" \
  "short IDX data: exit 1 naming the item"
runb import-idx --images "$T/magic.gz" --labels $FM/t10k-labels-idx1-ubyte.gz
like "$rc:$err" "^1:.*magic.gz: bad magic 12 34 08 03: not an IDX file" "bad magic: exit 1"
runb import-idx --images "$T/huge.gz" --labels $FM/t10k-labels-idx1-ubyte.gz
like "$rc:$err" "^1:.*huge.gz: declares 2147483648 items, more than the limit" "item count over the limit rejected before allocating"
runb import-idx --images "$T/zero.gz" --labels $FM/t10k-labels-idx1-ubyte.gz
like "$rc:$err" "^1:.*zero.gz: dimension 1 is 0" "zero-sized dimension rejected"
runb import-idx --images $FM/t10k-images-idx3-ubyte.gz --labels $FM/train-labels-idx1-ubyte.gz
like "$rc:$err" "^1:.*has 10000 images but .* has 60000 labels" "image/label count mismatch rejected"
runb import-idx --images $FM/t10k-labels-idx1-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz
like "$rc:$err" "^1:.*images need at least 2 dimensions" "a label file as images rejected"
{ gzip -dc $FM/t10k-labels-idx1-ubyte.gz; printf 'X'; } | gzip > "$T/trail.gz"
runb import-idx --images $FM/t10k-images-idx3-ubyte.gz --labels "$T/trail.gz"
like "$rc:$err" "^1:.*trail.gz: data after the 10000 declared items" "trailing data rejected"
runb import-idx --images $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz --class-names a,b,c
like "$rc:$err" "^1:import-idx: error: record 'img-0': label 9 but only 3 class names" "label beyond --class-names rejected"

# A repeated header name would make a column lookup by name pick one of the
# two silently (a,label,label: the second label became feature x[1]).
printf 'a,label,label\n1,0,1\n' > "$T/dup.csv"
runb import-csv "$T/dup.csv"
like "$rc:$err" "^1:import-csv: error: .*dup.csv:1: column name 'label' appears twice in the header \(columns 2 and 3\)" \
  "import-csv refuses a repeated column name, naming both columns"
printf 'review,score,review\ngood,great,bad\n' > "$T/dup2.csv"
runb import-text --text review --label score "$T/dup2.csv"
like "$rc:$err" "^1:import-text: error: .*dup2.csv:1: column name 'review' appears twice in the header \(columns 1 and 3\)" \
  "import-text too"

done_testing
