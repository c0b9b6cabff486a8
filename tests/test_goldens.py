#!/usr/bin/python3
"""The fixture set and its certified goldens. Proves, in order:
  1. every file the manifest names has the manifest's SHA-256 (and each golden names those hashes);
  2. fixtures/gen_fixtures.py is deterministic: the same set regenerated from the manifest's seed
     into a temporary directory gives the same bytes (manifest.json and every .npy);
  3. for every (case, variant, smoothing, reduction) of the manifest, a fresh lsce-dev process prints
     exactly the golden lines (hi and lo, bit for bit), and `lsce reference` prints %.17g of each
     loss's hi, writes hi to --out and the golden gradient's hi to --grad-out.
With --set large the goldens live in the build directory; missing or stale ones are generated
first by lsce-dev (then step 3 checks `lsce reference` against them and skips the lsce-dev rerun).

Usage: /usr/bin/python3 tests/test_goldens.py LSCE_DEV LSCE FIXTURES_DIR [--set small|large]
                                              [--generate] [--jobs J] [--cases A,B]
                                              [--no-determinism]
--generate first writes the set into FIXTURES_DIR with fixtures/gen_fixtures.py (the slow suite
does so for <build>/fixtures-large). --jobs defaults to $LSCE_TEST_JOBS, else the CPU count.
Last line "N passed, M failed, S skipped"; exit 0 iff M == 0; 77 when numpy is missing.
A failure prints the case, the combo and the command that reproduces it."""

import argparse
import concurrent.futures
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    import numpy as np
except ImportError as exc:  # pragma: no cover
    print("skip: cannot import numpy (%s); run with Debian's /usr/bin/python3" % exc)
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES_SRC = os.path.join(os.path.dirname(HERE), "fixtures")
sys.path.insert(0, FIXTURES_SRC)
import golden  # noqa: E402  (fixtures/golden.py)

GENERATOR = os.path.join(FIXTURES_SRC, "gen_fixtures.py")
LSCE = [None]  # the lsce under test (main)
_lock = threading.Lock()
counts = {"passed": 0, "failed": 0, "skipped": 0}


def result(ok, what, detail=""):
    with _lock:
        if ok is None:
            counts["skipped"] += 1
            print("SKIP %s%s" % (what, ": " + detail if detail else ""), flush=True)
        elif ok:
            counts["passed"] += 1
        else:
            counts["failed"] += 1
            print("FAIL %s%s" % (what, ": " + detail if detail else ""), flush=True)


def g17(x):
    """`lsce reference`'s line for a float64 (docs/cli.md "reference and run": %.17g, 0, inf, -inf, nan)."""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return "%.17g" % x


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def same_double(a, b):
    """Bit for bit, except that any NaN equals any NaN (lsce prints no payloads)."""
    return (a != a and b != b) or bits(a) == bits(b)


def parse_values(lines):
    """Golden value lines -> ([(i, hi)] for the losses, (i, j, hi) arrays for the gradient)."""
    losses, gi, gj, ghi = [], [], [], []
    for line in lines:
        f = line.split(" ")
        if f[0] == "grad" and len(f) == 5:
            gi.append(int(f[1]))
            gj.append(int(f[2]))
            ghi.append(float.fromhex(f[3]))
        elif f[0] == "loss" and len(f) == 4:
            losses.append((int(f[1]), float.fromhex(f[2])))
        else:
            raise ValueError("bad golden line %r" % line)
    return losses, (np.array(gi, dtype=np.int64), np.array(gj, dtype=np.int64),
                    np.array(ghi, dtype=np.float64))


def shq(argv):
    return " ".join(a if a and all(c.isalnum() or c in "-_./,=+" for c in a) else "'%s'" % a for a in argv)


# ----------------------------------------------------------------------------------------------

def check_files(manifest, root):
    """Step 1: SHA-256 of every input; returns the names of the cases whose inputs are intact."""
    intact = set()
    for case in manifest["cases"]:
        ok_case = True
        for key, f in sorted(case["files"].items()):
            if not f:
                continue
            path = os.path.join(root, f["path"])
            if not os.path.exists(path):
                ok, detail = False, "missing"
            else:
                got = golden.sha256_file(path)
                ok, detail = got == f["sha256"], "sha256 %s, manifest says %s" % (got, f["sha256"])
            result(ok, "sha256 %s" % f["path"], "" if ok else detail)
            ok_case &= ok
        if ok_case:
            intact.add(case["case"])
    return intact


