#!/bin/bash
# The linear datamodeling score (bin/lds, lib/lds.c, pipelines/lds.mk):
# - the statistics against scipy.stats.spearmanr on synthetic records with
#   ties, constant outputs, partial (kNN-like) and sharded scores, for both
#   outputs and their signs; the bootstrap interval's behaviour;
# - the subset draw: seeded, exactly round(alpha N) ids in training order,
#   the first subsets independent of M, every point in about alpha of them;
# - outputs from predictions against numpy; bad input named by record;
# - the make graph on 100 images and softmax regression: LDS of exact
#   influence well above 0, a rerun and a new method retrain nothing, a
#   larger M retrains only the new subsets, a failed retrain names its
#   subset, stops the graph and the rerun resumes.
. "$(dirname "$0")/lib.sh"
MK=$TOP/pipelines/lds.mk

# ---- statistics against scipy --------------------------------------------
$PY - "$T" <<'PY'
import json, sys, warnings
import msgpack, numpy as np
from scipy.stats import spearmanr
warnings.simplefilter("ignore")   # scipy warns about the constant output, on purpose
d = sys.argv[1]
rng = np.random.default_rng(57)
N, M, T = 40, 15, 12
tr = ["tr-%d" % i for i in range(N)]
te = ["te-%d" % t for t in range(T)]
def f32(a): return {"dtype": "f32", "shape": [len(a)], "data": np.asarray(a, "<f4").tobytes()}
def f64(a): return {"dtype": "f64", "shape": [len(a)], "data": np.asarray(a, "<f8").tobytes()}
def put(name, recs): open(d + "/" + name, "wb").write(b"".join(msgpack.packb(r) for r in recs))
subs = [sorted(rng.choice(N, 20, replace=False)) for _ in range(M)]
# the ids in shuffled order: lds must not rely on training order
put("subsets.mp", [{"id": "s%d" % m, "ids": [tr[i] for i in rng.permutation(s)]} for m, s in enumerate(subs)])
S = np.zeros((T, N))
recs = []
for t in range(T):
    sc = rng.integers(-3, 4, N) * 0.5            # many ties
    if t == 0:                                    # kNN-like: only 10 scored, the rest count 0
        keep = rng.choice(N, 10, replace=False)
        S[t, keep] = sc[keep]
        recs.append({"id": te[t], "ids": [tr[i] for i in keep], "scores": f32(sc[keep])})
    elif t == 1:                                  # two shards of one test point
        S[t] = sc
        recs.append({"id": te[t], "ids": tr[:25], "scores": f32(sc[:25])})
        recs.append({"id": te[t], "ids": tr[25:], "scores": f32(sc[25:])})
    else:
        S[t] = sc
        recs.append({"id": te[t], "ids": tr, "scores": f32(sc)})
put("scores.mp", recs)
X = np.zeros((M, N))
for m, s in enumerate(subs): X[m, s] = 1
actual = np.round(rng.normal(size=(M, T)), 1)   # ties in the outputs too
actual[:, 2] = 0.7                               # a constant output: correlation undefined
out = {}
for kind, sign in (("loss", 1), ("margin", -1)):
    # outputs list one extra, unscored test point, and the scored ones in another order
    order = list(rng.permutation(T))
    put("outputs-%s.mp" % kind, [{"id": "s%d" % m, "output": kind, "ids": [te[t] for t in order] + ["te-extra"],
                                  "values": f64(list(actual[m, order]) + [5.0])} for m in range(M)])
    pred = sign * X @ S.T                         # [M, T]: predicted output of subset m for test t
    rho = [float(spearmanr(actual[:, t], pred[:, t]).correlation) for t in range(T)]
    rho = [None if r != r else r for r in rho]
    out[kind] = {"rho": rho, "lds": float(np.nanmean([r if r is not None else np.nan for r in rho]))}
out["scored"] = float((10 + (T - 1) * N) / T)
json.dump(out, open(d + "/expected.json", "w"))
PY
for kind in loss margin; do
  lds --subsets "$T/subsets.mp" --outputs "$T/outputs-$kind.mp" --seed 3 < "$T/scores.mp" > "$T/lds-$kind.mp" 2> "$T/lds.err"
  is "$?" 0 "lds over synthetic $kind outputs runs"
  err=$(cat "$T/lds.err")
  like "$err" "lds: LDS -?[0-9.]+ \(95% CI .* over 12 test points, 15 subsets, $kind; 1 undefined" "it logs the LDS and its interval ($kind)"
  is "$($PY - "$T" "$kind" <<'PY'
