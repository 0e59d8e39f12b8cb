"""Is the ingest workers' RSS growth in the soak a leak? Two real ingest workers at the
soak's rate, no pipeline, with the Python heap watched from inside.

The soak (run.py) sees each `foodtrace ingest` worker's RSS from outside only. Here
the same load (the soak's chain-event and lab-result streams, PacedStream, at the
regional peak) goes to two workers on the shared subscription of the project's
Mosquitto, writing into a throwaway migrated database; each worker is an
IngestConsumer in a process of its own, as `foodtrace ingest` runs it, which
samples itself every `--sample` seconds: RSS, the bytes tracemalloc traces (Python
allocations alive), the objects the collector tracks. Worker 0 runs with
tracemalloc (`--frames` deep): a snapshot at `--snapshot-at` seconds and one at the
end, compared by traceback (the top growth). Worker 1 runs without it, so its RSS is
comparable with the soak's. At the end both call glibc's malloc_trim(0): what RSS
gives back was free memory the allocator kept, not live objects. Tracing costs:
worker 0 falls behind (the broker queues its share; its lag is minutes), so only
worker 1's RSS and lag speak for the soak; worker 0's RSS after the trim is taken
after its snapshot comparison and means nothing.

    .venv/bin/python bench/soak/memory.py --minutes 12     # writes bench/soak/out/memory.json
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import gc
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=12.0)
    p.add_argument("--snapshot-at", type=float, default=120.0, help="first snapshot (s)")
    p.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--frames", type=int, default=8, help="tracemalloc traceback depth")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=HERE / "out")
    # worker mode (the parent starts two of these)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---- worker ---------------------------------------------------------------------


def _rss_mib() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 2)


def _traced_mib() -> float | None:
    import tracemalloc

    return round(tracemalloc.get_traced_memory()[0] / 2**20, 2) if tracemalloc.is_tracing() else None


def _type_counts() -> collections.Counter[str]:
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def _malloc_trim() -> bool:
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    return False


def worker_main(args: argparse.Namespace) -> int:
    import tracemalloc

    if args.trace:
        tracemalloc.start(args.frames)
    from foodtrace.ingest.consumer import ConsumerConfig, IngestConsumer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = IngestConsumer(ConsumerConfig.from_env(worker_id=args.worker))
    thread = consumer.start_in_thread(stop, ready_timeout=60)
    t0 = time.monotonic()
    report: dict[str, Any] = {"worker": args.worker, "tracemalloc": args.trace, "samples": []}
    args.report.with_suffix(".ready").write_text("ready")
    first: Any = None  # the first tracemalloc snapshot (worker 0)
    types_first: collections.Counter[str] | None = None  # set once, at --snapshot-at
    while not stop.wait(args.sample):
        t = time.monotonic() - t0
        report["samples"].append({
            "t": round(t, 1), "rss_mib": _rss_mib(), "traced_mib": _traced_mib(),
            "gc_objects": len(gc.get_objects()), "messages": consumer.totals.messages,
        })
        if types_first is None and t >= args.snapshot_at:
            gc.collect()
            types_first = _type_counts()
            first = tracemalloc.take_snapshot() if args.trace else None
            report["snapshot_first"] = report["samples"][-1]
    gc.collect()
    end = {"rss_mib": _rss_mib(), "traced_mib": _traced_mib(),
           "gc_objects": len(gc.get_objects()), "messages": consumer.totals.messages}
    report["snapshot_end"] = end
    if types_first is not None:
        grown = _type_counts()
        grown.subtract(types_first)
        report["object_growth"] = [(k, n) for k, n in grown.most_common(15) if n > 0]
    if first is not None:
        stats = tracemalloc.take_snapshot().compare_to(first, "traceback")
        report["top_growth"] = [
            {"size_diff_kib": round(s.size_diff / 1024, 1), "count_diff": s.count_diff,
             "traceback": s.traceback.format()[-12:]}
            for s in stats[:15]
        ]
        report["traced_growth_kib"] = round(sum(s.size_diff for s in stats) / 1024, 1)
    report["malloc_trim"] = {"returned": _malloc_trim(), "rss_after_mib": _rss_mib()}
    thread.join(60)
    report["run_result"] = consumer.result.as_dict() if consumer.result else str(consumer.error)
    args.report.write_text(json.dumps(report, indent=2))
    return 0


# ---- parent -------------------------------------------------------------------------


def rss_slope(samples: list[dict[str, Any]], key: str, since_s: float) -> float | None:
    from series import slope

    pts = [(s["t"] / 60, s[key]) for s in samples if s["t"] >= since_s and s[key] is not None]
    value = slope([t for t, _ in pts], [y for _, y in pts])
    return None if value is None else round(value, 3)


def parent_main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(HERE))
    from peak import regional_peak
    from run import LAB_USERS, PacedStream, chain_events, routine_lab_results  # bench/soak/run.py
    from stack import Stack, log  # bench/e2e/stack.py (run.py put it on the path)

    from foodtrace.simulate import default_day, simulate_day

    assert LAB_USERS
    peak = regional_peak()
    args.out.mkdir(parents=True, exist_ok=True)
    stack = Stack(Path(tempfile.mkdtemp(prefix="ft-soak-mem-")))
    result: dict[str, Any] = {"command": " ".join(["python", *sys.argv]),
                              "loadavg": [], "minutes": args.minutes}
    try:
        stack.start_databases()
        stack.start_broker()
        assert stack.broker is not None
        env = {**stack.base_env(), "FOODTRACE_MQTT_URL": stack.broker.url("foodtrace-ingest")}
        reports = [args.out / f"memory-worker{w}.json" for w in range(2)]
        for r in reports:
            r.unlink(missing_ok=True)
            r.with_suffix(".ready").unlink(missing_ok=True)
        workers = [
            stack._spawn(f"mem-{w}", [
                sys.executable, str(Path(__file__).resolve()), "--worker", f"mem-{stack.tag}-{w}",
                "--report", str(reports[w]), "--snapshot-at", str(args.snapshot_at),
                "--sample", str(args.sample), "--frames", str(args.frames),
                *(["--trace"] if w == 0 else []),
            ], env)
            for w in range(2)
        ]
        deadline = time.monotonic() + 90
        while not all(r.with_suffix(".ready").exists() for r in reports):
            stack.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not subscribe within 90 s")
            time.sleep(0.5)
        day = default_day()
        base = simulate_day(args.seed, day)
        streams = [
            PacedStream("chain_events", stack, chain_events(args.seed, day, 1.0),
                        peak["chain_events_per_s"], batch=5),
            PacedStream("lab_results", stack, routine_lab_results(base),
                        peak["lab_results_per_s"], batch=1),
        ]
        for s in streams:
            s.start()
        log(f"streaming {args.minutes:g} min to two workers (worker 0 with tracemalloc)")
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            stack.check_alive()
            result["loadavg"].append(round(os.getloadavg()[0], 2))
            time.sleep(10)
        for s in streams:
            s.stop()
        result["published"] = {s.name: s.published for s in streams}
        time.sleep(5)  # the last batches commit
        for w in workers:
            w.popen.send_signal(signal.SIGTERM)
        for w in workers:  # the traced worker compares its snapshots first
            w.popen.wait(600)
        result["workers"] = [json.loads(r.read_text()) for r in reports]
    finally:
        stack.close()
    for w in result["workers"]:
        samples = w["samples"]
        w["summary"] = {
            "rss_first_mib": samples[0]["rss_mib"], "rss_end_mib": samples[-1]["rss_mib"],
            "rss_slope_after_snapshot_mib_per_min": rss_slope(samples, "rss_mib", args.snapshot_at),
            "traced_slope_after_snapshot_mib_per_min": rss_slope(
                samples, "traced_mib", args.snapshot_at),
        }
    out = args.out / "memory.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps([{k: w.get(k) for k in ("worker", "summary", "snapshot_first",
                                              "snapshot_end", "malloc_trim", "traced_growth_kib",
                                              "object_growth")}
                      for w in result["workers"]], indent=2))
    log(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return worker_main(args) if args.worker else parent_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
