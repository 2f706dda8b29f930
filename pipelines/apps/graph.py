#!/usr/bin/python3
"""graph.py OUT SCORES QUERY TRAIN EDGES - Tables 5 and 6 of FastIF C.2 from
a scores stream, and OUT/graph.dot (pinned positions, for neato -n2)."""
import math
import os
import sys
import zlib
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsq import records  # noqa: E402

out, scores, query, train, nedges = sys.argv[1:6]
nedges = int(nedges)
q = {r["id"]: r for r in records(query)}
names = {}
for r in q.values():
    names[r["label"]] = r.get("label_name", str(r["label"]))
slices = list(dict.fromkeys(r["label"] for r in q.values()))
sc = list(records(scores))
trlab = {}
for r in records(train):
    trlab[r["id"]] = r["label"]
    names.setdefault(r["label"], r.get("label_name", str(r["label"])))

# Table 5
print("Table 5: per slice, over every scored (test, candidate) edge")
print(f"{'slice':<12} {'tests':>5} {'edges':>7} {'mean|I| helpful':>16} {'mean|I| harmful':>16} "
      f"{'share helpful':>14} {'share harmful':>14}")
Z = defaultdict(lambda: defaultdict(list))   # train id -> slice -> signed influences
for c in slices:
    v = [s for s in sc if q[s["id"]]["label"] == c]
    allv = np.concatenate([np.asarray(s["scores"], np.float64) for s in v])
    hel, har = allv[allv < 0], allv[allv > 0]
    print(f"{names[c]:<12} {len(v):>5} {len(allv):>7} {np.abs(hel).mean():>16.4g} {har.mean():>16.4g} "
          f"{len(hel) / len(allv):>14.3f} {len(har) / len(allv):>14.3f}")
    for s in v:
        for i, x in zip(s["ids"], s["scores"]):
            Z[i][c].append(float(x))

# Table 6
zm = {i: {c: np.mean(x) for c, x in d.items()} for i, d in Z.items()}
print()
print("Table 6: correlation (Pearson) between slices of Z[i,j] = mean signed influence of training")
print("point i on slice j, over training points scored for both slices; below, their number")
w = max(12, *(len(names[c]) + 1 for c in slices))
print(f"{'':<{w}}" + "".join(f"{names[c]:>{w}}" for c in slices))
pairs = {}
for a in slices:
    row = []
    for b in slices:
        both = [i for i in zm if a in zm[i] and b in zm[i]]
        pairs[(a, b)] = len(both)
        if len(both) > 2:
            x = np.array([zm[i][a] for i in both])
            y = np.array([zm[i][b] for i in both])
            row.append(f"{np.corrcoef(x, y)[0, 1]:>{w}.2f}")
        else:
            row.append(f"{'-':>{w}}")
    print(f"{names[a]:<{w}}" + "".join(row))
print("number of training points scored for both slices")
for a in slices:
    print(f"{names[a]:<{w}}" + "".join(f"{pairs[(a, b)]:>{w}}" for b in slices))

# the picture
palette = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf",
           "#999999", "#66c2a5", "#b3b300"]
col = {c: palette[k % len(palette)] for k, c in enumerate(sorted(names))}
R = 900.0
order = sorted(q, key=lambda t: (slices.index(q[t]["label"]), t))
pos = {}
gap = 2 * math.pi / (len(order) + 3 * len(slices))  # a gap between slices
ang, prev = 0.0, None
for t in order:
    if prev is not None and q[t]["label"] != prev:
        ang += 3 * gap
    pos[t] = (R * math.cos(ang), R * math.sin(ang))
    prev = q[t]["label"]
    ang += gap
edges = []
for s in sc:
    x = np.asarray(s["scores"])
    o = np.argsort(x)
    keep = [k for k in o[:nedges] if x[k] < 0] + [k for k in o[::-1][:nedges] if x[k] > 0]
    edges += [(s["id"], s["ids"][k], float(x[k])) for k in keep]
tw = defaultdict(lambda: [0.0, 0.0, 0.0])
for t, i, v in edges:
    a = abs(v)
    tw[i][0] += a * pos[t][0]
    tw[i][1] += a * pos[t][1]
    tw[i][2] += a
top = max(abs(v) for _, _, v in edges)
with open(f"{out}/graph.dot", "w") as f:
    f.write("graph influence {\n  graph [bgcolor=white, outputorder=edgesfirst, pad=0.3,"
            " label=\"Fashion-MNIST: wrongly predicted test points (outer circle, coloured by slice) and "
            "their most helpful (green) and harmful (red) training points (inside, coloured by label); "
            "edge width ~ |influence|\", fontsize=28];\n")
    f.write("  node [shape=circle, label=\"\", style=filled, penwidth=0];\n")
    for t in order:
        f.write(f"  \"{t}\" [pos=\"{pos[t][0]:.1f},{pos[t][1]:.1f}\", width=0.22, "
                f"fillcolor=\"{col[q[t]['label']]}\"];\n")
    for i, (x, y, a) in tw.items():
        h = (zlib.crc32(i.encode()) % 1000) / 1000.0  # a deterministic jitter
        jx, jy = 12 * math.cos(6.283 * h), 12 * math.sin(6.283 * h)
        f.write(f"  \"{i}\" [pos=\"{0.85 * x / a + jx:.1f},{0.85 * y / a + jy:.1f}\", width=0.1, shape=square, "
                f"fillcolor=\"{col[trlab[i]]}\"];\n")
    for t, i, v in edges:
        c = "#1a9850" if v < 0 else "#d73027"
        f.write(f"  \"{t}\" -- \"{i}\" [color=\"{c}80\", penwidth={0.3 + 4 * abs(v) / top:.2f}];\n")
    for k, c in enumerate(slices):
        f.write(f"  \"key{c}\" [shape=plaintext, style=\"\", fontsize=26, fontcolor=\"{col[c]}\", "
                f"label=\"{names[c]}\", pos=\"{R + 260:.0f},{R - 60 * k:.0f}\"];\n")
    f.write("}\n")
print(f"\ngraph: {len(order)} test points, {len(tw)} training points, {len(edges)} edges drawn")
