#!/usr/bin/python3
"""tests/test_report_speed.py: report/make_report.py's speed section (report/speed.py) on a temporary
data directory: the committed CPU bench (the full sweep when committed), accuracy-sweep.json,
history/ and gpu-anchors.json, plus a SYNTHETIC scripts/gpu-check JSON (made up here, never
committed as data: the GPU rows' numbers below are placeholders, not measurements). Checks that,
with no code change, the GPU run appears beside the anchors (figure and text), and that the sweep's
small multiples, the accuracy-vs-speed figure and the history plot are made. --offline: lsce is not
run; sections without their data say so."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "report", "data")


def synthetic_gpu_run():
    rows = []
    for mode in ("fwd", "fwdbwd"):
        for impl, ms in (("cuda_rowblock", 1.0), ("torch_eager", 4.0)):
            for k in (32000, 128256):
                rows.append({"name": "%s/%s/bfloat16/N:4096/K:%d" % (mode, impl, k),
                             "real_time_ms": ms * k / 32000, "copy_ms": 0.5 * k / 32000})
    ctx = {"date": "2000-01-01T00:00:00Z", "gpu": "SYNTHETIC TEST GPU", "driver": "test",
           "cuda": "test", "commit": "synthetic-test", "binary_sha256": "0" * 64}
    return {"context": ctx, "bench": {"context": dict(ctx), "benchmarks": rows},
            "verify": {"schema": 1, "context": {}, "results": []},
            "summary": {"passed": 0, "failed": 0, "step_failures": 0}}


def make_report(data, out):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "report", "make_report.py"),
                        "--offline", "--data", data, "--out", out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode:
        raise RuntimeError("make_report.py: exit %d: %s" % (p.returncode, p.stderr[-2000:]))
    with open(out) as f:
        return f.read()


def main():
    fails = []
    with tempfile.TemporaryDirectory(prefix="lsce-report-speed-") as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(os.path.join(data, "gpu"))
        for name in ("bench-cpu.json", "bench-cpu-full.json", "accuracy-sweep.json",
                     "gpu-anchors.json", "impls.json"):
            if os.path.exists(os.path.join(DATA, name)):
                shutil.copy(os.path.join(DATA, name), data)
        shutil.copytree(os.path.join(DATA, "history"), os.path.join(data, "history"))
        out = os.path.join(tmp, "REPORT.md")
        # 1. no GPU run yet: the anchors alone
        text = make_report(data, out)
        figs = os.path.join(tmp, "figures")
        svg = open(os.path.join(figs, "gpu-anchors.svg")).read()
        if "QuACK" not in svg or "no GPU run" not in svg:
            fails.append("anchors without a run: the figure lacks the anchors or the no-run note")
        # 2. a gpu-check JSON dropped into gpu/: it appears beside the anchors
        gpath = os.path.join(data, "gpu", "2000-01-01-synthetic-test.json")
        with open(gpath, "w") as f:
            json.dump(synthetic_gpu_run(), f)
        text = make_report(data, out)
        svg = open(os.path.join(figs, "gpu-anchors.svg")).read()
        for want in ("QuACK", "Liger", "H200", "cuda_rowblock bfloat16", "d2d copy",
                     "SYNTHETIC TEST GPU"):
            if want not in svg:
                fails.append("gpu-anchors.svg with the synthetic run lacks %r" % want)
        if "2000-01-01-synthetic-test.json" not in text.split("#### GPU anchors", 1)[-1]:
            fails.append("the GPU anchors text does not name the synthetic run")
        for fig in ("history.svg", "accuracy-speed-float32.svg"):
            if not os.path.exists(os.path.join(figs, fig)):
                fails.append("%s not made" % fig)
        hist = glob.glob(os.path.join(data, "history", "*.json"))
        if len(hist) < 2:
            fails.append("report/data/history has %d summaries, want at least 2" % len(hist))
        if os.path.exists(os.path.join(data, "bench-cpu-full.json")):
            for d in ("float32", "bfloat16"):
                if not os.path.exists(os.path.join(figs, "speed-sweep-%s.svg" % d)):
                    fails.append("speed-sweep-%s.svg not made from bench-cpu-full.json" % d)
            s = open(os.path.join(figs, "speed-sweep-float32.svg")).read()
            for want in ("torch", "probe read", "ns per logit", "commit", "load avg"):
                if want not in s:
                    fails.append("speed-sweep-float32.svg lacks %r" % want)
    for f in fails:
        print("FAIL " + f)
    print("report speed: %d failures" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
