"""Validation and promotion (pipeline step 1): landing.* -> core.*.

- rules.py    the checks as data (FSMA 204 KDEs with CFR sections, units and ranges,
              timestamps, references, mass balance)
- suites.py   great_expectations suites built from the rules (imported lazily)
- sql.py      set-based staging, the columns the expectations assert, promotion
- decide.py   failing rows -> promote / quarantine / hold
- promote.py  `validate_and_promote(conn) -> PromoteStats`
- report.py   the per-run HTML/Markdown report

Nothing heavy is imported here: great_expectations and pandas load on first use.
"""
