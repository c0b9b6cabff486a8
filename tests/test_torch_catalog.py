#!/usr/bin/python3
# PyTorch 1.13 as a peer for the forms of issue #15 it has (docs/formulations.md "Options and the
# sigmoid family"): probability targets with and without `weight` (k, k-logprob-weighted on soft
# targets), binary_cross_entropy_with_logits on smoothed targets (bce, bce-multilabel,
# bce-softmax-target, with `weight`), and the options written as PyTorch code (a logit scale,
# C tanh(z/C), a z-loss term, sample weights with a weighted mean). Each PyTorch value, in float64
# and float32, is measured by `lsce check` against the certified reference; the table prints the ulp
# figures, and the test passes when float64 is within 16 ulps and float32 within 16 float32 ulps.
#
# Usage: /usr/bin/python3 tests/test_torch_catalog.py PATH/TO/lsce   (exit 77 without torch)

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import test_oracle as base  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    print("skip: no torch")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)


def forms(rs):
    N, K = 8, 6
    z = rs.standard_normal((N, K)) * 3
    y = rs.randint(0, K, size=N)
    t = rs.dirichlet(np.ones(K), size=N)
    b = (rs.rand(N, K) < 0.3).astype(np.float64)
    w = rs.uniform(0.2, 2, size=K)
    s = rs.choice([0.0, 0.5, 1.0, 2.0], size=N)
    e = 0.1
    out = []

    def tz(dt):
        return torch.tensor(z, dtype=dt)

    out.append(("k soft targets", z, t, None, None, "k", [],
                lambda dt: F.cross_entropy(tz(dt), torch.tensor(t, dtype=dt), label_smoothing=e)))
    out.append(("k-logprob-weighted soft + weight", z, t, w, None, "k-logprob-weighted", [],
                lambda dt: F.cross_entropy(tz(dt), torch.tensor(t, dtype=dt),
                                           weight=torch.tensor(w, dtype=dt), label_smoothing=e)))
    oh = np.eye(K)[y]
    out.append(("bce index targets + weight", z, y, w, None, "bce", [],
                lambda dt: F.binary_cross_entropy_with_logits(
                    tz(dt), torch.tensor(oh * (1 - e) + e / 2, dtype=dt),
                    weight=torch.tensor(w, dtype=dt))))
    out.append(("bce soft targets", z, t, None, None, "bce", [],
                lambda dt: F.binary_cross_entropy_with_logits(
                    tz(dt), torch.tensor(t * (1 - e) + e / 2, dtype=dt))))
    out.append(("bce-multilabel (mmpretrain)", z, b, None, None, "bce-multilabel", [],
                lambda dt: F.binary_cross_entropy_with_logits(
                    tz(dt), torch.tensor(np.where(b > 0, 1 - e, e), dtype=dt))))
    out.append(("bce-softmax-target (timm)", z, y, None, None, "bce-softmax-target", [],
                lambda dt: F.binary_cross_entropy_with_logits(
                    tz(dt), torch.tensor(oh * (1 - e) + e / K, dtype=dt))))
    out.append(("logit scale 0.5", z, y, None, None, "k", ["--logit-scale", "0.5"],
                lambda dt: F.cross_entropy(tz(dt) * 0.5, torch.tensor(y), label_smoothing=e)))
    out.append(("softcap 2.5", z, y, None, None, "k", ["--softcap", "2.5"],
                lambda dt: F.cross_entropy(2.5 * torch.tanh(tz(dt) / 2.5), torch.tensor(y),
                                           label_smoothing=e)))

    def zl(dt):
        x = tz(dt)
        return F.cross_entropy(x, torch.tensor(y), label_smoothing=e) + \
            0.25 * (torch.logsumexp(x, dim=1) ** 2).mean()
    out.append(("z-loss 0.25", z, y, None, None, "k", ["--z-loss", "0.25"], zl))

    def swm(dt):
        r = F.cross_entropy(tz(dt), torch.tensor(y), label_smoothing=e, reduction="none")
        sw = torch.tensor(s, dtype=dt)
        return (r * sw).sum() / sw.sum()
    out.append(("sample weights, weighted mean", z, y, None, s, "k",
                ["--normalizer", "sample-weights"], swm))
    return out


def main():
    lsce = os.path.abspath(sys.argv[1])
    t = base.Tally()
    rs = np.random.RandomState(1513)
    with tempfile.TemporaryDirectory() as d:
        print("%-36s %10s %10s" % ("form", "float64", "float32"))
        for k, (name, z, tg, w, s, variant, extra, fn) in enumerate(forms(rs)):
            figs = []
            for dt, dname, ldt in ((torch.float64, "float64", "float64"), (torch.float32, "float32", "float32")):
                zz = z if dname == "float64" else z.astype(np.float32).astype(np.float64)
                L = os.path.join(d, "%d-%s-z.npy" % (k, dname))
                T = os.path.join(d, "%d-t.npy" % k)
                np.save(L, zz.astype(dname))
                tg_a = np.asarray(tg)
                np.save(T, tg_a.astype(np.float64) if tg_a.ndim == 2 else tg_a.astype(np.int64))
                cmd = [lsce, "check", "--logits", L, "--targets", T, "--variant", variant,
                       "--smoothing", "0.1", "--max-ulp", "16", "--loss-dtype", ldt] + extra
                if w is not None:
                    W = os.path.join(d, "%d-w.npy" % k)
                    np.save(W, np.asarray(w, dtype=dname))
                    cmd += ["--weights", W]
                if s is not None:
                    S = os.path.join(d, "%d-s.npy" % k)
                    np.save(S, np.asarray(s))
                    cmd += ["--sample-weights", S]
                val = float(fn(dt).item())  # float32: PyTorch on the float32-rounded inputs
                rc, out, err = base.run_cmd(cmd + ["--loss", repr(val)])
                m = re.search(r"loss ulp=(\S+)", out)
                figs.append(m.group(1) if m else "?")
                t.ok(rc == 0, "torch %s %s: exit %d %s %s" % (name, dname, rc, out.strip(), err.strip()))
            print("%-36s %10s %10s" % (name, figs[0], figs[1]))
    t.finish()


if __name__ == "__main__":
    main()
