#!/usr/bin/python3
"""curves.py OUT TITLE - summarise OUT/curves.tsv (correct.sh) and plot it.

Prints, per learning rate, the slice and overall test accuracy after the last
iteration (mean and min..max over repetitions) for each method, and the
paired difference helpful - random (same anchors, same repetition). Writes
OUT/curves-<lr>-<method>.dat and OUT/curves.gp, runs gnuplot -> OUT/curves.png
(Fig. 6 analog: mean line, min/max band)."""
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np

out, title = sys.argv[1], sys.argv[2]
rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/curves.tsv")][1:]
acc = defaultdict(dict)   # (lr, method) -> {(rep, iter): (slice, overall)}
for lr, rep, m, it, s, o in rows:
    acc[(lr, m)][(int(rep), int(it))] = (float(s), float(o))
lrs = list(dict.fromkeys(r[0] for r in rows))
methods = list(dict.fromkeys(r[2] for r in rows))
reps = sorted({int(r[1]) for r in rows})
iters = sorted({int(r[3]) for r in rows})
last = iters[-1]

print(f"{title}: accuracy after {last} fine-tuning iterations (mean [min..max] over {len(reps)} repetitions)")
print(f"{'lr':>6} {'method':<8} {'slice acc':>22} {'overall acc':>22}")
for lr in lrs:
    for m in methods:
        d = acc[(lr, m)]
        s = np.array([d[(r, last)][0] for r in reps])
        o = np.array([d[(r, last)][1] for r in reps])
        print(f"{lr:>6} {m:<8} {s.mean():8.4f} [{s.min():.4f}..{s.max():.4f}] "
              f"{o.mean():8.4f} [{o.min():.4f}..{o.max():.4f}]")
    base = acc[(lr, methods[0])][(reps[0], 0)]
    print(f"{lr:>6} {'(start)':<8} {base[0]:8.4f} {'':16}{base[1]:8.4f}")
if "helpful" in methods and "random" in methods:
    print()
    print("helpful - random, paired by repetition, slice accuracy: at the last iteration; "
          "mean over iterations 1..last")
    for lr in lrs:
        h, r_ = acc[(lr, "helpful")], acc[(lr, "random")]
        dl = np.array([h[(r, last)][0] - r_[(r, last)][0] for r in reps])
        da = np.array([np.mean([h[(r, i)][0] - r_[(r, i)][0] for i in iters[1:]]) for r in reps])
        wins = sum(1 for x in dl if x > 0)
        print(f"  lr {lr:>6}: last {dl.mean():+.4f} (per rep {' '.join(f'{x:+.4f}' for x in dl)}; "
              f"helpful ahead in {wins}/{len(reps)}), over iterations {da.mean():+.4f}")

colors = {"helpful": "#1a9850", "harmful": "#d73027", "random": "#4575b4", "anchors": "#984ea3"}
gp = [f"set terminal pngcairo size {420 * len(lrs)},640 font 'sans,9'",
      f"set output '{out}/curves.png'",
      f"set multiplot layout 2,{len(lrs)} title '{title}: fine-tuning on 10 points per iteration "
      f"(mean of {len(reps)} repetitions, band = min..max)'",
      "set xlabel 'iteration'", "set key bottom left", "set grid", "set style fill transparent solid 0.2 noborder"]
for col, name in ((0, "slice accuracy (test)"), (1, "overall accuracy (test)")):
    for lr in lrs:
        plots = []
        for m in methods:
            d = acc[(lr, m)]
            path = f"{out}/curves-{lr}-{m}-{col}.dat"
            with open(path, "w") as f:
                for i in iters:
                    v = np.array([d[(r, i)][col] for r in reps])
                    f.write(f"{i} {v.mean():.5f} {v.min():.5f} {v.max():.5f}\n")
            c = colors.get(m, "black")
            plots.append(f"'{path}' using 1:3:4 with filledcurves lc rgb '{c}' notitle")
            plots.append(f"'{path}' using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '{c}' title '{m}'")
        gp.append(f"set title '{name}, lr {lr}'")
        gp.append(f"set ylabel '{name}'")
        gp.append("plot " + ", ".join(plots))
gp.append("unset multiplot")
with open(f"{out}/curves.gp", "w") as f:
    f.write("\n".join(gp) + "\n")
subprocess.run(["gnuplot", f"{out}/curves.gp"], check=True)
print(f"plot: {out}/curves.png")
