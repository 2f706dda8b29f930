"""python3 -m fastif_torch's errors, run in one process (cli.main):
exit 2 for usage, 1 for data, one line on stderr naming what is wrong.

    cli_errors.py DIR      (DIR from interop.py prepare)
"""

import contextlib
import io
import sys

import fastif_stream as fs
from fastif_torch.cli import main

d = sys.argv[1]
models = f"{sys.path[0]}/models.py"
cnn = ["--model", f"{models}:SmallCNN", "--state-dict", f"{d}/cnn.pt"]


class _Std:
    def __init__(self, path):
        self.buffer = open(path, "rb") if path else io.BytesIO()


def run(argv, stdin):
    err = io.StringIO()
    old_in, old_out = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = _Std(stdin), _Std(None)
    try:
        with contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:
                rc = e.code
    finally:
        sys.stdin, sys.stdout = old_in, old_out
    return rc, err.getvalue()


cases = [
    ("--model without :CLASS", 2, "fastif_torch: --model must be FILE.py:CLASS",
     ["gradients", "--model", models, "--state-dict", f"{d}/cnn.pt"], "images"),
    ("a bad --input-shape", 2, "fastif_torch: --input-shape must be positive integers",
     ["predictions", *cnn, "--input-shape", "1,x"], "images"),
    ("--select that is not Python", 2, "fastif_torch: --select is not a Python expression",
     ["embeddings", *cnn, "--module", "fc1", "--select", "out[:,"], "images"),
    ("--model-args that is not JSON", 2, "fastif_torch: --model-args is not JSON",
     ["predictions", *cnn, "--model-args", "{channels: 4}"], "images"),
    ("an unknown subcommand", 2, "invalid choice", ["hessians", *cnn], "images"),
    ("x of the wrong size (exit 1, naming the record)", 1,
     "fastif_torch: error: record 'im0' (#0): x has 36 values, --input-shape 1,5,5 needs 25",
     ["predictions", *cnn, "--input-shape", "1,5,5"], "images"),
    ("a state_dict that does not fit", 1, "cnn.pt does not fit SmallCNN",
     ["predictions", *cnn, "--model-args", '{"channels": 5}', "--input-shape", "1,6,6"], "images"),
    ("a class the file does not define", 1, "defines no class 'Nope'",
     ["predictions", "--model", f"{models}:Nope", "--state-dict", f"{d}/cnn.pt"], "images"),
    ("examples without x", 1, "fastif_torch: error: record 's0' (#0): no field 'x' (f32 [d])",
     ["predictions", *cnn, "--input-shape", "1,6,6"], "seqs"),
    ("tokens asked of image examples", 1, "record 'im0' (#0): no field 'tokens'",
     ["gradients", "--model", f"{models}:TinyEncoder", "--state-dict", f"{d}/enc.pt",
      "--field", "tokens"], "images"),
    ("gold gradients of an unlabelled example", 1, "record 'im1' (#1): no label",
     ["gradients", *cnn, "--input-shape", "1,6,6"], "unlabelled"),
    ("an unknown --layers name", 2, "no module or parameter named 'fc9'",
     ["gradients", *cnn, "--input-shape", "1,6,6", "--layers", "fc9"], "images"),
    ("an unknown --module", 2, "no module or parameter named 'fc3'",
     ["embeddings", *cnn, "--input-shape", "1,6,6", "--module", "fc3"], "images"),
    ("a truncated stream", 1, "fastif_torch: error: standard input: record #10",
     ["predictions", *cnn, "--input-shape", "1,6,6"], "truncated"),
]
with open(f"{d}/images", "rb") as f:
    data = f.read()
with open(f"{d}/truncated", "wb") as f:
    f.write(data[:-7])
with open(f"{d}/unlabelled", "wb") as f:
    for i, r in enumerate(fs.read_stream(io.BytesIO(data))):
        fs.write_record(f, {k: v for k, v in r.items() if k != "label" or i != 1})
for desc, want_rc, want, argv, stdin in cases:
    rc, err = run(argv, f"{d}/{stdin}")
    lines = err.rstrip("\n").split("\n")
    one = len(lines) == 1 or (want_rc == 2 and len(lines) == 2 and lines[1].startswith("Try "))
    ok = rc == want_rc and want in lines[0] and one
    print(("ok" if ok else "not ok") + f" - CLI: {desc}: exit {want_rc}, one line"
          + ("" if ok else f"  # rc {rc}: {err!r}"))
