"""torch_export - PyTorch modules <-> fastif model files (formats/model.md).

Needs torch, numpy and msgpack (via fastif_stream.py, python/ in the checkout).

    import torch, torch_export as te
    net = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.Tanh(),
                              torch.nn.Linear(32, 10))
    ...train it...
    te.export(net, "net.model", l2=1e-3)          # -> fastif tools (--model net.model)
    net2 = te.load("net.model")                   # a FastifNet with the same weights

What export accepts:
  - a FastifNet (the class below, what load returns);
  - torch.nn.Linear (arch linear: softmax regression);
  - torch.nn.Sequential of Linear layers with one kind of activation (Tanh or
    ReLU) between them and none after the last (arch mlp, or linear when it
    is a single Linear); its first element may be an
    EmbeddingBag(mode="mean") (arch bow; buckets and dim from its weight).
The fastif parameter names are the dense layers renumbered 0..L-1
(`layers.{k}.weight`, `layers.{k}.bias`) and `embedding.weight`, which is
exactly FastifNet's state_dict, so FastifNet round-trips byte for byte.

Any other model (a CNN, a transformer) cannot become a model file: export
refuses it naming its first unsupported module. Such models go through
fastif_torch (python/fastif_torch), which streams their per-example
gradients, embeddings and predictions straight from PyTorch.

l2 is the lambda of the training objective (mean CE + l2/2 sum ||w||^2 over
the weights, not the biases) that the fastif Hessian uses: pass the weight
decay you trained with (as lambda, not as an optimizer's decoupled decay).
For bow models the text featuriser is fastif's (hashed unigrams+bigrams,
`bow_ids` below); FastifNet.forward takes the bucket ids.
"""

import os
import re

import numpy as np
import torch
from torch import nn

import fastif_stream as fs

__all__ = ["FastifNet", "export", "load", "to_model_map", "bow_ids", "fnv1a64"]

_ACTS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class FastifNet(nn.Module):
    """The fastif architectures as a torch module with fastif's parameter
    names (its state_dict keys are the model file's params keys).

    arch: the model file's arch map, e.g. {"type": "mlp", "sizes": [784, 32,
    10], "activation": "tanh"} or {"type": "bow", "sizes": [16, 2], "buckets":
    4096, "dim": 16, "activation": "tanh"}.
    forward(x) for linear/mlp (x [n, d]); forward(ids, offsets) for bow, as
    nn.EmbeddingBag (flat bucket ids and the start of each example)."""

    def __init__(self, arch):
        super().__init__()
        self.arch = dict(arch)
        t, sizes = arch["type"], list(arch["sizes"])
        if t not in ("linear", "mlp", "bow"):
            raise ValueError(f"unknown arch type {t!r}")
        if t == "linear" and len(sizes) != 2:
            raise ValueError("linear needs sizes [d, C]")
        if t == "mlp" and len(sizes) < 3:
            raise ValueError("mlp needs at least one hidden layer")
        if t == "bow":
            if sizes[0] != arch["dim"]:
                raise ValueError("bow: sizes[0] must equal dim")
            self.embedding = nn.EmbeddingBag(arch["buckets"], arch["dim"], mode="mean")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = _ACTS[arch.get("activation", "tanh")]() if t != "linear" else None

    def dense(self, h):
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k + 1 < len(self.layers):
                h = self.act(h)
        return h

    def forward(self, x, offsets=None):
        if self.arch["type"] == "bow":
            return self.dense(self.embedding(x, offsets))
        return self.dense(x)


def _dense_stack(mods):
    """[Linear, act, Linear, ...] -> (linears, activation name or None)."""
    act = None
    for i, m in enumerate(mods):
        want_linear = i % 2 == 0
        if want_linear != isinstance(m, nn.Linear):
            raise ValueError(f"element {i} ({type(m).__name__}): expected Linear and "
                             "activation modules alternating, starting and ending with Linear")
        if not want_linear:
            name = next((n for n, c in _ACTS.items() if type(m) is c), None)
            if name is None:
                raise ValueError(f"element {i}: activation {type(m).__name__} is not Tanh or ReLU")
            if act not in (None, name):
                raise ValueError("all activations must be the same (fastif has one per model)")
            act = name
    if not mods or len(mods) % 2 == 0:
        raise ValueError("the stack must end with a Linear layer")
    lin = [m for m in mods if isinstance(m, nn.Linear)]
    for a, b in zip(lin, lin[1:]):
        if a.out_features != b.in_features:
            raise ValueError("consecutive Linear layers do not chain")
    if any(m.bias is None for m in lin):
        raise ValueError("every Linear layer needs a bias")
    return lin, act


