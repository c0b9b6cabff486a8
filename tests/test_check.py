"""`lsce check`: the article's numbers, acceptance and rejection in ulps, loss/gradient files and
dtypes, and the diagnosis on random (K, e, variant) cases: a loss computed (by the reference) for
one formulation and checked as another at the same e is told which formulation it computes; one
full-precision scalar at another e is never solved for a free e (cause unknown); per-row values
claimed at another e over-determine it, and the fitted e is the true one.
Usage: /usr/bin/python3 tests/test_check.py path/to/lsce"""
import json, os, re, subprocess, sys, tempfile

try:
    import numpy as np
except ImportError as e:
    print(f"skip: {e}"); sys.exit(77)

LSCE = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lsce_testlib import catalog  # noqa: E402
CATALOG = {row["id"]: row for row in catalog(LSCE)}  # the inputs each variant takes
SEED = 7
passed = failed = 0
PARTNER = {"k": "k1", "k1": "k", "k-logprob-weighted": "k1-logprob-weighted", "k1-logprob-weighted": "k-logprob-weighted"}


def check(name, cond, detail=""):
    global passed, failed
    if cond: passed += 1
    else: failed += 1; print(f"FAIL {name}: {detail} (seed {SEED})")


def lsce(args, cwd):
    return subprocess.run([LSCE] + args, cwd=cwd, capture_output=True, text=True, timeout=120)


def f32_ulp(x):
    return float(np.spacing(np.float32(abs(x))))


