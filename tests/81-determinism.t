#!/bin/bash
# Determinism: the same inputs, seed and thread count give byte-identical
# output from every tool; across thread counts ihvp and influence agree to
# f32 rounding.
. "$(dirname "$0")/lib.sh"
B=$T/bad
$PY "$TOP/tests/bad/make.py" "$B" || { echo "Bail out! tests/bad/make.py failed"; exit 1; }
$PY - "$T/train.ms" "$T/test.ms" <<'PYEOF'
import sys, numpy as np, fastif_stream as fs
rng = np.random.default_rng(5)
for path, n, tag in ((sys.argv[1], 300, "t"), (sys.argv[2], 6, "q")):
    with open(path, "wb") as f:
        for i in range(n):
            x = rng.standard_normal(6).astype(np.float32)
            fs.write_record(f, {"id": "%s%d" % (tag, i), "label": int(x[0] + x[1] > 0) + int(x[2] > 1), "x": x})
PYEOF
twice() { # desc file input cmd... : run cmd twice (< input, > file.1 / file.2), compare
  local d=$1 f=$2 in=$3; shift 3
  "$@" < "$in" > "$f.1" 2>/dev/null && "$@" < "$in" > "$f.2" 2>/dev/null
  ok "$d: two runs give byte-identical output" cmp "$f.1" "$f.2"
  [ -s "$f.1" ] || { _report 1 "$d: produced output"; }
}
cd "$T"
twice "train mlp (adam)" m train.ms "$BIN/train" --arch mlp:8 --epochs 3 --seed 7
twice "train linear (lbfgs)" l train.ms "$BIN/train" --arch linear
twice "finetune-step --batch 16" f train.ms "$BIN/finetune-step" -m m.1 --lr 0.05 --steps 5 --batch 16 --seed 3
twice "eval" e test.ms "$BIN/eval" -m m.1
twice "embed" emb train.ms "$BIN/embed" -m m.1
"$BIN/embed" -m m.1 < test.ms > qemb.ms 2>/dev/null
"$BIN/knn-select" --build idx1 < emb.1 2>/dev/null; "$BIN/knn-select" --build idx2 < emb.1 2>/dev/null
ok "knn-select --build: identical index files" cmp idx1 idx2
ok "knn-select --build: identical id maps" cmp idx1.ids idx2.ids
twice "knn-select --index" c qemb.ms "$BIN/knn-select" --index idx1 -k 5
twice "grad" g test.ms "$BIN/grad" -m l.1
twice "grad --factored" gf train.ms "$BIN/grad" -m l.1 --factored
for meth in "lissa --depth 200 --repeats 2" "cg" "exact"; do
  twice "ihvp $meth --threads 2" "ih-${meth%% *}" g.1 "$BIN/ihvp" -m l.1 --train train.ms --method $meth --threads 2 --seed 4
done
twice "influence (factored)" s gf.1 "$BIN/influence" -m l.1 --ihvp ih-lissa.1
twice "influence fused" sf /dev/null "$BIN/influence" --ihvp ih-lissa.1 -m l.1 --train train.ms
twice "rank" r s.1 "$BIN/rank" -m 5 --join train.ms
twice "dump" d /dev/null "$BIN/dump" s.1
twice "dump --reverse" dr /dev/null "$BIN/dump" --reverse d.1
ok "dump | dump --reverse reproduces the stream" cmp dr.1 s.1
twice "import-csv" ic /dev/null "$BIN/import-csv" "$B/ok.csv"
twice "import-idx" ii /dev/null "$BIN/import-idx" --images "$B/idx-img.idx" --labels "$B/idx-lab.idx"

# thread counts: same numbers up to f32 rounding (sums may reorder)
for meth in "lissa --depth 200 --repeats 2" "cg" "exact"; do
  "$BIN/ihvp" -m l.1 --train train.ms --method $meth --threads 1 --seed 4 < g.1 > "t1.ms" 2>/dev/null
  ok "ihvp $meth: --threads 1 and 2 agree to f32 rounding" $PY - t1.ms "ih-${meth%% *}.1" ihvp <<'PYEOF'
import sys, numpy as np, fastif_stream as fs
a = list(fs.read_stream(open(sys.argv[1], "rb"))); b = list(fs.read_stream(open(sys.argv[2], "rb")))
assert [r["id"] for r in a] == [r["id"] for r in b]
for r, s in zip(a, b):
    x, y = r[sys.argv[3]].astype(np.float64), s[sys.argv[3]].astype(np.float64)
    err = np.max(np.abs(x - y)) / max(1e-30, np.max(np.abs(y)))
    assert err < 1e-4, (r["id"], err)
PYEOF
done
OPENBLAS_NUM_THREADS=1 "$BIN/influence" --ihvp ih-lissa.1 -m l.1 --train train.ms > sf1.ms 2>/dev/null
ok "influence fused: 1 BLAS thread and the default agree to f32 rounding" $PY - sf1.ms sf.1 scores <<'PYEOF'
import sys, numpy as np, fastif_stream as fs
a = list(fs.read_stream(open(sys.argv[1], "rb"))); b = list(fs.read_stream(open(sys.argv[2], "rb")))
for r, s in zip(a, b):
    assert r["ids"] == s["ids"]
    x, y = r["scores"].astype(np.float64), s["scores"].astype(np.float64)
    assert np.max(np.abs(x - y)) <= 1e-4 * max(1e-30, np.max(np.abs(y))), r["id"]
PYEOF
done_testing
