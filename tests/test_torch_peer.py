#!/usr/bin/python3
# The PyTorch peer table (fixtures/peers/torch_peer.py) on 4 small committed fixtures: the run
# succeeds, its JSON has the verify shape of docs/cli.md ("Data files") and parses strictly, it holds
# every manifest combination of those cases, every non-finite ulp carries a note saying why, the
# pass flag is the bounds' verdict, the article's example in float64 under `k` is within a few
# ulps, the expressions are tests/test_torch.py's (one definition), and the run records
# the known torch findings (no float16 kernel on CPU, negative smoothing accepted, 0 * -inf NaN,
# inputs narrowed to float32 checked against the narrowed values).
# torch's accuracy is what the table reports, not a verdict of this test.
#
# Usage: /usr/bin/python3 tests/test_torch_peer.py PATH/TO/lsce
# Last line: "N passed, M failed, S skipped"; exit 0 iff M == 0, 77 when torch/numpy are missing.

import json
import math
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER = os.path.join(ROOT, "fixtures", "peers", "torch_peer.py")
FIXTURES = os.path.join(ROOT, "fixtures", "data")
CASES = ["seed_article", "masked_ninf", "ignored_nan_rows", "dtype_f64"]
DTYPES = ["float32", "float64"]
SEED_LOSS_ULP = 4        # "within a few ulps": torch float64 is not correctly rounded
SEED_GRAD_ULP = 8        # (tests/test_torch.py allows 8 and 8 with a looser floor)

try:
    import numpy  # noqa: F401  (the peer needs it: skip early without it)
    import torch
    sys.path.insert(0, HERE)
    from test_oracle import Tally, lsce_from_argv
except ImportError as exc:
    print("skip: cannot import torch/numpy/mpmath (%s); run with Debian's /usr/bin/python3" % exc)
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)

VERIFY_KEYS = ["impl", "variant", "regime", "case", "dtype", "n", "k", "smoothing", "loss_ulp",
               "grad_ulp", "bound_loss_ulp", "bound_grad_ulp", "pass"]
CONTEXT_KEYS = ["commit", "date", "machine", "compiler", "torch_version"]


def strict_load(path):
    def bad(name):
        raise ValueError("non-JSON constant %s" % name)
    with open(path) as f:
        return json.load(f, parse_constant=bad)


def ulp_value(x):
    """A verify-JSON ulp: a number >= 0, or "inf"/"nan"; anything else is None."""
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x) if math.isfinite(x) and x >= 0 else None
    if x in ("inf", "nan"):
        return float(x)
    return None


def expected_combos(manifest):
    """(case, dtype, variant, smoothing, reduction) the table must hold for CASES x DTYPES."""
    out = set()
    for c in manifest["cases"]:
        if c["case"] not in CASES:
            continue
        for d in DTYPES:
            for v in c["variants"]:
                for e in c["smoothings"]:
                    for r in c["reductions"]:
                        out.add((c["case"], d, v, e, r))
    return out


def check_expressions(t):
    """The peer runs the expressions tests/test_torch.py checks against the reference (one
    definition, any dtype), not a copy of them."""
    sys.path.insert(0, os.path.dirname(PEER))
    import torch_peer as P
    import test_torch as TT
    t.ok(P.torch_loss is TT.torch_loss, "torch_peer.torch_loss is not tests/test_torch.py's torch_loss")


