#!/bin/bash
# pipelines/fastif.mk with curvature from the training gradients:
# METHOD=ekfac | kfac (grad --factored | curvature, ihvp --curvature) and
# METHOD=fisher-lissa (ihvp --fisher) on a small slice of the bundled
# reviews; resumable, and a changed knob remakes exactly what used it.
. "$(dirname "$0")/lib.sh"
MK="$TOP/pipelines/fastif.mk"
xz -dc "$DATA/fine-foods.csv.xz" > "$T/ff.csv"
import-text --text review --label score --classes great,other --where split=train "$T/ff.csv" 2>/dev/null | pick --head 400 > "$T/train.mp" 2>/dev/null
import-text --text review --label score --classes great,other --where split=test "$T/ff.csv" 2>/dev/null | pick --head 4 > "$T/query.mp" 2>/dev/null
vars=(BIN="$BIN" OUT="$T/run" TRAIN="$T/train.mp" QUERY="$T/query.mp" ARCH=bow:4096,8 EPOCHS=3 LR=0.02 K=50 J=200 M=3)
ok "METHOD=ekfac: the graph runs" make -s -j2 -f "$MK" "${vars[@]}" METHOD=ekfac ranked
for f in model train-grad.mp curvature query-grad.mp ihvp.mp candidates.mp scores.mp ranked.mp; do
  [ -s "$T/run/$f" ] || missing="${missing:-} $f"
done
is "${missing:-}" "" "every intermediate file is there, the training gradients and the curvature too"
says() { $PY -c '
import sys, msgpack
print(sorted({(r["method"], r.get("curvature", r.get("hessian", "")), r.get("damping", -1)) for r in msgpack.Unpacker(open(sys.argv[1], "rb"))}))' "$1"; }
is "$(says "$T/run/ihvp.mp")" "[('curvature', 'ekfac', 0.1)]" "the ihvp records say ekfac, damping 0.1"
is "$($PY -c '
import sys, msgpack
g = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))
print(len(g), {r["label_kind"] for r in g}, all(k.startswith(("a.", "delta.")) or k in ("id", "label", "label_kind", "params") for r in g for k in r))' "$T/run/train-grad.mp")" \
  "400 {'sample'} True" "the training gradients: factored, one per example, labels sampled (the true Fisher)"
is "$(make -s -f "$MK" "${vars[@]}" METHOD=ekfac -n ranked)" "" "a finished graph has nothing left to do"

# scores: -g_i . s with s from the curvature (numpy from the files themselves)
grad --model "$T/run/model" < "$T/train.mp" > "$T/train-dense.g" 2>/dev/null
e=$($PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
rd = lambda f: list(msgpack.Unpacker(open(f, "rb"), raw=False))
f32 = lambda t: np.frombuffer(t["data"], "<f4")
G = {r["id"]: f32(r["grad"]) for r in rd(d + "/train-dense.g")}
S = {r["id"]: f32(r["ihvp"]) for r in rd(d + "/run/ihvp.mp")}
err = 0
for r in rd(d + "/run/scores.mp"):
    want = np.array([-G[i] @ S[r["id"]] for i in r["ids"]])
    err = max(err, np.abs(f32(r["scores"]) - want).max() / np.abs(want).max())
print("%.3g" % err)
PY
)
ok "the scores are -g_i . s_test of the ekfac ihvp (max rel err $e)" $PY -c "import sys; sys.exit(not $e < 1e-4)"

mtimes() { (cd "$1" && find . -maxdepth 1 -type f ! -name '.*' -printf '%f %T@\n' | sort); }
changed() {
  mtimes "$1" > "$T/.now"
  join -a1 -a2 "$2" "$T/.now" | awk 'NF < 3 || $2 != $3 { print $1 }' | tr '\n' ' ' | sed 's/ $//'
}
mtimes "$T/run" > "$T/m0"
ok "METHOD=kfac: the graph reruns" make -s -f "$MK" "${vars[@]}" METHOD=kfac ranked
is "$(changed "$T/run" "$T/m0")" "curvature ihvp.mp ranked.mp scores.mp" "kfac refits the curvature, not the training gradients"
is "$(says "$T/run/ihvp.mp")" "[('curvature', 'kfac', 0.1)]" "the ihvp records say kfac"
mtimes "$T/run" > "$T/m1"
ok "CURV_DAMPING=0.5: the graph reruns" make -s -f "$MK" "${vars[@]}" METHOD=kfac CURV_DAMPING=0.5 ranked
is "$(changed "$T/run" "$T/m1")" "ihvp.mp ranked.mp scores.mp" "a new damping remakes the ihvp, not the curvature"

# resumable: a lost curvature file is remade, a killed step leaves nothing that counts
rm "$T/run/curvature"
ok "a removed curvature file is remade" make -s -f "$MK" "${vars[@]}" METHOD=kfac CURV_DAMPING=0.5 ranked
ok "... and is there" test -s "$T/run/curvature"
: > "$T/run/train-grad.mp"
run make -s -f "$MK" "${vars[@]}" METHOD=kfac CURV_DAMPING=0.5 ranked
is "$rc" 2 "an empty train-grad.mp stops the graph"
is "$([ -e "$T/run/curvature" ] && echo kept || echo none)" none "and leaves no curvature file"
rm "$T/run/train-grad.mp"

ok "METHOD=fisher-lissa: the graph runs" make -s -f "$MK" "${vars[@]}" METHOD=fisher-lissa DAMPING=0.01 J=300 ranked
is "$(says "$T/run/ihvp.mp")" "[('lissa', 'fisher', 0.01)]" "the ihvp records say LiSSA over the Fisher"
ok "back to ekfac" make -s -f "$MK" "${vars[@]}" METHOD=ekfac ranked
is "$(says "$T/run/ihvp.mp")" "[('curvature', 'ekfac', 0.1)]" "ekfac again"
done_testing
