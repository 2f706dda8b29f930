#!/bin/bash
# The FastIF make graph and the GNU parallel fan-out on a small slice of the
# bundled reviews: the graph runs, resumes without redoing finished steps,
# remakes exactly the targets whose knobs or tools changed, removes
# half-made targets on failure and after SIGKILL, refuses empty or short
# intermediates, and the sharded run gives exactly the single-process
# scores, or fails with the tool's own error.
. "$(dirname "$0")/lib.sh"
MK="$TOP/pipelines/fastif.mk"
xz -dc "$DATA/fine-foods.csv.xz" > "$T/ff.csv"
import-text --text review --label score --classes great,other --where split=train "$T/ff.csv" 2>/dev/null | pick --head 400 > "$T/train.mp" 2>/dev/null
import-text --text review --label score --classes great,other --where split=test "$T/ff.csv" 2>/dev/null | pick --head 4 > "$T/query.mp" 2>/dev/null
vars=(BIN="$BIN" OUT="$T/run" TRAIN="$T/train.mp" QUERY="$T/query.mp" ARCH=bow:4096,8 EPOCHS=3 LR=0.02 K=50 J=200 M=3)
ok "make -j2 -f fastif.mk ranked runs the graph" make -s -j2 -f "$MK" "${vars[@]}" ranked
for f in model train-emb.mp index index.ids candidates.mp query-grad.mp ihvp.mp scores.mp ranked.mp; do
  [ -s "$T/run/$f" ] || missing="${missing:-} $f"
done
is "${missing:-}" "" "every intermediate file is there"
is "$($PY -c '
import sys, msgpack
recs = list(msgpack.Unpacker(open(sys.argv[1], "rb")))
print(len(recs), all(len(r["ids"]) == 50 for r in recs))' "$T/run/scores.mp")" "4 True" "scores: one record per query, K candidates each"
is "$(make -s -f "$MK" "${vars[@]}" -n ranked)" "" "a finished graph has nothing left to do"
cp "$T/run/ihvp.mp" "$T/ihvp.clean"

