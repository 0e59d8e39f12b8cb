"""`foodtrace alerts [list|show ID|ack ID|close ID|evaluate|deliver|limits]`.

    foodtrace alerts                          every alert, newest first (= list)
    foodtrace alerts list --status open --city guangzhou
    foodtrace alerts show ID [--json] [--cap CITY]
    foodtrace alerts ack ID --by NAME [--note TEXT]
    foodtrace alerts close ID --by NAME [--note TEXT]
    foodtrace alerts evaluate                 judge new lab results now (pipeline step 3)
    foodtrace alerts deliver                  publish queued alert messages (needs FOODTRACE_MQTT_URL)
    foodtrace alerts limits [--analyte A]     the limits table, with the verified flag

ID is the alert id or an unambiguous prefix of it (at least 6 characters).
Exit codes: 0 done, 2 database or broker not reachable / not migrated, 3 unknown
alert, 4 the alert's state does not allow the action, 5 messages left undelivered.
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Any

from foodtrace.cli.output import (
    EXIT_DATABASE,
    EXIT_NOT_FOUND,
    EXIT_STATE,
    add_json_flag,
    database_errors,
    database_failure,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    import argparse

    import psycopg

    from foodtrace.cli.output import Subcommands
    from foodtrace.trace.api import TraceFinding

EXIT_UNDELIVERED = 5
ACTIONS = ("list", "show", "ack", "close", "evaluate", "deliver", "limits")


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "alerts",
        help="food-safety alerts: list, show, acknowledge, close",
        description="Alerts raised from lab results (spec section 4): list them, show one, "
        "acknowledge or close it. Without an action: list.",
    )
    p.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=ACTIONS,
        metavar="ACTION",
        help=f"one of {', '.join(ACTIONS)} (default list)",
    )
    p.add_argument("alert_id", nargs="?", metavar="ID", help="alert id (or a unique prefix)")
    p.add_argument("--status", choices=["open", "acknowledged", "closed"])
    p.add_argument("--city", help="only alerts affecting this city")
    p.add_argument("--severity", choices=["warning", "critical"])
    p.add_argument("--lot", help="only alerts on this lot code")
    p.add_argument("--limit", type=int, default=200, help="at most this many alerts (list)")
    p.add_argument("--by", default=None, help="who acknowledges/closes (default: your user)")
    p.add_argument("--note", help="a note kept in the alert's history")
    p.add_argument("--cap", metavar="CITY", help="show: print the CAP document for CITY")
    p.add_argument("--analyte", help="limits: only this analyte")
    add_json_flag(p)
    p.set_defaults(handler=run_alerts)


def run_alerts(args: argparse.Namespace) -> int:

    from foodtrace.alerts.lifecycle import TransitionError
    from foodtrace.alerts.store import AlertNotFound
    from foodtrace.db import connect

    if args.action in ("show", "ack", "close") and not args.alert_id:
        print(
            f"foodtrace: `alerts {args.action}` needs an alert ID (see `foodtrace alerts list`)",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    try:
        with connect(autocommit=True) as conn:
            return _ACTIONS[args.action](conn, args)
    except AlertNotFound as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except TransitionError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_STATE
    except database_errors() as exc:
        return database_failure(exc, "alert tables")


def _summary(a: dict[str, Any]) -> dict[str, Any]:
    value = (
        f"{a['value']:g}" if isinstance(a.get("value"), int | float) else (a.get("result") or "")
    )
    limit = f"{a['limit']:g}" if isinstance(a.get("limit"), int | float) else "-"
    unverified = "*" if a.get("limit_verified") is False else ""
    return {
        "id": a["alert_id"],
        "severity": a["severity"],
        "status": a["status"],
        "lot": a["lot_code"],
        "analyte": a["analyte"],
        "value/limit": f"{value} {a.get('unit') or ''} / {limit}{unverified} "
        f"{a.get('limit_unit') or ''}".replace("  ", " ").strip(),
        "cities": a.get("affected_cities", []),
        "raised_at": a["raised_at"][:19].replace("T", " "),
    }


def _list(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    from foodtrace.alerts.store import list_alerts

    alerts = list_alerts(
        conn,
        status=args.status,
        city=args.city,
        severity=args.severity,
        lot_code=args.lot,
        limit=args.limit,
    )
    if args.json:
        print_json(alerts)
        return 0
    if not alerts:
        print("no alerts" + (" matching the filters" if (args.status or args.city) else ""))
        return 0
    print_table(
        [_summary(a) for a in alerts],
        ["id", "severity", "status", "lot", "analyte", "value/limit", "cities", "raised_at"],
    )
    if any(a.get("limit_verified") is False for a in alerts):
        print("* limit not verified against the standard text")
    return 0


def _show(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    from foodtrace.alerts import store

    alert_id = store.resolve_id(conn, args.alert_id)
    payload = store.get(conn, alert_id).payload
    if args.cap:
        row = conn.execute(
            "SELECT cap_xml FROM core.alert_outbox WHERE alert_id = %s AND city = %s "
            "ORDER BY version DESC LIMIT 1",
            (alert_id, args.cap),
        ).fetchone()
        if row is None:
            print(
                f"foodtrace: alert {alert_id} has no CAP message for city {args.cap}",
                file=sys.stderr,
            )
            return EXIT_NOT_FOUND
        print(row[0])
        return 0
    findings = _trace_findings(conn, payload["lot_code"])
    if args.json:
        print_json(
            {
                **payload,
                "history": store.history(conn, alert_id),
                "findings": [f.to_json() for f in findings],
            }
        )
        return 0
    _print_alert(payload, store.history(conn, alert_id))
    from foodtrace.cli.trace_cmd import print_findings

    print_findings(findings)
    return 0


def _trace_findings(conn: psycopg.Connection, lot_code: str) -> list[TraceFinding]:
    """The findings on the events of the alert's trace (what the scope may lack)."""
    from foodtrace.trace.api import LotNotFound, trace

    try:
        return trace(conn, lot_code, "both").findings
    except LotNotFound:
        return []


