#!/usr/bin/python3
"""stats.py - statistics and markdown tables for pipelines/experiments.

Reads the streams the fastif tools wrote (scores, candidates, ranked, ihvp,
predictions) and summarises them. No influence is computed here: every
score and every s_test comes from the tools; this file only compares them.

  stats.py select  PRED N                      ids: first N/2 correct + first N/2 wrong
  stats.py recall  PRED RANKED N K:CAND...      R@m table (appendix B.1, Fig. 8)
  stats.py lissa   DIR NTRAIN                   LiSSA grid table (B.2, Fig. 9)
  stats.py corr    PRED FULL LABEL:FAST...      fast-vs-full correlations (B.3, Table 4)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "examples"))
import fastif_stream as fs  # noqa: E402


def read(path):
    with open(path, "rb") as f:
        return list(fs.read_stream(f))


def predictions(path):
    """id -> True when the model predicted the gold label."""
    return {r["id"]: int(r["pred"]) == int(r["label"]) for r in read(path)}


# ---- correlations (numpy only) ----------------------------------------------

def ranks(x):
    """Average ranks (ties share the mean rank), as Spearman needs."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x), dtype=float)
    xs = x[order]
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        if j > i:
            r[order[i:j + 1]] = (i + j) / 2.0
        i = j + 1
    return r


def pearson(a, b):
    a = np.asarray(a, float) - np.mean(a)
    b = np.asarray(b, float) - np.mean(b)
    d = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / d) if d > 0 else float("nan")


def spearman(a, b):
    return pearson(ranks(a), ranks(b))


