#!/usr/bin/python3
"""tiles.py OUT RANKED QUERY PREDICTIONS TRAIN M - write the image tiles
(gnuplot matrix files) and OUT/explain.gp, which draws each query image
beside its M most helpful and M most harmful training images with their
influence scores; prints the table of scores."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsq import records  # noqa: E402

out, ranked, query, preds, train, m = sys.argv[1:7]
m = int(m)
ranked = list(records(ranked))
need = {e["id"] for r in ranked for lst in ("helpful", "harmful") for e in r[lst][:m]}
q = {r["id"]: r for r in records(query)}
tr = {r["id"]: r for r in records(train) if r["id"] in need}
pr = {r["id"]: r for r in records(preds) if r["id"] in q}
os.makedirs(f"{out}/tiles", exist_ok=True)


def tile(name, x):
    path = f"{out}/tiles/{name}.dat"
    np.savetxt(path, np.asarray(x, np.float32).reshape(28, 28), fmt="%.3f")
    return path


def lname(r):
    return r.get("label_name", str(r["label"]))


cols = 1 + 2 * m
gp = [f"set terminal pngcairo size {cols * 130},{len(ranked) * 165} font 'sans,8'",
      f"set output '{out}/explain.png'",
      "set palette gray negative", "unset colorbox", "unset border", "unset tics",
      "set size ratio -1", "set xrange [-0.5:27.5]", "set yrange [27.5:-0.5]",
      f"set multiplot layout {len(ranked)},{cols} title "
      "'Fashion-MNIST: test image | most helpful training images | most harmful training images "
      "(influence = -grad L(z) . s\\_test; negative helps)'"]
print(f"{'test id':<10} {'label':<12} {'pred':<12} {'kind':<8} {'rank':>4} {'train id':<10} "
      f"{'train label':<12} {'influence':>12}")
for r in ranked:
    t = q[r["id"]]
    p = pr[r["id"]]
    pn = p.get("pred_name", str(p["pred"]))
    gp.append(f"set title \"{r['id']}\\nlabel {lname(t)}\\npred {pn}\" textcolor rgb "
              f"'{'dark-green' if p['pred'] == t['label'] else 'red'}'")
    gp.append(f"plot '{tile(r['id'], t['x'])}' matrix with image notitle")
    for kind in ("helpful", "harmful"):
        lst = r[kind][:m]
        for i in range(m):
            if i < len(lst):
                e = lst[i]
                x = tr[e["id"]]
                gp.append(f"set title \"{kind} {i + 1}: {lname(x)}\\n{e['id']}\\n{e['score']:+.3g}\" "
                          f"textcolor rgb '{'dark-green' if kind == 'helpful' else 'dark-red'}'")
                gp.append(f"plot '{tile(e['id'], x['x'])}' matrix with image notitle")
                print(f"{r['id']:<10} {lname(t):<12} {pn:<12} {kind:<8} {i + 1:>4} {e['id']:<10} "
                      f"{lname(x):<12} {e['score']:>+12.4g}")
            else:
                gp.append("set multiplot next")
gp.append("unset multiplot")
with open(f"{out}/explain.gp", "w") as f:
    f.write("\n".join(gp) + "\n")
