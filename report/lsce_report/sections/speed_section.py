"""report/lsce_report/sections/speed_section.py: section 4, speed (the sweep, accuracy beside
speed, history, GPU anchors, targets) (split out of report/make_report.py; the same code)."""
import re

import speed  # noqa: E402  (report/speed.py)
from ..constants import (  # noqa: E402
    CERTIFIER_SECONDS, CPU_FWDBWD_COPY_FRACTION, CPU_FWD_READ_FRACTION, CPU_SHAPE,
    CPU_TORCH_RATIO, GPU_COPY_FRACTION, GPU_SHAPE, GPU_TORCH_COMPILE_RATIO,
    GPU_TORCH_EAGER_RATIO
)
from ..fmt import _flat, _gap, fnum, rel, table  # noqa: E402
from ..data import no_data  # noqa: E402
from ..bench import Bench, _row_bytes, is_torch, is_torch_compile  # noqa: E402
from ..figures import fig_gpu_bars, fig_speed, line_style, savefig  # noqa: E402


class SpeedSection:
    """Report's section 4, speed (the sweep, accuracy beside speed, history, GPU anchors, targets).
    Report's section 4, speed (the sweep, accuracy beside speed, history, GPU anchors, targets)."""

    # ----------------------------------------------------------------------------------------------
    def section_speed(self):
        self.p("## 4. Speed", "")
        self.p("### 4.1 CPU", "")
        # The full sweep (scripts/bench --full) when there is one, else the quick grid.
        doc, path = self.read("bench-cpu-full.json")
        if not doc:
            doc, path = self.read("bench-cpu.json")
        cpu = Bench(doc) if doc else None
        if not cpu:
            self.p(no_data("scripts/bench", "it writes `report/data/bench-cpu.json`"), "")
        else:
            self.speed_cpu(cpu, path)
        self.accuracy_speed(cpu, path if doc else None)
        self.history()
        self.p("### 4.2 GPU", "")
        acc, rej = self.gpu_runs()
        gpu = None
        if not acc:
            self.p(no_data("scripts/gpu-check", "on a machine with the GPU; it writes "
                           "`report/data/gpu/<date>-<commit>.json`"), "")
        else:
            r, gdoc = acc[0]
            gpu = (r, gdoc, Bench(gdoc["bench"]) if isinstance(gdoc.get("bench"), dict) else None)
            self.speed_gpu(*gpu, others=acc[1:])
        self.gpu_anchors(gpu)
        if rej:
            self.p("Rejected GPU files (a run must carry the commit and the SHA-256 of the binary "
                   "it ran):", "")
            self.p(*table(["file", "reason"], [[f, why] for f, why in rej]), "")
        self.p("### 4.3 Targets", "")
        # The targets are judged on the quick run (scripts/run's, report/data/bench-cpu.json) when
        # there is one: the sweep is long and may run on a loaded machine (its context says).
        qdoc, qpath = self.read("bench-cpu.json")
        if qdoc:
            self.targets(Bench(qdoc), qpath, gpu)
        else:
            self.targets(cpu, path if doc else None, gpu)

    def speed_points(self, bench, mode, dtype, n):
        lines = {}
        for (m, impl, d, nn, k), ent in bench.rows.items():
            if m == mode and d == dtype and nn == n and ent["gbs"] is not None:
                lines.setdefault(impl, []).append((k, ent["gbs"]))
        order = sorted(lines, key=lambda i: (is_torch(i) or i.startswith("torch"), i))
        return [(i, lines[i]) for i in order]

    def pick_n(self, bench, dtype, prefer):
        ns = {}
        for (m, impl, d, n, k) in bench.rows:
            if d == dtype:
                ns[n] = ns.get(n, 0) + 1
        if not ns:
            return None
        if prefer in ns:
            return prefer
        return max(ns, key=lambda n: (ns[n], n))

    def speed_cpu(self, b, path):
        ctx = b.ctx
        self.p("Source: `%s` (%s; %s; commit %s; %s CPUs; torch %s). GB/s is the bytes a row "
               "must move (the logits, plus the gradient written for fwdbwd) over the median "
               "time; variant k, e = 0.1, mean, logits N(0,1), uniform targets. The dotted lines "
               "are the bandwidth probes of the same run (read for fwd, copy for fwdbwd; best of "
               "the repetitions)." % (path, ctx.get("machine", "?"), ctx.get("compiler", "?"),
                                      ctx.get("commit", "?"), ctx.get("num_cpus", "?"),
                                      ctx.get("torch_version", "?")), "")
        dtypes = []
        for (m, impl, d, n, k) in sorted(b.rows):
            if d not in dtypes:
                dtypes.append(d)
        dorder = {"float32": 0, "bfloat16": 1, "float16": 2, "float64": 3}
        dtypes.sort(key=lambda d: (dorder.get(d, 9), d))
        sweep = speed.has_sweep(b)
        if sweep:
            self.p(*speed.sweep_markdown(b, path, line_style, self.save))
        for d in dtypes if not sweep else []:
            n = self.pick_n(b, d, CPU_SHAPE[0])
            panels = []
            for mode, kind in (("fwd", "read"), ("fwdbwd", "copy")):
                lines = self.speed_points(b, mode, d, n)
                if not lines:
                    continue
                probes = [("probe %s, %d thread%s" % (kd, t, "s" if t > 1 else ""), bw)
                          for (kd, t), bw in sorted(b.probes.items()) if kd == kind]
                if mode == "fwd" and d == "float32":  # the ceilings read float32, as these rows do
                    probes += [("%s ceiling (%s), %d thread%s" % (
                        "exact-tier exp" if kd == "exp64" else "float32 exp", kd, t,
                        "s" if t > 1 else ""), bw)
                        for (kd, t), bw in sorted(b.probes.items()) if kd in ("exp32", "exp64")]
                panels.append(("%s, %s, N = %d" % (mode, d, n), lines, probes))
            if panels:
                link = fig_speed("CPU: GB/s against K (%s, %s)" % (d, ctx.get("machine", "?")),
                                 panels, self.figdir, "speed-cpu-%s.svg" % d, self.made)
                self.p("![CPU GB/s against K, %s](%s)" % (d, link), "")
        # the table at the target shape
        n, k = CPU_SHAPE
        trs = []
        for d in dtypes:
            for mode, kind in (("fwd", "read"), ("fwdbwd", "copy")):
                torch_ent = b.rows.get((mode, "torch", d, n, k))
                for (m, impl, dd, nn, kk), ent in sorted(b.rows.items()):
                    if (m, dd, nn, kk) != (mode, d, n, k):
                        continue
                    thr = int(ent["threads"] or 1)
                    bw, pname = b.probe_for(kind, thr)
                    frac = ent["gbs"] / bw if (bw and ent["gbs"]) else None
                    ratio = (torch_ent["ms"] / ent["ms"]) if (torch_ent and not is_torch(impl)
                                                             and ent["ms"]) else None
                    trs.append([mode, d, impl, b.tier(impl, ent, self.impls_tier), str(thr),
                                fnum(ent["ms"], "%.4g"), fnum(ent["gbs"], "%.3g"),
                                "%.1f%% of %s" % (100 * frac, pname) if frac is not None else "-",
                                "%.2fx" % ratio if ratio is not None else "-"])
        if trs:
            self.p("At %dx%d (the target shape):" % (n, k), "")
            self.p(*table(["mode", "dtype", "row", "tier", "threads", "ms", "GB/s",
                           "fraction of probe", "PyTorch time / row time"], trs,
                          ["l", "l", "l", "l", "r", "r", "r", "l", "r"]), "")
        else:
            self.p("The run has no row at %dx%d." % (n, k), "")
        probes = ["%s/threads:%d %.3g GB/s" % (kd, t, bw)
                  for (kd, t), bw in sorted(b.probes.items())]
        if probes:
            self.p("Probes (best): " + ", ".join(probes) + ".", "")
        for t in (2, 1):
            ce, c64, rd = (b.probes.get((k, t)) for k in ("exp32", "exp64", "read"))
            if ce and rd:
                txt = ("The exp ceilings (%d threads, widest vectors): `bandwidth/exp32` reads float32 "
                       "logits and sums a float32-accurate exp of each (degree-7 polynomial, nothing "
                       "else) at %.3g GB/s, %.1f%% of the read probe: no row that evaluates one exp per "
                       "logit can reach a larger fraction on this machine." % (t, ce, 100 * ce / rd))
                if c64:
                    txt += (" `bandwidth/exp64` does the same with the exact rows' double exp (the "
                            "accuracy their bounds need): %.3g GB/s, %.1f%% of the read probe, the "
                            "ceiling of the exact tier." % (c64, 100 * c64 / rd))
                self.p(txt, "")
                break
        ref = [(nm, e) for nm, e in sorted(b.other.items()) if nm.startswith("reference/")]
        for nm, e in ref:
            self.p("The certified reference (`%s`): %s ms per call, %s logits/s." % (
                nm, fnum(e["ms"], "%.4g"), fnum(e["items_per_second"], "%.3g")), "")
        if b.errors:
            self.p("Rows that did not run (%d): %s." % (len(b.errors), "; ".join(
                "`%s`: %s" % (nm, msg[:120]) for nm, msg in b.errors[:12])) +
                   (" ..." if len(b.errors) > 12 else ""), "")

    def speed_gpu(self, r, doc, b, others):
        ctx = doc["context"]
        self.p("Newest run: `%s`, **%s**, dated %s (driver %s, CUDA %s, commit %s, binary "
               "SHA-256 `%s`)." % (r, ctx.get("gpu", "?"), ctx.get("date", "?"),
                                    ctx.get("driver", "?"), ctx.get("cuda", "?"),
                                    ctx.get("commit", "?"), ctx.get("binary_sha256", "?")), "")
        if others:
            self.p("Older accepted runs: %s." % ", ".join("`%s` (%s, %s)" % (
                o[0], o[1]["context"].get("gpu", "?"), o[1]["context"].get("date", "?"))
                for o in others), "")
        summ = doc.get("summary")
        if isinstance(summ, dict) and summ:
            self.p("Its summary:", "")
            self.p(*table(["key", "value"], [[k, _flat(v)] for k, v in summ.items()]), "")
        if not b or not b.rows:
            self.p("The run has no timings.", "")
            return
        self.p("Device-resident data, CUDA events (`lsce-dev gpubench`; PyTorch eager and "
               "torch.compile from `bench/peers/torch_gpu.py`). GB/s is the bytes a row must "
               "move (the logits, plus the gradient for fwdbwd) over its time; \"d2d copy\" is "
               "a device-to-device copy of the logits' bytes timed in the same run (one read and "
               "one write, so fwdbwd's limit; fwd's limit is half its time).", "")
        link = fig_gpu_bars(b, ctx, self.figdir, self.made)
        if link:
            self.p("![GPU GB/s per shape](%s)" % link, "")
        trs = []
        dorder = {"bfloat16": 0, "float32": 1, "float16": 2, "float64": 3}
        keys = sorted(b.rows, key=lambda x: (x[0], dorder.get(x[2], 9), x[3], x[4],
                                              x[1].startswith("torch"), x[1]))
        for key in keys:
            m, impl, d, n, k = key
            ent = b.rows[key]
            copy = self.copy_for(b, key)
            frac = ent.get("fraction_of_copy")
            if frac is None and copy and ent["ms"]:
                frac = (copy[0] if m == "fwdbwd" else copy[0] / 2) / ent["ms"]
            trs.append([m, d, "%dx%d" % (n, k), impl, b.tier(impl, ent, self.impls_tier),
                        fnum(ent["ms"], "%.4g"), fnum(ent["gbs"], "%.4g"),
                        fnum(copy[0], "%.4g") if copy else "-",
                        "%.1f%%" % (100 * frac) if frac is not None else "-"])
        self.p(*table(["mode", "dtype", "N x K", "row", "tier", "ms", "GB/s", "d2d copy ms",
                       "fraction of the copy's limit"], trs,
                      ["l", "l", "r", "l", "l", "r", "r", "r", "r"]), "")

    # ----------------------------------------------------------------------------------------------
    # report/speed.py's sections
    def save(self, fig, name):
        return savefig(fig, self.figdir, name, self.made)

    def accuracy_speed(self, cpu, cpu_path):
        self.p("#### 4.1.1 Accuracy beside speed", "")
        acc, apath = self.read("accuracy-sweep.json")
        if not acc:
            self.p(no_data("/usr/bin/python3 report/accuracy_sweep.py",
                           "it writes `%s`" % apath), "")
            return
        fx = acc.get("fixtures", {})
        self.p("Source: `%s` (%s) against the GB/s of `%s` at the same shape and dtype. The worst "
               "ulp comes from `lsce verify` on fixtures of the sweep's shapes generated by "
               "`report/accuracy_sweep.py` (%s; variant k, e = %s, mean; logits N(0,1), uniform "
               "targets; every row and every entry of the gradient checked against the certified "
               "reference), not from the committed verify JSON, whose shapes are not the sweep's; "
               "PyTorch's from `fixtures/peers/torch_peer.py --fixtures` on the same files at %s "
               "(the peer-table approach: torch's loss and autograd gradient measured by `lsce "
               "check`). Loss ulps are float32 ulps (a bfloat16 PyTorch loss, a bfloat16 number, "
               "is rescaled exactly by 2^16); gradient ulps are in the input dtype." % (
                   apath, acc.get("command", "report/accuracy_sweep.py"),
                   cpu_path or "no bench run", fx.get("shapes_text", "?"),
                   fx.get("smoothing", "?"), ", ".join(
                       "%dx%d" % tuple(x) for x in fx.get("torch_shapes") or
                       fx.get("shapes") or []) or "?"), "")
        stamp = speed.run_stamp(cpu.ctx, cpu_path) if cpu else "no bench run"
        for d in ("float32", "bfloat16"):
            link, rows = speed.fig_accuracy_speed(acc, cpu, d, stamp, line_style, self.save)
            if link:
                self.p("![accuracy against speed, %s](%s)" % (d, link), "")
                self.p(*table(["shape", "row", "worst loss ulp", "fwd GB/s", "worst gradient ulp",
                               "fwdbwd GB/s"], rows, ["r", "l", "r", "r", "r", "r"]), "")

    def history(self):
        self.p("#### 4.1.2 Across commits", "")
        hist = speed.load_history(self.data)
        if not hist:
            self.p(no_data("/usr/bin/python3 report/history.py report/data/bench-cpu.json",
                           "it writes `report/data/history/<date>-<commit>.json`"), "")
            return
        for path, _ in hist:
            self.src.add(path)
        link = speed.fig_history(hist, line_style, self.save)
        self.p("One summary per commit in `report/data/history/` (`report/history.py BENCH.json` "
               "writes it from a bench JSON): each row's GB/s as a fraction of the bandwidth probe "
               "measured in the same run, not raw times, so runs on a loaded or different machine "
               "compare better (they still do not compare exactly: the load is in each "
               "summary). `scripts/bench-compare OLD.json NEW.json` is the regression check "
               "between two runs with repetitions (Google Benchmark's U test).", "")
        if link:
            self.p("![probe fraction per commit](%s)" % link, "")
        self.p(*table(["commit", "date", "grid", "machine", "load avg at start",
                       "summary"], [[d.get("commit", "?"), str(d.get("date", "?"))[:19],
                                     d.get("grid", "?"), d.get("machine", "?"),
                                     speed._fmt((d.get("load_avg_start") or [None])[0]),
                                     "`%s`" % rel(p)] for p, d in hist]), "")

    def gpu_anchors(self, gpu):
        self.p("#### GPU anchors", "")
        doc, apath = self.read("gpu-anchors.json")
        anchors = (doc or {}).get("anchors") or []
        if not anchors:
            self.p(no_data("git checkout report/data/gpu-anchors.json"), "")
            return
        gb, gctx = (gpu[2], gpu[1]["context"]) if gpu else (None, None)
        link = speed.fig_gpu_anchors(anchors, gb, gctx, line_style, self.save)
        self.p("The published figures this project's GPU rows are measured against (`%s`; %s). "
               "The newest accepted `scripts/gpu-check` run in `report/data/gpu/` is drawn beside "
               "them%s." % (apath, doc.get("byte_model", ""),
                            ": `%s`" % gpu[0] if gpu else " once there is one"), "")
        self.p("![GPU anchors](%s)" % link, "")
        self.p(*table(["anchor", "device", "modes", "dtype", "N x K", "GB/s", "sources"],
                      speed.anchors_table(anchors), ["l", "l", "l", "l", "r", "r", "l"]), "")

    @staticmethod
    def copy_for(b, key):
        """(copy ms, source) of the device-to-device copy for this row's shape and dtype."""
        m, impl, d, n, k = key
        ent = b.rows[key]
        if ent.get("copy_ms"):
            return ent["copy_ms"], "copy"
        for (m2, i2, d2, n2, k2), e2 in sorted(b.rows.items()):
            if (d2, n2, k2) == (d, n, k) and e2.get("copy_ms"):
                return e2["copy_ms"], "copy"
        cand = [(bw, "bandwidth/%s/threads:%d" % (kd, t)) for (kd, t), bw in b.probes.items()
                if "copy" in kd]
        if cand:
            bw, name = max(cand)
            moved = _row_bytes("fwdbwd", d, n, k)
            return (moved / (bw * 1e9) * 1e3, name) if moved else None
        return None

    # ----------------------------------------------------------------------------------------------
    def targets(self, cpu, cpu_path, gpu):
        self.p("Each speed target of the \"Targets\" table of docs/accuracy.md (variant k, e = 0.1, mean, "
               "logits N(0,1), uniform targets), measured in one run. Gap = measured / target "
               "(>= 1 meets it). Speed targets are taken over `exact`-tier rows; the accuracy "
               "bounds of the same section are checked in section 3 (\"Against the bounds\").",
               "")
        rows = []
        nm = "not measured"
        n, k = CPU_SHAPE
        for mode, kind, frac_t, what in (("fwd", "read", CPU_FWD_READ_FRACTION,
                                          "CPU float32 forward, 2 threads, %dx%d" % (n, k)),
                                         ("fwdbwd", "copy", CPU_FWDBWD_COPY_FRACTION,
                                          "CPU float32 forward+backward (gradient written), "
                                          "%dx%d" % (n, k))):
            best = None
            if cpu:
                cands = []
                for (m, impl, d, nn, kk), ent in cpu.rows.items():
                    if (m, d, nn, kk) != (mode, "float32", n, k) or impl.startswith("torch"):
                        continue
                    if cpu.tier(impl, ent, self.impls_tier) != "exact":
                        continue
                    thr = int(ent["threads"] or 1)
                    cands.append((thr != 2, ent["ms"], impl, ent))
                if cands:
                    best = min(cands)
            torch_ent = cpu.rows.get((mode, "torch", "float32", n, k)) if cpu else None
            src = "`%s`" % cpu_path if cpu_path else "-"
            if best:
                _, ms, impl, ent = best
                thr = int(ent["threads"] or 1)
                rowname = "%s (%d thread%s)" % (impl, thr, "s" if thr > 1 else "")
                if torch_ent:
                    ratio = torch_ent["ms"] / ms
                    rows.append([what, ">= %gx PyTorch CPU (2 threads, same run)"
                                 % CPU_TORCH_RATIO, "%s %.4g ms; torch %.4g ms" % (
                                     rowname, ms, torch_ent["ms"]),
                                 "%.2fx" % ratio, _gap(ratio, CPU_TORCH_RATIO), src])
                else:
                    rows.append([what, ">= %gx PyTorch CPU" % CPU_TORCH_RATIO,
                                 "%s %.4g ms; torch: %s" % (rowname, ms, nm), "-", nm, src])
                bw, pname = cpu.probe_for(kind, thr)
                if bw and ent["gbs"]:
                    f = ent["gbs"] / bw
                    rows.append([what, ">= %d%% of the %s probe" % (round(frac_t * 100), kind),
                                 "%s %.3g GB/s; %s %.3g GB/s" % (rowname, ent["gbs"], pname, bw),
                                 "%.1f%%" % (100 * f), _gap(f, frac_t), src])
                else:
                    rows.append([what, ">= %d%% of the %s probe" % (round(frac_t * 100), kind),
                                 "%s; probe: %s" % (rowname, nm), "-", nm, src])
            else:
                rows.append([what, ">= %gx PyTorch CPU" % CPU_TORCH_RATIO, nm, "-", nm, src])
                rows.append([what, ">= %d%% of the %s probe" % (round(frac_t * 100), kind), nm,
                             "-", nm, src])
        rows.extend(self.gpu_targets(gpu))
        rows.append(self.certifier_target(cpu, cpu_path))
        self.p(*table(["target", "requirement", "measured", "ratio", "gap", "source"], rows,
                      ["l", "l", "l", "r", "l", "l"]), "")

    def gpu_targets(self, gpu):
        nm = "not measured"
        n, k = GPU_SHAPE
        w1 = "H200 bf16 logits + bf16 gradient, fwd+bwd, %dx%d" % (n, k)
        w2 = "H200 float32 forward, %dx%d" % (n, k)
        pct = "%d%%" % round(GPU_COPY_FRACTION * 100)
        req = [(w1, ">= %s of a device-to-device copy (same run)" % pct),
               (w1, ">= %gx PyTorch eager" % GPU_TORCH_EAGER_RATIO),
               (w1, "faster than torch.compile (timed at the target shapes only)"),
               (w2, ">= %s of the same copy's bandwidth" % pct)]
        if not gpu or not gpu[2]:
            return [[w, q, nm, "-", nm, "`%s`" % gpu[0] if gpu else "-"] for w, q in req]
        r, doc, b = gpu
        gname = doc["context"].get("gpu", "?")
        src = "`%s`" % r
        note = "" if "H200" in str(gname) else " (on %s, not an H200)" % gname

        def best_row(mode, dtype):
            c = [(ent["ms"], impl, (m, impl, d, nn, kk)) for (m, impl, d, nn, kk), ent
                 in b.rows.items() if (m, d, nn, kk) == (mode, dtype, n, k)
                 and not impl.startswith("torch")
                 and b.tier(impl, ent, self.impls_tier) in ("exact", "?")]
            return min(c) if c else None

        def copy_line(best, mode, w, q):
            if not best:
                return [w, q, nm, "-", nm, src]
            ms, impl, key = best
            ent = b.rows[key]
            copy = self.copy_for(b, key)
            frac = ent.get("fraction_of_copy")
            if frac is None and copy:
                frac = (copy[0] if mode == "fwdbwd" else copy[0] / 2) / ms
            if frac is None:
                return [w, q, "%s %.4g ms; copy: %s" % (impl, ms, nm), "-", nm, src]
            lim = "copy %.4g ms" % copy[0] if copy else "copy"
            if mode == "fwd" and copy:
                lim += " (fwd reads half its bytes: limit %.4g ms)" % (copy[0] / 2)
            return [w, q, "%s %.4g ms (%s GB/s); %s%s" % (impl, ms, fnum(ent["gbs"], "%.4g"),
                                                          lim, note),
                    "%.1f%%" % (100 * frac), _gap(frac, GPU_COPY_FRACTION), src]

        bb = best_row("fwdbwd", "bfloat16")
        out = [copy_line(bb, "fwdbwd", *req[0])]
        for (pick, target), rq in zip(((is_torch, GPU_TORCH_EAGER_RATIO),
                                       (is_torch_compile, GPU_TORCH_COMPILE_RATIO)), req[1:3]):
            pe = sorted((ent["ms"], impl) for (m, impl, d, nn, kk), ent in b.rows.items()
                        if (m, d, nn, kk) == ("fwdbwd", "bfloat16", n, k) and pick(impl))
            if bb and pe:
                ratio = pe[0][0] / bb[0]
                out.append([w1, rq[1], "%s %.4g ms; %s %.4g ms%s" % (
                    bb[1], bb[0], pe[0][1], pe[0][0], note), "%.2fx" % ratio,
                    _gap(ratio, target, strict=(target == 1.0)), src])
            else:
                out.append([w1, rq[1], nm, "-", nm, src])
        out.append(copy_line(best_row("fwd", "float32"), "fwd", *req[3]))
        return out

    def certifier_target(self, cpu, cpu_path):
        what = "verify's certifier, a full %dx%d problem, 2 cores" % CPU_SHAPE
        req = "<= %g s" % CERTIFIER_SECONDS
        doc, src = self.read("certify-timing.json")  # scripts/time-certify
        if doc and isinstance(doc.get("wall_s"), (int, float)) and doc["wall_s"] > 0:
            s = doc["wall_s"]
            return [what, req, "`lsce verify --impl cpu_threads` with the fast certifier: %.3g s wall, "
                    "%.3g s CPU (verify %s)" % (s, doc.get("cpu_s", float("nan")),
                                                "passed" if doc.get("verify_passed") else "FAILED"),
                    "%.2fx" % (CERTIFIER_SECONDS / s), _gap(CERTIFIER_SECONDS / s, 1.0), "`%s`" % src]
        if cpu:
            for nm, e in sorted(cpu.other.items()):
                m = re.match(r"^(certify|verify)/.*N:(\d+)/K:(\d+)$", nm)
                if m and (int(m.group(2)), int(m.group(3))) == CPU_SHAPE:
                    s = e["ms"] / 1e3
                    return [what, req, "`%s` %.3g s" % (nm, s), "%.2fx" % (CERTIFIER_SECONDS / s),
                            _gap(CERTIFIER_SECONDS / s, 1.0), "`%s`" % cpu_path]
            for nm, e in sorted(cpu.other.items()):
                if nm.startswith("reference/") and e.get("items_per_second"):
                    est = CPU_SHAPE[0] * CPU_SHAPE[1] / e["items_per_second"]
                    return [what, req, "not measured (the literal reference `%s` runs %.3g "
                            "logits/s: %.3g s for this size if linear; verify's row-form "
                            "certifier is another path)" % (nm, e["items_per_second"], est),
                            "-", "not measured", "`%s`" % cpu_path]
        return [what, req, "not measured", "-", "not measured",
                "`%s`" % cpu_path if cpu_path else "-"]
