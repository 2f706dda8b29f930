#!/bin/bash
# Tensor streams and their JSON-lines form: golden samples written by an
# independent Python implementation, random round trips, and the reader's
# answers to truncated and corrupt input.
. "$(dirname "$0")/lib.sh"
S=$TOP/formats/samples

# ---- golden samples (formats/samples, written by make.py) ----
for s in examples embeddings edge; do
  ok "dump $s.msgpack equals the golden $s.jsonl" cmp <(dump "$S/$s.msgpack" 2>/dev/null) "$S/$s.jsonl"
  ok "dump --reverse $s.jsonl equals $s.msgpack byte for byte" cmp <(dump --reverse "$S/$s.jsonl" 2>/dev/null) "$S/$s.msgpack"
done
mkdir "$T/regen"
$PY "$S/make.py" "$T/regen"
for f in examples.msgpack examples.jsonl embeddings.msgpack embeddings.jsonl edge.msgpack edge.jsonl; do
  ok "make.py still reproduces $f" cmp "$T/regen/$f" "$S/$f"
done
run dump "$S/examples.msgpack"
is "$err" "dump: done 3 records" "summary line on stderr"
is "$(dump --head 2 < "$S/examples.msgpack" 2>/dev/null | wc -l)" 2 "--head 2 stops after two records"
is "$(dump --reverse --head 1 "$S/edge.jsonl" 2>/dev/null | dump 2>/dev/null)" "$(head -n 1 "$S/edge.jsonl")" "--reverse --head 1"

# ---- random streams: Python writes, dump | dump --reverse reproduces ----
cat > "$T/rand.py" <<'EOF'
import math, random, struct, sys
import numpy as np
import fastif_stream as fs

DT = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "u8": np.uint8}

def rand_array(rng, dt):
    ndim = rng.integers(0, 4)
    shape = [int(rng.choice([0, 1, 2, 3, 5])) for _ in range(ndim)]
    n = int(np.prod(shape)) if shape else 1
    # raw random bits: every exponent, subnormals, NaN payloads, infinities
    raw = rng.integers(0, 256, size=n * np.dtype(DT[dt]).itemsize, dtype=np.uint8)
    a = np.frombuffer(raw.tobytes(), DT[dt]).reshape(shape)
    if dt in ("f32", "f64") and n > 2:  # plus ordinary values and the named specials
        b = a.copy().reshape(-1)
        b[0] = rng.standard_normal()
        b[1] = [np.nan, -np.inf, np.inf, -0.0, 1.0][int(rng.integers(0, 5))]
        a = b.reshape(shape)
    return a

def rand_scalar(rng):
    k = int(rng.integers(0, 9))
    if k == 0: return int(rng.integers(-2**63, 2**63 - 1, dtype=np.int64))
    if k == 1: return int(rng.integers(0, 2**64 - 1, dtype=np.uint64))
    if k == 2: return struct.unpack("<d", rng.bytes(8))[0]   # any double, NaN payloads too
    if k == 3: return float(rng.standard_normal())
    if k == 4: return "".join(chr(int(c)) for c in rng.choice([0, 9, 10, 34, 47, 92, 65, 0xe9, 0x65e5, 0x1F389, 0x7f], 5))
    if k == 5: return bytes(rng.bytes(int(rng.integers(0, 40))))
    if k == 6: return [None, True, False][int(rng.integers(0, 3))]
    if k == 7: return [rand_scalar(rng) for _ in range(int(rng.integers(0, 4)))]
    return {"k%d" % i: rand_scalar(rng) for i in range(int(rng.integers(0, 3)))}

def records(seed, n):
    rng = np.random.default_rng(seed)
    for i in range(n):
        r = {"id": "r%d/%d" % (seed, i)}
        for dt in DT:
            r["t_" + dt] = rand_array(rng, dt)
        for j in range(int(rng.integers(0, 5))):
            r["s%d" % j] = rand_scalar(rng)
        yield r

