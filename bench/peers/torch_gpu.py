"""bench/peers/torch_gpu.py: PyTorch eager and torch.compile of F.cross_entropy(label_smoothing=0.1)
on CUDA at the GPU targets' shapes (torch.compile recompiles per shape, so only these), timed with
CUDA events, best of 10 after warm-up. One JSON line per benchmark, like lsce-dev gpubench."""
import json, sys
try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"skip: {e}", file=sys.stderr); sys.exit(0)
if not torch.cuda.is_available():
    print("skip: no CUDA", file=sys.stderr); sys.exit(0)

def timed(fn, reps=10):
    fn(); torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize()
        best = min(best, a.elapsed_time(b))
    return best

def loss(z, t):
    return F.cross_entropy(z, t, label_smoothing=0.1)

g = torch.Generator(device="cuda").manual_seed(0)
for N, K, dt, bwd in [(4096, 128256, torch.bfloat16, True), (4096, 128256, torch.float32, False)]:
    z = torch.randn(N, K, device="cuda", generator=g).to(dt)
    t = torch.randint(0, K, (N,), device="cuda", generator=g)
    name = {torch.bfloat16: "bfloat16", torch.float32: "float32"}[dt]
    for kind, f in [("torch", loss), ("torch_compile", torch.compile(loss))]:
        if bwd:
            def run():
                zz = z.detach().requires_grad_(True)
                f(zz, t).backward()
        else:
            def run():
                with torch.no_grad():
                    f(z, t)
        try:
            ms = timed(run)
        except Exception as e:  # torch.compile may be unavailable
            print(f"{kind}: {e}", file=sys.stderr); continue
        print(json.dumps({"name": f"{'fwdbwd' if bwd else 'fwd'}/{kind}/{name}/N:{N}/K:{K}", "real_time_ms": ms,
                          "torch_version": torch.__version__}))
