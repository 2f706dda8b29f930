#!/bin/bash
# train / eval / embed / finetune-step: determinism, L-BFGS optimality checked
# in numpy, held-out accuracy, predictions and embeddings against numpy,
# one SGD step against numpy, class names, errors.
. "$(dirname "$0")/lib.sh"

cat > "$T/gen.py" <<'PYEOF'
import msgpack, numpy as np, sys
n, d, C, seed = (int(a) for a in sys.argv[1:5])
names = len(sys.argv) > 5
rng = np.random.default_rng(seed)
W = np.random.default_rng(7).normal(size=(C, d))
X = rng.normal(size=(n, d)).astype('<f4')
y = np.argmax(X @ W.T + 0.5 * rng.gumbel(size=(n, C)), axis=1)
out = sys.stdout.buffer
for i in range(n):
    r = {"id": "s%d-%d" % (seed, i), "label": int(y[i]),
         "x": {"dtype": "f32", "shape": [d], "data": X[i].tobytes()}}
    if names: r["label_name"] = "class-" + "abcdefgh"[y[i]]
    out.write(msgpack.packb(r))
PYEOF
$PY "$T/gen.py" 600 8 4 1 > "$T/train.mp"
$PY "$T/gen.py" 400 8 4 2 > "$T/test.mp"

# Determinism: same seed -> byte-identical model, for every optimiser.
for a in "linear" "mlp:12 --optim adam --epochs 3" "mlp:6,5:relu --optim sgd --epochs 3 --batch 32"; do
  train --arch $a --seed 5 < "$T/train.mp" > "$T/m1" 2>/dev/null
  train --arch $a --seed 5 < "$T/train.mp" > "$T/m2" 2>/dev/null
  ok "same seed, identical model ($a)" cmp "$T/m1" "$T/m2"
done
train --arch mlp:12 --epochs 1 --seed 5 < "$T/train.mp" > "$T/m1" 2>/dev/null
train --arch mlp:12 --epochs 1 --seed 6 < "$T/train.mp" > "$T/m2" 2>/dev/null
not_ok "a different seed gives a different model" cmp -s "$T/m1" "$T/m2"

