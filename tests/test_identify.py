"""`lsce probe` + `lsce identify`: the variant and smoothing of a black-box loss recovered exactly
from its outputs on the probe cases, for every catalog variant computed (1) by PyTorch 1.13 (the
torch expressions of tests/test_torch.py, float32, autograd gradients), (2) by small numpy
implementations written here deliberately differently from the reference and from each other (one
per formulation: float32 or float64, log-sum-exp or KL forms, loops or vectors), and (3) by the
reference rounded to float32. Also: ambiguity and failure exit 1, usage errors exit 2.
The sigmoid family (issue #15): PyTorch's F.binary_cross_entropy_with_logits on index targets
smoothed the Keras/TF way ((1-e) t + e/2), the mmpretrain multi-label way (1-e on, e off) and the
timm way ((1-e) [c == y] + e/K), float32 and float64, with and without gradients, with and without
the class weights; and TF.js's tf.losses.sigmoidCrossEntropy(labels, logits, w, e) where node and
fixtures/peers/tfjs are present. Each must be named with its e (mmpretrain's as bce at 2e with the
equivalence); a BCE averaged over rows instead of elements, or smoothed toward e instead of e/2,
must be `identify none`.
Usage: /usr/bin/python3 tests/test_identify.py path/to/lsce"""
import json, os, shutil, subprocess, sys, tempfile
from decimal import Decimal

sys.dont_write_bytecode = True
try:
    import numpy as np
except ImportError as e:
    print(f"skip: {e}"); sys.exit(77)

LSCE = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
PAD = 0  # the probe's pad class for the variants that take one (k2-pad-kl)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lsce_testlib import Tally, catalog, checker, runner  # noqa: E402
CATALOG = {row["id"]: row for row in catalog(LSCE)}
# every softmax-family variant lsce has; each needs its numpy formula below (the sigmoid family is
# tested by sigmoid_peers() below) (k1-megatron, which needs --tp, is not fitted by identify: docs/cli.md)
VARIANTS = [v for v, row in CATALOG.items() if row["family"] == "softmax" and not row.get("needs_tp")]
T = Tally()
check = checker(T)
lsce = runner(LSCE)


# ---- numpy implementations, one per formulation (each its own way of computing it) -------------
def lse32(z):                       # float32 throughout, the max-shift form
    m = z.max(1, keepdims=True)
    return m + np.log(np.exp(z - m).sum(1, keepdims=True, dtype=np.float32))


def np_k(z, y, e, w, red):          # (1-e) nll + e mean_c(-lp), float32
    z = z.astype(np.float32); lp = z - lse32(z); n = np.arange(len(y))
    rows = np.float32(1 - e) * -lp[n, y] + np.float32(e) * -lp.mean(1)
    return rows, None


def q_of(K, y, e, div, pad=None):   # float64 target distributions, built row by row
    Q = np.zeros((len(y), K))
    for i, t in enumerate(y):
        Q[i, :] = e / div
        if pad is not None: Q[i, pad] = 0
        Q[i, t] = 1 - e
    return Q


def np_k1(z, y, e, w, red):         # explicit q, float64 logsumexp by np.logaddexp
    z = z.astype(np.float64); lp = z - np.logaddexp.reduce(z, axis=1)[:, None]
    Q = q_of(z.shape[1], y, e, z.shape[1] - 1)
    return -(Q * lp).sum(1), None


def np_weighted(kind):
    def f(z, y, e, wv, red):        # loops per row, float64, q_c w_c
        z = z.astype(np.float64); K = z.shape[1]
        out = []
        for i, t in enumerate(y):
            lp = z[i] - (z[i].max() + np.log(np.exp(z[i] - z[i].max()).sum()))
            div = K - 1 if kind == "k1-logprob-weighted" else K
            q = np.full(K, e / div); q[t] = 1 - e + (e / K if div == K else 0)
            out.append(-(q * wv * lp).sum())
        return np.array(out), (sum(wv[t] for t in y) if kind == "k-torch-weighted" else None)
    return f


