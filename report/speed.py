"""report/speed.py: the speed figures of REPORT.md section 4 that need more than one shape or one
run, imported by make_report.py:
  - the CPU sweep as small multiples: GB/s and ns per logit against K (N = 4096, 512 from
    K = 128256 on) and against N (K = 32000, K = 1000), one figure per dtype, one line per row,
    PyTorch dashed, the bandwidth probes and exp ceilings of the same run as horizontal lines;
  - accuracy beside speed: worst ulp (lsce verify and the PyTorch peer on fixtures of sweep shapes,
    report/data/accuracy-sweep.json) against the sweep's GB/s at the same shape and dtype;
  - the history: probe fractions per commit (report/data/history/, written by report/history.py);
  - the GPU anchors (report/data/gpu-anchors.json) as reference lines, with the newest gpu-check
    run's rows beside them;
  - per shape, the fraction of rows the exact CPU rows could not settle in their first pass (the
    accurate rung, the safe path, the reference: bench counters rows_accurate, rows_safe,
    rows_reference of the same run), for N(0,1) logits and for rows like a trained model's.
No number here is typed in: every value is read from those files. The unit conversions (GB/s to
ns per logit, a float32-logit probe to another dtype, a bfloat16 loss ulp to float32 ulps) are
exact rescalings, argued where they are made. Every figure carries machine, date, commit and load.
"""
import glob
import json
import math
import os
import re

import matplotlib.pyplot as plt

DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}
DTYPE_ORDER = {"float32": 0, "bfloat16": 1, "float16": 2, "float64": 3}
K_SWEEP_N, K_SWEEP_N_LARGE, K_SWEEP_LARGE = 4096, 512, 128256   # bench/lsce_bench.c's sweep
N_SWEEP_K = (32000, 1000)
REF_GREYS = ["#999999", "#555555", "#c47a00", "#7a4a00", "#5c8a3a", "#2e5c8a"]
# A bfloat16 number has 8 significant bits, a float32 number 24, with the same exponent range: for
# any normal x, ulp_bf16(x) = 2^16 ulp_f32(x), so an error of u bfloat16 ulps is 65536 u float32
# ulps (exact; the loss of a bfloat16 PyTorch call is a bfloat16 number).
BF16_TO_F32_ULPS = 2.0 ** 16


def is_torch_label(label):
    return label.startswith("torch")


def run_stamp(ctx, path):
    """'machine, n CPUs · date · commit · load ...' for a figure's title."""
    def la(v):
        return "/".join("%.2f" % x for x in v[:3]) if isinstance(v, list) and v else None
    load = []
    if la(ctx.get("load_avg_start")):
        load.append("start %s" % la(ctx["load_avg_start"]))
    if la(ctx.get("load_avg_end")):
        load.append("end %s" % la(ctx["load_avg_end"]))
    if not load and la(ctx.get("load_avg")):
        load.append("%s" % la(ctx["load_avg"]))
    return "%s, %s CPUs · %s · commit %s · load avg (1/5/15 min) %s · %s" % (
        ctx.get("machine", "?"), ctx.get("num_cpus", "?"), str(ctx.get("date", "?"))[:19],
        ctx.get("commit", "?"), ", ".join(load) or "not recorded", path)


def has_sweep(b):
    """True when the bench run has more than one K at the K sweep's N for some row."""
    ks = {}
    for (m, impl, d, n, k) in b.rows:
        if n == K_SWEEP_N:
            ks.setdefault((m, impl, d), set()).add(k)
    return any(len(v) > 2 for v in ks.values())


def _in_k_sweep(n, k):
    return n == (K_SWEEP_N_LARGE if k >= K_SWEEP_LARGE else K_SWEEP_N)


def _series(b, mode, dtype, axis, fixed):
    """{impl: [(x, entry)]} of one panel: axis 'K' (the K sweep) or 'N' (at K = fixed)."""
    out = {}
    for (m, impl, d, n, k), ent in b.rows.items():
        if m != mode or d != dtype or not ent.get("ms"):
            continue
        if axis == "K" and _in_k_sweep(n, k):
            out.setdefault(impl, []).append((k, n, ent))
        elif axis == "N" and k == fixed:
            out.setdefault(impl, []).append((n, k, ent))
    return out


def _value(unit, x_n_k, ent, axis):
    x, other, e = x_n_k
    n, k = (other, x) if axis == "K" else (x, other)
    if unit == "gbs":
        return e.get("gbs")
    return e["ms"] * 1e6 / (n * k)   # ns per logit: the call's time over the N x K logits


