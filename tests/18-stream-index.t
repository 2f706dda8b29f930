#!/bin/bash
# stream-index and --train-index: the index lists each record's offset, size,
# CRC-32, id and label as Python's msgpack and zlib see them; ihvp and fused
# influence read through it write the bytes they write reading the whole
# stream (LiSSA's random batches on one and two threads, --scale auto, cg's
# full passes, fused scores over all of train and over candidates); a stale
# sidecar is reported and ignored, a stale explicit index refused; a file
# changed in place behind its index (mtime restored) is refused naming the
# record, never read as something else; bad indexes and bad streams are
# one-line errors. 1,500 images: a 4.8 MB stream.
. "$(dirname "$0")/lib.sh"
F=/usr/share/datasets/fashion-mnist
import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 1510 --fashion 2>/dev/null > "$T/all.ex"
pick --head 1500 < "$T/all.ex" > "$T/train.ex" 2>/dev/null
pick --skip 1500 < "$T/all.ex" > "$T/test.ex" 2>/dev/null
train --arch mlp:16 --epochs 2 --seed 3 < "$T/train.ex" > "$T/m" 2>/dev/null
ok "an mlp on 1,500 images" test -s "$T/m"
cp -p "$T/train.ex" "$T/train.orig"

run stream-index "$T/train.ex"
is "$rc" 0 "stream-index FILE exits 0"
like "$err" "stream-index: done 1500 records" "and counts the records"
ok "it writes FILE.sidx beside the stream" test -s "$T/train.ex.sidx"
ok "the stream itself is untouched" cmp "$T/train.ex" "$T/train.orig"

# The index against an independent reading of the stream.
$PY - "$T/train.ex" "$T/train.ex.sidx" > "$T/index.out" 2>&1 <<'PY'
import msgpack, os, sys, zlib
data = open(sys.argv[1], 'rb').read()
u = msgpack.Unpacker(raw=False)
u.feed(data)
offs, recs = [], []
while True:
    o = u.tell()
    try:
        r = next(u)
    except StopIteration:
        break
    offs.append(o)
    recs.append(r)
ix = list(msgpack.Unpacker(open(sys.argv[2], 'rb'), raw=False))
h = ix[0]
st = os.stat(sys.argv[1])
print('ok -' if h['id'] == 'stream-index' and h['records'] == len(recs) and h['stream_bytes'] == len(data)
      and h['stream_mtime_ns'] == st.st_mtime_ns else 'not ok -', 'header: records, size and mtime of the stream')
