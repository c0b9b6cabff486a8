#!/usr/bin/python3
"""tests/test_options_rows.py: the exact CPU rows on issue #15's options (impls/cpu/optrows.c), from
the command line, against the certified reference, on the options fixture set (fixtures/options/).

  test_options_rows.py LSCE FIXTURES_DIR            `lsce run --impl R --out --grad-out` of every CPU row
                                                    on a sample of the set's combos, loss and gradient
                                                    within the row's declared ulps of `lsce reference`
  test_options_rows.py LSCE FIXTURES_DIR --noref    `lsce verify --json` with LSCE_ROW_REFERENCE=0: every
                                                    result within bound or with flagged rows

The gradient check uses a floor no larger than verify's: tau_i = 2^-(p+3) max_j |r_ij| (the row's
largest exact entry is at most the metric's sigma_i, docs/accuracy.md), so it is at least as strict.
cuda_rowblock, cuda_warp, cuda_split (tests/test_cuda_options.py runs them emulated), cuda_nccl_vocab
(tests/test_cuda_nccl.py runs it emulated) and mpi_vocab_parallel (tests/test_mpi_options.py runs it
under lsce-mpi) take them: exit 3 here without their device, as without options; a row that did
not compute them would have to refuse them with the contract's exit 2 line."""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import golden  # noqa: E402

ROWS = ["cpu_twopass", "cpu_online", "cpu_avx2", "cpu_threads", "cpu_sharded"]
CUDA_ROWS = ["cuda_rowblock", "cuda_warp", "cuda_split", "cuda_nccl_vocab"]  # take the options too
PREC = {"float64": 53, "float32": 24, "float16": 11, "bfloat16": 8}
EMIN = {"float64": -1022, "float32": -126, "float16": -14, "bfloat16": -126}
failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    if not cond:
        failures.append(what)
        print("FAIL " + what, flush=True)


def ulp(x, dt):
    x = abs(x)
    e = max(math.frexp(x)[1] - 1 if x > 0 else EMIN[dt], EMIN[dt])
    return math.ldexp(1.0, e - PREC[dt] + 1)


def within(got, ref, dt, bound, tau):
    if math.isnan(ref) or math.isinf(ref):
        return (math.isnan(ref) and math.isnan(got)) or got == ref
    return abs(got - ref) <= bound * ulp(max(abs(ref), tau), dt)