def np_k_nll_weighted(z, y, e, wv, red):  # the NLL-combination class: two separately reduced parts
    z = z.astype(np.float32); lp = z - lse32(z); n = np.arange(len(y))
    nll = -lp[n, y] * wv[y].astype(np.float32); smooth = -lp.sum(1) / np.float32(z.shape[1])
    if red == "none": return (1 - e) * nll + e * smooth, None
    if red == "sum": return np.array([(1 - e) * nll.sum() + e * smooth.sum()]), "done"
    return np.array([(1 - e) * nll.sum() / wv[y].sum() + e * smooth.mean()]), "done"


def np_kl(div_off, pad=None):
    def f(z, y, e, wv, red):        # sum_c q_c (log q_c - lp_c), 0 log 0 = 0, float64
        z = z.astype(np.float64); K = z.shape[1]
        lp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
        Q = q_of(K, y, e, K - div_off, pad)
        logq = np.log(np.where(Q > 0, Q, 1))
        rows = (Q * (logq - lp)).sum(1)
        if pad is not None: rows[np.asarray(y) == pad] = 0
        return rows, ("pad" if pad is not None else None)
    return f


NUMPY = {"k": np_k, "k1": np_k1, "k-torch-weighted": np_weighted("k-torch-weighted"),
         "k-logprob-weighted": np_weighted("k-logprob-weighted"), "k1-logprob-weighted": np_weighted("k1-logprob-weighted"),
         "k-nll-weighted": np_k_nll_weighted, "k1-kl": np_kl(1), "k2-pad-kl": np_kl(2, PAD)}


def reduce_rows(rows, tag, y, red):
    if tag == "done": return np.float32(rows[0])
    if red == "none": return rows.astype(np.float32)
    if tag == "pad": rows, n = rows, sum(1 for t in y if t != PAD)
    else: n = len(y)
    s = rows.sum()
    if red == "sum": return np.float32(s)
    return np.float32(s / tag) if isinstance(tag, (float, np.floating)) else np.float32(s / n)


def run_numpy(v, e, probe, out):
    for c in json.load(open(os.path.join(probe, "manifest.json")))["cases"]:
        if "weighted" in v and not c["weights"]: continue
        z = np.load(os.path.join(probe, c["logits"])); y = np.load(os.path.join(probe, c["targets"]))
        w = np.load(os.path.join(probe, c["weights"])).astype(np.float64) if c["weights"] else None
        rows, tag = NUMPY[v](z, y, float(e), w, c["reduction"])
        np.save(os.path.join(out, c["case"] + ".npy"), reduce_rows(rows, tag, y, c["reduction"]))


def run_torch(v, e, probe, out):
    import torch
    sys.path.insert(0, HERE)
    import test_torch as TT
    for c in json.load(open(os.path.join(probe, "manifest.json")))["cases"]:
        if "weighted" in v and not c["weights"]: continue
        z = torch.tensor(np.load(os.path.join(probe, c["logits"])), dtype=torch.float32, requires_grad=True)
        y = np.load(os.path.join(probe, c["targets"]))
        w = np.load(os.path.join(probe, c["weights"])) if c["weights"] and "weighted" in v else None
        loss = TT.torch_loss(v, z, y, e, c["reduction"], w=w, pad=PAD if CATALOG[v]["needs_pad_index"] else None)
        (loss.sum() if c["reduction"] == "none" else loss).backward()
        np.save(os.path.join(out, c["case"] + ".npy"), loss.detach().numpy().astype(np.float32))
        np.save(os.path.join(out, c["case"] + "_grad.npy"), z.grad.numpy().astype(np.float32))


def run_reference(v, e, probe, out):
    for c in json.load(open(os.path.join(probe, "manifest.json")))["cases"]:
        if "weighted" in v and not c["weights"]: continue
        args = ["reference", "--logits", os.path.join(probe, c["logits"]), "--targets", os.path.join(probe, c["targets"]),
                "--variant", v, "--smoothing", e, "--reduction", c["reduction"], "--out", os.path.join(out, "r.npy")]
        if "weighted" in v: args += ["--weights", os.path.join(probe, c["weights"])]
        if CATALOG[v]["needs_pad_index"]: args += ["--pad-index", str(PAD)]
        r = lsce(args)
        if r.returncode: raise RuntimeError(r.stderr)
        np.save(os.path.join(out, c["case"] + ".npy"), np.load(os.path.join(out, "r.npy")).astype(np.float32))
        os.remove(os.path.join(out, "r.npy"))