import struct
def column(k, fmt, w):
    out = []
    for c in ix[1:]:
        t = c[k]
        out += list(struct.unpack('<%d%s' % (len(t['data']) // w, fmt), t['data']))
    return out
off, nb, crc, lab = column('offset', 'q', 8), column('nbytes', 'q', 8), column('crc32', 'q', 8), column('label', 'i', 4)
ids = [i for c in ix[1:] for i in c['ids']]
ends = offs[1:] + [len(data)]
print('ok -' if off == offs else 'not ok -', 'offsets are where Python msgpack finds each record')
print('ok -' if nb == [e - o for o, e in zip(offs, ends)] else 'not ok -', 'sizes')
print('ok -' if crc == [zlib.crc32(data[o:e]) for o, e in zip(offs, ends)] else 'not ok -', 'CRC-32 of each record (zlib)')
print('ok -' if ids == [r['id'] for r in recs] else 'not ok -', 'ids')
print('ok -' if lab == [r['label'] for r in recs] else 'not ok -', 'labels')
print('ok -' if [c['first'] for c in ix[1:]] == list(range(0, len(recs), h['chunk'])) else 'not ok -', 'chunks')
PY
tap_lines "$T/index.out" 7

run stream-index --check "$T/train.ex"
is "$rc" 0 "--check on a current index exits 0"
like "$err" "is current \(1500 records\)" "and says so"

both() { # name stdin command args... : through the index and reading the whole stream, same bytes
  local name=$1 in=$2; shift 2
  "$@" < "$in" > "$T/$name.ix" 2>"$T/$name.err"; local a=$?
  "$@" --train-index none < "$in" > "$T/$name.whole" 2>"$T/$name.whole.err"; local b=$?
  is "$a $b" "0 0" "$name: both runs succeed"
  ok "$name: through the index = reading the whole stream, byte for byte" cmp "$T/$name.ix" "$T/$name.whole"
  ok "$name: a non-empty answer" test -s "$T/$name.ix"
  like "$(cat "$T/$name.err")" "read through its stream index" "$name: the log says the index was used"
  unlike() { ! grep -q "stream index" "$1"; }
  ok "$name: --train-index none does not use it" unlike "$T/$name.whole.err"
}
M=(--model "$T/m" --train "$T/train.ex")
both lissa-B1 "$T/test.ex" ihvp "${M[@]}" --depth 300 --batch 1 --repeats 2 --threads 1 --scale 50
both lissa-B7-t2 "$T/test.ex" ihvp "${M[@]}" --depth 100 --batch 7 --repeats 3 --threads 2 --hessian ggn
both scale-auto "$T/test.ex" ihvp "${M[@]}" --depth 50 --batch 4 --scale-batches 4 --scale-iters 5
both cg "$T/test.ex" ihvp "${M[@]}" --method cg --tol 1e-2 --max-iter 200 --chunk 512 --hessian ggn --damping 0.01 --scale 1
cp "$T/lissa-B1.ix" "$T/s"
both fused /dev/null influence --ihvp "$T/s" "${M[@]}" --batch 200 --threads 2
write_cands "$T/train.ex" "$T/test.ex" 1500 > "$T/cands"
both candidates /dev/null influence --ihvp "$T/s" "${M[@]}" --candidates "$T/cands" --batch 16
like "$(cat "$T/candidates.err")" "kept the [0-9]+ of 1500 training examples" "candidates: the log says how many were kept"
# an explicit index elsewhere
stream-index -o "$T/elsewhere.sidx" "$T/train.ex" 2>/dev/null
mv "$T/train.ex.sidx" "$T/train.ex.sidx.keep"
influence --ihvp "$T/s" "${M[@]}" --candidates "$T/cands" --batch 16 --train-index "$T/elsewhere.sidx" \
  > "$T/cand-else" 2>"$T/cand-else.err"
ok "--train-index FILE: the same scores" cmp "$T/cand-else" "$T/candidates.whole"
like "$(cat "$T/cand-else.err")" "read through its stream index" "and it was used"
run influence --ihvp "$T/s" "${M[@]}" --train-index "$T/nonesuch.sidx"
is "$rc" 1 "--train-index naming a missing file: exit 1"
like "$err" "cannot open the stream index .*nonesuch.sidx" "naming it"
mv "$T/train.ex.sidx.keep" "$T/train.ex.sidx"

# A candidate not in the stream: the error of the whole-stream read.
printf '\x83\xa2id\xa8img-1500\xa3ids\x91\xa5nope!\xa4dist\x83\xa5dtype\xa3f32\xa5shape\x91\x00\xa4data\xc4\x00' > "$T/badcand"
run influence --ihvp "$T/s" "${M[@]}" --candidates "$T/badcand"
is "$rc" 1 "a candidate not in the training stream: exit 1"
like "$err" "candidate 'nope!' is not in" "naming it"

# Stale: the stream's mtime moved. The sidecar is reported and ignored (the
# answer is the whole stream's); an explicit index is refused.
touch -d '2001-01-01' "$T/train.ex"
ihvp "${M[@]}" --depth 300 --batch 1 --repeats 2 --threads 1 --scale 50 < "$T/test.ex" > "$T/stale" 2>"$T/stale.err"
is "$?" 0 "a stale sidecar: ihvp still runs"
ok "with the whole stream's answer" cmp "$T/stale" "$T/lissa-B1.whole"
like "$(cat "$T/stale.err")" "index is not used \(.*modified at" "and says the index is stale, and why"
run ihvp "${M[@]}" --train-index "$T/train.ex.sidx" --depth 30 --scale 50 < "$T/test.ex"
is "$rc" 1 "a stale explicit index: exit 1"
like "$err" "the stream changed since it was indexed; rebuild" "saying to rebuild it"
run stream-index --check "$T/train.ex"
is "$rc" 1 "--check on a stale index: exit 1"
touch -r "$T/train.orig" "$T/train.ex"

# Changed in place behind the index, size and mtime kept: one pixel of
# record #700. Every read of that record is refused, naming it.
cp -p "$T/train.ex" "$T/changed.ex"
cp -p "$T/train.ex.sidx" "$T/changed.ex.sidx"
$PY - "$T/changed.ex" <<'PY'
import msgpack, sys
p = sys.argv[1]
data = bytearray(open(p, 'rb').read())
u = msgpack.Unpacker(raw=False); u.feed(bytes(data))
for i in range(700): next(u)
o = u.tell()
data[o + 600] ^= 0x01  # inside x's bytes
open(p, 'r+b').write(bytes(data))
PY
touch -r "$T/train.orig" "$T/changed.ex"
run stream-index --check "$T/changed.ex"
is "$rc" 1 "--check on a file changed in place: exit 1"
like "$err" "record #700 .* is not the one .* indexed \(its CRC-32 differs\)" "naming the record"
run influence --ihvp "$T/s" --model "$T/m" --train "$T/changed.ex"
is "$rc" 1 "fused influence over a changed record: exit 1"
like "$err" "record #700" "naming it"
is "$out" "" "and nothing written"
# The error comes from a scoring thread while the other thread computes:
# it must exit 1 every time, not crash on the way out (it did, 1 in ~30).
rcs=""
for i in $(seq 20); do
  influence --ihvp "$T/s" --model "$T/m" --train "$T/changed.ex" --threads 2 > /dev/null 2>&1
  rcs="$rcs$?"
done
is "$rcs" "11111111111111111111" "20 runs: exit 1 each time, no crash"

# An index whose label column was edited (the stream untouched): the labels
# come from the index, so every record read checks its label against it.
cp -p "$T/train.ex" "$T/relab.ex"
$PY - "$T/train.ex.sidx" "$T/relab.ex.sidx" <<'PY'
import msgpack, struct, sys
recs = list(msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False))
lab = bytearray(recs[1]['label']['data'])
y = struct.unpack_from('<i', lab, 4 * 5)[0]
struct.pack_into('<i', lab, 4 * 5, (y + 1) % 10)
recs[1]['label']['data'] = bytes(lab)
open(sys.argv[2], 'wb').write(b''.join(msgpack.packb(r) for r in recs))
PY
run influence --ihvp "$T/s" --model "$T/m" --train "$T/relab.ex"
is "$rc" 1 "an index whose label differs from the record's: exit 1"
like "$err" "record #5 .*does not match" "naming the record"
run stream-index --check "$T/relab.ex"
is "$rc" 1 "--check finds it too"
# The index never overwrites its stream.
cp "$T/test.ex" "$T/self.ex"
run stream-index -o "$T/self.ex" "$T/self.ex"
is "$rc" 1 "-o naming the stream itself: exit 1"
like "$err" "would overwrite the stream itself" "saying so"
ok "and the stream is untouched" cmp "$T/self.ex" "$T/test.ex"
# A stream modified before 1970 is indexed and read through its index.
cp "$T/train.ex" "$T/old.ex"
touch -d '1969-06-01' "$T/old.ex"
stream-index "$T/old.ex" 2>/dev/null
ihvp --model "$T/m" --train "$T/old.ex" --depth 300 --batch 1 --repeats 2 --threads 1 --scale 50 \
  < "$T/test.ex" > "$T/old.s" 2>"$T/old.err"
is "$?" 0 "an mtime before 1970: ihvp runs"
like "$(cat "$T/old.err")" "read through its stream index" "through the index"
ok "with the same answer" cmp "$T/old.s" "$T/lissa-B1.whole"

# Bad indexes: not an index, truncated, another stream's.
cp "$T/test.ex" "$T/bad1.sidx"
run influence --ihvp "$T/s" "${M[@]}" --train-index "$T/bad1.sidx"
is "$rc" 1 "a stream that is not an index: exit 1"
like "$err" "is not a stream index" "saying so"
head -c 30000 "$T/train.ex.sidx" > "$T/bad2.sidx"
run influence --ihvp "$T/s" "${M[@]}" --train-index "$T/bad2.sidx"
is "$rc" 1 "a truncated index: exit 1"
like "$err" "bad2.sidx" "naming it"
stream-index -o "$T/test.sidx" "$T/test.ex" 2>/dev/null
run influence --ihvp "$T/s" "${M[@]}" --train-index "$T/test.sidx"
is "$rc" 1 "another stream's index: exit 1"
like "$err" "test.sidx describes .* as 32065 bytes" "saying what it describes"

# Bad streams.
cat "$T/test.ex" "$T/test.ex" > "$T/dup.ex"
run stream-index "$T/dup.ex"
is "$rc" 1 "duplicate ids: exit 1"
like "$err" "record 'img-1500' \(#10\) repeats the id of record #0" "naming both records"
ok "and no index is left behind" test ! -e "$T/dup.ex.sidx"
run stream-index <(cat "$T/test.ex")
is "$rc" 1 "a pipe cannot be indexed: exit 1"
like "$err" "not a regular file" "saying why"
head -c 20000 "$T/test.ex" > "$T/trunc.ex"
run stream-index "$T/trunc.ex"
is "$rc" 1 "a truncated stream: exit 1"
like "$err" "truncated stream" "saying so"
run stream-index -o "$T/x.sidx" "$T/test.ex" "$T/train.ex"
is "$rc" 2 "-o with two files: a usage error"
# --train from a pipe with --train-index: refused; without, the whole stream
run ihvp --model "$T/m" --train <(cat "$T/train.ex") --train-index "$T/train.ex.sidx" --depth 10 --scale 50 < "$T/test.ex"
is "$rc" 1 "--train-index with a pipe for --train: exit 1"
like "$err" "not a regular file" "saying why"
done_testing
