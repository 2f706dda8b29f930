"""write_gradients: per-example layer-factor gradient records from hooks.

For a layer o = W a + b applied at r positions of one example (r = 1 for a
plain Linear, the sequence length for a token-wise Linear, the output
locations for a convolution written as im2col), the example's gradients are
dL/dW = sum_t delta_t a_t^T and dL/db = sum_t delta_t. A forward hook keeps
each call's input a and hooks its output for delta = dL/d(output); the loss
is summed over the batch, so each example's delta is its own.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.stateless import functional_call

from ._common import (FACTORS, LABELS, FastifTorchError, Output, batches_of, check_finite,
                      choose_labels, f32, logits_of, note, note_random, refuse_batch_statistics, take,
                      where)

_TOL = 1e-3     # factors vs autograd's batch gradient: a gross-misuse check, not a precision one


def _is_gpt2_conv1d(m):
    """transformers' GPT-2 Conv1D (weight [in, out], y = x W + b), recognised
    by duck type so that transformers need not be installed."""
    w = getattr(m, "weight", None)
    return (type(m).__name__ == "Conv1D" and isinstance(w, torch.Tensor) and w.dim() == 2
            and getattr(m, "nf", None) == w.shape[1])


def _kind(m):
    if isinstance(m, nn.Linear):
        return "linear"
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        return "conv"
    if _is_gpt2_conv1d(m):
        return "gpt2"
    return None


def _unfold(m, x):
    """im2col of a Conv1d/Conv2d input: [B, L, C_in*k] in the weight's order."""
    pad = m._reversed_padding_repeated_twice      # what the module itself pads with
    if any(pad):
        x = F.pad(x, pad, mode="constant" if m.padding_mode == "zeros" else m.padding_mode)
    if isinstance(m, nn.Conv1d):
        cols = F.unfold(x.unsqueeze(2), (1, m.kernel_size[0]), dilation=(1, m.dilation[0]),
                        stride=(1, m.stride[0]))
    else:
        cols = F.unfold(x, m.kernel_size, dilation=m.dilation, stride=m.stride)
    return cols.transpose(1, 2)


