#!/bin/bash
# ihvp --method hvp writes H v with the solvers' H: checked against the
# closed-form Hessian of softmax regression computed in numpy (float64), for
# random direction records and for test examples (v = their loss gradient),
# and H s = v - shift s for the exact solver's s (same H in both modes).
# --hessian ggn: G v on two small mlps against J^T (diag p - pp^T) J + l2
# with J from PyTorch's autograd (float64); cg, which fails on their
# indefinite Hessians, converges with G, and with exact matches the solve
# of G + shift I.
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
$PY - "$T/hv.dirs" "$T/s.exact" <<'PY'
import msgpack, sys
sys.exit(any('hessian' in r for f in sys.argv[1:] for r in msgpack.Unpacker(open(f, 'rb'), raw=False)))
PY
is "$?" 0 "records of the default --hessian (auto: full for linear) carry no hessian field"

# ---- --hessian ggn ----
for arch in mlp:8:tanh mlp:6,5:relu; do
  t=$(echo "$arch" | tr ':,' '__')
  train --arch $arch --l2 0.01 --epochs 30 --seed 3 < "$T/train.ex" > "$T/$t.model" 2>/dev/null
  $PY - "$T/$t.model" > "$T/$t.dirs" <<'PY'
import msgpack, numpy as np, sys
m = msgpack.unpackb(open(sys.argv[1], 'rb').read(), raw=False)
P = sum(int(np.prod(t['shape'])) for t in m['params'].values())
rng = np.random.default_rng(11)
for k in range(3):
    v = rng.standard_normal(P).astype('<f4')
    sys.stdout.buffer.write(msgpack.packb({'id': 'dir%d' % k, 'grad': {'dtype': 'f32', 'shape': [P], 'data': v.tobytes()}}))
PY
  M="--model $T/$t.model --train $T/train.ex"
  ihvp $M --method hvp --hessian ggn --chunk 64 < "$T/$t.dirs" > "$T/$t.gv" 2>/dev/null
  is "$?" 0 "$arch: --method hvp --hessian ggn runs"
  grad --model "$T/$t.model" < "$T/test.ex" > "$T/$t.g" 2>/dev/null
  run ihvp $M --method cg --scale 1 --damping 0.001 --hessian full < "$T/test.ex"
  is "$rc" 1 "$arch: cg on the Hessian fails at shift 0.001"
  like "$err" "the Hessian is indefinite here: increase --damping" "  ... saying the Hessian is indefinite, and what to change"
  ihvp $M --method cg --scale 1 --damping 0.001 --hessian ggn < "$T/test.ex" > "$T/$t.cg" 2>/dev/null
  is "$?" 0 "$arch: cg with --hessian ggn converges at the same shift"
  ihvp $M --method exact --scale 1 --damping 0.001 --hessian ggn < "$T/test.ex" > "$T/$t.exact" 2>/dev/null
  is "$?" 0 "$arch: exact with --hessian ggn runs"
done
run $PY - "$T" mlp_8_tanh mlp_6_5_relu <<'PY'
import msgpack, numpy as np, sys, torch
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
vec = lambda x: np.frombuffer(x['data'], '<f4').astype(float)
fails = 0
def check(name, got, want, tol):
    global fails
    e = np.linalg.norm(got - want) / np.linalg.norm(want)
    print('%s rel err %.2e' % (name, e))
    if not e < tol: fails += 1
