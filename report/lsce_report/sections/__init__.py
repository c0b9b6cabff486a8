"""report/lsce_report/sections: one module per section of REPORT.md, each a mixin of Report."""
from .catalog import CatalogSection  # noqa: F401
from .discrepancies import DiscrepanciesSection  # noqa: F401
from .accuracy import AccuracySection  # noqa: F401
from .tfjs import TfjsSection  # noqa: F401
from .speed_section import SpeedSection  # noqa: F401
from .mpi import MpiSection  # noqa: F401
from .reproduce import ReproduceSection  # noqa: F401