def same(a, b):
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and a.tobytes() == b.tobytes())
    if isinstance(a, float):
        return isinstance(b, float) and struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) == type(b) and a == b

if sys.argv[1] == "write":
    with open(sys.argv[2], "wb") as f:
        for r in records(int(sys.argv[3]), int(sys.argv[4])):
            fs.write_record(f, r)
elif sys.argv[1] == "check":
    with open(sys.argv[2], "rb") as f:
        got = list(fs.read_stream(f))
    want = list(records(int(sys.argv[3]), int(sys.argv[4])))
    assert len(got) == len(want), (len(got), len(want))
    for g, w in zip(got, want):
        assert same(w, g), (w["id"], g["id"])
elif sys.argv[1] == "json":  # every line is valid JSON with the right id
    import json
    with open(sys.argv[2], encoding="utf-8") as f:
        ids = [json.loads(line)["id"] for line in f]
    want = [r["id"] for r in records(int(sys.argv[3]), int(sys.argv[4]))]
    assert ids == want, (ids[:3], want[:3])
EOF
$PY "$T/rand.py" write "$T/r.msgpack" 11 60
dump "$T/r.msgpack" > "$T/r.jsonl" 2>"$T/dump.err"
is "$?" 0 "dump reads a random Python-written stream (all dtypes, 0-size and 0-dim tensors, raw float bits)"
ok "dump's JSON lines parse as JSON (Python json) with the right ids" $PY "$T/rand.py" json "$T/r.jsonl" 11 60
dump --reverse "$T/r.jsonl" > "$T/r2.msgpack" 2>/dev/null
ok "random stream: dump | dump --reverse is byte-identical" cmp "$T/r.msgpack" "$T/r2.msgpack"
ok "Python reads dump --reverse output back to equal values" $PY "$T/rand.py" check "$T/r2.msgpack" 11 60
ok "piped: dump | dump --reverse" cmp <(dump < "$T/r.msgpack" 2>/dev/null | dump --reverse 2>/dev/null) "$T/r.msgpack"

# ---- empty input ----
run dump < /dev/null
is "$rc/$out/$err" "0//dump: done 0 records" "empty stream: 0 records, exit 0"
run dump --reverse < /dev/null
is "$rc/$out/$err" "0//dump: done 0 records" "empty JSON lines: 0 records, exit 0"
printf '\n  \n' > "$T/blank.jsonl"
run dump --reverse "$T/blank.jsonl"
is "$rc/$out" "0/" "blank lines are skipped"

# ---- truncated streams: exit 1, name the record index and its byte offset ----
# record start offsets from an independent reader
$PY - "$S/examples.msgpack" > "$T/offsets" <<'EOF'
import sys, msgpack
u = msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False)
offs = []
for r in u:
    offs.append(u.tell())
print(" ".join(str(o) for o in [0] + offs))
EOF
read -r -a OFF < "$T/offsets"   # OFF[i] = start of record i; OFF[3] = file size
size=${OFF[3]}
# cut points: first byte only, inside record 0, just after the map header of
# record 1, in the middle of record 2's tensors, one byte short of the end
for cut in 1 $((OFF[1] - 5)) $((OFF[1] + 3)) $(((OFF[2] + size) / 2)) $((size - 1)); do
  head -c "$cut" "$S/examples.msgpack" > "$T/cut"
  idx=0
  for i in 1 2; do [ "$cut" -gt "${OFF[$i]}" ] && idx=$i; done
  run dump "$T/cut"
  is "$rc" 1 "truncated at byte $cut: exit 1"
  like "$err" "record #$idx \\(byte ${OFF[$idx]}\\).*truncated" "truncated at byte $cut: names record #$idx at byte ${OFF[$idx]}"
  is "$(printf '%s\n' "$out" | grep -c '"id"')" "$idx" "truncated at byte $cut: the $idx complete records before it are written"
done