def check_determinism(manifest, root, which):
    """Step 2: regenerate into a temporary directory and compare bytes."""
    with tempfile.TemporaryDirectory(prefix="lsce-goldens-") as tmp:
        argv = [sys.executable, GENERATOR, "--out", tmp, "--set", which, "--seed", str(manifest["seed"]),
                "--lsce", LSCE[0]]
        r = subprocess.run(argv, capture_output=True, text=True)
        ok = r.returncode == 0 and r.stdout.startswith("seed %d\n" % manifest["seed"])
        result(ok, "generator runs and prints its seed", "%s: exit %d %s" % (shq(argv), r.returncode, r.stderr.strip()))
        if r.returncode != 0:
            return
        with open(os.path.join(tmp, "manifest.json"), "rb") as f:
            new_bytes = f.read()
        with open(os.path.join(root, "manifest.json"), "rb") as f:
            old_bytes = f.read()
        result(new_bytes == old_bytes, "generator deterministic: manifest.json",
               "regenerated bytes differ (%s)" % shq(argv))
        new = json.loads(new_bytes)
        paths = sorted({f["path"] for m in (manifest, new) for c in m["cases"] for f in c["files"].values() if f})
        for p in paths:
            a, b = os.path.join(root, p), os.path.join(tmp, p)
            if not (os.path.exists(a) and os.path.exists(b)):
                result(False, "generator deterministic: %s" % p, "present in only one of the two sets")
                continue
            with open(a, "rb") as fa, open(b, "rb") as fb:
                result(fa.read() == fb.read(), "generator deterministic: %s" % p, "bytes differ (%s)" % shq(argv))


def check_combo(lsce_dev, lsce, case, root, combo, expect, rerun_dev, tmp):
    """Step 3 for one (variant, smoothing, reduction): lsce-dev rerun, then lsce reference."""
    v, s, r = combo
    what = "case=%s variant=%s smoothing=%s reduction=%s" % (case["case"], v, s, r)
    if expect is None:
        result(False, "golden " + what, "no lines for this combo in %s" % case["golden"])
        return
    if rerun_dev:
        argv = [lsce_dev] + golden.dev_args(case, root, v, s, r)
        try:
            got = golden.run_dev(lsce_dev, case, root, v, s, r)
        except golden.ToolError as e:
            result(False, "lsce-dev " + what, str(e))
        else:
            if got == expect:
                result(True, "lsce-dev " + what)
            else:
                n = next((k for k in range(min(len(got), len(expect))) if got[k] != expect[k]),
                         min(len(got), len(expect)))
                result(False, "lsce-dev " + what, "value %d: golden %r, got %r (%d vs %d values)\n  %s" % (
                    n, expect[n] if n < len(expect) else None, got[n] if n < len(got) else None,
                    len(expect), len(got), shq(argv)))
    try:
        check_reference(lsce, case, root, combo, expect, tmp, what)
    except Exception as e:  # a malformed golden or output file: report it, keep going
        result(False, "lsce reference " + what, "%s: %s" % (type(e).__name__, e))


def check_reference(lsce, case, root, combo, expect, tmp, what):
    """`lsce reference` prints %.17g of each loss's hi and writes hi to --out and --grad-out."""
    v, s, r = combo
    losses, grads = parse_values(expect)
    want_idx = list(range(case["n"])) if r == "none" else [-1]
    if [i for i, _ in losses] != want_idx:
        result(False, "golden " + what, "loss indices %s, want %s" % ([i for i, _ in losses][:8], want_idx[:8]))
        return
    rows = golden.grad_rows(case, v, s, r)
    out, gout = os.path.join(tmp, "o.npy"), os.path.join(tmp, "g.npy")
    argv = [lsce, "reference"] + golden.problem_args(case, root, v, s, r) + ["--out", out]
    if rows is not None:
        argv += ["--grad-out", gout]
    p = subprocess.run(argv, capture_output=True, text=True)
    problems = []
    if p.returncode != 0 or p.stderr:
        problems.append("exit %d, stderr %r" % (p.returncode, p.stderr.strip()))
    else:
        want = "".join(g17(hi) + "\n" for _, hi in losses)
        if p.stdout != want:
            problems.append("stdout %r, want %r" % (p.stdout[:200], want[:200]))
        o = np.load(out)
        want_shape = (case["n"],) if r == "none" else ()
        if o.shape != want_shape or o.dtype != np.float64:
            problems.append("--out shape %s dtype %s, want %s float64" % (o.shape, o.dtype, want_shape))
        o = o.reshape(-1)
        if len(o) != len(losses) or not all(same_double(float(x), hi) for x, (_, hi) in zip(o, losses)):
            problems.append("--out %r, want the golden hi" % (o[:8].tolist(),))
        if rows is not None:
            g = np.load(gout)
            n, k = case["n"], case["k"]
            if g.shape != (n, k) or g.dtype != np.float64:
                problems.append("--grad-out shape %s dtype %s, want (%d, %d) float64" % (g.shape, g.dtype, n, k))
            else:
                sel = np.arange(n) if rows == "all" else np.array(sorted({i % n for i in rows}) if n else [], dtype=np.int64)
                gi, gj, ghi = grads
                if not (np.array_equal(gi, np.repeat(sel, k)) and np.array_equal(gj, np.tile(np.arange(k), len(sel)))):
                    problems.append("the golden's gradient entries are not rows %s in row-major order" % (rows,))
                else:
                    got = g[gi, gj]
                    bad = (got.view(np.uint64) != ghi.view(np.uint64)) & ~(np.isnan(got) & np.isnan(ghi))
                    if bad.any():
                        t = int(np.flatnonzero(bad)[0])
                        problems.append("--grad-out row %d col %d: %s, golden hi %s (%d entries differ)"
                                        % (gi[t], gj[t], float(got[t]).hex(), float(ghi[t]).hex(), int(bad.sum())))
    for f in (out, gout):
        if os.path.exists(f):
            os.remove(f)
    result(not problems, "lsce reference " + what, "; ".join(problems) + "\n  " + shq(argv))


