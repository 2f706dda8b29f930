#!/bin/bash
# ihvp: the three solvers agree on a real (Fashion-MNIST, 7x7 pooled) softmax
# regression and a small mlp; LiSSA is deterministic across threads and its
# repeats split over processes combine to the bits of one run.
. "$(dirname "$0")/lib.sh"
F=/usr/share/datasets/fashion-mnist
runb() { # like run, for binary stdout (kept in $T/.run.out, not in $out)
  "$@" >"$T/.run.out" 2>"$T/.run.err"; rc=$?; err=$(cat "$T/.run.err")
}

for a in "--help" ; do run ihvp $a; is "$rc" 0 "ihvp $a exits 0"; done
run ihvp --bogus; is "$rc" 2 "bad option exits 2"
run ihvp --model x; is "$rc" 2 "missing --train is a usage error"

import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 330 --fashion 2>/dev/null > "$T/raw.ex"
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rs = list(msgpack.Unpacker(open(d + '/raw.ex', 'rb'), raw=False))
for r in rs:  # 28x28 -> 7x7 mean pooling keeps P small enough for --method exact
    x = np.frombuffer(r['x']['data'], '<f4').reshape(7, 4, 7, 4).mean(axis=(1, 3))
    r['x'] = {'dtype': 'f32', 'shape': [49], 'data': x.astype('<f4').tobytes()}
open(d + '/train.ex', 'wb').write(b''.join(msgpack.packb(r) for r in rs[:300]))
open(d + '/test.ex', 'wb').write(b''.join(msgpack.packb(r) for r in rs[300:306]))
PY
train --arch linear --l2 0.01 --optim lbfgs --tol 1e-7 < "$T/train.ex" > "$T/lin.model" 2>/dev/null
ok "linear model trained" test -s "$T/lin.model"

M="--model $T/lin.model --train $T/train.ex"
runb ihvp $M --method exact --damping 0.002 < "$T/test.ex"; is "$rc" 0 "exact runs"; cp "$T/.run.out" "$T/exact"
runb ihvp $M --method cg --damping 0.002 --tol 1e-7 < "$T/test.ex"; is "$rc" 0 "cg runs"; cp "$T/.run.out" "$T/cg"
runb ihvp $M --method lissa --depth 1500 --repeats 8 --damping 0.002 < "$T/test.ex"; is "$rc" 0 "lissa runs"
cp "$T/.run.out" "$T/lissa"
like "$err" "scale auto: largest eigenvalue of the batch Hessian" "scale auto is logged"

cmpv() { # file-a file-b -> prints max relative error and min correlation over records
  $PY - "$1" "$2" <<'PY'
import msgpack, numpy as np, sys
rd = lambda f: {r['id']: np.frombuffer(r['ihvp']['data'], '<f4') for r in msgpack.Unpacker(open(f, 'rb'), raw=False)}
a, b = rd(sys.argv[1]), rd(sys.argv[2])
assert a.keys() == b.keys() and len(a) > 0
e = max(np.linalg.norm(a[k] - b[k]) / np.linalg.norm(b[k]) for k in a)
c = min(np.corrcoef(a[k], b[k])[0, 1] for k in a)
print("%.3g %.6f" % (e, c))
PY
}
read e c <<< "$(cmpv "$T/cg" "$T/exact")"
$PY -c "import sys; sys.exit(not $e < 1e-4)"; is $? 0 "cg matches exact (rel err $e)"
read e c <<< "$(cmpv "$T/lissa" "$T/exact")"
$PY -c "import sys; sys.exit(not ($e < 0.1 and $c > 0.995))"; is $? 0 "lissa (J=1500, B=1, T=8) close to exact (rel err $e, corr $c)"

# The records carry the settings, and an independent check of the fixed point:
# (H + shift I) s = v, with H v from a finite-difference-free route: compare
# exact s against the dense Hessian built by numpy from torch-free per-class math.
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
recs = list(msgpack.Unpacker(open(d + '/exact', 'rb'), raw=False))
r = recs[0]
for k in ('method', 'scale', 'damping', 'shift', 'seed', 'params', 'sum_of', 'label'):
    assert k in r, k