def bounds(lsce):
    out = subprocess.run([lsce, "impls", "--json"], capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    rows = rows["impls"] if isinstance(rows, dict) else rows
    return {r["name"]: r for r in rows}


def bound_of(impls, name, dt):
    b = impls[name]["bounds"]
    b = b[dt] if isinstance(b, dict) else b
    return float(b["loss_ulp"]), float(b["grad_ulp"])


def run_mode(lsce, root):
    manifest = json.load(open(os.path.join(root, "manifest.json")))
    golden.set_lsce(lsce)
    impls = bounds(lsce)
    with tempfile.TemporaryDirectory() as tmp:
        out, gout = os.path.join(tmp, "o.npy"), os.path.join(tmp, "g.npy")
        for case in manifest["cases"]:
            dt = case["dtype"]
            ldt = "float64" if dt == "float64" else "float32"
            # a sample (verify runs them all): the last smoothing, every variant, mean and none
            combos = [c for c in golden.combos(case) if c[1] == case["smoothings"][-1] and c[2] != "sum"]
            for v, s, r in combos:
                pa = golden.problem_args(case, root, v, s, r)
                ref = subprocess.run([lsce, "reference"] + pa + ["--out", out, "--grad-out", gout],
                                     capture_output=True, text=True)
                check(ref.returncode == 0, "reference %s %s %s %s: %s" % (case["case"], v, s, r, ref.stderr.strip()))
                if ref.returncode:
                    continue
                L, G = np.load(out).reshape(-1), np.load(gout)
                for im in ROWS:
                    lb, gb = bound_of(impls, im, dt)
                    p = subprocess.run([lsce, "run", "--impl", im] + pa + ["--out", out, "--grad-out", gout],
                                       capture_output=True, text=True)
                    what = "run %s %s %s %s %s" % (im, case["case"], v, s, r)
                    check(p.returncode == 0 and not p.stderr, what + ": exit %d %s" % (p.returncode, p.stderr.strip()))
                    if p.returncode:
                        continue
                    l, g = np.load(out).reshape(-1), np.load(gout)
                    for i in range(len(L)):
                        check(within(float(l[i]), float(L[i]), ldt, lb, 0.0),
                              what + " loss %d: got %r ref %r" % (i, float(l[i]), float(L[i])))
                    for i in range(G.shape[0]):
                        fin = G[i][np.isfinite(G[i])]
                        tau = math.ldexp(float(np.max(np.abs(fin))) if fin.size else 0.0, -(PREC[dt] + 3))
                        bad = [j for j in range(G.shape[1])
                               if not within(float(g[i, j]), float(G[i, j]), dt, gb, tau)]
                        check(not bad, what + " grad row %d cols %s: got %r ref %r" % (
                            i, bad[:4], [float(g[i, j]) for j in bad[:2]], [float(G[i, j]) for j in bad[:2]]))
        # the rows that do not compute the options refuse them: exit 2, the contract's line, on a
        # float32 case (every row takes float32 but mpi_vocab_parallel's and CUDA's devices are absent:
        # the refusal comes first, so the line is the same with a device)
        case = [c for c in manifest["cases"] if c["dtype"] == "float32" and c.get("options")][0]
        pa = golden.problem_args(case, root, case["variants"][0], case["smoothings"][0], "mean")
        what = case["options"][0]
        for im in [n for n in impls if n not in ROWS]:
            p = subprocess.run([lsce, "run", "--impl", im] + pa, capture_output=True, text=True)
            dev = "mpi" if im == "mpi_vocab_parallel" else "cuda"
            if im in CUDA_ROWS or im == "mpi_vocab_parallel":  # they compute the options (impls/cuda/optkern.h,
                # impls/vocab_options.c): no refusal, and without their device the usual exit 3
                check(p.returncode == 0 or (p.returncode == 3 and p.stderr == "lsce: --impl: %s: no %s device is available here\n" % (im, dev)),
                      "run %s takes the options: exit %d %r" % (im, p.returncode, p.stderr))
                continue
            want = "lsce: --impl: %s does not take %s\n" % (im, what)
            check(p.returncode == 2 and p.stdout == "" and p.stderr == want,
                  "run %s refuses the options: exit %d %r, want %r" % (im, p.returncode, p.stderr, want))


        # mpi_vocab_parallel computes them under lsce-mpi (tests/test_mpi_options.py); here, outside
        # mpirun, it answers as without options: its device is absent (exit 3)
        p = subprocess.run([lsce, "run", "--impl", "mpi_vocab_parallel"] + pa, capture_output=True, text=True)
        want = "lsce: --impl: mpi_vocab_parallel: no mpi device is available here\n"
        check(p.returncode == 3 and p.stdout == "" and p.stderr == want,
              "run mpi_vocab_parallel outside lsce-mpi: exit %d %r, want %r" % (p.returncode, p.stderr, want))


def noref_mode(lsce, root):
    with tempfile.TemporaryDirectory() as tmp:
        j = os.path.join(tmp, "v.json")
        env = dict(os.environ, LSCE_ROW_REFERENCE="0")
        p = subprocess.run([lsce, "verify", "--fixtures", root, "--impl", "all", "--json", j],
                           capture_output=True, text=True, env=env)
        check(p.returncode in (0, 1), "verify exit %d: %s" % (p.returncode, p.stderr[-400:]))
        res = json.load(open(j))["results"]
        check(len(res) > 0, "verify ran something")
        for x in res:
            check(x["pass"] or x["flagged_rows"] > 0,
                  "%s %s %s %s %s: outside its bound and not flagged (loss %.3g grad %.3g ulp)" % (
                      x["impl"], x["case"], x["variant"], x["smoothing"], x["reduction"], x["loss_ulp"], x["grad_ulp"]))


def main():
    lsce, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    (noref_mode if "--noref" in sys.argv[3:] else run_mode)(lsce, root)
    print("%d checks, %d failed" % (checks[0], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
