"""`foodtrace simulate`: publish a synthetic Pearl River Delta day (seeded)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from foodtrace.cli.output import add_json_flag, dumps, print_json

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands
    from foodtrace.config import MqttSettings
    from foodtrace.simulate.day import SimulatedDay
    from foodtrace.simulate.messy import MessyDay

DEFAULT_SEED = 2026
FILES = {
    "location": "locations.jsonl",
    "product": "products.jsonl",
    "chain_event": "chain-events.jsonl",
    "lab_result": "lab-results.jsonl",
}


def register(sub: Subcommands) -> None:
    from foodtrace.simulate.labs import INCIDENTS  # light: pure Python, no I/O

    p = sub.add_parser(
        "simulate",
        help="publish a realistic synthetic Pearl River Delta day (seeded)",
        description=(
            "Generate one day of a synthetic Pearl River Delta food supply chain (farms, "
            "packers, processors, markets, shops, labs) and publish it to the broker in "
            "FOODTRACE_MQTT_URL: master data first, then chain events in time order, then "
            "lab results (with --messy: in the order and shape the world sends them). "
            "The same seed, date and scale always give the same messages. "
            "The simulator publishes for every sender, so use a broker user allowed to "
            "(foodtrace-simulator in deploy/mosquitto/acl)."
        ),
    )
    p.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    p.add_argument(
        "--date",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day to simulate (default: yesterday, China Standard Time)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        metavar="X",
        help="size of the network; 1 is about 3,000 chain events, 0.1 a few "
        "hundred, 40 over 100,000 (default 1)",
    )
    p.add_argument(
        "--incident",
        choices=INCIDENTS,
        help="contaminate one lot: a rapid positive at a market, then a "
        "confirmatory result above the limit",
    )
    p.add_argument(
        "--messy",
        action="store_true",
        help="send the day as the world does (foodtrace/simulate/messy.py, seeded by "
        "--seed): the same messages, but some optional KDEs left out (TLC source on "
        "shipping/receiving, kdes entries, lab product_code), one distributor that never "
        "sends reference_document, events at each sender's next sync and some hours late "
        "(receivings before their shipping), master data after the events naming it, lab "
        "results before their lot's events; published in two waves (what has arrived by "
        "the last lab result, then the rest, which with --incident widens the alert). "
        "The summary gains a `messy` object counting what was left out and delayed; "
        "--dry-run also writes plan.jsonl (wave, publish_at, reason, kind, payload)",
    )
    p.add_argument(
        "--rate",
        type=float,
        metavar="MSG_PER_S",
        help="publish at most this many messages per second",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="up to N consecutive messages for one topic per MQTT message",
    )
    p.add_argument(
        "--truth-out",
        type=Path,
        metavar="FILE",
        help="write the incident's ground truth (JSON) to FILE",
    )
    p.add_argument(
        "--print-truth",
        action="store_true",
        help="print the ground truth JSON alone on stdout (null without --incident); "
        "the summary then goes to stderr, and --json is ignored",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write JSON-lines files to --out instead of publishing",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="directory for --dry-run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(handler=run_simulate)


def _fail(message: str, code: int = 2) -> int:
    print(f"foodtrace: {message}", file=sys.stderr)
    return code


def write_day(sim: SimulatedDay, out: Path, messy: MessyDay | None = None) -> dict[str, str]:
    """The day as JSON-lines files (one per kind) plus truth.json; with `messy`, its
    payloads in publishing order, plus plan.jsonl (the publishing plan)."""
    out.mkdir(parents=True, exist_ok=True)
    lists = {
        "location": sim.locations,
        "product": sim.products,
        "chain_event": sim.chain_events,
        "lab_result": sim.lab_results,
    }
    if messy is not None:
        lists = {kind: [p for k, p in messy.messages() if k == kind] for kind in FILES}
    written = {}
    for kind, filename in FILES.items():
        path = out / filename
        with path.open("w", encoding="utf-8") as f:
            for payload in lists[kind]:
                f.write(json.dumps(payload, ensure_ascii=False) + "\n")
        written[kind] = str(path)
    truth_path = out / "truth.json"
    truth_path.write_text(
        dumps(sim.truth.to_json() if sim.truth else None) + "\n", encoding="utf-8"
    )
    written["truth"] = str(truth_path)
    if messy is not None:
        plan_path = out / "plan.jsonl"
        with plan_path.open("w", encoding="utf-8") as f:
            for p in messy.plan:
                row = {"wave": p.wave, "publish_at": p.publish_at.isoformat(), "reason": p.reason}
                f.write(
                    json.dumps({**row, "kind": p.kind, "payload": p.payload}, ensure_ascii=False)
                    + "\n"
                )
        written["plan"] = str(plan_path)
    return written


def run_simulate(args: argparse.Namespace) -> int:
    from foodtrace.simulate import default_day, simulate_day

    if args.dry_run and args.out is None:
        return _fail("--dry-run needs --out DIR (where to write the files)")
    if args.out is not None and not args.dry_run:
        return _fail("--out is only used with --dry-run")
    if args.batch < 1:
        return _fail("--batch must be at least 1")
    if not args.scale > 0:
        return _fail("--scale must be greater than 0")
    settings: MqttSettings | None = None
    if not args.dry_run:
        from foodtrace.config import mqtt_settings

        settings = mqtt_settings()  # fail fast, before generating a large day
    day = args.date or default_day()
    try:
        sim = simulate_day(args.seed, day, scale=args.scale, incident=args.incident)
    except ValueError as exc:
        return _fail(str(exc))
    truth = sim.truth.to_json() if sim.truth else None
    if args.truth_out:
        args.truth_out.parent.mkdir(parents=True, exist_ok=True)
        args.truth_out.write_text(dumps(truth) + "\n", encoding="utf-8")

    summary: dict[str, Any] = {
        "seed": sim.seed,
        "date": sim.day.isoformat(),
        "scale": sim.scale,
        "incident": sim.incident,
        "counts": sim.counts(),
    }
    messy = None
    if args.messy:
        from foodtrace.simulate.messy import make_messy

        messy = make_messy(sim, args.seed)
        summary["messy"] = messy.summary()
    if args.dry_run:
        summary["files"] = write_day(sim, args.out, messy)
    else:
        from foodtrace.ingest.publish import (
            Publisher,
            PublishError,
            RefusedError,
            plan,
            progress_bar,
        )

        assert settings is not None  # read above whenever it is not a dry run
        outgoing = list(plan((messy or sim).messages(), args.batch))
        total = sum(summary["counts"].values())
        try:
            with (
                progress_bar(total, quiet=args.quiet, desc="simulate") as bar,
                Publisher(settings) as pub,
            ):
                stats = pub.publish(outgoing, rate=args.rate, progress=bar.update)
        except RefusedError as exc:
            return _fail(
                f"{exc} The simulator publishes for every sender: use the "
                "foodtrace-simulator account (or one with the same ACL).",
                1,
            )
        except PublishError as exc:
            return _fail(str(exc), 1)
        summary["broker"] = settings.url
        summary["publish"] = stats.to_json()
    if args.print_truth:
        print_json(truth)
        _human(summary, truth, sys.stderr)
    elif args.json:
        print_json({**summary, "truth": truth})
    else:
        _human(summary, truth, sys.stdout)
    return 0


def _human(summary: dict[str, Any], truth: dict[str, Any] | None, stream: TextIO) -> None:
    c = summary["counts"]
    lines = [
        f"simulated {summary['date']} (seed {summary['seed']}, scale {summary['scale']:g}): "
        f"{c['locations']} locations, {c['products']} products, {c['chain_events']} chain "
        f"events, {c['lab_results']} lab results"
    ]
    if "messy" in summary:
        m = summary["messy"]
        lines.append(
            f"messy: left out {m['dropped_kdes']} optional KDEs, {m['dropped_product_codes']} "
            f"lab product codes and every reference_document of "
            f"{m['no_reference_document_sender']} ({m['dropped_reference_documents']} events); "
            f"{m['late']} chain events late, {m['late_master']} master data after their "
            f"events, {m['receivings_before_shipping']} receivings before their shipping, "
            f"{m['lab_results_before_their_lot']} lab results before their lot; waves "
            + " + ".join(str(n) for n in m["waves"])
        )
    if "files" in summary:
        lines.append("wrote " + ", ".join(summary["files"].values()))
    if "publish" in summary:
        p = summary["publish"]
        lines.append(
            f"published {p['published']} messages in {p['messages']} MQTT messages to "
            f"{summary['broker']} in {p['seconds']:.2f}s ({p['per_second']:.0f}/s)"
        )
    if truth:
        lines.append(
            f"incident {truth['incident']}: lot {truth['lot_code']} ({truth['product_code']}) "
            f"sampled at {truth['sampled_location_id']}; affected {len(truth['affected_lots'])} "
            f"lots, {len(truth['affected_locations'])} locations in "
            f"{', '.join(truth['affected_cities'])}; sources {', '.join(truth['source_lots'])}"
        )
    print("\n".join(lines), file=stream)
