#!/bin/bash
# ihvp --damping auto (the default ridge, formats/ihvp.md "The default
# ridge"): the shift each method chooses is its rule recomputed from a
# Hessian built independently (numpy's closed form for softmax regression,
# PyTorch autograd for an mlp), exact's default answer is the
# pseudo-inverse's, cg's ridge does not move with --seed, and an explicit
# --damping or --shift means what it did.
. "$(dirname "$0")/lib.sh"
F=/usr/share/datasets/fashion-mnist
TRUST="$(dirname "$0")/../pipelines/experiments"

# 250 Fashion-MNIST images pooled 4x4 to 7x7 (P = 500 for softmax regression,
# with the null space of its biases: adding one constant to every class).
import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 254 --fashion 2>/dev/null | $PY -c '
import msgpack, numpy as np, sys
out = sys.stdout.buffer
for k, r in enumerate(msgpack.Unpacker(sys.stdin.buffer, raw=False)):
    x = np.frombuffer(r["x"]["data"], "<f4").reshape(7, 4, 7, 4).mean(axis=(1, 3)).astype("<f4")
    r["x"] = {"dtype": "f32", "shape": [49], "data": x.tobytes()}
    out.write(msgpack.packb(r))' > "$T/all.ex"
pick --head 250 "$T/all.ex" > "$T/tr.ex" 2>/dev/null
pick --skip 250 "$T/all.ex" > "$T/te.ex" 2>/dev/null
train --arch linear --l2 0.01 --epochs 30 < "$T/tr.ex" > "$T/lin.model" 2>/dev/null
# An mlp trained briefly: away from a minimum its Hessian is indefinite.
train --arch mlp:6 --l2 0.001 --epochs 3 --seed 2 < "$T/tr.ex" > "$T/mlp.model" 2>/dev/null
ok "models trained" test -s "$T/lin.model" -a -s "$T/mlp.model"
grad --model "$T/lin.model" < "$T/te.ex" > "$T/lin.g" 2>/dev/null
grad --model "$T/mlp.model" < "$T/te.ex" > "$T/mlp.g" 2>/dev/null

L="--model $T/lin.model --train $T/tr.ex"
Mm="--model $T/mlp.model --train $T/tr.ex"
ihvp $L --method exact < "$T/lin.g" > "$T/lin.exact" 2> "$T/lin.exact.err"; is $? 0 "exact with the default ridge runs"
like "$(cat "$T/lin.exact.err")" "ridge auto \(exact\): eigenvalues of the Hessian .* -> shift 0 " "... says the rule's shift on stderr"
ihvp $L --method cg < "$T/lin.g" > "$T/lin.cg" 2> "$T/lin.cg.err"; is $? 0 "cg with the default ridge runs"
like "$(cat "$T/lin.cg.err")" "ridge auto \(cg\): Lanczos .*kappa" "... says its probe and rule on stderr"
ihvp $L --method cg --seed 9 < "$T/lin.g" > "$T/lin.cg9" 2>/dev/null
ihvp $L --method cg --max-iter 200 --tol 1e-5 < "$T/lin.g" > "$T/lin.cg200" 2>/dev/null
ihvp $Mm --method exact --hessian full < "$T/mlp.g" > "$T/mlp.exactH" 2>/dev/null; is $? 0 "exact on the mlp's Hessian runs"
ihvp $Mm --method exact < "$T/mlp.g" > "$T/mlp.exactG" 2>/dev/null; is $? 0 "exact on the mlp's Gauss-Newton matrix runs"

# The rules, recomputed from each H built outside fastif (trust.py's
# PyTorch head: float64 autograd Hessian and J^T (diag p - pp^T) J + l2).
$PY - "$T" "$TRUST" <<'PY'
import msgpack, numpy as np, sys, torch
d, trust = sys.argv[1], sys.argv[2]
sys.path.insert(0, trust)
from trust import Head, data, rd, vec
torch.set_num_threads(2)
_, X, y = data(d + '/tr.ex')
_, Xq, yq = data(d + '/te.ex')

def psd_shift(lam):  # the documented rule: -lambda_min unless at rounding level
    return -lam[0] if lam[0] < -1e-6 * np.abs(lam).max() else 0.0

def pinv(H, V):
    lam, Q = np.linalg.eigh(H)
    keep = np.abs(lam) > 1e-9 * np.abs(lam).max()
    return ((Q * np.where(keep, 1 / np.where(keep, lam, 1), 0)) @ (Q.T @ V.T)).T, lam

def S(f):
    return np.array([vec(r['ihvp']) for r in rd(d + '/' + f)]), rd(d + '/' + f)

lin, mlp = Head(d + '/lin.model'), Head(d + '/mlp.model')
H = lin.hessian(X, y)
V = lin.grads(Xq, yq)
s_pinv, lam = pinv(H, V)
assert lam[0] < 1e-8 * lam[-1], 'the softmax Hessian has a null space (%g)' % lam[0]
s, recs = S('lin.exact')
assert all(r['shift'] == psd_shift(lam) == 0 for r in recs), [r['shift'] for r in recs]
err = max(np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(s, s_pinv))
print('linear exact, default ridge vs numpy pseudo-inverse: rel err %.3g' % err)
assert err < 1e-3, err

# cg: shift = a + (lambda_max + a) / (kappa - 1), kappa = (2 max_iter / ln(2 / tol))^2
def cg_shift(lam, max_iter, tol):
    a, k = psd_shift(lam), (2 * max_iter / np.log(2 / tol)) ** 2
    return a + (lam[-1] + a) / (k - 1)
