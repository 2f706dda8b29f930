#!/usr/bin/python3
"""torch-ggn.py OUT - fastif's curvature approximations against exact
Gauss-Newton influence computed in PyTorch, on a CNN small enough for a dense
GGN (make experiments-torch; pipelines/experiments/TORCH.md).

A CNN of examples/torch-cnn/model.py with widths 4, 8, 16 (P = 3,146) is
trained in torch on N Fashion-MNIST images. Reference: G = (1/N) sum_i
J_i^T (diag p_i - p_i p_i^T) J_i over the training images (J_i the
Jacobian of the logits, functorch jacrev, float64), s = (G + lambda I)^-1 v
for the gold-label test gradient v of each of Q misclassified test images
(numpy solve), score_i = -g_i . s for every training image (functorch
vmap(grad)). lambda = SHIFT_REL x trace(G)/P. fastif: fastif_torch writes
the gradients (fit: labels sampled from the model, every layer as factors;
training and test: gold), then `curvature --method ekfac|kfac` and
`ihvp --curvature --shift lambda` (the same absolute ridge), `ihvp --fisher
GRADS --method cg --shift lambda` over the Fisher of the same sampled labels
and over the empirical Fisher of the gold ones, `ihvp --method identity`, and `influence` over all N training images. Per method: Pearson r
of its scores with the exact ones over the N images (mean, min over the Q
queries), and the overlap of its 10 most helpful (most negative) and 10 most
harmful with the exact ones. Writes OUT/ggn.tsv, prints the table.

Environment: BIN (tools), N (2000), Q (10), EPOCHS (10), SHIFT_REL (0.1), SEED (1)."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from functorch import grad, jacrev, vmap
from torch.nn.utils.stateless import functional_call

HERE = os.path.dirname(os.path.abspath(__file__))
FASTIF = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(FASTIF, "python"))
sys.path.insert(0, os.path.join(FASTIF, "examples", "torch-cnn"))
import fastif_stream as fs   # noqa: E402
from model import CNN        # noqa: E402

OUT = sys.argv[1]
BIN = os.environ.get("BIN", os.path.join(FASTIF, "bin"))
N = int(os.environ.get("N", 2000))
Q = int(os.environ.get("Q", 10))
EPOCHS = float(os.environ.get("EPOCHS", 10))
SHIFT_REL = float(os.environ.get("SHIFT_REL", 0.1))
SEED = int(os.environ.get("SEED", 1))
FMNIST = os.environ.get("FMNIST", "/usr/share/datasets/fashion-mnist")
ARGS = {"c1": 4, "c2": 8, "hidden": 16}
PY = sys.executable
os.makedirs(OUT, exist_ok=True)
ENV = dict(os.environ, PYTHONPATH=os.path.join(FASTIF, "python"))


def sh(cmd, stdin=None, stdout=None):
    """Run a tool; its stderr goes to OUT/log, shown when it fails."""
    with open(f"{OUT}/log", "a") as log:
        fin = open(stdin, "rb") if stdin else None
        fout = open(stdout, "wb") if stdout else subprocess.DEVNULL
        r = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=log, env=ENV)
        for f in (fin, fout):
            if f not in (None, subprocess.DEVNULL):
                f.close()
    if r.returncode != 0:
        sys.exit(f"torch-ggn.py: error: {' '.join(cmd)} failed (log: {OUT}/log)")


def read(path):
    with open(path, "rb") as f:
        return list(fs.read_stream(f))


def tensors(recs):
    X = torch.from_numpy(np.stack([r["x"] for r in recs])).double().reshape(-1, 1, 28, 28)
    return X, torch.tensor([r["label"] for r in recs])


t0 = time.time()
sh([f"{BIN}/import-idx", "--fashion", "--prefix", "tr-", "--limit", str(N),
    "--images", f"{FMNIST}/train-images-idx3-ubyte.gz", "--labels", f"{FMNIST}/train-labels-idx1-ubyte.gz"],
   stdout=f"{OUT}/train.mp")
sh([f"{BIN}/import-idx", "--fashion", "--prefix", "te-", "--limit", "2000",
    "--images", f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--labels", f"{FMNIST}/t10k-labels-idx1-ubyte.gz"],
   stdout=f"{OUT}/test.mp")
sh([PY, os.path.join(FASTIF, "examples", "torch-cnn", "train.py"), "--train", f"{OUT}/train.mp",
    "--test", f"{OUT}/test.mp", "--out", f"{OUT}/cnn.pt", "--epochs", str(EPOCHS), "--seed", str(SEED),
    "--model-args", json.dumps(ARGS)])
FT = [PY, "-m", "fastif_torch"]
MODEL = ["--model", os.path.join(FASTIF, "examples", "torch-cnn", "model.py") + ":CNN",
         "--model-args", json.dumps(ARGS), "--state-dict", f"{OUT}/cnn.pt", "--input-shape", "1,28,28"]
sh(FT + ["predictions"] + MODEL, stdin=f"{OUT}/test.mp", stdout=f"{OUT}/test-pred.mp")
wrong = [r["id"] for r in read(f"{OUT}/test-pred.mp") if r["pred"] != r["label"]][:Q]
with open(f"{OUT}/query.ids", "w") as f:
    f.write("\n".join(wrong) + "\n")
sh([f"{BIN}/pick", "--ids", f"{OUT}/query.ids", f"{OUT}/test.mp"], stdout=f"{OUT}/query.mp")
sh(FT + ["gradients"] + MODEL, stdin=f"{OUT}/train.mp", stdout=f"{OUT}/train-grad.mp")
sh(FT + ["gradients"] + MODEL, stdin=f"{OUT}/query.mp", stdout=f"{OUT}/query-grad.mp")
sh(FT + ["gradients"] + MODEL + ["--label", "sample", "--seed", str(SEED), "--factors", "always"],
   stdin=f"{OUT}/train.mp", stdout=f"{OUT}/fit-grad.mp")
# The same sampled labels (seeded by seed and id) with the convolutions dense, where that is
# smaller: --fisher reads its stream once per product, 20x less to read than fit-grad.mp.
sh(FT + ["gradients"] + MODEL + ["--label", "sample", "--seed", str(SEED)],
   stdin=f"{OUT}/train.mp", stdout=f"{OUT}/fisher-grad.mp")
t_fastif_grads = time.time()

# ---- the exact reference in PyTorch (float64)
net = CNN(**ARGS).double().eval()
net.load_state_dict({k: v.double() for k, v in torch.load(f"{OUT}/cnn.pt").items()})
names = [n for n, _ in net.named_parameters()]
params = {n: p.detach() for n, p in net.named_parameters()}
P = sum(p.numel() for p in params.values())
Xtr, Ytr = tensors(read(f"{OUT}/train.mp"))
qrecs = read(f"{OUT}/query.mp")
Xq, Yq = tensors(qrecs)


def logits(ps, x):
    return functional_call(net, ps, (x.unsqueeze(0),))[0]


def flat(d):
    return torch.cat([d[n].reshape(d[n].shape[0], -1) for n in names], 1)


def loss(ps, x, y):
    return F.cross_entropy(logits(ps, x).unsqueeze(0), y.unsqueeze(0))


G = torch.zeros(P, P, dtype=torch.float64)
for i in range(0, N, 100):
    x = Xtr[i:i + 100]
    B = x.shape[0]
    J = torch.cat([vmap(jacrev(logits), in_dims=(None, 0))(params, x)[n].reshape(B, 10, -1)
                   for n in names], 2)                                         # [B, 10, P]
    p = torch.softmax(functional_call(net, params, (x,)), 1)
    H = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)                 # [B, 10, 10]
    G += J.reshape(-1, P).T @ torch.bmm(H, J).reshape(-1, P)
G /= N
shift = SHIFT_REL * float(torch.trace(G)) / P
gtr = flat(vmap(grad(loss), in_dims=(None, 0, 0))(params, Xtr, Ytr)).numpy()  # [N, P]
vq = flat(vmap(grad(loss), in_dims=(None, 0, 0))(params, Xq, Yq)).numpy()     # [Q, P]
S = np.linalg.solve(G.numpy() + shift * np.eye(P), vq.T).T                    # [Q, P]
exact = -(S @ gtr.T)                                                           # [Q, N]
t_exact = time.time()

# ---- fastif
ihvp = {}
for m in ("ekfac", "kfac"):
    sh([f"{BIN}/curvature", "--method", m, "--grads", f"{OUT}/fit-grad.mp", "-o", f"{OUT}/{m}.curv"])
    sh([f"{BIN}/ihvp", "--curvature", f"{OUT}/{m}.curv", "--shift", repr(shift)],
       stdin=f"{OUT}/query-grad.mp", stdout=f"{OUT}/{m}.ihvp")
    ihvp[m] = f"{OUT}/{m}.ihvp"
helps = subprocess.run([f"{BIN}/ihvp", "--help"], capture_output=True, text=True).stdout
if "--fisher" in helps:
    for label, grads in (("fisher-cg (sampled labels)", "fisher-grad.mp"),
                         ("fisher-cg (gold: empirical)", "train-grad.mp")):
        sh([f"{BIN}/ihvp", "--fisher", f"{OUT}/{grads}", "--method", "cg", "--shift", repr(shift)],
           stdin=f"{OUT}/query-grad.mp", stdout=f"{OUT}/{grads}.cg.ihvp")
        ihvp[label] = f"{OUT}/{grads}.cg.ihvp"
sh([f"{BIN}/ihvp", "--method", "identity"], stdin=f"{OUT}/query-grad.mp", stdout=f"{OUT}/identity.ihvp")
ihvp["identity (grad-dot)"] = f"{OUT}/identity.ihvp"

train_ids = [r["id"] for r in read(f"{OUT}/train.mp")]
pos = {t: k for k, t in enumerate(train_ids)}
qids = [r["id"] for r in qrecs]
rows = []
for m, path in ihvp.items():
    sh([f"{BIN}/influence", "--ihvp", path], stdin=f"{OUT}/train-grad.mp", stdout=f"{path}.scores")
    got = np.zeros((len(qids), N))
    for r in read(f"{path}.scores"):
        got[qids.index(r["id"]), [pos[t] for t in r["ids"]]] = r["scores"]
    s_err = []
    for r in read(path):
        s = np.asarray(r["ihvp"], np.float64)
        s_err.append(np.linalg.norm(s - S[qids.index(r["id"])]) / np.linalg.norm(S[qids.index(r["id"])]))
    pr, hel, har = [], [], []
    for q in range(len(qids)):
        pr.append(np.corrcoef(got[q], exact[q])[0, 1])
        hel.append(len(set(np.argsort(got[q])[:10]) & set(np.argsort(exact[q])[:10])))
        har.append(len(set(np.argsort(-got[q])[:10]) & set(np.argsort(-exact[q])[:10])))
    rows.append((m, np.mean(pr), np.min(pr), np.mean(hel), np.mean(har), np.mean(s_err)))

with open(f"{OUT}/ggn.tsv", "w") as f:
    f.write("method\tpearson_mean\tpearson_min\thelpful_top10\tharmful_top10\ts_rel_err\n")
    for r in rows:
        f.write("\t".join([r[0]] + [f"{v:.4f}" for v in r[1:]]) + "\n")
acc = np.mean([r["pred"] == r["label"] for r in read(f"{OUT}/test-pred.mp")])
print(f"CNN widths {ARGS}, P = {P}, trained {EPOCHS:g} epochs on N = {N} Fashion-MNIST images "
      f"(test accuracy {acc:.3f} on 2000); {len(qids)} misclassified test images; "
      f"lambda = {SHIFT_REL:g} x trace(G)/P = {shift:.4g}")
print(f"{'method':<30} {'Pearson mean':>12} {'min':>7} {'top-10 helpful':>15} {'top-10 harmful':>15} "
      f"{'|s - s_exact|/|s_exact|':>24}")
for m, pm, pmin, hel, har, se in rows:
    print(f"{m:<30} {pm:12.3f} {pmin:7.3f} {hel:12.1f}/10 {har:12.1f}/10 {se:24.3f}")
print(f"times: data, training and fastif_torch gradients {t_fastif_grads - t0:.0f} s; dense GGN and "
      f"solve in torch/numpy {t_exact - t_fastif_grads:.0f} s; fastif curvature, ihvp, influence "
      f"{time.time() - t_exact:.0f} s (machine shared with other jobs)")
