#!/bin/bash
# ihvp without a model file: --method identity (s = v), --curvature CURV
# (K-FAC, EK-FAC, diagonal inverses), against the numpy reference in
# tests/curv/ref.py on synthetic layer-factor streams.
. "$(dirname "$0")/lib.sh"
REF=$TOP/tests/curv/ref.py
runb() { "$@" >"$T/.run.out" 2>"$T/.run.err"; rc=$?; err=$(cat "$T/.run.err"); }
lt() { $PY -c "import sys; sys.exit(not float('$1') < float('$2'))"; }

$PY "$REF" write "$T/train.g" r7bias 400 7
$PY "$REF" write "$T/test.g" r7bias 6 8

# --method identity: the gradient-dot-product baseline, no model file
runb ihvp --method identity < "$T/test.g"; is "$rc" 0 "identity runs on factor records with no model"
cp "$T/.run.out" "$T/id.ihvp"
e=$($PY "$REF" check-identity "$T/id.ihvp" "$T/test.g")
ok "identity: s is each record's dense gradient (max rel err $e)" lt "$e" 1e-6
runb ihvp --method identity --train "$T/train.g" < "$T/test.g"; is "$rc" 2 "identity with --train is a usage error"
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
with open(sys.argv[1] + "/ex.ms", "wb") as f:
    fs.write_record(f, {"id": "e", "label": 1, "x": np.ones(3, np.float32)})
PY
runb ihvp --method identity < "$T/ex.ms"; is "$rc" 1 "identity on examples without a model: exit 1"
like "$err" "record 'e'.*without a model file" "... naming the record"

# --curvature: s = (C + lambda)^-1 v against numpy's dense solve with the
# same block-diagonal C, for every method, relative and absolute ridge
for kind in r7bias r1bias r7; do
  [ -e "$T/$kind.train" ] || $PY "$REF" write "$T/$kind.train" $kind 300 11
  $PY "$REF" write "$T/$kind.test" $kind 40 12
  for m in kfac ekfac diag; do
    curvature --method $m --grads "$T/$kind.train" -o "$T/$kind.$m" 2>/dev/null
    for ridge in "damping 0.1" "shift 0.05"; do
      set -- $ridge
      if [ "$1" = damping ] && [ "$m" = kfac ]; then runb ihvp --curvature "$T/$kind.$m" < "$T/$kind.test"; # default 0.1
      else runb ihvp --curvature "$T/$kind.$m" --$1 $2 < "$T/$kind.test"; fi
      is "$rc" 0 "$kind $m --$1 $2: ihvp --curvature runs"
      e=$($PY "$REF" check-ihvp "$T/.run.out" "$T/$kind.train" "$T/$kind.test" $m $1 $2 2>&1)
      ok "$kind $m --$1 $2: s and the per-block lambdas match numpy's dense solve (max rel err $e)" lt "$e" 1e-3
    done
  done
done
runb ihvp --curvature "$T/r7.kfac" < "$T/r7bias.test"; is "$rc" 1 "test gradients over other params: exit 1"
like "$err" "--curvature: the gradient records" "... naming the option and the mismatch"
runb ihvp --curvature "$T/r7.kfac" --method cg < "$T/r7.test"; is "$rc" 2 "--curvature with --method: usage error"
runb ihvp --curvature "$T/r7.test" < "$T/r7.test"; is "$rc" 1 "a gradient stream is not a curvature file: exit 1"
like "$err" "not a curvature file" "... saying so"

# Factor records are rotated as their rows, never densified: ranks varying per
# record (0, 1, 3 and 12: the fused outer products and, above 8 rows, a GEMM
# per record) in groups of 5 that mix them; the same vectors as whole dense
# records (the dense path); and records whose enc layer travels as dense parts
# grad.enc.layer.0.dense.weight/.bias beside the factored head (both paths in
# one group; under diag, head's weight densified from its rows).
$PY "$REF" write "$T/mix.test" r7bias 23 13 ranks=0,1,3,12
$PY -c "
import sys; sys.path.insert(0, '$TOP/tests/curv'); import ref, numpy as np, fastif_stream as fs
recs = ref.read('$T/mix.test')
with open('$T/mix.whole', 'wb') as f:
    for r in recs:
        fs.write_record(f, {'id': r['id'], 'grad': ref.dense(r).astype(np.float32)})
