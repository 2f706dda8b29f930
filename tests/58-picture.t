#!/bin/bash
# picture: a ranked stream drawn as a PNG, decoded here independently (zlib +
# struct): chunks and CRCs, the size, every tile's pixels against the input
# images after the scaling formats/picture.md documents, and the label text
# against the font table of lib/font.c rendered in Python. Then bad input,
# -o through the atomic machinery, and class names in `rank --text`.
. "$(dirname "$0")/lib.sh"

# ---- data: grey 5x7 and RGB 4x6 images, ranked streams written by Python ----
$PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
def t(a):
    a = np.ascontiguousarray(a, "<f4")
    return {"dtype": "f32", "shape": list(a.shape), "data": a.tobytes()}
def write(path, recs):
    with open(path, "wb") as f:
        for r in recs:
            f.write(msgpack.packb(r))
names = ["Coat", "Shirt", "Bag"]
for kind, shape in (("g", (5, 7)), ("c", (4, 6, 3)), ("b", (64, 64, 3))):
    X = {f"tr-{i}": rng.uniform(-1, 2, shape).astype("<f4") for i in range(6)}
    Q = {f"te-{i}": rng.uniform(-1, 2, shape).astype("<f4") for i in range(2)}
    lab = {"tr-0": 0, "tr-1": 0, "tr-2": 1, "tr-3": 2, "tr-4": 1, "tr-5": 0}
    flat = kind == "g"   # grey images flat [35] (needs --shape), RGB as [4, 6, 3]
    write(f"{d}/{kind}.train", [{"id": k, "label": lab[k], "label_name": names[lab[k]],
                                 "x": t(v.reshape(-1) if flat else v)} for k, v in X.items()])
    # the same without names, and RGB planes (C x H x W, PyTorch order)
    write(f"{d}/{kind}.train-nonames", [{"id": k, "label": lab[k], "x": t(v.reshape(-1))} for k, v in X.items()])
    if kind == "c":
        write(f"{d}/c.train-chw", [{"id": k, "label": lab[k], "x": t(v.transpose(2, 0, 1))} for k, v in X.items()])
        write(f"{d}/c.query-chw", [{"id": k, "label": 0, "x": t(v.transpose(2, 0, 1))} for k, v in Q.items()])
    write(f"{d}/{kind}.query", [{"id": k, "label": 0, "label_name": "Coat", "x": t(v.reshape(-1) if flat else v)}
                                for k, v in Q.items()])
    np.savez(f"{d}/{kind}.npz", **X, **Q)
write(f"{d}/pred", [{"id": "te-0", "label": 0, "pred": 1, "pred_name": "Shirt"},
                    {"id": "te-1", "label": 0, "pred": 0, "pred_name": "Coat"}])
e = lambda i, s: {"id": f"tr-{i}", "score": s}
# te-0: helpful tr-0 tr-1 tr-2 (Coat Coat Shirt), harmful tr-3 tr-4;
# te-1: helpful tr-5 only (one empty helpful cell at M=2), harmful tr-2 tr-3 tr-4
ranked = [{"id": "te-0", "helpful": [e(0, -3.5), e(1, -2.25), e(2, -1.0)], "harmful": [e(3, 4.0), e(4, 0.5)]},
          {"id": "te-1", "helpful": [e(5, -0.125)], "harmful": [e(2, 2.0), e(3, 1.5), e(4, 1.0)]}]
for r in ranked:
    r["influential"] = r["helpful"] + r["harmful"]
write(f"{d}/ranked", ranked)
write(f"{d}/ranked-empty-lists", [{"id": "te-0", "helpful": [], "harmful": []}])
write(f"{d}/ranked-missing", [{"id": "te-0", "helpful": [e(0, -2.0), e(9, -1.0)], "harmful": []}])
write(f"{d}/g.train-nox", [{"id": f"tr-{i}", "label": 0} for i in range(6)])
write(f"{d}/scores", [{"id": "te-0", "ids": ["tr-0"], "scores": t(np.array([1.0]))}])
PY

