"""The Ziv loop: --precision changes the time, never an output; a low starting precision is raised
(reported by the test-only lsce-dev, never by lsce); with a maximum precision too small for a hard
case the reference exits 3 with its one-line message and prints no value.
Usage: /usr/bin/python3 tests/test_ziv.py path/to/lsce path/to/lsce-dev"""
import os, subprocess, sys, tempfile

try:
    import numpy as np
except ImportError as e:
    print(f"skip: {e}"); sys.exit(77)

LSCE, DEV = (os.path.abspath(a) for a in sys.argv[1:3])
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond: passed += 1
    else: failed += 1; print(f"FAIL {name}: {detail}")


def main():
    rs = np.random.RandomState(20261128)
    with tempfile.TemporaryDirectory() as d:
        # a hard case: a +1e4 offset on every row and K = 300, so 64 bits cannot settle the rounding
        z = (rs.standard_normal((4, 300)) + 1e4).astype(np.float32)
        np.save(os.path.join(d, "L.npy"), z)
        np.save(os.path.join(d, "T.npy"), rs.randint(0, 300, size=4).astype(np.int64))
        base = ["--logits", "L.npy", "--targets", "T.npy", "--variant", "k1", "--smoothing", "0.1"]
        outs = {}
        for red in ["mean", "none"]:
            for prec in ["16", "64", "1000"]:
                r = subprocess.run([LSCE, "reference"] + base + ["--reduction", red, "--precision", prec,
                                   "--grad-out", f"g{prec}.npy"], cwd=d, capture_output=True, text=True)
                check(f"reference {red} --precision {prec} exit", r.returncode == 0, r.stderr)
                g = np.load(os.path.join(d, f"g{prec}.npy")) if r.returncode == 0 else None
                outs[(red, prec)] = (r.stdout, None if g is None else g.tobytes())
            same = len({outs[(red, p)] for p in ["16", "64", "1000"]}) == 1
            check(f"{red}: outputs independent of --precision", same)
        for f in os.listdir(d):
            if f.startswith("g"): os.remove(os.path.join(d, f))
        r = subprocess.run([DEV, "golden"] + base + ["--precision", "16"], cwd=d, capture_output=True, text=True)
        reached = int(r.stdout.split("\n")[0].split()[1]) if r.returncode == 0 else 0
        check("a low starting precision is raised", reached > 64, f"reached {reached}: {r.stderr}")
        env = dict(os.environ, LSCE_MAX_PRECISION="64")
        r = subprocess.run([LSCE, "reference"] + base + ["--out", "o.npy", "--grad-out", "g.npy"], cwd=d, capture_output=True, text=True, env=env)
        check("forced failure exits 3", r.returncode == 3, f"exit {r.returncode}")
        check("forced failure prints no value", r.stdout == "", repr(r.stdout))
        lines = r.stderr.splitlines()
        check("forced failure: one line naming the subcommand",
              len(lines) == 1 and lines[0].startswith("lsce: reference: ") and "64 bits" in lines[0], repr(r.stderr))
        check("forced failure writes no output", not os.path.exists(os.path.join(d, "o.npy")) and not os.path.exists(os.path.join(d, "g.npy")))
        env = dict(os.environ, LSCE_MAX_PRECISION="12")
        r = subprocess.run([LSCE, "reference"] + base, cwd=d, capture_output=True, text=True, env=env)
        check("LSCE_MAX_PRECISION below 16 is a usage error", r.returncode == 2, r.stderr)
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