for t in sys.argv[2:]:
    m = rd(t + '.model')[0]
    names = list(m['params'])  # model order: layers.K.weight [out, in], layers.K.bias
    shapes = [m['params'][n]['shape'] for n in names]
    theta = torch.tensor(np.concatenate([vec(m['params'][n]) for n in names]), dtype=torch.float64)
    act = torch.tanh if m['arch']['activation'] == 'tanh' else torch.relu
    X = torch.tensor(np.array([vec(r['x']) for r in rd('train.ex')]))
    def logits(th):
        a, o, L = X, 0, len(names) // 2
        for k in range(L):
            out, inp = shapes[2 * k]
            W = th[o:o + out * inp].reshape(out, inp); o += out * inp
            b = th[o:o + out]; o += out
            a = a @ W.T + b
            if k < L - 1: a = act(a)
        return a
    J = torch.autograd.functional.jacobian(logits, theta, vectorize=True).numpy()  # [N, C, P]
    p = torch.softmax(logits(theta), 1).numpy()
    N, C, P = J.shape
    G = sum(Ji.T @ (np.diag(pi) - np.outer(pi, pi)) @ Ji for Ji, pi in zip(J, p)) / N
    w = np.concatenate([np.full(int(np.prod(s)), n.endswith('.weight'), float) for n, s in zip(names, shapes)])
    G += np.diag(m['l2'] * w)
    print(t)
    dirs = {r['id']: vec(r['grad']) for r in rd(t + '.dirs')}
    gv = rd(t + '.gv'); assert len(gv) == 3
    for r in gv:
        assert r['method'] == 'hvp' and r['hessian'] == 'ggn', r.keys()
        check('G v ' + r['id'], vec(r['hvp']), G @ dirs[r['id']], 1e-5)
    print('P = %d; smallest eigenvalue of G - l2: %.2e' % (P, np.linalg.eigvalsh(G - np.diag(m['l2'] * w))[0]))
    V = {r['id']: vec(r['grad']) for r in rd(t + '.g')}
    for meth in ('cg', 'exact'):
        for r in rd(t + '.' + meth):
            assert r['hessian'] == 'ggn' and r['method'] == meth, r.keys()
            want = np.linalg.solve(G + r['shift'] * np.eye(P), V[r['id']])
            check('%s %s' % (meth, r['id']), vec(r['ihvp']), want, 1e-3)
sys.exit(fails)
PY
is "$rc" 0 "ihvp --hessian ggn = PyTorch J^T (diag p - pp^T) J + l2 on both mlps (hvp; cg and exact solves)"
echo "$out$err" | sed 's/^/# /'

# The other two architectures: softmax regression (G = H: the same numbers
# as --hessian full) and bow (default --params: the mlp over the mean
# embedding bag, whose input numpy builds with torch_export.bow_ids), each
# against J^T (diag p - pp^T) J + l2 from PyTorch's Jacobian; and the
# default --hessian: ggn for bow and mlp, the Hessian for linear.
xz -dc "$DATA/fine-foods.csv.xz" | head -n 301 > "$T/ff.csv"
import-text --text review --label score --classes great,other "$T/ff.csv" > "$T/text.ex" 2>/dev/null
train --arch bow:512,6,5 --epochs 3 --lr 0.02 --l2 0.001 --seed 2 < "$T/text.ex" > "$T/bow.model" 2>/dev/null
pick --head 3 "$T/text.ex" 2>/dev/null | grad --model "$T/bow.model" > "$T/bow.dirs" 2>/dev/null
ihvp --model "$T/bow.model" --train "$T/text.ex" --method hvp --hessian ggn < "$T/bow.dirs" > "$T/bow.gv" 2>/dev/null
is "$?" 0 "bow: --method hvp --hessian ggn runs"
ihvp --model "$T/bow.model" --train "$T/text.ex" --method hvp < "$T/bow.dirs" > "$T/bow.def" 2>/dev/null
ihvp --model "$T/lin.model" --train "$T/train.ex" --method hvp --hessian ggn < "$T/dirs" > "$T/lin.gv" 2>/dev/null
is "$?" 0 "linear: --method hvp --hessian ggn runs"
ihvp --model "$T/mlp_8_tanh.model" --train "$T/train.ex" --method hvp < "$T/mlp_8_tanh.dirs" > "$T/mlp.def" 2>/dev/null
run $PY - "$T" <<'PY'
import msgpack, numpy as np, sys, torch
sys.path.insert(0, sys.path[0])
from torch_export import bow_ids
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
vec = lambda x: np.frombuffer(x['data'], '<f4').astype(float)
fails = 0
def check(name, got, want, tol):
    global fails
    e = np.linalg.norm(got - want) / np.linalg.norm(want)
    print('%s rel err %.2e' % (name, e))
    if not e < tol: fails += 1