class _Layer:
    """A supported module whose weight is selected: its hooks and factors."""

    def __init__(self, name, m, kind, pnames):
        self.name, self.m, self.kind, self.pnames = name, m, kind, pnames
        self.calls, self.probe = [], []
        self.bdim = None       # the batch dimension of its inputs (from the probe)
        self.dense = None      # written as grad.NAME.* (decided on the first batch)
        self.vector = False    # one call on [batch, in]: 1-D factors, as grad --factored

    def hook(self, state):
        def fn(mod, inp, out):
            if state["mode"] == "probe":
                x = inp[0] if inp else None
                self.probe.append(tuple(x.shape) if isinstance(x, torch.Tensor) else None)
            elif state["mode"] == "capture":
                # delta stays zero when the output does not reach the loss
                slot = [inp[0].detach(), torch.zeros_like(out)]
                self.calls.append(slot)
                if out.requires_grad:
                    out.register_hook(lambda g: slot.__setitem__(1, g.detach()))
        return fn

    def factors(self, B, keep_mask):
        """This batch's a [B, R, in], delta [B, R, out] and the rows kept
        ([B, R] bool, or None for all), the calls' rows concatenated."""
        A, D, K = [], [], []
        for x, g in self.calls:
            if self.kind == "conv":
                a, d = _unfold(self.m, x), g.reshape(B, g.shape[1], -1).transpose(1, 2)
                k = None
            else:
                x, g = x.movedim(self.bdim, 0), g.movedim(self.bdim, 0)
                rows = x.shape[1:-1]
                a, d = x.reshape(B, -1, x.shape[-1]), g.reshape(B, -1, g.shape[-1])
                k = keep_mask if keep_mask is not None and tuple(rows) == (keep_mask.shape[1],) else None
            A.append(a)
            D.append(d)
            K.append(k)
        a, d = torch.cat(A, 1), torch.cat(D, 1)
        keep = None
        if any(k is not None for k in K):
            keep = torch.cat([k if k is not None else torch.ones(B, x.shape[1], dtype=torch.bool)
                              for k, x in zip(K, A)], 1)
            dropped = d[~keep]
            if dropped.numel() and dropped.abs().max() > 1e-6 * max(d.abs().max().item(), 1e-30):
                raise FastifTorchError(f"module {self.name!r}: padded positions carry gradient: "
                                       "the model lets padding affect the loss")
        return a, d, keep

    def dense_grads(self, a, d):
        """Per-example gradients {param name: [B, *shape]} from the factors."""
        w = self.m.weight
        if self.kind == "gpt2":
            gw = torch.einsum("bri,bro->bio", a, d)
        elif self.kind == "conv" and self.m.groups != 1:
            G, B, R = self.m.groups, a.shape[0], a.shape[1]
            gw = torch.einsum("brgo,brgi->bgoi", d.reshape(B, R, G, -1), a.reshape(B, R, G, -1))
        else:
            gw = torch.einsum("bro,bri->boi", d, a)
        out = {self.name + ".weight": gw.reshape(a.shape[0], *w.shape)}
        out[self.name + ".bias"] = d.sum(1)
        return {k: v for k, v in out.items() if k in self.pnames}

    def check_sum(self, got, autograd):
        """The factors must add up to autograd's gradient of the summed loss;
        they do not when the weight is also used outside this module's calls."""
        for pn in self.pnames:
            g = got[pn]
            want = autograd[pn] if autograd[pn] is not None else torch.zeros_like(g)
            g = g.reshape(want.shape)
            err = (g - want).norm().item() / max(want.norm().item(), g.norm().item(), 1e-30)
            if err > _TOL:
                raise FastifTorchError(f"module {self.name!r}: its factors do not add up to "
                                       f"autograd's gradient of {pn} (relative error {err:.2g}): "
                                       "is the weight used outside the module's forward? Leave "
                                       "it out of `layers`")


def _select(model, layers):
    """The selected trainable parameters, in model order."""
    named = list(model.named_parameters())
    if layers is None:
        chosen = [n for n, p in named if p.requires_grad]
    else:
        mods, pnames, keep = dict(model.named_modules()), dict(named), set()
        for name in layers:
            if name in pnames:
                hit = {name}
            elif name in mods:
                prefix = f"{name}." if name else ""
                hit = {n for n in pnames if n.startswith(prefix)}
            else:
                raise FastifTorchError(f"layers: the model has no module or parameter named {name!r}")
            if not any(pnames[n].requires_grad for n in hit):
                raise FastifTorchError(f"layers: {name!r} has no trainable parameters")
            keep |= hit
        chosen = [n for n, p in named if p.requires_grad and n in keep]
    if not chosen:
        raise FastifTorchError("the model has no trainable parameters")
    return chosen


def _layers(model, chosen):
    """The supported modules whose weight is selected and owned by them alone."""
    owners = {}
    for mname, m in model.named_modules():
        for p in m._parameters.values():
            if p is not None:
                owners[id(p)] = owners.get(id(p), 0) + 1
    out = []
    for mname, m in model.named_modules():
        kind = _kind(m)
        pre = f"{mname}." if mname else ""
        if kind is None or pre + "weight" not in chosen:
            continue
        if not mname:   # no layer name to give its factors
            note("the model itself is a single layer: written dense")
            continue
        ps = [p for p in (m.weight, m.bias) if p is not None]
        if any(owners[id(p)] > 1 for p in ps):
            note(f"module {mname!r} shares its parameters with another module: written dense")
            continue
        out.append(_Layer(pre.rstrip("."), m, kind, [pre + "weight"] + (
            [pre + "bias"] if m.bias is not None and pre + "bias" in chosen else [])))
    return out


