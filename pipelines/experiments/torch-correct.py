#!/usr/bin/python3
"""torch-correct.py OUT - error correction (FastIF Sec. 6.3) with a PyTorch
CNN (make experiments-torch; pipelines/experiments/TORCH.md).

The CNN of examples/torch-cnn/model.py is trained in torch (Adam, EPOCHS) on
the first NTRAIN Fashion-MNIST training images; the 10,000 test images split
into validation (the first 5,000: anchors come from here) and test (the
rest). For each repetition r (REPS) and method, starting from the trained
model, ITERS times: sample NA anchors of the slice (class SLICE, Shirt) from
validation (the same anchors for every method) ->
  helpful / harmful: the K nearest training images of the anchors' mean fc1
    embedding (knn-select --mean), EK-FAC fitted on the gradients of FIT_N
    training images with sampled labels (curvature; refitted every
    iteration, on the current model), s_test of the anchors' mean loss
    (ihvp --curvature), influence of the K candidates, the NF most helpful
    (most negative) or most harmful (rank);
  random: NF random training images; anchors: the anchors themselves ->
one SGD step in torch on those NF images (their mean cross-entropy, gold
labels, learning rate LR) -> accuracy on the slice of test and on all of
test. Every LR in LRS is run. Writes OUT/curves.tsv (correct.sh's columns)
and prints pipelines/apps/curves.py's summary.

Environment: BIN, NTRAIN (10000), EPOCHS (2), REPS (3), ITERS (5), NA (10),
NF (10), K (500), FIT_N (500), SLICE (6), LRS ("0.001"), SEED (1); with these
the run took 16 min on the 2 cores shared with other jobs (2026-12-02)."""

import copy
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FASTIF = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(FASTIF, "python"))
sys.path.insert(0, os.path.join(FASTIF, "examples", "torch-cnn"))
import fastif_stream as fs   # noqa: E402
import fastif_torch as ft    # noqa: E402
from model import CNN        # noqa: E402

OUT = sys.argv[1]
E = os.environ.get
BIN = E("BIN", os.path.join(FASTIF, "bin"))
NTRAIN, EPOCHS = int(E("NTRAIN", 10000)), float(E("EPOCHS", 2))
REPS, ITERS, NA, NF = int(E("REPS", 3)), int(E("ITERS", 5)), int(E("NA", 10)), int(E("NF", 10))
K, FIT_N, SLICE, SEED = int(E("K", 500)), int(E("FIT_N", 500)), int(E("SLICE", 6)), int(E("SEED", 1))
LRS = E("LRS", "0.001").split()
METHODS = E("METHODS", "helpful harmful random anchors").split()
FMNIST = E("FMNIST", "/usr/share/datasets/fashion-mnist")
W = f"{OUT}/work"
os.makedirs(W, exist_ok=True)
ENV = dict(os.environ, PYTHONPATH=os.path.join(FASTIF, "python"))


def sh(cmd, stdin=None, stdout=None):
    with open(f"{OUT}/log", "a") as log:
        fin = open(stdin, "rb") if stdin else None
        fout = open(stdout, "wb") if stdout else subprocess.DEVNULL
        r = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=log, env=ENV)
        for f in (fin, fout):
            if f not in (None, subprocess.DEVNULL):
                f.close()
    if r.returncode != 0:
        sys.exit(f"torch-correct.py: error: {' '.join(cmd)} failed (log: {OUT}/log)")


def load(path):
    with open(path, "rb") as f:
        recs = list(fs.read_stream(f))
    X = torch.from_numpy(np.stack([r["x"] for r in recs])).float().reshape(-1, 1, 28, 28)
    return [r["id"] for r in recs], X, torch.tensor([r["label"] for r in recs])


sh([f"{BIN}/import-idx", "--fashion", "--prefix", "tr-", "--limit", str(NTRAIN),
    "--images", f"{FMNIST}/train-images-idx3-ubyte.gz", "--labels", f"{FMNIST}/train-labels-idx1-ubyte.gz"],
   stdout=f"{W}/train.mp")