# A changed knob remakes exactly the targets made with it (knob stamps).
mtimes() { (cd "$1" && find . -maxdepth 1 -type f ! -name '.*' -printf '%f %T@\n' | sort); }
changed() { # DIR SNAPSHOT: the files made, remade or removed since SNAPSHOT
  mtimes "$1" > "$T/.now"
  join -a1 -a2 "$2" "$T/.now" | awk 'NF < 3 || $2 != $3 { print $1 }' | tr '\n' ' ' | sed 's/ $//'
}
ihvp_says() { $PY -c '
import sys, msgpack
print(sorted({(r["method"], r.get("damping", "shift %g" % r["shift"])) for r in msgpack.Unpacker(open(sys.argv[1], "rb"))}))' "$1"; }
is "$(ihvp_says "$T/run/ihvp.mp")" "[('exact', 'shift 0')]" "ihvp records made by the default method auto: exact for this small P, with its default ridge (none: G is PSD)"
mtimes "$T/run" > "$T/m0"
ok "K=20: the graph reruns" make -s -f "$MK" "${vars[@]}" K=20 ranked
is "$(changed "$T/run" "$T/m0")" "candidates.mp ranked.mp scores.mp" "a new K remakes the candidates, scores and ranking, nothing else"
is "$($PY -c '
import sys, msgpack
print(sorted({len(r["ids"]) for r in msgpack.Unpacker(open(sys.argv[1], "rb"))}))' "$T/run/scores.mp")" "[20]" "the scores hold K = 20 candidates per query"
mtimes "$T/run" > "$T/m1"
ok "METHOD=cg DAMPING=0.5: the graph reruns" make -s -f "$MK" "${vars[@]}" K=20 METHOD=cg DAMPING=0.5 ranked
is "$(changed "$T/run" "$T/m1")" "ihvp.mp ranked.mp scores.mp" "a new method and damping remake the ihvp, scores and ranking, not the index or candidates"
is "$(ihvp_says "$T/run/ihvp.mp")" "[('cg', 0.5)]" "the ihvp records say cg, damping 0.5"
mtimes "$T/run" > "$T/m2"
ok "M=2: the graph reruns" make -s -f "$MK" "${vars[@]}" K=20 METHOD=cg DAMPING=0.5 M=2 ranked
is "$(changed "$T/run" "$T/m2")" "ranked.mp" "a new list length remakes only the ranking"
is "$(make -s -f "$MK" "${vars[@]}" K=20 METHOD=cg DAMPING=0.5 M=2 OUT="$T/./run" -n ranked)" "" \
  "the same knobs (OUT spelled differently): nothing to do"
ok "back to the first knobs" make -s -f "$MK" "${vars[@]}" ranked
ok "gives the first run's ihvp again" cmp "$T/run/ihvp.mp" "$T/ihvp.clean"

# An empty or short intermediate stops the stage that reads it.
: > "$T/run/candidates.mp"
run make -s -f "$MK" "${vars[@]}" ranked
is "$rc" 2 "an empty candidates.mp stops the graph"
like "$err" "fastif.mk: error: .*/candidates.mp is empty \(no records\): cannot make .*/scores.mp" "saying which file is empty"
is "$([ -e "$T/run/scores.mp" ] && echo kept || echo none)" none "and leaves no scores.mp"
rm "$T/run/candidates.mp"
make -s -f "$MK" "${vars[@]}" "$T/run/candidates.mp" > /dev/null 2>&1
pick --head 1 "$T/run/candidates.mp" > "$T/cand1.mp" 2>/dev/null && mv "$T/cand1.mp" "$T/run/candidates.mp"
run make -s -f "$MK" "${vars[@]}" ranked
is "$rc" 2 "candidates for 1 of the 4 queries stop the graph"
is "$([ -e "$T/run/scores.mp" ] && echo kept || echo none)" none "and no scores.mp with 1 query in it is kept"
rm "$T/run/candidates.mp"
ok "the graph resumes" make -s -f "$MK" "${vars[@]}" ranked
touch "$T/query.mp"
like "$(make -s -f "$MK" "${vars[@]}" -n ranked | grep -c 'bin/train')" "^0$" "a new query does not retrain the model"
like "$(make -s -f "$MK" "${vars[@]}" -n ranked)" "bin/grad" "a new query recomputes its gradients"
# A failing step leaves no half-made target behind.
make -s -f "$MK" "${vars[@]}" METHOD=lissa J=200 SCALE=1e-9 ranked >/dev/null 2>&1; rc=$?
is "$([ $rc -ne 0 ] && [ ! -e "$T/run/ihvp.mp" ] && echo clean)" "clean" "a diverging LiSSA fails and leaves no ihvp.mp"
ok "the graph resumes after the failure" make -s -f "$MK" "${vars[@]}" ranked
# full: every training point, compared with the kNN subset.
ok "full target runs" make -s -f "$MK" "${vars[@]}" full
is "$($PY -c '
import sys, msgpack
full = {r["id"]: dict(zip(r["ids"], msgpack.unpackb(msgpack.packb(r["scores"]))["data"] and __import__("numpy").frombuffer(r["scores"]["data"], "<f4"))) for r in msgpack.Unpacker(open(sys.argv[1], "rb"))}
fast = list(msgpack.Unpacker(open(sys.argv[2], "rb")))
import numpy as np
ok = all(np.allclose(np.frombuffer(r["scores"]["data"], "<f4"), [full[r["id"]][i] for i in r["ids"]], rtol=1e-5, atol=1e-6) for r in fast)
print(len(full[fast[0]["id"]]), ok)' "$T/run/full-scores.mp" "$T/run/scores.mp")" "400 True" "full scores cover all 400 and agree with the kNN subset's"
# SIGKILL of the whole make (no cleanup) while ihvp runs and has written part
# of a record: nothing left counts as made, and the rerun finishes. The ihvp
# in SB stalls while $T/slow exists.
SB=$T/slowbin
mkdir "$SB" && ln -s "$BIN"/* "$SB"/ && rm "$SB/ihvp"
printf '#!/bin/bash\nif [ -e %q ]; then printf "\\201"; : > %q; exec sleep 60; fi\nexec %q "$@"\n' \
  "$T/slow" "$T/started" "$BIN/ihvp" > "$SB/ihvp"
chmod +x "$SB/ihvp"
kvars=("${vars[@]}" BIN="$SB" OUT="$T/kill")
touch "$T/slow"
set -m   # make and its children in a process group of their own
make -s -f "$MK" "${kvars[@]}" ranked > /dev/null 2>&1 &
pid=$!
set +m
for _ in $(seq 600); do [ -e "$T/started" ] && break; sleep 0.05; done
{ kill -KILL -- -"$pid"; wait "$pid"; } 2> /dev/null
rm -f "$T/slow"
is "$([ -e "$T/started" ] && echo yes)" yes "make was killed while ihvp was writing"
is "$([ -e "$T/kill/ihvp.mp" ] && echo "left ($(wc -c < "$T/kill/ihvp.mp") bytes)" || echo none)" none \
  "SIGKILL during ihvp leaves no ihvp.mp (only ihvp.mp.tmp)"
ok "the rerun succeeds" make -s -f "$MK" "${kvars[@]}" ranked
ok "and its ihvp.mp is the uninterrupted run's, byte for byte" cmp "$T/kill/ihvp.mp" "$T/ihvp.clean"
mtimes "$T/kill" > "$T/k0"
touch "$SB/ihvp"
ok "a rebuilt ihvp tool: the graph reruns" make -s -f "$MK" "${kvars[@]}" ranked
is "$(changed "$T/kill" "$T/k0")" "ihvp.mp ranked.mp scores.mp" "a newer ihvp binary remakes the ihvp, scores and ranking, nothing else"

# Fan-out: 3 shards under GNU parallel, merged, equal to the single run.
influence --ihvp "$T/run/ihvp.mp" --model "$T/run/model" --train "$T/train.mp" --batch 64 > "$T/single.mp" 2>/dev/null
ok "fan-out over 3 shards" "$TOP/pipelines/fanout-influence.sh" -m "$T/run/model" -t "$T/train.mp" -i "$T/run/ihvp.mp" -o "$T/fan" -s 3 -j 2 -b 64
is "$(wc -l < "$T/fan/joblog")" "4" "joblog has a line per shard"
ls "$T/fan"/shard-*.log > /dev/null 2>&1 && n=$(ls "$T/fan"/shard-*.log | wc -l)
is "${n:-0}" "3" "one log per job"
rank -m 5 < "$T/single.mp" > "$T/single.ranked" 2>/dev/null
rank -m 5 < "$T/fan/scores.mp" > "$T/fan.ranked" 2>/dev/null
ok "sharded ranking is identical to the single-process one" cmp "$T/single.ranked" "$T/fan.ranked"
is "$($PY -c '
import sys, msgpack, numpy as np
def load(p):
    d = {}
    for r in msgpack.Unpacker(open(p, "rb")):
        d.setdefault(r["id"], []).extend(zip(r["ids"], np.frombuffer(r["scores"]["data"], "<f4").tolist()))
    return d
print(load(sys.argv[1]) == load(sys.argv[2]))' "$T/single.mp" "$T/fan/scores.mp")" "True" "sharded scores equal the single-process scores exactly"
# LiSSA repeats as parallel jobs, combined: exactly ihvp --repeats T.
ihvp --model "$T/run/model" --train "$T/train.mp" --method lissa -J 200 -T 3 --seed 7 < "$T/run/query-grad.mp" > "$T/ihvp3.mp" 2>/dev/null
ok "LiSSA repeats fan out as 3 jobs" sh -c "'$TOP/pipelines/fanout-ihvp.sh' -m '$T/run/model' -t '$T/train.mp' -o '$T/ihvp3-fan.mp' -T 3 -j 2 -- -J 200 --seed 7 < '$T/run/query-grad.mp'"
$PY - "$T/ihvp3.mp" "$T/ihvp3-fan.mp" <<'PY'
import msgpack, sys
a, b = (list(msgpack.Unpacker(open(f, 'rb'), raw=False)) for f in sys.argv[1:])
drop = lambda r: {k: v for k, v in r.items() if k not in ('residual', 'residual_n', 'parts_residual_max', 'parts_residual_n')}
sys.exit(not (len(a) == len(b) > 0 and all(drop(x) == drop(y) and 'residual' in x and 'parts_residual_max' in y for x, y in zip(a, b))))
PY
is "$?" 0 "combined repeats are bitwise --repeats 3 (every field, less the residual --combine cannot measure, which it bounds by the parts' largest)"
is "$(wc -l < "$T/ihvp3-fan.mp.d/joblog")" "4" "joblog has a line per repeat"
run ihvp --combine "$T/ihvp3-fan.mp.d/repeat-0.mp" "$T/ihvp3-fan.mp.d/repeat-2.mp"
is "$rc" 1 "combining repeats 0 and 2 without 1: exit 1 (the record would claim 0..1)"
run sh -c "cat '$T/fan/scores.mp' '$T/fan/shard-0.scores' | rank > /dev/null"
is "$rc" 1 "a shard given twice: rank refuses to count its scores twice"
like "$err" "scored more than once" "and says why"
: > "$T/empty.mp"
run "$TOP/pipelines/fanout-influence.sh" -m "$T/run/model" -t "$T/empty.mp" -i "$T/run/ihvp.mp" -o "$T/fan"
is "$rc" 1 "fan-out of an empty training set: exit 1"
is "$([ -e "$T/fan/scores.mp" ] && echo stale || echo gone)" "gone" "a failed fan-out leaves no earlier scores.mp behind"
run "$TOP/pipelines/fanout-influence.sh" -m "$T/run/model" -t "$T/train.mp" -i "$T/nope.mp" -o "$T/fan2"
is "$rc" "1" "fan-out with a missing input: exit 1"
# Every failure of a fan-out shows the underlying tool's error.
FAN=$TOP/pipelines/fanout-influence.sh
head -c -10 "$T/train.mp" > "$T/trunc.mp"
run "$FAN" -m "$T/run/model" -t "$T/trunc.mp" -i "$T/run/ihvp.mp" -o "$T/fan3" -s 3 -b 64
is "$rc" 1 "fan-out over a training set with a cut last record: exit 1"
like "$err" "pick: error: .*trunc.mp: record #399 .*truncated" "and pick's error names the truncated record"
first=$(pick --head 1 --keep id "$T/train.mp" 2>/dev/null | dump 2>/dev/null | sed 's/^{"id":"\(.*\)"}$/\1/')
{ cat "$T/train.mp"; pick --head 1 "$T/train.mp" 2>/dev/null; } > "$T/dup.mp"
run influence --ihvp "$T/run/ihvp.mp" --model "$T/run/model" --train "$T/dup.mp"
like "$rc: $err" "^1: .*record '$first' \(#400 of [^,]*dup.mp, .*duplicate id \(also example #0\)" \
  "one influence --train refuses a training id given twice"
run "$FAN" -m "$T/run/model" -t "$T/dup.mp" -i "$T/run/ihvp.mp" -o "$T/fan3" -s 3 -b 64
is "$rc" 1 "the same id in two shards: the fan-out refuses it too"
like "$err" "fanout-influence: error: record '$first' \(#400 of [^)]*dup.mp\): duplicate id \(also example #0\)" \
  "naming both records as influence does"
is "$([ -e "$T/fan3/scores.mp" ] && echo kept || echo none)" none "and writes no scores.mp"
train --arch bow:4096,4 --epochs 1 -o "$T/other.model" < "$T/train.mp" 2>/dev/null
run "$FAN" -m "$T/other.model" -t "$T/train.mp" -i "$T/run/ihvp.mp" -o "$T/fan3" -s 3 -b 64
is "$rc" 1 "fan-out with another model's ihvp: exit 1"
like "$err" "influence: error: .*elements" "and influence's error from the job's log"
like "$err" "fanout-influence: error: job shard-[0-9] failed" "naming the failed job"
run sh -c "'$TOP/pipelines/fanout-ihvp.sh' -m '$T/run/model' -t '$T/train.mp' -o '$T/ih-empty.mp' -T 2 < /dev/null"
is "$rc" 1 "fanout-ihvp with no test gradients: exit 1"
like "$err" "fanout-ihvp: error: no test gradients" "and says so"
run sh -c "'$TOP/pipelines/fanout-ihvp.sh' -m '$T/other.model' -t '$T/train.mp' -o '$T/ih-bad.mp' -T 2 < '$T/run/query-grad.mp'"
is "$rc" 1 "fanout-ihvp with gradients of another model: exit 1"
like "$err" "ihvp: error: record '[^']*' \(#0 .*expected" "and ihvp's error from the job's log"
is "$([ -e "$T/ih-bad.mp" ] && echo kept || echo none)" none "and writes no output"
head -c -3 "$T/run/query-grad.mp" > "$T/grad-cut.mp"
run sh -c "'$TOP/pipelines/fanout-ihvp.sh' -m '$T/run/model' -t '$T/train.mp' -o '$T/ih-cut.mp' -T 2 < '$T/grad-cut.mp'"
is "$rc" 1 "fanout-ihvp with a cut last gradient record: exit 1"
like "$err" "pick: error: .*record #3 .*truncated" "and pick's error names it"
done_testing
