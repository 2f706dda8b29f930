#!/bin/bash
# knn-select: build/query against numpy brute force, --mean, batching,
# errors, and atomic index files.
. "$(dirname "$0")/lib.sh"

# Streams from an independent writer (python msgpack + numpy).
$PY - "$T" <<'EOF'
import sys, msgpack, numpy as np
T = sys.argv[1]
rng = np.random.default_rng(7)
N, Q, D = 600, 45, 16
X = rng.standard_normal((N, D)).astype("<f4")
Y = rng.standard_normal((Q, D)).astype("<f4")
def t(v): return {"dtype": "f32", "shape": [len(v)], "data": v.astype("<f4").tobytes()}
def write(path, ids, M, extra=None):
    with open(path, "wb") as f:
        for i, (rid, v) in enumerate(zip(ids, M)):
            f.write(msgpack.packb({"id": rid, "label": i % 3, "emb": t(v)}))
        if extra: f.write(msgpack.packb(extra))
write(f"{T}/train.mp", [f"tr{i}" for i in range(N)], X)
write(f"{T}/query.mp", [f"q{i}" for i in range(Q)], Y)
# same size, different vectors: for the mismatched-pair check
write(f"{T}/train2.mp", [f"tr{i}" for i in range(N)], X[::-1])
# record 100 has the wrong dimension
bad = [v if i != 100 else v[:-1] for i, v in enumerate(X)]
write(f"{T}/train-baddim.mp", [f"tr{i}" for i in range(N)], bad)
write(f"{T}/query-baddim.mp", ["qa", "qshort"], [Y[0], Y[1][:8]])
write(f"{T}/self.mp", [f"self{i}" for i in (5, 77, 300)], X[[5, 77, 300]])
np.save(f"{T}/X.npy", X); np.save(f"{T}/Y.npy", Y)
EOF

# Compare candidates with brute force: CHECK.py CANDIDATES K [mean]
cat > "$T/check.py" <<'EOF'
import sys, msgpack, numpy as np
T, cand, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
mean = len(sys.argv) > 4
X = np.load(f"{T}/X.npy").astype(np.float64); Y = np.load(f"{T}/Y.npy").astype(np.float64)
if mean: Y = Y.mean(axis=0, keepdims=True)
recs = list(msgpack.Unpacker(open(cand, "rb"), raw=False))
assert len(recs) == len(Y), f"{len(recs)} records for {len(Y)} queries"
tol = 1e-4
for i, r in enumerate(recs):
    want_id = sys.argv[4] if mean else f"q{i}"
    assert r["id"] == want_id, (r["id"], want_id)
    assert set(r) == {"id", "ids", "dist"}, sorted(r)
    t = r["dist"]
    assert t["dtype"] == "f32" and t["shape"] == [k], t["shape"]
    dist = np.frombuffer(t["data"], "<f4").astype(np.float64)
    assert len(r["ids"]) == k and len(set(r["ids"])) == k, "k distinct ids"
    d2 = ((X - Y[i]) ** 2).sum(axis=1)
    got = np.array([int(s[2:]) for s in r["ids"]])
    # exact kNN up to float rounding: reported distances are the true
    # squared distances of the reported ids, nearest first, and nothing
    # left out is clearly closer than the k-th
    assert np.allclose(dist, d2[got], rtol=tol, atol=tol), abs(dist - d2[got]).max()
    assert (np.diff(dist) >= -tol).all(), "nearest first"
    left = np.setdiff1d(np.arange(len(X)), got)
    if len(left): assert d2[left].min() >= d2[got].max() - tol, "a closer record was left out"
    # and, away from near-ties, the very same order as brute force
    order = np.argsort(d2, kind="stable")[:k]
    gap = np.diff(d2[order]); clear = np.r_[gap > tol, True] & np.r_[True, gap > tol]
    assert (got[clear] == order[clear]).all(), f"query {i}: order differs from brute force"