def kendall(a, b):
    """Kendall's tau-b, O(n^2) in blocks (n <= a few thousand here)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    n = len(a)
    conc = disc = ta = tb = 0.0
    step = 512
    for s in range(0, n, step):
        da = np.sign(a[s:s + step, None] - a[None, :])
        db = np.sign(b[s:s + step, None] - b[None, :])
        p = da * db
        conc += (p > 0).sum()
        disc += (p < 0).sum()
        ta += ((da == 0) & (db != 0)).sum()
        tb += ((db == 0) & (da != 0)).sum()
    # each unordered pair was counted twice (i,j) and (j,i); ratios don't care
    d = np.sqrt((conc + disc + ta) * (conc + disc + tb))
    return float((conc - disc) / d) if d > 0 else float("nan")


def fmt(x, nd=3):
    return "nan" if x != x else f"{x:.{nd}f}"


# ---- commands ---------------------------------------------------------------

def cmd_select(pred_path, n):
    n = int(n)
    correct, wrong = [], []
    for r in read(pred_path):
        (correct if int(r["pred"]) == int(r["label"]) else wrong).append(r["id"])
    if len(correct) < n // 2 or len(wrong) < n - n // 2:
        sys.exit(f"stats.py: error: need {n // 2} correct and {n - n // 2} wrong "
                 f"predictions, have {len(correct)} and {len(wrong)}")
    for i in correct[:n // 2] + wrong[:n - n // 2]:
        print(i)


def cmd_recall(pred_path, ranked_path, ntrain, *cands):
    ntrain = int(ntrain)
    ok = predictions(pred_path)
    ranked = {r["id"]: r for r in read(ranked_path)}
    ks = []
    cand = {}
    for c in cands:
        k, path = c.split(":", 1)
        k = int(k)
        ks.append(k)
        cand[k] = {r["id"]: set(r["ids"]) for r in read(path)}
        assert set(cand[k]) == set(ranked), f"{path}: other test ids than the ranked lists"
    kinds = ("helpful", "harmful", "influential")
    ms = (10, 100)
    short = {m: sum(len(r[kind]) < m for r in ranked.values() for kind in kinds) for m in ms}
    # recall[(subset, k, kind, m)] = mean over test points
    out = []
    subsets = (("all", lambda t: True), ("correct", lambda t: ok[t]),
               ("wrong", lambda t: not ok[t]))
    for name, keep in subsets:
        tids = [t for t in ranked if keep(t)]
        rows = []
        for k in ks:
            row = [f"{k}", fmt(min(1.0, k / ntrain), 4)]
            for m in ms:
                for kind in kinds:
                    vals = []
                    for t in tids:
                        top = [e["id"] for e in ranked[t][kind][:m]]
                        if top:
                            vals.append(sum(i in cand[k][t] for i in top) / len(top))
                    row.append(fmt(float(np.mean(vals))))
            rows.append(row)
        out.append((name, len(tids), rows))
    head = ("| k | random k/N | helpful R@10 | harmful R@10 | \\|infl\\| R@10 "
            "| helpful R@100 | harmful R@100 | \\|infl\\| R@100 |")
    for name, n, rows in out:
        print(f"\n**{name} test points (n = {n})**\n")
        print(head)
        print("|" + "---|" * 8)
        for r in rows:
            print("| " + " | ".join(r) + " |")
    for m in ms:
        if short[m]:
            print(f"\nm = {m}: {short[m]} of the {len(ranked)} x 2 helpful/harmful lists hold fewer "
                  "than m scores of that sign; their recall is over the entries they have.")


def vec(r):
    return np.asarray(r["ihvp"], float)


def cmd_lissa(d, ntrain):
    """d holds: ref0.mp (exact, damping 0), ref-B.mp (exact, same shift as the
    LiSSA runs with batch B), full0.mp (influence of ref0), and per config
    s-J-B-T.mp, inf-J-B-T.mp, and times.tsv (J B T seconds)."""
    ref0 = {r["id"]: r for r in read(os.path.join(d, "ref0.mp"))}
    full0 = {r["id"]: np.asarray(r["scores"], float) for r in read(os.path.join(d, "full0.mp"))}
    refs = {}
    rows = []
    for line in open(os.path.join(d, "times.tsv")):
        J, B, T, sec = line.split()
        J, B, T, sec = int(J), int(B), int(T), float(sec)
        if B not in refs:
            refs[B] = {r["id"]: r for r in read(os.path.join(d, f"ref-{B}.mp"))}
        s = {r["id"]: r for r in read(os.path.join(d, f"s-{J}-{B}-{T}.mp"))}
        inf = {r["id"]: np.asarray(r["scores"], float)
               for r in read(os.path.join(d, f"inf-{J}-{B}-{T}.mp"))}
        re_s, cos_s, re_0, cos_0, pr = [], [], [], [], []
        for t, rec in s.items():
            ref = refs[B][t]
            # the reference must solve the very system this LiSSA run solved
            assert abs(ref["shift"] - rec["shift"]) <= 1e-9 * max(1.0, abs(rec["shift"])), \
                f"s-{J}-{B}-{T}: shift {rec['shift']} != reference shift {ref['shift']}"
            x = vec(rec)
            for y, re_l, cos_l in ((vec(ref), re_s, cos_s), (vec(ref0[t]), re_0, cos_0)):
                re_l.append(np.linalg.norm(x - y) / np.linalg.norm(y))
                cos_l.append(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
            pr.append(pearson(inf[t], full0[t]))
        shift = next(iter(s.values()))["shift"]
        rows.append((J, B, T, sec, sec / len(s), shift, np.mean(re_s), np.mean(cos_s),
                     np.mean(re_0), np.mean(cos_0), np.mean(pr), np.min(pr)))
    print("| J | B | T | wall s (all) | wall s / test pt | shift | rel.err vs exact(same shift) "
          "| cos vs exact(same shift) | rel.err vs exact(undamped) | cos vs exact(undamped) "
          "| Pearson infl. vs undamped (mean) | (min) |")
    print("|" + "---|" * 12)
    for (J, B, T, sec, per, shift, a, b, c, e, f, g) in rows:
        print(f"| {J} | {B} | {T} | {sec:.2f} | {per:.3f} | {shift:.2e} | {a:.3g} | {fmt(b, 4)} "
              f"| {c:.3g} | {fmt(e, 4)} | {fmt(f, 4)} | {fmt(g, 4)} |")


def cmd_corr(pred_path, full_path, *fasts):
    ok = predictions(pred_path)
    full = {}
    for r in read(full_path):
        full[r["id"]] = dict(zip(r["ids"], np.asarray(r["scores"], float)))
    print("| setting | n test | k | Pearson mean | min | Spearman mean | min "
          "| Kendall mean | min | Pearson (correct) | Pearson (wrong) |")
    print("|" + "---|" * 11)
    for spec in fasts:
        label, path = spec.split(":", 1)
        P, S, K, Pc, Pw = [], [], [], [], []
        k = 0
        for r in read(path):
            f = np.asarray(r["scores"], float)
            g = np.array([full[r["id"]][i] for i in r["ids"]])
            k = len(f)
            p = pearson(f, g)
            P.append(p)
            S.append(spearman(f, g))
            K.append(kendall(f, g))
            (Pc if ok[r["id"]] else Pw).append(p)
        print(f"| {label} | {len(P)} | {k} | {fmt(np.mean(P))} | {fmt(np.min(P))} "
              f"| {fmt(np.mean(S))} | {fmt(np.min(S))} | {fmt(np.mean(K))} | {fmt(np.min(K))} "
              f"| {fmt(np.mean(Pc)) if Pc else '-'} | {fmt(np.mean(Pw)) if Pw else '-'} |")


if __name__ == "__main__":
    cmds = {"select": cmd_select, "recall": cmd_recall, "lissa": cmd_lissa, "corr": cmd_corr}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
