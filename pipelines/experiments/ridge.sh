#!/usr/bin/env bash
# ridge.sh MODEL TRAIN TEST [DAMPINGS] - what the ridge of --scale auto does to
# the answer: exact solves with shift = damping x scale (scale auto) against
# the undamped solve (pseudo-inverse), on the first 20 test points: the
# relative error of s_test, and of the influence scores over every training
# point their Pearson correlation and top-10 (most helpful) overlap; then the
# default ridge (--damping auto) of exact and of cg the same way. Writes a
# markdown table on stdout (formats/ihvp.md, "What the ridge does").
set -eu -o pipefail
model=$1 train=$2 test=$3 dampings=${4:-"0.001 0.005 0.02 0.1"}
d=$(mktemp -d "${TMPDIR:-/tmp}/ridge.XXXXXX"); trap 'rm -rf "$d"' EXIT
pick --head 20 "$test" > "$d/q.mp" 2>/dev/null
grad --model "$model" < "$d/q.mp" > "$d/g.mp" 2>/dev/null
run() { # NAME ihvp-options (exact unless they say otherwise)
  ihvp --model "$model" --train "$train" --method "${METHOD:-exact}" "${@:2}" < "$d/g.mp" > "$d/$1.ihvp" 2> "$d/$1.log"
  influence --ihvp "$d/$1.ihvp" --model "$model" --train "$train" > "$d/$1.scores" 2>/dev/null
}
run d0 --damping 0
names=""
for D in $dampings; do run "d$D" --damping "$D"; names="$names d$D"; done
run dauto-exact; METHOD=cg run dauto-cg; names="$names dauto-exact dauto-cg"
/usr/bin/python3 - "$d" $names <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(d + '/' + f, 'rb'), raw=False))
vec = lambda t: np.frombuffer(t['data'], '<f4').astype(float)
s0 = {r['id']: vec(r['ihvp']) for r in rd('d0.ihvp')}
c0 = {r['id']: vec(r['scores']) for r in rd('d0.scores')}
print('| damping | shift (scale auto) | rel. error of s_test | scores: Pearson | top-10 helpful overlap |')
print('|---|---|---|---|---|')
for n in sys.argv[2:]:
    rs = rd(n + '.ihvp')
    e = [np.linalg.norm(vec(r['ihvp']) - s0[r['id']]) / np.linalg.norm(s0[r['id']]) for r in rs]
    p, o = [], []
    for r in rd(n + '.scores'):
        a, b = vec(r['scores']), c0[r['id']]
        p.append(np.corrcoef(a, b)[0, 1])
        o.append(len(set(np.argsort(a)[:10]) & set(np.argsort(b)[:10])))
    print('| %s | %.3g | %.3f (max %.3f) | %.4f (min %.4f) | %.1f/10 (min %d) |' % (
        n[1:].replace('-', ' (') + ')' if '-' in n else n[1:], rs[0]['shift'], np.median(e), max(e), np.median(p), min(p), np.mean(o), min(o)))
PY
