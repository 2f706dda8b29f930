#!/bin/bash
# grad: dense per-example gradients against an independent numpy
# computation of the softmax-regression gradient, factored gradients against
# the dense ones, --only, --label pred, --with-l2, --params, usage errors.
. "$(dirname "$0")/lib.sh"

cat > "$T/gen.py" <<'PYEOF'
import msgpack, numpy as np, sys
n, d, C, seed = (int(a) for a in sys.argv[1:5])
rng = np.random.default_rng(seed)
W = np.random.default_rng(7).normal(size=(C, d))
X = rng.normal(size=(n, d)).astype('<f4')
y = np.argmax(X @ W.T + rng.gumbel(size=(n, C)), axis=1)
out = sys.stdout.buffer
for i in range(n):
    out.write(msgpack.packb({"id": "e%d" % i, "label": int(y[i]),
        "x": {"dtype": "f32", "shape": [d], "data": X[i].tobytes()}}))
PYEOF
$PY "$T/gen.py" 300 6 3 1 > "$T/train.mp"
$PY "$T/gen.py" 40 6 3 2 > "$T/test.mp"
ok "train linear" sh -c "train --arch linear --l2 0.01 < '$T/train.mp' > '$T/lin.model' 2>/dev/null"
ok "train mlp relu" sh -c "train --arch mlp:5,4:relu --optim sgd --epochs 3 < '$T/train.mp' > '$T/mlp.model' 2>/dev/null"
ok "train mlp tanh" sh -c "train --arch mlp:7 --epochs 2 < '$T/train.mp' > '$T/mlpt.model' 2>/dev/null"

