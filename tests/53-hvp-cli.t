#!/bin/bash
# ihvp --method hvp writes H v with the solvers' H: checked against the
# closed-form Hessian of softmax regression computed in numpy (float64), for
# random direction records and for test examples (v = their loss gradient),
# and H s = v - shift s for the exact solver's s (same H in both modes).
. "$(dirname "$0")/lib.sh"
F=/usr/share/datasets/fashion-mnist

run ihvp --help; like "$out" "lissa\|cg\|exact\|hvp" "--help lists --method hvp"

import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 210 --fashion 2>/dev/null > "$T/raw.ex"
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rs = list(msgpack.Unpacker(open(d + '/raw.ex', 'rb'), raw=False))
for r in rs:  # 28x28 -> 7x7 mean pooling: P = 10*49 + 10 = 500
    x = np.frombuffer(r['x']['data'], '<f4').reshape(7, 4, 7, 4).mean(axis=(1, 3))
    r['x'] = {'dtype': 'f32', 'shape': [49], 'data': x.astype('<f4').tobytes()}
open(d + '/train.ex', 'wb').write(b''.join(msgpack.packb(r) for r in rs[:200]))
open(d + '/test.ex', 'wb').write(b''.join(msgpack.packb(r) for r in rs[200:205]))
rng = np.random.default_rng(7)
with open(d + '/dirs', 'wb') as f:
    for k in range(4):
        v = rng.standard_normal(500).astype('<f4')
        f.write(msgpack.packb({'id': 'dir%d' % k, 'grad': {'dtype': 'f32', 'shape': [500], 'data': v.tobytes()}}))
PY
train --arch linear --l2 0.01 --optim lbfgs --tol 1e-7 < "$T/train.ex" > "$T/lin.model" 2>/dev/null
ok "linear model trained" test -s "$T/lin.model"

M="--model $T/lin.model --train $T/train.ex"
ihvp $M --method hvp --chunk 64 < "$T/dirs" > "$T/hv.dirs" 2>"$T/err"; is "$?" 0 "hvp on random directions runs"
ihvp $M --method hvp < "$T/test.ex" > "$T/hv.test" 2>"$T/err"; is "$?" 0 "hvp on test examples runs"
grad --model $T/lin.model < "$T/test.ex" > "$T/g.test" 2>/dev/null
ihvp $M --method exact --damping 0.001 < "$T/test.ex" > "$T/s.exact" 2>/dev/null; is "$?" 0 "exact solve runs"
$PY - "$T" > "$T/s.grad" <<'PY'
import msgpack, sys
d = sys.argv[1]  # the exact solutions as grad records: feed them back to --method hvp
for r in msgpack.Unpacker(open(d + '/s.exact', 'rb'), raw=False):
    sys.stdout.buffer.write(msgpack.packb({'id': r['id'], 'grad': r['ihvp']}))
PY
ihvp $M --method hvp < "$T/s.grad" > "$T/hv.s" 2>/dev/null; is "$?" 0 "hvp of the exact solutions runs"

run $PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
vec = lambda t: np.frombuffer(t['data'], '<f4').astype(float)
m = rd('lin.model')[0]
W = vec(m['params']['layers.0.weight']).reshape(m['params']['layers.0.weight']['shape'])
b = vec(m['params']['layers.0.bias'])
l2 = m['l2']
C, D = W.shape
P = C * D + C
X = np.array([vec(t['x']) for t in rd('train.ex')])
# H = mean_i (diag(p)-pp^T) (x) [x;1][x;1]^T, in the model's parameter order
# (W row-major, then b), plus l2 on W only.
Z = X @ W.T + b; Pr = np.exp(Z - Z.max(1, keepdims=True)); Pr /= Pr.sum(1, keepdims=True)
H = np.zeros((P, P))
for x, p in zip(X, Pr):
    S = np.diag(p) - np.outer(p, p)
    J = np.zeros((C, P))
    for c in range(C):
        J[c, c * D:(c + 1) * D] = x; J[c, C * D + c] = 1
    H += J.T @ S @ J
H /= len(X)
H[np.arange(C * D), np.arange(C * D)] += l2
fails = 0
def check(name, v, hv, tol=1e-5):
    global fails
    want = H @ v
    e = np.linalg.norm(hv - want) / np.linalg.norm(want)
    print('%s rel err %.2e' % (name, e))
    if not e < tol: fails += 1
for r in rd('hv.dirs'):
    assert r['method'] == 'hvp' and 'ihvp' not in r, r.keys()
    v = vec(next(g for g in rd('dirs') if g['id'] == r['id'])['grad'])
    check(r['id'], v, vec(r['hvp']))
G = {g['id']: vec(g['grad']) for g in rd('g.test')}
hv = rd('hv.test'); assert len(hv) == 5
for r in hv: check('test ' + r['id'], G[r['id']], vec(r['hvp']))
for r, s in zip(rd('hv.s'), rd('s.exact')):  # (H + shift I) s = v on v's support
    x = vec(s['ihvp']); got = vec(r['hvp']) + s['shift'] * x
    e = np.linalg.norm(got - G[r['id']]) / np.linalg.norm(G[r['id']])
    print('H s + shift s vs v (%s) rel err %.2e' % (r['id'], e))
    if not e < 1e-4: fails += 1
sys.exit(fails)
PY
is "$rc" 0 "ihvp --method hvp = numpy closed-form H v (f32 precision)"
echo "$out" | sed 's/^/# /'

ihvp $M --method hvp --chunk 7 < "$T/dirs" > "$T/hv.chunk7" 2>/dev/null
$PY - "$T/hv.dirs" "$T/hv.chunk7" <<'PY'
import msgpack, numpy as np, sys
a, b = [[np.frombuffer(r['hvp']['data'], '<f4') for r in msgpack.Unpacker(open(f, 'rb'), raw=False)] for f in sys.argv[1:]]
sys.exit(not max(np.abs(x - y).max() / np.abs(x).max() for x, y in zip(a, b)) < 1e-5)
PY
is "$?" 0 "chunking the full batch does not change H v"
run influence --ihvp "$T/hv.dirs" --model $T/lin.model --train $T/train.ex
is "$rc" 1 "influence refuses hvp records (no ihvp field)"
done_testing