def _probe(model, inputs, layers, state):
    """Run the first example alone and twice over: a layer's batch dimension
    is the one that goes from 1 to 2. Layers called a batch-dependent number
    of times, or whose inputs have no such dimension, are left to the dense path."""
    one = take(inputs, slice(0, 1))
    two = tuple(torch.cat([x, x]) if isinstance(x, torch.Tensor) else x for x in one)
    seen = []
    state["mode"] = "probe"
    try:
        with torch.random.fork_rng(devices=[]):
            for inp in (one, two):
                for l in layers:
                    l.probe = []
                model(*inp)
                seen.append({id(l): l.probe for l in layers})
    finally:
        state["mode"] = "off"
    kept = []
    for l in layers:
        s1, s2 = seen[0][id(l)], seen[1][id(l)]
        why = None
        if not s1 and not s2:
            why = "is not called as a module (its weight is used functionally)"
        elif len(s1) != len(s2) or None in s1 + s2:
            why = "is called a batch-dependent number of times or without a tensor input"
        else:
            dims = set()
            for u, v in zip(s1, s2):
                diff = [k for k in range(len(u)) if len(u) != len(v) or u[k] != v[k]]
                dims.add(diff[0] if len(diff) == 1 and u[diff[0]] == 1 and v[diff[0]] == 2 else None)
            if len(dims) != 1 or None in dims or (l.kind == "conv" and dims != {0}):
                why = "has inputs whose batch dimension is merged with another or absent"
            elif l.kind == "conv" and len(s1[0]) != (3 if isinstance(l.m, nn.Conv1d) else 4):
                why = "has unbatched inputs"
            else:
                l.bdim = dims.pop()
                l.vector = l.kind == "linear" and len(s1) == 1 and len(s1[0]) == 2
        if why:
            if s1 or s2:
                note(f"module {l.name!r} {why}: written dense")
            continue
        kept.append(l)
    return kept


def _ce(out, y):
    return F.cross_entropy(out, y, reduction="none")


class _Dense:
    """Per-example gradients of the parameters without factors, with
    functorch vmap(grad) (or one example at a time where vmap fails)."""

    def __init__(self, model, names, loss):
        self.model, self.names, self.loss, self.vmap = model, names, loss, True
        self.params = dict(model.named_parameters())
        # functional_call replaces parameters by name: give every alias of a
        # tied parameter (module.attr paths to one tensor) the same input.
        canon = {id(p): n for n, p in self.params.items() if n in names}
        self.aliases = [(f"{mn}.{pn}" if mn else pn, canon[id(p)])
                        for mn, m in model.named_modules() for pn, p in m._parameters.items()
                        if p is not None and id(p) in canon]

    def _loss_one(self, out, y):
        return self.loss(out, y).sum()

    def __call__(self, inputs, y):
        if not self.names:
            return {}
        if self.vmap:
            try:
                return self._vmapped(inputs, y)
            except Exception as e:   # an op without a batching rule, data-dependent code, ...
                msg = str(e).splitlines()[0] if str(e) else ""
                note(f"vmap failed ({type(e).__name__}: {msg[:120]}); dense per-example gradients "
                     "one example at a time")
                self.vmap = False
        return self._looped(inputs, y)

    def _vmapped(self, inputs, y):
        from functorch import grad, vmap
        mask = [isinstance(x, torch.Tensor) for x in inputs]

        def f(p, yy, *xs):
            xs = tuple(x.unsqueeze(0) if t else x for x, t in zip(xs, mask))
            full = {alias: p[n] for alias, n in self.aliases}
            return self._loss_one(functional_call(self.model, full, xs), yy.unsqueeze(0))
        p = {n: self.params[n].detach() for n in self.names}
        dims = (None, 0) + tuple(0 if t else None for t in mask)
        return vmap(grad(f), in_dims=dims)(p, y, *inputs)

    def _looped(self, inputs, y):
        ps = [self.params[n] for n in self.names]
        rows = []
        for i in range(y.shape[0]):
            l = self._loss_one(self.model(*take(inputs, slice(i, i + 1))), y[i:i + 1])
            gs = torch.autograd.grad(l, ps, allow_unused=True)
            rows.append([torch.zeros_like(p) if g is None else g for p, g in zip(ps, gs)])
        return {n: torch.stack([r[j] for r in rows]) for j, n in enumerate(self.names)}


