#!/usr/bin/python3
"""table.py OUT METHOD... - the LDS table of pipelines/lds.mk, in markdown.

One row per method from OUT/lds-METHOD.mp (the lds record: LDS, bootstrap
interval, test points, undefined correlations, training ids scored per test
point) and OUT/scores-METHOD.time (wall seconds of the scoring command).
Formatting only: every number comes from the lds tool or the clock.
"""
import os
import sys

import msgpack


def record(path):
    with open(path, "rb") as f:
        recs = list(msgpack.Unpacker(f, raw=False))
    if len(recs) != 1:
        sys.exit("table.py: error: %s holds %d records, expected one lds record" % (path, len(recs)))
    return recs[0]


def main(out, methods):
    rows = []
    for m in methods:
        r = record(os.path.join(out, "lds-%s.mp" % m))
        tpath = os.path.join(out, "scores-%s.time" % m)
        t = open(tpath).read().strip() if os.path.exists(tpath) else "?"
        ci = ("%.3f – %.3f" % (r["ci_low"], r["ci_high"])) if "ci_low" in r else "–"
        rows.append("| %s | %.3f | %s | %d | %d | %.0f | %s |"
                    % (m, r["lds"], ci, r["tests"], r["undefined"], r["scored"], t))
    first = record(os.path.join(out, "lds-%s.mp" % methods[0]))
    level = int(round(100 * first["level"]))
    print("LDS over %d subsets, output %s; %d%% percentile bootstrap interval over test points "
          "(%d resamples)." % (first["subsets"], first["output"], level, first["bootstrap"]))
    print()
    print("| method | LDS | %d%% CI | test points | undefined | scored per test | scoring time (s) |" % level)
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: table.py OUT METHOD...")
    main(sys.argv[1], sys.argv[2:])