print("ok")
EOF

run knn-select --build "$T/idx" < "$T/train.mp"
is "$rc" 0 "build exits 0"
like "$err" "knn-select: done 600 records" "build summary"
ok "INDEX and INDEX.ids written" test -s "$T/idx" -a -s "$T/idx.ids"
is "$(head -c 4 "$T/idx")" "IxF2" "INDEX is a FAISS IndexFlatL2 file"
is "$(ls -a "$T" | grep -c tmp)" 0 "no temp files left behind"

knn-select --index "$T/idx" -k 25 < "$T/query.mp" > "$T/cand.mp" 2> "$T/cand.err"
is "$?" 0 "query exits 0"
like "$(cat "$T/cand.err")" "knn-select: done 45 records" "query summary"
is "$($PY "$T/check.py" "$T" "$T/cand.mp" 25 2>&1)" ok "neighbours and squared distances equal numpy brute force"
knn-select --index "$T/idx" -k 25 --batch 7 --threads 2 < "$T/query.mp" > "$T/cand7.mp" 2>/dev/null
is "$($PY "$T/check.py" "$T" "$T/cand7.mp" 25 2>&1)" ok "--batch 7 --threads 2: same neighbours (FAISS's non-BLAS path)"
knn-select --index "$T/idx" -k 600 < "$T/query.mp" > "$T/candall.mp" 2>/dev/null
is "$($PY "$T/check.py" "$T" "$T/candall.mp" 600 2>&1)" ok "k = index size ranks every training record"

knn-select --index "$T/idx" -k 12 --mean < "$T/query.mp" > "$T/mean.mp" 2>/dev/null
is "$($PY "$T/check.py" "$T" "$T/mean.mp" 12 mean 2>&1)" ok "--mean queries the mean embedding, id 'mean'"
knn-select --index "$T/idx" -k 12 --mean --id anchors < "$T/query.mp" > "$T/mean2.mp" 2>/dev/null
is "$($PY "$T/check.py" "$T" "$T/mean2.mp" 12 anchors 2>&1)" ok "--mean --id NAME names the record"

# Errors: exit 1 with a message naming the problem.
run knn-select --build "$T/bad" < "$T/train-baddim.mp"
is "$rc" 1 "build with a dimension mismatch exits 1"
like "$err" "record 'tr100'.*15 elements.*16" "error names the record and both dimensions"
ok "failed build leaves no INDEX" test ! -e "$T/bad"
ok "failed build leaves no INDEX.ids" test ! -e "$T/bad.ids"
is "$(ls -a "$T" | grep -c tmp)" 0 "failed build leaves no temp files"

cp "$T/idx" "$T/keep"; cp "$T/idx.ids" "$T/keep.ids"
run knn-select --build "$T/idx" < "$T/train-baddim.mp"
is "$rc" 1 "failed rebuild over an existing index exits 1"
ok "existing INDEX untouched" cmp "$T/idx" "$T/keep"
ok "existing INDEX.ids untouched" cmp "$T/idx.ids" "$T/keep.ids"

run knn-select --index "$T/idx" -k 3 < "$T/query-baddim.mp"
is "$rc" 1 "query with the wrong dimension exits 1"
like "$err" "record 'qshort'.*8 elements.*dimension 16" "error names the query record"
run knn-select --index "$T/idx" -k 601 < "$T/query.mp"
is "$rc" 1 "k larger than the index exits 1"
like "$err" "k=601 is larger than the index.*600 vectors" "k error says the index size"
run knn-select --index "$T/nonexistent" -k 3 < "$T/query.mp"
is "$rc" 1 "missing index exits 1"
like "$err" "knn-select: error: .*nonexistent.*No such file" "missing index message"
cp "$T/idx" "$T/orphan"
run knn-select --index "$T/orphan" -k 3 < "$T/query.mp"
is "$rc" 1 "index without its id map exits 1"
like "$err" "no id map" "missing id map message"