# ---- corrupt records: exit 1 with one clear line ----
$PY - "$T" <<'EOF'
import sys, msgpack
T = sys.argv[1]
good = {"id": "ok", "x": {"dtype": "f32", "shape": [1], "data": b"\0\0\x80?"}}
cases = {
    "baddtype": {"id": "a", "x": {"dtype": "f16", "shape": [1], "data": b"\0\0"}},
    "mismatch": {"id": "a", "x": {"dtype": "f32", "shape": [2, 3], "data": b"\0" * 20}},
    "noid": {"x": 1},
    "idspace": {"id": "a b", "x": 1},
    "idint": {"id": 7, "x": 1},
    "huge": {"id": "a", "x": {"dtype": "f32", "shape": [2**40, 2**40], "data": b""}},
    "extrakey": {"id": "a", "x": {"dtype": "f32", "shape": [0], "data": b"", "more": 1}},
    "strdata": {"id": "a", "x": {"dtype": "u8", "shape": [1], "data": "x"}},
}
for name, rec in cases.items():
    with open(f"{T}/{name}.msgpack", "wb") as f:
        f.write(msgpack.packb(good, use_bin_type=True) + msgpack.packb(rec, use_bin_type=True))
with open(f"{T}/notmap.msgpack", "wb") as f:
    f.write(msgpack.packb(good, use_bin_type=True) + msgpack.packb([1, 2], use_bin_type=True))
with open(f"{T}/ext.msgpack", "wb") as f:
    f.write(msgpack.packb({"id": "a", "e": msgpack.ExtType(5, b"xy")}, use_bin_type=True))
with open(f"{T}/badbyte.msgpack", "wb") as f:
    f.write(msgpack.packb(good, use_bin_type=True) + b"\x81\xa2id\xc1")
with open(f"{T}/latin1.msgpack", "wb") as f:  # str that is not UTF-8
    f.write(b"\x82\xa2id\xa1a\xa1s\xa2\xe9t")
EOF
corrupt() { # name regex
  run dump "$T/$1.msgpack"
  is "$rc" 1 "$1: exit 1"
  like "$err" "^dump: error: .*$2" "$1: says what is wrong"
  is "$(printf '%s\n' "$err" | wc -l)" 1 "$1: one line"
}
corrupt baddtype "record .*#1.*dtype"
corrupt mismatch "record 'a'.*field 'x.*length does not match"
corrupt noid "record #1 .*no 'id'"
corrupt idspace "record #1 .*'id'.*whitespace"
corrupt idint "record #1 .*'id' is not a string"
corrupt huge "record 'a'.*too large"
corrupt extrakey "record 'a'.*other than dtype"
corrupt strdata "record 'a'.*not binary"
corrupt notmap "record #1 .*not a msgpack map"
corrupt ext "record 'a'.*field 'e'.*ext"
corrupt badbyte "record #1 .*invalid msgpack byte"
corrupt latin1 "record 'a'.*field 's'.*not valid UTF-8"

