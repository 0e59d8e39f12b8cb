"""Pipeline step 3: judge newly promoted lab results and raise, upgrade or clear alerts.

    evaluate(conn) -> list[UUID]   ids of the alerts raised, upgraded or cleared now

Idempotent: which results were judged is recorded in core.alert_evaluations (an
anti-join on the result's key, no time watermark), so re-running changes nothing
and a result whose promotion commits late is still judged on the next run.

Each result is handled in a transaction block of its own: the verdict, the alert
change, its history row, the outbox messages for every affected city
(transactional outbox) and the NOTIFY 'foodtrace_alert' commit together. Called
with no transaction open (the pipeline step, the CLI), each block is a
transaction, committed as soon as its result is judged; inside a caller's
transaction each is a savepoint, and the caller commits. Evaluators are
serialised by an advisory lock, so two runs never raise the same (lot, analyte)
twice. Results are judged in tested_at order, so a confirmation upgrades the
warning it follows.

Most results change nothing: a negative rapid test or a result within its limit
on a lot with no alert. Judged one transaction each, at the regional peak they
queued a positive test behind hundreds of them (the soak: tens of seconds). So
each batch first records, in one transaction, the results that provably change
nothing: their verdict raises nothing, no alert on their lot is open, and no
other result of their lot in the batch raises one. Judged in order they would
have found no open alert either, so the record is the same (`quiet=False` judges
every result on its own: the reference the tests compare with).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg.rows import class_row, kwargs_row

from foodtrace.alerts import impact as impact_mod
from foodtrace.alerts import limits as limits_mod
from foodtrace.alerts import rules, transition
from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.alerts.limits import number
from foodtrace.alerts.rules import Action, Decision, Judgement, LabResult, OpenAlert
from foodtrace.alerts.transition import AlertState

log = logging.getLogger(__name__)

LOCK_KEY = 0x46_54_41_4C  # "FTAL"
ENGINE_ACTOR = "engine"


class EvaluationError(RuntimeError):
    """Some results could not be evaluated; they stay pending for the next run."""


@dataclass(frozen=True)
class Outcome:
    action: Action
    alert_id: UUID | None


_PENDING_SQL = """
SELECT lr.message_id, lr.tested_at
FROM core.lab_results lr
WHERE NOT EXISTS (SELECT 1 FROM core.alert_evaluations ev
                  WHERE ev.message_id = lr.message_id AND ev.tested_at = lr.tested_at)
ORDER BY lr.tested_at, lr.message_id
LIMIT %s
"""

# Columns named as LabResult's fields, plus the product's name (_with_product_name).
_RESULT_SELECT = """
SELECT lr.message_id, lr.tested_at, lr.lab_id, lr.sample_id, lr.lot_code,
       coalesce(lr.product_code, l.product_code) AS product_code, p.category, lr.sampled_at,
       lr.sampled_location_id, lr.test_kind, lr.method, lr.analyte, lr.value, lr.unit,
       lr.value_mg_per_kg, lr.result, p.name AS product_name
FROM core.lab_results lr
LEFT JOIN core.lots l ON l.lot_code = lr.lot_code
LEFT JOIN core.products p ON p.product_code = coalesce(lr.product_code, l.product_code)
"""
_RESULT_SQL = _RESULT_SELECT + "WHERE lr.message_id = %s AND lr.tested_at = %s\n"


# The batch's results not judged yet, with the columns _RESULT_SQL reads for one.
_BATCH_RESULTS_SQL = _RESULT_SELECT + """\
JOIN unnest(%s::uuid[], %s::timestamptz[]) AS k(message_id, tested_at)
  ON k.message_id = lr.message_id AND k.tested_at = lr.tested_at
WHERE NOT EXISTS (SELECT 1 FROM core.alert_evaluations ev
                  WHERE ev.message_id = lr.message_id AND ev.tested_at = lr.tested_at)
