"""fastif_torch.write_gradients against functorch per-example gradients:
each case writes records, rebuilds dense gradients from them with numpy
(ref.reconstruct) and compares with vmap(grad) / grad of each example."""

import io

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import fastif_torch as ft
from ref import check, loop_grads, max_rel, one_grad, reconstruct, records, vmap_grads

torch.manual_seed(0)
TOL64, TOL32 = 1e-6, 2e-5      # f64 models (f32 records) and f32 models


def ids_for(n, prefix="e"):
    return [f"{prefix}{i}" for i in range(n)]


def write(model, batches, **kw):
    buf = io.BytesIO()
    ft.write_gradients(model, batches, buf, **kw)
    return records(buf)


def shapes(model):
    return {n: tuple(p.shape) for n, p in model.named_parameters()}


def against_vmap(model, inputs, y, factored, tol=TOL64, batch=None, reference=vmap_grads, **kw):
    """Records vs vmap(grad); factored: the layer names that must travel as factors."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    B = y.shape[0]
    ids, batch = ids_for(B), batch or B
    recs = write(model, [(ids[i:i + batch], tuple(x[i:i + batch] for x in inputs), y[i:i + batch])
                         for i in range(0, B, batch)], **kw)
    names = recs[0]["params"].split(",")
    ref = reference(model, inputs, y, names=set(names))
    sh = shapes(model)
    err = max(max_rel(reconstruct(r, sh), {n: v[i] for n, v in ref.items()}) for i, r in enumerate(recs))
    have = {k[2:] for k in recs[0] if k.startswith("a.")}
    ok = err <= tol and have == set(factored) and [r["id"] for r in recs] == ids
    return ok, f"max rel err {err:.2g}, factored {sorted(have)}"


class MLP(nn.Module):
    def __init__(self, bias=True):
        super().__init__()
        self.l1, self.l2 = nn.Linear(7, 9, bias=bias), nn.Linear(9, 3, bias=bias)
        self.act = nn.ReLU(inplace=True)      # in place on a hooked output

    def forward(self, x):
        return self.l2(self.act(self.l1(x)))


X7, Y3 = torch.randn(10, 7, dtype=torch.float64), torch.randint(0, 3, (10,))
for bias in (True, False):
    check(f"Linear (bias={bias}, in-place ReLU after it) reconstructs vmap(grad)",
          lambda: against_vmap(MLP(bias).double().eval(), X7, Y3, ["l1", "l2"], batch=4))
check("Linear records: 1-D factors a.l1 [in], delta.l1 [out] (as grad --factored), loss = CE",
      lambda: (lambda r: (r["a.l1"].shape == (7,) and r["delta.l1"].shape == (9,)
                          and r["a.l1"].dtype == np.float32 and r["label_kind"] == "gold"
                          and list(r)[:4] == ["id", "label_kind", "label", "params"]
                          and abs(r["loss"] - F.cross_entropy(MLP_M(X7[:1]), Y3[:1]).item()) < 1e-9,
                          ""))(write(MLP_M := MLP().double().eval(), [(["a"], X7[:1], Y3[:1])])[0]))


class Conv1Net(nn.Module):
    def __init__(self, bias=True):
        super().__init__()
        self.c = nn.Conv1d(8, 16, 3, stride=2, padding=2, dilation=2, bias=bias)       # r = 5
        self.r = nn.Conv1d(16, 16, 2, padding=1, padding_mode="reflect", bias=bias)    # r = 6
        self.fc = nn.Linear(16 * 6, 3)

    def forward(self, x):
        return self.fc(torch.tanh(self.r(torch.tanh(self.c(x)))).flatten(1))


class Conv2Net(nn.Module):
    def __init__(self, bias=True):
        super().__init__()
        self.c1 = nn.Conv2d(6, 16, 3, stride=2, padding=1, bias=bias)                  # 3x3
        self.c2 = nn.Conv2d(16, 16, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1),
                            bias=bias)                                                  # 3x2
        self.c3 = nn.Conv2d(16, 16, 3, padding="same", padding_mode="circular", bias=bias)
        self.fc = nn.Linear(16 * 6, 4)

    def forward(self, x):
        h = F.relu(self.c1(x))
        h = F.relu(self.c3(F.relu(self.c2(h))))
        return self.fc(h.flatten(1))


X1 = torch.randn(6, 8, 9, dtype=torch.float64)
X2 = torch.randn(6, 6, 5, 5, dtype=torch.float64)
Y4 = torch.randint(0, 3, (6,))
for bias in (True, False):
    check(f"Conv1d (stride 2, padding 2, dilation 2; reflect padding; bias={bias}) reconstructs",
          lambda: against_vmap(Conv1Net(bias).double().eval(), X1, Y4, ["c", "r", "fc"]))
    check(f"Conv2d (stride, padding, dilation, 'same' circular; bias={bias}) reconstructs",
          lambda: against_vmap(Conv2Net(bias).double().eval(), X2, Y4, ["c1", "c2", "c3", "fc"]))
check("Conv2d net in float32 reconstructs to f32 precision",
      lambda: against_vmap(Conv2Net().eval(), X2.float(), Y4, ["c1", "c2", "c3", "fc"], tol=TOL32))
check("a.c1 rows are the output locations (im2col [r, C_in*kh*kw])",
      lambda: (lambda r: (r["a.c1"].shape == (9, 54) and r["delta.c1"].shape == (9, 16),
                          str(r["a.c1"].shape)))(
          write(Conv2Net().double().eval(), [(["a"], X2[:1], Y4[:1])])[0]))


class Grouped(nn.Module):
    def __init__(self):
        super().__init__()
        self.g = nn.Conv2d(4, 6, 3, groups=2)
        self.small = nn.Linear(2, 2)          # r(in+out) = 4 >= in*out = 4: dense
        self.fc = nn.Linear(6 * 25 + 2, 3)

    def forward(self, x):
        h = torch.tanh(self.g(x)).flatten(1)
        return self.fc(torch.cat([h, self.small(h[:, :2])], 1))


check("grouped Conv2d and a Linear with r(in+out) >= in*out travel dense, exact",
      lambda: (lambda m: (lambda res, r: (res[0] and "grad.g.weight" in r and "grad.small.bias" in r
                                          and r["grad.g.weight"].shape == (6, 2, 3, 3), res[1]))(
          against_vmap(m, torch.randn(5, 4, 7, 7, dtype=torch.float64), Y4[:5], ["fc"]),
          write(m, [(["a"], torch.randn(1, 4, 7, 7, dtype=torch.float64), Y4[:1])])[0]))(
          Grouped().double().eval()))

check("factors='always': the Linear that went dense travels as factors, still exact; the grouped "
      "Conv2d stays dense",
      lambda: against_vmap(Grouped().double().eval(), torch.randn(5, 4, 7, 7, dtype=torch.float64),
                           Y4[:5], ["fc", "small"], factors="always"))


class Conv1D(nn.Module):
    """GPT-2's Conv1D as transformers writes it: weight [in, out]."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.3)
        self.bias = nn.Parameter(torch.randn(nf) * 0.1)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)