def write_gradients(model, batches, path, layers=None, label="gold", loss=None, seed=0,
                    positions=None, factors="auto"):
    """Write one gradient record per example (formats/gradients.md, layer-factor form).

    model      an nn.Module; put it in eval mode (BatchNorm in training mode is refused).
    batches    iterable of (ids, inputs, labels): ids a list of str; inputs a tensor
               or a tuple of tensors (model(*inputs)), examples along dim 0; labels
               [B] ints (may be None unless label="gold").
    path       output file (written whole or not at all) or an open binary file.
    layers     module or parameter names to take gradients over (all parameters under
               a named module); default every trainable parameter.
    label      "gold": the example's label (the usual influence function);
               "pred": the model's prediction (argmax of its softmax);
               "sample": a label drawn from the model's softmax, seeded by (seed, id):
               the "true Fisher" choice for fitting curvature (Kronfluence).
    loss       loss(outputs, labels) -> per-example losses [B] (or their sum, a scalar,
               then records carry no `loss`); default cross-entropy. Never the mean.
    positions  for token models: a function inputs -> bool [B, n], True at real
               (non-padding) positions; rows of layers applied per position are kept
               only there (e.g. positions=lambda inp: ~inp[1] for a key padding mask).
    factors    "auto": a layer travels dense where that is smaller (below);
               "always": every supported layer as factors, whatever their size, so
               that `curvature` fits a Kronecker block for it (a dense part only
               gets a diagonal): the choice for the gradients curvature is fitted on.

    nn.Linear, nn.Conv1d, nn.Conv2d (im2col, rows = output locations) travel as
    a.NAME [r, in] / delta.NAME [r, out] (1-D for a Linear on [batch, in]); a layer
    is written dense (grad.NAME.weight, grad.NAME.bias) when r*(in+out) >= in*out
    on the first batch (unless factors="always"), for grouped convolutions and for GPT-2 Conv1D (its weight
    is [in, out]). Every other selected parameter travels dense as grad.PNAME.
    Returns the number of records written.
    """
    if label not in LABELS:
        raise FastifTorchError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
    if factors not in FACTORS:
        raise FastifTorchError(f"factors must be one of {', '.join(FACTORS)}, not {factors!r}")
    if isinstance(layers, str):
        layers = [layers]
    refuse_batch_statistics(model)
    chosen = _select(model, layers)
    lossfn = loss or _ce
    note_random(model)
    state = {"mode": "off"}
    cand = _layers(model, chosen)
    for l in cand:
        l.handle = l.m.register_forward_hook(l.hook(state))
    try:
        with Output(path) as out:
            _write(model, batches, out, chosen, cand, state, label, lossfn, seed, positions,
                   factors)
    finally:
        for l in cand:
            l.handle.remove()
    return out.n


