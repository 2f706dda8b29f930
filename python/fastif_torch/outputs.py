"""write_embeddings and write_predictions: emb records for knn-select,
predictions records as eval writes them."""

import numpy as np
import torch

from ._common import (FastifTorchError, Output, batches_of, check_finite, eval_loss, f32, logits_of,
                      note_random, probs_f32, refuse_batch_statistics, where)


def write_embeddings(model, module_name, batches, path, select=None):
    """Write {id, emb f32 [E]} per example: the output of the module named
    module_name ("" for the model's own output), optionally passed through
    select (e.g. select=lambda out: out[:, 0] for a [CLS] vector, or
    lambda out: out[0] to pick from a tuple), flattened per example (dim 0 of
    the selected tensor is the example). Returns the number of records."""
    refuse_batch_statistics(model)
    note_random(model)
    mods = dict(model.named_modules())
    if module_name not in mods:
        raise FastifTorchError(f"the model has no module named {module_name!r}")
    got = []
    h = mods[module_name].register_forward_hook(lambda m, i, o: got.append(o))
    E = None
    try:
        with Output(path) as out:
            for ids, inputs, _ in batches_of(batches):
                got.clear()
                # Grad stays enabled: PyTorch's fused inference fast paths
                # (TransformerEncoderLayer under no_grad) skip submodules' hooks.
                model(*inputs)
                if len(got) != 1:
                    raise FastifTorchError(f"module {module_name!r} was called {len(got)} times in "
                                           "one forward pass (it must be called exactly once)")
                e = select(got[0]) if select else got[0]
                if not isinstance(e, torch.Tensor) or e.dim() == 0 or e.shape[0] != len(ids):
                    shape = list(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
                    raise FastifTorchError(f"module {module_name!r}: output {shape} is not one tensor "
                                           f"with the {len(ids)} examples along dim 0 (use select=)")
                e = f32(e.reshape(len(ids), -1))
                if E is None:
                    E = e.shape[1]
                elif e.shape[1] != E:
                    raise FastifTorchError(f"{where(ids[0], out.n)}: embedding size {e.shape[1]} "
                                           f"differs from the first record's {E}")
                for rid, v in zip(ids, e):
                    out.write({"id": rid, "emb": v})
                got.clear()
    finally:
        h.remove()
    return out.n


def write_predictions(model, batches, path, classes=None):
    """Write eval's predictions records (formats/predictions.md): id, label,
    pred, loss, pred_name (when classes names them), probs f32 [C]; label and
    loss only for examples with a label (>= 0). The model's output is the
    logits [B, C]. Returns the number of records."""
    refuse_batch_statistics(model)
    note_random(model)
    with Output(path) as out, torch.no_grad():
        for ids, inputs, gold in batches_of(batches):
            p = probs_f32(logits_of(model(*inputs), len(ids)))
            check_finite(ids, out.n, {"probs": p})
            C = p.shape[1]
            if classes is not None and len(classes) != C:
                raise FastifTorchError(f"{len(classes)} class names for a model with {C} classes")
            preds = np.argmax(p, axis=1)
            ys = gold.tolist() if gold is not None else [-1] * len(ids)
            for i, rid in enumerate(ids):
                rec, y, k = {"id": rid}, ys[i], int(preds[i])
                if y >= C:
                    raise FastifTorchError(f"{where(rid, out.n)}: label {y} is not below {C}")
                if y >= 0:
                    rec.update(label=y, pred=k, loss=eval_loss(p[i], y))
                else:
                    rec["pred"] = k
                if classes is not None:
                    rec["pred_name"] = str(classes[k])
                rec["probs"] = p[i]
                out.write(rec)
    return out.n
