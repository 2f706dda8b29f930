#!/usr/bin/python3
"""torch_crosscheck - fastif's losses, per-example gradients and Hessian-vector
products against PyTorch (float64 autograd) on the same models and data.

    /usr/bin/python3 examples/torch_crosscheck.py [--bin bin] [--work DIR] [-n 200]

Cases (n training examples each):
  fashion/linear, fashion/mlp-tanh, fashion/mlp-relu: torch modules
      (nn.Linear / nn.Sequential) trained briefly in torch, exported with
      torch_export.export; data = the first n Fashion-MNIST training images
      (bin/import-idx, 784 pixels);
  fashion/fastif-mlp: a model trained by bin/train (L-BFGS), loaded into
      torch with torch_export.load (and re-exported: must be byte-identical);
  food/bow: nn.Sequential(EmbeddingBag(mode="mean"), Linear, Tanh, Linear)
      on the first n fine-food training reviews (bin/import-text); torch sees
      the bucket ids of torch_export.bow_ids (formats/model.md's featuriser),
      fastif the text; once with all parameters selected (--params all), so
      the embedding table's gradient and Hessian are checked too, and once
      with the default selection (dense layers only: fastif's H is then the
      dense block of torch's full Hessian).

For each case, with the exported f32 weights loaded into torch as float64:
  loss:  bin/eval's per-example loss vs torch cross-entropy;
  grad:  bin/grad (dense) vs functorch vmap(grad(per-example loss));
  hvp:   bin/ihvp --method hvp vs double backward of the training objective
         R = mean CE over the n examples + l2/2 sum ||w||^2 (weights only),
         for 3 random directions and 2 training-example gradients (bow: torch
         1.13 has no double backward through embedding_bag, so R's mean
         embedding is written as bag-matrix @ table, asserted equal to
         EmbeddingBag's output to 1e-12).
Errors are relative: per record ||fastif - torch|| / ||torch||, max over
records (and the max elementwise |diff| / max |torch|). fastif computes in
float32, so agreement means errors around 1e-6..1e-5. Exit status 1 when any
relative error exceeds --tol (default 1e-4).
"""

import argparse
import io
import lzma
import os
import subprocess
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from functorch import grad, vmap
from torch.nn.utils.stateless import functional_call

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fastif_stream as fs  # noqa: E402
import torch_export as te  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
L2 = 0.01


def tool(bin_dir, args, stdin=None):
    """Run a fastif tool; stdin is bytes or a path; returns stdout bytes."""
    exe = os.path.join(bin_dir, args[0])
    if isinstance(stdin, str):
        with open(stdin, "rb") as f:
            p = subprocess.run([exe] + args[1:], stdin=f, capture_output=True)
    else:
        p = subprocess.run([exe] + args[1:], input=stdin or b"", capture_output=True)
    if p.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{p.stderr.decode()}")
    return p.stdout


def records(b):
    return list(fs.read_stream(io.BytesIO(b)))


