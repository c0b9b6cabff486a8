"""report/lsce_report/sections/mpi.py: section 4's MPI scaling (split out of report/make_report.py;
the same code)."""

from ..fmt import fnum, table  # noqa: E402
from ..data import no_data  # noqa: E402


class MpiSection:
    """Report's section 4's MPI scaling."""

    # ----------------------------------------------------------------------------------------------
    def section_mpi(self):
        """The certified reference across MPI ranks (scripts/mpi-scale, README "Beyond one
        machine")."""
        self.p("### lsce-mpi: the reference over MPI ranks", "")
        doc, src = self.read("mpi-scale.json")  # scripts/mpi-scale
        if not doc or not doc.get("runs"):
            self.p(no_data("scripts/mpi-scale"), "")
            return
        self.p("`mpirun -np P lsce-mpi reference` on a generated %dx%d %s problem (%s logits; %s) "
               "on %s, %s cores (P > cores oversubscribes them). Every P must print lsce's loss bit "
               "for bit (`%s`). CPU s sums every rank: flat across P when the rows are split, not "
               "repeated; the wall times depend on what else the machine ran." % (doc["n"], doc["k"], doc.get("dtype", "?"), fnum(doc["logits"], "%.4g"),
                                      doc.get("problem", ""), doc.get("machine", "?"), doc.get("cores", "?"),
                                      src), "")
        base = doc["runs"][0]["wall_s"]
        rows = [[r["cmd"], r["loss"], "%.1f" % r["wall_s"], "%.1f" % r["cpu_s"],
                 "%.2fx" % (base / r["wall_s"]) if r["wall_s"] > 0 else "-",
                 "-" if r["P"] == 0 else ("yes" if r.get("identical") else "NO")] for r in doc["runs"]]
        self.p(*table(["command", "loss", "wall s", "CPU s", "speed-up vs lsce", "bit-identical"], rows,
                      ["l", "l", "r", "r", "r", "c"]))
        self.p("")