assert abs(r['shift'] - r['damping'] * r['scale']) < 1e-12 * r['shift']
# Softmax regression Hessian in numpy: H = mean_i (diag(p)-pp^T) (x) [x;1][x;1]^T + l2 on W.
m = next(msgpack.Unpacker(open(d + '/lin.model', 'rb'), raw=False))
W = np.frombuffer(m['params']['layers.0.weight']['data'], '<f4').reshape(m['params']['layers.0.weight']['shape']).astype(float)
b = np.frombuffer(m['params']['layers.0.bias']['data'], '<f4').astype(float)
l2 = m['arch'].get('l2', m.get('l2'))
tr = list(msgpack.Unpacker(open(d + '/train.ex', 'rb'), raw=False))
X = np.array([np.frombuffer(t['x']['data'], '<f4') for t in tr], float)
C, D = W.shape
P = C * D + C
H = np.zeros((P, P))
for x in X:
    z = W @ x + b; p = np.exp(z - z.max()); p /= p.sum()
    S = np.diag(p) - np.outer(p, p)
    # parameter order: W row-major (c, j) then b (c)
    J = np.zeros((C, P))
    for c in range(C):
        J[c, c * D:(c + 1) * D] = x; J[c, C * D + c] = 1
    H += J.T @ S @ J
H /= len(X)
H[np.arange(C * D), np.arange(C * D)] += l2
te = {t['id']: t for t in msgpack.Unpacker(open(d + '/test.ex', 'rb'), raw=False)}
x = np.frombuffer(te[r['id']]['x']['data'], '<f4').astype(float)
z = W @ x + b; p = np.exp(z - z.max()); p /= p.sum(); y = te[r['id']]['label']
g = np.concatenate([np.outer(p - np.eye(C)[y], x).ravel(), p - np.eye(C)[y]])
s = np.frombuffer(r['ihvp']['data'], '<f4')
res = np.linalg.norm((H + r['shift'] * np.eye(P)) @ s - g) / np.linalg.norm(g)
print("numpy residual", res)
if not res < 1e-3: sys.exit(1)
# The records' residual field is that residual: for the exact solve (~0) and
# for LiSSA (J=1500, T=8), whose residual is far from 0; over N = 300 <
# 10000 examples, so the product is the full batch.
def grad(i):
    x = np.frombuffer(te[i]['x']['data'], '<f4').astype(float)
    z = W @ x + b; p = np.exp(z - z.max()); p /= p.sum(); y = te[i]['label']
    return np.concatenate([np.outer(p - np.eye(C)[y], x).ravel(), p - np.eye(C)[y]])
for f in ('exact', 'lissa'):
    for r in msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False):
        g, s = grad(r['id']), np.frombuffer(r['ihvp']['data'], '<f4').astype(float)
        want = np.linalg.norm((H + r['shift'] * np.eye(P)) @ s - g) / np.linalg.norm(g)
        print(f, r['id'], 'residual field %.4g, numpy %.4g' % (r['residual'], want))
        assert r['residual_n'] == len(X), r['residual_n']
        assert abs(r['residual'] - want) <= 1e-3 * want + 1e-5, (r['residual'], want)
        assert ('spread' in r) == (f == 'lissa'), r.keys()
PY
is $? 0 "exact ihvp solves (H + shift I) s = v for a Hessian built independently in numpy; the records' residual field is that residual (exact and lissa)"

