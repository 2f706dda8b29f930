#!/usr/bin/python3
"""fsq - small stream queries and statistics for the application pipelines.

    fsq.py ids RANKED LIST [M]            ids of the first M entries of LIST (helpful|harmful|influential)
    fsq.py sample STREAM N SEED [--label C] [--wrong PRED] [--right PRED]
                                          N ids drawn without replacement (numpy seed SEED),
                                          optionally only label C / only wrongly or rightly predicted
    fsq.py acc PREDICTIONS                accuracy of a predictions stream ("nan" if empty)
    fsq.py relabel PREDICTIONS < EXAMPLES > EXAMPLES   set each example's label to the prediction
    fsq.py loss PREDICTIONS               mean loss

Reads fastif streams with examples/fastif_stream.py (msgpack + numpy only).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
import fastif_stream as fs  # noqa: E402


def records(path):
    with open(path, "rb") as f:
        yield from fs.read_stream(f)


def die(msg):
    print(f"fsq: error: {msg}", file=sys.stderr)
    sys.exit(1)


def cmd_ids(args):
    path, lst = args[0], args[1]
    m = int(args[2]) if len(args) > 2 else None
    for rec in records(path):
        for e in rec[lst][:m]:
            print(e["id"])


def cmd_sample(args):
    path, n, seed = args[0], int(args[1]), int(args[2])
    label = wrong = right = None
    rest = args[3:]
    while rest:
        opt, val = rest[0], rest[1]
        rest = rest[2:]
        if opt == "--label":
            label = int(val)
        elif opt == "--wrong":
            wrong = val
        elif opt == "--right":
            right = val
        else:
            die(f"unknown option {opt}")
    preds = None
    if wrong or right:
        preds = {r["id"]: r["pred"] for r in records(wrong or right)}
    ids = []
    for r in records(path):
        if label is not None and r["label"] != label:
            continue
        if preds is not None:
            if r["id"] not in preds:
                continue
            if wrong and preds[r["id"]] == r["label"]:
                continue
            if right and preds[r["id"]] != r["label"]:
                continue
        ids.append(r["id"])
    if n > len(ids):
        die(f"{path}: asked for {n} ids, only {len(ids)} qualify")
    rng = np.random.default_rng(seed)
    for i in sorted(rng.choice(len(ids), n, replace=False)):
        print(ids[i])


def cmd_acc(args):
    got = [r["pred"] == r["label"] for r in records(args[0])]
    print(f"{np.mean(got):.4f}" if got else "nan")


def cmd_loss(args):
    got = [r["loss"] for r in records(args[0])]
    print(f"{np.mean(got):.6g}" if got else "nan")


def cmd_relabel(args):
    preds = {r["id"]: (r["pred"], r.get("pred_name")) for r in records(args[0])}
    out = sys.stdout.buffer
    for r in fs.read_stream(sys.stdin.buffer):
        if r["id"] not in preds:
            die(f"record '{r['id']}': no prediction")
        r = dict(r)
        r["label"] = int(preds[r["id"]][0])
        r.pop("label_name", None)
        if preds[r["id"]][1] is not None:
            r["label_name"] = preds[r["id"]][1]
        fs.write_record(out, r)


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    cmd = {"ids": cmd_ids, "sample": cmd_sample, "acc": cmd_acc, "loss": cmd_loss,
           "relabel": cmd_relabel}.get(sys.argv[1])
    if cmd is None:
        die(f"unknown command {sys.argv[1]}")
    cmd(sys.argv[2:])


if __name__ == "__main__":
    main()
