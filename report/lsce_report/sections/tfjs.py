"""report/lsce_report/sections/tfjs.py: section 3's TF.js peer (split out of report/make_report.py;
the same code)."""

from ..fmt import _worse, fu, num, table  # noqa: E402
from ..data import no_data  # noqa: E402


class TfjsSection:
    """Report's section 3's TF.js peer."""

    # ----------------------------------------------------------------------------------------------
    def section_tfjs(self):
        """TF.js (issue 13): the second outside peer, what check's diagnosis says about each of its
        failures, what lsce identify recovers from it, and its semantic findings."""
        self.p("### 3.1 A second outside peer: TensorFlow.js under check's diagnosis", "")
        doc, path = self.read("peers-tfjs.json")
        if not doc or not doc.get("results"):
            self.p(no_data("/usr/bin/python3 fixtures/peers/tfjs_peer.py",
                           "after `scripts/setup` installed node and the TF.js packages; it writes "
                           "`report/data/peers-tfjs.json`"), "")
            return
        ctx, res = doc["context"], doc["results"]
        self.p("Source: `%s` (`/usr/bin/python3 fixtures/peers/tfjs_peer.py`; TF.js %s, tfjs-core + "
               "tfjs-backend-cpu, node %s, commit %s). `tf.losses.softmaxCrossEntropy(oneHot(y), z, w, e, "
               "R)` computes the `k` formulation in float32 (it has no class weights, so no other catalog "
               "variant); every fixture listing `k` runs at each of its smoothings and reductions, the "
               "gradient by `tf.grad` of the `Reduction.NONE` loss with an explicit dy. `lsce check` "
               "judges each result at 1 and 2 float32 ulps and, on a FAIL, its diagnosis names the cause "
               "(`accuracy`: the claimed `k` computed inaccurately, within the noise model of a float32 "
               "implementation; `formulation`: another catalog form; `unknown`: nothing in the catalog "
               "explains the values, typically a NaN or inf where the exact value is finite)." % (
                   path, ctx.get("tfjs_version", "?"), ctx.get("node_version", "?"), ctx.get("commit", "?")), "")
        regimes = []
        for x in res:
            if x["regime"] not in regimes:
                regimes.append(x["regime"])
        rows = []
        for rg in regimes + [None]:
            mine = [x for x in res if rg is None or x["regime"] == rg]
            causes = {}
            for x in mine:
                if x.get("pass") is False:
                    k = (x.get("cause") or "no diagnosis").split(" ")[0]
                    causes[k] = causes.get(k, 0) + 1
            wl = wg = None
            for x in mine:
                wl = _worse(wl, num(x.get("loss_ulp"))) if num(x.get("loss_ulp")) is not None else wl
                wg = _worse(wg, num(x.get("grad_ulp"))) if num(x.get("grad_ulp")) is not None else wg
            rows.append([rg or "**all**", str(len(mine)), str(sum(1 for x in mine if x.get("pass") is True)),
                         ", ".join("%s %d" % kv for kv in sorted(causes.items())) or "-", fu(wl), fu(wg)])
        self.p(*table(["regime", "results", "pass", "failures by cause", "worst loss ulp",
                       "worst gradient ulp"], rows, ["l", "r", "r", "l", "r", "r"]), "")
        unk = sorted({x["case"] for x in res if (x.get("cause") or "").startswith("unknown")})
        acc = [x for x in res if (x.get("cause") or "").startswith("accuracy")]
        if acc:
            same = sum(1 for x in acc if x["cause"].startswith("accuracy variant=k smoothing=%s " % x["smoothing"])
                       or x["cause"] == "accuracy variant=k smoothing=%s" % x["smoothing"])
            off = [x for x in acc if x["regime"] == "offset"]
            self.p("%d of the %d `accuracy` diagnoses name `k` at the smoothing the run used: TF.js's values "
                   "are the right formulation, rounded more than lsce's bounds allow." % (same, len(acc)) + (
                       " On logits near 1e4 (`offset` regime) its loss is up to %s float32 ulps off and its "
                       "gradient up to %s: the log-sum-exp is rounded to float32 near 1e4 (ulp 2^-10) before "
                       "`z_c - lse` and `exp(z_c - lse)`, which is inside the diagnosis's noise model (a few "
                       "ulp_float32(max|z|) per log-probability) but far outside 1 ulp of the loss." % (
                           fu(max(num(x.get("loss_ulp")) or 0 for x in off)),
                           fu(max(num(x.get("grad_ulp")) or 0 for x in off))) if off else ""), "")
        if unk:
            self.p("`unknown` (TF.js gives NaN or inf where the exact loss or gradient is finite) occurs "
                   "on %s: a -inf logit with a zero label gives 0 * -inf = NaN at e = 0 (`masked_*`), and the "
                   "per-row 0/1 weights TF.js needs for ignored rows (it has no ignore index) multiply "
                   "the NaN logits those rows hold (0 * NaN)." % (
                       ", ".join("`%s`" % u for u in unk)), "")
        ident = ctx.get("identify") or {}
        if ident.get("stdout"):
            self.p("`lsce probe` + `lsce identify` on TF.js run at e = %s (%s) print `%s` (exit %s)." % (
                ident["smoothing"], "; ".join("`%s`" % cmd for cmd in ident.get("commands", [])),
                ident["stdout"], ident.get("exit")), "")
        notes = ctx.get("notes") or []
        if notes:
            self.p("Semantic findings, each measured by `node fixtures/peers/tfjs/tfjs_peer.mjs findings`:", "")
            for n in notes:
                self.p("- " + n)
            self.p("")