def identify(probe, out, v, e, who):
    r = lsce(["identify", "--probe", probe, "--outputs", out])
    check(f"{who}: {v} at {e}", r.returncode == 0 and r.stdout == f"identify variant={v} smoothing={e}\n",
          f"exit {r.returncode}: {r.stdout}{r.stderr}")


# ---- the sigmoid family (issue #15): outside peers on the same probe -----------------------------
ROOT = os.path.dirname(HERE)
TFJS = os.path.join(ROOT, "fixtures", "peers", "tfjs")


def smooth_bce(form, y, K, e, xp_full):
    """(N, K) smoothed targets of index targets y, as each library builds them (float64 numpy)"""
    oh = np.eye(K)[np.asarray(y)]
    if form == "keras":        # Keras BinaryCrossentropy / TF sigmoid_cross_entropy: t (1-e) + e/2
        return oh * (1 - e) + 0.5 * e
    if form == "mmpretrain":   # LabelSmoothLoss(mode='multi_label'): full of e, 1-e where t > 0
        t = np.full(oh.shape, e); t[oh > 0] = 1 - e
        return t
    if form == "timm":         # BinaryCrossEntropy(smoothing): off e/K, on 1 - e + e/K
        t = np.full(oh.shape, e / K); t[np.arange(len(y)), y] = 1 - e + e / K
        return t
    if form == "toward-e":     # a deliberate bug: t (1-e) + e (the off value e, not e/2)
        return oh * (1 - e) + e
    raise ValueError(form)


def run_torch_bce(form, e, probe, out, dtype, grad, weights=True, bug=None, always=None, sc=None):
    """torch's binary_cross_entropy_with_logits on every probe case; per-row sums for `none` (lsce's
    row loss). weights: pass the case's class weights as `weight` (broadcast over rows). bug "rows":
    a mean over rows (sum / N) instead of over the N K elements. always: one reduction for every
    scalar case, whatever it asks. sc: (S, C), the loss on x = C tanh(S z / C) (identify's
    --logit-scale S --softcap C)."""
    import torch
    import torch.nn.functional as F
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    os.makedirs(out, exist_ok=True)
    for c in json.load(open(os.path.join(probe, "manifest.json")))["cases"]:
        z = torch.tensor(np.load(os.path.join(probe, c["logits"])), dtype=tdt, requires_grad=True)
        y = np.load(os.path.join(probe, c["targets"]))
        t = torch.tensor(smooth_bce(form, y, z.shape[1], float(e), None), dtype=tdt)
        w = torch.tensor(np.load(os.path.join(probe, c["weights"])), dtype=tdt) if c["weights"] and weights else None
        red = c["reduction"] if c["reduction"] == "none" or not always else always
        x = sc[1] * torch.tanh(sc[0] * z / sc[1]) if sc else z
        el = F.binary_cross_entropy_with_logits(x, t, weight=w, reduction="none")
        if red == "none": loss = el.sum(1)
        elif red == "mean" and bug == "rows": loss = el.sum(1).mean()
        else: loss = F.binary_cross_entropy_with_logits(x, t, weight=w, reduction=red)
        np.save(os.path.join(out, c["case"] + ".npy"), loss.detach().numpy())
        if grad:
            (loss.sum() if red == "none" else loss).backward()
            np.save(os.path.join(out, c["case"] + "_grad.npy"), z.grad.numpy())