knn-select --build "$T/idx2" < "$T/train2.mp" 2>/dev/null
cp "$T/idx2.ids" "$T/mixed.ids"; cp "$T/idx" "$T/mixed"
run knn-select --index "$T/mixed" -k 3 < "$T/query.mp"
is "$rc" 1 "index and id map from different builds exit 1"
like "$err" "different builds" "mismatched pair message"
printf 'garbage' > "$T/junk"; cp "$T/idx.ids" "$T/junk.ids"
run knn-select --index "$T/junk" -k 3 < "$T/query.mp"
is "$rc" 1 "corrupt index file exits 1"

$PY -c '
import msgpack, sys
recs = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))[:10]
recs[7]["id"] = recs[2]["id"]
sys.stdout.buffer.write(b"".join(msgpack.packb(r) for r in recs))' "$T/train.mp" > "$T/dup.mp"
run knn-select --build "$T/dup" < "$T/dup.mp"
is "$rc" 1 "duplicate training id exits 1"
like "$err" "record 'tr2'.*duplicate" "duplicate id error names the record"
ok "duplicate ids leave no INDEX" test ! -e "$T/dup"

run knn-select --build "$T/x" --index-spec NoSuchIndex < "$T/train.mp"
is "$rc" 1 "unknown --index-spec exits 1"
like "$err" "NoSuchIndex" "spec error quotes the spec"
ok "bad spec leaves no INDEX" test ! -e "$T/x"
run knn-select --build "$T/empty" < /dev/null
is "$rc" 1 "empty training stream exits 1"
run knn-select --index "$T/idx" -k 3 --mean < /dev/null
is "$rc" 1 "--mean with no queries exits 1"

# Usage errors exit 2.
run knn-select -k 3 < "$T/query.mp"
is "$rc" 2 "neither --build nor --index is a usage error"
run knn-select --index "$T/idx" < "$T/query.mp"
is "$rc" 2 "--index without -k is a usage error"
run knn-select --build "$T/y" -k 3 < "$T/train.mp"
is "$rc" 2 "-k with --build is a usage error"

# Another index_factory type: IVF needs training; stored vectors find themselves.
run knn-select --build "$T/ivf" --index-spec IVF8,Flat < "$T/train.mp"
is "$rc" 0 "--index-spec IVF8,Flat builds (trains first)"
knn-select --index "$T/ivf" -k 1 < "$T/self.mp" > "$T/self-cand.mp" 2>/dev/null
is "$($PY -c '
import sys, msgpack
print(" ".join(r["ids"][0] for r in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False)))' "$T/self-cand.mp")" \
   "tr5 tr77 tr300" "IVF index: training vectors find themselves"

# --nprobe: with nprobe = nlist an IVF index visits every list, so it finds
# what the flat index finds (the same ids in the same order; distances equal
# to float rounding: IVF computes them one by one, Flat by GEMM); with
# nprobe = 1 it misses some (its recall is the speed it buys).
knn-select --index "$T/idx" -k 10 < "$T/query.mp" > "$T/flat10.mp" 2>/dev/null
for np in 8 100; do
  knn-select --index "$T/ivf" -k 10 --nprobe $np < "$T/query.mp" > "$T/ivf-np$np.mp" 2>/dev/null
  is "$?" 0 "IVF8,Flat --nprobe $np runs"
done
knn-select --index "$T/ivf" -k 10 --nprobe 1 < "$T/query.mp" > "$T/ivf-np1.mp" 2>/dev/null
$PY - "$T" <<'EOF'
import sys, msgpack, numpy as np
T = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(f"{T}/{f}", "rb"), raw=False))
flat = rd("flat10.mp")
dist = lambda r: np.frombuffer(r["dist"]["data"], "<f4")
for f in ("ivf-np8.mp", "ivf-np100.mp"):
    got = rd(f)
    assert [r["id"] for r in got] == [r["id"] for r in flat], f
    for a, b in zip(got, flat):
        assert a["ids"] == b["ids"], (f, a["id"], a["ids"], b["ids"])
        assert np.allclose(dist(a), dist(b), rtol=1e-4, atol=1e-4), (f, a["id"])
