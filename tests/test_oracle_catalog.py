#!/usr/bin/python3
# `lsce reference` against the independent oracle of tests/oracle_catalog.py, bit for bit, on the
# options and variants of issue #15 (docs/formulations.md "Options and the sigmoid family"): random
# cases of every option and variant in every logits dtype, with masked classes, ignored rows
# holding garbage, sample weights with zeros and every normalizer; the edge fixtures (soft-cap
# saturation, z-loss with lse near 100, all-ignored batches under each normalizer); and the
# command-line contract of the new options (exit 2 with one line, nothing on stdout).
#
# Usage: /usr/bin/python3 tests/test_oracle_catalog.py PATH/TO/lsce [PATH/TO/lsce-dev]
# (with lsce-dev, also the diagnosis's two wrong soft-cap forms, cap_form_cases)
# Last line: "N passed, M failed, S skipped"; exit 0 iff M == 0.

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import test_oracle as base  # noqa: E402
import oracle_catalog as oc  # noqa: E402

DTYPES = base.DTYPES
NAN, INF = float("nan"), float("inf")


class Prob:
    """Files of one problem: logits (stored dtype), index or soft targets, optional class weights
    and sample weights."""

    def __init__(self, d, name, z, dtype, targets, w=None, sw=None, t_dtype=None, sw_dtype="float64"):
        os.makedirs(d, exist_ok=True)
        self.d, self.name, self.dtype = d, name, dtype
        stored = base.cast_logits(z, dtype)
        self.z = base.stored_to_f64(stored, dtype)
        self.L = os.path.join(d, name + "-logits.npy")
        np.save(self.L, stored)
        tg = np.asarray(targets)
        self.soft = tg.ndim == 2
        if self.soft:
            ta = tg.astype(t_dtype or "float64")
            self.t = ta.astype(np.float64)
        else:
            ta = tg.astype(t_dtype or "int64")
            self.t = ta.astype(np.int64)
        self.T = os.path.join(d, name + "-targets.npy")
        np.save(self.T, ta)
        self.w = self.W = None
        if w is not None:
            wa = np.asarray(w, dtype="float32")
            self.w = [float(v) for v in wa]
            self.W = os.path.join(d, name + "-weights.npy")
            np.save(self.W, wa)
        self.sw = self.S = None
        if sw is not None:
            sa = np.asarray(sw, dtype=sw_dtype)
            self.sw = [float(v) for v in sa]
            self.S = os.path.join(d, name + "-sw.npy")
            np.save(self.S, sa)

    def args(self, variant, e, reduction, ignore=None, pad=None, scale=None, softcap=None,
             zloss=None, normalizer=None, weights=True, sample_weights=True):
        a = ["--logits", self.L, "--targets", self.T, "--variant", variant, "--smoothing", e,
             "--reduction", reduction]
        if weights and self.W:
            a += ["--weights", self.W]
        if sample_weights and self.S:
            a += ["--sample-weights", self.S]
        for opt, v in (("--ignore-index", ignore), ("--pad-index", pad), ("--logit-scale", scale),
                       ("--softcap", softcap), ("--z-loss", zloss), ("--normalizer", normalizer)):
            if v is not None:
                a += [opt, str(v)]
        return a


def run_ref(lsce, prob, args):
    return base.run_reference_args(lsce, prob, args)


def check_case(t, lsce, prob, variant, e, red, desc, ignore=-100, pad=None, scale=None,
               softcap=None, zloss=None, normalizer=None):
    opts = oc.Opts(scale=scale, softcap=softcap, zloss=zloss, sw=prob.sw,
                   normalizer=int(normalizer) if normalizer not in (None, "valid", "rows",
                                                                    "sample-weights", "nonzero")
                   else normalizer)
    w = prob.w if (variant in oc.WEIGHTED or variant in oc.SIGMOID) else None
    tg = prob.t
    rl, rg = oc.oracle_f64(prob.z, tg, variant, e, red, w=w, ignore=ignore, pad=pad, opts=opts)
    res = run_ref(lsce, prob, prob.args(variant, e, red, None if ignore == -100 else ignore, pad,
                                        scale, softcap, zloss, normalizer,
                                        weights=w is not None))
    base.compare_to_oracle(t, res, rl, rg, desc + " cmd: " + " ".join(res.cmd))