# --shift X: the absolute ridge, the same solve as the --damping that gives it.
runb ihvp $M --method exact --shift 0.004 < "$T/test.ex"; is "$rc" 0 "exact --shift runs"
cp "$T/.run.out" "$T/xshift"; like "$err" "shift 0.004 \(--shift given\)" "the shift used is on stderr"
ihvp $M --method exact --scale 2 --damping 0.002 < "$T/test.ex" > "$T/xdamp" 2>/dev/null
ihvp $M --method lissa --depth 50 --scale 4 --shift 0.004 < "$T/test.ex" > "$T/lshift" 2>/dev/null
ihvp $M --method lissa --depth 50 --scale 4 --damping 0.001 < "$T/test.ex" > "$T/ldamp" 2>/dev/null
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
vec = lambda r: np.frombuffer(r['ihvp']['data'], '<f4')
xs, xd, ls, ld = rd('xshift'), rd('xdamp'), rd('lshift'), rd('ldamp')
assert all(r['shift'] == 0.004 and 'scale' not in r and 'damping' not in r for r in xs), xs[0].keys()
assert all(r['shift'] == 0.004 for r in xd)
assert max(np.abs(vec(a) - vec(b)).max() / np.abs(vec(b)).max() for a, b in zip(xs, xd)) < 1e-6
assert all(r['shift'] == 0.004 and r['damping'] == 0.001 and r['scale'] == 4 for r in ls)
assert all((vec(a) == vec(b)).all() for a, b in zip(ls, ld))  # the same recursion, bit for bit
PY
is $? 0 "--shift X = --damping X/scale: exact equal, lissa bitwise; the records say shift (and damping = shift/scale)"
run ihvp $M --shift 0.1 --damping 0.01 < "$T/test.ex"; is "$rc" 2 "--shift with --damping is a usage error"
run ihvp $M --method lissa --scale 1 --shift 1 < "$T/test.ex"; is "$rc" 2 "lissa: --shift >= scale is a usage error"
like "$err" "^ihvp: .*--shift.*shift < scale" "... naming --shift"

# The quality report on stderr: one line of residuals, and one warning line
# naming the flags when a residual is above --residual-warn.
runb ihvp $M --method lissa --depth 20 --residual-examples 100 < "$T/test.ex"
is "$rc" 0 "a short LiSSA still writes its records"
like "$err" "relative residual .* \(product over 100 of 300 training examples\): max" "the residuals are logged, over a sample of --residual-examples"
like "$err" "warning: [0-9]+ of 6 records have a relative residual above 0.1 .*raise --depth, --batch or --repeats, or use --method cg or exact" "a residual above 0.1 is one warning line naming the flags"
is "$(printf '%s\n' "$err" | grep -c warning)" 1 "... one line"
is "$($PY -c 'import sys, msgpack; print({r["residual_n"] for r in msgpack.Unpacker(open(sys.argv[1], "rb"))})' "$T/.run.out")" "{100}" "the records say how many examples the residual's product used"
run ihvp $M --method exact < "$T/test.ex"
not_ok "no warning for the exact solve" grep -q warning <<< "$err"

# Records written before the quality report (no residual, residual_n,
# spread) stay readable: influence scores them, --combine averages them.
$PY - "$T" <<'PY'
import msgpack, sys
d = sys.argv[1]
rs = list(msgpack.Unpacker(open(d + '/lissa', 'rb'), raw=False))
old = [{k: v for k, v in r.items() if k not in ('residual', 'residual_n', 'spread')} for r in rs]
open(d + '/old.ihvp', 'wb').write(b''.join(msgpack.packb(r) for r in old))
PY
runb influence --ihvp "$T/old.ihvp" --model "$T/lin.model" --train "$T/train.ex"; is "$rc" 0 "influence reads ihvp records without the quality fields"
runb ihvp --combine "$T/old.ihvp"; is "$rc" 0 "--combine reads them too"

