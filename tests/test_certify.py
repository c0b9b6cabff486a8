"""verify's fast certifier (verify/certify.c) against the literal MPFR reference on every committed
fixture: `lsce verify --quick --json` with LSCE_CERTIFY=fast and with LSCE_CERTIFY=reference must
give the same ulp figures (within 1e-6 ulp) for every (impl, case, variant, smoothing, reduction);
each result names the certifier that decided it ("fast" or "fast+reference" in the first run,
"reference" in the second) and the per-certifier counts add up to the results.
Usage: /usr/bin/python3 tests/test_certify.py path/to/lsce"""
import json, os, subprocess, sys, tempfile

LSCE = os.path.abspath(sys.argv[1])


def run(mode, path):
    env = dict(os.environ, LSCE_CERTIFY=mode)
    r = subprocess.run([LSCE, "verify", "--quick", "--json", path], env=env, capture_output=True, text=True, timeout=900)
    return r.returncode, json.load(open(path)) if os.path.exists(path) else {"results": []}


def num(x):
    return float(x) if not isinstance(x, str) else float(x.replace("inf", "inf"))


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        rc_f, jf = run("fast", os.path.join(d, "fast.json"))
        rc_r, jr = run("reference", os.path.join(d, "ref.json"))
        fast, ref = jf["results"], jr["results"]
        for mode, j, want in (("fast", jf, ("fast", "fast+reference")), ("reference", jr, ("reference",))):
            bad = [r for r in j["results"] if r.get("certifier") not in want]
            if bad: failed += 1; print(f"FAIL {mode}: {len(bad)} results name another certifier, e.g. {bad[0]}")
            else: passed += 1
            counts = j.get("certifiers", {})
            if sum(counts.values()) != len(j["results"]): failed += 1; print(f"FAIL {mode}: counts {counts}")
            else: passed += 1
        print(f"note: fast run certifiers {jf.get('certifiers')}")
        key = lambda r: (r["impl"], r["case"], r["variant"], r["smoothing"], r["reduction"])
        refd = {key(r): r for r in ref}
        if len(fast) != len(ref) or not fast:
            print(f"FAIL result counts differ: fast {len(fast)}, reference {len(ref)}")
            failed += 1
        for r in fast:
            k = key(r)
            q = refd.get(k)
            if q is None:
                failed += 1; print(f"FAIL {k}: missing from the reference run"); continue
            for f in ("loss_ulp", "grad_ulp"):
                a, b = num(r[f]), num(q[f])
                same = (a == b) or (abs(a - b) <= 1e-6) or (a != a and b != b)
                if same: passed += 1
                else: failed += 1; print(f"FAIL {k} {f}: fast {a!r}, reference {b!r}")
        if rc_f != rc_r:
            failed += 1; print(f"FAIL exit codes differ: fast {rc_f}, reference {rc_r}")
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
