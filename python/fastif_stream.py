"""fastif_stream - read and write fastif tensor streams from Python.

Only msgpack and numpy are needed. The format is specified in
formats/stream.md; this module follows it to the letter:

    import fastif_stream as fs
    with open("train.msgpack", "rb") as f:
        for rec in fs.read_stream(f):          # dicts; tensors are numpy arrays
            print(rec["id"], rec["x"].shape)
    with open("out.msgpack", "wb") as f:
        fs.write_record(f, {"id": "a", "label": 1, "x": np.zeros(4, np.float32)})

Tensors are numpy arrays of dtype float32, float64, int32, int64 or uint8
(any other dtype is refused rather than silently converted). Arrays returned
by read_stream are read-only views of the record's bytes; copy them to
modify. Records are written with "id" first, tensors as
{"dtype", "shape", "data"} and Python floats as float64, which is exactly
what the C tools write, so the two produce identical bytes.
"""

import msgpack
import numpy as np

__all__ = ["read_stream", "read_single", "write_record", "encode_record",
           "decode_value", "StreamError", "DTYPES"]

# stream dtype name -> little-endian numpy dtype
DTYPES = {"f32": np.dtype("<f4"), "f64": np.dtype("<f8"), "i32": np.dtype("<i4"),
          "i64": np.dtype("<i8"), "u8": np.dtype("u1")}
_NAMES = {(d.kind, d.itemsize): n for n, d in DTYPES.items()}  # any byte order
MAX_NDIM = 8
MAX_RECORD_BYTES = 2047 << 20


class StreamError(ValueError):
    """A malformed stream or record; the message names the record."""


def _tensor(v, where):
    if set(v) != {"dtype", "shape", "data"}:
        raise StreamError(f"{where}: a tensor map needs exactly dtype, shape and data")
    dt, shape, data = v["dtype"], v["shape"], v["data"]
    if dt not in DTYPES:
        raise StreamError(f"{where}: unknown tensor dtype {dt!r}")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise StreamError(f"{where}: tensor shape must be a list of at most {MAX_NDIM} non-negative ints")
    if not isinstance(data, bytes):
        raise StreamError(f"{where}: tensor data is not binary")
    n = 1
    for d in shape:
        n *= d
    if n * DTYPES[dt].itemsize != len(data):
        raise StreamError(f"{where}: tensor data length {len(data)} does not match dtype {dt} and shape {shape}")
    return np.frombuffer(data, DTYPES[dt]).reshape(shape)


def decode_value(v, where="value"):
    """Turn tensor maps (any map with a "dtype" key, at any depth) into arrays."""
    if isinstance(v, dict):
        if "dtype" in v:
            return _tensor(v, where)
        return {k: decode_value(x, f"{where}.{k}") for k, x in v.items()}
    if isinstance(v, list):
        return [decode_value(x, f"{where}[{i}]") for i, x in enumerate(v)]
    return v


def _check_id(rec, where):
    rid = rec.get("id")
    if not isinstance(rid, str) or not rid:
        raise StreamError(f"{where}: record has no non-empty string 'id'")
    if len(rid.encode()) > 4096 or any(ord(c) <= 0x20 or ord(c) == 0x7f for c in rid):
        raise StreamError(f"{where}: id {rid!r} is too long or contains whitespace")


def _records(f, require_id, chunk=1 << 20):
    unp = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=2**31 - 1)
    fed = index = 0
    while True:
        buf = f.read(chunk)
        if buf:
            unp.feed(buf)
            fed += len(buf)
        while True:
            start = unp.tell()
            try:
                rec = unp.unpack()
            except msgpack.OutOfData:
                break
            except (msgpack.UnpackException, ValueError) as e:
                raise StreamError(f"record #{index} (byte {start}): corrupt: {e}") from None
            where = f"record #{index} (byte {start})"
            if not isinstance(rec, dict):
                raise StreamError(f"{where}: record is not a map")
            if require_id:
                _check_id(rec, where)
                where = f"record {rec['id']!r} (#{index}, byte {start})"
            yield decode_value(rec, where)
            index += 1
        if not buf:
            break
    if unp.tell() != fed:
        raise StreamError(f"record #{index} (byte {unp.tell()}): truncated stream: "
                          f"input ends at byte {fed} inside the record")


def read_stream(f):
    """Yield each record of a binary file object as a dict (tensors -> numpy)."""
    return _records(f, True)


def read_single(f):
    """Read a file holding exactly one map without id (a model file)."""
    recs = list(_records(f, False))
    if len(recs) != 1:
        raise StreamError(f"expected exactly one map, found {len(recs)}")
    return recs[0]


def _encode(v, where):
    if isinstance(v, np.ndarray):
        name = _NAMES.get((v.dtype.kind, v.dtype.itemsize))
        if name is None:
            raise StreamError(f"{where}: numpy dtype {v.dtype} is not one of f32, f64, i32, i64, u8")
        if v.ndim > MAX_NDIM:
            raise StreamError(f"{where}: more than {MAX_NDIM} dimensions")
        data = np.ascontiguousarray(v, dtype=DTYPES[name]).tobytes()
        return {"dtype": name, "shape": [int(d) for d in v.shape], "data": data}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise StreamError(f"{where}: map key {k!r} is not a string")
            out[k] = _encode(x, f"{where}.{k}")
        if "dtype" in out:
            raise StreamError(f"{where}: a plain map may not have a 'dtype' key (it would read as a tensor)")
        return out
    if isinstance(v, (list, tuple)):
        return [_encode(x, f"{where}[{i}]") for i, x in enumerate(v)]
    if v is None or isinstance(v, (int, float, str, bytes)):
        return v
    raise StreamError(f"{where}: cannot encode {type(v).__name__}")


def encode_record(rec, require_id=True):
    """The msgpack bytes of one record ("id" first, like the C writer)."""
    if require_id:
        _check_id(rec, "record")
        rec = {"id": rec["id"], **{k: v for k, v in rec.items() if k != "id"}}
    b = msgpack.packb(_encode(rec, "record"), use_bin_type=True)
    if len(b) > MAX_RECORD_BYTES:
        raise StreamError(f"record is {len(b)} bytes, more than the {MAX_RECORD_BYTES} limit")
    return b


def write_record(f, rec):
    """Append one record (a dict with a string "id") to a binary file object."""
    f.write(encode_record(rec))