def rel_errs(got, want):
    """(max over rows of ||g-w||/||w||, max |g-w| / max |w|)."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    norm = max(np.linalg.norm(got - want, axis=1) / np.maximum(np.linalg.norm(want, axis=1), 1e-300))
    elem = np.abs(got - want).max() / np.abs(want).max()
    return float(norm), float(elem)


# ---- data ----
def fashion(bin_dir, work, n):
    path = os.path.join(work, "fashion.ex")
    b = tool(bin_dir, ["import-idx", "--images", f"{FASHION}/train-images-idx3-ubyte.gz",
                       "--labels", f"{FASHION}/train-labels-idx1-ubyte.gz", "--limit", str(n), "--fashion"])
    open(path, "wb").write(b)
    recs = records(b)
    X = torch.tensor(np.stack([r["x"] for r in recs]), dtype=torch.float64)
    y = torch.tensor([r["label"] for r in recs])
    return path, X, y


def food(bin_dir, work, n):
    csv = os.path.join(work, "fine-foods.csv")
    with lzma.open(os.path.join(HERE, "data", "fine-foods.csv.xz")) as f:
        open(csv, "wb").write(f.read())
    b = tool(bin_dir, ["import-text", "--text", "review", "--label", "score", "--classes", "great,other",
                       "--group", "product", "--where", "split=train", csv])
    recs = records(b)[:n]
    path = os.path.join(work, "food.ex")
    with open(path, "wb") as f:
        for r in recs:
            fs.write_record(f, r)
    y = torch.tensor([r["label"] for r in recs])
    return path, [r["text"] for r in recs], y


# ---- torch side: objective, per-example gradients, HVPs ----
class Dense:
    """Inputs of a linear/mlp FastifNet: x [n, d]."""

    def __init__(self, X):
        self.X = X

    def logits(self, net):
        return net(self.X)

    logits2 = logits

    def per_example_grads(self, net, y):
        params = {k: v.detach() for k, v in net.named_parameters()}

        def loss(p, x, t):
            return F.cross_entropy(functional_call(net, p, (x[None],)), t[None])
        g = vmap(grad(loss), in_dims=(None, 0, 0))(params, self.X, y)
        return torch.cat([g[k].reshape(len(y), -1) for k in params], 1)


class Bow:
    """Inputs of a bow FastifNet: bucket ids of each text (fastif's featuriser)."""

    def __init__(self, texts, buckets):
        self.ids = [te.bow_ids(t, buckets) for t in texts]
        self.buckets = buckets
        self.flat = torch.tensor([i for ids in self.ids for i in ids], dtype=torch.long)
        self.offsets = torch.tensor(np.cumsum([0] + [len(i) for i in self.ids[:-1]]), dtype=torch.long)

    def logits(self, net):
        return net(self.flat, self.offsets)   # nn.EmbeddingBag(mode="mean") with offsets

    def logits2(self, net):
        """The same logits twice differentiable: torch 1.13 has no double
        backward for embedding_bag, so the mean embedding is A @ E with the
        bag matrix A[i, b] = (count of b in example i) / (number of ids)."""
        A = torch.zeros(len(self.ids), self.buckets, dtype=net.embedding.weight.dtype)
        for r, ids in enumerate(self.ids):
            for b in ids:
                A[r, b] += 1.0 / len(ids)
        z = net.dense(A @ net.embedding.weight)
        with torch.no_grad():
            assert torch.allclose(z, self.logits(net), rtol=1e-12, atol=1e-12)
        return z

    def per_example_grads(self, net, y):
        # vmap needs equal lengths: pad with an extra all-zero row that
        # embedding_bag's padding_idx leaves out of each mean.
        L = max(1, max(len(i) for i in self.ids))
        pad = torch.full((len(self.ids), L), self.buckets, dtype=torch.long)
        for r, ids in enumerate(self.ids):
            pad[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        params = {k: v.detach() for k, v in net.named_parameters()}
        nl = len(net.layers)

        def loss(p, row, t):
            E = p["embedding.weight"]
            E = torch.cat([E, E.new_zeros(1, E.shape[1])])
            h = F.embedding_bag(row[None], E, mode="mean", padding_idx=self.buckets)
            for k in range(nl):
                h = h @ p[f"layers.{k}.weight"].T + p[f"layers.{k}.bias"]
                if k + 1 < nl:
                    h = net.act(h)
            return F.cross_entropy(h, t[None])
        with warnings.catch_warnings():   # functorch 1.13 has no batching rule for embedding_bag
            warnings.simplefilter("ignore", UserWarning)
            g = vmap(grad(loss), in_dims=(None, 0, 0))(params, pad, y)
        return torch.cat([g[k].reshape(len(y), -1) for k in params], 1)


def torch_hvps(net, inputs, y, l2, V):
    """H v for the objective mean CE + l2/2 sum_{*.weight} ||w||^2 (double backward)."""
    params = list(net.parameters())
    names = [k for k, _ in net.named_parameters()]
    R = F.cross_entropy(inputs.logits2(net), y)
    R = R + l2 / 2 * sum((p ** 2).sum() for k, p in zip(names, params) if k.endswith(".weight"))
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(R, params, create_graph=True)])
    out = []
    for v in V:
        hv = torch.autograd.grad(g @ v, params, retain_graph=True)
        out.append(torch.cat([t.reshape(-1) for t in hv]))
    return torch.stack(out)


def train_torch(module, forward, y, steps=150, seed=0):
    """A short full-batch Adam run in float32 on the same objective (so the
    checks are not at the initialisation)."""
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(forward(module), y)
        loss = loss + L2 / 2 * sum((p ** 2).sum() for k, p in module.named_parameters() if k.endswith("weight"))
        loss.backward()
        opt.step()
    return float(loss)


# ---- one case ----
def selection(net, params):
    """Boolean mask over the flattened parameters (model order) for --params
    'all', 'default' (all but embedding.weight) or a comma list of names."""
    names = [k for k, _ in net.named_parameters()]
    if params == "all":
        keep = set(names)
    elif params == "default":
        keep = {k for k in names if k != "embedding.weight"}
    else:
        keep = set(params.split(","))
    return np.concatenate([np.full(p.numel(), k in keep) for k, p in net.named_parameters()])


