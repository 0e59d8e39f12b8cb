"""The rules of rules.py, checked two ways that give identical results.

- `SuiteRunner` (great_expectations): an ephemeral GX context (nothing written to
  disk) with one pandas datasource; a batch is a DataFrame with a `message_id`
  column. Results use the COMPLETE format with
  `unexpected_index_column_names=["message_id"]`, so every failing row is named and
  only the bad rows are quarantined. Suites are built lazily, per message kind, the
  first time a batch of that kind is validated, and cached for the life of the
  process (a lab-result batch never builds the chain-event suite). Importing
  great_expectations and building the 78 chain-event expectations cost seconds:
  long-lived processes that fork the pipeline's tasks can pay that once, before
  forking (`warm()`; foodtrace.pipeline.preload does it for the Airflow scheduler).
- `CompiledRunner`: the same expectations evaluated row by row in plain Python,
  with great_expectations' semantics (nulls are ignored by the map expectations
  except (not-)null ones; a row condition selects the rows an expectation counts;
  a column pair with a missing value is ignored; results in the order GX reports
  them, grouped by column). It needs neither great_expectations nor pandas, costs
  microseconds per row and expectation where GX costs ~15 ms per expectation
  whatever the batch size, and is what a small batch of lab results (a positive
  test on its way to an alert) is checked with. tests/integration/validate/
  test_validation_engines.py runs both over every rule case and asserts identical
  outcomes, reasons, findings and expectation results;
  tests/unit/validate/test_validation_engines_random.py does the same on random
  batches of edge values.

GX spends ~15 ms per expectation whatever the batch size, so a batch is validated
with the sub-suite of expectations whose row condition matches some of its rows
(a batch of shipping events does not run the 50 KDE checks of other event types);
the others are reported as checked on 0 rows. Both runners do that.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from foodtrace.validate.decide import RuleResult
from foodtrace.validate.rules import RULES_BY_NAME, RULES_BY_SUITE, Rule

if TYPE_CHECKING:
    import pandas as pd

ID_COLUMN = "message_id"
ENGINES = ("gx", "compiled")


class ExpectationError(RuntimeError):
    """An expectation could not be evaluated: the batch is not validated, nothing is promoted."""


def _applicable(
    rules: Iterable[Rule], has_rows: Callable[[str, tuple[str, ...]], bool]
) -> tuple[Rule, ...]:
    return tuple(r for r in rules if r.when is None or has_rows(*r.when))


# --------------------------------------------------------------------------------------
# great_expectations
# --------------------------------------------------------------------------------------


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
        self._datasource = self.context.data_sources.add_pandas("foodtrace")
        self._batch_definitions: dict[str, Any] = {}
        self._suites: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._lock = threading.RLock()  # a GX context is not meant for concurrent use

    @property
    def built(self) -> tuple[str, ...]:
        """The suites whose full expectation set is built."""
        return tuple(s for s in RULES_BY_SUITE if (s, _names(RULES_BY_SUITE[s])) in self._suites)

    def warm(self, suite_names: Iterable[str]) -> None:
        """Build these suites now (the preload calls this before the scheduler forks)."""
        with self._lock:
            for name in suite_names:
                self._suite(name, RULES_BY_SUITE[name])

    # GX objects are Any here: great_expectations is imported lazily (self._gx)
    def _batch_definition(self, suite_name: str) -> Any:
        definition = self._batch_definitions.get(suite_name)
        if definition is None:
            asset = self._datasource.add_dataframe_asset(suite_name)
            definition = asset.add_batch_definition_whole_dataframe(f"{suite_name}.batch")
            self._batch_definitions[suite_name] = definition
        return definition

    def _suite(self, suite_name: str, rules: tuple[Rule, ...]) -> Any:
        key = (suite_name, _names(rules))
        suite = self._suites.get(key)
        if suite is None:
            self._batch_definition(suite_name)
            full = len(rules) == len(RULES_BY_SUITE[suite_name])
            name = suite_name if full else f"{suite_name}.subset{len(self._suites)}"
            suite = self.context.suites.add(self._gx.ExpectationSuite(name=name))
            for rule in rules:
                suite.add_expectation(self._expectation(rule))
            self._suites[key] = suite
        return suite

    def _expectation(self, rule: Rule) -> Any:
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
        applicable = _applicable(rules, lambda c, values: bool(frame[c].isin(values).any()))
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
            batch = self._batch_definition(suite_name).get_batch(
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


def _names(rules: Iterable[Rule]) -> tuple[str, ...]:
    return tuple(r.name for r in rules)


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


_runner_lock = threading.Lock()
_runner: SuiteRunner | None = None


def suite_runner() -> SuiteRunner:
    """The process-wide GX runner: great_expectations is imported on the first call,
    each suite built on its first use; both are kept for the life of the process."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = SuiteRunner()
        return _runner


def gx_loaded() -> bool:
    """Whether this process has the GX runner (imported, or inherited from a preload)."""
    return _runner is not None


def warm(suite_names: Iterable[str] = tuple(RULES_BY_SUITE)) -> SuiteRunner:
    runner = suite_runner()
    runner.warm(suite_names)
    return runner


# --------------------------------------------------------------------------------------
# The same expectations in plain Python
# --------------------------------------------------------------------------------------

