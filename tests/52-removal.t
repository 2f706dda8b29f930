#!/bin/bash
# Influence predicts leave-k-out retraining (FastIF Fig. 10, Koh & Liang
# Fig. 2): for test points of a small mlp, removing the k most helpful
# training points (most negative scores) and retraining raises the test
# loss more than removing k random points, and removing the k most harmful
# lowers it more than random.
#
# Setup, chosen on principle rather than tuned: influence functions describe
# how the *optimum* moves, so the model is trained to a stationary point
# (L-BFGS, |grad| <= 1e-6 relative) and every retrain starts from the same
# init (same seed) with the same settings, so the only difference is the
# removed points; l2 = 0.01 (as in Koh & Liang's MNIST runs) keeps H
# positive definite at that optimum; s_test = H^-1 v solved exactly
# (--method exact --damping 0: the influence function itself, not an
# approximation of it). Data: 500 Fashion-MNIST training images pooled to
# 7x7, mlp:16:tanh (P = 970); test points: the first 5 correctly and the
# first 5 wrongly classified of the next 100 images (the paper's 5 + 5);
# k = 25 (5% of the training set, one of the paper's k values).
. "$(dirname "$0")/lib.sh"
F=/usr/share/datasets/fashion-mnist

import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 600 --fashion 2>/dev/null > "$T/raw.ex"
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rs = list(msgpack.Unpacker(open(d + '/raw.ex', 'rb'), raw=False))
for r in rs:  # 28x28 -> 7x7 mean pooling
    x = np.frombuffer(r['x']['data'], '<f4').reshape(7, 4, 7, 4).mean(axis=(1, 3))
    r['x'] = {'dtype': 'f32', 'shape': [49], 'data': x.astype('<f4').tobytes()}
open(d + '/train.ex', 'wb').write(b''.join(msgpack.packb(r) for r in rs[:500]))
open(d + '/pool.ex', 'wb').write(b''.join(msgpack.packb(r) for r in rs[500:600]))
PY

run $PY - "$T" <<'PY'
import msgpack, numpy as np, os, subprocess, sys
d = sys.argv[1]
# 500 x 49 problems: BLAS threads would only spin (and compete with prove -j)
ENV = dict(os.environ, OPENBLAS_NUM_THREADS='1')
TRAIN = ['train', '--arch', 'mlp:16:tanh', '--optim', 'lbfgs', '--l2', '0.01', '--tol', '1e-6',
         '--max-iter', '5000', '--seed', '1']
K = 25
def tool(args, stdin_path):
    with open(stdin_path, 'rb') as f:
        return subprocess.run(args, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env=ENV, check=True).stdout
def recs(b): return list(msgpack.Unpacker(__import__('io').BytesIO(b), raw=False))
train = list(msgpack.Unpacker(open(d + '/train.ex', 'rb'), raw=False))
ids = [r['id'] for r in train]
n = len(train)
open(d + '/base.model', 'wb').write(tool(TRAIN, d + '/train.ex'))
preds = recs(tool(['eval', '--model', d + '/base.model'], d + '/pool.ex'))
right = [p['id'] for p in preds if p['pred'] == p['label']][:5]
wrong = [p['id'] for p in preds if p['pred'] != p['label']][:5]
sel = right + wrong
pool = {r['id']: r for r in msgpack.Unpacker(open(d + '/pool.ex', 'rb'), raw=False)}
open(d + '/test.ex', 'wb').write(b''.join(msgpack.packb(pool[i]) for i in sel))
base_loss = {p['id']: p['loss'] for p in preds}
open(d + '/s', 'wb').write(tool(['ihvp', '--model', d + '/base.model', '--train', d + '/train.ex',
                                 '--method', 'exact', '--damping', '0'], d + '/test.ex'))
scores = {r['id']: (r['ids'], np.frombuffer(r['scores']['data'], '<f4'))
          for r in recs(tool(['influence', '--ihvp', d + '/s', '--model', d + '/base.model',
                              '--train', d + '/train.ex'], '/dev/null'))}
def retrain_loss(tid, drop):
    drop = set(drop)
    path = d + '/sub.ex'
    open(path, 'wb').write(b''.join(msgpack.packb(r) for r in train if r['id'] not in drop))
    open(d + '/sub.model', 'wb').write(tool(TRAIN, path))
    open(d + '/one.ex', 'wb').write(msgpack.packb(pool[tid]))
    return recs(tool(['eval', '--model', d + '/sub.model'], d + '/one.ex'))[0]['loss']
rng = np.random.default_rng(52)
rows = []
for tid in sel:
    sid, sc = scores[tid]
    assert list(sid) == ids
    order = np.argsort(sc, kind='stable')
    helpful, harmful = order[:K], order[::-1][:K]
    rand = rng.choice(n, K, replace=False)
    row = []
    for name, idx in (('helpful', helpful), ('harmful', harmful), ('random', rand)):
        actual = retrain_loss(tid, [ids[i] for i in idx]) - base_loss[tid]
        predicted = -sc[idx].sum() / n   # removing z_i: dL ~ +(1/n) g_i.s = -score_i/n
        row.append((actual, predicted))
    rows.append(row)
    print('# %-8s %s  d_helpful %+.4f (pred %+.4f)  d_harmful %+.4f (pred %+.4f)  d_random %+.4f (pred %+.4f)'
          % (tid, 'right' if tid in right else 'wrong', *[v for a in row for v in a]))
A = np.array([[a for a, _ in row] for row in rows])
Pp = np.array([[p for _, p in row] for row in rows])
print('# mean change of the test loss over %d test points, k=%d of n=%d removed:' % (len(sel), K, n))
print('# helpful %+.4f  harmful %+.4f  random %+.4f' % tuple(A.mean(0)))
print('# corr(predicted, actual) over all %d retrains: %.3f' % (A.size, np.corrcoef(A.ravel(), Pp.ravel())[0, 1]))
print('RESULT %.6f %.6f %.6f' % tuple(A.mean(0)))
PY
is "$rc" 0 "influence, 30 retrains and evals run"
echo "$out" | grep '^#'
[ "$rc" = 0 ] || echo "$err" | tail -5 | sed 's/^/# /'
read -r _ helpful harmful random <<< "$(echo "$out" | grep '^RESULT')"
$PY -c "import sys; sys.exit(not ${helpful:-0} > ${random:-0})"
is "$?" 0 "removing the top-k helpful raises the test loss more than removing k random (mean $helpful vs $random)"
$PY -c "import sys; sys.exit(not ${harmful:-0} < ${random:-0})"
is "$?" 0 "removing the top-k harmful lowers the test loss more than removing k random (mean $harmful vs $random)"
done_testing
