#!/usr/bin/env python3
"""trust.py - helpers of trust.sh (issue 13's measurement).

  trust.py features IMAGES EMBEDDINGS > examples   the embeddings as examples (x = emb)
  trust.py report N > markdown                     fastif's scores against exact influence

Exact influence is computed here, independently of fastif's solvers: the
head's mean loss + l2/2 |w|^2 in PyTorch (float64), its Hessian (autograd)
or Gauss-Newton matrix (J^T (diag p - pp^T) J + l2 from the logits'
Jacobian), the pseudo-inverse (eigenvalues below 1e-9 x the largest
dropped), s = pinv v for the test loss gradient v, and scores -g_i . s with
the per-example training gradients g_i from autograd."""
import glob, os, sys

import msgpack
import numpy as np


def rd(f):
    with open(f, 'rb') as fh:
        return list(msgpack.Unpacker(fh, raw=False))


def vec(t):
    return np.frombuffer(t['data'], '<f4').astype(float).reshape(t['shape'])


def features(img, emb):
    E = {r['id']: r['emb'] for r in rd(emb)}
    out = sys.stdout.buffer
    for r in rd(img):
        rec = {'id': r['id'], 'label': r['label'], 'x': E[r['id']]}
        if 'label_name' in r:
            rec['label_name'] = r['label_name']
        out.write(msgpack.packb(rec))


class Head:
    """A fastif linear/mlp model file as a function of its flat parameters."""

    def __init__(self, path):
        import torch
        self.torch = torch
        m = rd(path)[0]
        self.names = list(m['params'])
        self.shapes = [m['params'][n]['shape'] for n in self.names]
        self.theta = torch.tensor(np.concatenate([vec(m['params'][n]).ravel() for n in self.names]))
        self.act = torch.relu if m['arch'].get('activation') == 'relu' else torch.tanh
        self.l2 = m['l2']
        self.w = torch.tensor(np.concatenate([np.full(int(np.prod(s)), n.endswith('.weight'), float)
                                              for n, s in zip(self.names, self.shapes)]))

    def logits(self, th, X):
        a, o, L = X, 0, len(self.names) // 2
        for k in range(L):
            out, inp = self.shapes[2 * k]
            W = th[o:o + out * inp].reshape(out, inp); o += out * inp
            b = th[o:o + out]; o += out
            a = a @ W.T + b
            if k < L - 1:
                a = self.act(a)
        return a

    def losses(self, th, X, y):
        return self.torch.nn.functional.cross_entropy(self.logits(th, X), y, reduction='none')

    def objective(self, th, X, y):
        return self.losses(th, X, y).mean() + 0.5 * self.l2 * (self.w * th * th).sum()

    def hessian(self, X, y):
        torch = self.torch
        g = lambda th: torch.autograd.grad(self.objective(th, X, y), th, create_graph=True)[0]
        th = self.theta.clone().requires_grad_(True)
        return torch.autograd.functional.jacobian(g, th, vectorize=True).detach().numpy()

    def ggn(self, X, chunk=250):
        torch = self.torch
        P = len(self.theta)
        G = np.zeros((P, P))
        for i in range(0, len(X), chunk):
            Xc = X[i:i + chunk]
            J = torch.autograd.functional.jacobian(lambda th: self.logits(th, Xc), self.theta,
                                                   vectorize=True).numpy()  # [n, C, P]
            p = torch.softmax(self.logits(self.theta, Xc), 1).numpy()
            # diag p - pp^T = L L^T with L = diag(sqrt p) - p sqrt(p)^T (as sum p = 1)
            q = np.sqrt(p)
            Lt = np.einsum('nc,cd->ncd', q, np.eye(p.shape[1])) - np.einsum('nc,nd->ncd', q, p)
            A = np.einsum('ncd,ndp->ncp', Lt, J).reshape(-1, P)  # L^T J, stacked
            G += A.T @ A
        return G / len(X) + np.diag(self.l2 * self.w.numpy())

    def grads(self, X, y, chunk=500):
        torch = self.torch
        out = []
        for i in range(0, len(X), chunk):
            f = lambda th: self.losses(th, X[i:i + chunk], y[i:i + chunk])
            out.append(torch.autograd.functional.jacobian(f, self.theta, vectorize=True).numpy())
        return np.concatenate(out)


