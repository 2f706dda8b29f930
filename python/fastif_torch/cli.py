"""python3 -m fastif_torch: the three writers for a model defined in a
user's Python file plus a state_dict, over fastif example streams."""

import argparse
import importlib.util
import json
import sys

import numpy as np
import torch

import fastif_stream as fs

from ._common import FACTORS, LABELS, FastifTorchError
from .gradients import write_gradients
from .outputs import write_embeddings, write_predictions

PROG = "fastif_torch"
EPILOG = """\
Examples are fastif examples records (formats/examples.md). With --field x
(default) each x f32 [d] is reshaped to --input-shape and the model is
called as model(x) on [batch, *shape] float tensors. With --field tokens each
tokens i32 [n] is padded with 0 to the batch's longest and the model is
called as model(tokens, padding) with tokens int64 [batch, n] and padding
bool [batch, n], True at padded positions (nn.TransformerEncoder's
src_key_padding_mask); gradient rows are kept at the real positions only.
The model is put in eval mode. Errors: one line on stderr, exit 1 (data)
or 2 (usage)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"{PROG}: {message}\nTry 'python3 -m {PROG} --help' for more information.",
              file=sys.stderr)
        sys.exit(2)


def _parser():
    p = _Parser(prog=f"python3 -m {PROG}", description="fastif streams from a PyTorch model: "
                "per-example gradients (layer factors), embeddings or predictions.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="gradients|embeddings|predictions",
                           parser_class=_Parser)
    specs = {"gradients": "per-example gradient records (formats/gradients.md) < examples > gradients",
             "embeddings": "emb records (the output of --module) for knn-select < examples > embeddings",
             "predictions": "eval's predictions records < examples > predictions"}
    cmds = {}
    for name, help_ in specs.items():
        c = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        c.add_argument("--model", required=True, metavar="FILE.py:CLASS",
                       help="the nn.Module class, defined in a Python file")
        c.add_argument("--model-args", default="{}", metavar="JSON",
                       help="constructor arguments: a JSON object (keywords) or list (default {})")
        c.add_argument("--state-dict", required=True, metavar="FILE",
                       help="the weights, as written by torch.save(model.state_dict(), FILE)")
        c.add_argument("--input-shape", metavar="D1,D2,..",
                       help="with --field x: the shape of one example (default [d])")
        c.add_argument("--field", choices=["x", "tokens"], default="x",
                       help="the examples' input field (default x)")
        c.add_argument("--batch", type=int, default=64, metavar="N", help="examples per batch (default 64)")
        cmds[name] = c
    g = cmds["gradients"]
    g.add_argument("--layers", metavar="A,B", help="module or parameter names (default: all trainable)")
    g.add_argument("--label", choices=LABELS, default="gold",
                   help="the loss's label: gold, pred (the prediction) or sample (drawn from the "
                        "softmax, seeded: the true Fisher) (default gold)")
    g.add_argument("--seed", type=int, default=0, metavar="N", help="seed of --label sample (default 0)")
    g.add_argument("--factors", choices=FACTORS, default="auto",
                   help="auto: a layer travels dense where that is smaller; always: every Linear/Conv "
                        "as factors (for fitting curvature: Kronecker blocks) (default auto)")
    e = cmds["embeddings"]
    e.add_argument("--module", required=True, metavar="NAME",
                   help="the module whose output is the embedding ('' for the model's output)")
    e.add_argument("--select", metavar="EXPR",
                   help="a Python expression of `out` picking the tensor, e.g. 'out[:, 0]'")
    cmds["predictions"].add_argument("--classes", metavar="A,B,..",
                                     help="class names, for pred_name (default none)")
    return p


def _usage(msg):
    _Parser(prog=PROG).error(msg)


def load_model(spec, args_json, state_dict):
    """The user's class from FILE.py:CLASS, built with args_json, weights loaded, in eval mode."""
    path, sep, cls = spec.rpartition(":")
    if not sep or not path or not cls:
        _usage(f"--model must be FILE.py:CLASS, not {spec!r}")
    try:
        args = json.loads(args_json)
    except json.JSONDecodeError as e:
        _usage(f"--model-args is not JSON: {e}")
    if not isinstance(args, (dict, list)):
        _usage("--model-args must be a JSON object or list")
    try:
        mod_spec = importlib.util.spec_from_file_location("fastif_torch_user_model", path)
        mod = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(mod)
    except (OSError, ImportError) as e:
        raise FastifTorchError(f"cannot load {path}: {e}") from None
    if not isinstance(getattr(mod, cls, None), type):
        raise FastifTorchError(f"{path} defines no class {cls!r}")
    model = getattr(mod, cls)(**args) if isinstance(args, dict) else getattr(mod, cls)(*args)
    try:
        sd = torch.load(state_dict, map_location="cpu")
    except (OSError, RuntimeError, EOFError) as e:
        raise FastifTorchError(f"cannot read the state_dict {state_dict}: {e}") from None
    try:
        model.load_state_dict(sd)
    except (RuntimeError, TypeError, AttributeError) as e:
        msg = " ".join(str(e).split())
        raise FastifTorchError(f"{state_dict} does not fit {cls}: {msg[:300]}") from None
    return model.eval()