sh([f"{BIN}/import-idx", "--fashion", "--prefix", "te-",
    "--images", f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--labels", f"{FMNIST}/t10k-labels-idx1-ubyte.gz"],
   stdout=f"{W}/all-test.mp")
sh([sys.executable, os.path.join(FASTIF, "examples", "torch-cnn", "train.py"), "--train", f"{W}/train.mp",
    "--out", f"{W}/cnn.pt", "--epochs", str(EPOCHS), "--seed", str(SEED)])
tr_ids, Xtr, Ytr = load(f"{W}/train.mp")
te_ids, Xte, Yte = load(f"{W}/all-test.mp")
Xval, Yval, Xtest, Ytest = Xte[:5000], Yte[:5000], Xte[5000:], Yte[5000:]
val_slice = (Yval == SLICE).nonzero().flatten()
test_slice = Ytest == SLICE
base = CNN()
base.load_state_dict(torch.load(f"{W}/cnn.pt"))
base.eval()


def accuracy(net, X, Y):
    with torch.no_grad():
        return sum(int((net(X[i:i + 1000]).argmax(1) == Y[i:i + 1000]).sum())
                   for i in range(0, len(X), 1000)) / len(X)


def evaluate(net):
    return accuracy(net, Xtest[test_slice], Ytest[test_slice]), accuracy(net, Xtest, Ytest)


def influential(net, anchors, method, it_seed):
    """The NF most helpful or harmful training images for the anchors' mean loss."""
    ft.write_embeddings(net, "fc1", ft.batches(Xtr, Ytr, ids=tr_ids), f"{W}/train-emb.mp")
    sh([f"{BIN}/knn-select", "--build", f"{W}/index"], stdin=f"{W}/train-emb.mp")
    Xa, Ya = Xval[anchors], Yval[anchors]
    ft.write_embeddings(net, "fc1", ft.batches(Xa, Ya, prefix="anchor-"), f"{W}/anchor-emb.mp")
    sh([f"{BIN}/knn-select", "--index", f"{W}/index", "-k", str(K), "--mean"],
       stdin=f"{W}/anchor-emb.mp", stdout=f"{W}/cand.mp")
    with open(f"{W}/cand.mp", "rb") as f:
        cand = [tr_ids.index(i) for i in next(fs.read_stream(f))["ids"]]
    ft.write_gradients(net, ft.batches(Xtr[cand], Ytr[cand], ids=[tr_ids[i] for i in cand]), f"{W}/cand-grad.mp")
    fit = torch.randperm(NTRAIN, generator=torch.Generator().manual_seed(it_seed))[:FIT_N]
    ft.write_gradients(net, ft.batches(Xtr[fit], Ytr[fit], ids=[tr_ids[i] for i in fit]), f"{W}/fit-grad.mp",
                       label="sample", seed=it_seed, factors="always")
    sh([f"{BIN}/curvature", "--method", "ekfac", "--grads", f"{W}/fit-grad.mp", "-o", f"{W}/curv"])
    # The anchors' mean loss: one dense gradient record (grad.PNAME for every parameter).
    net.zero_grad()
    F.cross_entropy(net(Xa), Ya).backward()
    names = [n for n, _ in net.named_parameters()]
    mean = {"id": "mean", "params": ",".join(names)}
    mean.update({f"grad.{n}": p.grad.detach().numpy().astype(np.float32) for n, p in net.named_parameters()})
    net.zero_grad()
    with open(f"{W}/anchor-grad.mp", "wb") as f:
        fs.write_record(f, mean)
    sh([f"{BIN}/ihvp", "--curvature", f"{W}/curv"], stdin=f"{W}/anchor-grad.mp", stdout=f"{W}/ihvp.mp")
    sh([f"{BIN}/influence", "--ihvp", f"{W}/ihvp.mp"], stdin=f"{W}/cand-grad.mp", stdout=f"{W}/scores.mp")
    sh([f"{BIN}/rank", "-m", str(NF)], stdin=f"{W}/scores.mp", stdout=f"{W}/ranked.mp")
    with open(f"{W}/ranked.mp", "rb") as f:
        r = next(fs.read_stream(f))
    return [tr_ids.index(e["id"]) for e in r[method]]


plan = {}    # (rep, it) -> anchors, random images: the same for every method and lr
for rep in range(1, REPS + 1):
    for it in range(1, ITERS + 1):
        g = torch.Generator().manual_seed(1000 * rep + it)
        plan[(rep, it)] = (val_slice[torch.randperm(len(val_slice), generator=g)[:NA]],
                           torch.randperm(NTRAIN, generator=g)[:NF])
start = evaluate(base)
print(f"CNN of examples/torch-cnn (Adam, {EPOCHS:g} epochs on {NTRAIN} images); REPS={REPS} ITERS={ITERS} "
      f"NA={NA} NF={NF} K={K} FIT_N={FIT_N} SLICE={SLICE} LRS={' '.join(LRS)}", flush=True)
with open(f"{OUT}/curves.tsv.tmp", "w") as out:
    out.write("lr\trep\tmethod\titer\tslice_acc\toverall_acc\n")
    for lr in LRS:
        for rep in range(1, REPS + 1):
            for m in METHODS:
                net = copy.deepcopy(base)
                out.write(f"{lr}\t{rep}\t{m}\t0\t{start[0]}\t{start[1]}\n")
                for it in range(1, ITERS + 1):
                    anchors, rnd = plan[(rep, it)]
                    if m in ("helpful", "harmful"):
                        idx = influential(net, anchors, m, 1000 * rep + it)
                        X, Y = Xtr[idx], Ytr[idx]
                    elif m == "random":
                        X, Y = Xtr[rnd], Ytr[rnd]
                    else:
                        X, Y = Xval[anchors], Yval[anchors]
                    net.zero_grad()
                    F.cross_entropy(net(X), Y).backward()
                    with torch.no_grad():
                        for p in net.parameters():
                            p -= float(lr) * p.grad
                    s, o = evaluate(net)
                    out.write(f"{lr}\t{rep}\t{m}\t{it}\t{s}\t{o}\n")
                    out.flush()
                print(f"torch-correct.py: lr {lr} rep {rep} {m}: slice {s:.4f} overall {o:.4f}", file=sys.stderr)
os.replace(f"{OUT}/curves.tsv.tmp", f"{OUT}/curves.tsv")
subprocess.run([sys.executable, os.path.join(FASTIF, "pipelines", "apps", "curves.py"), OUT,
                f"PyTorch CNN on Fashion-MNIST, slice {SLICE} (Shirt)"], check=True)