def ggn(m, X):  # over the dense layers, on their input X
    names = [n for n in m['params'] if n.startswith('layers.')]
    shapes = [m['params'][n]['shape'] for n in names]
    theta = torch.tensor(np.concatenate([vec(m['params'][n]) for n in names]), dtype=torch.float64)
    act = torch.relu if m['arch'].get('activation') == 'relu' else torch.tanh
    X = torch.tensor(X)
    def logits(th):
        a, o, L = X, 0, len(names) // 2
        for k in range(L):
            out, inp = shapes[2 * k]
            W = th[o:o + out * inp].reshape(out, inp); o += out * inp
            b = th[o:o + out]; o += out
            a = a @ W.T + b
            if k < L - 1: a = act(a)
        return a
    J = torch.autograd.functional.jacobian(logits, theta, vectorize=True).numpy()
    p = torch.softmax(logits(theta), 1).numpy()
    G = sum(Ji.T @ (np.diag(pi) - np.outer(pi, pi)) @ Ji for Ji, pi in zip(J, p)) / len(p)
    w = np.concatenate([np.full(int(np.prod(s)), n.endswith('.weight'), float) for n, s in zip(names, shapes)])
    return G + np.diag(m['l2'] * w)
lin = rd('lin.model')[0]
G = ggn(lin, np.array([vec(r['x']) for r in rd('train.ex')]))
dirs = {r['id']: vec(r['grad']) for r in rd('dirs')}
full = {r['id']: vec(r['hvp']) for r in rd('hv.dirs')}
assert len(rd('lin.gv')) == 4 and len(rd('bow.gv')) == 3 and len(rd('bow.def')) == 3
for r in rd('lin.gv'):
    assert r['hessian'] == 'ggn'
    check('linear G v ' + r['id'], vec(r['hvp']), G @ dirs[r['id']], 1e-5)
    check('linear G v = H v ' + r['id'], vec(r['hvp']), full[r['id']], 1e-5)
bow = rd('bow.model')[0]
E = vec(bow['params']['embedding.weight']).reshape(bow['params']['embedding.weight']['shape'])
X = np.array([E[bow_ids(r['text'], E.shape[0])].mean(0) for r in rd('text.ex')])
G = ggn(bow, X)
dirs = {r['id']: vec(r['grad']) for r in rd('bow.dirs')}
for f in ('bow.gv', 'bow.def'):
    for r in rd(f):
        assert r['hessian'] == 'ggn', (f, r.keys())
        check('bow %s G v %s' % (f, r['id']), vec(r['hvp']), G @ dirs[r['id']], 1e-5)
assert all(r['hessian'] == 'ggn' for r in rd('mlp.def'))
sys.exit(fails)
PY
is "$rc" 0 "--hessian ggn = PyTorch J^T (diag p - pp^T) J + l2 for linear (= H) and bow; the default is ggn for bow and mlp"
echo "$out$err" | sed 's/^/# /'

# --combine keeps the curvature and refuses to mix it (all else equal)
M="--model $T/mlp_8_tanh.model --train $T/train.ex --scale 10 --depth 50"
for r in 0 1; do
  ihvp $M --method lissa --hessian ggn --repeats 1 --repeat-offset $r < "$T/test.ex" > "$T/ggn.r$r" 2>/dev/null
done
ihvp $M --method lissa --hessian ggn --repeats 2 < "$T/test.ex" > "$T/ggn.r01" 2>/dev/null
ihvp --combine "$T/ggn.r0" "$T/ggn.r1" > "$T/ggn.comb" 2>/dev/null
ok "ggn LiSSA repeats written" test -s "$T/ggn.r01" -a -s "$T/ggn.r1"
$PY - "$T/ggn.comb" "$T/ggn.r01" <<'PY'
import msgpack, sys
a, b = (list(msgpack.Unpacker(open(f, 'rb'), raw=False)) for f in sys.argv[1:])
drop = lambda r: {k: v for k, v in r.items() if k not in ('residual', 'residual_n', 'parts_residual_max', 'parts_residual_n')}
sys.exit(not (len(a) == len(b) > 0 and all(drop(x) == drop(y) and x['hessian'] == 'ggn' for x, y in zip(a, b))))
PY
is "$?" 0 "--combine of ggn LiSSA repeats = one --repeats 2 run (less the residual and the parts' bound of it), hessian kept"
ihvp $M --method lissa --hessian full --repeats 1 --repeat-offset 1 < "$T/test.ex" > "$T/full.r1" 2>/dev/null
run ihvp --combine "$T/ggn.r0" "$T/full.r1"
is "$rc" 1 "--combine refuses to mix ggn and Hessian records"
like "$err" "hessian" "  ... naming the hessian setting"
done_testing
