"""Edge check throughput (pure CPU, no broker, no database), against two baselines
measured in the same run:

  (a) floor: `json.loads` of the payload alone;
  (b) naive edge: `json.loads` + jsonschema Draft 2020-12 `iter_errors` (with a
      FormatChecker), the obvious implementation;
  (c) foodtrace: `check_message` (compiled schema fast path, sender, times, ...).

For: a ~400-byte lab result, an array of 25 chain events, an invalid lab result
(the thorough jsonschema path runs), and an EPCIS document of 8 events. Figures are
messages/s (elements/s for arrays), best of `--repeat` runs.

    .venv/bin/python bench/edge/run.py
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from foodtrace.ingest.edge import check_message
from foodtrace.ingest.schema_check import validator

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
LAB_TOPIC = "foodtrace/v1/labs/lab-gz-01/results"
CHAIN_TOPIC = "foodtrace/v1/chain/farm-zq-01/events"
EPCIS_TOPIC = "foodtrace/v1/epcis/farm-zq-01"


def lab_result(**fields: object) -> dict:
    msg = {
        "schema": "foodtrace/lab-result/v1",
        "message_id": str(uuid.uuid4()),
        "lab_id": "lab-gz-01",
        "sample_id": "S-20261128-000123",
        "lot_code": "FARM-ZQ-01-261128-A1-00042",
        "sampled_at": "2026-11-28T09:30:00+08:00",
        "sampled_location_id": "MKT-GZ-JIANGNAN",
        "tested_at": "2026-11-28T10:15:00+08:00",
        "test_kind": "rapid",
        "method": "GB/T 5009.199 enzyme inhibition",
        "analyte": "organophosphates_carbamates",
        "value": 31.5,
        "unit": "%",
        "result": "negative",
        "operator": "Chen Wei",
    }
    msg.update(fields)
    return msg


def chain_event(i: int) -> dict:
    return {
        "schema": "foodtrace/chain-event/v1",
        "message_id": str(uuid.uuid4()),
        "actor_id": "farm-zq-01",
        "event_type": "shipping",
        "event_time": "2026-11-28T06:10:00+08:00",
        "location_id": "FARM-ZQ-01",
        "lots": [{"lot_code": f"LOT-{i:05d}", "product_code": "CHOY-SUM", "quantity": 120.5,
                  "unit": "kg"}],
        "destination_location_id": "DIST-FS-01",
        "reference_document": {"type": "BOL", "number": f"B-261128-{i:04d}"},
        "kdes": {"commodity": "choy sum", "harvest_date": "2026-11-28"},
    }


def epcis_document() -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "unit" / "ingest"))
    from test_epcis_fixture import epcis_document as build

    return build()


def naive(kind: str) -> Callable[[bytes], object]:
    v = validator(kind)

    def run(raw: bytes) -> object:
        value = json.loads(raw)
        for element in value if isinstance(value, list) else [value]:
            list(v.iter_errors(element))
        return value

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--number", type=int, default=2000, help="calls per timing run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    bad = lab_result(test_kind="guesswork", tested_at="yesterday")
    del bad["lot_code"]
    cases = [
        ("lab result (valid)", LAB_TOPIC, "lab_result", lab_result(), 1),
        ("25 chain events (array)", CHAIN_TOPIC, "chain_event",
         [chain_event(i) for i in range(25)], 25),
        ("lab result (3 errors)", LAB_TOPIC, "lab_result", bad, 1),
        ("EPCIS document (8 events)", EPCIS_TOPIC, None, epcis_document(), 8),
    ]

    def best(fn: Callable[[], object], number: int) -> float:
        return min(timeit.repeat(fn, number=number, repeat=args.repeat)) / number

    print(f"{'payload':28} {'bytes':>6} {'json.loads':>12} {'jsonschema':>12} "
          f"{'foodtrace':>12} {'vs jsonschema':>14} {'vs json.loads':>14}")
    for name, topic, kind, value, elements in cases:
        raw = json.dumps(value, ensure_ascii=False).encode()
        result = check_message(topic, raw, now=NOW)
        assert len(result.accepted) + len(result.rejected) >= 1
        number = max(50, args.number // elements)
        floor = best(lambda raw=raw: json.loads(raw), number)
        ours = best(lambda raw=raw, topic=topic: check_message(topic, raw, now=NOW), number)
        rate = lambda seconds, n=elements: f"{n / seconds:>10,.0f}/s"  # noqa: E731
        if kind is not None:
            run_naive = naive(kind)
            base = best(lambda raw=raw, run=run_naive: run(raw), max(20, number // 5))
            base_text, ratio = rate(base), f"{base / ours:>13.1f}x"
        else:
            base_text, ratio = f"{'-':>12}", f"{'-':>14}"
        print(f"{name:28} {len(raw):>6} {rate(floor)} {base_text} {rate(ours)} {ratio} "
              f"{ours / floor:>13.1f}x")
    print("(elements per second; 'vs jsonschema' = speed-up over the naive edge, "
          "'vs json.loads' = cost relative to parsing alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
