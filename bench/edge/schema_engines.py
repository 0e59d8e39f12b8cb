"""Which engine decides "valid" at the edge: our compiled closures
(`ingest/schema_check.compile_schema`) or fastjsonschema, a well-kept JSON Schema
compiler (it generates Python source per schema)? Measured in one run, on the same
elements, against jsonschema (the authority, Draft 2020-12) as the baseline:

  - speed on valid elements (the hot path: almost every message is valid) and on
    invalid ones (there the thorough jsonschema pass runs anyway, to list reasons);
  - agreement with jsonschema on the same elements, valid and mutated (a wrong type,
    a missing field, a bad format, an extra field, a value out of range).

fastjsonschema knows drafts 4, 6 and 7, not 2020-12; our schemas use only keywords
whose meaning is the same in draft 7, plus `$defs` (resolved as a JSON pointer), so
it is compiled with the draft-7 handlers and our two formats.

    .venv/bin/pip install fastjsonschema==2.22.3   # not a runtime dependency
    .venv/bin/python bench/edge/schema_engines.py
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import timeit
from collections.abc import Callable
from datetime import date
from typing import Any

from foodtrace.ingest.schema_check import FORMATS, fast_check, load_schema, validator

from foodtrace.simulate.day import simulate_day


def fastjsonschema_check(kind: str) -> Callable[[Any], bool]:
    import fastjsonschema

    formats = {name: (lambda v, check=check: check(v)) for name, check in FORMATS.items()}
    compiled = fastjsonschema.compile(load_schema(kind), formats=formats)

    def check(value: Any) -> bool:
        try:
            compiled(value)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return check


def jsonschema_check(kind: str) -> Callable[[Any], bool]:
    v = validator(kind)
    return lambda value: v.is_valid(value)


def mutations(element: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """A handful of ways a sender gets an element wrong."""
    out = []
    keys = sorted(element)
    for key in rng.sample(keys, min(3, len(keys))):
        wrong_type = copy.deepcopy(element)
        wrong_type[key] = [] if not isinstance(element[key], list) else "x"
        out.append(wrong_type)
        missing = copy.deepcopy(element)
        del missing[key]
        out.append(missing)
    extra = copy.deepcopy(element)
    extra["unexpected_field"] = 1
    out.append(extra)
    bad_id = copy.deepcopy(element)
    bad_id["message_id"] = "not-a-uuid"
    out.append(bad_id)
    for key in ("tested_at", "event_time"):
        if key in element:
            bad_time = copy.deepcopy(element)
            bad_time[key] = "2026-02-30T10:00:00+08:00"
            out.append(bad_time)
    for lots in ("lots", "inputs", "outputs"):
        if element.get(lots):
            negative = copy.deepcopy(element)
            negative[lots][0]["quantity"] = -1
            out.append(negative)
    return out


def corpus(seed: int) -> dict[str, list[dict[str, Any]]]:
    sim = simulate_day(seed=seed, day=date(2026, 11, 28), scale=1.0)
    by_kind: dict[str, list[dict[str, Any]]] = {"lab_result": [], "chain_event": []}
    for _topic, message in sim.messages():
        kind = {"foodtrace/lab-result/v1": "lab_result",
                "foodtrace/chain-event/v1": "chain_event"}.get(message.get("schema", ""))
        if kind:
            by_kind[kind].append(message)
    return by_kind


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    elements = corpus(args.seed)

    print(f"{'kind':12} {'set':8} {'n':>6} {'jsonschema':>12} {'fastjsonschema':>15} "
          f"{'foodtrace':>12} {'fjs/js':>7} {'ours/js':>8} {'disagree fjs':>13} "
          f"{'disagree ours':>14}")
    for kind, valid in elements.items():
        invalid = [m for e in valid[:200] for m in mutations(e, rng)]
        engines = {"js": jsonschema_check(kind), "fjs": fastjsonschema_check(kind),
                   "ours": fast_check(kind)}
        for label, items in (("valid", valid), ("invalid", invalid)):
            truth = [engines["js"](e) for e in items]
            disagree = {name: sum(engines[name](e) != t for e, t in zip(items, truth, strict=True))
                        for name in ("fjs", "ours")}
            rates = {}
            for name, check in engines.items():
                seconds = min(timeit.repeat(lambda c=check, items=items: [c(e) for e in items],
                                            number=1, repeat=args.repeat))
                rates[name] = len(items) / seconds
            print(f"{kind:12} {label:8} {len(items):>6} {rates['js']:>10,.0f}/s "
                  f"{rates['fjs']:>13,.0f}/s {rates['ours']:>10,.0f}/s "
                  f"{rates['fjs'] / rates['js']:>6.1f}x {rates['ours'] / rates['js']:>7.1f}x "
                  f"{disagree['fjs']:>13} {disagree['ours']:>14}")
    print("(elements per second, best of --repeat; 'x' = speed-up over jsonschema; "
          "'disagree' = elements judged otherwise than jsonschema judges them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