import json, sys, msgpack, numpy as np
d, kind = sys.argv[1:]
r = next(iter(msgpack.Unpacker(open(d + "/lds-%s.mp" % kind, "rb"), raw=False)))
e = json.load(open(d + "/expected.json"))
got = np.frombuffer(r["spearman"]["data"], "<f8")
want = np.array([x for x in e[kind]["rho"] if x is not None])
ok = (r["ids"] == ["te-%d" % t for t in range(12) if e[kind]["rho"][t] is not None]
      and r["undefined_ids"] == ["te-%d" % t for t in range(12) if e[kind]["rho"][t] is None]
      and len(got) == len(want) and np.allclose(got, want, rtol=0, atol=1e-12)
      and abs(r["lds"] - e[kind]["lds"]) < 1e-12 and r["undefined"] == 1 and r["output"] == kind
      and abs(r["scored"] - e["scored"]) < 1e-12 and r["ci_low"] <= r["lds"] <= r["ci_high"])
print(ok, "lds %.4f" % r["lds"])
PY
)" "True lds $($PY -c "import json; print('%.4f' % json.load(open('$T/expected.json'))['$kind']['lds'])")" \
    "per-test Spearman (ties, a constant output, partial and sharded scores) and LDS equal scipy's ($kind)"
done
is "$($PY -c "
import json; e = json.load(open('$T/expected.json'))
print(all((a is None and b is None) or abs(a + b) < 1e-12 for a, b in zip(e['loss']['rho'], e['margin']['rho'])))")" True \
  "the reference itself: the same values as margin predict with the opposite sign"
lds --subsets "$T/subsets.mp" --outputs "$T/outputs-loss.mp" --seed 3 < "$T/scores.mp" > "$T/again.mp" 2>/dev/null
ok "the same bootstrap seed gives the same record" cmp "$T/again.mp" "$T/lds-loss.mp"
lds --subsets "$T/subsets.mp" --outputs "$T/outputs-loss.mp" --seed 4 < "$T/scores.mp" > "$T/seed4.mp" 2>/dev/null
lds --subsets "$T/subsets.mp" --outputs "$T/outputs-loss.mp" --seed 4 --bootstrap 20000 < "$T/scores.mp" > "$T/big.mp" 2>/dev/null
lds --subsets "$T/subsets.mp" --outputs "$T/outputs-loss.mp" --seed 4 --bootstrap 20000 --level 0.5 < "$T/scores.mp" > "$T/half.mp" 2>/dev/null
lds --subsets "$T/subsets.mp" --outputs "$T/outputs-loss.mp" --bootstrap 0 < "$T/scores.mp" > "$T/noci.mp" 2>/dev/null
is "$($PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
def rec(n): return next(iter(msgpack.Unpacker(open(d + "/" + n, "rb"), raw=False)))
a, b, big, half, noci = (rec(n) for n in ("lds-loss.mp", "seed4.mp", "big.mp", "half.mp", "noci.mp"))
rho = np.frombuffer(big["spearman"]["data"], "<f8")
# a percentile bootstrap of a mean is close to the normal interval +-1.96 sd/sqrt(n)
normal = 2 * 1.96 * rho.std() / np.sqrt(len(rho))
print((a["ci_low"], a["ci_high"]) != (b["ci_low"], b["ci_high"]),
      0.8 < (big["ci_high"] - big["ci_low"]) / normal < 1.2,
      half["ci_high"] - half["ci_low"] < 0.6 * (big["ci_high"] - big["ci_low"]),
      "ci_low" not in noci and noci["lds"] == a["lds"])
PY
)" "True True True True" "another seed moves the interval; its width matches the normal one; level 0.5 is narrower; --bootstrap 0 has none"

