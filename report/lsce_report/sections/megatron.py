"""report/lsce_report/sections/megatron.py: section 2.6, k1-megatron (Megatron-LM's partition form)
against the tensor-parallel size T (scripts/megatron-tp, issue #17)."""

from ..fmt import table  # noqa: E402
from ..data import no_data  # noqa: E402


class MegatronSection:
    """Report's section 2.6."""

    # ----------------------------------------------------------------------------------------------
    def section_megatron(self):
        """k1-megatron against the tensor-parallel size T (scripts/megatron-tp, issue #17)."""
        self.p("### 2.6 Megatron's partition form: the loss moves with T", "")
        doc, src = self.read("megatron-tp.json")  # scripts/megatron-tp
        if not doc or not doc.get("rows"):
            self.p(no_data("scripts/megatron-tp"), "")
            return
        self.p("Megatron-LM's vocab-parallel cross-entropy applies the K-1 smoothing per rank "
               "(`k1-megatron`, docs/formulations.md): with V_p = K/T classes per rank, "
               "e' = e V_p/(V_p-1) and the smoothing mean over the rank's own shard, so each rank "
               "prints a different loss and none is the unsharded `k1` loss (%s at e = %s, what "
               "`mpi_vocab_parallel` and `cpu_sharded` compute for every T). On a generated %dx%d "
               "%s problem (%s; `%s`), every value the certified reference's:"
               % (doc["k1"], doc["smoothing"], doc["n"], doc["k"], doc.get("dtype", "?"),
                  doc.get("problem", ""), src), "")
        k1 = float(doc["k1"])
        rows = []
        for r in doc["rows"]:
            lo, hi = float(r["min"]), float(r["max"])
            rows.append([str(r["tp"]), str(r["vp"]), r["e_prime"], r["rank0"], r["min"], r["max"],
                         "%.3g" % (hi - lo), "%+.3g" % (max(abs(lo - k1), abs(hi - k1)) / k1),
                         r["mean_of_ranks"] + (" (k at e' = %s)" % r["k_at_e_prime"]
                                               if r.get("k_at_e_prime") else "")])
        self.p(*table(["T", "V_p", "e'", "rank 0", "smallest rank", "largest rank", "spread",
                       "worst rank vs k1 (relative)", "mean of the ranks"], rows,
                      ["r", "r", "l", "l", "l", "l", "r", "r", "l"]))
        self.p("", "At T = 1 the form is `k1` exactly (`lsce compare --tp 1` prints the identity "
               "`k1-megatron=k1`); the mean over the ranks is `k` at e' (identity "
               "`mean-over-ranks(k1-megatron)=k`; the column adds the ranks in double). "
               "`lsce check --variant k1` of a rank's value names it: `cause formulation "
               "variant=k1-megatron ... tp=T rank=r`.", "")