# --method auto (the default): exact when 1.1e-10 N P^2 + 2.1e-10 P^3 CPU
# seconds is about a second or less (here N = 300, P = 500: 0.034 s), else
# lissa, saying so; the records say which method ran.
runb ihvp $M < "$T/test.ex"; is "$rc" 0 "the default method runs"
like "$err" "method auto: exact \(exact would take about 0.034 s" "auto chose exact below the threshold, and says why"
is "$($PY -c 'import sys, msgpack; print({r["method"] for r in msgpack.Unpacker(open(sys.argv[1], "rb"))})' "$T/.run.out")" "{'exact'}" "... and the records say exact"
like "$err" "ridge auto \(exact\): .* -> shift 0 " "... with exact's default ridge: none on this positive semi-definite Hessian"
cmp -s "$T/.run.out" "$T/exact"; not_ok "(sanity: another shift than the damping 0.002 run)" test $? = 0
runb ihvp $M --auto-seconds 0.01 --depth 100 < "$T/test.ex"
like "$err" "method auto: lissa \(exact would take about 0.034 s.*checked by their residual" "above the threshold auto runs lissa and says its answers are checked"
is "$($PY -c 'import sys, msgpack; print({r["method"] for r in msgpack.Unpacker(open(sys.argv[1], "rb"))})' "$T/.run.out")" "{'lissa'}" "... and the records say lissa"
like "$err" "warning: .*\(--method auto ran lissa\)" "a failed residual check after auto says so (no silent switching)"

# --scale auto probes with a fixed seed: --seed changes LiSSA's draws, not
# the scale, so not the ridge (the system solved).
ihvp $M --method lissa --depth 100 --seed 1 < "$T/test.ex" > "$T/seed1" 2>/dev/null
ihvp $M --method lissa --depth 100 --seed 2 < "$T/test.ex" > "$T/seed2" 2>/dev/null
$PY - "$T" <<'PY'
import msgpack, sys
d = sys.argv[1]
a, b = (list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False)) for f in ('seed1', 'seed2'))
assert {r['scale'] for r in a} == {r['scale'] for r in b} and len({r['shift'] for r in a + b}) == 1
assert all(x['ihvp']['data'] != y['ihvp']['data'] for x, y in zip(a, b))
PY
is $? 0 "--scale auto: the same scale and shift for --seed 1 and 2, different LiSSA noise"

# Determinism and splitting.
L="$M --method lissa --depth 300 --repeats 3 --damping 0.002 --seed 7"
ihvp $L --threads 1 < "$T/test.ex" > "$T/t1" 2>/dev/null
ihvp $L --threads 2 < "$T/test.ex" > "$T/t2" 2>/dev/null
ok "lissa output bitwise identical with 1 and 2 threads" cmp "$T/t1" "$T/t2"
for r in 2 0 1; do
  ihvp $M --method lissa --depth 300 --repeats 1 --repeat-offset $r --damping 0.002 --seed 7 < "$T/test.ex" > "$T/r$r" 2>/dev/null
done
runb ihvp --combine "$T/r2" "$T/r0" "$T/r1"; is "$rc" 0 "--combine runs"
cp "$T/.run.out" "$T/comb"
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
vec = lambda r: np.frombuffer(r['ihvp']['data'], '<f4').astype(float)
comb, one, parts = rd('comb'), rd('t1'), [rd('r%d' % k) for k in range(3)]
assert len(comb) == len(one) == 6
for c, o, *ps in zip(comb, one, *parts):
    # bitwise the same record, less the residual (it needs v: --combine has
    # none); instead the parts' largest residual, which bounds the average's:
    # o's residual is the one of the same bits, measured
    assert 'residual' not in c and 'residual' in o
    assert c['parts_residual_max'] == max(p['residual'] for p in ps), (c['parts_residual_max'], [p['residual'] for p in ps])
    assert c['parts_residual_n'] == ps[0]['residual_n'] == o['residual_n']
    assert o['residual'] <= c['parts_residual_max'] * (1 + 1e-6), (o['residual'], c['parts_residual_max'])
    assert min(p['residual'] for p in ps) < c['parts_residual_max']  # a max, not any part's
    drop = ('residual', 'residual_n', 'parts_residual_max', 'parts_residual_n')
    assert {k: v for k, v in c.items() if k not in drop} == {k: v for k, v in o.items() if k not in drop}, (c.keys(), o.keys())
    X = np.array([vec(p) for p in ps]); m = X.mean(0)
    want = np.sqrt(((X - m) ** 2).sum() / 2) / np.linalg.norm(m)
    assert abs(o['spread'] - want) < 1e-5 * want, (o['spread'], want)
    assert 'spread' not in ps[0]