"""


def evaluate(conn: psycopg.Connection, *, batch_size: int = 500,
             cap_settings: CapSettings | None = None, quiet: bool = True) -> list[UUID]:
    """Judge every lab result not judged yet; return the alerts raised/upgraded/cleared.
    `cap_settings`: the entry point's CAP settings (None: the environment's)."""
    with conn.transaction():
        table = limits_mod.load(conn)
    changed: list[UUID] = []
    failed: dict[tuple[UUID, datetime], str] = {}
    while True:
        with conn.transaction():
            rows = conn.execute(_PENDING_SQL, (batch_size + len(failed),)).fetchall()
        keys = [k for k in rows if tuple(k) not in failed]
        if not keys:
            break
        recorded = _record_quiet(conn, keys, table) if quiet else set()
        for message_id, tested_at in keys:
            if (message_id, tested_at) in recorded:
                continue
            try:
                outcome = _evaluate_key(conn, message_id, tested_at, table, cap_settings)
            except Exception as exc:  # one bad result must not block every other alert
                log.exception("evaluating lab result %s failed", message_id)
                failed[(message_id, tested_at)] = f"{type(exc).__name__}: {exc}"
                continue
            if (
                outcome
                and outcome.alert_id
                and outcome.action in (Action.RAISE, Action.UPGRADE, Action.CLEAR)
                and outcome.alert_id not in changed
            ):
                changed.append(outcome.alert_id)
    if failed:
        detail = "; ".join(f"{mid}: {err}" for (mid, _), err in list(failed.items())[:5])
        raise EvaluationError(
            f"{len(failed)} lab result(s) could not be evaluated and stay pending: {detail}"
        )
    return changed


def _record_quiet(
    conn: psycopg.Connection, keys: list[Any], table: limits_mod.LimitsTable
) -> set[tuple[UUID, datetime]]:
    """Record, in one transaction, the results of `keys` that change nothing (module
    doc); return their keys. The rest are judged one by one, in order, as before."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        with conn.cursor(row_factory=kwargs_row(_with_product_name)) as cur:
            loaded = cur.execute(
                _BATCH_RESULTS_SQL, ([k[0] for k in keys], [k[1] for k in keys])
            ).fetchall()
        lots = list({r.lot_code for r, _ in loaded if r.lot_code is not None})
        # any alert not closed on the lot, whatever its analyte (wider than _find_open)
        loud_lots: set[str | None] = {
            lot for (lot,) in conn.execute(
                "SELECT DISTINCT lot_code FROM core.alerts "
                "WHERE lot_code = ANY(%s) AND status <> 'closed'", (lots,)
            )
        }
        judged: list[tuple[LabResult, Judgement]] = []
        for r, _name in loaded:
            try:
                limit = table.lookup(r.analyte, r.category) if r.test_kind == "confirmatory" else None
                j = rules.judge(r, limit)
            except Exception:  # judged on its own, where its failure is recorded
                loud_lots.add(r.lot_code)
                continue
            if rules.decide(None, j).action is not Action.NONE:
                loud_lots.add(r.lot_code)
            judged.append((r, j))
        quiet = [(r, j) for r, j in judged if r.lot_code not in loud_lots]
        if quiet:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO core.alert_evaluations (message_id, tested_at, verdict, "
                    "action, alert_id, reason) VALUES (%s, %s, %s, %s, NULL, %s)",
                    [(r.message_id, r.tested_at, j.verdict.value, Action.NONE.value, j.reason)
                     for r, j in quiet],
                )
    return {(r.message_id, r.tested_at) for r, _ in quiet}


def _evaluate_key(
    conn: psycopg.Connection, message_id: UUID, tested_at: datetime, table: limits_mod.LimitsTable,
    cap_settings: CapSettings | None = None,
) -> Outcome | None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        done = conn.execute(
            "SELECT 1 FROM core.alert_evaluations WHERE message_id = %s AND tested_at = %s",
            (message_id, tested_at),
        ).fetchone()
        if done:
            return None  # another evaluator got there first
        result, product_name = _load_result(conn, message_id, tested_at)
        return _apply(conn, result, product_name, table, cap_settings)


def _load_result(
    conn: psycopg.Connection, message_id: Any, tested_at: Any
) -> tuple[LabResult, str | None]:
    """A lab result with its product and category as core knows them now."""
    with conn.cursor(row_factory=kwargs_row(_with_product_name)) as cur:
        row = cur.execute(_RESULT_SQL, (message_id, tested_at)).fetchone()
    if row is None:
        raise LookupError(f"no lab result {message_id} tested at {tested_at}")
    return row


def _with_product_name(*, product_name: str | None,
                       **columns: Any) -> tuple[LabResult, str | None]:
    """A _RESULT_SQL row: the LabResult its columns name, and the product's name."""
    return LabResult(**columns), product_name


