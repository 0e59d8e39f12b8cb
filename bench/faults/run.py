"""Pipeline faults: a link task SIGKILLed mid-transaction, then a re-run of every
DAG, against an undisturbed run fed the same messages (issue 11, item 5).

Two throwaway databases (`ft_faults_*`, dropped afterwards) get the same
simulated day. The reference runs foodtrace_validate -> foodtrace_link ->
foodtrace_alert (dag.test(), as `foodtrace pipeline run` does). The faulted one
runs validate, then foodtrace_link, which is SIGKILLed while one of its batch
statements is inside its transaction (it waits on a core.lot_locations row this
script holds uncommitted: PostgreSQL's own pause, no hook in the product); then
link and alert run again (the next run), then all three DAGs again over the same
data. With --messy the day comes as the world sends it (KDEs left out, late
uploads in a second wave after the last lab result): both databases run the
first wave undisturbed and the kill lands in the second wave's chain-event batch.
After each stage it prints the counts of both databases and, if they differ, the
diff of the canonical JSON of traces, alerts, lot graph and findings
(tests/integration/pipeline/pipeline_faults.py, which the test uses too).

    .venv/bin/python bench/faults/run.py                    # scale 0.3, pesticide
    .venv/bin/python bench/faults/run.py --messy            # late uploads in a second wave
    .venv/bin/python bench/faults/run.py --scale 1 --seed 11 --incident clenbuterol

Exit status 0 when every stage matches the reference, 1 when one differs.
Airflow's own retry of the killed task under the real scheduler (not the next
run): bench/faults/scheduler_retry.py.
Not a speed benchmark: a correctness check under faults, with its evidence printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

# the scenario and the comparison live beside the test that uses them too
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # devservices.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration" / "pipeline"))

from pipeline_faults import messy_day, plain_day, run_fault_scenario, scratch_database


def _stage(name: str, comparison) -> None:
    verdict = "SAME as" if comparison.same else "DIFFERS from"
    print(f"\n== {name}: {verdict} the undisturbed run")
    print(comparison.report())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--incident", default="pesticide", choices=["pesticide", "clenbuterol", "malachite_green"]
    )
    parser.add_argument(
        "--messy",
        action="store_true",
        help="the day as the world sends it: KDEs left out, late uploads in a second wave",
    )
    parser.add_argument("--airflow-home", type=Path, help="default: a temporary folder")
    args = parser.parse_args(argv)

    waves = (messy_day if args.messy else plain_day)(args.scale, args.seed, args.incident)
    sizes = [len(w.items) for w in waves]
    print(
        f"simulated day: seed {args.seed}, scale {args.scale}, incident {args.incident}, "
        f"{'messy' if args.messy else 'on time'}: {sum(sizes)} messages in waves of {sizes}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ft-faults-airflow-") as tmp:
        home = args.airflow_home or Path(tmp)
        with scratch_database() as reference_url, scratch_database() as faulted_url:
            run = run_fault_scenario(waves, reference_url, faulted_url, home)
    print("\nSIGKILL of foodtrace_link mid-transaction (the last wave's link):")
    print(json.dumps(dataclasses.asdict(run.killed), indent=1, ensure_ascii=False))
    _stage("after the SIGKILL and the next link + alert run", run.after_retry)
    _stage("after re-running every DAG over the same data", run.after_rerun)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0 if run.after_retry.same and run.after_rerun.same else 1


if __name__ == "__main__":
    raise SystemExit(main())