PY
is $? 0 "3 x --repeats 1 combined == --repeats 3 bitwise, spread included (= numpy's relative spread of the 3 repeats), residual left out, the parts' largest (a bound of it) in parts_residual_max"
# Combined records combine again: their bound is the parts' largest still;
# a part without a residual (an old record) leaves the bound out.
ihvp $M --method lissa --depth 300 --repeats 1 --repeat-offset 3 --damping 0.002 --seed 7 < "$T/test.ex" > "$T/r3" 2>/dev/null
runb ihvp --combine "$T/comb" "$T/r3"; is "$rc" 0 "--combine takes combined records"
cp "$T/.run.out" "$T/comb2"
$PY - "$T" <<'PY'
import msgpack, sys
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
for c2, c, r3 in zip(rd('comb2'), rd('comb'), rd('r3')):
    assert c2['sum_of'] == 4 and c2['parts_residual_max'] == max(c['parts_residual_max'], r3['residual']), c2
PY
is $? 0 "... the bound of combined parts is the largest of theirs"
runb ihvp --combine "$T/old.ihvp"
is "$($PY -c 'import sys, msgpack; print(any("parts_residual_max" in r for r in msgpack.Unpacker(open(sys.argv[1], "rb"))))' "$T/.run.out")" "False" "old parts without a residual: no bound"
$PY -c "
import msgpack, sys
rs = list(msgpack.Unpacker(open('$T/r3', 'rb'), raw=False)); rs[0]['residual'] = -0.5
open('$T/r3bad', 'wb').write(b''.join(msgpack.packb(r) for r in rs))"
runb ihvp --combine "$T/r3bad"; like "$rc:$err" "^1:.*record 'img-300'.*bad residual -0.5" "a negative residual in a part: exit 1 naming the record"
cat "$T/r0" "$T/r0" > "$T/dup"
runb ihvp --combine "$T/dup"; is "$rc" 1 "--combine refuses overlapping repeats"
ihvp $M --method lissa --depth 300 --repeats 1 --seed 8 --damping 0.002 < "$T/test.ex" > "$T/s8" 2>/dev/null
runb ihvp --combine "$T/r0" "$T/s8"; is "$rc" 1 "--combine refuses different seeds"

# Gradient records in == example records in; --mean == ihvp of the mean gradient.
grad --model "$T/lin.model" < "$T/test.ex" > "$T/test.grad" 2>/dev/null
ihvp $M --method exact --damping 0.002 < "$T/test.grad" > "$T/exact.g" 2>/dev/null
read e c <<< "$(cmpv "$T/exact.g" "$T/exact")"
$PY -c "import sys; sys.exit(not $e < 1e-5)"; is $? 0 "gradient records and example records give the same ihvp ($e)"
# Test gradients in the general layer-factor form (formats/gradients.md):
# rank-2 factors, and the bias as a dense part grad.layers.0.bias, give the
# ihvp of the dense vector numpy builds from them.
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rng = np.random.default_rng(3)
f32 = lambda a: {'dtype': 'f32', 'shape': list(a.shape), 'data': a.astype('<f4').tobytes()}
with open(d + '/rank2.grad', 'wb') as f, open(d + '/rank2.dense', 'wb') as g:
    for i in range(3):
        a, dl, b = (rng.normal(size=s).astype('<f4') for s in ((2, 49), (2, 10), (10,)))
        p = 'layers.0.weight,layers.0.bias'
        f.write(msgpack.packb({'id': 'v%d' % i, 'params': p, 'a.layers.0': f32(a), 'delta.layers.0': f32(dl), 'grad.layers.0.bias': f32(b)}))
        dense = np.concatenate([(dl.astype(float).T @ a.astype(float)).ravel(), b])
        g.write(msgpack.packb({'id': 'v%d' % i, 'params': p, 'grad': f32(dense)}))