def _ref_lines(b, mode, dtype, unit):
    """(label, value, style index) of the probes (and, for fwd, exp ceilings) in this unit.
    GB/s is bytes over ns, so a probe at P GB/s moving B bytes per logit takes B / P ns per logit;
    the exp probes read float32 logits (4 bytes each), so their logit rate is P / 4 per ns, which
    for a dtype of e bytes per logit is P * e / 4 GB/s."""
    es = DTYPE_BYTES.get(dtype, 4)
    kind = "read" if mode == "fwd" else "copy"
    per_logit = es * (1 if mode == "fwd" else 2)
    out = []
    for t in (1, 2):
        p = b.probes.get((kind, t))
        if p:
            out.append(("probe %s, %d thr" % (kind, t), p if unit == "gbs" else per_logit / p))
    if mode == "fwd":
        for kd, what in (("exp32", "float32 exp"), ("exp64", "exact-tier exp")):
            p = b.probes.get((kd, 2))
            if p:
                out.append(("%s ceiling (%s), 2 thr" % (what, kd),
                            p * es / 4 if unit == "gbs" else 4 / p))
    return out


def fig_sweep(b, dtype, stamp, style, save):
    """One small-multiples figure for a dtype; returns its link or None."""
    cols = [("K", None)] + [("N", k) for k in N_SWEEP_K]
    rows = [("fwd", "gbs"), ("fwdbwd", "gbs"), ("fwd", "ns"), ("fwdbwd", "ns")]
    data = {(r, c): _series(b, r[0], dtype, c[0], c[1]) for r in rows for c in cols}
    if not any(data.values()):
        return None
    labels = sorted({i for v in data.values() for i in v if not is_torch_label(i)})
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(4.2 * len(cols), 2.9 * len(rows)),
                             squeeze=False)
    handles = {}
    for ri, (mode, unit) in enumerate(rows):
        for ci, (axis, fixed) in enumerate(cols):
            ax = axes[ri][ci]
            ser = data[((mode, unit), (axis, fixed))]
            for impl in sorted(ser, key=lambda i: (is_torch_label(i), i)):
                pts = sorted(ser[impl], key=lambda p: p[0])
                ys = [_value(unit, p, p[2], axis) for p in pts]
                xy = [(p[0], y) for p, y in zip(pts, ys) if y]
                if not xy:
                    continue
                idx = labels.index(impl) if impl in labels else 0
                h, = ax.plot([p[0] for p in xy], [p[1] for p in xy], label=impl,
                             **style(impl, idx))
                handles.setdefault(impl, h)
            for j, (lab, v) in enumerate(_ref_lines(b, mode, dtype, unit)):
                h = ax.axhline(v, color=REF_GREYS[j % len(REF_GREYS)], lw=1.0,
                               ls=":" if "probe" in lab else "-.", label=lab)
                handles.setdefault(lab, h)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="major", lw=0.3, color="#dddddd")
            if axis == "K":
                ax.set_xlabel("classes K (N = %d; N = %d from K = %d)" % (
                    K_SWEEP_N, K_SWEEP_N_LARGE, K_SWEEP_LARGE), fontsize=7)
            else:
                ax.set_xlabel("rows N (K = %d)" % fixed, fontsize=7)
            ax.set_ylabel("GB/s" if unit == "gbs" else "ns per logit", fontsize=7)
            ax.tick_params(labelsize=6.5)
            ax.set_title("%s, %s, %s" % (mode, dtype, "against K" if axis == "K" else
                                         "against N at K = %d" % fixed), fontsize=8)
    order = [k for k in handles if not is_torch_label(k) and "probe" not in k and
             "ceiling" not in k] + [k for k in handles if is_torch_label(k)] + \
        [k for k in handles if "probe" in k or "ceiling" in k]
    fig.legend([handles[k] for k in order], order, loc="lower center", ncol=min(5, len(order)),
               frameon=False, fontsize=7)
    fig.suptitle("CPU sweep, %s: GB/s (bytes moved / time) and ns per logit; higher GB/s and "
                 "lower ns are faster\n%s" % (dtype, stamp), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    return save(fig, "speed-sweep-%s.svg" % dtype)


def sweep_markdown(b, path, style, save):
    """The figures and their caption lines for every dtype of the run."""
    stamp = run_stamp(b.ctx, path)
    dtypes = sorted({d for (m, i, d, n, k) in b.rows}, key=lambda d: (DTYPE_ORDER.get(d, 9), d))
    out = []
    ctx = b.ctx
    out += ["The sweep (`scripts/bench --full`, %s): every CPU row and dtype, fwd and fwdbwd, "
            "the K sweep at N = %d (N = %d for K >= %d) and the N sweep at K = %s, PyTorch "
            "(dashed, %s threads) and the probes in the same run. One repetition per shape (the "
            "minimum time per benchmark is in the command); the run took %s s. The machine was "
            "shared: load average (1/5/15 min) %s at the start and %s at the end, so a point can "
            "be slower than the row is; the probes of the same run (dotted) were measured under "
            "the same load. Shapes whose logits and gradient do not fit 8 GiB are not run "
            "(float32 65536 x 32000). A row's validation call is its first timed iteration (a row "
            "whose one call lasts 1 s or more is timed by that call, reduction none); a row "
            "that could not be timed is listed below the table." % (
                path, K_SWEEP_N, K_SWEEP_N_LARGE, K_SWEEP_LARGE,
                " and ".join(str(k) for k in N_SWEEP_K), ctx.get("torch_threads", "?"),
                "%.0f" % ctx["bench_wall_s"] if isinstance(ctx.get("bench_wall_s"), (int, float))
                else "?", ctx.get("load_avg_start", ctx.get("load_avg", "?")),
                ctx.get("load_avg_end", "not recorded")), ""]
    for d in dtypes:
        link = fig_sweep(b, d, stamp, style, save)
        if link:
            out += ["![CPU sweep, %s](%s)" % (d, link), ""]
    return out


def ladder_markdown(b):
    """Per shape, dtype and kind of rows (N(0,1) logits; rows like a trained model's, bench
    fwd-trained|fwdbwd-trained), the fractions of rows that took the accurate rung, the safe path and
    the reference in the exact CPU rows' timed calls (the largest over their rows and modes), or []
    when the run has no such counters (runs before they existed)."""
    agg = {}
    for kind, rows in (("N(0,1)", b.rows), ("trained", getattr(b, "trained", {}))):
        for (m, impl, d, n, k), ent in rows.items():
            if ent.get("rows_accurate") is None:
                continue
            a = agg.setdefault((d, n, k, kind), [0.0, 0.0, 0.0, set()])
            for i, key in enumerate(("rows_accurate", "rows_safe", "rows_reference")):
                a[i] = max(a[i], ent.get(key) or 0.0)
            a[3].add(impl)
    if not agg:
        return []
    out = ["Rows the exact CPU rows could not settle in their first pass (the float32 pass, the double "
           "single pass or the table exp of `impls/cpu/simd.h`, their bounds in `impls/cpu/rowguard.c`), as "
           "fractions of the rows of the timed calls of this run, the largest over rows and modes: "
           "recomputed by the accurate kernels, then by the safe path, then by the reference. Two kinds "
           "of rows: N(0,1) logits (loss about log K) and rows like a trained model's (1.5 z + 10 at "
           "the target, loss about 2.9 at K = 32000; bench rows fwd-trained, fwdbwd-trained).", "",
           "| dtype | N x K | logits | accurate | safe path | reference | rows |", "|---|---|---|---|---|---|---|"]
    for (d, n, k, kind) in sorted(agg, key=lambda t: (DTYPE_ORDER.get(t[0], 9), t[1] * t[2], t[2], t[3])):
        a = agg[(d, n, k, kind)]
        out.append("| %s | %d x %d | %s | %.4f | %.4f | %.4f | %s |" % (
            d, n, k, kind, a[0], a[1], a[2], ", ".join(sorted(a[3]))))
    return out + [""]


# --------------------------------------------------------------------------------------------------
# accuracy beside speed

def _acc_points(acc, dtype):
    """{(n, k): {impl: [worst loss ulp (float32 ulps), worst gradient ulp (input dtype ulps)]}}"""
    out = {}
    for key in ("verify", "torch"):
        for r in (acc.get(key) or {}).get("results", []) or []:
            if r.get("dtype") != dtype or r.get("pass") is None and r.get("loss_ulp") is None:
                continue
            impl = r.get("impl", "?")
            if key == "torch" and r.get("torch_dtype", dtype) != dtype:
                continue
            lu, gu = r.get("loss_ulp"), r.get("grad_ulp")
            lu = lu if isinstance(lu, (int, float)) else None
            gu = gu if isinstance(gu, (int, float)) else None
            if key == "torch" and dtype == "bfloat16" and lu is not None:
                lu *= BF16_TO_F32_ULPS  # torch's bfloat16 loss is measured in bfloat16 ulps
            w = out.setdefault((r["n"], r["k"]), {}).setdefault(impl, [None, None])
            if lu is not None:
                w[0] = lu if w[0] is None else max(w[0], lu)
            if gu is not None:
                w[1] = gu if w[1] is None else max(w[1], gu)
    return out


def fig_accuracy_speed(acc, b, dtype, stamp, style, save):
    pts = _acc_points(acc, dtype)
    shapes = sorted(pts, key=lambda s: (s[1], s[0]))
    if not shapes:
        return None, []
    fig, axes = plt.subplots(2, len(shapes), figsize=(3.6 * len(shapes), 6.0), squeeze=False)
    labels = sorted({i for s in shapes for i in pts[s] if not is_torch_label(i)})
    rows_md = []
    for ci, (n, k) in enumerate(shapes):
        for ri, (mode, what) in enumerate((("fwd", "loss"), ("fwdbwd", "gradient"))):
            ax = axes[ri][ci]
            for impl, (lu, gu) in sorted(pts[(n, k)].items()):
                ent = b.rows.get((mode, impl, dtype, n, k)) if b else None
                u = lu if what == "loss" else gu
                if u is None or not ent or not ent.get("gbs"):
                    continue
                st = style(impl, labels.index(impl) if impl in labels else 0)
                st.pop("ls", None)
                ax.plot([ent["gbs"]], [max(u, 1e-12)], ls="none", label=impl, **st)
                ax.annotate(impl, (ent["gbs"], max(u, 1e-12)), fontsize=5.5,
                            textcoords="offset points", xytext=(3, 2))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, lw=0.3, color="#dddddd")
            ax.set_title("%s %dx%d: %s" % (dtype, n, k, what), fontsize=8)
            ax.set_xlabel("%s GB/s (sweep, same shape)" % mode, fontsize=7)
            ax.set_ylabel("worst %s ulp" % what, fontsize=7)
            ax.tick_params(labelsize=6.5)
        for impl, (lu, gu) in sorted(pts[(n, k)].items()):
            f = b.rows.get(("fwd", impl, dtype, n, k)) if b else None
            fb = b.rows.get(("fwdbwd", impl, dtype, n, k)) if b else None
            rows_md.append(["%dx%d" % (n, k), impl, _fmt(lu), _fmt(f and f.get("gbs")),
                            _fmt(gu), _fmt(fb and fb.get("gbs"))])
    fig.suptitle("Accuracy beside speed, %s: up and right is inaccurate and fast; down and right "
                 "is what a kernel should be\n%s" % (dtype, stamp), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return save(fig, "accuracy-speed-%s.svg" % dtype), rows_md


def _fmt(x):
    if x is None:
        return "-"
    if x == 0:
        return "0"
    return "%.3g" % x


# --------------------------------------------------------------------------------------------------
# history across commits

def load_history(data_dir):
    out = []
    for path in sorted(glob.glob(os.path.join(data_dir, "history", "*.json"))):
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("fractions"), dict):
            out.append((path, doc))
    out.sort(key=lambda x: (str(x[1].get("date", "")), x[0]))
    return out