def main():
    ap = argparse.ArgumentParser(description="check the fixture set's manifest, generator and goldens")
    ap.add_argument("lsce_dev")
    ap.add_argument("lsce")
    ap.add_argument("fixtures")
    ap.add_argument("--set", choices=["small", "large", "megatron", "adversarial", "options"], default=None,
                    help="the set the manifest must hold (default: whatever it says)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("LSCE_TEST_JOBS", "0")) or os.cpu_count() or 2)
    ap.add_argument("--no-determinism", action="store_true", help="skip step 2")
    ap.add_argument("--cases", help="comma-separated case names: check only these (step 3)")
    ap.add_argument("--generate", action="store_true",
                    help="first (re)write the --set fixtures into FIXTURES_DIR with the generator's default seed")
    a = ap.parse_args()
    lsce_dev, lsce, root = (os.path.abspath(x) for x in (a.lsce_dev, a.lsce, a.fixtures))
    LSCE[0] = lsce
    golden.set_lsce(lsce)  # the catalog is this lsce's `lsce variants --json`
    t0 = time.time()
    if a.generate:
        if not a.set:
            ap.error("--generate needs --set")
        argv = [sys.executable, GENERATOR, "--out", root, "--set", a.set, "--lsce", lsce]
        r = subprocess.run(argv, capture_output=True, text=True)
        result(r.returncode == 0, "generate the %s set" % a.set, "exit %d: %s\n  %s" % (
            r.returncode, r.stderr.strip(), shq(argv)))
    mpath = os.path.join(root, "manifest.json")
    if not os.path.exists(mpath):
        result(False, "manifest", "%s does not exist (large set: build the fixtures_large target)" % mpath)
        print("%d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"], counts["skipped"]))
        return 1
    with open(mpath, encoding="ascii") as f:
        manifest = json.load(f)
    which = a.set or manifest["set"]
    result(manifest.get("schema") == 1 and manifest.get("set") == which, "manifest schema 1, set %s" % which,
           "schema %r set %r" % (manifest.get("schema"), manifest.get("set")))

    intact = check_files(manifest, root)
    if a.no_determinism:
        result(None, "generator determinism", "--no-determinism")
    else:
        check_determinism(manifest, root, which)
    t1 = time.time()

    # goldens: the small set's are committed; the large set's are made here when missing or stale
    fresh = set()
    only = set(a.cases.split(",")) if a.cases else None
    cases = [c for c in manifest["cases"] if c["case"] in intact and c.get("golden")
             and (only is None or c["case"] in only)]
    stale = [c["case"] for c in cases if not golden.golden_is_current(os.path.join(root, c["golden"]), c)]
    if stale and which == "large":
        print("generating %d large goldens with %d lsce-dev processes" % (len(stale), a.jobs), flush=True)
        try:
            golden.generate(manifest, root, lsce_dev, a.jobs, set(stale), log=lambda s: print(s, flush=True))
        except golden.ToolError as e:
            result(False, "large goldens", str(e))
        fresh = set(stale)
    elif stale:
        for name in stale:
            c = next(c for c in cases if c["case"] == name)
            result(False, "golden %s" % c["golden"], "missing, or its input hashes are not the manifest's; "
                   "regenerate: fixtures/gen_fixtures.py --out DIR --goldens --lsce-dev PATH")
    t2 = time.time()
    with tempfile.TemporaryDirectory(prefix="lsce-goldens-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        futs = []
        slot = 0
        for case in cases:
            gpath = os.path.join(root, case["golden"])
            if not golden.golden_is_current(gpath, case):
                continue
            _, groups = golden.read_golden(gpath)
            want = set(golden.combos(case))
            extra = sorted(set(groups) - want)
            result(not extra, "golden %s holds only the manifest's combos" % case["golden"], "extra %s" % extra[:3])
            for combo in golden.combos(case):
                d = os.path.join(tmp, str(slot))
                os.mkdir(d)
                slot += 1
                futs.append(ex.submit(check_combo, lsce_dev, lsce, case, root, combo, groups.get(combo),
                                      case["case"] not in fresh, d))
            for fu in futs:  # bound the memory held by one case's golden lines
                fu.result()
            futs = []
    t3 = time.time()
    print("times: files+determinism %.1f s, golden generation %.1f s, checks %.1f s (%d jobs)"
          % (t1 - t0, t2 - t1, t3 - t2, a.jobs))
    print("%d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"], counts["skipped"]))
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
