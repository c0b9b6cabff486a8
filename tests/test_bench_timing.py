#!/usr/bin/python3
"""tests/test_bench_timing.py LSCE_BENCH: lsce-bench's timing contract on two small shapes (seconds,
no figures kept). A row is validated before it is timed, and the validation call is the first timed
iteration: with a minimum time every call exceeds, each row is reported from that one call
(iterations 1, timed_by_validation 1) with its validation figures within the registry row's bound;
with a minimum time a fast row cannot reach in one call, it is invoked again and reported from its
own calls (timed_by_validation 0, iterations > 1); and a validation call shorter than
LSCE_BENCH_VALIDATION_TIMING_S (against a first call's cold start) never stands as the timing. Nothing here judges a speed."""
import json
import os
import subprocess
import sys
import tempfile

BENCH = sys.argv[1]
LSCE = sys.argv[2]
FILTER = "^fwd(bwd)?/cpu_(threads|twopass)/float32/N:64/K:1000(/|$)"


def run(min_time, timing_s="0"):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "b.json")
        p = subprocess.run([BENCH, "--full", "--benchmark_filter=" + FILTER,
                            "--benchmark_min_time=%s" % min_time, "--benchmark_out=" + out,
                            "--benchmark_out_format=json", "--benchmark_format=console"],
                           capture_output=True, text=True, timeout=240,
                           env=dict(os.environ, LSCE_BENCH_VALIDATION_TIMING_S=timing_s))
        if p.returncode != 0:
            sys.exit("lsce-bench failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
        rows = [b for b in json.load(open(out))["benchmarks"] if not b["name"].startswith("bandwidth/")
                and not b["name"].startswith("reference/")]
    return rows


bounds = {im["name"]: im for im in json.loads(subprocess.run([LSCE, "impls", "--json"],
                                                             capture_output=True, text=True,
                                                             check=True).stdout)}
fails = []
slow = run("0.000001")
fast = run("0.2")
cold = run("0.000001", "1000")  # a validation call shorter than LSCE_BENCH_VALIDATION_TIMING_S
for rows, want in ((slow, 1), (fast, 0), (cold, 0)):
    if len(rows) != 4:
        fails.append("expected 4 rows, got %s" % [r["name"] for r in rows])
    for r in rows:
        n = r["name"]
        if r.get("error_occurred"):
            fails.append("%s: %s" % (n, r.get("error_message")))
            continue
        if r.get("timed_by_validation") != want:
            fails.append("%s: timed_by_validation %r, expected %d" % (n, r.get("timed_by_validation"), want))
        if want == 1 and r["iterations"] != 1:
            fails.append("%s: timed by its validation call but %d iterations" % (n, r["iterations"]))
        if rows is fast and r["iterations"] < 2:
            fails.append("%s: a fast row at min_time 0.2 s ran %d iteration(s)" % (n, r["iterations"]))
        impl = n.split("/")[1]
        b = bounds[impl]["bounds"]["float32"]
        if not r.get("val_loss_ulp", 1e300) <= b["loss_ulp"]:
            fails.append("%s: val_loss_ulp %r over %r" % (n, r.get("val_loss_ulp"), b["loss_ulp"]))
        if n.startswith("fwdbwd/") and not r.get("val_grad_ulp", 1e300) <= b["grad_ulp"]:
            fails.append("%s: val_grad_ulp %r over %r" % (n, r.get("val_grad_ulp"), b["grad_ulp"]))
        if not r.get("real_time", 0) > 0:
            fails.append("%s: no time" % n)
for f in fails:
    print("FAIL", f)
print("bench timing: %d checks failed" % len(fails))
sys.exit(1 if fails else 0)
