#!/bin/bash
# rank --relative SELF (RelatIF, Barshan et al. 2020): lists of
# score / sqrt(self_i) with self_i = g_i^T (H + shift I)^-1 g_i, from a
# "self" scores record built here in Python; on the demo's graph the test
# rows whose plain top-5 helpful lists are identical get different ones.
. "$(dirname "$0")/lib.sh"

# Synthetic scores and self-influence: the ranking equals numpy's.
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]
rng = np.random.default_rng(6)
ids = ["tr-%d" % i for i in range(30)]
with open(d + "/scores", "wb") as f:
    for t in range(3):
        fs.write_record(f, {"id": "te-%d" % t, "ids": ids, "scores": rng.normal(size=30).astype(np.float32)})
self_ = rng.uniform(0.01, 20, size=30).astype(np.float32)
order = rng.permutation(30)  # joined by id, not by position; extra ids are ignored
with open(d + "/self", "wb") as f:
    fs.write_record(f, {"id": "other", "ids": ids[:2], "scores": np.ones(2, np.float32)})
    fs.write_record(f, {"id": "self", "ids": [ids[i] for i in order] + ["tr-extra"],
                        "scores": np.concatenate([self_[order], [1.0]]).astype(np.float32)})
np.save(d + "/self.npy", self_)
bad = self_.copy(); bad[4] = 0
with open(d + "/self-zero", "wb") as f: fs.write_record(f, {"id": "self", "ids": ids, "scores": bad})
with open(d + "/self-short", "wb") as f: fs.write_record(f, {"id": "self", "ids": ids[:-1], "scores": self_[:-1]})
with open(d + "/self-dup", "wb") as f:  # tr-7 twice, with two values
    fs.write_record(f, {"id": "self", "ids": ids + ["tr-7"], "scores": np.concatenate([self_, [5.0]]).astype(np.float32)})
with open(d + "/self-none", "wb") as f: fs.write_record(f, {"id": "selfish", "ids": ids, "scores": self_})
PY
rank -m 5 --relative "$T/self" < "$T/scores" > "$T/ranked" 2>/dev/null
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]
S = {r["id"]: r["scores"].astype(np.float64) for r in fs.read_stream(open(d + "/scores", "rb"))}
root = np.sqrt(np.load(d + "/self.npy").astype(np.float64))
for r in fs.read_stream(open(d + "/ranked", "rb")):
    s = (S[r["id"]] / root).astype(np.float32).astype(np.float64)
    o = np.argsort(s, kind="stable")
    assert [e["id"] for e in r["helpful"]] == ["tr-%d" % i for i in o[:5] if s[i] < 0], r["id"]
    assert [e["id"] for e in r["harmful"]] == ["tr-%d" % i for i in o[::-1][:5] if s[i] > 0], r["id"]
    a = np.argsort(-np.abs(s), kind="stable")[:5]
    assert [e["id"] for e in r["influential"]] == ["tr-%d" % i for i in a], r["id"]
    for e in r["helpful"] + r["harmful"]:
        i = int(e["id"][3:])
        assert abs(e["score"] - s[i]) <= 1e-6 * abs(s[i]), (e, s[i])
PY
is $? 0 "rank --relative: lists and scores are numpy's sort of score/sqrt(self), joined by id"
run rank --relative "$T/self-zero" < "$T/scores"
like "$rc:$err" "^1:rank: error: record 'self'.*'tr-4' has self-influence 0" "a non-positive self-influence: exit 1 naming the id"
run rank --relative "$T/self-dup" < "$T/scores"
like "$rc:$err" "^1:rank: error: record 'self'.*'tr-7' appears more than once" "an id twice in the self record: exit 1 naming it"
run rank --relative "$T/self-short" < "$T/scores"
like "$rc:$err" "^1:rank: error: .*'tr-29' is scored but has no self-influence" "a scored id without self-influence: exit 1 naming it"
run rank --relative "$T/self-none" < "$T/scores"
like "$rc:$err" "^1:rank: error: .*no scores record with id \"self\"" "no \"self\" record: exit 1"

