#!/usr/bin/python3
"""Write the bad-input corpus used by tests/80-bad-input.t.

usage: make.py OUTDIR

Every file is small and deterministic. Streams are built from a valid base
(numeric examples, d=5, 3 classes, ids t0..t7) with one thing broken; model
files follow formats/model.md with one thing broken. The test pairs each file
with the tools that must reject it (exit 1, one error line naming the record).
"""
import os
import struct
import sys

import msgpack
import numpy as np

D, C = 5, 3


def T(a, dtype=None, shape=None, data=None):
    a = np.asarray(a)
    m = {"dtype": dtype or {"float32": "f32", "float64": "f64", "int32": "i32",
                            "int64": "i64", "uint8": "u8"}[str(a.dtype)],
         "shape": list(a.shape) if shape is None else shape,
         "data": a.astype(a.dtype.newbyteorder("<")).tobytes() if data is None else data}
    return m


def x(i):
    rng = np.random.default_rng(i)
    return rng.standard_normal(D).astype(np.float32)


def ex(i, **kw):
    r = {"id": "t%d" % i, "label": i % C, "x": T(x(i))}
    r.update(kw)
    return r


def pack(recs):
    return b"".join(msgpack.packb(r, use_bin_type=True) for r in recs)


def stream(name, bad, n=4, at=2):
    """n valid examples with record `at` replaced by `bad` (a dict or raw bytes)."""
    out = []
    for i in range(n):
        if i == at:
            out.append(bad if isinstance(bad, bytes) else msgpack.packb(bad, use_bin_type=True))
        else:
            out.append(msgpack.packb(ex(i), use_bin_type=True))
    write(name, b"".join(out))


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def model(arch, params, **top):
    m = {"format": "fastif-model", "version": 1, "arch": arch, "l2": 0.001, "params": params}
    m.update(top)
    return msgpack.packb(m, use_bin_type=True)


def lin_params(d=D, c=C, w=None):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((c, d)).astype(np.float32) if w is None else w
    return {"layers.0.weight": T(w), "layers.0.bias": T(np.zeros(c, np.float32))}


