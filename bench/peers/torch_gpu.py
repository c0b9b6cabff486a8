"""bench/peers/torch_gpu.py: PyTorch eager and torch.compile of F.cross_entropy(label_smoothing=0.1)
on CUDA at the GPU targets' shapes (torch.compile recompiles per shape, so only these), timed as
lsce-dev gpubench times the CUDA rows: CUDA events around the call alone, a write of 4x the L2
size before every sample (so no sample starts with its inputs in L2), best of 10 after a warm-up.
One JSON line per benchmark, printed (flushed) as soon as it is measured. Exit 77 when it cannot run
(no torch, no CUDA device in torch: scripts/gpu-check counts that as a failure), 1 when the
loss (eager or compiled) differs from a float32 eager loss of the same inputs by more than 2^-6
relative (bfloat16 losses carry 8 bits; this catches wrong kernels, not rounding)."""
import json
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"skip: {e}", file=sys.stderr, flush=True)
    sys.exit(77)
if not torch.cuda.is_available():
    print("skip: torch sees no CUDA device", file=sys.stderr, flush=True)
    sys.exit(77)

L2 = torch.cuda.get_device_properties(0).L2_cache_size
flush_buf = torch.empty(max(4 * L2, 64 << 20), dtype=torch.uint8, device="cuda")


def timed(fn, reps=10):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for r in range(reps):
        flush_buf.fill_(r & 0xFF)
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        best = min(best, a.elapsed_time(b))
    return best


def loss(z, t):
    return F.cross_entropy(z, t, label_smoothing=0.1)


bad = 0
g = torch.Generator(device="cuda").manual_seed(0)
for N, K, dt, bwd in [(4096, 128256, torch.bfloat16, True), (4096, 128256, torch.float32, False)]:
    z = (torch.rand(N, K, device="cuda", generator=g) * 6 - 3).to(dt)
    t = torch.randint(0, K, (N,), device="cuda", generator=g)
    name = {torch.bfloat16: "bfloat16", torch.float32: "float32"}[dt]
    with torch.no_grad():
        ref = loss(z.float(), t).item()
    for kind, f in [("torch", loss), ("torch_compile", torch.compile(loss))]:
        out = {}
        if bwd:
            def run():
                zz = z.detach().requires_grad_(True)
                out["l"] = f(zz, t)
                out["l"].backward()
        else:
            def run():
                with torch.no_grad():
                    out["l"] = f(z, t)
        try:
            ms = timed(run)
        except Exception as e:  # torch.compile may be unavailable: say so, as a failure
            print(f"{kind}: {e}", file=sys.stderr, flush=True)
            bad = 1
            continue
        got = out["l"].item()
        if not abs(got - ref) <= 2 ** -6 * abs(ref):
            print(f"{kind} {name}: loss {got} differs from the float32 eager loss {ref}", file=sys.stderr, flush=True)
            bad = 1
        print(json.dumps({"name": f"{'fwdbwd' if bwd else 'fwd'}/{kind}/{name}/N:{N}/K:{K}", "real_time_ms": ms,
                          "l2_flush_bytes": flush_buf.numel(), "torch_version": torch.__version__}), flush=True)
sys.exit(bad)