# ---- the subset draw -----------------------------------------------------
$PY -c "
import msgpack
open('$T/ids101.mp', 'wb').write(b''.join(msgpack.packb({'id': 'e%03d' % i, 'label': i % 3}) for i in range(101)))"
lds --draw 8 --alpha 0.3 --seed 5 < "$T/ids101.mp" > "$T/d8.mp" 2>/dev/null
lds --draw 8 --alpha 0.3 --seed 5 < "$T/ids101.mp" > "$T/d8b.mp" 2>/dev/null
lds --draw 5 --alpha 0.3 --seed 5 < "$T/ids101.mp" > "$T/d5.mp" 2>/dev/null
lds --draw 8 --alpha 0.3 --seed 6 < "$T/ids101.mp" > "$T/d8s6.mp" 2>/dev/null
lds --draw 4 --alpha 0.5 --seed 5 < "$T/ids101.mp" > "$T/half.mp" 2>/dev/null
lds --draw 2000 --alpha 0.5 --seed 7 < "$T/ids101.mp" 2>/dev/null | pick --head 2000 > "$T/many.mp" 2>/dev/null
ok "the same seed draws byte-identical subsets" cmp "$T/d8.mp" "$T/d8b.mp"
ok "the first 5 of 8 subsets are the 5 drawn with --draw 5" cmp -n "$(wc -c < "$T/d5.mp")" "$T/d5.mp" "$T/d8.mp"
not_ok "another seed draws other subsets" cmp -s "$T/d8.mp" "$T/d8s6.mp"
is "$($PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
def recs(n): return list(msgpack.Unpacker(open(d + "/" + n, "rb"), raw=False))
ids = ["e%03d" % i for i in range(101)]
d8, half, many = recs("d8.mp"), recs("half.mp"), recs("many.mp")
sizes = sorted({len(r["ids"]) for r in d8}), sorted({len(r["ids"]) for r in half})
ordered = all(r["ids"] == [i for i in ids if i in set(r["ids"])] for r in d8 + half)
meta = [(r["id"], r["index"], r["n_train"], r["alpha"], r["seed"]) for r in d8[:2]]
# every point in about half of 2000 subsets (sd 0.011), a pair in about (51/101)(50/100)
inc = np.array([[i in set(r["ids"]) for i in ids] for r in many], float)
f = inc.mean(0)
both = (inc[:, 0] * inc[:, 1]).mean()
print(sizes, ordered, meta, bool(np.all(np.abs(f - 0.5) < 0.05)), abs(both - 0.5 * 50 / 100) < 0.05)
PY
)" "([30], [51]) True [('subset-0', 0, 101, 0.3, 5), ('subset-1', 1, 101, 0.3, 5)] True True" \
  "round(alpha N) ids each (30 of 101 at 0.3, 51 at 0.5), in training order, no repeats; each point in ~alpha of them"
run lds --draw 3 --alpha 0.001 < "$T/ids101.mp"
like "$rc: $err" "^1: lds: error: alpha 0.001 of 101 training examples leaves an empty subset" "an alpha that leaves no example is refused"

# ---- outputs from predictions --------------------------------------------
$PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
def f32(a): return {"dtype": "f32", "shape": [len(a)], "data": np.asarray(a, "<f4").tobytes()}
p = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [1 - 3e-9, 1e-9, 2e-9]]   # the last rounds p_y to 1 in float
recs = [{"id": "p%d" % i, "label": y, "pred": int(np.argmax(q)), "probs": f32(q)} for i, (q, y) in enumerate(zip(p, [0, 1, 0]))]
recs.append({"id": "z", "label": 2, "logits": f32([1.0, -2.0, 0.5]), "probs": f32([0.1, 0.1, 0.8])})
open(d + "/pred.mp", "wb").write(b"".join(msgpack.packb(r) for r in recs))
PY
lds --collect subset-3 --output margin < "$T/pred.mp" > "$T/om.mp" 2>/dev/null
lds --collect subset-3 --output loss < "$T/pred.mp" > "$T/ol.mp" 2>/dev/null
is "$($PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
def rec(n): return next(iter(msgpack.Unpacker(open(d + "/" + n, "rb"), raw=False)))
m, l = rec("om.mp"), rec("ol.mp")
p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "<f4").astype(float)
z = np.array([1.0, -2.0, 0.5])
want_m = [np.log(p[0, 0]) - np.log(p[0, 1]), np.log(p[1, 1]) - np.log(p[1, 2]),
          np.log1p(-3e-9) - np.log(np.float32(2e-9)), z[2] - z[0]]