_ELEMENTS = (nn.Linear, nn.Tanh, nn.ReLU, nn.EmbeddingBag)
_ADAPTER = ("; for any other model, stream its gradients, embeddings and predictions "
            "with fastif_torch (python/README.md)")


def _refuse_unsupported(module):
    """Name the first module a model file cannot hold (before iterating)."""
    if isinstance(module, nn.Sequential):
        for i, m in enumerate(module):
            if not isinstance(m, _ELEMENTS):
                raise ValueError(f"cannot export this Sequential: element {i} ({type(m).__name__}) "
                                 "is not Linear, Tanh, ReLU or a leading EmbeddingBag" + _ADAPTER)
    elif not isinstance(module, nn.Linear):
        bad = next((f"its module {n!r} ({type(m).__name__}) is none of these" for n, m in
                    module.named_modules() if n and not isinstance(m, _ELEMENTS + (nn.Sequential,))),
                   "its forward is its own code")
        raise ValueError(f"cannot export {type(module).__name__}: model files hold nn.Linear, an "
                         "nn.Sequential of Linear layers with Tanh or ReLU between them, or a "
                         f"FastifNet, and {bad}" + _ADAPTER)


def _f32(t):
    return np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy())


def to_model_map(module, l2=0.0, classes=None):
    """The model file's map (params as float32 numpy arrays) for a module."""
    if isinstance(module, FastifNet):
        arch = dict(module.arch)
        sd = module.state_dict()
        params = {k: _f32(v) for k, v in sd.items()}
    else:
        _refuse_unsupported(module)
        mods = [module] if isinstance(module, nn.Linear) else list(module)
        emb = None
        if mods and isinstance(mods[0], nn.EmbeddingBag):
            emb = mods.pop(0)
            if emb.mode != "mean":
                raise ValueError(f"EmbeddingBag mode is {emb.mode!r}; fastif's bow is 'mean'")
            if emb.padding_idx is not None or emb.max_norm is not None:
                raise ValueError("EmbeddingBag with padding_idx or max_norm has no fastif equivalent")
        lin, act = _dense_stack(mods)
        sizes = [lin[0].in_features] + [m.out_features for m in lin]
        if emb is not None:
            nb, dim = emb.weight.shape
            if dim != sizes[0]:
                raise ValueError(f"EmbeddingBag dim {dim} != first Linear's in_features {sizes[0]}")
            arch = {"type": "bow", "sizes": sizes, "activation": act or "tanh",
                    "buckets": int(nb), "dim": int(dim)}
        elif len(lin) == 1:
            arch = {"type": "linear", "sizes": sizes}
        else:
            arch = {"type": "mlp", "sizes": sizes, "activation": act}
        params = {}
        if emb is not None:
            params["embedding.weight"] = _f32(emb.weight)
        for k, m in enumerate(lin):
            params[f"layers.{k}.weight"] = _f32(m.weight)
            params[f"layers.{k}.bias"] = _f32(m.bias)
    for k, v in params.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"parameter {k} has non-finite values")
    if classes is not None and len(classes) != arch["sizes"][-1]:
        raise ValueError(f"{len(classes)} class names for {arch['sizes'][-1]} classes")
    m = {"format": "fastif-model", "version": 1, "arch": arch, "l2": float(l2), "params": params}
    if classes is not None:
        m["classes"] = [str(c) for c in classes]
    return m


def export(module, path, l2=0.0, classes=None):
    """Write module as a fastif model file (whole or not at all)."""
    b = fs.encode_record(to_model_map(module, l2, classes), require_id=False)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(b)
    os.replace(tmp, path)


def load(path, dtype=torch.float32):
    """A fastif model file -> (FastifNet, info) with info = {"l2", "classes"}."""
    with open(path, "rb") as f:
        m = fs.read_single(f)
    if m.get("format") != "fastif-model" or m.get("version") != 1:
        raise ValueError(f"{path}: not a version 1 fastif model")
    net = FastifNet(m["arch"])
    sd = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in m["params"].items()}
    net.load_state_dict(sd, strict=True)   # names and shapes must match one to one
    return net.to(dtype), {"l2": float(m.get("l2", 0.0)), "classes": m.get("classes")}


# ---- the bow featuriser of formats/model.md, for feeding FastifNet ----
_TOK = re.compile(rb"[A-Za-z0-9\x80-\xff]+(?:'[A-Za-z0-9\x80-\xff]+)*")


def fnv1a64(b, h=0xcbf29ce484222325):
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def bow_ids(text, buckets):
    """Bucket ids of a text: unigrams, each followed by the bigram ending there."""
    toks = [t.lower() for t in _TOK.findall(text.encode())]
    out = []
    for i, t in enumerate(toks):
        out.append(fnv1a64(t) % buckets)
        if i:
            out.append(fnv1a64(toks[i - 1] + b" " + t) % buckets)
    return out