def random_cases(t, lsce, d, count, seed0=1515):
    variants = oc.SOFTMAX + oc.SIGMOID
    for idx in range(count):
        seed = seed0 + idx
        rs = np.random.RandomState(seed)
        variant = variants[idx % len(variants)]
        K = int(rs.choice([k for k in (1, 2, 3, 5, 8) if k >= base.MIN_K.get(variant, 1)]))
        N = int(rs.choice([0, 1, 3, 5])) if idx % 11 == 3 else int(rs.choice([1, 3, 5]))
        dtype = DTYPES[(idx + idx // 11) % 4]
        e = str(rs.choice(["0", "0.1", "0.25", "0.3", "0.5", "1", "0.05"]))
        soft = variant in oc.SOFT_OK and rs.rand() < 0.4
        ignore = -100 if soft else int(rs.choice([-100, -100, -1, 0]))
        pad = int(rs.randint(0, K)) if variant == "k2-pad-kl" else None
        z = rs.standard_normal((N, K)) * float(rs.choice([1, 5, 40]))
        if soft:
            tg = rs.uniform(0, 1, size=(N, K))
            if variant == "bce-multilabel":
                tg = (tg > 0.5).astype(np.float64)
            tg[rs.rand(N, K) < 0.2] = 0.0
        else:
            tg = rs.randint(0, K, size=N)
            for i in range(N):
                if rs.rand() < 0.2:
                    tg[i] = ignore
        w = None
        if variant in oc.WEIGHTED or (variant in oc.SIGMOID and rs.rand() < 0.5):
            w = rs.uniform(0, 2, size=K)
            w[rs.rand(K) < 0.2] = 0.0
        sw = None
        if rs.rand() < 0.5:
            sw = rs.choice([0.0, 0.25, 1.0, 3.0], size=N)
        scale = str(rs.choice(["0.5", "2", "1.25", "0.1"])) if rs.rand() < 0.5 else None
        softcap = str(rs.choice(["30", "5", "2.5"])) if rs.rand() < 0.5 else None
        zloss = str(rs.choice(["0", "1e-4", "0.5"])) if (variant not in oc.SIGMOID and rs.rand() < 0.5) else None
        # masks: a -inf in some rows of V; garbage in rows outside V
        for i in range(N):
            if not soft and not base.in_V(variant, int(tg[i]), ignore, pad):
                z[i, rs.randint(0, K)] = float(rs.choice([NAN, INF, -INF]))
                continue
            if K > 1 and rs.rand() < 0.3:
                z[i, rs.randint(0, K)] = -INF
                if np.all(z[i] == -INF):
                    z[i, 0] = 0.0
        prob = Prob(os.path.join(d, "r%d" % idx), "c", z, dtype, tg, w=w, sw=sw,
                    t_dtype=("float32" if soft and idx % 2 else None),
                    sw_dtype="float32" if idx % 3 == 0 else "float64")
        for red in ["mean", "sum", "none"]:
            norm = None
            if red == "mean" and variant != "k-nll-weighted" and rs.rand() < 0.6:
                choices = ["valid", "rows", "7"] + (["sample-weights", "nonzero"] if sw is not None else [])
                norm = str(rs.choice(choices))
            desc = ("case=random#%d seed=%d variant=%s e=%s red=%s dtype=%s N=%d K=%d soft=%s "
                    "scale=%s cap=%s z=%s sw=%s norm=%s" % (idx, seed, variant, e, red, dtype, N, K,
                                                            soft, scale, softcap, zloss,
                                                            sw is not None, norm))
            check_case(t, lsce, prob, variant, e, red, desc, ignore=ignore, pad=pad, scale=scale,
                       softcap=softcap, zloss=zloss, normalizer=norm)


def edge_cases(t, lsce, d):
    rs = np.random.RandomState(1516)
    # soft-cap saturation: C = 30, logits near +-1e3 (sech^2 ~ 4e-29; 1 - tanh^2 would give 0)
    z = np.array([[1000.0, -1000.0, 999.5, -998.0], [-1000.0, -999.0, 1000.0, 1001.0]])
    for variant in ["k", "k1", "bce", "bce-softmax-target"]:
        prob = Prob(os.path.join(d, "cap"), "cap" + variant, z, "float32", [0, 3])
        for red in ["mean", "none"]:
            check_case(t, lsce, prob, variant, "0.1", red, "case=softcap-saturation variant=%s red=%s"
                       % (variant, red), softcap="30")
    # z-loss with lse near 100
    z = rs.standard_normal((3, 6)) + 100.0
    prob = Prob(os.path.join(d, "zl"), "zl", z, "float64", [0, 5, 2])
    for red in ["mean", "sum", "none"]:
        for zl in ["1e-4", "0.5"]:
            check_case(t, lsce, prob, "k", "0.1", red, "case=zloss-lse100 z=%s red=%s" % (zl, red),
                       zloss=zl)
    # sample weights with zeros, every normalizer; then all rows ignored under each normalizer
    z = rs.standard_normal((4, 5)) * 3
    prob = Prob(os.path.join(d, "sw"), "sw", z, "float32", [1, -100, 4, 0], sw=[0.0, 2.0, 0.5, 0.0])
    for variant in ["k", "k-torch-weighted", "bce"]:
        pw = Prob(os.path.join(d, "sw"), "sw" + variant, z, "float32", [1, -100, 4, 0],
                  w=[1, 2, 0.5, 0, 1], sw=[0.0, 2.0, 0.5, 0.0]) if variant == "k-torch-weighted" else prob
        for norm in [None, "valid", "rows", "sample-weights", "nonzero", "3"]:
            check_case(t, lsce, pw, variant, "0.2", "mean", "case=sample-weights variant=%s norm=%s"
                       % (variant, norm), normalizer=norm, zloss="0.01" if variant == "k" else None)
    zi = np.full((3, 4), NAN)
    prob = Prob(os.path.join(d, "allign"), "allign", zi, "float64", [-100] * 3, sw=[1.0, 0.0, 2.0])
    for variant in ["k", "bce"]:
        for norm in [None, "valid", "rows", "sample-weights", "nonzero", "5"]:
            check_case(t, lsce, prob, variant, "0.1", "mean", "case=all-ignored variant=%s norm=%s"
                       % (variant, norm), normalizer=norm, zloss="0.1" if variant == "k" else None)


def fd_cases(t, lsce, d):
    """Finite differences of `lsce reference`'s own loss against its gradient (float64 logits,
    central differences with h = 2^-20 |z| + 2^-20): the new gradients (chain factor of scale and
    cap, the z-loss term, sample weights, the sigmoid family) checked without the oracle."""
    rs = np.random.RandomState(1517)
    specs = [("k", dict(scale="0.5", softcap="5", zloss="0.1"), False),
             ("k1-kl", dict(softcap="3", zloss="0.01"), False),
             ("k-logprob-weighted", dict(scale="2"), True),
             ("bce", dict(scale="1.5", softcap="4"), True),
             ("bce-softmax-target", dict(softcap="30"), False)]
    for variant, o, soft in specs:
        N, K = 3, 4
        z = rs.standard_normal((N, K)) * 3
        tg = rs.uniform(0, 1, size=(N, K)) if soft else rs.randint(0, K, size=N)
        w = rs.uniform(0.5, 2, size=K) if variant in ("k-logprob-weighted", "bce") else None
        sw = [1.0, 0.5, 2.0]
        base_p = Prob(os.path.join(d, "fd"), "fd" + variant, z, "float64", tg, w=w, sw=sw)
        res = run_ref(lsce, base_p, base_p.args(variant, "0.2", "mean", weights=w is not None, **o))
        if not t.ok(res.rc == 0 and res.grad_npy is not None, "case=fd %s: exit %d %s" % (variant, res.rc, res.stderr)):
            continue
        g = res.grad_npy
        worst = 0.0
        for i, j in [(0, 0), (1, 2), (2, 3), (0, 1)]:
            h = 2.0 ** -20 * (abs(z[i, j]) + 1)
            vals = []
            for sgn in (1, -1):
                zp = z.copy()
                zp[i, j] += sgn * h
                pp = Prob(os.path.join(d, "fd"), "fd%s%d" % (variant, sgn), zp, "float64", tg, w=w, sw=sw)
                r2 = run_ref(lsce, pp, pp.args(variant, "0.2", "mean", weights=w is not None, **o))
                vals.append(float(r2.stdout.split()[0]) if r2.rc == 0 else NAN)
            fd = (vals[0] - vals[1]) / (2 * h)
            worst = max(worst, abs(fd - g[i, j]) / (abs(g[i, j]) + 1e-3))
        t.ok(worst < 1e-6, "case=fd variant=%s opts=%s: relative FD mismatch %.3g" % (variant, o, worst))


def compare_cases(t, lsce, d):
    """compare with soft targets and options: index-only variants print '-', the others equal the
    oracle; the identities printed hold (exit 0)."""
    rs = np.random.RandomState(1518)
    z = rs.standard_normal((4, 5)) * 2
    for name, tg in (("soft", rs.uniform(0, 1, size=(4, 5))), ("binary", np.eye(5)[[0, 2, 4, 1]]),
                     ("index", np.array([0, 2, 4, 1]))):
        p = Prob(os.path.join(d, "cmp"), "cmp" + name, z, "float64", tg, sw=[1.0, 0.0, 2.0, 0.5])
        rc, out, err = base.run_cmd([lsce, "compare", "--logits", p.L, "--targets", p.T, "--smoothing",
                                     "0.2", "--softcap", "4", "--sample-weights", p.S])
        t.ok(rc == 0 and err == "", "case=compare-%s: exit %d %r %r" % (name, rc, out, err))
        vals = dict(ln.split()[:2] for ln in out.splitlines() if not ln.startswith("identity"))
        for v in oc.SOFTMAX + oc.SIGMOID:
            takes = (not p.soft) or (v in oc.SOFT_OK and not (v == "bce-multilabel" and name == "soft"))
            if v in oc.WEIGHTED or v == "k2-pad-kl" or not takes:
                t.ok(vals.get(v) == "-", "case=compare-%s: %s prints %s, want -" % (name, v, vals.get(v)))
                continue
            rl, _ = oc.oracle_f64(p.z, p.t, v, "0.2", "mean", opts=oc.Opts(softcap="4", sw=p.sw))
            t.ok(vals.get(v) == base.fmt(rl[0]), "case=compare-%s: %s prints %s, oracle %s" %
                 (name, v, vals.get(v), base.fmt(rl[0])))


def contract_cases(t, lsce, d):
    """Bad values and combinations: exit 2, one line naming the option or file, nothing else."""
    z = np.zeros((2, 3))
    p = Prob(os.path.join(d, "bad"), "bad", z, "float64", [0, 1], w=[1, 1, 1], sw=[1.0, 1.0])
    soft = Prob(os.path.join(d, "bad"), "soft", z, "float64", np.eye(3)[[0, 1]])
    half = Prob(os.path.join(d, "bad"), "half", z, "float64", np.full((2, 3), 0.5))
    neg = Prob(os.path.join(d, "bad"), "neg", z, "float64", [0, 1], sw=[1.0, -1.0])
    base_a = ["--logits", p.L, "--targets", p.T, "--variant", "k", "--smoothing", "0.1"]
    cases = [
        (base_a + ["--logit-scale", "0"], "lsce: --logit-scale: "),
        (base_a + ["--logit-scale", "x"], "lsce: --logit-scale: "),
        (base_a + ["--softcap", "-1"], "lsce: --softcap: "),
        (base_a + ["--z-loss", "abc"], "lsce: --z-loss: "),
        (base_a + ["--normalizer", "0"], "lsce: --normalizer: "),
        (base_a + ["--normalizer", "tokens"], "lsce: --normalizer: "),
        (base_a + ["--normalizer", "valid", "--reduction", "sum"], "lsce: --normalizer: "),
        (base_a + ["--normalizer", "nonzero"], "lsce: --normalizer: "),
        (["--logits", p.L, "--targets", p.T, "--variant", "bce", "--smoothing", "0.1",
          "--z-loss", "0.1"], "lsce: --z-loss: "),
        (["--logits", p.L, "--targets", p.T, "--variant", "k-nll-weighted", "--weights", p.W,
          "--smoothing", "0.1", "--normalizer", "valid"], "lsce: --normalizer: "),
        (["--logits", p.L, "--targets", soft.T, "--variant", "k1", "--smoothing", "0.1"],
         "lsce: %s: " % soft.T),
        (["--logits", p.L, "--targets", soft.T, "--variant", "k", "--smoothing", "0.1",
          "--ignore-index", "-1"], "lsce: --ignore-index: "),
        (["--logits", p.L, "--targets", half.T, "--variant", "bce-multilabel", "--smoothing", "0.1"],
         "lsce: %s: row 0, column 0: " % half.T),
        (["--logits", p.L, "--targets", neg.T, "--variant", "k", "--smoothing", "0.1",
          "--sample-weights", neg.S], "lsce: %s: row 1: " % neg.S),
        (["--logits", p.L, "--targets", p.T, "--variant", "k", "--smoothing", "0.1",
          "--sample-weights", p.L], "lsce: %s: " % p.L),
    ]
    for args, prefix in cases:
        rc, out, err = base.run_cmd([lsce, "reference"] + args)
        t.ok(rc == 2 and err.startswith(prefix) and err.count("\n") == 1 and out == "",
             "case=contract %s: want exit 2 and %r, got exit %d stderr=%r" % (" ".join(args), prefix, rc, err))
    # the exact CPU rows compute the options (impls/cpu/optrows.c): run prints the loss; so does
    # mpi_vocab_parallel under lsce-mpi (tests/test_mpi_options.py): here, outside mpirun, its device is
    # absent, the same exit 3 as without the options (never the catalog's loss in their place)
    nodev = "lsce: --impl: mpi_vocab_parallel: no mpi device is available here\n"
    for extra, what in ((["--softcap", "3"], "--softcap"), (["--sample-weights", p.S], "--sample-weights")):
        rc, out, err = base.run_cmd([lsce, "run", "--impl", "cpu_twopass"] + base_a + extra)
        t.ok(rc == 0 and err == "" and out.strip() != "",
             "case=contract run computes %s: exit %d %r" % (what, rc, err))
        rc, out, err = base.run_cmd([lsce, "run", "--impl", "mpi_vocab_parallel"] + base_a + extra)
        t.ok(rc == 3 and err == nodev and out == "",
             "case=contract run mpi_vocab_parallel with %s outside mpirun: exit %d %r" % (what, rc, err))
    rc, out, err = base.run_cmd([lsce, "run", "--impl", "mpi_vocab_parallel", "--logits", p.L, "--targets", p.T,
                                 "--variant", "bce", "--smoothing", "0.1"])
    t.ok(rc == 3 and err == nodev and out == "",
         "case=contract run mpi_vocab_parallel bce outside mpirun: exit %d %r" % (rc, err))
    # check accepts an option the variant does not take (z-loss on bce): not exit 2
    rc, out, err = base.run_cmd([lsce, "check", "--logits", p.L, "--targets", p.T, "--variant",
                                 "bce", "--smoothing", "0.1", "--z-loss", "0.1", "--loss", "1"])
    t.ok(rc in (0, 1), "case=contract check accepts --z-loss with bce: exit %d %r" % (rc, err))


def cap_form_cases(t, dev, d, count=24, seed0=1593):
    """The diagnosis's two wrong soft-cap forms (verify/diagnose_opts.c; the reference's cap_form,
    lsce/problem.h): x tanh(x/C) ('x-tanh') and the cap applied to a masked class ('mask-to-C':
    -inf becomes -C), through `lsce-dev golden --cap-form` (lsce never sets them), every loss
    value and gradient entry's hi (= RN(exact)) bit for bit against the oracle's. Softmax and
    sigmoid variants, every reduction, float64/float32/bfloat16 logits, a logit scale on half the
    cases, class and sample weights where the variant reads them, a masked class in some rows
    (under 'mask-to-C' a masked target class gives a finite loss)."""
    variants = ["k", "k1", "k-torch-weighted", "k1-kl", "k2-pad-kl", "bce", "bce-multilabel",
                "bce-softmax-target"]
    for idx in range(count):
        rs = np.random.RandomState(seed0 + idx)
        form = ("x-tanh", "mask-to-C")[idx % 2]
        variant = variants[(idx // 2) % len(variants)]
        red = ("none", "mean", "sum")[idx % 3]
        dtype = ("float64", "float32", "bfloat16")[(idx // 3) % 3]
        N, K = int(rs.choice([1, 3, 4])), int(rs.choice([3, 5, 7]))
        z = rs.standard_normal((N, K)) * float(rs.choice([2, 15, 60]))
        y = rs.randint(0, K, size=N)
        pad = int((y[0] + 1) % K) if variant == "k2-pad-kl" else None
        for i in range(N):
            if rs.rand() < 0.5:  # a masked class, the target itself in some rows
                z[i, y[i] if rs.rand() < 0.3 else (y[i] + 1 + rs.randint(0, K - 1)) % K] = -np.inf
        w = rs.uniform(0.5, 2, size=K) if variant in oc.WEIGHTED or variant in oc.SIGMOID else None
        sw = rs.uniform(0, 2, size=N) if idx % 4 == 1 else None
        prob = Prob(d, "capform%d" % idx, z, dtype, y, w=w, sw=sw)
        scale = "1.5" if idx % 4 >= 2 else None
        cap = str(rs.choice(["3", "10", "30"]))
        e = str(rs.choice(["0", "0.1", "0.3"]))
        rl, rg = oc.oracle_f64(prob.z, prob.t, variant, e, red, w=prob.w, pad=pad,
                               opts=oc.Opts(scale=scale, softcap=cap, sw=prob.sw, cap_form=form))
        cmd = [dev, "golden"] + prob.args(variant, e, red, pad=pad, scale=scale, softcap=cap,
                                          weights=w is not None) + ["--grad", "--cap-form", form]
        rc, out, err = base.run_cmd(cmd)
        desc = "case=capform%d %s %s %s %s cmd: %s" % (idx, form, variant, red, dtype, base.shell_cmd(cmd))
        if not t.ok(rc == 0 and err == "", "%s: exit %d %r" % (desc, rc, err.strip())):
            continue
        gl = [float.fromhex(x.split()[2]) for x in out.splitlines() if x.startswith("loss ")]
        gg = [float.fromhex(x.split()[3]) for x in out.splitlines() if x.startswith("grad ")]
        want_l, want_g = list(rl), list(np.asarray(rg).reshape(-1))
        bad = [i for i in range(len(want_l)) if len(gl) != len(want_l) or not base.same(gl[i], want_l[i])]
        t.ok(not bad and len(gl) == len(want_l), "%s: loss %s, oracle %s" % (desc, gl, list(map(base.hx, want_l))))
        bad = [j for j in range(len(want_g)) if len(gg) != len(want_g) or not base.same(gg[j], want_g[j])]
        t.ok(not bad and len(gg) == len(want_g), "%s: gradient entry %s: %s, oracle %s" % (
            desc, bad[:1], [base.hx(gg[j]) for j in bad[:1] if j < len(gg)], [base.hx(want_g[j]) for j in bad[:1]]))
        if red == "none" and np.isfinite(want_l).any() and (form == "x-tanh" or np.isinf(prob.z).any()):
            # the form matters: its values differ from the right cap's somewhere
            right = oc.oracle_f64(prob.z, prob.t, variant, e, red, w=prob.w, pad=pad,
                                  opts=oc.Opts(scale=scale, softcap=cap, sw=prob.sw))
            t.ok(any(not base.same(a, b) for a, b in zip(np.concatenate([right[0], right[1].reshape(-1)]),
                                                         want_l + want_g)),
                 "%s: the wrong form gives the right cap's values" % desc)


def main():
    dev = sys.argv.pop(2) if len(sys.argv) == 3 else None  # PATH/TO/lsce-dev: the cap-form cases
    lsce = base.lsce_from_argv()
    t = base.Tally()
    count = int(os.environ.get("LSCE_CATALOG_CASES", "44"))
    with tempfile.TemporaryDirectory() as tmp:
        d = os.environ.get("LSCE_TEST_KEEP") or tmp
        contract_cases(t, lsce, d)
        fd_cases(t, lsce, d)
        compare_cases(t, lsce, d)
        edge_cases(t, lsce, d)
        random_cases(t, lsce, d, count)
        if dev:
            cap_form_cases(t, os.path.abspath(dev), d)
        else:
            t.skip("the cap-form cases: no lsce-dev given")
    t.finish()


if __name__ == "__main__":
    main()