def main():
    rs = np.random.RandomState(SEED)
    with tempfile.TemporaryDirectory() as d:
        z = np.array([[0, .2, .7, .1, 0], [0, .9, .2, .2, 1], [1, .2, .7, .9, 1]], dtype=np.float32)
        np.save(os.path.join(d, "L.npy"), z)
        np.save(os.path.join(d, "T.npy"), np.array([2, 1, 0], dtype=np.int64))
        P = ["--logits", "L.npy", "--targets", "T.npy"]
        # the article: its K-1 code passes 0.5 and prints 1.4178, which is k1 at 0.3 (= k at 0.375)
        r = lsce(["check"] + P + ["--variant", "k1", "--smoothing", "0.5", "--loss", "1.4178"], d)
        lines = r.stdout.splitlines()
        check("article k1 flagged", r.returncode == 1 and len(lines) == 4 and lines[1].startswith("FAIL "), r.stdout + r.stderr)
        check("article k1 matched to 0.3", len(lines) == 4 and lines[2].startswith("match variant=k1 smoothing=0.3 reduction=mean ulp=")
              and lines[2].endswith("(= k at 0.375; given 0.5)"), repr(lines))
        # its cause: another formulation (e fitted with 1 digit, reproducing every typed digit), one value
        check("article k1 cause", len(lines) == 4 and lines[3].startswith("cause formulation variant=k1 smoothing=0.3 ulp=")
              and lines[3].endswith(" values=1"), repr(lines))
        # 1.3883 is k at 0.3 to its printed digits (116 float32 ulps from the exact value)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss", "1.3883"], d)
        lines = r.stdout.splitlines()
        check("article k: 116 ulps, matched at the given e", len(lines) == 4 and lines[0].startswith("loss ulp=116 row=-1 ")
              and lines[2].startswith("match variant=k smoothing=0.3 reduction=mean ulp=116")
              and lines[3] == "cause accuracy variant=k smoothing=0.3 ulp=116 values=1", repr(lines))
        # the reference's own float64 output passes at 0.5 ulp in float64
        ref = lsce(["reference"] + P + ["--variant", "k", "--smoothing", "0.3", "--out", "ref.npy"], d)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss", ref.stdout.strip(),
                  "--dtype", "float64", "--max-ulp", "0.5"], d)
        check("reference output accepted at 0.5 ulp float64", r.returncode == 0 and "PASS max_ulp=0.5" in r.stdout, r.stdout + r.stderr)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss-file", "ref.npy", "--dtype", "float64",
                  "--max-ulp", "0.5"], d)
        check("reference output file accepted", r.returncode == 0, r.stdout + r.stderr)
        # 3 float32 ulps off is rejected at --max-ulp 2, accepted at 3.5
        v = np.float32(float(ref.stdout))
        off = np.float32(v + np.float32(3) * np.float32(f32_ulp(v)))
        np.save(os.path.join(d, "off.npy"), np.array(off, dtype=np.float32))
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss-file", "off.npy", "--max-ulp", "2"], d)
        u = float(r.stdout.split()[1].split("=")[1]) if r.stdout else -1
        check("3 ulps rejected at 2", r.returncode == 1 and 2 < u <= 3.5, r.stdout + r.stderr)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss-file", "off.npy", "--max-ulp", "3.5"], d)
        check("3 ulps accepted at 3.5", r.returncode == 0, r.stdout + r.stderr)
        # gradient: the reference's gradient passes, a perturbed one fails with its row and column
        lsce(["reference"] + P + ["--variant", "k", "--smoothing", "0.3", "--grad-out", "g.npy"], d)
        g = np.load(os.path.join(d, "g.npy")).astype(np.float32)
        np.save(os.path.join(d, "g32.npy"), g)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss-file", "ref.npy", "--grad", "g32.npy"], d)
        check("float32 gradient passes", r.returncode == 0 and "\ngrad ulp=" in r.stdout, r.stdout + r.stderr)
        g2 = g.copy(); g2[1, 3] = np.float32(g2[1, 3] * np.float32(1.001))
        np.save(os.path.join(d, "g32b.npy"), g2)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss-file", "ref.npy", "--grad", "g32b.npy"], d)
        check("perturbed gradient fails at row 1 col 3", r.returncode == 1 and " row=1 col=3 " in r.stdout, r.stdout)
        # none: a vector; the k1 vector checked as k is matched to k1
        lsce(["reference"] + P + ["--variant", "k1", "--smoothing", "0.2", "--reduction", "none", "--out", "v.npy"], d)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.2", "--reduction", "none", "--loss-file", "v.npy",
                  "--dtype", "float64"], d)
        check("none vector matched to the partner", r.returncode == 1 and
              "match variant=k1 smoothing=0.2 reduction=none" in r.stdout and "(= k at 0.25; given 0.2)" in r.stdout, r.stdout)
        # a library convention's e: k at 0.2 is mmpretrain classy_vision's e/(1+e) for a given 0.25
        lsce(["reference"] + P + ["--variant", "k", "--smoothing", "0.2", "--reduction", "none", "--out", "c.npy"], d)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.25", "--reduction", "none", "--loss-file", "c.npy",
                  "--dtype", "float64", "--json"], d)
        try:
            cj = json.loads(r.stdout)["cause"]
            check("classy_vision convention", cj["cause"] == "formulation" and cj["variant"] == "k" and cj["smoothing"] == "0.2"
                  and any(x["source"] == "convention" and "classy_vision" in x.get("convention", "") and x["fits"]
                          for x in cj["candidates"]), r.stdout[:300])
        except ValueError as ex:
            check("classy_vision json", False, f"{ex}: {r.stdout!r}")
        # a non-finite value in a loss file is measured, never a crash (regression: SIGFPE in GMP)
        for bad in [np.nan, np.inf, -np.inf]:
            np.save(os.path.join(d, "bad.npy"), np.array(bad, dtype=np.float32))
            r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss-file", "bad.npy"], d)
            check(f"loss file holding {bad}", r.returncode == 1 and "loss ulp=inf" in r.stdout, f"exit {r.returncode}: {r.stdout}{r.stderr}")
        # --json
        r = lsce(["check"] + P + ["--variant", "k1", "--smoothing", "0.5", "--loss", "1.4178", "--json"], d)
        try:
            j = json.loads(r.stdout)
            check("json", j["pass"] is False and j["match"]["variant"] == "k1" and j["match"]["smoothing"] == "0.3", r.stdout)
            cj = j["cause"]
            check("json cause", cj["cause"] == "formulation" and cj["variant"] == "k1" and cj["smoothing"] == "0.3"
                  and cj["values"] == 1 and any(x["variant"] == "k1" and x["smoothing"] == "0.5" and x["source"] == "given"
                                                and not x["fits"] for x in cj["candidates"]), r.stdout)
        except Exception as ex:
            check("json parses", False, f"{ex}: {r.stdout!r}")
        # usage errors
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3"], d)
        check("loss required", r.returncode == 2 and r.stderr.startswith("lsce: --loss: "), r.stderr)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss", "1", "--dtype", "float32", "--loss-dtype", "float64"], d)
        check("--dtype with --loss-dtype", r.returncode == 2 and r.stderr.startswith("lsce: --dtype: "), r.stderr)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss", "x1"], d)
        check("bad --loss", r.returncode == 2 and r.stderr.startswith("lsce: --loss: "), r.stderr)
        r = lsce(["check"] + P + ["--variant", "k", "--smoothing", "0.3", "--loss-file", "g.npy"], d)
        check("loss file of the wrong shape", r.returncode == 2 and r.stderr.startswith("lsce: g.npy: "), r.stderr)

        # the match search on random cases
        # the diagnosis's model; k1-megatron (needs --tp) is tests/test_megatron.py's
        variants = [v for v, r in CATALOG.items() if r["family"] == "softmax" and not r.get("needs_tp")]
        for case in range(24):
            K = int(rs.choice([3, 5, 10, 50]))
            N = int(rs.randint(2, 6))
            zz = rs.standard_normal((N, K)) * 2
            tt = rs.randint(0, K, N)
            ww = rs.uniform(0.2, 2.0, K)
            np.save(os.path.join(d, "Lr.npy"), zz)
            np.save(os.path.join(d, "Tr.npy"), tt.astype(np.int64))
            np.save(os.path.join(d, "Wr.npy"), ww)
            v = variants[case % len(variants)]
            e = "%.2f" % rs.uniform(0.05, 0.95)
            e = e.rstrip("0")
            red = ["mean", "sum"][case % 2]
            extra = ["--weights", "Wr.npy", "--pad-index", str(K - 1)]
            base = ["--logits", "Lr.npy", "--targets", "Tr.npy"] + extra
            ref = lsce(["reference", "--logits", "Lr.npy", "--targets", "Tr.npy", "--variant", v, "--smoothing", e,
                        "--reduction", red, "--out", "x.npy"] + (["--weights", "Wr.npy"] if CATALOG[v]["needs_weights"] else [])
                       + (["--pad-index", str(K - 1)] if CATALOG[v]["needs_pad_index"] else []), d)
            if ref.returncode != 0:
                check(f"case {case} reference", False, ref.stderr)
                continue
            # claim another formulation at the same smoothing: the diagnosis names v at e (or an
            # equivalent: its K/K-1 partner, equal weighted sums, mean = sum when D = 1)
            claim = "k" if v != "k" else "k-nll-weighted"
            r = lsce(["check"] + base + ["--variant", claim, "--smoothing", e, "--reduction", red, "--loss-file", "x.npy",
                      "--dtype", "float64"], d)
            lines = r.stdout.splitlines()
            last = lines[-2] if len(lines) >= 2 else ""
            want = f"match variant={v} smoothing={e} reduction={red} "
            ok = last.startswith(want) and lines[-1].startswith(f"cause formulation variant={v} smoothing={e} ")
            other_red = {"mean": "sum", "sum": "mean"}[red]
            alt = lsce(["reference", "--logits", "Lr.npy", "--targets", "Tr.npy", "--variant", v, "--smoothing", e,
                        "--reduction", other_red] + (["--weights", "Wr.npy"] if CATALOG[v]["needs_weights"] else [])
                       + (["--pad-index", str(K - 1)] if CATALOG[v]["needs_pad_index"] else []), d)
            if not ok and alt.stdout == ref.stdout:  # |V| = 1 (or D = 1): mean and sum coincide
                ok = last.startswith(f"match variant={v} smoothing={e} reduction={other_red} ")
            if not ok and v in PARTNER:
                ok = last.startswith(f"match variant={PARTNER[v]} ") and f"(= {v} at {e}; given {e})" in last
            if not ok and red == "sum" and v in ("k-torch-weighted", "k-logprob-weighted"):
                # per-row losses are equal, so their sums are too (docs/formulations.md "Identities")
                other = "k-logprob-weighted" if v == "k-torch-weighted" else "k-torch-weighted"
                ok = last.startswith(f"match variant={other} smoothing={e} reduction=sum ")
            if not ok and claim == "k" and v in ("k-torch-weighted", "k-logprob-weighted", "k-nll-weighted"):
                # with near-equal weights a weighted form can be within noise of k itself
                ok = lines[-1].startswith("cause accuracy variant=k ")
            check(f"match search case {case}: K={K} N={N} {v} e={e} {red}", ok, f"got {lines[-2:]!r}, want {want!r}...")
            # one full-precision scalar at another e is never solved for a free e: unknown
            r = lsce(["check"] + base + ["--variant", claim, "--smoothing", "0.5", "--reduction", red, "--loss-file", "x.npy",
                      "--dtype", "float64"], d)
            lines = r.stdout.splitlines()
            unk = lines[-2:] and lines[-2] == "match none" and lines[-1].startswith("cause unknown ") and re.search(r" values=1( |$)", lines[-1]) is not None
            given = lines[-1].startswith(f"cause formulation variant={v} smoothing=") if lines else False  # a convention's e
            check(f"one scalar, no free e: case {case}", r.returncode == 1 and (unk or given), repr(lines[-2:]))
            # per-row values over-determine e: claimed at 0.5, the fitted e is e itself
            ref2 = lsce(["reference", "--logits", "Lr.npy", "--targets", "Tr.npy", "--variant", v, "--smoothing", e,
                         "--reduction", "none", "--out", "xn.npy"] + (["--weights", "Wr.npy"] if CATALOG[v]["needs_weights"] else [])
                        + (["--pad-index", str(K - 1)] if CATALOG[v]["needs_pad_index"] else []), d)
            r = lsce(["check"] + base + ["--variant", v, "--smoothing", "0.5", "--reduction", "none", "--loss-file", "xn.npy",
                      "--dtype", "float64"], d)
            lines = r.stdout.splitlines()
            nV = sum(1 for t in tt if not (CATALOG[v]["pad"] and t == K - 1))
            fitted = lines[-1].startswith(f"cause formulation variant={v} smoothing={e} ") if lines else False
            if not fitted and v in PARTNER and lines:
                fitted = lines[-1].startswith(f"cause formulation variant={PARTNER[v]} ")
            check(f"per-row values fit e: case {case} {v} e={e} N={N}", ref2.returncode == 0 and r.returncode == 1 and (fitted or nV < 2),
                  repr(lines[-2:]))
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
