#!/bin/bash
# python/fastif_stream.py: Python writes input the tools accept and reads
# what they write (model file, embeddings, predictions), checked against
# numpy recomputations.
. "$(dirname "$0")/lib.sh"

cat > "$T/write.py" <<'EOF'
import sys
import numpy as np
import fastif_stream as fs
rng = np.random.default_rng(3)
C, d, n = 3, 5, 60
centers = rng.standard_normal((C, d)) * 2
with open(sys.argv[1], "wb") as f:
    for i in range(n):
        y = i % C
        x = (centers[y] + rng.standard_normal(d)).astype(np.float32)
        fs.write_record(f, {"id": "ex%d" % i, "label": y, "x": x})
EOF
ok "Python writes an example stream" $PY "$T/write.py" "$T/train.msgpack"
ok "dump accepts it" dump "$T/train.msgpack" -n 1
run train --arch linear < "$T/train.msgpack"
is "$rc" 0 "train accepts the Python-written examples"
"$BIN/train" --arch linear < "$T/train.msgpack" > "$T/model" 2>/dev/null
embed --model "$T/model" < "$T/train.msgpack" > "$T/emb.msgpack" 2>/dev/null
# (eval is also a shell builtin: call the tool by path)
"$BIN/eval" --model "$T/model" < "$T/train.msgpack" > "$T/pred.msgpack" 2>/dev/null

cat > "$T/check.py" <<'EOF'
import sys
import numpy as np
import fastif_stream as fs
T = sys.argv[1]
with open(T + "/train.msgpack", "rb") as f:
    ex = list(fs.read_stream(f))
with open(T + "/model", "rb") as f:
    model = fs.read_single(f)
assert model["format"] == "fastif-model", model.get("format")
W = model["params"]["layers.0.weight"].astype(np.float64)
b = model["params"]["layers.0.bias"].astype(np.float64)
assert W.shape == (3, 5) and b.shape == (3,), (W.shape, b.shape)
with open(T + "/emb.msgpack", "rb") as f:
    emb = list(fs.read_stream(f))
assert [e["id"] for e in emb] == [e["id"] for e in ex]
# a linear model's embedding is its input, bit for bit
assert all(np.array_equal(e["emb"], x["x"]) and e["emb"].dtype == np.float32 for e, x in zip(emb, ex))
with open(T + "/pred.msgpack", "rb") as f:
    pred = list(fs.read_stream(f))
assert len(pred) == len(ex)
for p, x in zip(pred, ex):
    z = W @ x["x"].astype(np.float64) + b
    q = np.exp(z - z.max()); q /= q.sum()
    assert np.allclose(p["probs"], q, atol=1e-5), (p["probs"], q)
    assert p["pred"] == int(np.argmax(q))
    assert abs(p["loss"] - (-np.log(q[x["label"]]))) < 1e-4
print("ok")
EOF
run $PY "$T/check.py" "$T"
is "$out" "ok" "Python reads the model, embeddings and predictions; they match numpy"
[ "$out" = ok ] || diag "$err"

# the module itself refuses what the format forbids
cat > "$T/refuse.py" <<'EOF'
import io, sys
import numpy as np
import fastif_stream as fs
def refuses(f, *a):
    try:
        f(*a)
    except fs.StreamError as e:
        return str(e)
    raise AssertionError("accepted %r" % (a,))
b = io.BytesIO()
refuses(fs.write_record, b, {"id": "a b"})
refuses(fs.write_record, b, {"x": 1})
refuses(fs.write_record, b, {"id": "a", "x": np.zeros(2, np.float16)})
refuses(fs.write_record, b, {"id": "a", "m": {"dtype": "f32"}})
fs.write_record(b, {"id": "a", "x": np.arange(6, dtype=np.int64).reshape(2, 3)})
fs.write_record(b, {"id": "b", "x": np.arange(3, dtype=">f4")})   # big-endian input is converted
data = b.getvalue()
recs = list(fs.read_stream(io.BytesIO(data)))
assert recs[0]["x"].tolist() == [[0, 1, 2], [3, 4, 5]] and recs[1]["x"].dtype == np.dtype("<f4")
msg = refuses(lambda: list(fs.read_stream(io.BytesIO(data[:-3]))))
assert "record #1" in msg and "truncated" in msg, msg
print("ok")
EOF
run $PY "$T/refuse.py"
is "$out" "ok" "fastif_stream refuses bad records and detects truncation"
[ "$out" = ok ] || diag "$err"
done_testing