one = rd("ivf-np1.mp")
recall = np.mean([len(set(a["ids"]) & set(b["ids"])) / 10 for a, b in zip(one, flat)])
print("# recall@10 with nprobe 1 of 8:", recall)
assert recall < 1, "nprobe 1 of 8 lists should miss some neighbours"
EOF
is $? 0 "IVF with nprobe = nlist (and above) equals flat; nprobe 1 misses some"
run knn-select --index "$T/idx" -k 3 --nprobe 4 < "$T/query.mp"
is "$rc" 1 "--nprobe on a flat index exits 1"
like "$err" "^knn-select: error: --nprobe: .*no inverted lists" "naming --nprobe"
run knn-select --build "$T/z" --nprobe 4 < "$T/train.mp"
is "$rc" 2 "--nprobe with --build is a usage error"


# ---- the id map (version 2) and the inverted lists, against an independent
# reader of formats/index.md (msgpack + zlib + numpy) ----
LISTS="$(dirname "$0")/knn_lists.py"
is "$($PY "$LISTS" check "$T/idx" Flat 0 600 2>&1)" ok "Flat: id map version 2, whole-file size and CRC-32, ids in order, no list table"
is "$($PY "$LISTS" check "$T/ivf" IVF8,Flat 1 600 2>&1)" ok "IVF8,Flat: each list's CRC-32, the rest's, the lists' layout as recorded"
for spec in IVF8,SQ8 PCA8,IVF8,Flat; do
  knn-select --build "$T/l-$spec" --index-spec "$spec" < "$T/train.mp" 2>/dev/null
  is "$($PY "$LISTS" check "$T/l-$spec" "$spec" 1 600 2>&1)" ok "$spec: the list table found (another code size; inside a PreTransform)"
done

# The same answers from an id map of version 1 (the whole file read and
# CRC-checked, as before) and of version 2 (the lists read in place).
is "$($PY "$T/check.py" "$T" "$T/ivf-np8.mp" 10 2>&1)" ok "IVF8,Flat --nprobe 8 (lists in place) equals numpy brute force"
for ix in ivf l-IVF8,SQ8 l-PCA8,IVF8,Flat idx; do
  cp "$T/$ix" "$T/v1-$ix"
  $PY "$LISTS" v1 "$T/$ix" "$T/v1-$ix.ids"
  nps="1 8"; [ "$ix" = idx ] && nps=0
  for np in $nps; do
    knn-select --index "$T/$ix" -k 10 --nprobe $np < "$T/query.mp" > "$T/v2.out" 2>/dev/null
    knn-select --index "$T/v1-$ix" -k 10 --nprobe $np < "$T/query.mp" > "$T/v1.out" 2>/dev/null
    ok "$ix --nprobe $np: id maps of version 1 and 2 give the same bytes" test -s "$T/v1.out" -a -s "$T/v2.out"
    ok "$ix --nprobe $np: identical" cmp "$T/v1.out" "$T/v2.out"
  done
done
is "$($PY "$T/check.py" "$T" "$T/v1.out" 10 2>&1)" ok "version 1, Flat: numpy brute force"

