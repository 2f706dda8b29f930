"""tests/59-lds-torch.t's checks of one run of pipelines/experiments/lds-torch.mk
(python3 lds.py RUN TRAIN TEST MODEL_ARGS METHOD..., from tests/torch): prints
"ok - ..." / "not ok - ..." lines.

- every lds record: one, finite, over every test point;
- the identity scores against -g_i . g_t from PyTorch autograd (float64) at the
  full-data model, the cosine scores against identity / |g_i|;
- subset-0's outputs against the margin z_y - max_{c != y} z_c of its own model's
  logits in PyTorch."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "torch-cnn"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import fastif_stream as fs   # noqa: E402
from model import CNN        # noqa: E402

run, train, test, args = sys.argv[1:5]
methods = sys.argv[5:]
args = json.loads(args)


def read(path):
    with open(path, "rb") as f:
        return list(fs.read_stream(f))


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what)


tr, te = read(train), read(test)
for m in methods:
    recs = read(f"{run}/lds-{m}.mp")
    r = recs[0] if len(recs) == 1 else {}
    check(len(recs) == 1 and np.isfinite(r["lds"]) and -1 <= r["lds"] <= 1 and r["tests"] == len(te),
          f"{m}: one lds record, LDS {r.get('lds')} finite, over all {len(te)} test points")


def net_of(path):
    net = CNN(**args).double().eval()
    net.load_state_dict({k: v.double() for k, v in torch.load(path).items()})
    return net


def x_of(r):
    return torch.from_numpy(np.array(r["x"], np.float64)).reshape(1, 1, 28, 28)


def grad_of(net, r):
    net.zero_grad()
    F.cross_entropy(net(x_of(r)), torch.tensor([r["label"]])).backward()
    return torch.cat([p.grad.flatten() for p in net.parameters()])


net = net_of(f"{run}/model")
pos = {r["id"]: k for k, r in enumerate(tr)}
gt = {r["id"]: grad_of(net, r) for r in te[:3]}
gi = [grad_of(net, r) for r in tr[:5]]
scores = {m: {r["id"]: r for r in read(f"{run}/scores-{m}.mp")} for m in ("identity", "cosine") if m in methods}
for m, by_id in scores.items():
    got, want = [], []
    for t, g in gt.items():
        s = by_id[t]
        at = {i: k for k, i in enumerate(s["ids"])}
        for k in range(5):
            ref = -float(gi[k] @ g)
            if m == "cosine":
                ref /= float(gi[k].norm())
            got.append(float(s["scores"][at[tr[k]["id"]]]))
            want.append(ref)
    got, want = np.array(got), np.array(want)
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    check(err < 1e-3, f"{m}: 15 scores = {'-g_i . g_t / |g_i|' if m == 'cosine' else '-g_i . g_t'} "
          f"of PyTorch autograd (max error {err:.2g} of the largest)")

out0 = [r for r in read(f"{run}/outputs.mp") if r["id"] == "subset-0"]
net0 = net_of(f"{run}/fan/models/subset-0.model")
with torch.no_grad():
    z = net0(torch.cat([x_of(r) for r in te])).numpy()
y = np.array([r["label"] for r in te])
zy = z[np.arange(len(y)), y]
z[np.arange(len(y)), y] = -np.inf
margin = zy - z.max(1)
vals = dict(zip(out0[0]["ids"], np.asarray(out0[0]["values"], float))) if out0 else {}
got = np.array([vals.get(r["id"], np.nan) for r in te])
check(len(out0) == 1 and np.allclose(got, margin, atol=1e-3, rtol=1e-3),
      f"subset-0's outputs = its model's margins in PyTorch (max |diff| {np.nanmax(np.abs(got - margin)):.2g})")
