"""Validation and promotion (pipeline step 1): landing.* -> core.*.

- rules.py       the checks as data (FSMA 204 KDEs with CFR sections, units and ranges,
                 timestamps, references, mass balance)
- suites.py      great_expectations suites built from the rules (imported lazily)
- sql.py         set-based staging, the columns the expectations assert, promotion
- decide.py      failing rows -> promote / quarantine / hold
- promote.py     `validate_and_promote(conn) -> PromoteStats`: the run, batch by batch
- kinds.py       the message kinds as data (landing table, order, suites, their SQL)
- frames.py      frame rows as the checks read them (dicts, or a DataFrame for GX)
- bookkeeping.py counts, ops.validation_runs, the queue snapshot and processed marks
- settings.py    the report folder from the environment (FOODTRACE_REPORT_DIR),
                 read by the entry points and passed down
- report.py      the per-run HTML/Markdown report

Nothing heavy is imported here: great_expectations and pandas load on first use.
"""

from foodtrace.validate.settings import REPORT_DIR_ENV, report_dir_from_env

__all__ = ["REPORT_DIR_ENV", "report_dir_from_env"]