class GPTish(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.c_fc, self.c_proj = Conv1D(12, 6), Conv1D(6, 12)
        self.head = nn.Linear(6, 3)

    def forward(self, tok):
        h = self.emb(tok)
        h = h + self.c_proj(F.gelu(self.c_fc(h)))
        return self.head(h.mean(1))


check("GPT-2 Conv1D (weight [in, out]) travels dense grad.NAME.weight [in, out], exact",
      lambda: (lambda m: (lambda res, r: (res[0] and r["grad.c_fc.weight"].shape == (6, 12), res[1]))(
          against_vmap(m, torch.randint(0, 11, (6, 5)), Y4, ["head"]),
          write(m, [(["a"], torch.randint(0, 11, (1, 5)), Y4[:1])])[0]))(GPTish().double().eval()))


class Shared(nn.Module):
    """One Linear applied twice (rows concatenate) and a tied weight."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.emb = nn.Embedding(5, 8)
        self.out = nn.Linear(8, 5, bias=False)
        self.out.weight = self.emb.weight      # tied: must go dense

    def forward(self, x, tok):
        h = torch.tanh(self.lin(torch.tanh(self.lin(x)))) + self.emb(tok)
        return self.out(h)


check("a layer called twice concatenates its rows (r = 2); a tied weight goes dense",
      lambda: (lambda m: (lambda res, r: (res[0] and r["a.lin"].shape == (2, 8)
                                          and "grad.emb.weight" in r, res[1]))(
          against_vmap(m, (torch.randn(6, 8, dtype=torch.float64), torch.randint(0, 5, (6,))),
                       torch.randint(0, 5, (6,)), ["lin"], reference=loop_grads),
          write(m, [(["a"], (torch.randn(1, 8, dtype=torch.float64), torch.tensor([1])),
                     torch.tensor([2]))])[0]))(Shared().double().eval()))


class Encoder(nn.Module):
    """A small transformer classifier over padded token batches."""

    def __init__(self, batch_first):
        super().__init__()
        self.batch_first = batch_first
        self.emb = nn.Embedding(30, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=batch_first)
        self.enc = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(16, 3)

    def forward(self, tok, pad):
        h = self.emb(tok)
        h = self.enc(h if self.batch_first else h.transpose(0, 1), src_key_padding_mask=pad)
        h = h if self.batch_first else h.transpose(0, 1)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        return self.head((h * keep).sum(1) / keep.sum(1))


def transformer_case(batch_first):
    m = Encoder(batch_first).double().eval()
    lens = [7, 4, 6, 2, 5]
    B, n = len(lens), max(lens)
    tok = torch.randint(1, 30, (B, n))
    pad = torch.arange(n)[None, :] >= torch.tensor(lens)[:, None]
    tok[pad] = 0
    y = torch.tensor([0, 2, 1, 1, 0])
    recs = write(m, [(ids_for(B), (tok, pad), y)], positions=lambda inp: ~inp[1])
    sh, err = shapes(m), 0.0
    rows_ok = True
    for i, r in enumerate(recs):     # each example alone, unpadded
        ref = one_grad(m, (tok[i:i + 1, :lens[i]], pad[i:i + 1, :lens[i]]), y[i:i + 1])
        err = max(err, max_rel(reconstruct(r, sh), ref))
        rows_ok &= all(r[f"a.enc.layers.{k}.linear{j}"].shape[0] == lens[i] for k in (0, 1) for j in (1, 2))
    fac = {k[2:] for k in recs[0] if k.startswith("a.")}
    want = {f"enc.layers.{k}.linear{j}" for k in (0, 1) for j in (1, 2)} | {"head"}
    top = write(m, [(ids_for(B), (tok, pad), y)], positions=lambda inp: ~inp[1], layers=["enc.layers.1"])
    top_ok = all(p.startswith("enc.layers.1.") for p in top[0]["params"].split(","))
    return (err <= TOL64 and rows_ok and fac == want and top_ok
            and "grad.enc.layers.0.self_attn.in_proj_weight" in recs[0],
            f"max rel err {err:.2g}, rows = lengths {rows_ok}, factored {sorted(fac)}")


for bf in (False, True):
    check(f"token-wise Linear in nn.TransformerEncoder (batch_first={bf}), variable lengths, "
          "padding masked: r = length, matches each unpadded example", lambda: transformer_case(bf))


def padding_leak():
    m = Encoder(True).double().eval()
    tok = torch.randint(1, 30, (2, 5))
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    try:   # the model sees no mask: padded positions feed the loss
        write(m, [(["a", "b"], (tok, torch.zeros_like(pad)), torch.tensor([0, 1]))],
              positions=lambda inp: ~pad)
    except ft.FastifTorchError as e:
        return "padded positions carry gradient" in str(e), str(e)
    return False, "accepted"


check("positions marked padding that do carry gradient are refused", padding_leak)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 9, 3)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


def batchnorm():
    m = BNNet().double()
    x, y = torch.randn(4, 8, 5, 5, dtype=torch.float64), Y4[:4]
    try:
        write(m.train(), [(ids_for(4), x, y)])
        return False, "train mode accepted"
    except ft.FastifTorchError as e:
        msg = str(e)
    if "'bn'" not in msg or "training mode" not in msg:
        return False, msg
    m.bn.running_mean.normal_()           # eval mode: running statistics, per-example
    res = against_vmap(m.eval(), x, y, ["conv", "fc"])
    return res[0], res[1] + "; refused: " + msg[:60]


check("BatchNorm in training mode is refused naming it; in eval mode accepted and exact", batchnorm)


def sampling():
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(4, 3)).double().eval()
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[0.5, 0, 0, 0], [0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        m[0].bias.zero_()
    N = 3000
    x = torch.tensor([[1.0, 0.3, -0.2, 0.1]], dtype=torch.float64).repeat(N, 1)
    p = torch.softmax(m(x[:1]), 1)[0].detach().numpy()
    ids = ids_for(N)
    bat = [(ids[i:i + 500], x[i:i + 500], None) for i in range(0, N, 500)]
    ra = write(m, bat, label="sample", seed=7)
    a = [r["label"] for r in ra]
    a2 = [r["label"] for r in write(m, [(ids, x, None)], label="sample", seed=7)]   # other batching
    b = [r["label"] for r in write(m, bat, label="sample", seed=8)]
    cnt = np.bincount(a, minlength=3)
    chi2 = float(((cnt - N * p) ** 2 / (N * p)).sum())     # df = 2: P(chi2 > 18.4) = 1e-4
    pred = write(m, bat[:1], label="pred")
    ok = (chi2 < 18.4 and a == a2 and a != b and all(r["label_kind"] == "sample" for r in ra)
          and {r["label"] for r in pred} == {int(np.argmax(p))})
    return ok, f"counts {cnt.tolist()} vs N*p {np.round(N * p, 1).tolist()}, chi2 {chi2:.2f}"


check("label='sample' is seeded (same seed, any batching, same labels) and follows the softmax "
      "(chi-square); label='pred' is the argmax", sampling)


def user_loss():
    m = MLP().double().eval()
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)

    def wce(out, y):
        return F.cross_entropy(out, y, weight=w, reduction="none")
    r1 = write(m, [(ids_for(10), X7, Y3)], loss=wce)
    r2 = write(m, [(ids_for(10), X7, Y3)], loss=lambda o, y: wce(o, y).sum())
    ref = vmap_grads(m, (X7,), Y3, loss=lambda o, y: wce(o, y).sum())
    err = max(max_rel(reconstruct(r, shapes(m)), {n: v[i] for n, v in ref.items()}) for i, r in enumerate(r1))
    lv = wce(m(X7), Y3).detach().numpy()
    ok = (err <= TOL64 and "loss" not in r2[0] and np.allclose([r["loss"] for r in r1], lv, rtol=1e-12)
          and all(np.array_equal(a["a.l1"], b["a.l1"]) for a, b in zip(r1, r2)))
    return ok, f"max rel err {err:.2g}"


check("a user loss (per-example vector, or its sum: then no loss field) reconstructs", user_loss)


def refusals():
    m = MLP().double().eval()
    msgs = []
    for kw, batch in [({"layers": ["nope"]}, (["a"], X7[:1], Y3[:1])),
                      ({}, (["a", "b"], X7[:2], None)),
                      ({}, (["a", "a"], X7[:2], Y3[:2])),
                      ({}, (["a b"], X7[:1], Y3[:1])),
                      ({"label": "best"}, (["a"], X7[:1], Y3[:1])),
                      ({}, (["a"], X7[:1], torch.tensor([5])))]:
        try:
            write(m, [batch], **kw)
            msgs.append("accepted")
        except ft.FastifTorchError as e:
            msgs.append(str(e))
    want = ["'nope'", "record 'a' (#0): no label", "record 'a' (#1): duplicate id", "whitespace",
            "label must be one of", "label 5 is not below 3"]
    return all(w in m for w, m in zip(want, msgs)), " | ".join(msgs)


check("bad input is refused naming the record or module (unknown layer, no label, duplicate id, "
      "bad id, bad label)", refusals)


def half_written():
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        m = MLP().double().eval()
        try:
            ft.write_gradients(m, [(["a"], X7[:1], Y3[:1]), (["b"], X7[:1], torch.tensor([9]))],
                               os.path.join(d, "g"))
            return False, "accepted"
        except ft.FastifTorchError:
            left = os.listdir(d)
        return left == [], str(left)


check("a failed write leaves no file behind", half_written)


class Aux(nn.Module):
    """An auxiliary head computed but not in the loss: zero delta, zero gradient."""

    def __init__(self):
        super().__init__()
        self.body, self.aux, self.head = nn.Linear(7, 6), nn.Linear(6, 5), nn.Linear(6, 3)
        self.last_aux = None

    def forward(self, x):
        h = torch.tanh(self.body(x))
        self.last_aux = self.aux(h)
        return self.head(h)


check("a layer whose output does not reach the loss gets zero factors (delta = 0), exact",
      lambda: (lambda m: (lambda res, r: (res[0] and not r["delta.aux"].any(), res[1]))(
          against_vmap(m, X7, Y3, ["body", "aux", "head"]),
          write(m, [(["a"], X7[:1], Y3[:1])])[0]))(Aux().double().eval()))


def helper_batches():
    m = Shared().double().eval()
    x, tok, y = torch.randn(7, 8, dtype=torch.float64), torch.randint(0, 5, (7,)), torch.randint(0, 5, (7,))
    by_hand = write(m, [(["t0", "t1", "t2"], (x[:3], tok[:3]), y[:3]),
                        (["t3", "t4", "t5"], (x[3:6], tok[3:6]), y[3:6]),
                        (["t6"], (x[6:], tok[6:]), y[6:])])
    helped = write(m, ft.batches((x, tok), y, prefix="t", size=3))
    same = [r["id"] for r in by_hand] == [r["id"] for r in helped] and all(
        all(np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k] for k in a)
        for a, b in zip(by_hand, helped))
    try:
        list(ft.batches(x, y, ids=["a"]))
        return False, "7 examples with 1 id accepted"
    except ft.FastifTorchError as e:
        return same, str(e)


check("ft.batches slices tensors (tuple inputs) as batching by hand does; counts checked", helper_batches)