# ---- malformed JSON lines: exit 1, line and column ----
bad() { # json regex desc
  printf '{"id":"ok"}\n%s\n' "$1" > "$T/bad.jsonl"
  run dump --reverse "$T/bad.jsonl"
  is "$rc" 1 "$3: exit 1"
  like "$err" "^dump: error: .*bad.jsonl: line 2, column $2" "$3: names line 2, column $2"
}
bad '{"id":"a","x":1' "16: ',' or '}' expected" "unterminated object"
bad '{"id":"a",}' "11: object key" "trailing comma"
bad '{"id":"a","x":01}' "16: leading zero" "leading zero"
bad '{"id":"a","x":nan}' "15: invalid literal" "bare nan"
bad '[1,2]' "1: a record must be a JSON object" "not an object"
bad '{"x":1}' "1: record has no \"id\"" "missing id"
bad '{"id":"a b"}' "7: .*whitespace" "id with a space"
bad '{"id":"a","a":1,"a":2}' "17: duplicate key" "duplicate key"
bad '{"id":"a","t":{"dtype":"f32","shape":[2],"data":[1]}}' "49: tensor data has 1 entries at depth 0, shape says 2" "data shorter than shape"
bad '{"id":"a","t":{"dtype":"f32","shape":[1,2],"data":[[1,[2]]]}}' "55: tensor element expected" "data nested too deep"
bad '{"id":"a","t":{"dtype":"u8","shape":[2],"data":[1,256]}}' "51: .*out of the u8 range" "u8 out of range"
bad '{"id":"a","t":{"dtype":"i32","shape":[1],"data":[2147483648]}}' "50: .*out of the i32 range" "i32 out of range"
bad '{"id":"a","t":{"dtype":"i64","shape":[1],"data":[1.0]}}' "50: i64 tensor element must be an integer" "float in an int tensor"
bad '{"id":"a","t":{"dtype":"f32","shape":[1],"data":[1e39]}}' "50: .*out of the f32 range" "f32 overflow"
bad '{"id":"a","t":{"dtype":"f32","shape":[1],"data":["nan"]}}' "50: .*NaN" "unknown special float name"
bad '{"id":"a","t":{"dtype":"f16","shape":[1],"data":[1]}}' "24: tensor dtype" "bad dtype"
bad '{"id":"a","t":{"dtype":"f32","shape":[1099511627776,1099511627776],"data":[]}}' "39: tensor dimension 0" "huge shape"
bad '{"id":"a","t":{"dtype":"f32","shape":[1],"data":[1],"x":2}}' "15: .*dtype" "tensor with an extra key"
bad '{"id":"a","b":{"$bin":"AB=="}}' "23: .*non-canonical base64" "non-canonical base64"
bad '{"id":"a","x":18446744073709551616}' "15: integer above the uint64 range" "integer too large"
bad '{"id":"a","x":"\ud800"}' "16: .*surrogate" "lone surrogate"
bad '{"id":"a","x":1e999}' "15: number out of the float64 range" "float overflow"
bad '{"id":"a"} {}' "12: unexpected text" "two values on a line"
bad "$(printf '{"id":"a","x":"\xff"}')" "16: invalid UTF-8" "invalid UTF-8"
deep=$(printf '[%.0s' $(seq 70))
bad "{\"id\":\"a\",\"x\":$deep" "[0-9]+: nested deeper than 64" "nesting depth is capped"
deep=$(printf '[%.0s' $(seq 40))$(printf ']%.0s' $(seq 40))
bad "{\"id\":\"a\",\"x\":$deep}" "[0-9]+: nested deeper than 32" "msgpack nesting limit"

# ---- a single map without id (model files) ----
$PY -c 'import msgpack,sys; sys.stdout.buffer.write(msgpack.packb({"format":"fastif-model","version":1,"params":{"w":{"dtype":"f32","shape":[1,2],"data":b"\0"*8}}}))' > "$T/model.msgpack"
dump --single "$T/model.msgpack" > "$T/model.jsonl" 2>/dev/null
is "$(cat "$T/model.jsonl")" '{"format":"fastif-model","version":1,"params":{"w":{"dtype":"f32","shape":[1,2],"data":[[0,0]]}}}' "--single dumps a model file"
ok "--single --reverse restores it" cmp <(dump --single --reverse "$T/model.jsonl" 2>/dev/null) "$T/model.msgpack"
not_ok "a model file is not a record stream (no id)" dump "$T/model.msgpack"

# ---- output errors are not silent ----
if [ -w /dev/full ]; then
  dump "$T/r.msgpack" > /dev/full 2>"$T/full.err"; rc=$?
  is "$rc" 1 "writing to a full disk: exit 1"
  like "$(cat "$T/full.err")" "error: .*(space|No space)" "writing to a full disk: says so"
  dump --reverse "$T/r.jsonl" > /dev/full 2>"$T/full.err"; rc=$?
  is "$rc" 1 "--reverse to a full disk: exit 1"
fi
done_testing
