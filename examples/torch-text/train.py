"""Train examples/torch-text/model.py:TextEncoder from scratch on tokenized
fastif text examples (tokenizer.py output) with Adam and cross-entropy, and
save its state_dict.

    python3 train.py --train train-tok.mp --out enc.pt [--test test-tok.mp] [--epochs 3]
                     [--lr 0.001] [--batch 32] [--seed 1] [--model-args JSON]

Seeded and single-order: the same inputs, seed and thread count give the
same weights. Prints the train (and test) accuracy."""

import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastif_stream as fs          # noqa: E402  (PYTHONPATH=python)
from model import TextEncoder       # noqa: E402


def load(path):
    with open(path, "rb") as f:
        recs = list(fs.read_stream(f))
    return [r["tokens"] for r in recs], torch.tensor([r["label"] for r in recs], dtype=torch.long)


def pad(toks):
    n = max(len(t) for t in toks)
    T = torch.zeros(len(toks), n, dtype=torch.long)
    P = torch.ones(len(toks), n, dtype=torch.bool)
    for i, t in enumerate(toks):
        T[i, :len(t)] = torch.from_numpy(t.astype(np.int64))
        P[i, :len(t)] = False
    return T, P


def accuracy(net, toks, Y, batch=256):
    right = 0
    with torch.no_grad():
        for i in range(0, len(toks), batch):
            right += int((net(*pad(toks[i:i + batch])).argmax(1) == Y[i:i + batch]).sum())
    return right / len(toks)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--test")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model-args", default="{}")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    toks, Y = load(a.train)
    net = TextEncoder(**json.loads(a.model_args))
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    lossf = nn.CrossEntropyLoss()
    steps = int(round(a.epochs * len(toks) / a.batch))
    order = torch.cat([torch.randperm(len(toks)) for _ in range(int(np.ceil(a.epochs)) + 1)])
    net.train()
    for s in range(steps):
        idx = order[s * a.batch:(s + 1) * a.batch].tolist()
        opt.zero_grad()
        loss = lossf(net(*pad([toks[i] for i in idx])), Y[idx])
        loss.backward()
        opt.step()
    net.eval()
    msg = f"train.py: {steps} steps of {a.batch} ({a.epochs:g} epochs of {len(toks)}), " \
          f"train accuracy {accuracy(net, toks, Y):.4f}"
    if a.test:
        msg += f", test accuracy {accuracy(net, *load(a.test)):.4f}"
    tmp = a.out + ".tmp"
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, a.out)
    print(msg, file=sys.stderr)


if __name__ == "__main__":
    main()