# L-BFGS reaches the optimum: numpy's full gradient of mean CE + l2/2 |W|^2
# at the saved float parameters is tiny compared with its size at zero.
run train --arch linear --l2 0.01 -o "$T/lin.model" < "$T/train.mp"
is "$rc" 0 "train linear -o"
like "$err" "lbfgs: converged" "lbfgs reports convergence"
is "$out" "" "-o leaves stdout empty"
cat > "$T/optimal.py" <<'PYEOF'
import msgpack, numpy as np, sys
def ten(t): return np.frombuffer(t["data"], "<f4").reshape(t["shape"]).astype(np.float64)
m = msgpack.unpackb(open(sys.argv[1], "rb").read(), raw=False)
W, b, l2 = ten(m["params"]["layers.0.weight"]), ten(m["params"]["layers.0.bias"]), m["l2"]
ex = list(msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False))
X = np.stack([ten(r["x"]) for r in ex]); Y = np.eye(W.shape[0])[[r["label"] for r in ex]]
def grad(W, b):
    Z = X @ W.T + b; P = np.exp(Z - Z.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
    D = (P - Y) / len(X)
    return np.concatenate([(D.T @ X + l2 * W).ravel(), D.sum(0)])
g, g0 = np.linalg.norm(grad(W, b)), np.linalg.norm(grad(0 * W, 0 * b))
print("|grad| %.3g |grad at 0| %.3g" % (g, g0))
sys.exit(0 if g < 1e-5 * g0 else 1)
PYEOF
run $PY "$T/optimal.py" "$T/lin.model" "$T/train.mp"
is "$rc" 0 "lbfgs optimum: $out"

# eval: held-out accuracy well above chance (0.25) and the Bayes-ish level of
# this data; probabilities and losses agree with numpy.
run sh -c "$BIN/eval --model '$T/lin.model' < '$T/test.mp' > '$T/pred.mp'"
acc=$(printf '%s\n' "$err" | sed -n 's/.*accuracy \([0-9.]*\).*/\1/p')
ok "held-out accuracy $acc > 0.8" $PY -c "import sys; sys.exit(not float('$acc') > 0.8)"
cat > "$T/checkeval.py" <<'PYEOF'
import msgpack, numpy as np, sys
def ten(t): return np.frombuffer(t["data"], "<f4").reshape(t["shape"]).astype(np.float64)
m = msgpack.unpackb(open(sys.argv[1], "rb").read(), raw=False)
W, b = ten(m["params"]["layers.0.weight"]), ten(m["params"]["layers.0.bias"])
ex = list(msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False))
pr = list(msgpack.Unpacker(open(sys.argv[3], "rb"), raw=False))
X = np.stack([ten(r["x"]) for r in ex]); y = np.array([r["label"] for r in ex])
Z = X @ W.T + b; P = np.exp(Z - Z.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
Pg = np.stack([ten(r["probs"]) for r in pr])
assert [r["id"] for r in pr] == [r["id"] for r in ex]
assert [r["label"] for r in pr] == list(y)
assert [r["pred"] for r in pr] == list(P.argmax(1))
assert np.abs(Pg - P).max() < 1e-5, np.abs(Pg - P).max()
L = np.array([r["loss"] for r in pr])
assert np.abs(L + np.log(P[np.arange(len(y)), y])).max() < 1e-4
print("mean loss %.6f accuracy %.4f" % (L.mean(), (P.argmax(1) == y).mean()))
PYEOF
run $PY "$T/checkeval.py" "$T/lin.model" "$T/test.mp" "$T/pred.mp"
is "$rc" 0 "eval predictions agree with numpy ($out)"

# A model that learned nothing must fail the floor: labels shuffled.
$PY -c "
import msgpack, sys, random
rs = list(msgpack.Unpacker(open('$T/train.mp','rb'), raw=False)); ls = [r['label'] for r in rs]
random.Random(1).shuffle(ls)
for r, l in zip(rs, ls): r['label'] = l; sys.stdout.buffer.write(msgpack.packb(r))" > "$T/shuffled.mp"
train --arch linear < "$T/shuffled.mp" > "$T/shuffled.model" 2>/dev/null
$BIN/eval --model "$T/shuffled.model" < "$T/test.mp" 2> "$T/e.err" > /dev/null
acc=$(sed -n 's/.*accuracy \([0-9.]*\).*/\1/p' "$T/e.err")
ok "a model trained on shuffled labels stays below the floor ($acc)" $PY -c "import sys; sys.exit(not float('$acc') < 0.6)"

# eval without labels: no label/loss fields, no accuracy.
$PY -c "
import msgpack, sys
for r in msgpack.Unpacker(open('$T/test.mp','rb'), raw=False):
    del r['label']; sys.stdout.buffer.write(msgpack.packb(r))" > "$T/nolabel.mp"
run sh -c "$BIN/eval --model '$T/lin.model' < '$T/nolabel.mp' | $PY -c \"
import msgpack, sys; rs = list(msgpack.Unpacker(sys.stdin.buffer, raw=False)); print(len(rs), sorted(rs[0]))\""
is "$out" "400 ['id', 'pred', 'probs']" "eval without labels writes id, pred, probs"
like "$err" "no labelled examples" "and says there is no accuracy"

# mlp: trains to a useful held-out accuracy; embed = tanh hidden layer.
run train --arch mlp:16 --epochs 20 --lr 0.01 -o "$T/mlp.model" < "$T/train.mp"
run sh -c "$BIN/eval --model '$T/mlp.model' < '$T/test.mp' > /dev/null"
acc=$(printf '%s\n' "$err" | sed -n 's/.*accuracy \([0-9.]*\).*/\1/p')
ok "mlp held-out accuracy $acc > 0.8" $PY -c "import sys; sys.exit(not float('$acc') > 0.8)"
embed --model "$T/mlp.model" < "$T/test.mp" > "$T/emb.mp" 2>/dev/null
embed --model "$T/lin.model" < "$T/test.mp" > "$T/embl.mp" 2>/dev/null
run $PY -c "
import msgpack, numpy as np
def ten(t): return np.frombuffer(t['data'], '<f4').reshape(t['shape']).astype(np.float64)
m = msgpack.unpackb(open('$T/mlp.model', 'rb').read(), raw=False)
W, b = ten(m['params']['layers.0.weight']), ten(m['params']['layers.0.bias'])
ex = list(msgpack.Unpacker(open('$T/test.mp', 'rb'), raw=False))
X = np.stack([ten(r['x']) for r in ex])
E = np.stack([ten(r['emb']) for r in msgpack.Unpacker(open('$T/emb.mp', 'rb'), raw=False)])
El = np.stack([ten(r['emb']) for r in msgpack.Unpacker(open('$T/embl.mp', 'rb'), raw=False)])
assert E.shape == (400, 16) and np.abs(E - np.tanh(X @ W.T + b)).max() < 1e-5
assert (El == X).all()
print('ok')"
is "$out" "ok" "embed: tanh hidden layer for mlp, x for linear"

# finetune-step: one full-batch step = theta - lr * (mean grad + wd * W).
$PY -c "
import msgpack, sys
rs = list(msgpack.Unpacker(open('$T/test.mp','rb'), raw=False))[:7]
for r in rs: sys.stdout.buffer.write(msgpack.packb(r))" > "$T/few.mp"
ok "finetune-step" sh -c "finetune-step --model '$T/lin.model' --lr 0.5 --weight-decay 0.1 < '$T/few.mp' > '$T/ft.model' 2>/dev/null"
run $PY -c "
import msgpack, numpy as np
def ten(t): return np.frombuffer(t['data'], '<f4').reshape(t['shape']).astype(np.float64)
def load(p):
    m = msgpack.unpackb(open(p, 'rb').read(), raw=False)
    return ten(m['params']['layers.0.weight']), ten(m['params']['layers.0.bias'])
(W, b), (W2, b2) = load('$T/lin.model'), load('$T/ft.model')
ex = list(msgpack.Unpacker(open('$T/few.mp', 'rb'), raw=False))
X = np.stack([ten(r['x']) for r in ex]); Y = np.eye(4)[[r['label'] for r in ex]]
Z = X @ W.T + b; P = np.exp(Z - Z.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
D = (P - Y) / len(X)
eW = np.abs(W2 - (W - 0.5 * (D.T @ X + 0.1 * W))).max(); eb = np.abs(b2 - (b - 0.5 * D.sum(0))).max()
print('%.2e %.2e' % (eW, eb)); assert eW < 1e-5 and eb < 1e-5 and np.abs(W2 - W).max() > 1e-3"
is "$rc" 0 "finetune-step takes exactly one SGD step (err $out)"
finetune-step --model "$T/lin.model" --lr 0.1 --steps 3 --batch 2 --seed 4 < "$T/test.mp" > "$T/ft1" 2>/dev/null
finetune-step --model "$T/lin.model" --lr 0.1 --steps 3 --batch 2 --seed 4 < "$T/test.mp" > "$T/ft2" 2>/dev/null
ok "finetune-step is deterministic" cmp "$T/ft1" "$T/ft2"

# Class names from label_name, used by eval.
$PY "$T/gen.py" 200 8 4 3 names > "$T/named.mp"
train --arch linear < "$T/named.mp" > "$T/named.model" 2>/dev/null
run $PY -c "
import msgpack; print(msgpack.unpackb(open('$T/named.model', 'rb').read(), raw=False).get('classes'))"
is "$out" "['class-a', 'class-b', 'class-c', 'class-d']" "label_name becomes the model's class names"
run sh -c "$BIN/eval --model '$T/named.model' < '$T/named.mp' | $PY -c \"
import msgpack, sys; r = next(iter(msgpack.Unpacker(sys.stdin.buffer, raw=False))); print(r['pred_name'] == 'class-' + 'abcd'[r['pred']])\""
is "$out" "True" "eval writes pred_name"

# bow on text: runs, deterministic.
$PY -c "
import msgpack, sys, random
R = random.Random(3); good = 'great tasty love fresh yummy'.split(); bad = 'stale awful bland broken gross'.split()
for i in range(200):
    y = i % 2; w = [R.choice(good if y else bad) for _ in range(4)] + [R.choice(good + bad)]
    sys.stdout.buffer.write(msgpack.packb({'id': 't%d' % i, 'label': y, 'text': ' '.join(w)}))" > "$T/text.mp"
train --arch bow:512,8 --epochs 5 --lr 0.02 --seed 2 < "$T/text.mp" > "$T/b1" 2>/dev/null
train --arch bow:512,8 --epochs 5 --lr 0.02 --seed 2 < "$T/text.mp" > "$T/b2" 2>/dev/null
ok "bow: same seed, identical model" cmp "$T/b1" "$T/b2"
run sh -c "$BIN/eval --model '$T/b1' < '$T/text.mp' > /dev/null"
like "$err" "accuracy (0\.9|1\.0)" "bow learns the word polarity"

# Errors.
$PY -c "
import msgpack, sys, numpy as np
sys.stdout.buffer.write(msgpack.packb({'id': 'only', 'label': 0, 'x': {'dtype': 'f32', 'shape': [2], 'data': np.ones(2, '<f4').tobytes()}}))" > "$T/one.mp"
run train --arch linear < "$T/one.mp"
is "$rc" 1 "one class is a data error"
run train --arch linear -o "$T/never.model" < "$T/one.mp"
ok "no model file after an error" test ! -e "$T/never.model"
run train --arch nosuch < "$T/train.mp"
is "$rc" 2 "a bad --arch is a usage error"
run train < "$T/train.mp"
is "$rc" 2 "--arch is required"
done_testing