def main():
    lsce = lsce_from_argv()
    t = Tally()
    with open(os.path.join(FIXTURES, "manifest.json")) as f:
        manifest = json.load(f)

    with tempfile.TemporaryDirectory(prefix="test_torch_peer-") as tmp:
        # usage errors first (cheap)
        p = subprocess.run([sys.executable, PEER, "--lsce", lsce, "--cases", "no_such_case",
                            "--out", os.path.join(tmp, "x.json")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        t.ok(p.returncode == 2 and "no_such_case" in p.stderr and
             not os.path.exists(os.path.join(tmp, "x.json")),
             "--cases no_such_case: exit %d (want 2), stderr %r" % (p.returncode, p.stderr[-300:]))

        out = os.path.join(tmp, "sub", "peers-torch.json")
        cmd = [sys.executable, PEER, "--lsce", lsce, "--fixtures", FIXTURES, "--out", out,
               "--cases", ",".join(CASES), "--dtypes", ",".join(DTYPES), "--jobs", "2"]
        t0 = time.time()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        took = time.time() - t0
        sys.stdout.write(p.stdout)
        if not t.ok(p.returncode == 0 and os.path.exists(out),
                    "%s: exit %d, stderr %r" % (" ".join(cmd), p.returncode, p.stderr[-2000:])):
            t.finish()
        print("info: torch_peer.py on %d cases x %s took %.1f s" % (len(CASES), DTYPES, took))
        try:
            doc = strict_load(out)
        except ValueError as exc:
            t.ok(False, "%s: not strict JSON: %s" % (out, exc))
            t.finish()
        t.ok(p.stdout.splitlines()[-1].startswith("wrote ") if p.stdout else False,
             "last stdout line is 'wrote ...': %r" % p.stdout[-200:])

    # the verify shape
    t.ok(doc.get("schema") == 1, "schema %r != 1" % doc.get("schema"))
    ctx = doc.get("context") or {}
    t.ok(all(isinstance(ctx.get(k), str) and ctx.get(k) for k in CONTEXT_KEYS),
         "context lacks one of %s: %r" % (CONTEXT_KEYS, {k: ctx.get(k) for k in CONTEXT_KEYS}))
    t.ok(ctx.get("compiler") == "torch" and ctx.get("torch_version") == torch.__version__,
         "context compiler/torch_version: %r %r" % (ctx.get("compiler"),
                                                   ctx.get("torch_version")))
    res = doc.get("results")
    if not t.ok(isinstance(res, list) and res, "results: not a non-empty list"):
        t.finish()
    missing = [i for i, r in enumerate(res) if any(k not in r for k in VERIFY_KEYS)]
    t.ok(not missing, "%d results lack verify keys, first: %r" % (
        len(missing), res[missing[0]] if missing else None))

    # completeness: every manifest combo of the chosen cases, once
    want = expected_combos(manifest)
    got = [(r.get("case"), r.get("dtype"), r.get("variant"), r.get("smoothing"),
            r.get("reduction")) for r in res]
    t.ok(set(got) == want and len(got) == len(want),
         "combos: %d results, %d expected; missing %s; extra %s; duplicates %d" % (
             len(got), len(want), sorted(want - set(got))[:3], sorted(set(got) - want)[:3],
             len(got) - len(set(got))))

    by_case = {c["case"]: c for c in manifest["cases"]}
    bad_fields, bad_ulp, undocumented, bad_pass = [], [], [], []
    for r in res:
        c = by_case.get(r.get("case"), {})
        if not (r.get("impl") == "torch" and r.get("regime") == c.get("regime") and
                r.get("n") == c.get("n") and r.get("k") == c.get("k") and
                r.get("bound_loss_ulp") == 1 and r.get("bound_grad_ulp") == 2 and
                isinstance(r.get("pass"), bool) and isinstance(r.get("note"), str)):
            bad_fields.append(r)
        lu, gu = ulp_value(r.get("loss_ulp")), ulp_value(r.get("grad_ulp"))
        if lu is None or gu is None:
            bad_ulp.append(r)
            continue
        if not (math.isfinite(lu) and math.isfinite(gu)) and not r["note"]:
            undocumented.append(r)
        if r["pass"] != (lu <= 1 and gu <= 2):
            bad_pass.append(r)
    t.ok(not bad_fields, "%d results with wrong fields, first: %r" % (
        len(bad_fields), bad_fields[:1]))
    t.ok(not bad_ulp, "%d results without a loss and gradient ulp (number >= 0, 'inf' or 'nan'), "
         "first: %r" % (len(bad_ulp), bad_ulp[:1]))
    t.ok(not undocumented, "%d results with a non-finite ulp and no note, first: %r" % (
        len(undocumented), undocumented[:1]))
    t.ok(not bad_pass, "%d results whose pass flag is not loss <= 1 and grad <= 2, first: %r" % (
        len(bad_pass), bad_pass[:1]))

    # the article's example, float64, variant k: a few ulps
    seed = [r for r in res if r["case"] == "seed_article" and r["dtype"] == "float64" and
            r["variant"] == "k"]
    far = [r for r in seed if not (ulp_value(r["loss_ulp"]) <= SEED_LOSS_ULP and
                                   ulp_value(r["grad_ulp"]) <= SEED_GRAD_ULP)]
    t.ok(len(seed) == 15 and not far,
         "seed_article float64 k: %d results (want 15); beyond %d/%d ulps: %s" % (
             len(seed), SEED_LOSS_ULP, SEED_GRAD_ULP,
             ["e=%s %s %s/%s" % (r["smoothing"], r["reduction"], r["loss_ulp"], r["grad_ulp"])
              for r in far]))
    if seed:
        print("info: seed_article float64 k: worst loss %.3g ulp, gradient %.3g ulp" % (
            max(ulp_value(r["loss_ulp"]) for r in seed),
            max(ulp_value(r["grad_ulp"]) for r in seed)))

    # recorded findings
    notes = ctx.get("notes") or []
    text = "\n".join(notes)
    t.ok("float16" in text and "label_smoothing=-0.1" in text,
         "context notes lack the float16 and negative-smoothing findings: %r" % notes[:3])
    nan = [r for r in res if r["case"] == "masked_ninf" and "0 * inf" in r["note"]]
    t.ok(nan and "0 * -inf" in text,
         "masked_ninf: no result notes 0 * inf NaN (%d), or no finding" % len(nan))
    narrowed = [r for r in res if r["case"] == "dtype_f64" and r["dtype"] == "float32"]
    t.ok(narrowed and all("logits rounded float64->float32" in r["note"] for r in narrowed),
         "dtype_f64 in float32: results do not say the logits were rounded")
    ign = [r for r in res if r["case"] == "ignored_nan_rows" and r["variant"] == "k"]
    t.ok(ign and all("ignored rows" in r["note"] for r in ign if
                     not math.isfinite(ulp_value(r["grad_ulp"]))),
         "ignored_nan_rows k: an infinite gradient error without the ignored-rows note")

    check_expressions(t)
    t.finish()


if __name__ == "__main__":
    main()
