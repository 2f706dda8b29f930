#!/usr/bin/python3
"""Regenerate the golden sample streams and their JSON-lines form.

    /usr/bin/python3 formats/samples/make.py [OUTDIR]   (default: this directory)

An implementation independent of the C tools: it packs records with
Python's msgpack and numpy only, and writes the JSON lines by following
formats/stream.md ("JSON lines") directly. tests/10-stream.t checks that
`dump` and `dump --reverse` agree with these files byte for byte, and that
this script still reproduces them.
"""
import base64
import json
import math
import os
import struct
import sys

import msgpack
import numpy as np

DT = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8", "u8": "u1"}


def tensor(a, dt):
    a = np.asarray(a, dtype=DT[dt])
    return {"dtype": dt, "shape": list(a.shape), "data": a.tobytes()}


def f32_bits(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


# ---- JSON lines, per formats/stream.md ----

def nonfinite(x, bits):
    fmt, qnan = ("<f", 0x7FC00000) if bits == 32 else ("<d", 0x7FF8000000000000)
    u = int.from_bytes(struct.pack(fmt, x), "little")
    sign = 1 << (bits - 1)
    if math.isinf(x):
        return "-Infinity" if x < 0 else "Infinity"
    if u == qnan:
        return "NaN"
    if u == qnan | sign:
        return "-NaN"
    return "NaN:0x%0*x" % (bits // 4, u)


def shortest(x, lo, hi, same):
    for p in range(lo, hi + 1):
        s = "%.*g" % (p, x)
        if same(s):
            return s
    raise AssertionError("no round trip for %r" % x)


def f64_text(x):
    return shortest(x, 15, 17, lambda s: struct.pack("<d", float(s)) == struct.pack("<d", x))


def f32_text(x):
    # numpy parses through a double first; fine for these sample values
    b = struct.pack("<f", x)
    return shortest(x, 6, 9, lambda s: np.float32(float(s)).tobytes() == b)


def elem(x, dt):
    if dt in ("f32", "f64"):
        x = float(x)
        if not math.isfinite(x):
            return '"%s"' % nonfinite(x, 32 if dt == "f32" else 64)
        return f32_text(x) if dt == "f32" else f64_text(x)
    return str(int(x))


def nested(a, dt):
    if a.ndim == 0:
        return elem(a[()], dt)
    return "[" + ",".join(nested(s, dt) for s in a) + "]"


def to_json(v):
    if isinstance(v, dict):
        if "dtype" in v:
            a = np.frombuffer(v["data"], DT[v["dtype"]]).reshape(v["shape"])
            parts = {"dtype": json.dumps(v["dtype"]),
                     "shape": "[" + ",".join(str(d) for d in v["shape"]) + "]",
                     "data": nested(a, v["dtype"])}
            return "{" + ",".join('"%s":%s' % (k, parts[k]) for k in v) + "}"
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + to_json(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(to_json(x) for x in v) + "]"
    if isinstance(v, bytes):
        return '{"$bin":"%s"}' % base64.b64encode(v).decode()
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return '{"$float":"%s"}' % nonfinite(v, 64)
        s = f64_text(v)
        return s if ("." in s or "e" in s) else s + ".0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    raise TypeError(type(v))


# ---- the samples ----

def samples():
    examples = [
        {"id": "train-0", "label": 0, "x": tensor([0.1, -2.5, 3e-8, 1e10], "f32"),
         "label_name": "negative"},
        {"id": "train-1", "label": 1,
         "tokens": tensor([1, -7, 2**31 - 1, -2**31, 0], "i32"),
         "text": 'caf\u00e9 "quoted"\ttab\nnewline /slash \\ back', "group": "g1"},
        {"id": "train-2", "label": 2, "x": tensor([0.5, 1.0, -0.0, 16777216.0], "f32"),
         "weights": tensor([[1 / 3, 2.0, -1e-300], [1e300, 0.1, 5e-324]], "f64"),
         "counts": tensor([2**63 - 1, -2**63, 0], "i64"),
         "pixels": tensor([[0, 255], [17, 128]], "u8")},
    ]
    rng = np.random.default_rng(7)
    embeddings = [{"id": "q%d" % i, "emb": tensor(rng.standard_normal(4).astype(np.float32), "f32")}
                  for i in range(3)]
    specials32 = np.array([f32_bits(0x7FC00000), f32_bits(0xFFC00000), np.inf, -np.inf, -0.0,
                           f32_bits(0x7FC00001), f32_bits(1), 3.4028234663852886e38], dtype="<f4")
    edge = [
        {"id": "edge-0", "f32": {"dtype": "f32", "shape": [8], "data": specials32.tobytes()},
         "f64": tensor([math.nan, -math.inf, 5e-324, 1.7976931348623157e308, 0.1 + 0.2], "f64"),
         "scalar_nan": math.nan, "scalar_ninf": -math.inf, "neg0": -0.0, "one": 1.0,
         "big": 1e300, "third": 1 / 3},
        {"id": "edge-1", "empty": tensor(np.zeros(0), "f32"), "empty2": tensor(np.zeros((2, 0)), "f32"),
         "empty3": tensor(np.zeros((0, 3)), "i32"), "scalar": tensor(np.float64(2.5), "f64"),
         "nested": {"ints": [1, -1, 127, 128, 255, 256, 65535, 65536, 2**32, 2**63, 2**64 - 1,
                             -2**63, -33, -32, -129],
                    "none": None, "yes": True, "no": False, "deep": [[[[]]], {}]},
         "raw": b"\x00\x01\xfe\xff", "raw0": b"", "unicode": "\u65e5\u672c\u8a9e \U0001F389",
         "ctrl": "\x00\x01\x1f\x7f"},
        {"id": "edge-2", "ranked": [{"id": "a", "score": 0.5}, {"id": "b", "score": -1.25}],
         "tensors": [tensor([1, 2, 3], "u8"), tensor([[[1.5]]], "f32")],
         "map16": {"k%02d" % i: i for i in range(20)}, "str16": "x" * 300, "str8": "y" * 40,
         "bin16": bytes(range(256)) + bytes(44)},
    ]
    return {"examples": examples, "embeddings": embeddings, "edge": edge}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for name, recs in samples().items():
        with open(os.path.join(out, name + ".msgpack"), "wb") as f:
            for r in recs:
                f.write(msgpack.packb(r, use_bin_type=True))
        with open(os.path.join(out, name + ".jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for r in recs:
                f.write(to_json(r) + "\n")


if __name__ == "__main__":
    main()