def main():
    global OUT
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    f32 = lambda v: T(np.asarray(v, np.float32))

    # ---- valid bases ----
    write("ok.ms", pack([ex(i) for i in range(8)]))
    write("ok2.ms", pack([ex(i) for i in range(2)]))  # cut at every byte
    write("ok.model", model({"type": "linear", "sizes": [D, C]}, lin_params()))

    # ---- stream framing ----
    write("empty.ms", b"")
    write("notmap.ms", msgpack.packb(42))
    write("array.ms", msgpack.packb([1, 2, 3]))
    write("garbage.ms", bytes(range(0xc1, 0xc2)) * 16)  # 0xc1: never used in msgpack
    write("trailing.ms", pack([ex(0)]) + b"\x85")        # a map header, then nothing
    write("bigmap.ms", b"\xdf\xff\xff\xff\xff")           # map32 of 4G pairs, 5 bytes long
    write("bigstr.ms", b"\x81\xa2id\xdb\xff\xff\xff\xf0abc")  # str32 claiming 4GB

    # ---- ids ----
    r = ex(2); del r["id"]; stream("noid.ms", r)
    stream("emptyid.ms", ex(2, id=""))
    stream("intid.ms", ex(2, id=17))
    stream("spaceid.ms", ex(2, id="a b"))
    stream("dupid.ms", ex(2, id="t1"))
    stream("binkey.ms", {b"id": "t2", "label": 2, "x": T(x(2))})

    # ---- tensor encoding ----
    stream("x-str.ms", ex(2, x="hello"))
    stream("x-nodata.ms", ex(2, x={"dtype": "f32", "shape": [D]}))
    stream("x-dtype.ms", ex(2, x=T(x(2), dtype="f16")))
    stream("x-dtype-int.ms", ex(2, x=T(x(2), dtype=7)))
    stream("x-shape-str.ms", ex(2, x=T(x(2), shape="5")))
    stream("x-shape-neg.ms", ex(2, x=T(x(2), shape=[-5])))
    stream("x-shape-float.ms", ex(2, x=T(x(2), shape=[5.5])))
    stream("x-short.ms", ex(2, x=T(x(2), data=x(2).tobytes()[:-1])))
    stream("x-long.ms", ex(2, x=T(x(2), data=x(2).tobytes() + b"\0\0\0\0")))
    stream("x-huge.ms", ex(2, x=T(x(2), shape=[1 << 40])))
    stream("x-overflow.ms", ex(2, x=T(x(2), shape=[1 << 32, 1 << 32, 1 << 32])))
    stream("x-ndim.ms", ex(2, x=T(x(2), shape=[1] * 9 + [D])))
    stream("x-2d.ms", ex(2, x=T(x(2).reshape(1, D))))
    stream("x-dim.ms", ex(2, x=T(x(2)[:4])))                 # 4 features, model wants 5
    nan = x(2); nan[3] = np.nan
    stream("x-nan.ms", ex(2, x=T(nan)))
    inf = x(2); inf[0] = -np.inf
    stream("x-inf.ms", ex(2, x=T(inf)))
    stream("x-f64-huge.ms", ex(2, x=T(np.array([1e300] * D))))  # finite f64, inf as f32

    # ---- labels ----
    stream("label-range.ms", ex(2, label=C + 4))
    stream("label-neg.ms", ex(2, label=-1))
    stream("label-str.ms", ex(2, label="two"))
    stream("label-float.ms", ex(2, label=1.5))
    stream("label-huge.ms", ex(2, label=1 << 40))
    r = ex(2); del r["label"]; stream("label-missing.ms", r)
    write("one-class.ms", pack([ex(i, label=0) for i in range(4)]))

    # ---- models ----
    write("m-empty.model", b"")
    write("m-two.model", model({"type": "linear", "sizes": [D, C]}, lin_params()) * 2)
    write("m-stream.model", pack([ex(0)]))
    write("m-cut.model", model({"type": "linear", "sizes": [D, C]}, lin_params())[:-7])
    write("m-format.model", model({"type": "linear", "sizes": [D, C]}, lin_params(), format="other"))
    write("m-version.model", model({"type": "linear", "sizes": [D, C]}, lin_params(), version=2))
    write("m-arch.model", model({"type": "transformer", "sizes": [D, C]}, lin_params()))
    write("m-act.model", model({"type": "mlp", "sizes": [D, 4, C], "activation": "gelu"}, {}))
    write("m-mlp-as-linear.model", model({"type": "mlp", "sizes": [D, 4, C], "activation": "tanh"}, lin_params()))
    write("m-shape.model", model({"type": "linear", "sizes": [D, C]}, lin_params(d=D + 1)))
    p = lin_params(); del p["layers.0.bias"]
    write("m-missing.model", model({"type": "linear", "sizes": [D, C]}, p))
    p = lin_params(); p["layers.1.weight"] = f32(np.zeros((C, C)))
    write("m-extra.model", model({"type": "linear", "sizes": [D, C]}, p))
    w = np.ones((C, D), np.float32); w[1, 2] = np.nan
    write("m-nan.model", model({"type": "linear", "sizes": [D, C]}, lin_params(w=w)))
    p = lin_params(); p["layers.0.bias"] = T(np.zeros(C, np.float64))
    write("m-f64.model", model({"type": "linear", "sizes": [D, C]}, p))
    write("m-huge.model", model({"type": "linear", "sizes": [1 << 26, 1 << 26]}, lin_params()))
    write("m-big.model", model({"type": "mlp", "sizes": [1 << 26, 16, C], "activation": "relu"}, lin_params()))
    write("m-sizes-neg.model", model({"type": "linear", "sizes": [-D, C]}, lin_params()))
    write("m-one-class.model", model({"type": "linear", "sizes": [D, 1]}, lin_params(c=1)))
    write("m-bow-huge.model", model({"type": "bow", "sizes": [4, C], "activation": "tanh",
                                     "buckets": 1 << 40, "dim": 4}, {}))
    write("m-params-list.model", model({"type": "linear", "sizes": [D, C]}, [1, 2]))
    # a valid text (bow) model: another architecture than the numeric examples need
    rng = np.random.default_rng(3)
    write("bow.model", model({"type": "bow", "sizes": [4, C], "activation": "tanh", "buckets": 16, "dim": 4},
                             {"embedding.weight": f32(rng.standard_normal((16, 4))),
                              "layers.0.weight": f32(rng.standard_normal((C, 4))),
                              "layers.0.bias": f32(np.zeros(C))}))
    # a valid model with 4 inputs (data has 5)
    write("d4.model", model({"type": "linear", "sizes": [D - 1, C]}, lin_params(d=D - 1)))

    # ---- other record kinds (P = 18 for the linear d=5, C=3 model) ----
    P = C * D + C
    g = lambda i, **kw: dict({"id": "t%d" % i, "label": i % C, "params": "layers.0.weight,layers.0.bias",
                              "grad": f32(np.full(P, 0.01 * (i + 1)))}, **kw)
    write("grads.ms", pack([g(i) for i in range(4)]))
    write("grads-dim.ms", pack([g(0), g(1), g(2, grad=f32(np.zeros(P - 1))), g(3)]))
    gn = np.zeros(P, np.float32); gn[5] = np.inf
    write("grads-inf.ms", pack([g(0), g(1), g(2, grad=f32(gn)), g(3)]))
    write("grads-nograd.ms", pack([g(0), {"id": "t1", "label": 1}, g(2)]))
    ih = lambda i, **kw: dict({"id": "q%d" % i, "ihvp": f32(np.full(P, 0.5)), "params": "layers.0.weight,layers.0.bias"}, **kw)
    write("ihvp.ms", pack([ih(0), ih(1)]))
    write("ihvp-dim.ms", pack([ih(0), ih(1, ihvp=f32(np.zeros(P + 3)))]))
    inn = np.zeros(P, np.float32); inn[0] = np.nan
    write("ihvp-nan.ms", pack([ih(0), ih(1, ihvp=f32(inn))]))
    write("ihvp-dup.ms", pack([ih(0), ih(0)]))
    write("ihvp-missing.ms", pack([ih(0), {"id": "q1"}]))
    sc = lambda i, **kw: dict({"id": "q%d" % i, "ids": ["t%d" % j for j in range(4)],
                               "scores": f32([0.5, -1.0, 2.0, -0.25])}, **kw)
    write("scores.ms", pack([sc(0), sc(1)]))
    write("scores-len.ms", pack([sc(0), sc(1, scores=f32([1.0, 2.0]))]))
    write("scores-nan.ms", pack([sc(0), sc(1, scores=f32([1.0, np.nan, 0, 0]))]))
    write("scores-ids-type.ms", pack([sc(0), sc(1, ids=[1, 2, 3, 4])]))
    write("scores-noscores.ms", pack([sc(0), {"id": "q1", "ids": ["t0"]}]))
    write("scores-emptyid.ms", pack([sc(0), sc(1, ids=["t0", "", "t2", "t3"])]))
    cd = lambda i, **kw: dict({"id": "q%d" % i, "ids": ["t1", "t3"], "dist": f32([0.1, 0.2])}, **kw)
    write("cand.ms", pack([cd(0), cd(1)]))
    write("cand-unknown.ms", pack([cd(0), cd(1, ids=["t1", "nosuch"])]))
    write("cand-ids-type.ms", pack([cd(0), cd(1, ids="t1")]))
    em = lambda i, **kw: dict({"id": "t%d" % i, "emb": f32(x(i)[:4])}, **kw)
    write("emb.ms", pack([em(i) for i in range(6)]))
    write("emb-dim.ms", pack([em(0), em(1), em(2, emb=f32(np.zeros(3))), em(3)]))
    en = x(2)[:4]; en[1] = np.nan
    write("emb-nan.ms", pack([em(0), em(1), em(2, emb=f32(en)), em(3)]))
    write("emb-dup.ms", pack([em(0), em(1), em(1), em(3)]))
    write("emb-missing.ms", pack([em(0), {"id": "t1"}, em(2)]))

    # ---- wrong kinds of file (issue 11): what users pass by mistake ----
    import gzip, io, pickle, zipfile
    zb = io.BytesIO()
    with zipfile.ZipFile(zb, "w") as z:  # the layout of torch.save's zip
        z.writestr("archive/data.pkl", pickle.dumps({"layers.0.weight": None}, protocol=2))
        z.writestr("archive/version", "3\n")
    write("wk-zip.pt", zb.getvalue())
    write("wk-pickle.pt", pickle.dumps({"layers.0.weight": [0.0] * 4}, protocol=2))  # old torch.save
    write("wk.csv", b"a,b,label\n1,2,0\n3,4,1\n")
    write("wk.csv.gz", gzip.compress(b"a,b,label\n1,2,0\n3,4,1\n"))
    write("wk.jsonl", b'{"id":"t0","label":0,"x":{"dtype":"f32","shape":[1],"data":[1.5]}}\n')
    write("wk-model.jsonl", b'{"format":"fastif-model","version":1,"arch":{"type":"linear","sizes":[5,3]}}\n')
    write("wk.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" + b" " * 44 + b"\n" + bytes(12))

    # ---- CSV (import-csv / import-text) ----
    def txt(name, s):
        write(name, s.encode() if isinstance(s, str) else s)
    txt("ok.csv", "a,b,label\n1,2,0\n3,4,1\n")
    txt("csv-empty.csv", "")
    txt("csv-header-only.csv", "a,b,label\n")
    txt("csv-ragged.csv", "a,b,label\n1,2,0\n3,4\n")
    txt("csv-quote.csv", 'a,b,label\n1,2,0\n"3,4,1\n')
    txt("csv-number.csv", "a,b,label\n1,2,0\n3,x,1\n")
    txt("csv-nan.csv", "a,b,label\n1,2,0\nnan,4,1\n")
    txt("csv-inf.csv", "a,b,label\n1,2,0\n1e999,4,1\n")
    txt("csv-nolabel.csv", "a,b,c\n1,2,0\n")
    txt("csv-labelneg.csv", "a,b,label\n1,2,0\n3,4,-1\n")
    txt("csv-nul.csv", b"a,b,label\n1,2,0\n3\x004,1\n")
    txt("csv-longrow.csv", "a,b,label\n" + "1" * 5000 + ",2,0\n")
    txt("csv-dupid.csv", "id,a,label\nr1,1,0\nr1,2,1\n")
    txt("csv-emptyid.csv", "id,a,label\nr1,1,0\n,2,1\n")
    txt("csv-spaceid.csv", "id,a,label\nr1,1,0\nr 2,2,1\n")
    txt("text-ok.csv", "review,score\ngood food,great\nbad,other\n")
    txt("text-quote.csv", 'review,score\n"good food,great\n')
    txt("text-badutf8.csv", b"review,score\n\xff\xfe bad,great\n")
    txt("text-nolabel.csv", "review,score\ngood food,\n")
    import gzip
    write("csv-badgz.csv.gz", gzip.compress(b"a,b,label\n1,2,0\n3,4,1\n")[:-10])

    # ---- IDX (import-idx) ----
    def idx(magic_type, dims, body):
        return bytes([0, 0, magic_type, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body
    write("idx-img.idx", idx(0x08, [3, 2, 2], bytes(range(12))))
    write("idx-lab.idx", idx(0x08, [3], bytes([0, 1, 2])))
    write("idx-lab-range.idx", idx(0x08, [3], bytes([0, 1, 200])))
    write("idx-lab-count.idx", idx(0x08, [2], bytes([0, 1])))
    write("idx-magic.idx", b"\x01\x02" + idx(0x08, [3, 2, 2], bytes(range(12)))[2:])
    write("idx-type.idx", idx(0x0d, [3, 2, 2], bytes(range(12))))
    write("idx-ndim.idx", idx(0x08, [3, 4], bytes(range(12))))
    write("idx-short.idx", idx(0x08, [3, 2, 2], bytes(range(11))))
    write("idx-long.idx", idx(0x08, [3, 2, 2], bytes(range(13))))
    write("idx-huge.idx", idx(0x08, [0xffffffff, 0xffff, 0xffff], bytes(16)))
    write("idx-big.idx", idx(0x08, [100000000, 28, 28], bytes(64)))  # 78 GB declared
    write("idx-zero.idx", idx(0x08, [3, 0, 2], b""))
    write("idx-hdr.idx", b"\x00\x00\x08\x03\x00")
    write("idx-gzcut.idx.gz", gzip.compress(idx(0x08, [3, 2, 2], bytes(range(12))))[:-6])

    computed()


def computed():
    """Inputs that are valid as read but make a computation go wrong (issue 11:
    non-finite intermediates, label numbering, gradient provenance, missing
    candidates). Used by the last block of tests/80-bad-input.t."""
    f32 = lambda v: T(np.asarray(v, np.float32))
    P = C * D + C
    # finite inputs that overflow any model's float arithmetic
    stream("x-big.ms", ex(2, x=f32([3e38] * D)), n=8)
    write("m-big-w.model", model({"type": "linear", "sizes": [D, C]},
                                 lin_params(w=np.full((C, D), 3e38, np.float32))))
    # a model naming its classes, and streams numbering them its way or not
    names = ["a", "b", "c"]
    write("named.model", model({"type": "linear", "sizes": [D, C]}, lin_params(), classes=names))
    write("named.ms", pack([ex(i, label_name=names[i % C]) for i in range(8)]))
    swapped = ["b", "a", "c"]
    write("renamed.ms", pack([ex(i, label_name=swapped[i % C]) for i in range(8)]))
    write("unnamed-class.ms", pack([ex(i, label_name="zzz" if i == 1 else names[i % C]) for i in range(4)]))
    write("twonames.ms", pack([ex(0, label_name="a"), ex(1, label_name="a"), ex(2, label_name="c")]))
    # gradients under the predicted label, and ihvp over other tensors of the same size
    g = lambda i, **kw: dict({"id": "t%d" % i, "label": i % C, "label_kind": "gold",
                              "params": "layers.0.weight,layers.0.bias",
                              "grad": f32(np.full(P, 0.01 * (i + 1)))}, **kw)
    write("grads-pred.ms", pack([g(0), g(1, label_kind="pred"), g(2)]))
    ih = lambda i, **kw: dict({"id": "q%d" % i, "ihvp": f32(np.full(P, 0.5)), "params": "layers.1"}, **kw)
    write("ihvp-l1.ms", pack([ih(0), ih(1)]))
    # candidates for only one of ihvp.ms's two ids
    write("cand-one.ms", pack([{"id": "q0", "ids": ["t1", "t3"], "dist": f32([0.1, 0.2])}]))
    write("csv-duphdr.csv", b"a,label,label\n1,0,1\n")


if __name__ == "__main__":
    main()
