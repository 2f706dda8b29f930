#!/bin/bash
# pick: filters by id, position, condition and field, checked with Python.
. "$(dirname "$0")/lib.sh"
$PY - "$T/in.mp" <<'PY'
import sys, msgpack, numpy as np
with open(sys.argv[1], "wb") as f:
    for i in range(20):
        x = np.arange(4, dtype="<f4") + i
        f.write(msgpack.packb({"id": f"r{i}", "label": i % 2, "pred": (i // 2) % 2,
                               "group": "a" if i < 10 else "b",
                               "x": {"dtype": "f32", "shape": [4], "data": x.tobytes()}}))
PY
ids() { $PY -c 'import sys, msgpack; print(" ".join(r["id"] for r in msgpack.Unpacker(sys.stdin.buffer)))'; }
{
is "$(pick < "$T/in.mp" | cmp - "$T/in.mp" && echo same)" same "no options: records copied verbatim"
is "$(pick --skip 3 --head 2 "$T/in.mp" | ids)" "r3 r4" "--skip and --head"
printf 'r5\nr7\nnope\n' > "$T/ids.txt"
is "$(pick --ids "$T/ids.txt" < "$T/in.mp" | ids)" "r5 r7" "--ids from a text file"
is "$(pick --ids "$T/ids.txt" -v < "$T/in.mp" | pick --head 3 | ids)" "r0 r1 r2" "--ids -v inverts"
is "$(pick --where 'pred!=label' < "$T/in.mp" | ids)" "$($PY -c 'print(" ".join(f"r{i}" for i in range(20) if i % 2 != (i // 2) % 2))')" "--where compares two fields"
is "$(pick --where 'group==b' < "$T/in.mp" | pick --where 'label>=1' | ids)" "r11 r13 r15 r17 r19" "--where with string and number literals"
is "$(pick --where 'group==b' --skip 1 --head 2 < "$T/in.mp" | ids)" "r11 r12" "--skip and --head count matching records"
pick --keep x < "$T/in.mp" > "$T/keep.mp"
is "$($PY -c 'import sys, msgpack; r = next(msgpack.Unpacker(open(sys.argv[1], "rb"))); print(sorted(r))' "$T/keep.mp")" "['id', 'x']" "--keep keeps id and the named fields"
is "$(cat "$T/in.mp" "$T/in.mp" | pick | ids | wc -w)" "40" "concatenated streams are one stream"
is "$(pick --where 'group == b' < "$T/in.mp" | ids | wc -w)" "10" "--where allows blanks around the operator"
} 2>"$T/pick.log" # the tools' summaries, not the test's output
# NaN equals only NaN: ==nan selects it, != keeps every other number, and
# no literal or ordering lets a NaN through by accident
$PY - "$T/nan.mp" <<'PY'
import sys, msgpack
recs = [{"id": "a", "loss": float("nan"), "g": "123", "n": 2**53 + 1, "b": True},
        {"id": "b", "loss": 1.0, "g": "124", "n": 2**53, "b": False},
        {"id": "c", "loss": 2, "g": "x", "n": 1}]
open(sys.argv[1], "wb").write(b"".join(msgpack.packb(r) for r in recs))
PY
for c in 'loss==nan:a' 'loss!=nan:b c' 'loss==1:b' 'loss!=1:a c' 'loss<5:b c' 'loss>=1:b c' 'loss>-inf:b c' \
         'loss==loss:a b c' 'g==123:a' 'g!=123:b c' 'g<124:a' 'n==9007199254740993:a' 'n>9007199254740992:a' \
         'b==true:a' 'b!=true:b'; do
  is "$(pick --where "${c%%:*}" "$T/nan.mp" 2>/dev/null | ids)" "${c#*:}" "--where ${c%%:*} keeps ${c#*:}"
done
run pick --where 'nonsense' < "$T/in.mp"
is "$rc" "2" "--where without an operator is a usage error"
head -c 100 "$T/in.mp" > "$T/cut.mp"
run pick < "$T/cut.mp"
is "$rc" "1" "truncated input: exit 1"
like "$err" "record #1 \(byte [0-9]+\): truncated" "truncated input: error names the record and byte"
# a producer that writes a record at a time: offsets stay right when the
# reader's buffer drains between records
n1=$(pick --head 1 "$T/in.mp" 2>/dev/null | wc -c)
run sh -c "(pick --head 1 '$T/in.mp' 2>/dev/null; sleep 0.2; printf '\\x81\\xa2id') | pick"
like "$err" "record #1 \(byte $n1\)" "error offsets count every byte read, also across a drained buffer"
run pick < /dev/null
is "$rc:$out" "0:" "empty input: no records, exit 0"
run pick "$T/in.mp" '>' /dev/full
pick "$T/in.mp" > /dev/full 2>"$T/full.err"; rc=$?
is "$rc" "1" "a full disk is an error"
like "$(cat "$T/full.err")" "No space left" "and says so"
done_testing
