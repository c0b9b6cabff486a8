"""report/lsce_report/figures.py: the SVG figures (matplotlib, deterministic ids) (split out of
report/make_report.py; the same code)."""
import math
import os
from fractions import Fraction

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from .constants import E_MAP_BASE  # noqa: E402
from .fmt import fu, num  # noqa: E402
from .bench import _variant, is_torch_compile  # noqa: E402


# ==================================================================================================
# figures
# ==================================================================================================
def setup_matplotlib():
    plt.rcParams.update({
        "svg.hashsalt": "lsce", "svg.fonttype": "none", "font.size": 9, "axes.titlesize": 9,
        "axes.labelsize": 9, "legend.fontsize": 7.5, "xtick.labelsize": 8, "ytick.labelsize": 8,
        "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
        "path.simplify": False})


def savefig(fig, figdir, name, made):
    os.makedirs(figdir, exist_ok=True)
    path = os.path.join(figdir, name)
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    made.append(name)
    return "figures/" + name


def fig_emapping(figdir, made):
    ks = np.unique(np.round(np.logspace(np.log10(2), np.log10(256000), 600)).astype(np.int64))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    for e, c in zip(E_MAP_BASE, colors):
        ev = float(Fraction(e))
        ax.plot(ks, ev * ks / (ks - 1), color=c, lw=1.6, label="$e_{K-1}$ = %s" % e)
        ax.axhline(ev, color=c, lw=0.8, ls=":")
    for kk, lab in ((5, "seed, K=5"), (32000, "K=32000"), (128256, "K=128256")):
        ax.axvline(kk, color="#888888", lw=0.6, ls="--")
        ax.text(kk, 0.01, lab + " ", fontsize=7, color="#555555", rotation=90, va="bottom",
                ha="right")
    ax.set_xscale("log")
    ax.set_xlim(2, 256000)
    ax.set_ylim(0, 0.64)
    ax.set_xlabel("number of classes K")
    ax.set_ylabel("$e_K$ (the K-form smoothing)")
    ax.set_title("A (K-1)-form smoothing $e_{K-1}$ is the K-form's $e_K = e_{K-1}K/(K-1)$")
    ax.legend(loc="upper right", frameon=True, framealpha=1.0, edgecolor="none")
    return savefig(fig, figdir, "e-mapping.svg", made)


def fig_optimum(seed, target, figdir, made):
    """Small bar charts: p* over the 5 classes, one panel per variant, bars per smoothing."""
    runs = seed["runs"]
    ids = [v["id"] for v in runs[0]["compare"]["variants"]]
    ids = [i for i in ids if any(_variant(r, i) and _variant(r, i).get("optimum") for r in runs)]
    if not ids:
        return None
    ncol = 4
    nrow = (len(ids) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(8.6, 2.1 * nrow), sharey=True, squeeze=False)
    shades = ["#9ecae1", "#4292c6", "#08519c"]
    ymax = 0
    for idx, vid in enumerate(ids):
        ax = axes[idx // ncol][idx % ncol]
        width = 0.8 / len(runs)
        for j, r in enumerate(runs):
            v = _variant(r, vid)
            opt = [num(x) for x in (v.get("optimum") or [])]
            if not opt:
                continue
            xs = np.arange(len(opt)) + (j - (len(runs) - 1) / 2) * width
            ax.bar(xs, opt, width=width, color=shades[j % len(shades)],
                   label="e = %s" % r["smoothing"])
            ymax = max(ymax, max(opt))
        ax.set_title(vid, fontsize=8.5)
        ax.set_xticks(range(len(opt)))
        ax.set_xticklabels(["c%d" % c for c in range(len(opt))])
        ax.tick_params(axis="x", length=0)
    for idx in range(len(ids), nrow * ncol):
        axes[idx // ncol][idx % ncol].axis("off")
    for row in axes:
        row[0].set_ylabel("p*")
        row[0].set_ylim(0, max(1.0, ymax * 1.05))
    axes[0][0].legend(loc="upper left", frameon=False, fontsize=7)
    fig.suptitle("The distribution p* each variant drives the model to (seed example, first "
                 "row%s)" % ("" if target is None else ", target class %d" % target), fontsize=9)
    fig.tight_layout()
    return savefig(fig, figdir, "optimum-seed.svg", made)


def fig_heatmap(rows, cols, loss, grad, figdir, made):
    """rows: labels; loss/grad: dict (row, col) -> worst ulp (float). Colour: log10 ulp."""
    vmin, vmax = -10.0, 4.0
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.62 * len(cols) + 2.2),
                                            2 * (0.32 * len(rows) + 1.1)))
    cmap = plt.get_cmap("RdYlBu_r").copy()
    cmap.set_bad("#eeeeee")
    norm = TwoSlopeNorm(vmin=vmin, vcenter=0.0, vmax=vmax)
    for ax, vals, title in ((axes[0], loss, "worst loss error (ulp)"),
                            (axes[1], grad, "worst gradient error (ulp)")):
        m = np.full((len(rows), len(cols)), np.nan)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                v = vals.get((r, c))
                if v is None:
                    continue
                if math.isnan(v) or math.isinf(v):
                    m[i, j] = vmax
                elif v <= 0:
                    m[i, j] = vmin
                else:
                    m[i, j] = min(max(math.log10(v), vmin), vmax)
        mesh = ax.pcolormesh(np.ma.masked_invalid(m), cmap=cmap, norm=norm, edgecolors="white",
                             linewidth=0.5)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                v = vals.get((r, c))
                txt = "" if v is None else fu(v)
                if txt:
                    ax.text(j + 0.5, i + 0.5, txt, ha="center", va="center", fontsize=6.5)
        ax.set_xticks(np.arange(len(cols)) + 0.5)
        ax.set_xticklabels(cols, rotation=35, ha="right")
        ax.set_yticks(np.arange(len(rows)) + 0.5)
        ax.set_yticklabels(rows)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.tick_params(length=0)
        for s in ax.spines.values():
            s.set_visible(False)
        cb = fig.colorbar(mesh, ax=ax, fraction=0.03, pad=0.01)
        cb.set_label("log10 ulp", fontsize=7.5)
        cb.ax.tick_params(labelsize=7)
    fig.tight_layout()
    return savefig(fig, figdir, "accuracy-heatmap.svg", made)


MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f"]


def line_style(label, index):
    """torch: black dashed; torch.compile: grey dash-dot; lsce rows: a colour and marker each."""
    if is_torch_compile(label):
        return dict(color="#666666", ls="-.", marker="x", ms=5, lw=1.2)
    if label.startswith("torch"):
        return dict(color="black", ls="--", marker="x", ms=5, lw=1.2)
    return dict(color=PALETTE[index % len(PALETTE)], marker=MARKERS[index % len(MARKERS)], ms=4,
                lw=1.3)


def fig_speed(title, panels, figdir, name, made):
    """panels: list of (panel title, [(label, [(K, GB/s)])], [(probe label, GB/s)])."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.5), squeeze=False)
    labels = sorted({lab for _, lines, _ in panels for lab, _ in lines
                     if not lab.startswith("torch")})
    for ax, (ptitle, lines, probes) in zip(axes[0], panels):
        for label, pts in lines:
            pts = sorted(pts)
            if not pts:
                continue
            idx = labels.index(label) if label in labels else 0
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label,
                    **line_style(label, idx))
        greys = ["#999999", "#555555", "#bbbbbb", "#333333", "#c47a00", "#7a4a00", "#d9a441", "#5c3300"]
        for i, (plabel, bw) in enumerate(probes):
            ax.axhline(bw, color=greys[i % len(greys)], lw=1.0, ls=":", label=plabel)
        ax.set_xscale("log")
        ax.set_xlabel("classes K")
        ax.set_ylabel("GB/s (bytes moved / median time)")
        ax.set_ylim(bottom=0)
        ax.set_title(ptitle)
        ax.legend(frameon=False, fontsize=6.5, loc="best")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return savefig(fig, figdir, name, made)


def fig_gpu_bars(b, ctx, figdir, made):
    """Grouped bars: one group per (mode, dtype, N x K), a bar per row, PyTorch and the copy."""
    dorder = {"bfloat16": 0, "float32": 1, "float16": 2, "float64": 3}
    shapes = sorted({(m, d, n, k) for (m, i, d, n, k) in b.rows},
                    key=lambda x: (x[0], dorder.get(x[1], 9), x[2] * x[3], x[2]))
    impls = sorted({i for (m, i, d, n, k) in b.rows},
                   key=lambda i: (i.startswith("torch"), is_torch_compile(i), i))
    series = impls + ["d2d copy"]
    if not shapes:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 1.25 * len(shapes) + 1.5), 3.6))
    width = 0.8 / len(series)
    lsce_rows = [i for i in impls if not i.startswith("torch")]
    for j, sname in enumerate(series):
        xs, ys = [], []
        for x, (m, d, n, k) in enumerate(shapes):
            if sname == "d2d copy":
                cps = [e.get("copy_gbs") for (m2, i2, d2, n2, k2), e in sorted(b.rows.items())
                       if (m2, d2, n2, k2) == (m, d, n, k) and e.get("copy_gbs")]
                y = cps[0] if cps else None
            else:
                e = b.rows.get((m, sname, d, n, k))
                y = e["gbs"] if e else None
            if y:
                xs.append(x + (j - (len(series) - 1) / 2) * width)
                ys.append(y)
        if not xs:
            continue
        if sname == "d2d copy":
            style = dict(color="#bbbbbb", hatch="//", edgecolor="#777777")
        elif is_torch_compile(sname):
            style = dict(color="#666666")
        elif sname.startswith("torch"):
            style = dict(color="black")
        else:
            style = dict(color=PALETTE[lsce_rows.index(sname) % len(PALETTE)])
        ax.bar(xs, ys, width=width, label=sname, **style)
    ax.set_xticks(range(len(shapes)))
    ax.set_xticklabels(["%s %s\n%dx%d" % s for s in shapes], fontsize=7)
    ax.set_ylabel("GB/s (bytes moved / time)")
    ax.set_title("GPU: %s, %s" % (ctx.get("gpu", "?"), ctx.get("date", "?")))
    ax.legend(frameon=False, fontsize=7, ncol=min(len(series), 6), loc="upper center",
              bbox_to_anchor=(0.5, -0.16))
    fig.tight_layout()
    return savefig(fig, figdir, "speed-gpu.svg", made)