def _write(model, batches, out, chosen, cand, state, label, lossfn, seed, positions,
                   factors):
    factored = dense = None
    plist = ",".join(chosen)
    for ids, inputs, gold in batches_of(batches):
        B, first = len(ids), out.n
        if factored is None:   # the plan, fixed by the first batch
            factored = _probe(model, inputs, cand, state) if cand else []
            for l in cand:
                if l not in factored:
                    l.handle.remove()
            owned = {pn for l in factored for pn in l.pnames}
            dense = _Dense(model, [n for n in chosen if n not in owned], lossfn)
        state["mode"] = "capture"
        try:
            outputs = model(*inputs)
        finally:
            state["mode"] = "off"
        if label == "gold" and lossfn is not _ce:
            if gold is None:
                raise FastifTorchError(f"{where(ids[0], first)}: no label (label='gold' needs one)")
            y = gold
        else:
            y = choose_labels(label, logits_of(outputs, B), gold, ids, seed, first)
        lv = lossfn(outputs, y)
        per_ex = lv.dim() == 1 and lv.shape[0] == B
        if not (per_ex or lv.dim() == 0):
            raise FastifTorchError(f"the loss must return [{B}] per-example losses or their sum, "
                                   f"not shape {list(lv.shape)}")
        tensors = _layer_tensors(factored, lv.sum(), B, _positions(positions, inputs, B), factors)
        tensors.update({f"grad.{k}": f32(v) for k, v in dense(inputs, y).items()})
        check_finite(ids, first, {k: v[0] if isinstance(v, tuple) else v for k, v in tensors.items()})
        losses = lv.detach().double().cpu().tolist() if per_ex else None
        keys = _key_order(chosen, factored)
        for i, rid in enumerate(ids):
            rec = {"id": rid, "label_kind": label, "label": int(y[i]), "params": plist}
            for k in keys:
                v = tensors[k]
                if isinstance(v, tuple):            # factors: [B, R, n], rows kept, 1-D?
                    v, keep, vector = v
                    v = v[i, 0] if vector else (v[i][keep[i]] if keep is not None else v[i])
                else:
                    v = v[i]
                rec[k] = v
            if losses is not None:
                if not math.isfinite(losses[i]):
                    raise FastifTorchError(f"{where(rid, first + i)}: the loss is not finite")
                rec["loss"] = losses[i]
            out.write(rec)


def _positions(fn, inputs, B):
    if fn is None:
        return None
    keep = fn(inputs)
    if (not isinstance(keep, torch.Tensor) or keep.dtype != torch.bool or keep.dim() != 2
            or keep.shape[0] != B):
        raise FastifTorchError("positions(inputs) must return a bool tensor [batch, n], "
                               "True at real positions")
    return keep.cpu()


def _layer_tensors(factored, total, B, keep_mask, factors):
    """Backward through the summed loss; the factored layers' record tensors."""
    tensors = {}
    if not factored:
        return tensors
    named = [(f"{l.name}.{k}", p) for l in factored for k, p in (("weight", l.m.weight), ("bias", l.m.bias))
             if p is not None]
    gs = torch.autograd.grad(total, [p for _, p in named], allow_unused=True)
    autograd = {n: g for (n, _), g in zip(named, gs)}
    for l in factored:
        a, d, keep = l.factors(B, keep_mask)
        l.calls = []
        if l.dense is None:
            r = int(keep.sum(1).max()) if keep is not None else a.shape[1]
            i_, o_ = a.shape[2], d.shape[2]
            l.dense = (l.kind == "gpt2" or (l.kind == "conv" and l.m.groups != 1)
                       or (factors == "auto" and r * (i_ + o_) >= i_ * o_))
        if l.dense:
            g = l.dense_grads(a, d)
            l.check_sum({k: v.sum(0) for k, v in g.items()}, autograd)
            tensors.update({f"grad.{k}": f32(v) for k, v in g.items()})
        else:
            l.check_sum({f"{l.name}.weight": d.flatten(0, 1).T @ a.flatten(0, 1),
                         f"{l.name}.bias": d.sum((0, 1))}, autograd)
            keep = keep.numpy() if keep is not None else None
            tensors[f"a.{l.name}"] = (f32(a), keep, l.vector)
            tensors[f"delta.{l.name}"] = (f32(d), keep, l.vector)
    return tensors


def _key_order(chosen, factored):
    """Tensor keys in params order, a. before delta. (as grad --factored)."""
    fac = {pn: l for l in factored if not l.dense for pn in l.pnames}
    keys = []
    for pn in chosen:
        l = fac.get(pn)
        if l is None:
            keys.append(f"grad.{pn}")
        elif f"a.{l.name}" not in keys:
            keys += [f"a.{l.name}", f"delta.{l.name}"]
    return keys
