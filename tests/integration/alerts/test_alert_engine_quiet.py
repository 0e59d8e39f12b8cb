"""evaluate()'s quiet path (results that change nothing, recorded in one transaction
per batch) leaves exactly what judging every result on its own leaves.

The mix is built so that skipping the quiet path's conditions would show: negatives
before and after a positive on the same lot in one batch (the later negative must
be *noted* on the new warning), negatives on a lot with an alert already open, a
within-limit confirmatory result clearing a warning, results on lots with nothing. Arrival is shuffled; judging order is tested_at.
"""

from __future__ import annotations

import random

import psycopg
from alerts_helpers import Chain
from psycopg import sql

from foodtrace.alerts.engine import evaluate
from foodtrace.trace.link import link

OP = "organophosphates_carbamates"
ALERT_TABLES = ("alert_evaluations", "alert_outbox", "alert_history", "alerts")


def _mix(c: Chain) -> None:
    results = [
        # lot A: a negative, then a positive (raises), then a negative (noted)
        ("A", "rapid", OP, 400, 20, "%", "negative"),
        ("A", "rapid", OP, 401, 62.5, "%", "positive"),
        ("A", "rapid", OP, 402, 10, "%", "negative"),
        # lot B: only negatives and a result within its limit: all quiet
        *[("B", "rapid", OP, 403 + i, 5, "%", "negative") for i in range(20)],
        ("B", "confirmatory", "lead", 430, 0.1, "mg/kg", None),
        # lot C: a positive, then a confirmatory result within the limit clears it
        ("C", "rapid", OP, 440, 70, "%", "positive"),
        ("C", "confirmatory", "omethoate", 441, 0.001, "mg/kg", None),
        ("C", "rapid", OP, 442, 5, "%", "negative"),
    ]
    random.Random(7).shuffle(results)
    for lot, kind, analyte, minutes, value, unit, result in results:
        c.lab_result(lot, kind=kind, analyte=analyte, minutes=minutes, value=value, unit=unit,
                     result=result)


def _record(conn: psycopg.Connection) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """What evaluate() wrote, without its generated ids and clocks."""
    conn.commit()
    out = (
        conn.execute(
            "SELECT e.message_id, e.verdict, e.action, e.reason, a.lot_code, a.analyte "
            "FROM core.alert_evaluations e LEFT JOIN core.alerts a USING (alert_id) "
            "ORDER BY e.tested_at, e.message_id"
        ).fetchall(),
        conn.execute(
            "SELECT lot_code, analyte, severity, status, version FROM core.alerts ORDER BY 1, 2"
        ).fetchall(),
        conn.execute(
            "SELECT a.lot_code, h.version, h.action, h.to_status FROM core.alert_history h "
            "JOIN core.alerts a USING (alert_id) ORDER BY 1, 2, 3"
        ).fetchall(),
    )
    conn.commit()
    return out


def _forget_judgements(conn: psycopg.Connection) -> None:
    conn.execute(
        sql.SQL("TRUNCATE {} CASCADE").format(
            sql.SQL(", ").join(sql.Identifier("core", t) for t in ALERT_TABLES)
        )
    )
    conn.commit()


def test_quiet_path_records_what_judging_one_by_one_records(chain: Chain) -> None:
    c = chain
    _mix(c)
    link(c.conn)
    c.conn.commit()
    evaluate(c.conn, quiet=False)
    reference = _record(c.conn)
    _forget_judgements(c.conn)
    for batch_size in (500, 4):  # one batch, and lots split across batches
        evaluate(c.conn, batch_size=batch_size)
        assert _record(c.conn) == reference
        _forget_judgements(c.conn)

    evaluations, alerts, _history = reference
    actions = [action for _m, _v, action, _r, _lot, _a in evaluations]
    assert actions.count("raised") == 2 and actions.count("cleared") == 1
    assert actions.count("noted") == 1  # A's negative after its positive
    assert len(evaluations) == 27 and len(alerts) == 2


def _routine_then_positive(c: Chain) -> None:
    for i in range(20):
        c.lab_result("B", kind="rapid", analyte=OP, minutes=400 + i, value=5, unit="%",
                     result="negative")
    c.lab_result("A", kind="rapid", analyte=OP, minutes=500, value=62.5, unit="%",
                 result="positive")
    link(c.conn)
    c.conn.commit()


def _transactions_of_routine_results(conn: psycopg.Connection) -> int:
    """evaluated_at is the transaction's clock: one value per transaction."""
    row = conn.execute("SELECT count(DISTINCT evaluated_at) FROM core.alert_evaluations "
                       "WHERE action = 'none'").fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def test_routine_results_ahead_of_a_positive_take_one_transaction(chain: Chain) -> None:
    """The 20 routine results ahead of the positive are recorded together, so the
    positive is judged after one transaction, not after 20 (the control: quiet=False)."""
    c = chain
    _routine_then_positive(c)
    evaluate(c.conn, quiet=False)
    assert _transactions_of_routine_results(c.conn) == 20
    _forget_judgements(c.conn)
    [_alert] = evaluate(c.conn)
    assert _transactions_of_routine_results(c.conn) == 1