def pinv_solve(H, V):
    lam, Q = np.linalg.eigh(H)
    keep = np.abs(lam) > 1e-9 * np.abs(lam).max()
    inv = np.where(keep, 1 / np.where(keep, lam, 1), 0)
    return (Q * inv) @ (Q.T @ V.T), lam


def data(path):
    import torch
    rs = rd(path)
    X = torch.tensor(np.array([vec(r['x']) for r in rs]))
    y = torch.tensor([r['label'] for r in rs])
    return [r['id'] for r in rs], X, y


def fastif_scores(name, ids):
    pos = {i: k for k, i in enumerate(ids)}
    out = {}
    for r in rd(name + '.scores'):
        s = vec(r['scores'])
        a = np.empty(len(ids))
        a[[pos[i] for i in r['ids']]] = s
        out[r['id']] = a
    return out


def compare(got, want):
    """median and min Pearson, mean top-10 helpful / harmful overlap."""
    pr, hel, har = [], [], []
    for q, w in want.items():
        g = got[q]
        pr.append(np.corrcoef(g, w)[0, 1])
        hel.append(len(set(np.argsort(g)[:10]) & set(np.argsort(w)[:10])))
        har.append(len(set(np.argsort(-g)[:10]) & set(np.argsort(-w)[:10])))
    return np.median(pr), min(pr), np.mean(hel), min(hel), np.mean(har), min(har)


def run_info(name):
    err = open(name + '.err').read()
    if not os.path.exists(name + '.ihvp'):
        last = [l for l in err.splitlines() if 'error' in l]
        return None, (last[-1] if last else 'failed')
    rs = rd(name + '.ihvp')
    res = max(r.get('residual', float('nan')) for r in rs)
    warned = 'yes' if 'warning:' in err else 'no'
    return rs[0], '%s%s, shift %.3g, residual max %.3g, warning: %s' % (
        rs[0]['method'], ' (ggn)' if rs[0].get('hessian') == 'ggn' else '', rs[0]['shift'], res, warned)


def report(n):
    import torch
    torch.set_num_threads(2)
    tr_ids, X, y = data('tr.mp')
    rows = []
    print('Exact influence over all %s training images, %s misclassified test images per head '
          '(Pearson: median, min over them; top-10 overlap: mean, min).\n' % (n, len(rd('linear-q.mp'))))
    print('| head | setting | what ran | Pearson vs exact | top-10 helpful | top-10 harmful |')
    print('|---|---|---|---|---|---|')
    for head, settings, curvs in (
            ('linear', [('lin-before', 'before: --method lissa --hessian full'),
                        ('lin-after', 'after: every default'),
                        ('lin-cg', '--method cg (the warning\'s advice)'),
                        ('lin-exact', '--method exact'),
                        ('lin-exact0', '--method exact --damping 0'),
                        ('lin-exact-old', '--method exact --damping 0.005 (the old default ridge)')], ['H']),
            ('mlp', [('mlp-before', 'before: --method lissa --hessian full'),
                     ('mlp-after', 'after: every default'),
                     ('mlp-lissa-ggn', '--method lissa --hessian ggn'),
                     ('mlp-cg-full', '--method cg --hessian full'),
                     ('mlp-cg-ggn', '--method cg --hessian ggn'),
                     ('mlp-exact-ggn', '--method exact --hessian ggn')], ['H', 'G'])):
        h = Head(head + '.model')
        q_ids, Xq, yq = data(head + '-q.mp')
        Vq = h.grads(Xq, yq)
        Gtr = h.grads(X, y)
        exact = {}
        for c in curvs:
            C = h.hessian(X, y) if c == 'H' else h.ggn(X)
            S, lam = pinv_solve(C, Vq)
            sc = -(Gtr @ S)
            exact[c] = {q: sc[:, k] for k, q in enumerate(q_ids)}
            print('<!-- %s %s: P = %d, eigenvalues %.3g .. %.3g -->' % (head, c, len(lam), lam[0], lam[-1]))
        for name, label in settings:
            rec, what = run_info(name)
            if rec is None:
                print('| %s | %s | %s | — | — | — |' % (head, label, what.replace('|', '/')))
                continue
            got = fastif_scores(name, tr_ids)
            for c in curvs:
                m = compare(got, exact[c])
                print('| %s | %s | %s | vs exact %s: %.3f (%.3f) | %.1f (%d) | %.1f (%d) |' % (
                    head, label, what, c, m[0], m[1], m[2], m[3], m[4], m[5]))


if __name__ == '__main__':
    if sys.argv[1] == 'features':
        features(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'report':
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