# check.py PNG NPZ SPEC...: decode PNG, compare with the images of NPZ; SPEC is
# a JSON object (zoom, invert, range, m, rows, title, names: expected text).
cat > "$T/check.py" <<'PY'
import json, re, struct, sys, zlib
import numpy as np
png, npz, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
b = open(png, "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, chunks = 8, []
while pos < len(b):
    n, = struct.unpack(">I", b[pos:pos + 4]); typ = b[pos + 4:pos + 8]; data = b[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(typ + data) & 0xffffffff == crc, f"CRC of {typ}"
    chunks.append((typ, data)); pos += 12 + n
assert pos == len(b) and chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b""), "chunk order"
W, H, depth, ctype, comp, filt, inter = struct.unpack(">IIBBBBB", chunks[0][1])
assert (depth, ctype, comp, filt, inter) == (8, 2, 0, 0, 0), "8-bit RGB, not interlaced"
raw = zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT"))
stride = W * 3
assert len(raw) == H * (stride + 1), "scanline bytes"
nidat = sum(t == b"IDAT" for t, d in chunks)
assert nidat >= spec.get("min_idat", 1), f"{nidat} IDAT chunks"
img = np.zeros((H, stride), np.int64); prev = np.zeros(stride, np.int64)
for y in range(H):   # the five PNG filters, so any valid encoding decodes
    f, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
    out = np.zeros(stride, np.int64)
    if f in (0, 2):   # none, up: whole rows at once
        img[y] = prev = (line + (prev if f == 2 else 0)) & 255
        continue
    for i in range(stride):
        a = out[i - 3] if i >= 3 else 0; c = prev[i - 3] if i >= 3 else 0; up = prev[i]
        if f == 0: p = 0
        elif f == 1: p = a
        elif f == 2: p = up
        elif f == 3: p = (a + up) // 2
        elif f == 4:
            pa, pb, pc = abs(up - c), abs(a - c), abs(a + up - 2 * c)
            p = a if pa <= pb and pa <= pc else up if pb <= pc else c
        else: raise AssertionError(f"filter {f}")
        out[i] = (line[i] + p) & 255
    img[y] = out; prev = out
img = img.reshape(H, W, 3)
# layout constants and formulas of formats/picture.md
PAD, GAP, LH, CHARS, ADV = 4, 8, 11, 22, 6
X = np.load(npz)
shape = X["te-0"].shape
h, w = shape[0], shape[1]
m, rows = spec["m"], spec["rows"]
z = spec.get("zoom") or -(-96 // max(h, w))
IW, IH = z * w, z * h
CW, CH = max(IW, CHARS * ADV) + 2 * PAD, 3 * PAD + IH + 3 * LH
top = PAD + (LH + PAD if spec.get("title") else 0) + LH
assert (W, H) == ((1 + 2 * m) * CW + 2 * GAP, top + len(rows) * CH), f"size {W}x{H}"
colx = lambda k: k * CW + GAP * (k >= 1) + GAP * (k >= 1 + m)
def scaled(x):
    x = x.astype(np.float64)
    lo, hi = spec["range"] if spec.get("range") else (x.min(), x.max())
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    v = np.floor(255 * t + 0.5)
    return 255 - v if spec.get("invert") else v
def tile(k, q):
    x0, y0 = colx(k), top + q * CH
    ox = x0 + PAD + (CW - 2 * PAD - IW) // 2
    return img[y0 + PAD:y0 + PAD + IH, ox:ox + IW], img[y0:y0 + CH, x0:x0 + CW], (x0, y0)
# the font, read from lib/font.c's table, renders expected text masks
glyph = {}
for line in open(spec["font"]):
    mt = re.match(r"\s*\['(\\.|.)' - 32\] = \{(.*)\},\s*$", line)
    if mt:
        ch = mt.group(1)[-1] if mt.group(1).startswith("\\") else mt.group(1)
        glyph[ch] = re.findall(r'"([.#]{5})"', mt.group(2))
assert len(glyph) == 95, f"{len(glyph)} glyphs"
def text_mask(s, chars):
    if len(s) > chars: s = s[:chars - 1] + "~"
    mask = np.zeros((LH, chars * ADV), bool)
    for i, ch in enumerate(s):
        for r, row in enumerate(glyph.get(ch, glyph["?"])):
            for c, px in enumerate(row):
                mask[r, i * ADV + c] = px == "#"
    return mask
def line_mask(x0, y0, l):
    y = y0 + 2 * PAD + IH + l * LH
    band = img[y:y + LH, x0 + PAD:x0 + CW - PAD]
    return (band != 255).any(axis=2)
fails = []
for q, (tid, lists) in enumerate(rows):
    cells = [(0, tid)] + [(1 + k * m + i, e) for k in range(2) for i, e in enumerate(lists[k] + [None] * (m - len(lists[k])))]
    for k, e in cells:
        px, cell, (x0, y0) = tile(k, q)
        if e is None:
            if not (cell == 255).all(): fails.append(f"row {q} col {k}: an empty cell is not white")
            continue
        want = scaled(X[e])
        if want.ndim == 2: want = np.repeat(want[:, :, None], 3, axis=2)
        want = np.repeat(np.repeat(want, z, axis=0), z, axis=1)
        if not np.array_equal(px, want):
            fails.append(f"row {q} col {k} ({e}): {np.sum(px != want)} pixel values differ")
for q, k, l, s in spec.get("text", []):   # expected lines of text under tiles
    got, want = line_mask(colx(k), top + q * CH, l), text_mask(s, (CW - 2 * PAD) // ADV)
    if not np.array_equal(got, want):
        fails.append(f"row {q} col {k} line {l}: text is not '{s}'")
for (q1, k1, l1), (q2, k2, l2), same in spec.get("compare", []):
    a, b2 = line_mask(colx(k1), top + q1 * CH, l1), line_mask(colx(k2), top + q2 * CH, l2)
    if np.array_equal(a, b2) != same:
        fails.append(f"label lines ({q1},{k1},{l1}) and ({q2},{k2},{l2}) are {'different' if same else 'identical'}")
print("\n".join(fails) if fails else "ok")
PY
FONT=$TOP/lib/font.c
# check PNG NPZ SPEC DESC
check() { is "$($PY "$T/check.py" "$1" "$2" "$3" 2>&1)" ok "$4"; }
ROWS='[["te-0", [["tr-0", "tr-1"], ["tr-3", "tr-4"]]], ["te-1", [["tr-5"], ["tr-2", "tr-3"]]]]'

# ---- grey ----
run picture --join "$T/g.train" --query "$T/g.query,$T/pred" --shape 5,7 -m 2 -o "$T/g.png" < "$T/ranked"
is "$rc:$(printf '%s\n' "$err" | tail -n 1)" "0:picture: done 2 records" "picture runs on grey 5x7 images"
# text: test id, gold, pred; class names of the training tiles; ids; scores
TEXT='[[0, 0, 0, "te-0"], [0, 0, 1, "gold Coat"], [0, 0, 2, "pred Shirt"], [1, 0, 2, "pred Coat"],
       [0, 1, 0, "Coat"], [0, 1, 1, "tr-0"], [0, 1, 2, "-3.5"], [0, 3, 0, "Bag"], [0, 4, 2, "+0.5"],
       [1, 1, 0, "Coat"], [1, 3, 0, "Shirt"], [1, 3, 2, "+2"]]'
check "$T/g.png" "$T/g.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\", \"text\": $TEXT}" \
  "grey: valid chunks and CRCs, size for 2 x (1 + 2x2) tiles, tiles equal the images scaled per image, labels as the font draws them"
# label strips: equal class names draw equal pixels, different ones differ
check "$T/g.png" "$T/g.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\",
  \"compare\": [[[0, 1, 0], [0, 2, 0], true], [[0, 1, 0], [1, 1, 0], true], [[0, 1, 0], [0, 3, 0], false],
                [[0, 3, 0], [0, 4, 0], false], [[0, 4, 0], [1, 3, 0], true]]}" \
  "the class-name line of a tile is identical for equal names (Coat, Coat) and differs for different ones"