def _print_alert(a: dict[str, Any], history: list[dict[str, Any]]) -> None:
    print(f"Alert {a['alert_id']} (version {a['version']})")
    print(
        f"  {a['severity'].upper()}, {a['status']}  [{a['classification']}, risk "
        f"{a['risk_decision']}]"
    )
    print(
        f"  lot {a['lot_code']}  product {a.get('product_code')} ({a.get('product_name')}, "
        f"{a.get('category')})"
    )
    print(
        f"  {a['analyte']}: {a.get('value')} {a.get('unit') or ''}"
        f"{'  result ' + a['result'] if a.get('result') else ''}"
        f"  limit {a.get('limit')} {a.get('limit_unit') or ''}"
        f"{'  (limit not verified against the standard text)' if a.get('limit_verified') is False else ''}"
    )
    print(f"  rule: {a.get('rule')}")
    print(f"  finding: {a.get('reason')}")
    print(
        f"  test: {a['test_kind']} {a.get('method')} by {a['lab_id']}, sample "
        f"{a['sample_id']}, tested {a.get('tested_at')}"
    )
    print(f"  raised {a['raised_at']}, updated {a.get('updated_at')}")
    if a.get("acknowledged_by"):
        print(f"  acknowledged by {a['acknowledged_by']} at {a['acknowledged_at']}")
    if a.get("closed_at"):
        print(
            f"  closed by {a.get('closed_by')} at {a['closed_at']} ({a.get('resolution')}): "
            f"{a.get('close_note') or ''}"
        )
    print()
    print(f"Affected cities: {', '.join(a.get('affected_cities', [])) or '-'}")
    print(f"Affected lots ({len(a.get('affected_lots', []))}):")
    for lot in a.get("affected_lots", []):
        print(
            f"  {'  ' * (lot.get('depth') or 0)}{lot['lot_code']}  {lot.get('product_code')}  "
            f"{lot.get('quantity')} {lot.get('unit') or ''}"
        )
    print(f"Affected locations ({len(a.get('affected_locations', []))}):")
    for loc in a.get("affected_locations", []):
        held = ", ".join(
            f"{h['lot_code']} {h['role']} {h.get('quantity')} {h.get('unit') or ''}".strip()
            for h in loc.get("holdings", [])
        )
        print(
            f"  {loc['location_id']}  {loc.get('name') or '?'} ({loc.get('kind') or '?'}, "
            f"{loc.get('city') or '?'})  {held}"
        )
    print(f"Source lots: {', '.join(s['lot_code'] for s in a.get('source_lots', [])) or '-'}")
    print(
        "Source locations: "
        + (
            ", ".join(
                f"{s['location_id']} ({s.get('city') or '?'})"
                for s in a.get("source_locations", [])
            )
            or "-"
        )
    )
    print()
    print("History:")
    for h in history:
        print(
            f"  v{h['version']} {h['at'][:19]} {h['actor']}: {h['action']} "
            f"{h['from_status'] or '-'}->{h['to_status']} "
            f"{h['from_severity'] or '-'}->{h['to_severity']}  {h['note'] or ''}"
        )


