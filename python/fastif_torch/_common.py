"""Shared pieces of fastif_torch: errors, batches, labels, output streams."""

import hashlib
import math
import os
import sys

import numpy as np
import torch
from torch import nn

import fastif_stream as fs

FLT_TRUE_MIN = 2.0 ** -149      # eval's loss floor (formats/predictions.md)
LABELS = ("gold", "pred", "sample")
FACTORS = ("auto", "always")


class FastifTorchError(ValueError):
    """Bad input or an unsupported model; the message names the record or module."""


def note(msg):
    """One line on stderr, like the C tools' logs."""
    print(f"fastif_torch: {msg}", file=sys.stderr)


def where(rid, n):
    return f"record {rid!r} (#{n})"


def batches(inputs, labels=None, ids=None, prefix="", size=256):
    """(ids, inputs, labels) batches of `size` from tensors held in memory:
    inputs a tensor or a tuple of tensors (examples along dim 0), labels [N]
    or None, ids a list of N strings (default prefix + the example's index)."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    N = inputs[0].shape[0]
    ids = list(ids) if ids is not None else [f"{prefix}{i}" for i in range(N)]
    if len(ids) != N or (labels is not None and len(labels) != N):
        raise FastifTorchError(f"{N} examples, {len(ids)} ids and "
                               f"{'no' if labels is None else len(labels)} labels")
    for i in range(0, N, size):
        x = tuple(t[i:i + size] for t in inputs)
        yield ids[i:i + size], x if len(x) > 1 else x[0], None if labels is None else labels[i:i + size]


def batches_of(batches):
    """Check and normalise what the user's iterable yields: (ids, inputs, labels)
    -> (list of str, tuple of model arguments, LongTensor [B] or None).
    Every tensor in inputs has the examples along dim 0; labels may be None,
    and a negative label means "no label"."""
    for k, b in enumerate(batches):
        try:
            ids, inputs, labels = b
        except (TypeError, ValueError):
            raise FastifTorchError(f"batch #{k}: expected a triple (ids, inputs, labels)") from None
        ids = list(ids)
        if not all(isinstance(i, str) for i in ids):
            raise FastifTorchError(f"batch #{k}: ids must be strings")
        inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        B = len(ids)
        for j, x in enumerate(inputs):
            if isinstance(x, torch.Tensor) and (x.dim() == 0 or x.shape[0] != B):
                raise FastifTorchError(f"batch #{k}: input {j} has shape {list(x.shape)}, "
                                       f"but the batch has {B} ids (examples go along dim 0)")
        if labels is not None:
            labels = torch.as_tensor(labels).reshape(-1)
            if labels.dtype.is_floating_point or labels.numel() != B:
                raise FastifTorchError(f"batch #{k}: labels must be {B} integers")
            labels = labels.long()
        if B:
            yield ids, inputs, labels


def refuse_batch_statistics(model):
    """Per-example outputs and gradients must not depend on the rest of the
    batch: BatchNorm that normalises with batch statistics mixes examples."""
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.running_mean is None:
                raise FastifTorchError(f"module {name!r} ({type(m).__name__}) has "
                                       "track_running_stats=False, so it always normalises with "
                                       "batch statistics and mixes the examples of a batch")
            if m.training:
                raise FastifTorchError(f"module {name!r} ({type(m).__name__}) is in training mode: "
                                       "it normalises with batch statistics, so each example's "
                                       "output depends on the others; call model.eval() first")


def note_random(model):
    """Dropout in training mode makes every output and gradient a random draw."""
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0:
            note(f"module {name!r} ({type(m).__name__}) is in training mode: outputs are random "
                 "(call model.eval() for deterministic ones)")
            return


def logits_of(out, B):
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != B:
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise FastifTorchError(f"the model's output must be logits [batch, classes], not {shape}")
    return out


def probs_f32(logits):
    """Softmax in float64, rounded once to float32 (what eval writes)."""
    return torch.softmax(logits.detach().double(), dim=1).float().cpu().numpy()


def _example_rng(seed, rid):
    h = int.from_bytes(hashlib.blake2b(rid.encode(), digest_size=16).digest(), "little")
    return np.random.default_rng([seed, h])


def choose_labels(kind, logits, gold, ids, seed, first):
    """The labels the loss uses: gold, the prediction (argmax of the float32
    probabilities, lowest index on ties, as eval), or a draw from the softmax
    seeded by (seed, id) so that it does not depend on batching or order."""
    C = logits.shape[1]
    if kind == "gold":
        if gold is None:
            raise FastifTorchError(f"{where(ids[0], first)}: no label (label='gold' needs one; "
                                   "use 'pred' or 'sample')")
        for i, y in enumerate(gold.tolist()):
            if not 0 <= y < C:
                raise FastifTorchError(f"{where(ids[i], first + i)}: "
                                       + ("no label" if y < 0 else f"label {y} is not below {C}"))
        return gold
    p = probs_f32(logits)
    if kind == "pred":
        return torch.from_numpy(np.argmax(p, axis=1)).long()
    p64 = torch.softmax(logits.detach().double(), dim=1).cpu().numpy()
    out = []
    for i, rid in enumerate(ids):
        c = np.cumsum(p64[i])
        u = _example_rng(seed, rid).random() * c[-1]
        out.append(min(int(np.searchsorted(c, u, side="right")), C - 1))
    return torch.tensor(out, dtype=torch.long)


def eval_loss(p, y):
    """eval's loss: -log of the float32 probability, floored at the smallest float32."""
    return -math.log(max(float(p[y]), FLT_TRUE_MIN))


def f32(t):
    return t.detach().to(torch.float32).cpu().numpy()


class Output:
    """A stream being written: to a path, whole or not at all (temp + rename),
    or to an open binary file object. Checks that ids are unique."""

    def __init__(self, path):
        self.path, self.n, self.seen = path, 0, set()
        if hasattr(path, "write"):
            self.f, self.tmp = path, None
        else:
            self.tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
            self.f = open(self.tmp, "wb")

    def write(self, rec):
        rid = rec["id"]
        if rid in self.seen:
            raise FastifTorchError(f"{where(rid, self.n)}: duplicate id")
        self.seen.add(rid)
        try:
            self.f.write(fs.encode_record(rec))
        except fs.StreamError as e:
            raise FastifTorchError(f"{where(rid, self.n)}: {e}") from None
        self.n += 1

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.tmp is None:
            self.f.flush()
            return
        self.f.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)


def take(inputs, sl):
    """The examples sl of every per-example input."""
    return tuple(x[sl] if isinstance(x, torch.Tensor) else x for x in inputs)


def check_finite(ids, first, arrays):
    """arrays: {key: array [B, ...]}; names the first record with a non-finite value."""
    for key, a in arrays.items():
        bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise FastifTorchError(f"{where(ids[i], first + i)}: non-finite values in {key}")
