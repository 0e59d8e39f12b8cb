"""`foodtrace publish {lab-result,chain-event,epcis,locations,products} FILE`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from foodtrace.cli.output import add_json_flag, print_json

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands

KINDS = ("lab-result", "chain-event", "epcis", "locations", "products")


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "publish",
        help="publish JSON / JSON-lines / CSV messages as a lab or actor would",
        description=(
            "Publish the messages in FILE (JSON object or array, JSON lines, or CSV; '-' "
            "reads stdin) with QoS 1 to the broker in FOODTRACE_MQTT_URL, on the topic of "
            "each message's lab_id / actor_id, and wait until the broker acknowledged "
            "every one. Exits 1 if the broker refused any (e.g. not authorised)."
        ),
    )
    p.add_argument("kind", choices=KINDS, help="what the file holds")
    p.add_argument("file", help="the file to publish ('-' for stdin)")
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="send up to N messages per MQTT message, as a JSON array (default 1)",
    )
    p.add_argument(
        "--sender", metavar="ID", help="actor id for EPCIS documents (default: the MQTT user name)"
    )
    p.add_argument(
        "--rate",
        type=float,
        metavar="MSG_PER_S",
        help="publish at most this many messages per second",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(handler=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    from foodtrace.config import mqtt_settings
    from foodtrace.ingest.publish import PublishError, RefusedError, publish_file

    if args.batch < 1:
        print("foodtrace: --batch must be at least 1", file=sys.stderr)
        return 2
    settings = mqtt_settings()
    try:
        stats = publish_file(
            settings,
            args.kind,
            args.file,
            batch=args.batch,
            sender=args.sender,
            rate=args.rate,
            quiet=args.quiet,
        )
    except RefusedError as exc:
        if args.json:
            print_json(
                {"kind": args.kind, "file": args.file, "error": str(exc), **exc.stats.to_json()}
            )
        print(f"foodtrace: {exc}", file=sys.stderr)
        return 1
    except PublishError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return 1
    summary = {"kind": args.kind, "file": args.file, "broker": settings.url, **stats.to_json()}
    if args.json:
        print_json(summary)
    else:
        print(
            f"published {stats.elements} {args.kind} message(s) in {stats.messages} MQTT "
            f"message(s) to {settings.url} in {stats.seconds:.2f}s "
            f"({stats.rate:.0f}/s)"
        )
    return 0