def _transition(conn: psycopg.Connection, args: argparse.Namespace, verb: str) -> int:
    from foodtrace.alerts import lifecycle, store
    from foodtrace.alerts.cap_settings import CapSettings

    # this command's CAP settings, for the Cancel a close sends (an ack sends nothing)
    cap_settings = CapSettings.from_env() if verb == "close" else None
    alert_id = store.resolve_id(conn, args.alert_id)
    by = args.by if args.by is not None else _default_actor()
    with conn.transaction():  # the action and its outbox rows commit together
        payload = (lifecycle.acknowledge if verb == "ack" else lifecycle.close)(
            conn, alert_id, by, args.note, cap_settings=cap_settings
        )
    if args.json:
        print_json(payload)
    else:
        done = "acknowledged" if verb == "ack" else "closed"
        print(f"alert {alert_id} {done} by {by}")
    return 0


def _ack(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    return _transition(conn, args, "ack")


def _close(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    return _transition(conn, args, "close")


def _evaluate(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    from foodtrace.alerts.cap_settings import CapSettings
    from foodtrace.alerts.engine import evaluate

    # autocommit connection: evaluate() commits each result's transaction block itself
    changed = evaluate(conn, cap_settings=CapSettings.from_env())
    if args.json:
        print_json({"changed_alerts": [str(a) for a in changed]})
    else:
        print(f"{len(changed)} alert(s) raised, upgraded or cleared")
    return 0


def _deliver(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    from foodtrace.alerts.outbox import deliver
    from foodtrace.config import mqtt_settings
    from foodtrace.ingest.mqtt_client import MqttConnectError
    from foodtrace.mqtt_publish import DeliveryError

    try:
        sent = deliver(conn, mqtt_settings())
    except MqttConnectError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except DeliveryError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_UNDELIVERED
    if args.json:
        print_json({"sent": sent})
    else:
        print(f"{sent} alert message pair(s) published")
    return 0


def _limits(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    from foodtrace.alerts.limits import load

    table = load(conn)
    rows = sorted(
        (lim for lim in table.limits.values() if not args.analyte or lim.analyte == args.analyte),
        key=lambda lim: (lim.analyte, lim.category),
    )
    if args.json:
        print_json([{**lim.to_json(), "citation": lim.citation} for lim in rows])
        return 0
    print_table(
        [
            {
                "analyte": lim.analyte,
                "category": lim.category,
                "kind": lim.kind,
                "limit": "-"
                if lim.source_value is None
                else f"{lim.source_value:g} {lim.source_unit}",
                "verified": "yes" if lim.verified else "NO",
                "source": lim.citation,
            }
            for lim in rows
        ],
        ["analyte", "category", "kind", "limit", "verified", "source"],
    )
    return 0


_ACTIONS = {
    "list": _list,
    "show": _show,
    "ack": _ack,
    "close": _close,
    "evaluate": _evaluate,
    "deliver": _deliver,
    "limits": _limits,
}