def check(name, bin_dir, work, model_path, data_path, inputs, y, params, nvec_rand=3, nvec_grad=2, seed=0):
    net, info = te.load(model_path, torch.float64)
    mask = selection(net, params)
    P = int(mask.sum())
    res = {"case": name, "P": P, "n": len(y)}
    # loss
    preds = records(tool(bin_dir, ["eval", "--model", model_path], data_path))
    with torch.no_grad():
        tl = F.cross_entropy(inputs.logits(net), y, reduction="none").numpy()
    res["loss"] = rel_errs(np.array([p["loss"] for p in preds])[None], tl[None])
    # per-example gradients over the selected parameters
    grecs = records(tool(bin_dir, ["grad", "--model", model_path, "--params", params], data_path))
    G = np.stack([r["grad"] for r in grecs]).astype(np.float64)
    TG = inputs.per_example_grads(net, y).numpy()[:, mask]
    res["grad"] = rel_errs(G, TG)
    # HVPs through the CLI; H of a selection = the block of the full Hessian
    rng = np.random.default_rng(seed)
    V = [rng.standard_normal(P).astype(np.float32) for _ in range(nvec_rand)] + [G[i].astype(np.float32) for i in range(nvec_grad)]
    buf = io.BytesIO()
    for i, v in enumerate(V):
        fs.write_record(buf, {"id": f"v{i}", "grad": v})
    hrecs = records(tool(bin_dir, ["ihvp", "--model", model_path, "--train", data_path, "--method", "hvp",
                                   "--params", params], buf.getvalue()))
    HV = np.stack([r["hvp"] for r in hrecs]).astype(np.float64)
    full = []
    for v in V:
        f = np.zeros(mask.size)
        f[mask] = v
        full.append(torch.tensor(f))
    THV = torch_hvps(net, inputs, y, info["l2"], full).numpy()[:, mask]
    res["hvp"] = rel_errs(HV, THV)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "bin"), help="fastif tools (default: ../bin)")
    ap.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("-n", type=int, default=200, help="training examples per data set")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative error accepted")
    a = ap.parse_args()
    import tempfile
    tmp = None
    if a.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="fastif-torch-")
        a.work = tmp.name
    os.makedirs(a.work, exist_ok=True)
    torch.manual_seed(0)
    results = []

    fpath, X, y = fashion(a.bin, a.work, a.n)
    X32 = X.float()
    mods = {
        "fashion/linear": nn.Linear(784, 10),
        "fashion/mlp-tanh": nn.Sequential(nn.Linear(784, 32), nn.Tanh(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 10)),
        "fashion/mlp-relu": nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10)),
    }
    for name, mod in mods.items():
        train_torch(mod, lambda m: m(X32), y)
        path = os.path.join(a.work, name.replace("/", "-") + ".model")
        te.export(mod, path, l2=L2)
        results.append(check(name, a.bin, a.work, path, fpath, Dense(X), y, "default"))

    # the other direction: a fastif-trained model in torch
    path = os.path.join(a.work, "fastif-mlp.model")
    open(path, "wb").write(tool(a.bin, ["train", "--arch", "mlp:32:tanh", "--optim", "lbfgs", "--l2", str(L2),
                                        "--max-iter", "300"], fpath))
    net, info = te.load(path)
    te.export(net, path + ".rt", info["l2"], info["classes"])
    same = open(path, "rb").read() == open(path + ".rt", "rb").read()
    r = check("fashion/fastif-mlp", a.bin, a.work, path, fpath, Dense(X), y, "default")
    r["roundtrip"] = same
    results.append(r)

    tpath, texts, ty = food(a.bin, a.work, a.n)
    buckets, dim = 2048, 16
    bow = nn.Sequential(nn.EmbeddingBag(buckets, dim, mode="mean"), nn.Linear(dim, 16), nn.Tanh(), nn.Linear(16, 2))
    nn.init.normal_(bow[0].weight, std=0.1)
    inp = Bow(texts, buckets)
    f32 = (inp.flat, inp.offsets)
    train_torch(bow, lambda m: m[1:](m[0](*f32)), ty)
    path = os.path.join(a.work, "food-bow.model")
    te.export(bow, path, l2=L2)
    results.append(check("food/bow", a.bin, a.work, path, tpath, inp, ty, "all"))
    results.append(check("food/bow --params default", a.bin, a.work, path, tpath, inp, ty, "default"))

    worst = 0.0
    print(f"{'case':26s} {'P':>7s} {'n':>4s}  {'loss rel':>9s}  {'grad rel (elem)':>19s}  {'hvp rel (elem)':>19s}")
    for r in results:
        print(f"{r['case']:26s} {r['P']:7d} {r['n']:4d}  {r['loss'][0]:9.2e}  {r['grad'][0]:9.2e} ({r['grad'][1]:7.1e})"
              f"  {r['hvp'][0]:9.2e} ({r['hvp'][1]:7.1e})" + (f"  re-export byte-identical: {r['roundtrip']}" if "roundtrip" in r else ""))
        worst = max(worst, r["loss"][0], r["grad"][0], r["hvp"][0])
    ok = worst <= a.tol and all(r.get("roundtrip", True) for r in results)
    print(f"largest relative error {worst:.2e} (tolerance {a.tol:g}): {'OK' if ok else 'FAIL'}")
    if tmp:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