with open('$T/mix.part', 'wb') as f:
    for r in recs:
        a, d = ref.rows(r.pop('a.enc.layer.0.dense')), ref.rows(r.pop('delta.enc.layer.0.dense'))
        r['grad.enc.layer.0.dense.weight'] = (d.T @ a).astype(np.float32).ravel()
        r['grad.enc.layer.0.dense.bias'] = d.sum(0).astype(np.float32)
        fs.write_record(f, r)"
for m in kfac ekfac diag; do
  for form in test whole part; do
    runb ihvp --curvature "$T/r7bias.$m" --group 5 < "$T/mix.$form"
    is "$rc" 0 "$m, ranks 0/1/3/12, $form records: ihvp --curvature runs"
    cp "$T/.run.out" "$T/mix.$form.$m"
    ref=$T/mix.$form; [ $form = whole ] && ref=$T/mix.test # the same vectors; whole records have no params
    e=$($PY "$REF" check-ihvp "$T/mix.$form.$m" "$T/r7bias.train" "$ref" $m damping 0.1 2>&1)
    ok "$m, $form records: s matches numpy's dense solve (max rel err $e)" lt "$e" 1e-3
  done
  e=$($PY -c "
import sys; sys.path.insert(0, '$TOP/tests/curv'); import ref, numpy as np
f, w, p = (ref.read('$T/mix.%s.$m' % x) for x in ('test', 'whole', 'part'))
print('%.3g' % max(np.abs(x['ihvp'] - y['ihvp']).max() / np.abs(y['ihvp']).max()
                   for a in (f, p) for x, y in zip(a, w)))")
  ok "$m: factored, whole and partly dense records give the same s to rounding ($e)" lt "$e" 1e-5
done
runb ihvp --curvature "$T/r7bias.ekfac" --mean < "$T/mix.test"; is "$rc" 0 "--mean: the mean vector (dense) through --curvature"
e=$($PY -c "
import sys; sys.path.insert(0, '$TOP/tests/curv'); import ref, numpy as np
m, each = ref.read('$T/.run.out')[0]['ihvp'], np.mean([r['ihvp'] for r in ref.read('$T/mix.test.ekfac')], 0)
print('%.3g' % (np.abs(m - each).max() / np.abs(each).max()))")
ok "... is the mean of the records' s, rotated from their factors (linearity; $e)" lt "$e" 1e-5
# When delta and a are independent, K-FAC (rank 1) and EK-FAC (rank 7, where
# K-FAC's A (x) G counts the r rows twice) approach the dense empirical
# Fisher solve (F + shift I)^-1 v as N grows.
for case in "r1bias kfac" "r7bias ekfac"; do
  set -- $case
  $PY "$REF" write "$T/$1.ind.test" $1 10 99 independent
  errs=
  for n in 200 6400; do
    $PY "$REF" write "$T/$1.ind.$n" $1 $n 5 independent
    curvature --method $2 --grads "$T/$1.ind.$n" -o "$T/$1.ind.$n.curv" 2>/dev/null
    ihvp --curvature "$T/$1.ind.$n.curv" --shift 0.1 < "$T/$1.ind.test" > "$T/$1.ind.$n.ihvp" 2>/dev/null
    errs="$errs $($PY "$REF" fisher-error "$T/$1.ind.$n.ihvp" "$T/$1.ind.$n" "$T/$1.ind.test" 0.1)"
  done
  set -- $1 $2 $errs
  ok "$1 $2: distance to the dense Fisher solve shrinks with N (N=200: $3, N=6400: $4)" \
    $PY -c "import sys; sys.exit(not ($4 < 0.5 * $3 and $4 < 0.1))"
done
# --fisher TRAIN-GRADS: the solvers over the empirical Fisher of a gradient
# stream (products by GEMM over the factors), no model file
runb ihvp --fisher "$T/train.g" --method hvp < "$T/test.g"; is "$rc" 0 "--fisher --method hvp runs"
e=$($PY "$REF" fisher-hvp "$T/.run.out" "$T/train.g" "$T/test.g")
ok "F v = (1/N) sum g_i (g_i . v) matches numpy (max rel err $e)" lt "$e" 1e-5
for m in exact cg; do
  runb ihvp --fisher "$T/train.g" --method $m --shift 0.1 --tol 1e-9 < "$T/test.g"; is "$rc" 0 "--fisher --method $m runs"
  like "$(dump < "$T/.run.out" 2>/dev/null | head -n 1)" '"hessian":"fisher"' "$m: the record says the curvature was the Fisher"
  e=$($PY "$REF" fisher-error "$T/.run.out" "$T/train.g" "$T/test.g" 0.1)
  ok "$m: (F + 0.1 I)^-1 v matches numpy's dense solve (max rel err $e)" lt "$e" 1e-4
done
# LiSSA contracts by shift/scale per step (scale auto ~ 5000 here): a shift of
# 20 converges in J = 3000 steps; its error is then the batch noise.
runb ihvp --fisher "$T/train.g" --method lissa --shift 20 --depth 3000 --batch 8 --repeats 4 < "$T/test.g"
is "$rc" 0 "--fisher --method lissa runs (scale auto)"
e=$($PY "$REF" fisher-error "$T/.run.out" "$T/train.g" "$T/test.g" 20)
ok "lissa (J=3000, B=8, T=4) within 0.1 of the dense solve, as tests/50-ihvp.t holds it (max rel err $e)" lt "$e" 0.1
runb ihvp --fisher "$T/r7.train" --method cg --shift 0.1 < "$T/test.g"; is "$rc" 1 "--fisher over other params: exit 1"
like "$err" "--fisher: the test gradients" "... naming the option"
runb ihvp --fisher "$T/train.g" --method identity < "$T/test.g"; is "$rc" 2 "--fisher with identity: usage error"
# influence --self --curvature: one "self" record, g_i^T (C + lambda)^-1 g_i
for m in kfac ekfac diag; do
  for ridge in "damping 0.1" "shift 0.05"; do
    set -- $ridge
    runb influence --self --curvature "$T/r7bias.$m" --$1 $2 --batch 64 < "$T/r7bias.train"
    is "$rc" 0 "influence --self --curvature ($m, --$1 $2) runs"
    e=$($PY "$REF" check-self "$T/.run.out" "$T/r7bias.train" $m $1 $2 2>&1)
    ok "$m --$1 $2: self-influence matches g_i^T (C + lambda)^-1 g_i one by one in numpy (max rel err $e)" lt "$e" 1e-4
  done
done
like "$err" "influence: done 1 record" "one record"
$PY -c "
import sys; sys.path.insert(0, '$TOP/tests/curv'); import ref, numpy as np, fastif_stream as fs
with open('$T/whole.g', 'wb') as f:
    for r in ref.read('$T/r7bias.train')[:100]:
        fs.write_record(f, {'id': r['id'], 'grad': ref.dense(r).astype(np.float32)})"
curvature --method diag --grads "$T/whole.g" -o "$T/whole.diag" 2>/dev/null
runb influence --self --curvature "$T/whole.diag" --shift 0.05 < "$T/whole.g"; is "$rc" 0 "--self on whole dense records"
e=$($PY -c "
import sys; sys.path.insert(0, '$TOP/tests/curv'); import ref, numpy as np
G = np.array([r['grad'] for r in ref.read('$T/whole.g')], float)
want = (G**2 / ((G**2).mean(0) + 0.05)).sum(1)
got = ref.read('$T/.run.out')[0]['scores']
print('%.3g' % (np.abs(got - want).max() / want.max()))")
ok "... g^T (diag + shift)^-1 g (max rel err $e)" lt "$e" 1e-5
runb influence --self --curvature "$T/r7.kfac" < "$T/r7bias.train"; is "$rc" 1 "training gradients over other params: exit 1"
like "$err" "--curvature: the gradient records" "... naming the option"
# the same params and P = 24, other widths: l in 5, out 4 (fitted) against in 3, out 6
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]; rng = np.random.default_rng(3)
def write(name, n, i, o):
    with open(d + "/" + name, "wb") as f:
        for k in range(n):
            fs.write_record(f, {"id": "%s-%d" % (name, k), "params": "l.weight,l.bias",
                                "a.l": rng.standard_normal((2, i)).astype(np.float32),
                                "delta.l": rng.standard_normal((2, o)).astype(np.float32)})
write("w54.train", 50, 5, 4)
write("w36.test", 3, 3, 6)
PY
curvature --method kfac --grads "$T/w54.train" -o "$T/w54.kfac" 2>/dev/null
runb influence --self --curvature "$T/w54.kfac" < "$T/w36.test"; is "$rc" 1 "--self: same params and P, other widths: exit 1"
like "$err" "--curvature: the curvature's layer 'l' \(in 5, out 4\) is not laid out as in the gradient records" "... naming the layer"
runb ihvp --curvature "$T/w54.kfac" < "$T/w36.test"; is "$rc" 1 "ihvp --curvature: same params and P, other widths: exit 1"
runb ihvp --curvature "$T/w54.kfac" < "$T/w54.train"
runb ihvp --curvature "$T/w54.kfac" --damping 2 < "$T/w54.train"; is "$rc" 0 "ihvp --curvature: a relative damping above 1 is a ridge like any other"; is "$rc" 0 "... and the widths it was fitted on pass"
runb influence --self < "$T/r7bias.train"; is "$rc" 2 "--self without --curvature: usage error"
runb influence --ihvp "$T/id.ihvp" --curvature "$T/r7.kfac" < "$T/r7bias.train"; is "$rc" 2 "--curvature without --self: usage error"
# bad factor rows in the middle of the stream: one line naming the record
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]; rng = np.random.default_rng(4)
for name, bad in (("wide", "a"), ("rows", "r")):
    with open(d + "/bad." + name, "wb") as f:
        for k in range(9):
            a, dl = rng.standard_normal((2, 5)), rng.standard_normal((2, 4))
            if k == 6 and bad == "a": a = a[:, :4]
            if k == 6 and bad == "r": dl = dl[:1]
            fs.write_record(f, {"id": "b%d" % k, "params": "l.weight,l.bias",
                                "a.l": a.astype(np.float32), "delta.l": dl.astype(np.float32)})
PY
runb ihvp --curvature "$T/w54.kfac" --group 4 < "$T/bad.wide"; is "$rc" 1 "a record's factor of another width: exit 1"
like "$err" "^ihvp: error: record 'b6' \\(#[0-9]+ [^)]*\\): 'a.l' has width 4, earlier records 5$" "... one line naming the record and the factor"
runb ihvp --curvature "$T/w54.kfac" --group 4 < "$T/bad.rows"; is "$rc" 1 "a record whose a and delta differ in rows: exit 1"
like "$err" "^ihvp: error: record 'b6' \\(#[0-9]+ [^)]*\\): 'a.l' has 2 rows, 'delta.l' 1$" "... one line naming the record"

# --factored-s: factored-Tikhonov K-FAC keeps s at the record's rank
for kind in r7bias r1bias r7; do
  for ridge in "damping 0.1" "shift 0.05"; do
    set -- $ridge
    runb ihvp --curvature "$T/$kind.kfac" --factored-s --$1 $2 < "$T/$kind.test"
    is "$rc" 0 "$kind --factored-s --$1 $2 runs"
    e=$($PY "$REF" check-factored "$T/.run.out" "$T/$kind.train" "$T/$kind.test" kfac $1 $2 2>&1)
    ok "$kind --$1 $2: sum_u s_delta_u s_a_u^T and the gammas match numpy's dense Tikhonov solve (max rel err $e)" lt "$e" 1e-4
  done
done
runb ihvp --curvature "$T/r7bias.ekfac" --factored-s < "$T/r7bias.test"; is "$rc" 0 "--factored-s takes an ekfac file (its A and G)"
e=$($PY "$REF" check-factored "$T/.run.out" "$T/r7bias.train" "$T/r7bias.test" kfac damping 0.1 2>&1)
ok "... the same Tikhonov K-FAC (max rel err $e)" lt "$e" 1e-4
# ranks 0/1/3/12: a rank-0 record's s_a/s_delta are empty [0, k] tensors (no data pointer)
runb ihvp --curvature "$T/r7bias.kfac" --factored-s --group 5 < "$T/mix.test"; is "$rc" 0 "--factored-s on records of rank 0, 1, 3 and 12"
e=$($PY "$REF" check-factored "$T/.run.out" "$T/r7bias.train" "$T/mix.test" kfac damping 0.1 2>&1)
ok "... s at each record's rank matches numpy's dense Tikhonov solve (max rel err $e)" lt "$e" 1e-4
runb ihvp --curvature "$T/r7bias.diag" --factored-s < "$T/r7bias.test"; is "$rc" 2 "--factored-s with a diag file: usage error"
done_testing
