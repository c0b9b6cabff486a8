#!/usr/bin/python3
"""report/accuracy_sweep.py: the accuracy half of REPORT.md's "Accuracy beside speed": worst ulp of
every CPU row and of PyTorch on fixtures of the benchmark sweep's shapes, written as
report/data/accuracy-sweep.json.

The fixtures are generated here with fixtures/gen_fixtures.py's writer (its manifest format and
SHA-256s; np.random.RandomState seeded per case, so the same seed gives the same files): for each
shape and dtype, logits N(0,1) and uniform targets, as the benchmarks use (not their bytes: the
benchmark's inputs come from lsce-bench's own hash), variant k, e = 0.1, mean, the full gradient
checked. Then
  - `lsce verify --fixtures DIR --json` measures every registry row (loss in float32 ulps, gradient
    row-normwise in the input dtype, against the certified reference), and
  - `fixtures/peers/torch_peer.py --fixtures DIR` measures PyTorch the same way (the peer table);
    only the results whose torch dtype is the fixture's dtype are kept.

usage: accuracy_sweep.py [--lsce build/cli/lsce] [--out report/data/accuracy-sweep.json]
                         [--shapes 64x1000,4096x1000,...] [--dtypes float32,bfloat16] [--keep DIR]
                         [--reuse DIR] [--torch-shapes NxK,...]
--keep DIR writes the fixtures to DIR/fixtures and verify's JSON to DIR/verify.json; --reuse DIR
takes both from there (same seed and shapes) and runs only the PyTorch peer; --torch-shapes limits
the PyTorch peer to those shapes (its `lsce check` of every gradient entry is the slow step).
Exit 0 when written, 2 on usage, 3 when a step failed.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "fixtures"))
import gen_fixtures as G  # noqa: E402

# Shapes of the sweep (bench/lsce_bench.c): from both N sweeps and the K sweep.
DEFAULT_SHAPES = "64x1000,4096x1000,64x32000,512x32000,512x128256"
SEED = 20261129
SMOOTHING = "0.1"


def builder(n, k, dtype):
    def build(rs):
        return dict(regime="speed_sweep",
                    covers="%dx%d %s, logits N(0,1), uniform targets: a shape of the benchmark "
                    "sweep, for accuracy beside speed" % (n, k, dtype),
                    logits=rs.standard_normal((n, k)), dtype=dtype, targets=rs.randint(0, k, size=n),
                    variants=["k"], smoothings=[SMOOTHING], reductions=["mean"],
                    grad=G.grad(smoothings=[SMOOTHING], reductions=("mean",), variants=["k"]))
    return build


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lsce", default=os.path.join(ROOT, "build", "cli", "lsce"))
    ap.add_argument("--out", default=os.path.join(HERE, "data", "accuracy-sweep.json"))
    ap.add_argument("--shapes", default=DEFAULT_SHAPES)
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--keep", help="write the fixtures and verify.json here (default: a "
                    "temporary directory)")
    ap.add_argument("--reuse", help="a --keep directory of an earlier run: skip generation and verify")
    ap.add_argument("--torch-shapes", help="run the PyTorch peer on these shapes only")
    a = ap.parse_args(argv)
    try:
        shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
        assert all(len(s) == 2 and s[0] > 0 and s[1] > 1 for s in shapes)
    except (ValueError, AssertionError):
        print("lsce: --shapes: want NxK[,NxK...]: %r" % a.shapes, file=sys.stderr)
        return 2
    dtypes = a.dtypes.split(",")
    if any(d not in ("float32", "bfloat16", "float16", "float64") for d in dtypes):
        print("lsce: --dtypes: float32, bfloat16, float16, float64: %r" % a.dtypes,
              file=sys.stderr)
        return 2
    cases = [("sweep_%dx%d_%s" % (n, k, d), builder(n, k, d)) for n, k in shapes for d in dtypes]
    G.SETS["speed_sweep"] = cases
    tshapes = shapes
    if a.torch_shapes:
        tshapes = [tuple(int(v) for v in s.split("x")) for s in a.torch_shapes.split(",")]
    tcases = ["sweep_%dx%d_%s" % (n, k, d) for n, k in tshapes for d in dtypes]
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="lsce-accuracy-sweep-") as tmp:
        work = a.reuse or a.keep or tmp
        fx = os.path.join(work, "fixtures")
        vjson, tjson = os.path.join(work, "verify.json"), os.path.join(tmp, "torch.json")
        if a.reuse:
            with open(os.path.join(fx, "manifest.json")) as f:
                manifest = json.load(f)
        else:
            manifest = G.generate(fx, "speed_sweep", SEED)
        fdtype = {c["case"]: c["dtype"] for c in manifest["cases"]}
        steps = [] if a.reuse else [([a.lsce, "verify", "--fixtures", fx, "--json", vjson],
                                     (0, 1))]
        steps.append(([sys.executable, os.path.join(ROOT, "fixtures", "peers", "torch_peer.py"),
                       "--fixtures", fx, "--lsce", a.lsce, "--dtypes", ",".join(
                           d for d in dtypes if d in ("float32", "float64", "bfloat16")),
                       "--cases", ",".join(tcases), "--out", tjson, "--jobs", "1"], (0,)))
        for cmd, ok in steps:
            print("accuracy_sweep: %s" % " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT)
                                                   else c for c in cmd), file=sys.stderr)
            p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
            if p.returncode not in ok:
                print("lsce: accuracy_sweep: %s: exit %d: %s" % (cmd[0], p.returncode,
                                                                 p.stderr.strip()[-400:]),
                      file=sys.stderr)
                return 3
        with open(vjson) as f:
            verify = json.load(f)
        with open(tjson) as f:
            peer = json.load(f)
    peer["results"] = [r for r in peer.get("results", []) if fdtype.get(r.get("case")) ==
                       r.get("dtype")]
    doc = {
        "schema": 1,
        "command": "/usr/bin/python3 report/accuracy_sweep.py --shapes %s --dtypes %s%s" % (
            a.shapes, a.dtypes, " --torch-shapes %s" % a.torch_shapes if a.torch_shapes else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_s": round(time.time() - t0, 1),
        "fixtures": {"seed": SEED, "generator": "report/accuracy_sweep.py over "
                     "fixtures/gen_fixtures.py", "smoothing": SMOOTHING, "variant": "k",
                     "reduction": "mean", "dtypes": dtypes,
                     "shapes": [[n, k] for n, k in shapes],
                     "torch_shapes": [[n, k] for n, k in tshapes],
                     "shapes_text": ", ".join("%dx%d" % s for s in shapes) + " in " +
                     " and ".join(dtypes)},
        "verify": verify,
        "torch": peer,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        f.write(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    os.replace(a.out + ".tmp", a.out)
    print("accuracy_sweep: wrote %s (%d lsce results, %d PyTorch results) in %.0f s" % (
        a.out, len(verify.get("results", [])), len(peer["results"]), doc["wall_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