def example_batches(stream, field="x", shape=None, batch=64, dtype=torch.float32):
    """(ids, inputs, labels) batches from a fastif examples stream (a path or a
    binary file): x reshaped to shape as dtype, or with field="tokens" the
    (tokens, padding) pair the command line passes; labels -1 when absent."""
    if not hasattr(stream, "read"):
        with open(stream, "rb") as f:
            yield from example_batches(f, field, shape, batch, dtype)
        return
    def inputs(recs, first):
        if field == "x":
            xs = []
            for k, r in enumerate(recs):
                x = r.get("x")
                if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 1:
                    raise FastifTorchError(f"record {r['id']!r} (#{first + k}): no field 'x' (f32 [d])")
                if shape is not None and x.size != int(np.prod(shape)):
                    raise FastifTorchError(f"record {r['id']!r} (#{first + k}): x has {x.size} values, "
                                           f"--input-shape {','.join(map(str, shape))} "
                                           f"needs {int(np.prod(shape))}")
                if xs and x.size != xs[0].size:
                    raise FastifTorchError(f"record {r['id']!r} (#{first + k}): x has {x.size} values, "
                                           f"the first record {xs[0].size}")
                xs.append(x)
            X = torch.from_numpy(np.stack(xs)).to(dtype)
            return X.reshape(len(xs), *shape) if shape is not None else X
        toks = []
        for k, r in enumerate(recs):
            t = r.get("tokens")
            if not isinstance(t, np.ndarray) or t.dtype != np.int32 or t.ndim != 1:
                raise FastifTorchError(f"record {r['id']!r} (#{first + k}): no field 'tokens' (i32 [n])")
            toks.append(t)
        n = max(len(t) for t in toks)
        T = torch.zeros(len(toks), n, dtype=torch.long)
        pad = torch.ones(len(toks), n, dtype=torch.bool)
        for i, t in enumerate(toks):
            T[i, :len(t)] = torch.from_numpy(t.astype(np.int64))
            pad[i, :len(t)] = False
        return T, pad

    recs, first = [], 0
    for r in fs.read_stream(stream):
        lab = r.get("label")
        if lab is not None and (not isinstance(lab, int) or isinstance(lab, bool) or lab < 0):
            raise FastifTorchError(f"record {r['id']!r} (#{first + len(recs)}): label must be an int >= 0")
        recs.append(r)
        if len(recs) == batch:
            yield [r["id"] for r in recs], inputs(recs, first), [r.get("label", -1) for r in recs]
            first += len(recs)
            recs = []
    if recs:
        yield [r["id"] for r in recs], inputs(recs, first), [r.get("label", -1) for r in recs]


def main(argv=None):
    a = _parser().parse_args(argv)
    if a.batch < 1:
        _usage("--batch must be at least 1")
    shape = None
    if a.input_shape:
        try:
            shape = [int(d) for d in a.input_shape.split(",")]
        except ValueError:
            shape = None
        if not shape or min(shape) < 1:
            _usage(f"--input-shape must be positive integers separated by commas, not {a.input_shape!r}")
        if a.field != "x":
            _usage("--input-shape applies to --field x only")
    select = None
    if a.cmd == "embeddings" and a.select:
        try:    # the user's own code, like the model file
            select = eval(f"lambda out: ({a.select})")
        except SyntaxError as e:
            _usage(f"--select is not a Python expression: {e.msg}")
    try:
        model = load_model(a.model, a.model_args, a.state_dict)
        names = dict(model.named_modules()).keys() | dict(model.named_parameters()).keys()
        for name in (a.layers.split(",") if a.cmd == "gradients" and a.layers else []) + (
                [a.module] if a.cmd == "embeddings" else []):
            if name not in names:
                _usage(f"the model has no module or parameter named {name!r}")
        first = next(iter(model.parameters()), None)
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        batches = example_batches(sys.stdin.buffer, a.field, shape, a.batch, dtype)
        out = sys.stdout.buffer
        positions = (lambda inp: ~inp[1]) if a.field == "tokens" else None
        if a.cmd == "gradients":
            layers = a.layers.split(",") if a.layers else None
            n = write_gradients(model, batches, out, layers=layers, label=a.label, seed=a.seed,
                                positions=positions, factors=a.factors)
        elif a.cmd == "embeddings":
            n = write_embeddings(model, a.module, batches, out, select=select)
        else:
            classes = a.classes.split(",") if a.classes else None
            n = write_predictions(model, batches, out, classes=classes)
        out.flush()
    except FastifTorchError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except fs.StreamError as e:
        print(f"{PROG}: error: standard input: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except Exception as e:    # the user's model failing on the data
        msg = " ".join(str(e).split())
        print(f"{PROG}: error: {type(e).__name__}: {msg[:300]}", file=sys.stderr)
        return 1
    print(f"{PROG}: done {n} record{'' if n == 1 else 's'}", file=sys.stderr)
    return 0
