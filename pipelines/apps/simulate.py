#!/usr/bin/python3
"""simulate.py OUT WORK TEST_PRED - tabulate and plot simulate.sh's results.

WORK/res/<test>.<type>.<k>.mp holds the simulator's prediction on the test
point (labelled with the task model's prediction) after one SGD step on the
k-th training point of <type> at each learning rate of WORK/lrs. Writes
OUT/losses.tsv and OUT/simulate.png (Fig. 11 analog) and prints the summary."""
import glob
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsq import records  # noqa: E402

out, work, test_pred = sys.argv[1:4]
lrs = np.array([float(x) for x in open(f"{work}/lrs").read().split()])
base = {r["id"]: float(r["loss"]) for r in records(f"{work}/base.mp")}
right = {r["id"]: r["pred"] == r["label"] for r in records(test_pred) if r["id"] in base}
types = ["helpful", "harmful", "random"]
L = defaultdict(list)   # (test, type) -> list of loss arrays [nlr]
with open(f"{out}/losses.tsv", "w") as f:
    f.write("test\tgroup\ttype\tk\tlr\tloss\tbase_loss\n")
    for path in sorted(glob.glob(f"{work}/res/*.mp")):
        t, typ, k = os.path.basename(path)[:-3].rsplit(".", 2)
        loss = np.array([float(r["loss"]) for r in records(path)])
        if len(loss) != len(lrs):
            sys.exit(f"simulate.py: error: {path}: {len(loss)} predictions for {len(lrs)} learning rates")
        L[(t, typ)].append(loss)
        g = "right" if right[t] else "wrong"
        for lr, x in zip(lrs, loss):
            f.write(f"{t}\t{g}\t{typ}\t{k}\t{lr:.6g}\t{x:.6g}\t{base[t]:.6g}\n")

tests = sorted(base)
groups = {"right": [t for t in tests if right[t]], "wrong": [t for t in tests if not right[t]]}
show = [0, len(lrs) // 4, len(lrs) // 2, 3 * len(lrs) // 4, len(lrs) - 1]
print("Simulator loss on the task model's prediction after one SGD step on one training point")
print("(mean over test points of the mean over the fine-tuning points; before fine-tuning in 'none')")
print(f"{'group':<6} {'type':<8} " + " ".join(f"{'lr ' + format(lrs[i], '.3g'):>11}" for i in show))
for g, ts in groups.items():
    print(f"{g:<6} {'none':<8} " + " ".join(f"{np.mean([base[t] for t in ts]):>11.4f}" for _ in show))
    for typ in types:
        m = np.mean([np.mean(L[(t, typ)], axis=0) for t in ts], axis=0)
        print(f"{g:<6} {typ:<8} " + " ".join(f"{m[i]:>11.4f}" for i in show))
print()
print("paired by test point and learning rate (mean over the fine-tuning points):")
for g, ts in groups.items():
    h = np.array([np.mean(L[(t, "helpful")], axis=0) for t in ts])
    hm = np.array([np.mean(L[(t, "harmful")], axis=0) for t in ts])
    r = np.array([np.mean(L[(t, "random")], axis=0) for t in ts])
    b = np.array([base[t] for t in ts])[:, None]
    print(f"  {g}: helpful below random in {np.mean(h < r):.0%} of {h.size} (test, lr) pairs, "
          f"harmful above random in {np.mean(hm > r):.0%}; mean loss change over all lrs: "
          f"helpful {np.mean(h - b):+.4f}, random {np.mean(r - b):+.4f}, harmful {np.mean(hm - b):+.4f}")

colors = {"helpful": "#1a9850", "harmful": "#d73027", "random": "#4575b4"}
gp = ["set terminal pngcairo size 1100,460 font 'sans,9'", f"set output '{out}/simulate.png'",
      "set multiplot layout 1,2 title 'Explainability by simulation: simulator loss on the task model prediction "
      "after one SGD step on one training point (mean; band = mean of min..max over the 10 points)'",
      "set logscale x", "set logscale y", "set format x '10^{%L}'", "set format y '10^{%L}'", "set xlabel 'learning rate'",
      "set ylabel 'simulator loss'", "set key top left", "set grid",
      "set style fill transparent solid 0.2 noborder"]
for g, ts in groups.items():
    plots = []
    for typ in types:
        a = np.array([L[(t, typ)] for t in ts])   # [tests, points, lrs]
        mean = a.mean(axis=1).mean(axis=0)
        lo, hi = a.min(axis=1).mean(axis=0), a.max(axis=1).mean(axis=0)
        path = f"{out}/sim-{g}-{typ}.dat"
        np.savetxt(path, np.column_stack([lrs, mean, lo, hi]), fmt="%.6g")
        plots.append(f"'{path}' using 1:3:4 with filledcurves lc rgb '{colors[typ]}' notitle")
        plots.append(f"'{path}' using 1:2 with lines lw 2 lc rgb '{colors[typ]}' title '{typ}'")
    b = np.mean([base[t] for t in ts])
    plots.append(f"{b} with lines dt 2 lc rgb 'black' title 'before'")
    gp.append(f"set title 'task model {g} ({len(ts)} test points)'")
    gp.append("plot " + ", ".join(plots))
gp.append("unset multiplot")
with open(f"{out}/simulate.gp", "w") as f:
    f.write("\n".join(gp) + "\n")
subprocess.run(["gnuplot", f"{out}/simulate.gp"], check=True)
print(f"plot: {out}/simulate.png")
