"""`foodtrace trace LOT [--direction up|down|both] [--max-depth N] [--json]`.

Exit codes: 0 found, 3 unknown lot, 2 database not reachable or not migrated.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from foodtrace.cli.output import (
    EXIT_NOT_FOUND,
    add_json_flag,
    database_errors,
    database_failure,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from foodtrace.cli.output import Subcommands
    from foodtrace.trace.api import Trace, TracedLot, TraceFinding


def _depth(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "trace",
        help="trace a lot upstream to its sources and downstream to every lot made from it",
        description="Trace a lot: upstream to its source lots, downstream to every lot made "
        "from it, and every location that shipped, received, held, sold or sampled them.",
    )
    p.add_argument("lot_code", metavar="LOT", help="traceability lot code")
    p.add_argument("--direction", choices=["up", "down", "both"], default="both")
    p.add_argument(
        "--max-depth",
        type=_depth,
        default=64,
        metavar="N",
        help="at most N transformation steps each way (default 64); the output says "
        "when the cap was hit",
    )
    add_json_flag(p)
    p.set_defaults(handler=run_trace)


def run_trace(args: argparse.Namespace) -> int:

    from foodtrace.db import connect
    from foodtrace.trace.api import LotNotFound, trace

    try:
        with connect(autocommit=True) as conn:
            result = trace(conn, args.lot_code, args.direction, args.max_depth)
    except LotNotFound as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except database_errors() as exc:
        return database_failure(exc, "trace functions")
    if args.json:
        print_json(result.to_json())
    else:
        print_human(result)
    return 0


def _lot_line(t: TracedLot) -> str:
    qty = f" {t.quantity:g} {t.unit}" if t.quantity is not None else ""
    where = f" at {t.location_id}" if t.location_id else ""
    via = f" (from {t.reached_from})" if t.reached_from else ""
    root = " [source]" if t.is_root else ""
    return f"{'  ' * t.depth}{t.lot_code}  {t.product_code or '?'}{qty}{where}{via}{root}"


def print_human(t: Trace) -> None:
    """Readable listing: the lot, its sources, its descendants, where they all went."""
    print(_lot_line(t.lot).strip())
    if t.direction in ("up", "both"):
        print()
        roots = t.roots
        print(f"Upstream: {len(t.upstream)} lot(s), {len(roots)} source lot(s)")
        for lot in t.upstream:
            print("  " + _lot_line(lot))
        if roots:
            print("Sources: " + ", ".join(f"{r.lot_code} ({r.location_id or '?'})" for r in roots))
    if t.direction in ("down", "both"):
        print()
        print(f"Downstream: {len(t.downstream)} lot(s)")
        for lot in t.downstream:
            print("  " + _lot_line(lot))
    print()
    print(
        f"Locations: {len(t.locations)} record(s) in {len(t.cities)} city(ies): "
        f"{', '.join(t.cities) or '-'}"
    )
    by_city: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for loc in t.locations:
        by_city[loc.city or "(unregistered location)"].append(
            {
                "when": loc.event_time.strftime("%Y-%m-%d %H:%M"),
                "lot": loc.lot_code,
                "role": loc.role,
                "location": loc.location_id,
                "name": loc.location_name,
                "quantity": loc.quantity,
                "unit": loc.unit,
                "counterparty": loc.counterparty_location_id,
            }
        )
    for city in sorted(by_city):
        print()
        print(f"[{city}]")
        print_table(
            by_city[city],
            ["when", "lot", "role", "location", "name", "quantity", "unit", "counterparty"],
        )
    print_findings(t.findings)
    if t.depth_capped:
        print()
        print(
            f"Depth cap reached: the trace stops at {t.max_depth} step(s) each way; "
            "rerun with a larger --max-depth to see further."
        )


def print_findings(findings: list[TraceFinding], limit: int = 20) -> None:
    """Findings on the trace's events: the trace includes those events all the same."""
    if not findings:
        return
    still_open = sum(f.resolution is None for f in findings)
    print()
    print(
        f"Findings 数据缺陷: {len(findings)} on the events above ({still_open} open); "
        "these events are traced all the same"
    )
    print_table(
        [
            {
                "severity": f.severity,
                "rule": f.rule,
                "cfr": f.cfr_section or "",
                "status": f.resolution or "open",
                "message": f.message[:90],
            }
            for f in findings[:limit]
        ],
        ["severity", "rule", "cfr", "status", "message"],
    )
    if len(findings) > limit:
        print(f"... and {len(findings) - limit} more (--json lists them all)")
