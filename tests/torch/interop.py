"""fastif_torch against the C tools (tests/16-torch.t).

    interop.py prepare DIR   torch: data, a FastifNet mlp exported with
                             torch_export, the adapter's streams through the
                             API (predictions, gradients, and the CLI models')
    interop.py dense DIR     numpy: dense gradient records rebuilt from the
                             adapter's factor records (for influence without --model)
    interop.py compare DIR   numpy: the adapter's streams against eval, grad
                             --factored and influence; prints ok/not ok lines
"""

import importlib.util
import os
import sys

import numpy as np

import fastif_stream as fs

HERE = os.path.dirname(os.path.abspath(__file__))


def read(path):
    with open(path, "rb") as f:
        return list(fs.read_stream(f))


def write(path, recs):
    with open(path, "wb") as f:
        for r in recs:
            fs.write_record(f, r)


def prepare(d):
    import torch
    import fastif_torch as ft
    import torch_export as te
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    C, D = 3, 12
    centers = rng.standard_normal((C, D)) * 1.5

    def examples(n, prefix, unlabelled=()):
        recs = []
        for i in range(n):
            y = int(rng.integers(C))
            r = {"id": f"{prefix}{i}", "label": y,
                 "x": (centers[y] + rng.standard_normal(D)).astype(np.float32)}
            if i in unlabelled:
                del r["label"]
            recs.append(r)
        return recs
    train, test = examples(60, "tr"), examples(9, "te", unlabelled=(4,))
    write(f"{d}/train", train)
    write(f"{d}/test", test)
    write(f"{d}/test-labelled", [r for r in test if "label" in r])
    net = te.FastifNet({"type": "mlp", "sizes": [D, 8, C], "activation": "tanh"})
    X = torch.from_numpy(np.stack([r["x"] for r in train]))
    Y = torch.tensor([r["label"] for r in train])
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(20):      # trained, not saturated: f32's p - 1 keeps its digits
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), Y).backward()
        opt.step()
    te.export(net, f"{d}/model", l2=1e-2, classes=["ant", "bee", "cat"])
    net, _ = te.load(f"{d}/model")
    net.eval()

    def batches(recs, n):
        for i in range(0, len(recs), n):
            b = recs[i:i + n]
            yield ([r["id"] for r in b], torch.from_numpy(np.stack([r["x"] for r in b])),
                   [r.get("label", -1) for r in b])
    ft.write_predictions(net, batches(test, 4), f"{d}/py-pred", classes=["ant", "bee", "cat"])
    ft.write_gradients(net, batches(train, 16), f"{d}/py-grad")
    ft.write_gradients(net, batches([r for r in test if "label" in r], 16), f"{d}/py-test-grad")

    # the command-line models: examples streams, state_dicts, API outputs
    spec = importlib.util.spec_from_file_location("models", f"{HERE}/models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    cnn = models.SmallCNN(channels=4).eval()
    torch.save(cnn.state_dict(), f"{d}/cnn.pt")
    imgs = [{"id": f"im{i}", "label": i % 3, "x": rng.standard_normal(36).astype(np.float32)}
            for i in range(11)]
    write(f"{d}/images", imgs)

    def image_batches(n):
        for i in range(0, len(imgs), n):
            b = imgs[i:i + n]
            yield ([r["id"] for r in b],
                   torch.from_numpy(np.stack([r["x"] for r in b])).reshape(len(b), 1, 6, 6),
                   [r["label"] for r in b])
    ft.write_gradients(cnn, image_batches(4), f"{d}/api-cnn-grad", label="sample", seed=3,
                       layers=["conv", "fc2"])
    ft.write_embeddings(cnn, "fc1", image_batches(4), f"{d}/api-cnn-emb")
    ft.write_predictions(cnn, image_batches(4), f"{d}/api-cnn-pred", classes=["a", "b", "c"])

    enc = models.TinyEncoder().eval()
    torch.save(enc.state_dict(), f"{d}/enc.pt")
    seqs = [{"id": f"s{i}", "label": i % 3,
             "tokens": rng.integers(1, 20, size=int(rng.integers(1, 7))).astype(np.int32)}
            for i in range(7)]
    write(f"{d}/seqs", seqs)

    def seq_batches(n):
        for i in range(0, len(seqs), n):
            b = seqs[i:i + n]
            L = max(len(r["tokens"]) for r in b)
            tok = torch.zeros(len(b), L, dtype=torch.long)
            pad = torch.ones(len(b), L, dtype=torch.bool)
            for j, r in enumerate(b):
                tok[j, :len(r["tokens"])] = torch.from_numpy(r["tokens"].astype(np.int64))
                pad[j, :len(r["tokens"])] = False
            yield [r["id"] for r in b], (tok, pad), [r["label"] for r in b]
    ft.write_gradients(enc, seq_batches(3), f"{d}/api-enc-grad", positions=lambda inp: ~inp[1])


def dense(d):
    """Dense records {id, label_kind, label, params, grad} rebuilt from factors."""
    for src, dst in (("py-grad", "py-dense"), ("py-test-grad", "py-test-dense")):
        out = []
        for r in read(f"{d}/{src}"):
            parts = []
            for p in r["params"].split(","):
                layer, kind = p.rsplit(".", 1)
                a = r["a." + layer].reshape(-1, r["a." + layer].shape[-1]).astype(np.float64)
                dl = r["delta." + layer].reshape(-1, r["delta." + layer].shape[-1]).astype(np.float64)
                parts.append((dl.T @ a).ravel() if kind == "weight" else dl.sum(0))
            out.append({"id": r["id"], "label_kind": r["label_kind"], "label": r["label"],
                        "params": r["params"], "grad": np.concatenate(parts).astype(np.float32)})
        write(f"{d}/{dst}", out)


def ok(desc, passed, detail=""):
    print(("ok" if passed else "not ok") + f" - {desc}" + (f"  # {detail}" if detail else ""))


def compare(d):
    ev, py = read(f"{d}/c-pred"), read(f"{d}/py-pred")
    same = [list(a) == list(b) and a["id"] == b["id"] and a.get("label") == b.get("label")
            and a["pred"] == b["pred"] and a.get("pred_name") == b.get("pred_name") for a, b in zip(ev, py)]
    dp = max(float(np.abs(a["probs"] - b["probs"]).max()) for a, b in zip(ev, py))
    dl = max(abs(a["loss"] - b["loss"]) / max(1.0, a["loss"]) for a, b in zip(ev, py) if "loss" in a)
    ok("write_predictions = eval on the exported FastifNet (fields and order, pred, label, "
       "pred_name; probs within 1e-6, loss within 1e-6 relative)",
       len(ev) == len(py) == 9 and all(same) and "loss" not in py[4] and dp <= 1e-6 and dl <= 1e-6,
       f"max |dprobs| {dp:.2g}, max rel dloss {dl:.2g}")

    cg, pg = read(f"{d}/c-grad"), read(f"{d}/py-grad")
    keys = all(set(b) - {"loss"} == set(a) and [k for k in b if k != "loss"] == list(a)
               for a, b in zip(cg, pg))
    meta = all(a["id"] == b["id"] and a["label"] == b["label"] and a["label_kind"] == b["label_kind"]
               and a["params"] == b["params"] for a, b in zip(cg, pg))
    err = 0.0
    for a, b in zip(cg, pg):
        for k in a:
            if isinstance(a[k], np.ndarray):
                same_shape = a[k].shape == b[k].shape and b[k].dtype == np.float32
                err = max(err, float(np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-30))
                          if same_shape else np.inf)
    ok("write_gradients = grad --factored on it: same keys in the same order (plus loss), "
       "ids, labels, params, factors within f32 tolerance",
       len(cg) == len(pg) == 60 and keys and meta and err <= 1e-5, f"max rel err {err:.2g}")

    S = np.stack([r["ihvp"] for r in read(f"{d}/ihvp")]).astype(np.float64)
    S2 = np.stack([r["ihvp"] for r in read(f"{d}/ihvp-py")]).astype(np.float64)
    e = float(np.abs(S2 - S).max() / np.abs(S).max())
    ok("ihvp --method exact on the adapter's test gradients (rebuilt dense) = on the examples",
       S.shape == S2.shape == (8, 131) and e <= 1e-4, f"max rel diff {e:.2g}")
    G = np.stack([r["grad"] for r in read(f"{d}/py-dense")]).astype(np.float64)
    want = -(G @ S.T).T                                # [T, N]
    worst = 0.0
    for name in ("scores-py-factored", "scores-c-factored", "scores-py-dense"):
        sc = read(f"{d}/{name}")
        got = np.stack([r["scores"] for r in sc]).astype(np.float64)
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
        if sc[0]["ids"] != [r["id"] for r in pg]:
            worst = np.inf
    ok("influence scores the adapter's factor records (--model) and their dense rebuild "
       "like grad's, = -g.s in numpy", worst <= 1e-5, f"max rel err {worst:.2g}")


if __name__ == "__main__":
    {"prepare": prepare, "dense": dense, "compare": compare}[sys.argv[1]](sys.argv[2])