def run_tfjs_bce(e, probe, out, d):
    """TF.js tf.losses.sigmoidCrossEntropy(onehot, logits, undefined, e, R) through
    fixtures/peers/tfjs_peer.mjs (jobs of kind "sigmoid"; R: SUM_BY_NONZERO_WEIGHTS for mean, SUM,
    NONE); TF.js has no class weights here, so the weighted cases run unweighted. NONE gives (N, K):
    the row sums (float64 sums of the float32 elements, rounded to float32) are the row losses."""
    os.makedirs(out, exist_ok=True)
    cases = json.load(open(os.path.join(probe, "manifest.json")))["cases"]
    jobs = [{"kind": "sigmoid", "logits": os.path.join(probe, c["logits"]), "targets": os.path.join(probe, c["targets"]),
             "e": float(e), "reduction": c["reduction"], "out": os.path.join(out, c["case"] + ".npy")} for c in cases]
    jf = os.path.join(d, "tfjs_jobs.json")
    json.dump(jobs, open(jf, "w"))
    p = subprocess.run(["node", os.path.join(TFJS, "tfjs_peer.mjs"), "jobs", jf], cwd=TFJS, capture_output=True, text=True, timeout=120)
    if p.returncode or "error" in p.stdout:
        raise RuntimeError(p.stdout + p.stderr)
    for c in cases:
        f = os.path.join(out, c["case"] + ".npy")
        if c["reduction"] == "none":
            np.save(f, np.load(f).astype(np.float64).sum(1).astype(np.float32))


def identify_line(probe, out, want, who, json_want=None):
    r = lsce(["identify", "--probe", probe, "--outputs", out])
    check(who, r.stdout == want + "\n" and r.returncode == (0 if want.startswith("identify variant=") else 1),
          f"want {want!r}, exit {r.returncode}: {r.stdout}{r.stderr}")
    if os.environ.get("LSCE_IDENTIFY_REPORT"):  # the README's figures: the line and the fit's ulp
        j = json.loads(lsce(["identify", "--probe", probe, "--outputs", out, "--json"]).stdout)
        fit = [c for c in j["candidates"] if c["fits"] and not c["folded"]]
        print(f"{who}: {r.stdout.strip()} | values={j['values']} ulp={fit[0]['ulp'] if fit else '-'}")
    if json_want:
        j = json.loads(lsce(["identify", "--probe", probe, "--outputs", out, "--json"]).stdout)
        check(who + " --json", all(j.get(k) == v for k, v in json_want.items()), str({k: j.get(k) for k in json_want}))