# The demo's graph (pipelines/demo.mk: bow on the fine-food reviews, K = 500
# candidates) at FastIF's ridge, damping 0.005 (the default ridge gives this
# PSD head none: then the plain lists already differ). self_i = g_i . s(g_i)
# with s(g_i) the exact solve of the demo's system (its records' shift).
ok "the demo's scores" make -s -f "$TOP/pipelines/demo.mk" OUT="$T/demo" BIN="$BIN" DAMPING=0.005 "$T/demo/scores.mp"
D=$T/demo
$PY - "$D/ihvp.mp" > "$T/solve" <<'PY'
import sys, fastif_stream as fs
r = next(fs.read_stream(open(sys.argv[1], "rb")))
print(repr(r["shift"]))
PY
read -r shift < "$T/solve"
grad --model "$D/model" --only "$D/candidates.mp" < "$D/train.mp" > "$T/cg" 2>/dev/null
ihvp --model "$D/model" --train "$D/train.mp" --method exact --shift "$shift" < "$T/cg" > "$T/cs" 2>/dev/null
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
d = sys.argv[1]
G = {r["id"]: r["grad"].astype(np.float64) for r in fs.read_stream(open(d + "/cg", "rb"))}
S = {r["id"]: r["ihvp"].astype(np.float64) for r in fs.read_stream(open(d + "/cs", "rb"))}
ids = list(G)
with open(d + "/self.mp", "wb") as f:
    fs.write_record(f, {"id": "self", "ids": ids, "scores": np.array([G[i] @ S[i] for i in ids], np.float32)})
PY
lists() { # rank options...: "test: helpful ids" per line
  rank -m 5 "$@" < "$D/scores.mp" 2>/dev/null | $PY -c '
import sys, fastif_stream as fs
for r in fs.read_stream(sys.stdin.buffer): print(r["id"] + ": " + " ".join(e["id"] for e in r["helpful"]))'
}
lists > "$T/plain"
lists --relative "$T/self.mp" > "$T/rel"
sed 's/^/# plain    /' "$T/plain"; sed 's/^/# relative /' "$T/rel"
h() { sed -n "s/^$2: //p" "$1"; }
is "$(h "$T/plain" row-4006)" "$(h "$T/plain" row-4007)" "plain scores: demo rows 4006 and 4007 get the same top-5 helpful list"
ok "--relative: they get different ones" test "$(h "$T/rel" row-4006)" != "$(h "$T/rel" row-4007)"
common=$(comm -12 <(h "$T/rel" row-4006 | tr ' ' '\n' | sort) <(h "$T/rel" row-4007 | tr ' ' '\n' | sort) | wc -l)
diag "--relative: $common of the 5 helpful ids shared by rows 4006 and 4007 (plain: 5)"

# The self record of influence --self (K-FAC fitted on the demo's factored
# training gradients) feeds rank --relative as it is.
grad --model "$D/model" --factored < "$D/train.mp" > "$T/tf" 2>/dev/null
curvature --method kfac -o "$T/C" < "$T/tf" 2>/dev/null
influence --self --curvature "$T/C" < "$T/tf" > "$T/self-kfac" 2>/dev/null
rank -m 5 --relative "$T/self-kfac" < "$D/scores.mp" > "$T/rk" 2>/dev/null
$PY - "$T" "$D" <<'PY'
import sys, numpy as np, fastif_stream as fs
t, d = sys.argv[1], sys.argv[2]
self_ = next(fs.read_stream(open(t + "/self-kfac", "rb")))
assert self_["id"] == "self"
root = dict(zip(self_["ids"], np.sqrt(self_["scores"].astype(np.float64))))
S = {r["id"]: r for r in fs.read_stream(open(d + "/scores.mp", "rb"))}
for r in fs.read_stream(open(t + "/rk", "rb")):
    ids = S[r["id"]]["ids"]
    s = (S[r["id"]]["scores"] / np.array([root[i] for i in ids])).astype(np.float32)
    o = np.argsort(s, kind="stable")
    assert [e["id"] for e in r["helpful"]] == [ids[i] for i in o[:5] if s[i] < 0], r["id"]
PY
is $? 0 "influence --self's record (K-FAC) drives rank --relative: lists = numpy's"

done_testing