not_ok "... and the checker fails on a picture of other images" \
  $PY -c "import sys, subprocess; sys.exit(subprocess.run([sys.executable, '$T/check.py', '$T/g.png', '$T/c.npz', sys.argv[1]], capture_output=True, text=True).stdout.strip() != 'ok')" \
  "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\"}"
# fixed range, inverted, a zoom and a title
run picture --join "$T/g.train" --query "$T/g.query" --shape 5,7 -m 2 --range 0,1 --invert --zoom 3 \
  --title "A title" -o "$T/g2.png" < "$T/ranked"
check "$T/g2.png" "$T/g.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\", \"zoom\": 3, \"invert\": true,
  \"range\": [0, 1], \"title\": true}" "--range 0,1 --invert --zoom 3 --title: values clamped to the range, inverted, zoomed 3x"
# -m 3 shows te-0's third helpful image; te-1's lists stay short
run picture --join "$T/g.train" --query "$T/g.query" --shape 5,7 -m 3 -o "$T/g3.png" < "$T/ranked"
check "$T/g3.png" "$T/g.npz" "{\"m\": 3, \"rows\": [[\"te-0\", [[\"tr-0\", \"tr-1\", \"tr-2\"], [\"tr-3\", \"tr-4\"]]],
  [\"te-1\", [[\"tr-5\"], [\"tr-2\", \"tr-3\", \"tr-4\"]]]], \"font\": \"$FONT\"}" "-m 3: three tiles per list, empty cells white"

# ---- RGB ----
run picture --join "$T/c.train" --query "$T/c.query,$T/pred" -m 2 -o "$T/c.png" < "$T/ranked"
is "$rc" 0 "picture runs on RGB 4x6x3 images (shape from the tensors)"
check "$T/c.png" "$T/c.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\", \"text\": [[0, 1, 0, \"Coat\"], [0, 0, 2, \"pred Shirt\"]]}" \
  "RGB: tiles equal the images (scaled per image over all channels)"
# noise images: the deflated data spans several IDAT chunks
run picture --join "$T/b.train" --query "$T/b.query" -m 2 -o "$T/b.png" < "$T/ranked"
check "$T/b.png" "$T/b.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\", \"min_idat\": 3}" \
  "RGB 64x64 noise: IDAT chunks of 64 KiB and a last one, tiles equal the images"
run picture --join "$T/c.train-chw" --query "$T/c.query-chw" --chw -m 2 -o "$T/chw.png" < "$T/ranked"
is "$rc" 0 "picture --chw runs on RGB planes (C x H x W)"
check "$T/chw.png" "$T/c.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\"}" "--chw: tiles equal the images"

# ---- class names: a record's own, else --classes / --model, else the number ----
run picture --join "$T/g.train-nonames" --query "$T/g.query" --shape 5,7 -m 2 -o "$T/n.png" < "$T/ranked"
check "$T/n.png" "$T/g.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\", \"text\": [[0, 1, 0, \"class 0\"], [0, 3, 0, \"class 2\"], [0, 0, 1, \"gold Coat\"]]}" \
  "no label_name: the class number"
run picture --join "$T/g.train-nonames" --query "$T/g.query" --shape 5,7 -m 2 --classes a,b,c -o "$T/n.png" < "$T/ranked"
check "$T/n.png" "$T/g.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\", \"text\": [[0, 1, 0, \"a\"], [0, 3, 0, \"c\"], [1, 3, 0, \"b\"]]}" \
  "--classes a,b,c names the classes"
train --arch linear --epochs 1 -o "$T/model" < "$T/g.train" 2>/dev/null
run picture --join "$T/g.train-nonames" --query "$T/g.query" --shape 5,7 -m 2 --model "$T/model" -o "$T/n.png" < "$T/ranked"
check "$T/n.png" "$T/g.npz" "{\"m\": 2, \"rows\": $ROWS, \"font\": \"$FONT\", \"text\": [[0, 1, 0, \"Coat\"], [0, 3, 0, \"Bag\"], [1, 3, 0, \"Shirt\"]]}" \
  "--model names the classes by the model's classes"

# ---- bad input: exit 1 and one error line ----
# bad EXIT REGEX STDIN ARGS...
bad() {
  local want=$1 re=$2 in=$3; shift 3
  run picture "$@" < "$in"
  # a usage error (exit 2) adds the "Try --help" line
  is "$rc:$(printf '%s\n' "$err" | grep -vc '^Try ')" "$want:1" "picture $* < $(basename "$in"): exit $want, one line"
  like "$err" "^picture: (error: )?.*$re" "... says: $re"
}
bad 1 "record 'tr-0' \(#0 .*35 values.*6x6x1 needs 36" "$T/ranked" --join "$T/g.train" --query "$T/g.query" --shape 6,6 -o "$T/x.png"
bad 1 "record 'tr-0'.*cannot tell the image shape.*--shape" "$T/ranked" --join "$T/g.train-nonames" --query "$T/g.query" -o "$T/x.png"
bad 1 "record 'te-0' \(#0 .*72 values.*5x7x1 needs 35" "$T/ranked" --join "$T/g.train" --query "$T/c.query" --shape 5,7 -o "$T/x.png"
bad 1 "training example 'tr-9' \(ranked for test 'te-0'\): no record in" "$T/ranked-missing" --join "$T/g.train" --query "$T/g.query" --shape 5,7 -o "$T/x.png"
bad 1 "--join .*g.query: none of its ids is a training id" "$T/ranked" --join "$T/g.query" --query "$T/g.train" -o "$T/x.png"
bad 1 "--query .*g.train: none of its ids is a test id" "$T/ranked" --join "$T/g.train" --query "$T/g.query,$T/g.train" --shape 5,7 -o "$T/x.png"
bad 1 "test 'te-0': no image field 'x' in" "$T/ranked" --join "$T/g.train" --query "$T/pred" --shape 5,7 -o "$T/x.png"
bad 1 "record 'tr-0' \(#0 .*no image field 'x'" "$T/ranked" --join "$T/g.train-nox" --query "$T/g.query" -o "$T/x.png"
bad 1 "no ranked records" /dev/null --join "$T/g.train" --query "$T/g.query" -o "$T/x.png"
bad 1 "none of the 1 ranked records has a helpful or harmful entry" "$T/ranked-empty-lists" --join "$T/g.train" --query "$T/g.query" -o "$T/x.png"
bad 1 "record 'te-0'.*helpful" "$T/scores" --join "$T/g.train" --query "$T/g.query" -o "$T/x.png"
bad 1 "record 'tr-3'.*class 2.*name only 2 classes" "$T/ranked" --join "$T/g.train-nonames" --query "$T/g.query" --shape 5,7 -m 2 --classes a,b -o "$T/x.png"
bad 2 "--shape" "$T/ranked" --join "$T/g.train" --query "$T/g.query" --shape 5,7,2
bad 2 "--range" "$T/ranked" --join "$T/g.train" --query "$T/g.query" --range 1,1
bad 2 "--model and --classes" "$T/ranked" --join "$T/g.train" --query "$T/g.query" --model "$T/model" --classes a
bad 2 "--join" "$T/ranked" --query "$T/g.query"
ok "no bad run left a file or a temp file" test -z "$(ls -A "$T" | grep -E 'x\.png')"
# a PNG is not written to a terminal
$PY - "$BIN/picture" "$T" <<'PY' > "$T/tty.out"
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.run([sys.argv[1], "--join", sys.argv[2] + "/g.train", "--query", sys.argv[2] + "/g.query"],
                   stdin=open(sys.argv[2] + "/ranked", "rb"), stdout=slave, stderr=subprocess.PIPE)
print(p.returncode, p.stderr.decode().strip())
PY
like "$(cat "$T/tty.out")" "^2 picture: .*terminal" "standard output a terminal: exit 2, says give -o"

# ---- -o: stdout, atomically, through a symlink ----
picture --join "$T/g.train" --query "$T/g.query,$T/pred" --shape 5,7 -m 2 < "$T/ranked" > "$T/stdout.png" 2>/dev/null
is "$(cmp "$T/stdout.png" "$T/g.png" && echo same)" same "without -o the PNG goes to standard output, the same bytes"
echo old > "$T/keep.png"
run picture --join "$T/g.train" --query "$T/g.query" --shape 6,6 -o "$T/keep.png" < "$T/ranked"
is "$rc:$(cat "$T/keep.png"):$(ls -A "$T" | grep -c '\.keep\.png\.tmp')" "1:old:0" "a failed run leaves the previous file untouched and no temp file"
run picture --join "$T/g.train" --query "$T/g.query,$T/pred" --shape 5,7 -m 2 -o "$T/keep.png" < "$T/ranked"
is "$rc:$(cmp "$T/keep.png" "$T/g.png" && echo same)" "0:same" "-o replaces a file with the whole new picture"
mkdir "$T/l"; echo old > "$T/l/real.png"; ln -s real.png "$T/l/link.png"
run picture --join "$T/g.train" --query "$T/g.query,$T/pred" --shape 5,7 -m 2 -o "$T/l/link.png" < "$T/ranked"
is "$rc:$(test -L "$T/l/link.png" && echo link):$(cmp "$T/l/real.png" "$T/g.png" && echo same):$(ls -A "$T/l" | wc -l)" \
  "0:link:same:2" "-o through a symlink: the link stays, its target is replaced, no temp file left"
run picture --join "$T/g.train" --query "$T/g.query" --shape 5,7 -o "$T/nodir/x.png" < "$T/ranked"
is "$rc:$(printf '%s\n' "$err" | grep -c ': error: ')" "1:1" "-o into a missing directory: exit 1, one error line"

# ---- rank --text and rank --classes: class names from each source ----
$PY - "$T" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]
t = lambda a: {"dtype": "f32", "shape": [len(a)], "data": np.array(a, "<f4").tobytes()}
open(d + "/sc", "wb").write(msgpack.packb({"id": "te-0", "ids": ["tr-0", "tr-3", "tr-2"], "scores": t([-2.0, 1.0, 0.5])}))
PY
rtext() { rank -m 2 --text "$@" < "$T/sc" 2>/dev/null | tr '\n' ' '; }
like "$(rtext --join "$T/g.train")" "1\. tr-0 +-2 +\[Coat\].*1\. tr-3 +\+1 +\[Bag\]" "rank --text: names from the joined records' label_name"
like "$(rtext --join "$T/g.train-nonames")" "1\. tr-0 +-2 +\[0\].*1\. tr-3 +\+1 +\[2\]" "rank --text: no names: the class number, not [label N]"
like "$(rtext --join "$T/g.train-nonames" --classes a,b,c)" "1\. tr-0 +-2 +\[a\].*1\. tr-3 +\+1 +\[c\]" "rank --text --classes names the classes"
like "$(rtext --join "$T/g.train-nonames" --model "$T/model")" "1\. tr-0 +-2 +\[Coat\].*1\. tr-3 +\+1 +\[Bag\]" "rank --text --model names them by the model's classes"
like "$(rtext --query "$T/g.query,$T/pred")" "^test te-0 +gold: Coat +predicted: Shirt" "rank --text: gold and predicted names from the query records' label_name, pred_name"
$PY - "$T/q-nonames" <<'PY'
import sys, msgpack
open(sys.argv[1], "wb").write(msgpack.packb({"id": "te-0", "label": 0, "pred": 2}))
PY
like "$(rtext --query "$T/q-nonames" --classes a,b,c)" "^test te-0 +gold: a +predicted: c" "rank --text --classes names gold and predicted classes"
like "$(rtext --query "$T/q-nonames")" "^test te-0 +gold: 0 +predicted: 2" "... and without names they stay numbers"
is "$(rank -m 2 --join "$T/g.train-nonames" --query "$T/q-nonames" --classes a,b,c < "$T/sc" 2>/dev/null |
      $PY -c 'import sys, msgpack; r = next(msgpack.Unpacker(sys.stdin.buffer)); print(r["label_name"], r["pred_name"], [e["label_name"] for e in r["helpful"] + r["harmful"]])')" \
  "a c ['a', 'c', 'b']" "rank --classes: ranked records carry the names too (what picture shows)"
run rank --text --join "$T/g.train-nonames" --classes a,b < "$T/sc"
like "$rc:$err" "^1:rank: error: record 'tr-3': class 2" "rank --classes too short for a label: exit 1, names the record"
run rank --text --model "$T/model" --classes a < "$T/sc"
is "$rc" 2 "rank --model and --classes together: usage error"
done_testing