for f, it, tol in (('lin.cg', 1000, 1e-6), ('lin.cg200', 200, 1e-5)):
    s, recs = S(f)
    want = cg_shift(lam, it, tol)
    print('%s: shift %.6g, rule from numpy %.6g' % (f, recs[0]['shift'], want))
    assert all(abs(r['shift'] - want) < 1e-3 * want for r in recs)
    # its answer is that of the system it states it solved
    for r, v, x in zip(recs, V, s):
        res = np.linalg.norm((H + r['shift'] * np.eye(len(v))) @ x - v) / np.linalg.norm(v)
        assert res < 1e-4, (f, res)
s, recs = S('lin.cg')
err = max(np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(s, s_pinv))
print('linear cg, default ridge vs numpy pseudo-inverse: rel err %.3g' % err)
assert err < 0.05, err
a, b = S('lin.cg9')[1], S('lin.cg')[1]
assert [r['shift'] for r in a] == [r['shift'] for r in b] and all(
    x['ihvp'] == y['ihvp'] for x, y in zip(a, b)), 'cg: --seed moved the ridge'

# mlp: the Hessian is indefinite, so exact's shift is -lambda_min; G is PSD: 0.
Hm, Gm = mlp.hessian(X, y), mlp.ggn(X)
lh, lg = np.linalg.eigvalsh(Hm), np.linalg.eigvalsh(Gm)
assert lh[0] < -1e-4 * lh[-1], 'the test needs an indefinite Hessian (%g .. %g)' % (lh[0], lh[-1])
for f, l in (('mlp.exactH', lh), ('mlp.exactG', lg)):
    recs = S(f)[1]
    print('%s: shift %.6g, rule from numpy %.6g' % (f, recs[0]['shift'], psd_shift(l)))
    assert all(abs(r['shift'] - psd_shift(l)) <= 1e-3 * abs(l[0]) for r in recs)
PY
is $? 0 "the default ridge is each method's rule recomputed from a PyTorch Hessian: exact's pseudo-inverse answer, cg's shift, -lambda_min of an indefinite Hessian, 0 for G; --seed does not move cg's ridge"

# An explicit ridge keeps its meaning: --damping D is shift = D x scale for
# every method; lissa's default is --damping 0.005, bit for bit.
ihvp $L --method exact --damping 0.005 < "$T/lin.g" > "$T/lin.d5" 2> "$T/lin.d5.err"
like "$(cat "$T/lin.d5.err")" "shift [0-9.e-]+ = damping 0.005 x scale" "--damping 0.005: shift = damping x scale"
like "$(cat "$T/lin.d5.err")" "exact: the shift [0-9.e-]+ is above [0-9]+ of the 500 eigenvalues of the Hessian" "exact says how many eigen-directions the ridge dominates"
ihvp $L --method cg --shift 0.01 < "$T/lin.g" > "$T/lin.s" 2>/dev/null
ihvp $L --method lissa --depth 200 < "$T/lin.g" > "$T/lin.la" 2>/dev/null
ihvp $L --method lissa --depth 200 --damping 0.005 < "$T/lin.g" > "$T/lin.l5" 2>/dev/null
$PY - "$T" <<'PY'
import msgpack, sys
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
assert all(r['damping'] == 0.005 and abs(r['shift'] - 0.005 * r['scale']) < 1e-12 * r['shift']
           for r in rd('lin.d5'))
assert all(r['shift'] == 0.01 and 'damping' not in r for r in rd('lin.s'))
assert [r['ihvp'] for r in rd('lin.la')] == [r['ihvp'] for r in rd('lin.l5')]
assert all(r['damping'] == 0.005 for r in rd('lin.la'))
PY
is $? 0 "explicit --damping and --shift unchanged; lissa's default is damping 0.005 bitwise"
# exact's eigendecomposition is made once for every group, with an explicit
# ridge too: its note on the spectrum (logged per decomposition) comes once
# for 4 groups of 1, and the records are those of one group of 4.
ihvp $L --method exact --damping 0.005 --group 1 < "$T/lin.g" > "$T/lin.d5g1" 2> "$T/lin.d5g1.err"
is "$(grep -c 'exact: the shift' "$T/lin.d5g1.err")" 1 "exact --damping 0.005, 4 groups of 1: one eigendecomposition"
ok "... the records bitwise those of one group" cmp "$T/lin.d5g1" "$T/lin.d5"
# The probe waits for the input: an empty one (an upstream failure) or test
# gradients that do not fit are refused before the dense operator is built.
ihvp $L --method exact < /dev/null > /dev/null 2> "$T/empty.err"; is $? 1 "exact on an empty input: exit 1"
like "$(cat "$T/empty.err")" "no input records" "... saying so"
not_ok "... before the default ridge's probe (no eigendecomposition)" grep -q "ridge auto" "$T/empty.err"
ihvp $L --method cg < "$T/mlp.g" > /dev/null 2> "$T/other.err"; is $? 1 "cg on another model's gradients: exit 1"
like "$(cat "$T/other.err")" "record '[^']*'.*gradient over parameters" "... naming the record"
not_ok "... before the Lanczos probe" grep -q "ridge auto" "$T/other.err"
ihvp --fisher "$T/lin.g" --method exact < "$T/mlp.g" > /dev/null 2> "$T/fisher.err"; is $? 1 "--fisher exact on gradients of another size: exit 1"
not_ok "... before the eigendecomposition" grep -q "ridge auto" "$T/fisher.err"
done_testing
