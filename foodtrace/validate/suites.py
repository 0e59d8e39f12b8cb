"""great_expectations suites built from rules.py, once per process.

An ephemeral GX context (nothing written to disk) with one pandas datasource; a
batch is a DataFrame with a `message_id` column. Results use the COMPLETE format
with `unexpected_index_column_names=["message_id"]`, so every failing row is named
and only the bad rows are quarantined. Importing great_expectations costs seconds:
it happens on the first `suite_runner()` call, never at import time of this module.

GX spends ~15 ms per expectation whatever the batch size, so a batch is validated
with the sub-suite of expectations whose row condition matches some of its rows
(a batch of shipping events does not run the 50 KDE checks of other event types);
the others are reported as checked on 0 rows. Sub-suites are built once and cached.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import TYPE_CHECKING, Any

from foodtrace.validate.decide import RuleResult
from foodtrace.validate.rules import RULES_BY_NAME, RULES_BY_SUITE, Rule

if TYPE_CHECKING:
    import pandas as pd

ID_COLUMN = "message_id"


class ExpectationError(RuntimeError):
    """An expectation could not be evaluated: the batch is not validated, nothing is promoted."""


class SuiteRunner:
    def __init__(self) -> None:
        # No usage statistics from a food-safety pipeline (and no internet here).
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        datasource = self.context.data_sources.add_pandas("foodtrace")
        self._batch_definitions: dict[str, Any] = {}
        self._suites: dict[tuple[str, tuple[str, ...]], Any] = {}
        for suite_name, rules in RULES_BY_SUITE.items():
            asset = datasource.add_dataframe_asset(suite_name)
            self._batch_definitions[suite_name] = asset.add_batch_definition_whole_dataframe(
                f"{suite_name}.batch"
            )
            self._suite(suite_name, rules)  # the full suite, built up front
        self._lock = threading.Lock()  # a GX context is not meant for concurrent use

    def _suite(self, suite_name: str, rules: tuple[Rule, ...]):
        key = (suite_name, tuple(r.name for r in rules))
        suite = self._suites.get(key)
        if suite is None:
            full = len(rules) == len(RULES_BY_SUITE[suite_name])
            name = suite_name if full else f"{suite_name}.subset{len(self._suites)}"
            suite = self.context.suites.add(self._gx.ExpectationSuite(name=name))
            for rule in rules:
                suite.add_expectation(self._expectation(rule))
            self._suites[key] = suite
        return suite

    def _expectation(self, rule: Rule):
        from great_expectations.expectations.row_conditions import Column

        cls = getattr(self._gx.expectations, rule.expectation)
        kwargs = dict(rule.kwargs)
        if rule.when is not None:
            column, values = rule.when
            kwargs["row_condition"] = (
                Column(column) == values[0] if len(values) == 1 else Column(column).is_in(values)
            )
        meta = {"rule": rule.name, "cfr_section": rule.cfr_section, "on_failure": rule.on_failure}
        return cls(**kwargs, meta=meta)

    def validate(self, suite_name: str, frame: pd.DataFrame) -> list[RuleResult]:
        """Run one suite over `frame`; one RuleResult per rule, failing rows by message_id."""
        rules = RULES_BY_SUITE[suite_name]
        if frame.empty:
            return [RuleResult(rule, 0, []) for rule in rules]
        applicable = tuple(
            r for r in rules if r.when is None or bool(frame[r.when[0]].isin(r.when[1]).any())
        )
        results = [RuleResult(rule, 0, []) for rule in rules if rule not in applicable]
        # Only the columns the expectations read: GX copies the frame for every row
        # condition, and the context columns (for reason texts) would be dead weight.
        frame = frame[[c for c in frame.columns if c in _columns(suite_name)]].copy()
        # Row conditions filter on a few low-cardinality columns, once or twice per
        # expectation: as categoricals that is a code comparison, not a string scan.
        for column in _condition_columns(suite_name):
            if column in frame.columns:
                frame[column] = frame[column].astype("category")
        with self._lock:
            suite = self._suite(suite_name, applicable)
            batch = self._batch_definitions[suite_name].get_batch(
                batch_parameters={"dataframe": frame}
            )
            outcome = batch.validate(
                suite,
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [ID_COLUMN],
                    "return_unexpected_index_query": False,
                },
            )
        for res in outcome.results:
            rule = RULES_BY_NAME[res.expectation_config.meta["rule"]]
            info = res.exception_info or {}
            if info.get("raised_exception"):
                raise ExpectationError(
                    f"expectation {rule.name} ({rule.expectation}) could not run: "
                    f"{info.get('exception_message')}"
                )
            detail = res.result or {}
            failing = [str(item[ID_COLUMN]) for item in detail.get("unexpected_index_list") or ()]
            if not res.success and not failing:
                raise ExpectationError(
                    f"expectation {rule.name} failed without naming rows: {detail}"
                )
            results.append(RuleResult(rule, int(detail.get("element_count") or 0), failing))
        return results


@functools.cache
def _columns(suite_name: str) -> frozenset[str]:
    used = {ID_COLUMN}
    for rule in RULES_BY_SUITE[suite_name]:
        used.update(v for k, v in rule.kwargs.items() if k in ("column", "column_A", "column_B"))
        if rule.when is not None:
            used.add(rule.when[0])
    return frozenset(used)


@functools.cache
def _condition_columns(suite_name: str) -> frozenset[str]:
    return frozenset(r.when[0] for r in RULES_BY_SUITE[suite_name] if r.when is not None)


@functools.cache
def suite_runner() -> SuiteRunner:
    """The process-wide runner (GX import and suite building happen once)."""
    return SuiteRunner()