def judged_again(
    conn: psycopg.Connection, payload: dict[str, Any], table: limits_mod.LimitsTable
) -> tuple[dict[str, Any], Judgement]:
    """The alert's lab result judged again with what core knows now (its product and
    category may have arrived since): the trigger fields and the judgement."""
    tested_at = datetime.fromisoformat(payload["tested_at"])
    r, product_name = _load_result(conn, payload["message_id"], tested_at)
    limit = table.lookup(r.analyte, r.category) if r.test_kind == "confirmatory" else None
    j = rules.judge(r, limit)
    return trigger_fields(r, j, product_name), j


def _find_open(conn: psycopg.Connection, r: LabResult) -> OpenAlert | None:
    related = rules.related_analytes(r.analyte)
    with conn.cursor(row_factory=class_row(OpenAlert)) as cur:
        found = cur.execute(
            "SELECT alert_id, analyte, severity, status, version FROM core.alerts "
            "WHERE lot_code = %s AND analyte = ANY(%s) AND status <> 'closed' FOR UPDATE",
            (r.lot_code, related),
        ).fetchall()
    found.sort(key=lambda a: related.index(a.analyte))
    return found[0] if found else None


def _apply(
    conn: psycopg.Connection, r: LabResult, product_name: str | None, table: limits_mod.LimitsTable,
    cap_settings: CapSettings | None = None,
) -> Outcome:
    limit = table.lookup(r.analyte, r.category) if r.test_kind == "confirmatory" else None
    j = rules.judge(r, limit)
    open_alert = _find_open(conn, r)
    decision = rules.decide(open_alert, j)
    now = datetime.now(UTC)
    before = AlertState.load(conn, open_alert.alert_id) if open_alert else None
    change = _change(conn, decision, before, r, product_name, j, now)
    after = transition.apply(conn, before, change, cap_settings=cap_settings) if change else None
    alert_id = after.alert_id if after else None
    conn.execute(
        "INSERT INTO core.alert_evaluations (message_id, tested_at, verdict, action, alert_id, "
        "reason) VALUES (%s, %s, %s, %s, %s, %s)",
        (
            r.message_id,
            r.tested_at,
            j.verdict.value,
            decision.action.value,
            alert_id if decision.action is not Action.NONE else None,
            j.reason,
        ),
    )
    return Outcome(decision.action, alert_id)


def _change(
    conn: psycopg.Connection,
    decision: Decision,
    before: AlertState | None,
    r: LabResult,
    product_name: str | None,
    j: Judgement,
    now: datetime,
) -> transition.Change | None:
    """What a judged lab result does to the alert it concerns (reads only: the
    trace behind a raise or an upgrade)."""
    common: dict[str, Any] = {
        "actor": ENGINE_ACTOR,
        "at": now,
        "lab_message_id": r.message_id,
        "note": decision.note,
        "detail": _result_detail(r, j),
    }
    if decision.action is Action.RAISE:
        return _raise(conn, r, product_name, j, decision, now, common)
    if before is None or decision.action is Action.NONE:
        return None
    if decision.action is Action.UPGRADE:
        return _upgrade(conn, before, r, product_name, j, decision, now, common)
    if decision.action is Action.CLEAR:
        return transition.Change(
            "cleared", payload=_cleared(before, r, j, decision, now), publish="cancel", **common
        )
    return transition.Change("noted", payload=before.payload, **common)  # Action.NOTE


# ---------------------------------------------------------------------------
# The alert JSON (spec 4)
# ---------------------------------------------------------------------------


def trigger_fields(r: LabResult, j: Judgement, product_name: str | None) -> dict[str, Any]:
    """The fields an alert takes from the lab result that set its severity (pure)."""
    limit_source = None
    if j.limit is not None:
        limit_source = {**j.limit.to_json(), "citation": j.limit.citation}
    return {
        "lot_code": r.lot_code,
        "product_code": r.product_code,
        "product_name": product_name,
        "category": r.category,
        "analyte": r.analyte,
        "value": number(r.value),
        "unit": r.unit,
        "value_mg_per_kg": number(j.value_mg_per_kg),
        "result": r.result,
        "limit": number(j.threshold),
        "limit_unit": j.threshold_unit,
        "limit_verified": j.limit_verified,
        "limit_source": limit_source,
        # the product's category was unknown: judged against the strictest limit
        "limit_category_assumed": r.category is None and j.limit is not None,
        "rule": j.rule,
        "reason": j.reason,
        "test_kind": r.test_kind,
        "method": r.method,
        "lab_id": r.lab_id,
        "sample_id": r.sample_id,
        "message_id": str(r.message_id),
        "sampled_at": r.sampled_at.isoformat(),
        "tested_at": r.tested_at.isoformat(),
        "sampled_location_id": r.sampled_location_id,
    }