want_l = [-np.log(p[0, 0]), -np.log(p[1, 1]), 3e-9, np.log(np.exp(z).sum()) - z[2]]
gm, gl = np.frombuffer(m["values"]["data"], "<f8"), np.frombuffer(l["values"]["data"], "<f8")
print(m["id"], m["output"], l["output"], m["ids"], np.allclose(gm, want_m, rtol=1e-6, atol=0), np.allclose(gl, want_l, rtol=1e-6, atol=0))
PY
)" "subset-3 margin loss ['p0', 'p1', 'p2', 'z'] True True" \
  "margin and loss from probs (p_y near 1 from the other classes' mass) and from logits equal numpy"
$PY -c "
import msgpack, numpy as np
open('$T/badpred.mp', 'wb').write(msgpack.packb({'id': 'q1', 'label': 3, 'probs': {'dtype': 'f32', 'shape': [3], 'data': np.ones(3, '<f4').tobytes()}}))"
run lds --collect s --output loss < "$T/badpred.mp"
like "$rc: $err" "^1: lds: error: record 'q1' \(#0 of [^)]*\).*label 3 is not a class of the model's 3" "a label the model has no class for is named"

# ---- bad input -------------------------------------------------------------
bad() { # DESC REGEX: lds over outputs $T/bad.mp fails with REGEX
  run lds --subsets "$T/subsets.mp" --outputs "$T/bad.mp" < "$T/scores.mp"
  like "$rc: $err" "^1: lds: error: $2" "$1"
  is "$out" "" "and writes nothing ($1)"
}
edit() { $PY - "$T" "$1" <<'PY'
import sys, msgpack
d, what = sys.argv[1:]
rs = list(msgpack.Unpacker(open(d + "/outputs-loss.mp", "rb"), raw=False))
if what == "unknown": rs[3]["id"] = "s99"
if what == "twice": rs[4] = rs[2]
if what == "mixed": rs[5]["output"] = "margin"
if what == "missing": rs[6]["ids"][rs[6]["ids"].index("te-7")] = "te-other"
if what == "few": rs = rs[:2]
if what == "kind": rs[0]["output"] = "accuracy"
open(d + "/bad.mp", "wb").write(b"".join(msgpack.packb(r) for r in rs))
PY
}
edit unknown; bad "outputs of a subset not in the subsets file" "record 's99' \(#3 of [^)]*\): no subset 's99' in the subsets file"
edit twice; bad "a subset's outputs given twice" "record 's2' \(#4 of [^)]*\): outputs of subset 's2' given twice"
edit mixed; bad "margin mixed with loss" "record 's5' \(#5 of [^)]*\): output 'margin', but earlier records are 'loss'"
edit missing; bad "a scored test point without an output" "record 's6' \(#6 of [^)]*\): no output for the scored test point 'te-7'"
edit few; bad "outputs of fewer than 3 subsets" ".*outputs of 2 subsets; a rank correlation needs at least 3"
edit kind; bad "an unknown output kind" "record 's0' \(#0 of [^)]*\): output 'accuracy' is neither margin nor loss"
$PY -c "
import msgpack, numpy as np
open('$T/other.mp', 'wb').write(msgpack.packb({'id': 'te-0', 'ids': ['x1', 'x2'], 'scores': {'dtype': 'f32', 'shape': [2], 'data': np.ones(2, '<f4').tobytes()}}))"
run lds --subsets "$T/subsets.mp" --outputs "$T/outputs-loss.mp" < "$T/other.mp"
like "$rc: $err" "^1: lds: error: test 'te-0': none of its 2 scored training ids is in a subset" "scores of another training set are refused"
run lds --draw 3 --collect x < /dev/null
is "$rc" 2 "two modes at once: a usage error"
run lds < /dev/null
is "$rc" 2 "no mode: a usage error"

# ---- the make graph: 100 images, softmax regression, M = 8 ---------------
F=/usr/share/datasets/fashion-mnist
import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 140 --fashion 2>/dev/null > "$T/raw.ex"
$PY - "$T" <<'PY'
import msgpack, numpy as np, sys
d = sys.argv[1]
rs = list(msgpack.Unpacker(open(d + '/raw.ex', 'rb'), raw=False))
for r in rs:  # 28x28 -> 7x7 mean pooling: P = 500, so the exact solve is instant
    x = np.frombuffer(r['x']['data'], '<f4').reshape(7, 4, 7, 4).mean(axis=(1, 3))
    r['x'] = {'dtype': 'f32', 'shape': [49], 'data': x.astype('<f4').tobytes()}
open(d + '/train.mp', 'wb').write(b''.join(msgpack.packb(r) for r in rs[:100]))
open(d + '/test.mp', 'wb').write(b''.join(msgpack.packb(r) for r in rs[100:140]))
PY
G=$T/g
score() { # NAME DAMPING: exact influence at that damping, as a SCORE command
  echo "grad --model $G/model < $T/test.mp | ihvp --model $G/model --train $T/train.mp --method exact --damping $2 --scale 1 > $G/s-$1.mp && influence --ihvp $G/s-$1.mp --model $G/model --train $T/train.mp"
}
gv=(BIN="$BIN" OUT="$G" TRAIN="$T/train.mp" TEST="$T/test.mp" M=8 JOBS=2 RETRAIN='train --arch linear --l2 0.01 --seed 1'
    METHODS=exact SCORE.exact="$(score exact 0)")
ok "make -f lds.mk lds: draw, retrain 8 models, evaluate, score, LDS" make -s -f "$MK" "${gv[@]}" lds
ls "$G"/fan/models/*.model > /dev/null 2>&1 && n=$(ls "$G"/fan/models/*.model | wc -l)
is "${n:-0}" 8 "one model per subset"
is "$(ls "$G"/fan/logs/*.retrain.log 2>/dev/null | wc -l)" 8 "one log per retraining job"
lds_of() { $PY -c "import msgpack, sys; r = next(iter(msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False))); print('%.3f %d %d' % (r['lds'], r['subsets'], r['tests']))" "$1"; }
read -r v ns nt <<< "$(lds_of "$G/lds-exact.mp")"
is "$ns $nt" "8 40" "the LDS is over 8 subsets and the 40 test points"
$PY -c "import sys; sys.exit(not $v > 0.5)"
is "$?" 0 "exact influence on softmax regression: LDS well above 0 ($v > 0.5)"
like "$(cat "$G/lds.md")" "\| exact \| $v \| " "lds.md has the method's row"
is "$(make -s -f "$MK" "${gv[@]}" -n lds)" "" "a finished graph has nothing left to do"
mtimes() { find "$G/fan/models" -name '*.model' -printf '%f %T@\n' | sort; }
mtimes > "$T/m0"
gv+=(METHODS='exact damped' SCORE.damped="$(score damped 0.5)")
run make -s -f "$MK" "${gv[@]}" lds
is "$rc" 0 "a second scoring method: the graph reruns"
is "$(grep -c 'lds: retraining' <<< "$err")" 0 "and retrains nothing"
ok "the models are untouched (mtimes)" cmp "$T/m0" <(mtimes)
ok "lds.md has both rows" grep -q '^| damped | ' "$G/lds.md"
run make -s -f "$MK" "${gv[@]}" M=10 lds
is "$rc" 0 "M = 10: the graph reruns"
like "$err" "lds: retraining 2 of 10 subsets" "and retrains only the 2 new subsets"
ok "the first 8 models are untouched" cmp "$T/m0" <(mtimes | grep -v -e 'subset-8\.' -e 'subset-9\.')
is "$(lds_of "$G/lds-exact.mp" | cut -d' ' -f2)" 10 "the LDS is now over 10 subsets"
mtimes > "$T/m1"
run make -s -f "$MK" "${gv[@]}" M=10 OUTPUT=loss lds
is "$rc $(grep -c 'lds: retraining' <<< "$err")" "0 0" "OUTPUT=loss: outputs and LDS remade, no retraining"
ok "the models are untouched" cmp "$T/m1" <(mtimes)
is "$($PY -c "import msgpack; print(next(iter(msgpack.Unpacker(open('$G/lds-exact.mp', 'rb'), raw=False)))['output'])")" loss \
  "the LDS record says loss"

# A retrain that fails (subset-5, while the flag file exists) stops the graph.
H=$T/h
fv=(BIN="$BIN" OUT="$H" TRAIN="$T/train.mp" TEST="$T/test.mp" M=8 JOBS=1 METHODS=exact SCORE.exact="$(score exact 0)"
    RETRAIN="if [ -e $T/fail-\$\$LDS_SUBSET ]; then echo 'retrain: error: planned failure' >&2; exit 1; fi; train --arch linear --l2 0.01 --seed 1")
touch "$T/fail-subset-5"
run make -s -f "$MK" "${fv[@]}" lds
is "$rc" 2 "a failing retrain stops the graph"
like "$err" "lds: error: retraining subset-5 failed \(exit 1, signal 0; log: .*/fan/logs/subset-5.retrain.log\)" "naming its subset and its log"
like "$err" "retrain: error: planned failure" "with the command's own error line"
is "$([ -e "$H/outputs.mp" ] || [ -e "$H/lds.md" ] && echo made || echo none)" none "no outputs.mp or lds.md is made"
find "$H/fan/models" -name '*.model' -printf '%f %T@\n' | sort > "$T/h0"
is "$(cut -d' ' -f1 "$T/h0" | tr '\n' ' ')" "subset-0.model subset-1.model subset-2.model subset-3.model subset-4.model " \
  "the models made before the failure are kept"
rm "$T/fail-subset-5"
run make -s -f "$MK" "${fv[@]}" lds
is "$rc" 0 "the rerun succeeds"
like "$err" "lds: retraining 3 of 8 subsets" "retraining only the subsets left"
ok "and the kept models are untouched" cmp "$T/h0" <(find "$H/fan/models" -name '*.model' -printf '%f %T@\n' | sort | head -n 5)
ok "its LDS equals the uninterrupted run's at M = 8" cmp <(lds_of "$H/lds-exact.mp") \
  <(make -s -f "$MK" "${gv[@]}" OUTPUT=margin M=8 lds > /dev/null 2>&1; lds_of "$G/lds-exact.mp")
done_testing
