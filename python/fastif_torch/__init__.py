"""fastif_torch - fastif streams from a PyTorch model.

Three writers turn any nn.Module and batches of (ids, inputs, labels) into
the streams the fastif tools read (formats/); a typical CNN needs:

    import fastif_torch as ft
    model.eval()
    train = lambda: ft.batches(Xtr, Ytr, prefix="train-")     # X [N, 1, 28, 28], Y [N]
    test = lambda: ft.batches(Xte, Yte, prefix="test-")
    ft.write_gradients(model, train(), "train-grads")           # layer factors
    ft.write_gradients(model, test(), "test-grads")
    ft.write_embeddings(model, "fc1", train(), "train-emb")     # for knn-select
    ft.write_predictions(model, test(), "test-pred")            # as eval writes

- write_gradients: per-example gradient records, nn.Linear / nn.Conv1d /
  nn.Conv2d as layer factors a.NAME [r, in], delta.NAME [r, out], every other
  trainable parameter dense as grad.NAME (see its docstring and
  python/README.md);
- write_embeddings: the output of one named module, as emb records;
- write_predictions: eval's predictions records;
- batches (tensors in memory) and example_batches (a fastif examples
  stream) make the (ids, inputs, labels) batches they take.

Every tensor in inputs has the examples along dim 0 and the model is called
as model(*inputs); labels may be None for predictions and embeddings.
Problems raise FastifTorchError, naming the record or the module. The same
is available from the shell: python3 -m fastif_torch --help.
Needs torch (with functorch, as Debian's python3-torch 1.13), numpy, msgpack
and fastif_stream (python/fastif_stream.py).
"""

from ._common import FastifTorchError, batches
from .cli import example_batches
from .gradients import write_gradients
from .outputs import write_embeddings, write_predictions

__all__ = ["write_gradients", "write_embeddings", "write_predictions", "batches",
           "example_batches", "FastifTorchError"]
