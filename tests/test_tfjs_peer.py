"""TensorFlow.js (an outside implementation, fixtures/peers/tfjs) under `lsce check`'s diagnosis:
TF.js's float32 `k` loss on logits near 1e3..4e3 is hundreds of ulps off (its log-sum-exp rounds to
float32 before lse - z_c), and check must say `cause accuracy variant=k` at the given e for the
scalar, the per-row values and the gradient; the same values claimed as `k1` at the same e must get
`cause formulation` naming k at e (or k1 at the equivalent e(K-1)/K). Also: probe + identify recover
k and e from TF.js, the three semantic findings hold (rank-3 smoothing by shape[1], NaN on all-zero
weights, loss 0 without log1p on a confident row), and the peer table driver runs on two cases.
Ten more random configurations (shape, offset, spread, e, reduction, gradient; fixed seed) must be
diagnosed the same way whenever TF.js fails. Skips (77) where node or the npm packages are missing (scripts/setup installs them).
Usage: /usr/bin/python3 tests/test_tfjs_peer.py path/to/lsce"""
import json, os, re, shutil, subprocess, sys, tempfile
from fractions import Fraction

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFJS = os.path.join(ROOT, "fixtures", "peers", "tfjs")
try:
    import numpy as np
except ImportError as e:
    print(f"skip: {e}"); sys.exit(77)
if not shutil.which("node") or not os.path.isdir(os.path.join(TFJS, "node_modules", "@tensorflow", "tfjs-core")):
    print("skip: node or fixtures/peers/tfjs/node_modules missing (scripts/setup installs them)"); sys.exit(77)

LSCE = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lsce_testlib import Tally, checker, runner  # noqa: E402
T = Tally()
check = checker(T)
lsce = runner(LSCE)


def node(args):
    p = subprocess.run(["node", os.path.join(TFJS, "tfjs_peer.mjs")] + args, cwd=TFJS, capture_output=True, text=True, timeout=300)
    if p.returncode:
        raise RuntimeError(p.stderr)
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def q_str(q):
    """check's decimal of an exact rational: terminating -> digits, else %.6g"""
    for k in range(41):
        t = q * 10 ** k
        if t.denominator == 1:
            s = str(t.numerator)
            return s if k == 0 else ("0." + "0" * (k - len(s)) + s if k >= len(s) else s[:-k] + "." + s[-k:])
    return "%.6g" % float(q)


