"""`foodtrace ingest`: run the MQTT consumer until stopped.

SIGTERM / SIGINT stop taking messages, commit and acknowledge the open batch,
disconnect and exit 0. A second signal exits at once (nothing is lost: whatever
was not committed was not acknowledged, and the broker delivers it again).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING

from foodtrace.cli.output import add_json_flag, print_json

if TYPE_CHECKING:
    from types import FrameType

    from foodtrace.cli.output import Subcommands


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "ingest",
        help="run the MQTT ingest consumer until stopped (SIGTERM flushes and exits cleanly)",
        description=(
            "Consume lab results, chain events, EPCIS documents and master data from "
            "MQTT into the landing tables. Settings: FOODTRACE_DATABASE_URL, "
            "FOODTRACE_MQTT_URL (user foodtrace-ingest), FOODTRACE_INGEST_WORKER_ID, "
            "FOODTRACE_MAX_MESSAGE_BYTES, FOODTRACE_INGEST_TAKEOVER_S (seconds without a "
            "heartbeat after which a surviving worker takes over a silent worker's MQTT "
            "session and lands what it holds; default 30, 0 = never)."
        ),
    )
    p.add_argument(
        "--worker-id",
        help="stable id of this worker (MQTT client id foodtrace-ingest-ID); give each "
        "worker its own and keep it across restarts (default: $FOODTRACE_INGEST_WORKER_ID "
        "or the host name)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="commit after this many messages (default 1000, at most 5000)",
    )
    p.add_argument(
        "--batch-ms",
        type=_positive_int,
        default=None,
        help="or after the oldest message waited this long (default 200)",
    )
    p.add_argument(
        "--max-messages",
        type=_positive_int,
        default=None,
        help="exit after committing this many messages (tests, benchmarks)",
    )
    p.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this many seconds without a message",
    )
    p.add_argument(
        "--shutdown-grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="on SIGTERM, how long to keep retrying a database that is down before "
        "exiting 1 with the open batch unacknowledged (default 15)",
    )
    p.add_argument(
        "--retire",
        action="store_true",
        help="retire this worker for good (scaling down): leave the shared group, land "
        "what its session still holds, then end the session. Other workers must be running.",
    )
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stderr log level",
    )
    add_json_flag(p)
    p.set_defaults(handler=run_ingest)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def run_ingest(args: argparse.Namespace) -> int:
    from foodtrace.config import ConfigError, Settings
    from foodtrace.ingest.consumer import ConsumerConfig, IngestConsumer

    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = ConsumerConfig.from_env(
            Settings.from_env(),
            worker_id=args.worker_id,
            batch_size=args.batch_size,
            batch_ms=args.batch_ms,
            max_messages=args.max_messages,
            idle_exit_s=args.idle_exit,
            retire=args.retire or None,
            shutdown_grace_s=args.shutdown_grace,
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from exc

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            logging.getLogger("foodtrace.ingest").warning("second signal: exiting now")
            raise SystemExit(1)
        logging.getLogger("foodtrace.ingest").info(
            "%s: finishing the open batch, then exiting", signal.Signals(signum).name
        )
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        result = IngestConsumer(config).run(stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

    if args.json:
        print_json({"worker_id": config.worker_id, **result.as_dict()})
    else:
        t = result.totals
        print(
            f"worker {config.worker_id}: {t.messages} messages, {t.received} elements: "
            f"{t.stored} stored, {t.duplicates} duplicates, {t.quarantined} quarantined "
            f"({t.batches} batches; stopped: {result.stopped_because})"
        )
        if result.uncommitted:
            print(
                f"{result.uncommitted} messages were not committed; the broker keeps them "
                "and delivers them again when a worker reconnects",
                file=sys.stderr,
            )
    return 0 if result.clean else 1