PY
ihvp $M --method exact --damping 0.002 < "$T/rank2.grad" > "$T/rank2.s" 2>/dev/null
ihvp $M --method exact --damping 0.002 < "$T/rank2.dense" > "$T/rank2.ds" 2>/dev/null
read e c <<< "$(cmpv "$T/rank2.s" "$T/rank2.ds")"
$PY -c "import sys; sys.exit(not $e < 1e-5)"; is $? 0 "rank-2 factors and a grad.PNAME part read as their dense vector ($e)"
ihvp $M --method exact --damping 0.002 --mean --id anchors < "$T/test.ex" > "$T/mean" 2>/dev/null
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
ex = [np.frombuffer(r['ihvp']['data'], '<f4') for r in msgpack.Unpacker(open(d + '/exact', 'rb'), raw=False)]
mr = list(msgpack.Unpacker(open(d + '/mean', 'rb'), raw=False))
assert len(mr) == 1 and mr[0]['id'] == 'anchors'
m = np.frombuffer(mr[0]['ihvp']['data'], '<f4')
e = np.linalg.norm(m - np.mean(ex, axis=0)) / np.linalg.norm(m)
print("mean err", e); sys.exit(0 if e < 1e-5 else 1)
PY
is $? 0 "--mean gives the ihvp of the mean loss (linear in v)"

# Failures name the fix.
runb ihvp $M --method lissa --scale 0.05 --depth 200 < "$T/test.ex"
is "$rc" 1 "too-small --scale: exit 1"
like "$err" "diverged.*increase --scale" "the divergence error names --scale"
runb ihvp $M --method exact --max-exact 100 < "$T/test.ex"
is "$rc" 1 "exact refuses P above --max-exact: exit 1"
like "$err" "exceed the limit of 100 .*raise --max-exact" "... naming --max-exact"

# Non-convex: a small tanh mlp; LiSSA with damping still tracks exact.
train --arch mlp:8 --optim lbfgs --tol 1e-6 --l2 0.01 --seed 3 < "$T/train.ex" > "$T/mlp.model" 2>/dev/null
MM="--model $T/mlp.model --train $T/train.ex --damping 0.01"
ihvp $MM --method exact < "$T/test.ex" > "$T/mexact" 2>/dev/null
ihvp $MM --method lissa --depth 2000 --repeats 8 < "$T/test.ex" > "$T/mlissa" 2>"$T/mlissa.err"
read e c <<< "$(cmpv "$T/mlissa" "$T/mexact")"
$PY -c "import sys; sys.exit(not $c > 0.98)"; is $? 0 "mlp: lissa vs exact correlation $c (rel err $e)"
# Gradient records say which label and parameters they used; ihvp holds
# them to its own --label and --params instead of mislabelling its output.
grad --model "$T/lin.model" --label pred < "$T/test.ex" > "$T/test.pgrad" 2>/dev/null
run ihvp $M --method exact < "$T/test.pgrad"
is "$rc" 1 "gradients under the predicted label, --label gold: exit 1"
like "$err" "under the pred label, but --label is gold" "and the error says which label to give"
ihvp $M --method exact --label pred < "$T/test.pgrad" > "$T/pred.ihvp" 2>/dev/null
is "$?:$($PY -c 'import sys, msgpack; print({r["label"] for r in msgpack.Unpacker(open(sys.argv[1], "rb"))})' "$T/pred.ihvp")" "0:{'pred'}" "with --label pred they are accepted, and the ihvp records say pred"
grad --model "$T/lin.model" --params layers.0.bias < "$T/test.ex" > "$T/test.bgrad" 2>/dev/null
run ihvp $M --method exact < "$T/test.bgrad"
is "$rc" 1 "gradients over other parameters: exit 1"
done_testing
