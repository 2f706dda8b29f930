"""Independent references for the fastif_torch tests: numpy reconstruction
of dense per-example gradients from records (formats/gradients.md, written
from the spec, not from the adapter) and functorch vmap(grad) per-example
gradients. Checks print TAP-like lines ("ok - ..." / "not ok - ...") that
tests/16-torch.t counts."""

import io
import traceback

import numpy as np
import torch
import torch.nn.functional as F
from functorch import grad, vmap
from torch.nn.utils.stateless import functional_call

import fastif_stream as fs

torch.set_num_threads(1)


def records(buf):
    return list(fs.read_stream(io.BytesIO(buf.getvalue() if hasattr(buf, "getvalue") else buf)))


def reconstruct(rec, shapes):
    """{param: dense gradient} from one record: grad.P dense, or sum_t delta_t a_t^T
    ([out, in], reshaped to the parameter) and sum_t delta_t for a bias."""
    out = {}
    for p in rec["params"].split(","):
        if "grad." + p in rec:
            g = np.asarray(rec["grad." + p], np.float64)
        else:
            layer, kind = p.rsplit(".", 1)
            a = np.asarray(rec["a." + layer], np.float64)
            d = np.asarray(rec["delta." + layer], np.float64)
            a, d = a.reshape(-1, a.shape[-1]), d.reshape(-1, d.shape[-1])
            assert a.shape[0] == d.shape[0], (p, a.shape, d.shape)
            g = d.T @ a if kind == "weight" else d.sum(0)
        assert g.size == int(np.prod(shapes[p])), (p, g.shape, shapes[p])
        out[p] = g.reshape(shapes[p])
    return out


def ce_sum(out, y):
    return F.cross_entropy(out, y, reduction="sum")


def vmap_grads(model, inputs, y, names=None, loss=ce_sum):
    """functorch per-example gradients {param: [B, *shape]} (inputs along dim 0)."""
    params = {n: p.detach() for n, p in model.named_parameters() if names is None or n in names}

    def f(p, yy, *xs):
        return loss(functional_call(model, p, tuple(x.unsqueeze(0) for x in xs)), yy.unsqueeze(0))
    return vmap(grad(f), in_dims=(None, 0) + (0,) * len(inputs))(params, y, *inputs)


def loop_grads(model, inputs, y, names=None, loss=ce_sum):
    """Per-example gradients by plain autograd, one example at a time (tied
    weights included, which 1.13's functional_call does not tie)."""
    params = [(n, p) for n, p in model.named_parameters() if names is None or n in names]
    out = {n: [] for n, _ in params}
    for i in range(y.shape[0]):
        gs = torch.autograd.grad(loss(model(*(x[i:i + 1] for x in inputs)), y[i:i + 1]),
                                 [p for _, p in params])
        for (n, _), g in zip(params, gs):
            out[n].append(g)
    return {n: torch.stack(v) for n, v in out.items()}


def one_grad(model, inputs, y, loss=ce_sum):
    """functorch gradient of one example given with its own batch dim of 1."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    return grad(lambda p: loss(functional_call(model, p, inputs), y))(params)


def max_rel(got, want):
    """max over parameters of max|got - want| / max|want| (want the reference)."""
    worst = 0.0
    for n, w in want.items():
        w = np.asarray(w, np.float64)
        scale = max(np.abs(w).max(), 1e-30)
        worst = max(worst, float(np.abs(np.asarray(got[n], np.float64) - w).max() / scale))
    return worst


def check(desc, fn):
    """Run one check: fn() returns (passed, detail) or raises."""
    try:
        passed, detail = fn()
    except Exception:
        passed, detail = False, traceback.format_exc(limit=3).replace("\n", " | ")
    print(("ok" if passed else "not ok") + f" - {desc}" + (f"  # {detail}" if detail else ""), flush=True)