def main():
    errs = [r for r in node(["findings"])]
    f = errs[0]
    r3 = f["rank3"]
    check("rank-3: TF.js smooths by e/shape[1]", all(abs(a - b) <= 1e-6 * abs(b) for a, b in zip(r3["tfjs"], r3["e_over_shape1"]))
          and all(abs(a - b) > 1e-2 for a, b in zip(r3["tfjs"], r3["k_at_e"])), str(r3))
    check("all-zero weights: NaN", f["zero_weights"]["SUM_BY_NONZERO_WEIGHTS"] == "NaN" and f["zero_weights"]["MEAN"] == "NaN", str(f["zero_weights"]))
    c = f["confident"]
    check("confident row: loss 0 without log1p", c["tfjs_loss"] == 0 and c["exact_loss"] > 4e-9 and c["tfjs_grad"][0] == 0, str(c))
    with tempfile.TemporaryDirectory() as d:
        P = lambda n: os.path.join(d, n)
        jobs, cases = [], []
        for seed, N, K, off, e in [(1, 6, 7, 1000.0, "0.2"), (2, 4, 5, 3000.0, "0.3"), (3, 8, 12, 2000.0, "0.15")]:
            rs = np.random.RandomState(seed)
            z = (off + rs.standard_normal((N, K)) * 2).astype(np.float32)
            y = rs.randint(0, K, N).astype(np.int64)
            np.save(P(f"L{seed}.npy"), z); np.save(P(f"T{seed}.npy"), y)
            for red, grad in [("mean", False), ("none", False), ("mean", True), ("sum", True)]:
                tag = f"{seed}_{red}_{int(grad)}"
                jobs.append({"logits": P(f"L{seed}.npy"), "targets": P(f"T{seed}.npy"), "e": float(e), "reduction": red,
                             "ignore": -100, "out": P(f"o{tag}.npy"), "grad_out": P(f"g{tag}.npy") if grad else None})
                cases.append((seed, N, K, e, red, grad, tag))
        # and random shapes, offsets, spreads, smoothings and reductions (a fixed seed, not tuned)
        rs = np.random.RandomState(2026)
        for t in range(10):
            N, K = int(rs.randint(2, 17)), int(rs.choice([2, 3, 5, 10, 30, 100]))
            off, sd = float(rs.choice([0, 10, 100, 1e3, 1e4])), float(rs.choice([0.5, 2, 5]))
            e, red, grad = "%.2f" % rs.uniform(0.05, 0.9), str(rs.choice(["mean", "sum", "none"])), bool(rs.randint(0, 2))
            e = e.rstrip("0")
            seed = 100 + t
            np.save(P(f"L{seed}.npy"), (off + rs.standard_normal((N, K)) * sd).astype(np.float32))
            np.save(P(f"T{seed}.npy"), rs.randint(0, K, N).astype(np.int64))
            tag = f"{seed}_{red}_{int(grad)}"
            jobs.append({"logits": P(f"L{seed}.npy"), "targets": P(f"T{seed}.npy"), "e": float(e), "reduction": red,
                         "ignore": -100, "out": P(f"o{tag}.npy"), "grad_out": P(f"g{tag}.npy") if grad else None})
            cases.append((seed, N, K, e, red, grad, tag))
        json.dump(jobs, open(P("jobs.json"), "w"))
        check("TF.js ran every job", not node(["jobs", P("jobs.json")]), "")
        for seed, N, K, e, red, grad, tag in cases:  # seeds >= 100: the random configurations
            base = ["check", "--logits", P(f"L{seed}.npy"), "--targets", P(f"T{seed}.npy"), "--smoothing", e,
                    "--reduction", red, "--loss-file", P(f"o{tag}.npy")] + (["--grad", P(f"g{tag}.npy")] if grad else [])
            nvals = (N if red == "none" else 1) + (N * K if grad else 0)
            name = f"seed {seed} {N}x{K} e={e} {red}{' +grad' if grad else ''}"
            r = lsce(base + ["--variant", "k"])
            lines = r.stdout.splitlines()
            u = float(re.match(r"loss ulp=(\S+)", lines[0]).group(1)) if lines else 0
            if seed >= 100 and r.returncode == 0:
                check(f"{name}: TF.js k passes", lines[-1].startswith("PASS"), r.stdout)
            else:
                check(f"{name}: TF.js k fails", r.returncode == 1 and (u > 4 or seed >= 100), r.stdout + r.stderr)
                check(f"{name}: cause accuracy variant=k at the given e",
                      re.fullmatch(rf"cause accuracy variant=k smoothing={re.escape(e)} ulp=\S+ values={nvals}", lines[-1] if lines else "")
                      is not None and lines[-2].startswith(f"match variant=k smoothing={e} reduction={red} "), repr(lines[-2:]))
            r = lsce(base + ["--variant", "k1"])
            lines = r.stdout.splitlines()
            k1e = q_str(Fraction(e) * (K - 1) / K)
            ok = re.fullmatch(rf"cause formulation variant=(k smoothing={re.escape(e)}|k1 smoothing={re.escape(k1e)}) ulp=\S+ values={nvals}",
                              lines[-1] if lines else "")
            check(f"{name}: claimed k1, cause formulation naming k", r.returncode == 1 and ok is not None, repr(lines[-2:]))
        # --json: the cause object with every candidate's residual
        seed, N, K, e, red, grad, tag = cases[2]
        r = lsce(["check", "--logits", P(f"L{seed}.npy"), "--targets", P(f"T{seed}.npy"), "--smoothing", e, "--reduction", red,
                  "--loss-file", P(f"o{tag}.npy"), "--grad", P(f"g{tag}.npy"), "--variant", "k1", "--json"])
        j = json.loads(r.stdout)
        check("--json cause", j["cause"]["cause"] == "formulation" and j["cause"]["values"] == 1 + N * K
              and all("ulp" in x and "fits" in x for x in j["cause"]["candidates"]) and len(j["cause"]["candidates"]) >= 8, r.stdout[:400])
        # probe + identify on TF.js
        r = lsce(["probe", "--out", P("probe")])
        for e in ["0.1", "0.25"]:
            out = P("tf" + e); os.makedirs(out)
            node(["probe", P("probe"), out, e])
            r = lsce(["identify", "--probe", P("probe"), "--outputs", out])
            check(f"identify TF.js at {e}", r.returncode == 0 and r.stdout == f"identify variant=k smoothing={e}\n", r.stdout + r.stderr)
        # the peer table driver on two fixtures
        p = subprocess.run([sys.executable, os.path.join(ROOT, "fixtures", "peers", "tfjs_peer.py"), "--lsce", LSCE,
                            "--cases", "seed_article,offset_1e4_f32", "--out", P("peers.json")], capture_output=True, text=True, timeout=300)
        ok = p.returncode == 0 and os.path.exists(P("peers.json"))
        rows = json.load(open(P("peers.json")))["results"] if ok else []
        check("peer table written", ok and len(rows) == 24 and all(r["impl"] == "tfjs" for r in rows), p.stdout + p.stderr)
        off = [r for r in rows if r["case"] == "offset_1e4_f32"]
        check("offset 1e4: every row fails and is diagnosed accuracy variant=k",
              off and all(not r["pass"] and r["cause"].startswith("accuracy variant=k smoothing=" + r["smoothing"]) for r in off),
              str([(r["smoothing"], r["reduction"], r["loss_ulp"], r["cause"]) for r in off]))
    T.finish()


if __name__ == "__main__":
    main()