def sigmoid_peers(d, have_torch):
    probes = {}
    for dt in ("float32", "float64"):
        probes[dt] = os.path.join(d, "sp_" + dt)
        lsce(["probe", "--out", probes[dt], "--dtype", dt])
    n = [0]

    def fresh():
        n[0] += 1
        return os.path.join(d, f"s{n[0]}")

    # mmpretrain's e is bce's 2e on binary targets: identify names bce and the equivalence
    expect = {"keras": lambda e: f"variant=bce smoothing={e} (= bce-multilabel at {q_half(e)})",
              "mmpretrain": lambda e: f"variant=bce smoothing={q_double(e)} (= bce-multilabel at {e})",
              "timm": lambda e: f"variant=bce-softmax-target smoothing={e}"}
    if have_torch:
        for dt in ("float32", "float64"):
            for form, es in (("keras", ["0.1", "0.35"]), ("mmpretrain", ["0.05", "0.2"]), ("timm", ["0.1", "0.3"])):
                for e in es:
                    for grad in (False, True):
                        out = fresh()
                        run_torch_bce(form, e, probes[dt], out, dt, grad)
                        identify_line(probes[dt], out, "identify " + expect[form](e), f"torch {dt} BCE {form} at {e}{' +grad' if grad else ''}")
        # the same loss without the class weights on the weighted cases: the same id, weights "ignored"
        for form, e in (("keras", "0.2"), ("timm", "0.15")):
            out = fresh()
            run_torch_bce(form, e, probes["float32"], out, "float32", True, weights=False)
            identify_line(probes["float32"], out, "identify " + expect[form](e), f"torch BCE {form} at {e} unweighted",
                          {"identified": True, "class_weights": "ignored"})
        out = fresh()
        run_torch_bce("keras", "0.1", probes["float32"], out, "float32", False)
        identify_line(probes["float32"], out, "identify " + expect["keras"]("0.1"), "torch BCE keras --json",
                      {"identified": True, "variant": "bce", "smoothing": "0.1", "class_weights": "as given",
                       "equivalent": {"variant": "bce-multilabel", "smoothing": "0.05"}})
        # identify's --logit-scale and --softcap apply to the sigmoid family too
        out = fresh()
        run_torch_bce("timm", "0.2", probes["float32"], out, "float32", True, sc=(0.5, 3))
        r = lsce(["identify", "--probe", probes["float32"], "--outputs", out, "--logit-scale", "0.5", "--softcap", "3"])
        check("torch BCE timm on 3 tanh(z/6)", r.returncode == 0 and r.stdout == "identify variant=bce-softmax-target smoothing=0.2\n",
              r.stdout + r.stderr)
        # mmpretrain above 1/2: bce would need 2e > 1, so bce-multilabel is named alone
        out = fresh()
        run_torch_bce("mmpretrain", "0.6", probes["float32"], out, "float32", True)
        identify_line(probes["float32"], out, "identify variant=bce-multilabel smoothing=0.6", "torch BCE mmpretrain at 0.6")
        # a BCE that always sums: reduction=sum, as for the softmax forms
        out = fresh()
        run_torch_bce("keras", "0.25", probes["float32"], out, "float32", False, always="sum")
        identify_line(probes["float32"], out, "identify variant=bce smoothing=0.25 reduction=sum (= bce-multilabel at 0.125)",
                      "torch BCE that always sums")
        # deliberately wrong BCEs: a mean over rows (sum / N, K times too large), smoothing toward e
        for form, bug, e, grad in (("keras", "rows", "0.1", False), ("keras", "rows", "0.1", True), ("timm", "rows", "0.2", True),
                                   ("mmpretrain", "rows", "0.1", False), ("toward-e", None, "0.1", False), ("toward-e", None, "0.1", True)):
            out = fresh()
            run_torch_bce(form, e, probes["float32"], out, "float32", grad, bug=bug)
            identify_line(probes["float32"], out, "identify none", f"wrong BCE {form} {bug or ''} at {e}{' +grad' if grad else ''} not identified")
        # the softmax peer on the same probe is identified exactly as before
        out = fresh()
        os.makedirs(out)
        import torch
        import torch.nn.functional as F
        for c in json.load(open(os.path.join(probes["float32"], "manifest.json")))["cases"]:
            z = torch.tensor(np.load(os.path.join(probes["float32"], c["logits"])))
            y = torch.tensor(np.load(os.path.join(probes["float32"], c["targets"])))
            np.save(os.path.join(out, c["case"] + ".npy"), F.cross_entropy(z, y, label_smoothing=0.1, reduction=c["reduction"]).numpy())
        identify_line(probes["float32"], out, "identify variant=k smoothing=0.1", "torch cross_entropy next to the sigmoid family",
                      {"equivalent": None, "class_weights": "as given"})
    if shutil.which("node") and os.path.isdir(os.path.join(TFJS, "node_modules", "@tensorflow", "tfjs-core")):
        for e in ("0.1", "0.35"):
            out = fresh()
            run_tfjs_bce(e, probes["float32"], out, d)
            identify_line(probes["float32"], out, "identify " + expect["keras"](e), f"TF.js sigmoidCrossEntropy at {e}",
                          {"class_weights": "ignored"})
    else:
        print("note: no node or fixtures/peers/tfjs/node_modules; the TF.js part is left out")


def q_half(e):   # e/2 and 2e as lsce prints an exact decimal (shortest digits; e has few)
    return format((Decimal(e) / 2).normalize(), "f")


def q_double(e):
    return format((Decimal(e) * 2).normalize(), "f")


