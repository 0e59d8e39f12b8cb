"""`foodtrace withdrawals [ALERT_ID] [--city C] [--overdue] [--json]` and
`foodtrace withdrawals verify NOTICE --by NAME` (spec 6, docs/withdrawals.md).

    foodtrace withdrawals                   progress of every alert, per city, with the notices
    foodtrace withdrawals ALERT_ID --city guangzhou
    foodtrace withdrawals --overdue         only the overdue businesses
    foodtrace withdrawals verify NOTICE --by NAME   an inspector checked it on site

Exit codes: 0 done, 2 database not reachable / not migrated, 3 unknown alert or
notice, 4 the notice's state does not allow the check.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from foodtrace.cli.output import (
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

_STATE_ZH = {"issued": "已发出", "acknowledged": "已确认", "withdrawn": "已撤回",
             "verified": "已核查", "overdue": "逾期", "superseded": "已取代"}
_ACTION_ZH = {"stop_sale": "停售", "withdraw": "撤回", "hold_for_testing": "封存待检",
              "released": "解除"}


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "withdrawals",
        help="withdrawal notices: progress per alert and city; an inspector's check",
        description="Withdrawal coordination (spec section 6): the notices sent to every "
        "affected business, their answers and the share of held quantity withdrawn, per "
        "alert and per city. `verify NOTICE --by NAME` records an inspector's check.",
    )
    p.add_argument("target", nargs="*", metavar="ALERT_ID | verify NOTICE",
                   help="an alert id (default: every alert), or `verify` and a notice id")
    p.add_argument("--city", help="only notices to businesses in this city")
    p.add_argument("--overdue", action="store_true", help="only overdue notices")
    p.add_argument("--by", help="verify: the inspector's name")
    add_json_flag(p)
    p.set_defaults(handler=run_withdrawals)


def run_withdrawals(args: argparse.Namespace) -> int:
    from foodtrace.db import connect

    target = list(args.target or [])
    try:
        with connect(autocommit=True) as conn:
            if target and target[0] == "verify":
                return _verify(conn, target[1:], args)
            if len(target) > 1:
                print("foodtrace: give at most one ALERT_ID", file=sys.stderr)
                return EXIT_NOT_FOUND
            return _show(conn, target[0] if target else None, args)
    except database_errors() as exc:
        return database_failure(exc, "withdrawal tables")


def _uuid(text: str) -> str | None:
    from uuid import UUID

    try:
        return str(UUID(text))
    except ValueError:
        return None


def _show(conn: psycopg.Connection, alert_id: str | None, args: argparse.Namespace) -> int:
    from foodtrace.withdrawals.queries import report

    if alert_id is not None and _uuid(alert_id) is None:
        print(f"foodtrace: {alert_id!r} is not an alert id (a UUID)", file=sys.stderr)
        return EXIT_NOT_FOUND
    data = report(conn, _uuid(alert_id) if alert_id else None, args.city,
                  overdue_only=args.overdue)
    if alert_id and not data["alerts"] and not args.overdue and not args.city:
        print(f"foodtrace: no withdrawal notices for alert {alert_id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.json:
        print_json(data)
        return 0
    if not data["alerts"]:
        print("没有撤回通知 / no withdrawal notices" + (" matching the filters"
                                                       if args.city or args.overdue else ""))
        return 0
    for a in data["alerts"]:
        _print_alert(a)
    return 0


def _share(p: dict[str, Any]) -> str:
    if p["share"] is None:
        return "; ".join(f"{u or '?'} {v['share'] * 100:.0f}%" for u, v in p["units"].items()
                         if v["share"] is not None) or "-"
    return f"{p['share'] * 100:.0f}%"


def _print_alert(a: dict[str, Any]) -> None:
    p = a["progress"]
    print(f"预警 {a['alert_id']}：通知 {p['notices']}，已答复 {p['answered']}，逾期 {p['overdue']}，"
          f"已撤回或核实 {_share(p)}")
    print(f"alert {a['alert_id']}: {p['notices']} notice(s), {p['answered']} answered, "
          f"{p['overdue']} overdue, {_share(p)} of held quantity withdrawn or accounted for")
    print_table(
        [{"city 城市": c, "notices 通知": v["notices"], "answered 已答复": v["answered"],
          "overdue 逾期": v["overdue"], "withdrawn 撤回比例": _share(v)}
         for c, v in a["cities"].items()],
        ["city 城市", "notices 通知", "answered 已答复", "overdue 逾期", "withdrawn 撤回比例"],
    )
    rows = []
    for n in a["notices"]:
        held = ", ".join(f"{x['lot_code']} {x.get('quantity_held')} {x.get('unit') or ''}".strip()
                         for x in n["lots"])
        rows.append({
            "notice 通知": n["notice_id"], "business 企业": n["actor_id"], "city 城市": n["city"],
            "action 措施": f"{_ACTION_ZH.get(n['action'], n['action'])} {n['action']}",
            "state 状态": f"{_STATE_ZH.get(n['state'], n['state'])} {n['state']}",
            "deadline 期限": (n["deadline"] or "")[:16].replace("T", " "), "held 持有": held,
        })
    if rows:
        print()
        print_table(rows, list(rows[0]))
    print()


def _verify(conn: psycopg.Connection, rest: list[str], args: argparse.Namespace) -> int:
    from foodtrace.withdrawals.queries import verify
    from foodtrace.withdrawals.states import TransitionError

    notice_id = _uuid(rest[0]) if len(rest) == 1 else None
    if notice_id is None:
        print("foodtrace: `withdrawals verify` needs one NOTICE id (a UUID)", file=sys.stderr)
        return EXIT_NOT_FOUND
    if not args.by or not args.by.strip():
        print("foodtrace: `withdrawals verify` needs --by NAME (the inspector)", file=sys.stderr)
        return EXIT_STATE
    try:
        out = verify(conn, notice_id, args.by.strip(), datetime.now(UTC))
    except LookupError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except TransitionError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_STATE
    if args.json:
        print_json(out)
    else:
        print(f"通知 {out['notice_id']} 已核查（{args.by}）/ notice verified by {args.by}: "
              f"{out['from_state']} -> {out['state']}")
    return 0