Row = Mapping[str, Any]


def _null(value: Any) -> bool:
    """Null as pandas (hence GX) sees it: None, NaN, NaT."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def _not_null(kw: Mapping[str, Any]) -> Callable[[Row], bool]:
    column = kw["column"]
    return lambda row: not _null(row.get(column))


def _be_null(kw: Mapping[str, Any]) -> Callable[[Row], bool]:
    column = kw["column"]
    return lambda row: _null(row.get(column))


def _in_set(kw: Mapping[str, Any]) -> Callable[[Row], bool]:
    column, allowed = kw["column"], frozenset(kw["value_set"])

    def check(row: Row) -> bool:
        value = row.get(column)
        return _null(value) or value in allowed

    return check


def _between(kw: Mapping[str, Any]) -> Callable[[Row], bool]:
    column = kw["column"]
    lo, hi = kw.get("min_value"), kw.get("max_value")
    strict_lo, strict_hi = bool(kw.get("strict_min")), bool(kw.get("strict_max"))
    if lo is None and hi is None:
        raise ExpectationError(f"between on {column} without min_value or max_value")

    def check(row: Row) -> bool:
        value = row.get(column)
        if _null(value):
            return True
        if lo is not None and (value <= lo if strict_lo else value < lo):
            return False
        return not (hi is not None and (value >= hi if strict_hi else value > hi))

    return check


def _pair_a_greater(kw: Mapping[str, Any]) -> Callable[[Row], bool]:
    a, b, or_equal = kw["column_A"], kw["column_B"], bool(kw.get("or_equal"))
    if kw.get("ignore_row_if") != "either_value_is_missing":
        raise ExpectationError(f"pair {a}/{b}: only ignore_row_if='either_value_is_missing'")

    def check(row: Row) -> bool:
        va: Any = row.get(a)
        vb: Any = row.get(b)
        if _null(va) or _null(vb):
            return True
        greater: bool = va >= vb if or_equal else va > vb
        return greater

    return check


# expectation -> (builder, the kwargs it understands): a rule with any other kwarg,
# or another expectation, is refused rather than checked differently from GX.
_CHECKS: dict[str, tuple[Callable[[Mapping[str, Any]], Callable[[Row], bool]], frozenset[str]]] = {
    "ExpectColumnValuesToNotBeNull": (_not_null, frozenset({"column"})),
    "ExpectColumnValuesToBeNull": (_be_null, frozenset({"column"})),
    "ExpectColumnValuesToBeInSet": (_in_set, frozenset({"column", "value_set"})),
    "ExpectColumnValuesToBeBetween": (
        _between,
        frozenset({"column", "min_value", "max_value", "strict_min", "strict_max"}),
    ),
    "ExpectColumnPairValuesAToBeGreaterThanB": (
        _pair_a_greater,
        frozenset({"column_A", "column_B", "or_equal", "ignore_row_if"}),
    ),
}


@functools.cache
def _compiled(rule_name: str) -> Callable[[Row], bool]:
    rule = RULES_BY_NAME[rule_name]
    entry = _CHECKS.get(rule.expectation)
    if entry is None:
        raise ExpectationError(f"{rule.name}: no compiled check for {rule.expectation}")
    build, known = entry
    unknown = set(rule.kwargs) - known
    if unknown:
        raise ExpectationError(f"{rule.name}: no compiled check for {sorted(unknown)}")
    return build(rule.kwargs)


def _gx_order(rules: Sequence[Rule]) -> list[Rule]:
    """The order great_expectations reports a suite's results in: grouped by the
    `column` kwarg, groups in order of first appearance, column-less expectations
    (column pairs) as one group (Validator.process_expectations_for_validation)."""
    groups: dict[str, list[Rule]] = {}
    for rule in rules:
        column = rule.kwargs.get("column")
        groups.setdefault(column if isinstance(column, str) else "\0", []).append(rule)
    return [r for group in groups.values() for r in group]


def _matches(value: Any, values: tuple[str, ...]) -> bool:
    return not _null(value) and value in values


class CompiledRunner:
    """The suites' expectations in plain Python (see the module docstring)."""

    def validate(self, suite_name: str, rows: Sequence[Row]) -> list[RuleResult]:
        rules = RULES_BY_SUITE[suite_name]
        if not rows:
            return [RuleResult(rule, 0, []) for rule in rules]

        def has_rows(column: str, values: tuple[str, ...]) -> bool:
            return any(_matches(row.get(column), values) for row in rows)

        applicable = _applicable(rules, has_rows)
        results = [RuleResult(rule, 0, []) for rule in rules if rule not in applicable]
        for rule in _gx_order(applicable):
            check = _compiled(rule.name)
            if rule.when is None:
                selected: Sequence[Row] = rows
            else:
                column, values = rule.when
                selected = [row for row in rows if _matches(row.get(column), values)]
            failing = [str(row[ID_COLUMN]) for row in selected if not check(row)]
            results.append(RuleResult(rule, len(selected), failing))
        return results


COMPILED = CompiledRunner()


def check_compiled_rules() -> None:
    """Every rule has a compiled check (raises ExpectationError otherwise)."""
    for name in RULES_BY_NAME:
        _compiled(name)
