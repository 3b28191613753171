"""Speed-up of a sweep on 2 local worker processes over 1, measured in the same run.

    python benchmarks/sweep_speedup.py [--customers 20000] [--days 180] [--replications 2]

Runs the same sweep (the supermarket points card over four earn rates) twice, on 1 and on 2 worker
processes, each into a fresh folder. The workers are started and have imported loyaltysim before the
clock starts, so the times compare the sweep, not process start-up (reported separately). Checks that
both give identical index.parquet numbers, then prints both times and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from loyaltysim.runs.executors import LocalExecutor, cpu_count
from loyaltysim.runs.sweep import load_sweep, run_sweep

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "supermarket_points.yaml"
EARN_RATES = "scheme.points.earn_per_unit=0.5,1,2,4"


def warm(_: int) -> int:
    """Import the simulator in a worker (what its first unit would otherwise pay for)."""
    import loyaltysim.runs.sweep  # noqa: F401

    time.sleep(0.5)  # hold this worker so the next warm-up unit goes to another
    return os.getpid()


def spin(seconds: float) -> int:
    """Pure CPU work for about ``seconds`` on an idle core (a yardstick of the machine, not of loyaltysim)."""
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


def machine_parallelism(ex: LocalExecutor) -> float:
    """How much more CPU work 2 processes do in the same time than 1, on this machine right now
    (2.0 on two idle cores; less when other programs share them)."""
    one = ex.map(spin, [(1.0,)])[0]
    two = sum(ex.map(spin, [(1.0,), (1.0,)]))
    return two / one


def timed_sweep(plan, workers: int, folder: Path) -> tuple[float, float, pd.DataFrame]:
    """(start-up seconds, sweep seconds, index) of the plan on ``workers`` local processes."""
    with LocalExecutor(workers) as ex:
        start = time.perf_counter()
        pids = set(ex.map(warm, [(i,) for i in range(2 * workers)]))
        startup = time.perf_counter() - start
        if len(pids) < workers:
            print(f"note: only {len(pids)} of {workers} workers took a warm-up unit")
        start = time.perf_counter()
        result = run_sweep(plan, folder, executor=ex, plots=False, report=False)
        return startup, time.perf_counter() - start, result.index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--replications", type=int, default=2)
    args = parser.parse_args()
    plan = load_sweep(SCENARIO, vary=[EARN_RATES], replications=args.replications, customers=args.customers,
                      days=args.days)
    runs = len(plan.points) * plan.replications
    print(f"sweep: {len(plan.points)} points x {plan.replications} replications = {runs} runs of "
          f"{args.customers:,} customers x {args.days} days (both arms); {cpu_count()} cores available")
    if cpu_count() < 2:
        print("note: fewer than 2 cores, so 2 workers cannot be faster than 1")
    with LocalExecutor(2) as ex:
        ex.map(spin, [(0.2,), (0.2,)])  # start both workers
        ceiling = machine_parallelism(ex)
    print(f"machine: 2 processes do {ceiling:.2f}x the CPU work of 1 right now (2.00 on two idle cores; "
          "the ceiling for the speed-up below)")
    with tempfile.TemporaryDirectory(prefix="loyaltysim-bench-") as tmp:
        times = {}
        indexes = {}
        for workers in (1, 2):
            startup, seconds, indexes[workers] = timed_sweep(plan, workers, Path(tmp) / f"w{workers}")
            times[workers] = seconds
            print(f"{workers} worker{'s' if workers > 1 else ''}: {seconds:6.2f} s "
                  f"({seconds / runs:.2f} s per run; worker start-up {startup:.1f} s, not counted)")
    pd.testing.assert_frame_equal(indexes[1], indexes[2], check_exact=True)
    print("index.parquet: identical numbers on 1 and 2 workers")
    print(f"speed-up of 2 workers over 1: {times[1] / times[2]:.2f}x (machine ceiling now {ceiling:.2f}x)")


if __name__ == "__main__":
    main()