def main():
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("note: no torch; the PyTorch part is left out")
    with tempfile.TemporaryDirectory() as d:
        probe = os.path.join(d, "probe")
        r = lsce(["probe", "--out", probe])
        check("probe writes", r.returncode == 0 and os.path.exists(os.path.join(probe, "manifest.json")), r.stderr)
        man = json.load(open(os.path.join(probe, "manifest.json")))
        check("manifest shape", all(set(c) == {"case", "logits", "targets", "weights", "reduction"} for c in man["cases"])
              and {c["reduction"] for c in man["cases"]} == {"mean", "sum", "none"}, str(man))
        n = 0
        for who, run, es in [("numpy", run_numpy, ["0.1", "0.35"]), ("torch", run_torch, ["0.2"]), ("reference f32", run_reference, ["0.05"])]:
            if who == "torch" and not have_torch: continue
            for v in VARIANTS:
                for e in es:
                    out = os.path.join(d, f"o{n}"); n += 1
                    os.makedirs(out)
                    run(v, e, probe, out)
                    identify(probe, out, v, e, who)
        # a loss that is none of them: k at 0.1 plus 1e-3 on every value -> none, exit 1
        out = os.path.join(d, "bad"); os.makedirs(out)
        run_numpy("k", "0.1", probe, out)
        for f in os.listdir(out):
            np.save(os.path.join(out, f), (np.load(os.path.join(out, f)) + np.float32(1e-3)).astype(np.float32))
        r = lsce(["identify", "--probe", probe, "--outputs", out])
        check("a perturbed loss is not identified", r.returncode == 1 and r.stdout == "identify none\n", r.stdout + r.stderr)
        r = lsce(["identify", "--probe", probe, "--outputs", out, "--json"])
        try:
            j = json.loads(r.stdout)
            check("identify --json", j["identified"] is False and j["variant"] is None and len(j["candidates"]) >= 8, r.stdout)
        except ValueError as ex:
            check("identify --json parses", False, f"{ex}: {r.stdout!r}")
        # a loss that always sums, whatever the case asks: reduction=sum is reported
        out = os.path.join(d, "sums"); os.makedirs(out)
        for c in man["cases"]:
            z = np.load(os.path.join(probe, c["logits"])); y = np.load(os.path.join(probe, c["targets"]))
            rows, _ = np_k(z, y, 0.3, None, "none")
            np.save(os.path.join(out, c["case"] + ".npy"), np.asarray(rows if c["reduction"] == "none" else rows.sum(), dtype=np.float32))
        r = lsce(["identify", "--probe", probe, "--outputs", out])
        check("a summing loss", r.returncode == 0 and r.stdout == "identify variant=k smoothing=0.3 reduction=sum\n", r.stdout + r.stderr)
        # only the mean case of k at 0: every unweighted variant fits -> several, exit 1
        out = os.path.join(d, "amb"); os.makedirs(out)
        run_numpy("k", "0", probe, out)
        for f in os.listdir(out):
            if f != "a.npy": os.remove(os.path.join(out, f))
        r = lsce(["identify", "--probe", probe, "--outputs", out])
        check("e = 0 on one case is ambiguous", r.returncode == 1 and r.stdout.startswith("identify several "), r.stdout + r.stderr)
        # usage and input errors: one line, exit 2
        for args, want in [(["probe"], "lsce: --out: "), (["probe", "--out", probe, "--dtype", "int8"], "lsce: --dtype: "),
                           (["identify", "--probe", probe], "lsce: --outputs: "),
                           (["identify", "--probe", os.path.join(d, "nope"), "--outputs", out], "lsce: "),
                           (["identify", "--probe", probe, "--outputs", os.path.join(d, "empty")], "lsce: ")]:
            r = lsce(args)
            check(f"error {' '.join(args[:1] + args[-1:])}", r.returncode == 2 and r.stderr.startswith(want)
                  and len(r.stderr.splitlines()) == 1 and not r.stdout, f"exit {r.returncode}: {r.stderr!r}")
        np.save(os.path.join(out, "b.npy"), np.float32(1))  # b asks none: (N,), not ()
        r = lsce(["identify", "--probe", probe, "--outputs", out])
        check("wrong output shape", r.returncode == 2 and "b.npy: expected shape (5,)" in r.stderr, r.stderr)
        for cmd in ("probe", "identify"):
            r = lsce([cmd, "--help"])
            check(f"{cmd} --help", r.returncode == 0 and r.stdout.startswith(f"usage: lsce {cmd} "), r.stdout)
        sigmoid_peers(d, have_torch)
    T.finish()


if __name__ == "__main__":
    main()
