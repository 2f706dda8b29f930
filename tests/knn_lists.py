import sys, zlib, msgpack, numpy as np
cmd, idx = sys.argv[1], sys.argv[2]
recs = list(msgpack.Unpacker(open(idx + ".ids", "rb"), raw=False))
h = recs[0]
data = open(idx, "rb").read()
def table():
    l = recs[1]
    sizes = np.frombuffer(l["sizes"]["data"], "<i8")
    crc = np.frombuffer(l["crc32"]["data"], "<i8")
    per = l["code_size"] + 8
    offs = l["begin"] + np.r_[0, np.cumsum(sizes * per)[:-1]]
    return l, sizes, crc, per, offs
def list_of(fid):  # the inverted list holding FAISS id fid, from the ids in the file
    l, sizes, crc, per, offs = table()
    for i, (o, n) in enumerate(zip(offs, sizes)):
        ids = np.frombuffer(data[o + n * l["code_size"]:o + n * per], "<i8")
        if fid in ids: return i
    raise SystemExit(f"id {fid} in no list")
if cmd == "check":  # SPEC WANT_LISTS N
    spec, want_lists, n = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    assert h["version"] == 2 and h["spec"] == spec and h["ntotal"] == n, h
    assert h["index_bytes"] == len(data) and h["index_crc32"] == zlib.crc32(data), "whole-file size and CRC"
    assert h["lists"] == want_lists, h["lists"]
    chunks = recs[1 + want_lists:]
    blob = b"".join(bytes(r["ids"]["data"]) for r in chunks)
    assert chunks[0]["first"] == 0 and sum(r["n"] for r in chunks) == n
    assert len(blob) == h["ids_bytes"] and blob.endswith(b"\0")
    assert blob[:-1].split(b"\0") == [f"tr{i}".encode() for i in range(n)], "ids in FAISS-id order"
    if want_lists:
        l, sizes, crc, per, offs = table()
        assert l["id"] == "lists" and l["nlist"] == len(sizes) == len(crc)
        assert sizes.sum() == n and l["end"] == l["begin"] + sizes.sum() * per <= len(data)
        for o, s, c in zip(offs, sizes, crc):
            assert zlib.crc32(data[o:o + s * per]) == c, "a list's CRC-32"
        assert zlib.crc32(data[:l["begin"]] + data[l["end"]:]) == l["rest_crc32"], "the rest's CRC-32"
        allids = np.concatenate([np.frombuffer(data[o + s * l["code_size"]:o + s * per], "<i8")
                                 for o, s in zip(offs, sizes)])
        assert sorted(allids) == list(range(n)), "the lists hold every FAISS id once"
    print("ok")
elif cmd == "v1":  # write the old id map (version 1) for INDEX to OUT
    out = sys.argv[3]
    ids = [b.decode() for b in b"".join(bytes(r["ids"]["data"]) for r in recs[1 + h["lists"]:])[:-1].split(b"\0")]
    hd = {k: h[k] for k in ("id", "format", "spec", "metric", "d", "ntotal", "index_bytes")}
    hd.update(version=1, chunk=250, index_crc32=zlib.crc32(data))
    with open(out, "wb") as f:
        f.write(msgpack.packb(hd))
        for c in range(0, len(ids), 250):
            f.write(msgpack.packb({"id": f"ids.{c // 250}", "first": c, "ids": ids[c:c + 250]}))
elif cmd == "list":  # FAISS_ID: its list
    print(list_of(int(sys.argv[3])))
elif cmd == "other":  # FAISS_ID: a FAISS id in another list
    l, sizes, crc, per, offs = table()
    L = list_of(int(sys.argv[3]))
    j = next(i for i in range(len(sizes)) if i != L and sizes[i])
    print(int(np.frombuffer(data[offs[j] + sizes[j] * l["code_size"]:offs[j] + sizes[j] * per], "<i8")[0]))
elif cmd == "flip":  # OUT WHERE: a copy with one byte flipped (codes:ID, ids:ID, header, middle)
    out, where = sys.argv[3], sys.argv[4]
    b = bytearray(data)
    if where == "header":
        pos = recs[1]["begin"] // 2
    elif where == "middle":
        pos = len(b) // 2
    else:
        part, fid = where.split(":")
        l, sizes, crc, per, offs = table()
        L = list_of(int(fid))
        pos = offs[L] + (1 if part == "codes" else sizes[L] * l["code_size"] + 3)
    b[pos] ^= 0x10
    open(out, "wb").write(b)
elif cmd == "version":  # OUT V: the id map with another version number
    recs[0]["version"] = int(sys.argv[4])
    open(sys.argv[3], "wb").write(b"".join(msgpack.packb(r) for r in recs))
elif cmd == "rows":  # IDS...: query records of those training rows (X.npy beside INDEX)
    import os
    X = np.load(os.path.join(os.path.dirname(idx), "X.npy"))
    for i in sys.argv[3:]:
        sys.stdout.buffer.write(msgpack.packb({"id": f"q{i}", "emb": {"dtype": "f32", "shape": [X.shape[1]],
                                                                      "data": X[int(i)].tobytes()}}))
