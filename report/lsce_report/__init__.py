"""report/lsce_report: REPORT.md as a small package: constants, fmt (formatting), data (loading and
running lsce), figures, bench (the benchmark rows), sections/ (one module per section) and report
(the Report that assembles them). report/make_report.py is the command."""
