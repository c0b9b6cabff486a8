#!/usr/bin/python3
# The Megatron peer (fixtures/peers/megatron_peer.py: Megatron-LM's vocab-parallel label smoothing
# written in torch, T ranks emulated) on two cases of fixtures/megatron: the run succeeds and writes
# the verify JSON shape with every (case, dtype, T, rank, smoothing, reduction) the manifest allows
# (e' <= 1 and e < 1); the formula in float64 agrees with `lsce reference --variant k1-megatron`
# within a few ulps on every result (loss <= 4, gradient <= 8: torch's float64 is not correctly
# rounded), float32 (Megatron itself) within 16 and 32; Megatron's own backward blocks likewise;
# and, as a negative control, the same rank-0 value at T = 4 is far from `k1` (the global form).
#
# Usage: /usr/bin/python3 tests/test_megatron_peer.py PATH/TO/lsce
# Last line: "N passed, M failed, S skipped"; exit 0 iff M == 0, 77 when torch/numpy are missing.

import json
import math
import os
import subprocess
import sys
import tempfile
from fractions import Fraction

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER = os.path.join(ROOT, "fixtures", "peers", "megatron_peer.py")
FIXTURES = os.path.join(ROOT, "fixtures", "megatron")
CASES = ["mg_k8_f32", "mg_k12_f64"]
BOUNDS = {"float64": (4, 8), "float32": (16, 32)}

try:
    import numpy as np
    import torch
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.dirname(PEER))
    from test_oracle import Tally, run_cmd, lsce_from_argv
    import megatron_peer as MP
except ImportError as exc:
    print("skip: cannot import torch/numpy (%s); run with Debian's /usr/bin/python3" % exc)
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)


def num(x):
    return float(x) if isinstance(x, (int, float)) else float("inf")


def main():
    lsce = lsce_from_argv()
    t = Tally()
    with open(os.path.join(FIXTURES, "manifest.json")) as f:
        manifest = json.load(f)
    with tempfile.TemporaryDirectory(prefix="test_megatron_peer-") as tmp:
        out = os.path.join(tmp, "peers-megatron.json")
        p = subprocess.run([sys.executable, PEER, "--lsce", lsce, "--fixtures", FIXTURES, "--out", out,
                            "--cases", ",".join(CASES), "--jobs", "2"], capture_output=True, text=True)
        if not t.ok(p.returncode == 0 and os.path.exists(out), "peer: exit %d %s" % (p.returncode, p.stderr[-2000:])):
            t.finish()
        doc = json.load(open(out), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        rows = doc["results"]
        t.ok(doc.get("schema") == 1 and "torch_version" in doc.get("context", {}), "context: %r" % doc.get("context"))
        want = set()
        for c in manifest["cases"]:
            if c["case"] not in CASES:
                continue
            for T in c["tp"]:
                vp = c["k"] // T
                for r in range(T):
                    for e in c["smoothings"]:
                        if Fraction(e) * vp / (vp - 1) <= 1 and Fraction(e) < 1:
                            for red in c["reductions"]:
                                for d in ("float32", "float64"):
                                    for impl in ("torch_megatron", "torch_megatron_backward"):
                                        want.add((impl, c["case"], d, T, r, e, red))
        got = {(x["impl"], x["case"], x["dtype"], x["tp"], x["rank"], x["smoothing"], x["reduction"]) for x in rows}
        t.ok(got == want, "combos: %d missing, %d extra" % (len(want - got), len(got - want)))
        for x in rows:
            bl, bg = BOUNDS[x["dtype"]]
            t.ok(num(x["loss_ulp"]) <= bl and num(x["grad_ulp"]) <= bg,
                 "%s %s %s T=%d r=%d e=%s %s: loss %s ulp, gradient %s ulp (within %d, %d?) %s" % (
                     x["impl"], x["case"], x["dtype"], x["tp"], x["rank"], x["smoothing"], x["reduction"],
                     x["loss_ulp"], x["grad_ulp"], bl, bg, x.get("note", "")))
        # negative control: rank 0's loss at T = 4 (K = 8) is not the global (k1) loss
        L = os.path.join(FIXTURES, "mg_k8_f32", "logits.npy")
        T_ = os.path.join(FIXTURES, "mg_k8_f32", "targets.npy")
        z = torch.tensor(np.load(L).astype(np.float64))
        y = np.load(T_).astype(np.int64)
        v = float(MP.megatron_rank_losses(z, y, 0.1, 4, 0).mean())
        rc, so, se = run_cmd([lsce, "check", "--logits", L, "--targets", T_, "--variant", "k1", "--smoothing", "0.1",
                              "--loss", repr(v)])
        t.ok(rc == 1 and "variant=k1-megatron" in so and "tp=4 rank=0" in so,
             "the T = 4 value checked as k1: exit %d\n%s%s" % (rc, so, se))
        rc, so, se = run_cmd([lsce, "check", "--logits", L, "--targets", T_, "--variant", "k1-megatron", "--tp", "4",
                              "--smoothing", "0.1", "--loss", repr(v), "--max-ulp", "4"])
        t.ok(rc == 0, "the T = 4 value checked as k1-megatron --tp 4: exit %d\n%s%s" % (rc, so, se))
    t.finish()


if __name__ == "__main__":
    main()