ok "dense gradients" sh -c "grad --model '$T/lin.model' --batch 64 < '$T/test.mp' > '$T/g.mp' 2>/dev/null"
ok "dense gradients with l2" sh -c "grad --model '$T/lin.model' --with-l2 < '$T/test.mp' > '$T/gl2.mp' 2>/dev/null"
ok "pred-label gradients" sh -c "grad --model '$T/lin.model' --label pred < '$T/test.mp' > '$T/gp.mp' 2>/dev/null"
ok "bias-only gradients" sh -c "grad --model '$T/lin.model' --params layers.0.bias < '$T/test.mp' > '$T/gb.mp' 2>/dev/null"
cat > "$T/check_linear.py" <<'PYEOF'
import msgpack, numpy as np, sys
T = sys.argv[1]
def recs(p): return list(msgpack.Unpacker(open(p, 'rb'), raw=False))
def ten(t): return np.frombuffer(t["data"], "<f4").reshape(t["shape"]).astype(np.float64)
m = msgpack.unpackb(open(T + "/lin.model", "rb").read(), raw=False)
W, b, l2 = ten(m["params"]["layers.0.weight"]), ten(m["params"]["layers.0.bias"]), m["l2"]
ex = recs(T + "/test.mp")
X = np.stack([ten(r["x"]) for r in ex]); y = np.array([r["label"] for r in ex])
Z = X @ W.T + b; P = np.exp(Z - Z.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
def want(labels, with_l2=False):
    D = P - np.eye(W.shape[0])[labels]
    G = np.concatenate([(D[:, :, None] * X[:, None, :]).reshape(len(X), -1), D], 1)
    if with_l2: G[:, :W.size] += l2 * W.ravel()
    return G
def got(p):
    rs = recs(p)
    return [r["id"] for r in rs], np.stack([ten(r["grad"]) for r in rs]), rs
fails = 0
def check(name, cond, extra=""):
    global fails
    print(("ok" if cond else "FAIL"), name, extra)
    fails += not cond
ids, G, rs = got(T + "/g.mp")
check("ids in input order", ids == [r["id"] for r in ex])
check("params field names the selection", rs[0]["params"] == "layers.0.weight,layers.0.bias")
err = np.abs(G - want(y)).max()
check("per-example gradients match numpy", err < 1e-5, "max err %g" % err)
# sum of per-example gradients = n * mean gradient of an independent computation
D = P - np.eye(W.shape[0])[y]
mean = np.concatenate([(D.T @ X).ravel(), D.sum(0)]) / len(X)
err = np.abs(G.sum(0) - len(X) * mean).max()
check("sum of gradients = n * mean gradient", err < 1e-4, "max err %g" % err)
_, Gl, _ = got(T + "/gl2.mp")
err = np.abs(Gl - want(y, True)).max()
check("--with-l2 adds l2*w on weights only", err < 1e-5 and l2 > 0, "max err %g" % err)
_, Gp, rp = got(T + "/gp.mp")
pred = P.argmax(1)
check("--label pred uses the prediction", [r["label"] for r in rp] == list(pred) and (pred != y).any())
err = np.abs(Gp - want(pred)).max()
check("--label pred gradients", err < 1e-5, "max err %g" % err)
_, Gb, _ = got(T + "/gb.mp")
err = np.abs(Gb - D).max()
check("--params layers.0.bias gives p - onehot", Gb.shape == D.shape and err < 1e-6, "max err %g" % err)
sys.exit(1 if fails else 0)
PYEOF
run $PY "$T/check_linear.py" "$T"
is "$rc" 0 "linear gradients agree with numpy"
echo "$out" | sed 's/^/# /'

# Factored gradients reconstruct the dense ones: weight = outer(delta, a).
cat > "$T/check_factored.py" <<'PYEOF'
import msgpack, numpy as np, sys
dense, fact, exf = sys.argv[1:4]
def recs(p): return list(msgpack.Unpacker(open(p, 'rb'), raw=False))
def ten(t): return np.frombuffer(t["data"], "<f4").reshape(t["shape"]).astype(np.float64)
D, F, E = recs(dense), recs(fact), recs(exf)
bad = 0
for d, f, e in zip(D, F, E):
    assert d["id"] == f["id"] == e["id"] and d["params"] == f["params"]
    parts, K = [], 0
    layers = sorted({int(k.split(".")[2]) for k in f if k.startswith("a.layers.")})
    for K in layers:
        a, dl = ten(f["a.layers.%d" % K]), ten(f["delta.layers.%d" % K])
        sel = d["params"].split(",")
        if "layers.%d.weight" % K in sel: parts.append(np.outer(dl, a).ravel())
        if "layers.%d.bias" % K in sel: parts.append(dl)
    g, want = np.concatenate(parts), ten(d["grad"])
    if np.abs(g - want).max() > 1e-5 * max(1, np.abs(want).max()): bad += 1
    # the first layer's input is the example itself
    if 0 in layers and "x" in e and np.abs(ten(f["a.layers.0"]) - ten(e["x"])).max() > 0: bad += 1
print("records", len(D), "bad", bad)
sys.exit(1 if bad or len(D) != len(E) or len(F) != len(E) else 0)
PYEOF
for m in lin mlp mlpt; do
  grad --model "$T/$m.model" < "$T/test.mp" > "$T/d.$m.mp" 2>/dev/null
  ok "factored gradients ($m)" sh -c "grad --model '$T/$m.model' --factored --batch 16 < '$T/test.mp' > '$T/f.$m.mp' 2>/dev/null"
  run $PY "$T/check_factored.py" "$T/d.$m.mp" "$T/f.$m.mp" "$T/test.mp"
  is "$rc" 0 "factored gradients reconstruct the dense ones ($m): $out"
done
grad --model "$T/mlp.model" --params layers.1 < "$T/test.mp" > "$T/d.sel.mp" 2>/dev/null
grad --model "$T/mlp.model" --params layers.1 --factored < "$T/test.mp" > "$T/f.sel.mp" 2>/dev/null
run $PY "$T/check_factored.py" "$T/d.sel.mp" "$T/f.sel.mp" "$T/test.mp"
is "$rc" 0 "factored hidden layer only (--params layers.1): $out"
run $PY -c "
import msgpack; r = next(iter(msgpack.Unpacker(open('$T/f.sel.mp','rb'), raw=False)))
print(sorted(k for k in r if '.' in k))"
is "$out" "['a.layers.1', 'delta.layers.1']" "factored record carries only the selected layer"

# bow: layer 0's input is the mean embedding bag (a truncated bow model).
$PY -c "
import msgpack, sys, random
R = random.Random(3); w = 'great tasty love fresh stale awful bland gross'.split()
for i in range(60):
    sys.stdout.buffer.write(msgpack.packb({'id': 't%d' % i, 'label': i % 3, 'text': ' '.join(R.choice(w) for _ in range(5))}))" > "$T/text.mp"
train --arch bow:256,6,5 --epochs 2 --lr 0.01 < "$T/text.mp" > "$T/bow.model" 2>/dev/null
grad --model "$T/bow.model" < "$T/text.mp" > "$T/d.bow.mp" 2>/dev/null
ok "factored gradients (bow)" sh -c "grad --model '$T/bow.model' --factored < '$T/text.mp' > '$T/f.bow.mp' 2>/dev/null"
run $PY "$T/check_factored.py" "$T/d.bow.mp" "$T/f.bow.mp" "$T/text.mp"
is "$rc" 0 "factored gradients reconstruct the dense ones (bow): $out"
run grad --model "$T/bow.model" --params all --factored < "$T/text.mp"
is "$rc" 2 "embedding.weight has no factored form (usage error)"
like "$err" "embedding.weight" "and the error says which parameter"

# --only keeps the examples any candidates record names, in input order.
$PY -c "
import msgpack, sys
o = sys.stdout.buffer
o.write(msgpack.packb({'id': 'q1', 'ids': ['e5', 'e2', 'nope'], 'dist': {'dtype': 'f32', 'shape': [0], 'data': b''}}))
o.write(msgpack.packb({'id': 'q2', 'ids': ['e2', 'e30']}))" > "$T/cand.mp"
run sh -c "grad --model '$T/lin.model' --only '$T/cand.mp' --batch 2 < '$T/test.mp' | $PY -c \"
import msgpack, sys; print(' '.join(r['id'] for r in msgpack.Unpacker(sys.stdin.buffer, raw=False)))\""
is "$out" "e2 e5 e30" "--only keeps exactly the candidate ids"
$PY -c "import msgpack, sys; sys.stdout.buffer.write(msgpack.packb({'id': 'q9', 'ids': ['x1', 'x2']}))" > "$T/cand-other.mp"
run grad --model "$T/lin.model" --only "$T/cand-other.mp" < "$T/test.mp"
like "$rc:$(printf '%s' "$err" | grep ': error: ')" "^1:grad: error: --only .*cand-other.mp: none of the [0-9]+ input examples is among its ids" \
  "--only with candidates naming none of the examples is an error (the wrong file)"
run grad --model "$T/lin.model" --only "$T/cand-other.mp" < /dev/null
is "$rc" 0 "... while an empty input stays an empty output"

# Errors.
run grad --model "$T/lin.model" --params nosuch < "$T/test.mp"
is "$rc" 2 "unknown parameter is a usage error"
run grad --model "$T/lin.model" --factored --with-l2 < "$T/test.mp"
is "$rc" 2 "--factored --with-l2 is a usage error"
$PY -c "
import msgpack, sys, numpy as np
sys.stdout.buffer.write(msgpack.packb({'id': 'u1', 'x': {'dtype': 'f32', 'shape': [6], 'data': np.ones(6, '<f4').tobytes()}}))" > "$T/nolabel.mp"
run grad --model "$T/lin.model" < "$T/nolabel.mp"
is "$rc" 1 "gold gradients need labels"
like "$err" "u1" "the error names the record"
run grad --model "$T/lin.model" --label pred < "$T/nolabel.mp"
is "$rc" 0 "pred gradients need no labels"
done_testing
