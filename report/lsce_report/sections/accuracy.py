"""report/lsce_report/sections/accuracy.py: section 3, accuracy (verify, the peers, GPU runs)
(split out of report/make_report.py; the same code)."""
import glob
import os
from ..constants import SHA_RE  # noqa: E402
from ..fmt import _headroom, _impl_key, _is_worse, _where, _worse, fu, num, rel, table  # noqa: E402
from ..data import load_json, no_data  # noqa: E402
from ..bench import PEER_PREFIXES  # noqa: E402
from ..figures import fig_heatmap  # noqa: E402


class AccuracySection:
    """Report's section 3, accuracy (verify, the peers, GPU runs)."""

    # ----------------------------------------------------------------------------------------------
    def gpu_runs(self):
        """(accepted [(path, doc)] newest first, rejected [(path, reason)])."""
        if hasattr(self, "_gpu"):
            return self._gpu
        acc, rej = [], []
        for path in sorted(glob.glob(os.path.join(self.data, "gpu", "*.json"))):
            r = rel(path)
            try:
                doc = load_json(path)
            except (ValueError, OSError) as ex:
                rej.append((r, "not valid JSON (%s)" % str(ex).splitlines()[0][:80]))
                continue
            ctx = doc.get("context") if isinstance(doc, dict) else None
            if not isinstance(ctx, dict):
                rej.append((r, "no context"))
                continue
            why = []
            commit = ctx.get("commit")
            if not isinstance(commit, str) or commit.strip().lower() in ("", "unknown", "none"):
                why.append("no commit")
            sha = ctx.get("binary_sha256")
            if not isinstance(sha, str) or not sha:
                why.append("no binary_sha256")
            elif not SHA_RE.match(sha.lower()):
                why.append("binary_sha256 is not a SHA-256")
            if why:
                rej.append((r, ", ".join(why)))
                continue
            self.src.add(path)
            acc.append((r, doc))
        acc.sort(key=lambda x: (str(x[1]["context"].get("date", "")), x[0]), reverse=True)
        self._gpu = (acc, rej)
        return self._gpu

    def section_accuracy(self):
        self.p("## 3. Accuracy", "")
        sources = []   # (label, source file, results, context)
        for path in sorted(glob.glob(os.path.join(self.data, "verify-*.json"))):
            doc, r = self.read(os.path.basename(path))
            if doc:
                sources.append(("", r, doc))
        for path in sorted(glob.glob(os.path.join(self.data, "peers-*.json"))):
            doc, r = self.read(os.path.basename(path))
            if doc:
                sources.append(("", r, doc))
        acc, _ = self.gpu_runs()
        if acc:
            r, doc = acc[0]
            for key in ("verify", "peers"):
                if isinstance(doc.get(key), dict) and doc[key].get("results"):
                    sources.append((" (%s)" % (doc["context"].get("gpu") or "GPU"),
                                    "%s: %s" % (r, key), doc[key]))
        sources = [s for s in sources if s[2].get("results")]
        if not sources:
            self.p(no_data("build/cli/lsce verify --json report/data/verify-cpu.json",
                           "and `/usr/bin/python3 fixtures/peers/torch_peer.py` for the PyTorch "
                           "peer table `report/data/peers-torch.json`; GPU runs go to "
                           "`report/data/gpu/`"), "")
            return
        self.p("Sources: %s. Each figure is the worst error over every case of a regime (all "
               "variants, smoothings, reductions and dtypes of its fixtures), in ulps of the "
               "result's type against the exact value (docs/accuracy.md \"The ulp metric\": the "
               "loss in float32 ulps for float32, bfloat16 and float16 inputs, in float64 ulps "
               "for float64; the gradient row-normwise in the input type)." % ", ".join(
                   "`%s`" % s[1] for s in sources), "")
        regimes = []
        loss, grad = {}, {}
        summary = []
        rows = []
        worst = {}  # dtype -> [bound_l, bound_g, worst_l, worst_g, where_l, where_g]
        for suffix, srcname, doc in sources:
            res = doc.get("results", []) or []
            impl_order = []
            for x in res:
                if x.get("regime") not in regimes:
                    regimes.append(x.get("regime"))
                if _impl_key(x) not in impl_order:
                    impl_order.append(_impl_key(x))
            for impl in impl_order:
                label = "%s%s" % (impl, suffix)
                if label in rows:
                    label = "%s [%s]" % (label, srcname)
                rows.append(label)
                mine = [x for x in res if _impl_key(x) == impl]
                npass = sum(1 for x in mine if x.get("pass") is True)
                nfail = sum(1 for x in mine if x.get("pass") is False)
                wl = (None, None)
                wg = (None, None)
                for x in mine:
                    key = (label, x.get("regime"))
                    lv, gv = num(x.get("loss_ulp")), num(x.get("grad_ulp"))
                    if lv is not None:
                        loss[key] = _worse(loss.get(key), lv)
                        if _is_worse(lv, wl[0]):
                            wl = (lv, x)
                    if gv is not None:
                        grad[key] = _worse(grad.get(key), gv)
                        if _is_worse(gv, wg[0]):
                            wg = (gv, x)
                    if not impl.startswith(PEER_PREFIXES):
                        d = x.get("dtype")
                        w = worst.setdefault(d, [x.get("bound_loss_ulp"), x.get("bound_grad_ulp"),
                                                 None, None, None, None])
                        if lv is not None and _is_worse(lv, w[2]):
                            w[2], w[4] = lv, "%s %s" % (label, _where(x))
                        if gv is not None and _is_worse(gv, w[3]):
                            w[3], w[5] = gv, "%s %s" % (label, _where(x))
                tier = self.impls_tier.get(impl.split(" ")[0],
                                           "peer" if impl.startswith(PEER_PREFIXES) else "?")
                summary.append([label, tier, srcname, str(len(mine)),
                                "%d / %d" % (npass, nfail) if npass + nfail else "-",
                                "%s (%s)" % (fu(wl[0]), _where(wl[1])) if wl[1] else "-",
                                "%s (%s)" % (fu(wg[0]), _where(wg[1])) if wg[1] else "-"])
        self.p(*table(["implementation", "tier", "source", "results", "pass / fail",
                       "worst loss ulp (where)", "worst gradient ulp (where)"], summary,
                      ["l", "l", "l", "r", "r", "l", "l"]), "")
        link = fig_heatmap(rows, regimes, loss, grad, self.figdir, self.made)
        self.p("![worst ulp per implementation and regime](%s)" % link, "",
               "The colour is log10 of the worst ulp (blue: far below 1 ulp; red: above); grey: "
               "no case of that regime ran. The same figures as tables:", "")
        for title, vals in (("Worst loss error (ulp)", loss), ("Worst gradient error (ulp)",
                                                                 grad)):
            self.p("**%s**" % title, "")
            trs = [[r] + [fu(vals.get((r, c))) for c in regimes] for r in rows]
            self.p(*table(["implementation"] + regimes, trs, ["l"] + ["r"] * len(regimes)), "")
        if worst:
            self.p("**Against the bounds** (docs/accuracy.md \"Targets\"; the bound each result carries "
                   "from its registry row), over every lsce row above; headroom = bound / worst:",
                   "")
            trs = []
            for d in ("float32", "bfloat16", "float16", "float64"):
                if d not in worst:
                    continue
                bl, bg, wl, wg, whl, whg = worst[d]
                trs.append([d, fu(bl), fu(wl), _headroom(bl, wl), whl or "-", fu(bg), fu(wg),
                            _headroom(bg, wg), whg or "-"])
            for d in sorted(k for k in worst if k not in ("float32", "bfloat16", "float16",
                                                          "float64")):
                bl, bg, wl, wg, whl, whg = worst[d]
                trs.append([str(d), fu(bl), fu(wl), _headroom(bl, wl), whl or "-", fu(bg), fu(wg),
                            _headroom(bg, wg), whg or "-"])
            self.p(*table(["input dtype", "loss bound", "worst loss", "headroom", "where",
                           "gradient bound", "worst gradient", "headroom", "where"], trs,
                          ["l", "r", "r", "r", "l", "r", "r", "r", "l"]), "")
        if self.impls_doc:
            fast = [r for r in self.impls_doc.get("impls", []) if r.get("tier") == "fast"]
            if fast:
                self.p("Fast-tier rows declare their own bounds (`%s`): %s." % (
                    self.impls_path, "; ".join("%s %s" % (r["name"], ", ".join(
                        "%s loss %s grad %s" % (d, fu(b.get("loss_ulp")), fu(b.get("grad_ulp")))
                        for d, b in sorted(r.get("bounds", {}).items()))) for r in fast)), "")