def fig_history(hist, style, save):
    """Probe fraction per commit at float32 4096x32000, fwd and fwdbwd, one line per row."""
    if not hist:
        return None
    shape = "float32/N:4096/K:32000"
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6), squeeze=False)
    xs = list(range(len(hist)))
    ticks = ["%s\n%s\n%s" % (d.get("commit", "?")[:12], str(d.get("date", ""))[:10],
                             d.get("grid", "?")) for _, d in hist]
    impls = sorted({name.split("/")[1] for _, d in hist for name in d["fractions"]})
    labels = [i for i in impls if not is_torch_label(i)]
    for ax, mode in zip(axes[0], ("fwd", "fwdbwd")):
        for impl in sorted(impls, key=lambda i: (is_torch_label(i), i)):
            pts = [(x, d["fractions"].get("%s/%s/%s" % (mode, impl, shape)))
                   for x, (_, d) in zip(xs, hist)]
            pts = [p for p in pts if p[1] is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=impl,
                        **style(impl, labels.index(impl) if impl in labels else 0))
        ax.set_xticks(xs)
        ax.set_xticklabels(ticks, fontsize=6)
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_yscale("log")
        ax.set_ylabel("fraction of the %s probe" % ("read" if mode == "fwd" else "copy"),
                      fontsize=7)
        ax.set_title("%s, %s, same-run probe fraction per commit" % (mode, shape.replace(
            "/N:", " ").replace("/K:", "x")), fontsize=8)
        ax.grid(True, lw=0.3, color="#dddddd")
        ax.legend(frameon=False, fontsize=6)
    fig.suptitle("Across commits (report/data/history/): %s" % "; ".join(
        "%s on %s, load %s" % (d.get("commit", "?")[:12], d.get("machine", "?"),
                               "/".join("%.2f" % v for v in (d.get("load_avg_start") or [])[:1])
                               or "?") for _, d in hist), fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return save(fig, "history.svg")


# --------------------------------------------------------------------------------------------------
# GPU anchors

def anchor_gbs(a):
    """An anchor's GB/s in the byte model: given, or its time over 1R (+1W for fwdbwd)."""
    if isinstance(a.get("gbs"), (int, float)):
        return float(a["gbs"])
    es = DTYPE_BYTES.get(a.get("dtype"))
    if isinstance(a.get("ms"), (int, float)) and es and a.get("n") and a.get("k"):
        moved = a["n"] * a["k"] * es * (2 if "fwdbwd" in a.get("modes", []) else 1)
        return moved / (a["ms"] * 1e-3) / 1e9
    return None


def fig_gpu_anchors(anchors, gb, gctx, style, save):
    """Two panels (fwd, fwdbwd): GB/s against K; the anchors as horizontal lines; the newest GPU
    run's rows (and its d2d copy) as points."""
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.2), squeeze=False)
    labels = sorted({i for (m, i, d, n, k) in (gb.rows if gb else {}) if not is_torch_label(i)})
    for ax, mode in zip(axes[0], ("fwd", "fwdbwd")):
        j = 0
        for a in anchors:
            v = anchor_gbs(a)
            if v is None or mode not in a.get("modes", []):
                continue
            ax.axhline(v, color=REF_GREYS[j % len(REF_GREYS)], lw=1.1,
                       ls="-" if a.get("kind") == "speed_of_light" else "--",
                       label="%s: %.0f GB/s%s" % (a.get("label", a.get("id")), v,
                                                  " (approx.)" if a.get("approximate") else ""))
            j += 1
        if gb:
            ser, copies = {}, {}
            for (m, impl, d, n, k), e in gb.rows.items():
                if m != mode or not e.get("gbs"):
                    continue
                ser.setdefault("%s %s" % (impl, d), []).append((k, e["gbs"], impl))
                if e.get("copy_gbs"):
                    copies[(d, n, k)] = (k, e["copy_gbs"])
            for lab in sorted(ser, key=lambda s: (is_torch_label(s), s)):
                pts = sorted(ser[lab])
                impl = pts[0][2]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=lab,
                        **style(impl, labels.index(impl) if impl in labels else 0))
            if copies:
                cp = sorted(copies.values())
                ax.plot([p[0] for p in cp], [p[1] for p in cp], ls="none", marker="s",
                        mfc="none", color="#777777", label="d2d copy of the logits' bytes (1R+1W, same run)")
        else:
            ax.text(0.5, 0.5, "no GPU run in report/data/gpu/ yet", transform=ax.transAxes,
                    ha="center", fontsize=8, color="#777777")
        ax.set_xscale("log")
        ax.set_xlim(500, 400000)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("classes K", fontsize=7)
        ax.set_ylabel("GB/s (bytes moved / time)", fontsize=7)
        ax.set_title("GPU %s: published anchors and this project's run" % mode, fontsize=8)
        ax.tick_params(labelsize=6.5)
        ax.legend(frameon=False, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14),
                  ncol=1)
    fig.suptitle("GPU anchors (report/data/gpu-anchors.json); run: %s" % (
        "%s, %s, commit %s, load %s" % (
            gctx.get("gpu", "?"), gctx.get("date", "?"), gctx.get("commit", "?"),
            gctx.get("load_avg", "not recorded by gpu-check")) if gctx else "none yet"),
        fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return save(fig, "gpu-anchors.svg")


def anchors_table(anchors):
    rows = []
    for a in anchors:
        v = anchor_gbs(a)
        shape = "%dx%d" % (a["n"], a["k"]) if a.get("n") and a.get("k") else "-"
        rows.append([a.get("label", a.get("id", "?")), a.get("device", "?"),
                     ", ".join(a.get("modes", [])), a.get("dtype", "-"), shape,
                     ("%.0f%s" % (v, " (approx.)" if a.get("approximate") else "")) if v else "-",
                     "; ".join(a.get("sources", []))])
    return rows


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def shape_of(name):
    m = re.search(r"N:(\d+)/K:(\d+)", name)
    return (int(m.group(1)), int(m.group(2))) if m else None
