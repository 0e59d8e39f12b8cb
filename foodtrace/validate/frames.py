"""The rows of a frame query (sql.FRAME_*), in the two shapes the checks read.

The compiled checks (suites.CompiledRunner) read dicts of Python values;
great_expectations reads a pandas DataFrame. Both views carry the same values:
floats as float (NULL: None / NaN), timestamps in UTC. pandas is imported only
when a DataFrame is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

import psycopg

from foodtrace.validate.decide import RuleResult
from foodtrace.validate.suites import ID_COLUMN

if TYPE_CHECKING:
    import pandas as pd

TIMESTAMPTZ_OID = 1184
FLOAT_OIDS = frozenset({700, 701, 1700})  # float4, float8, numeric

# Python value of a column, by its type's OID (others are taken as psycopg gives them).
_PY_CONVERT: dict[int, Callable[[Any], Any]] = {
    TIMESTAMPTZ_OID: lambda v: v.astimezone(UTC),
    **{oid: float for oid in FLOAT_OIDS},
}


@dataclass(frozen=True)
class FrameRows:
    """One frame query's rows: column names, their type OIDs, the row tuples."""

    columns: tuple[str, ...]
    oids: tuple[int, ...]
    rows: tuple[tuple[Any, ...], ...]

    def ids(self) -> list[str]:
        i = self.columns.index(ID_COLUMN)
        return [r[i] for r in self.rows]

    def records(self) -> list[dict[str, Any]]:
        convert = [_PY_CONVERT.get(oid) for oid in self.oids]
        return [
            {
                name: (value if fn is None or value is None else fn(value))
                for name, fn, value in zip(self.columns, convert, row, strict=True)
            }
            for row in self.rows
        ]

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame.from_records(list(self.rows), columns=list(self.columns))
        for name, oid in zip(self.columns, self.oids, strict=True):
            if oid == TIMESTAMPTZ_OID:
                frame[name] = pd.to_datetime(frame[name], utc=True)
            elif oid in FLOAT_OIDS:
                frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        return frame

    def only(self, message_ids: set[str]) -> FrameRows:
        """The rows of these messages."""
        i = self.columns.index(ID_COLUMN)
        return FrameRows(self.columns, self.oids, tuple(r for r in self.rows if r[i] in message_ids))


def fetch_frame(cur: psycopg.Cursor[Any], frame_sql: str, params: dict[str, Any]) -> FrameRows:
    cur.execute(frame_sql, params)
    if cur.description is None:  # the frame queries are SELECTs: they always have columns
        raise RuntimeError(f"the frame query returned no columns: {frame_sql[:200]}")
    return FrameRows(
        columns=tuple(d.name for d in cur.description),
        oids=tuple(d.type_code for d in cur.description),
        rows=tuple(cur.fetchall()),
    )


def failing_rows(
    frames: Sequence[FrameRows], results: Sequence[RuleResult]
) -> dict[str, dict[str, Any]]:
    """Column values of the failing rows only (their reasons quote them)."""
    failing = {mid for res in results for mid in res.failing}
    rows: dict[str, dict[str, Any]] = {}
    if not failing:
        return rows
    for frame in frames:
        rows.update({r[ID_COLUMN]: r for r in frame.only(failing).records()})
    return rows
