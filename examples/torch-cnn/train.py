"""Train examples/torch-cnn/model.py:CNN on a fastif examples stream
(import-idx output: x f32 [784], label) with Adam and cross-entropy, and
save its state_dict.

    python3 train.py --train train.mp --out cnn.pt [--epochs 2] [--lr 0.001]
                     [--batch 64] [--seed 1] [--model-args JSON] [--test test.mp]
                     [--threads N]

Seeded (torch.manual_seed) and single-order: the same inputs, seed and
thread count give the same weights (--threads: torch.set_num_threads, e.g. 1
for each of several jobs run side by side). With --test, prints the test
accuracy."""

import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastif_stream as fs          # noqa: E402  (PYTHONPATH=python)
from model import CNN               # noqa: E402


def load(path):
    xs, ys = [], []
    with open(path, "rb") as f:
        for r in fs.read_stream(f):
            xs.append(r["x"])
            ys.append(r["label"])
    X = torch.from_numpy(np.stack(xs)).float().reshape(-1, 1, 28, 28)
    return X, torch.tensor(ys, dtype=torch.long)


def accuracy(net, X, Y, batch=1000):
    with torch.no_grad():    # in batches: the first layer's output of all 60,000 would take 2 GB
        return sum(int((net(X[i:i + batch]).argmax(1) == Y[i:i + batch]).sum())
                   for i in range(0, len(X), batch)) / len(X)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--test")
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model-args", default="{}")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    X, Y = load(a.train)
    net = CNN(**json.loads(a.model_args))
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    lossf = nn.CrossEntropyLoss()
    steps = int(round(a.epochs * len(X) / a.batch))
    order = torch.cat([torch.randperm(len(X)) for _ in range(int(np.ceil(a.epochs)) + 1)])
    net.train()
    for s in range(steps):
        idx = order[s * a.batch:(s + 1) * a.batch]
        opt.zero_grad()
        loss = lossf(net(X[idx]), Y[idx])
        loss.backward()
        opt.step()
    net.eval()
    msg = f"train.py: {steps} steps of {a.batch} ({a.epochs:g} epochs of {len(X)}), " \
          f"train accuracy {accuracy(net, X, Y):.4f}"
    if a.test:
        msg += f", test accuracy {accuracy(net, *load(a.test)):.4f}"
    tmp = a.out + ".tmp"
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, a.out)
    print(msg, file=sys.stderr)


if __name__ == "__main__":
    main()