# Corruption: a list is checked when a query touches it.
L=$($PY "$LISTS" list "$T/ivf" 5)
other=$($PY "$LISTS" other "$T/ivf" 5)
$PY "$LISTS" rows "$T/ivf" 5 > "$T/q5.mp"
$PY "$LISTS" rows "$T/ivf" "$other" > "$T/qo.mp"
knn-select --index "$T/ivf" -k 5 --nprobe 1 < "$T/qo.mp" > "$T/qo-clean.mp" 2>/dev/null
ok "the clean answer" test -s "$T/qo-clean.mp"
for part in codes ids; do
  $PY "$LISTS" flip "$T/ivf" "$T/f$part" "$part:5"; cp "$T/ivf.ids" "$T/f$part.ids"
  run knn-select --index "$T/f$part" -k 5 --nprobe 1 < "$T/q5.mp"
  is "$rc" 1 "a byte flipped in the $part of the list a query probes: exit 1"
  like "$err" "knn-select: error: kNN search .*: kNN index $T/f$part: inverted list $L \(bytes [0-9]+\.\.[0-9]+\) has CRC-32 [0-9a-f]{8}, its id map says [0-9a-f]{8}.*rebuild" \
    "names the file and the list"
  is "$out" "" "nothing written for it"
done
run knn-select --index "$T/fcodes" -k 10 --nprobe 8 --threads 2 < "$T/query.mp"
is "$rc" 1 "every list probed, 2 threads: exit 1"
like "$err" "knn-select: error: kNN search .*: kNN index $T/fcodes: inverted list $L " "the same message from FAISS's parallel loop"
knn-select --index "$T/fcodes" -k 5 --nprobe 1 < "$T/qo.mp" > "$T/qo-bad.mp" 2>/dev/null
ok "a query that does not probe the damaged list: the clean index's answer" cmp "$T/qo-bad.mp" "$T/qo-clean.mp"

$PY "$LISTS" flip "$T/ivf" "$T/fhead" header; cp "$T/ivf.ids" "$T/fhead.ids"
run knn-select --index "$T/fhead" -k 1 --nprobe 1 < "$T/qo.mp"
is "$rc" 1 "a byte flipped outside the lists (the centroids): exit 1"
like "$err" "kNN index $T/fhead \(CRC-32 of the bytes outside its inverted lists [0-9a-f]+\) is not the one its id map $T/fhead.ids describes.*corrupt" \
  "refused before FAISS parses it, naming both files"
knn-select --build "$T/ivf2" --index-spec IVF8,Flat < "$T/train2.mp" 2>/dev/null
cp "$T/ivf" "$T/mixivf"; cp "$T/ivf2.ids" "$T/mixivf.ids"
run knn-select --index "$T/mixivf" -k 1 --nprobe 1 < "$T/qo.mp"
is "$rc" 1 "IVF index and id map from different builds: exit 1"
like "$err" "mixivf .*different builds" "mismatched IVF pair message"
head -c -1 "$T/ivf" > "$T/short"; cp "$T/ivf.ids" "$T/short.ids"
run knn-select --index "$T/short" -k 1 --nprobe 1 < "$T/qo.mp"
is "$rc" 1 "truncated IVF index: exit 1"
like "$err" "short has [0-9]+ bytes, its id map .*says [0-9]+" "truncated index message"
cp "$T/ivf" "$T/shortids"; head -c -3 "$T/ivf.ids" > "$T/shortids.ids"
run knn-select --index "$T/shortids" -k 1 --nprobe 1 < "$T/qo.mp"
is "$rc" 1 "truncated id map: exit 1"
like "$err" "shortids.ids" "names the id map"
cp "$T/idx.ids" "$T/fflat.ids"; $PY "$LISTS" flip "$T/idx" "$T/fflat" middle
run knn-select --index "$T/fflat" -k 1 < "$T/qo.mp"
is "$rc" 1 "Flat (whole file checked): a flipped byte exits 1"
like "$err" "fflat \(CRC-32 [0-9a-f]+\) is not the one its id map" "Flat corruption message"
cp "$T/ivf" "$T/v3"; $PY "$LISTS" version "$T/ivf" "$T/v3.ids" 3
run knn-select --index "$T/v3" -k 1 < "$T/qo.mp"
is "$rc" 1 "an id map of an unknown version: exit 1"
like "$err" "version 3, this build reads versions 1 and 2; rebuild" "says which versions and what to do"

done_testing