def _result_detail(r: LabResult, j: Judgement) -> dict[str, Any]:
    return {
        "message_id": str(r.message_id),
        "lab_id": r.lab_id,
        "sample_id": r.sample_id,
        "test_kind": r.test_kind,
        "analyte": r.analyte,
        "value": number(r.value),
        "unit": r.unit,
        "result": r.result,
        "verdict": j.verdict.value,
        "reason": j.reason,
    }


def _raise(
    conn: psycopg.Connection,
    r: LabResult,
    product_name: str | None,
    j: Judgement,
    decision: Decision,
    now: datetime,
    common: dict[str, Any],
) -> transition.Change:
    severity = decision.severity or rules.WARNING
    classification, risk = rules.classification(severity)
    imp = impact_mod.compute(conn, r.lot_code, r.sampled_location_id)
    payload: dict[str, Any] = {
        "alert_id": str(uuid4()),
        "version": 1,
        "status": "open",
        "severity": severity,
        "classification": classification,
        "risk_decision": risk,
        "raised_at": now.isoformat(),
        "updated_at": now.isoformat(),
        **trigger_fields(r, j, product_name),
        "screen_analyte": None,
        **imp.to_json(),
        "acknowledged_by": None,
        "acknowledged_at": None,
        "closed_by": None,
        "closed_at": None,
        "resolution": None,
        "close_note": None,
    }
    return transition.Change(
        "raised", payload=payload, publish="version", scope=scope_of(imp, r.product_code), **common
    )


def _upgrade(
    conn: psycopg.Connection,
    a: AlertState,
    r: LabResult,
    product_name: str | None,
    j: Judgement,
    decision: Decision,
    now: datetime,
    common: dict[str, Any],
) -> transition.Change:
    old = a.payload
    severity = decision.severity or rules.CRITICAL
    classification, risk = rules.classification(severity)
    imp = impact_mod.compute(conn, r.lot_code, r.sampled_location_id)
    payload = {
        **old,
        **trigger_fields(r, j, product_name),
        **imp.to_json(),
        # the screen that raised it, when the confirmation names a specific analyte
        "screen_analyte": old.get("screen_analyte")
        or (old["analyte"] if old["analyte"] != r.analyte else None),
        "version": a.version + 1,
        "status": "open",  # a new severity needs a new acknowledgement
        "severity": severity,
        "classification": classification,
        "risk_decision": risk,
        "updated_at": now.isoformat(),
        "acknowledged_by": None,
        "acknowledged_at": None,
    }
    return transition.Change(
        "upgraded",
        payload=payload,
        publish="version",
        scope=scope_of(imp, r.product_code),
        **common,
    )


def _cleared(
    a: AlertState, r: LabResult, j: Judgement, decision: Decision, now: datetime
) -> dict[str, Any]:
    return {
        **a.payload,
        "version": a.version + 1,
        "status": "closed",
        "updated_at": now.isoformat(),
        "closed_by": ENGINE_ACTOR,
        "closed_at": now.isoformat(),
        "resolution": "cleared_by_confirmatory",
        "close_note": decision.note,
        "cleared_by_result": {
            **_result_detail(r, j),
            "value_mg_per_kg": number(j.value_mg_per_kg),
            "limit": number(j.threshold),
            "limit_unit": j.threshold_unit,
            "limit_verified": j.limit_verified,
            "rule": j.rule,
        },
    }


def scope_of(imp: impact_mod.AlertImpact, product_code: str | None) -> transition.Scope:
    """The keys whose new data can change this alert: its trace's lots and places,
    and its product (master data arriving later names the category)."""
    return transition.Scope(
        lots=imp.scope_lots,
        locations=imp.scope_locations,
        products=(product_code,) if product_code else (),
    )
