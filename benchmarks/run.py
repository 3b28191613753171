"""Speed, memory and scaling of the vectorised model, and its speed against the per-agent Mesa reference.

    python benchmarks/run.py                      # 10k, 100k, 1M customers x 365 days, both arms
    python benchmarks/run.py --quick              # small sizes: a smoke run in well under a minute
    python benchmarks/run.py --sizes 10000,100000 --days 365
    python benchmarks/run.py --large              # adds 10 million customers
    python benchmarks/run.py --sizes 1000000 --reference 1000000x365   # Mesa doing the same job: ~1 hour
    python benchmarks/run.py --against ../old-checkout   # this code against another checkout's, taking turns

Every measurement runs in its own subprocess, single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS=1), so
peak memory is that run's own and the figures are for one core. See benchmarks/README.md for what
each figure means.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "supermarket_points.yaml"
ARMS = 2
ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMEXPR_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


# ---------------------------------------------------------------- measurements (run in a subprocess)

def _peak_rss() -> int:
    """Peak resident memory of this process so far, in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _scenario(path: str, customers: int, days: int, reduced: bool = False):
    from loyaltysim.reference.model import reference_scenario
    from loyaltysim.scenario.loading import load_scenario
    from loyaltysim.scenario.models import Scenario

    sc = load_scenario(path)
    if reduced:
        sc = reference_scenario(sc)
    data = {**sc.model_dump(by_alias=True, exclude={"schema_"}), "customers": customers, "days": days,
            "replications": 1}
    return Scenario.model_validate(data)


def measure_vectorised(path: str, customers: int, days: int, write: bool, reduced: bool = False) -> dict:
    """One replicate (both arms): build, run, then record and write its results as a run does; with
    ``reduced``, on the scenario reduced to the reference's rules."""
    from loyaltysim.engine.model import LoyaltyModel
    from loyaltysim.present.folders import write_run
    from loyaltysim.runs.simulate import assemble

    sc = _scenario(path, customers, days, reduced=reduced)
    base = _peak_rss()
    t0 = time.perf_counter()
    model = LoyaltyModel(sc)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    out = {"customers": customers, "days": days, "build_s": t1 - t0, "run_s": t2 - t1,
           "state_bytes": model.state_bytes(), "base_rss": base, "sim_peak_rss": _peak_rss()}
    if not write:
        return out
    # Recording: the frames a run keeps (what experiment.run_replicate and assemble do).
    t3 = time.perf_counter()
    daily = model.daily()
    daily.insert(0, "replicate", 0)
    part = {"daily": daily, "state_bytes": out["state_bytes"], "customers": model.customers()}
    result = assemble(sc, [part])
    t4 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data_only = {"plots": False, "report": False} if "plots" in inspect.signature(write_run).parameters else {}
        write_run(Path(tmp) / "data", result, **data_only)
        t5 = time.perf_counter()
        if data_only:
            write_run(Path(tmp) / "full", result)
        t6 = time.perf_counter()
    out.update(record_s=t4 - t3, write_s=t5 - t4, present_s=(t6 - t5) if data_only else None,
               peak_rss=_peak_rss())
    return out


def take_turns(models: dict, days: int, block: int) -> list[dict]:
    """Step every model (each a list of arms) ``days`` days, ``block`` days at a time in turn, so that a
    spell in which the shared host runs faster or slower falls on all of them alike. Returns each turn's
    seconds per model."""
    turns = []
    for start in range(0, days, block):
        turn = {}
        for name, arms in models.items():
            t0 = time.perf_counter()
            for model in arms:
                for _ in range(min(block, days - start)):
                    model.step()
            turn[name] = time.perf_counter() - t0
        turns.append(turn)
    return turns


def measure_reference(path: str, customers: int, reference_customers: int, days: int, block: int) -> dict:
    """The per-agent Mesa reference (both arms) against the vectorised model, in one process, taking turns.

    Four models run ``days`` days: the reference at ``reference_customers``; the vectorised model on the
    same reduced scenario at that size and at ``customers``; and the full model at ``customers``. They
    take turns (:func:`take_turns`), so each ratio is measured under the same conditions. Building counts
    for every model (agents included), as it does in the size table."""
    from loyaltysim.engine.model import LoyaltyModel
    from loyaltysim.reference.model import ReferenceModel

    def make_builders(n_reference: int, n: int, d: int) -> dict:
        reduced = _scenario(path, n_reference, d, reduced=True)
        return {
            "reference": lambda: [ReferenceModel(reduced, with_scheme=w) for w in (True, False)],
            "same_size": lambda: [LoyaltyModel(reduced)],
            "same_rules": lambda: [LoyaltyModel(_scenario(path, n, d, reduced=True))],
            "full": lambda: [LoyaltyModel(_scenario(path, n, d))],
        }

    # A few days of each at a small size first: the first model of a process loads the compiled kernels
    # from numba's cache and fills lazy imports, which is not the cost of a run.
    for build in make_builders(200, 1000, 8).values():
        for model in build():
            model.run()
    builders = make_builders(reference_customers, customers, days)
    models, build_s = {}, {}
    for name, build in builders.items():
        t0 = time.perf_counter()
        models[name] = build()
        build_s[name] = time.perf_counter() - t0
    blocks = take_turns(models, days, block)
    run_s = {name: sum(turn[name] for turn in blocks) for name in models}
    return {"customers": customers, "reference_customers": reference_customers, "days": days, "block": block,
            "build_s": build_s, "run_s": run_s, "blocks": blocks}


def import_checkout(directory: str, name: str = "loyaltysim_base"):
    """The ``loyaltysim`` package of another checkout, importable as ``name`` beside this one: a copy with
    its own imports renamed (module paths only, so messages and the installed version stay as they are)."""
    import importlib

    home = Path(tempfile.mkdtemp(prefix="loyaltysim-checkout-"))
    shutil.copytree(Path(directory) / "loyaltysim", home / name,
                    ignore=shutil.ignore_patterns("__pycache__", "shipped_scenarios"))
    own = re.compile(r"\bloyaltysim(?=\.[a-z_])|(?<=from )loyaltysim(?= import)|(?<=import )loyaltysim\b")
    for py in (home / name).rglob("*.py"):
        py.write_text(own.sub(name, py.read_text(encoding="utf-8")), encoding="utf-8")
    sys.path.insert(0, str(home))
    for module in ("engine.model", "model"):  # the model's home then and now
        try:
            return importlib.import_module(f"{name}.{module}"), importlib.import_module(f"{name}.scenario.loading")
        except ModuleNotFoundError:
            continue
    sys.exit(f"{directory}: no loyaltysim model found (looked for loyaltysim/engine/model.py and loyaltysim/model.py)")


def measure_against(path: str, checkout: str, customers: int, days: int, block: int,
                    checkout_path: str | None = None) -> dict:
    """This code's model against another checkout's on the same scenario (or, with ``checkout_path``, the
    other checkout on its own), in one process taking turns ``block`` days at a time (:func:`take_turns`):
    the ratio of their speeds, measured under the same conditions. Each is warmed up first at a small size
    (compiled kernels loaded, lazy imports done)."""
    from loyaltysim.engine.model import LoyaltyModel

    base_model, base_loading = import_checkout(checkout)

    def base_scenario(n: int, d: int):
        sc = base_loading.load_scenario(checkout_path or path)
        data = {**sc.model_dump(by_alias=True, exclude={"schema_"}), "customers": n, "days": d, "replications": 1}
        return type(sc).model_validate(data)

    builders = {"this": lambda n, d: LoyaltyModel(_scenario(path, n, d)),
                "checkout": lambda n, d: base_model.LoyaltyModel(base_scenario(n, d))}
    for build in builders.values():
        build(1000, 8).run()
    models, build_s = {}, {}
    for name, build in builders.items():
        t0 = time.perf_counter()
        models[name] = [build(customers, days)]
        build_s[name] = time.perf_counter() - t0
    blocks = take_turns(models, days, block)
    run_s = {name: sum(turn[name] for turn in blocks) for name in models}
    return {"customers": customers, "days": days, "block": block, "build_s": build_s, "run_s": run_s,
            "blocks": blocks}


def measure_reference_sizes(path: str, sizes: list[int], days: int, block: int) -> dict:
    """The per-agent Mesa reference (both arms) at several sizes, in one process taking turns ``block``
    days at a time: how its speed per customer-day changes with the number of customers."""
    from loyaltysim.reference.model import ReferenceModel

    models = {n: [ReferenceModel(_scenario(path, n, days, reduced=True), with_scheme=w) for w in (True, False)]
              for n in sizes}
    blocks = take_turns(models, days, block)
    return {"days": days, "run_s": {str(n): sum(turn[n] for turn in blocks) for n in sizes}}


def measure_rng(customers: int, days: int) -> dict:
    """Only the random numbers of a run: every daily stream, one draw per customer per day."""
    from loyaltysim.engine.rng import DAILY_STREAMS, Streams

    streams = Streams(0, 0, customers)
    t0 = time.perf_counter()
    for _ in range(days):
        streams.day()
    return {"customers": customers, "days": days, "streams": len(DAILY_STREAMS), "rng_s": time.perf_counter() - t0}


def measure_profile(path: str, customers: int, days: int, top: int) -> dict:
    """Where a run's time goes: cProfile's own time per function over ``days`` days (after a week to warm
    up), the compiled passes named by their Python function, grouped by kind."""
    import cProfile
    import pstats

    from numba.core.registry import CPUDispatcher

    from loyaltysim.engine import kernels, rng
    from loyaltysim.engine.model import LoyaltyModel

    compiled = {(Path(m.__file__).name, name) for m in (kernels, rng) for name, f in vars(m).items()
                if isinstance(f, CPUDispatcher)}
    model = LoyaltyModel(_scenario(path, customers, days + 7))
    for _ in range(7):
        model.step()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(lambda: [model.step() for _ in range(days)])
    run_s = time.perf_counter() - t0
    rows, kinds = [], {"compiled": 0.0, "numpy": 0.0, "python": 0.0}
    for (file, _, name), (_, _, own, _, _) in pstats.Stats(prof).stats.items():
        where = Path(file).name
        kind = ("compiled" if (where, name) in compiled else "numpy" if file.startswith(("~", "<"))
                else "python")
        kinds[kind] += own
        label = name if file.startswith(("~", "<")) else f"{Path(file).stem}.{name}"
        rows.append((own, label, kind))
    rows.sort(reverse=True)
    return {"customers": customers, "days": days, "run_s": run_s, "kinds": kinds,
            "top": [{"function": f, "kind": k, "own_s": s} for s, f, k in rows[:top]]}


def worker(spec: dict) -> None:
    kind = spec.pop("kind")
    fn = {"vectorised": measure_vectorised, "reference": measure_reference, "rng": measure_rng,
          "reference_sizes": measure_reference_sizes, "against": measure_against,
          "profile": measure_profile}[kind]
    print(json.dumps(fn(**spec)))


# ---------------------------------------------------------------- the driver

def run_child(spec: dict) -> dict:
    """Run one measurement in a fresh single-threaded interpreter; return its figures."""
    env = {**os.environ, **ONE_CORE}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark run {spec} failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rate(customers: int, days: int, seconds: float) -> float:
    """Customer-days per second of a run of both arms: customers x days x arms / seconds."""
    return customers * days * ARMS / seconds


def counts_and_days(text: str) -> tuple[list[int], int | None]:
    """An option ``N,N,...[xDAYS]`` as (customer counts, days or None); an argparse type."""
    listed, _, d = text.lower().partition("x")
    try:
        counts, days = [int(float(x)) for x in listed.split(",")], int(d) if d else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected customers N (or N,N,...) and optionally xDAYS, "
                                         f"e.g. 20000x365") from None
    if min(counts) < 0 or (days is not None and days < 1):
        raise argparse.ArgumentTypeError(f"{text!r}: customers must be 0 or more and days 1 or more")
    return counts, days


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x): 1.0 means time grows in proportion."""
    if len(xs) < 2:
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / den if den else None


def fmt_n(n: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            v = n / size
            return f"{v:.0f}{unit}" if v == int(v) else f"{v:.1f}{unit}"
    return f"{n:.0f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def versions() -> str:
    import mesa
    import numba
    import numpy

    return (f"Python {platform.python_version()}, numpy {numpy.__version__}, numba {numba.__version__}, "
            f"mesa {mesa.__version__}")


def against(args, customers: int, days: int) -> None:
    """Print this code's speed against another checkout's, measured taking turns in one process."""
    if not (Path(args.against) / "loyaltysim").is_dir():
        sys.exit(f"--against {args.against}: not a checkout (no loyaltysim/ folder in it)")
    r = run_child({"kind": "against", "path": args.scenario, "checkout": args.against, "customers": customers,
                   "days": days, "block": args.block, "checkout_path": args.against_scenario})
    speed = {k: rate(customers, days, r["build_s"][k] + r["run_s"][k]) for k in r["run_s"]}
    turns = [t["checkout"] / t["this"] for t in r["blocks"]]
    q1, q2, q3 = statistics.quantiles(turns, n=4, method="inclusive") if len(turns) > 1 else turns * 3
    on = (f" (this code on {args.scenario or 'the default scenario'}, the checkout on {args.against_scenario})"
          if args.against_scenario else "")
    print(f"This code against {args.against}{on}: {fmt_n(customers)} customers x {days} days, both arms, in one "
          f"process taking turns {args.block} days at a time (build + run):")
    print(table(["code", "build s", "run s", "cust-days/s", "x checkout"], [
        [k, f"{r['build_s'][k]:.2f}", f"{r['run_s'][k]:.2f}", f"{speed[k] / 1e6:.2f}M",
         f"{speed[k] / speed['checkout']:.3f}"] for k in ("this", "checkout")]))
    print(f"  this x checkout per turn (run time only, {len(turns)} turns): median {q2:.3f}, "
          f"quartiles {q1:.3f}-{q3:.3f}, range {min(turns):.3f}-{max(turns):.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"against": r, "rates": speed}, indent=2))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", help="customer counts, comma-separated (default 10000,100000,1000000)")
    ap.add_argument("--days", type=int, help="days simulated (default 365)")
    ap.add_argument("--large", action="store_true", help="also run 10 million customers")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--scenario", default=str(SCENARIO), help="scenario file (default: the supermarket points card)")
    ap.add_argument("--no-write", action="store_true", help="time the simulation only, not recording and writing")
    ap.add_argument("--days-slope-at", type=int,
                    help="customers for the time-vs-days fit (default: the largest size up to 100,000)")
    ap.add_argument("--reference", type=counts_and_days, metavar="N[xDAYS]",
                    help="customers x days of the Mesa reference comparison (days default to --days; "
                         "default 20000x365, --quick 500x10; 0 to skip; 1000000x365 compares like with like at "
                         "1M, in about an hour)")
    ap.add_argument("--block", type=int, default=5, help="days each model runs in its turn in the reference "
                    "comparison (default 5)")
    ap.add_argument("--reference-sizes", type=counts_and_days, metavar="N,N,...[xDAYS]",
                    help="also time the Mesa reference alone at these sizes (over DAYS, default --days), taking "
                         "turns: how its speed per customer-day changes with customers (e.g. 2000,20000,200000x60)")
    ap.add_argument("--profile", type=int, default=None, metavar="DAYS",
                    help="also profile DAYS days at the largest size up to 1M: own time per function "
                         "(default 60 days; 0 to skip)")
    ap.add_argument("--against", metavar="CHECKOUT",
                    help="only compare this code with the loyaltysim of another checkout (a folder holding "
                         "loyaltysim/), at the largest size and --days, in one process taking turns --block days")
    ap.add_argument("--against-scenario", metavar="FILE",
                    help="with --against: the scenario the other checkout runs (default: the same as this code), "
                         "for a scenario file the other checkout cannot read")
    ap.add_argument("--json", help="also write every figure to this JSON file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))

    if args.quick:
        sizes, days, ref = [2_000, 5_000, 10_000], args.days or 30, args.reference or ([500], 10)
    else:
        sizes, days, ref = [10_000, 100_000, 1_000_000], args.days or 365, args.reference or ([20_000], 365)
    if args.block < 1:
        ap.error("--block: days per turn must be 1 or more")
    if len(ref[0]) != 1:
        ap.error("--reference: one number of customers (use --reference-sizes for several)")
    if args.sizes:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    if args.large:
        sizes.append(10_000_000)
    sizes = sorted(set(sizes))

    print(f"loyaltysim benchmark: {Path(args.scenario).name}, both arms, one core per run")
    print(f"{versions()}; {os.cpu_count()} CPUs; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    if args.against:
        return against(args, sizes[-1], days)

    # 0. Compile the kernels once (numba caches them on disk), as any earlier run on the machine has.
    t0 = time.perf_counter()
    run_child({"kind": "vectorised", "path": args.scenario, "customers": 1000, "days": 8, "write": False})
    print(f"  compiled kernels ready (a short warm-up run: {time.perf_counter() - t0:.1f} s)")

    # 1. Size sweep: the full model, both arms.
    runs = []
    for n in sizes:
        r = run_child({"kind": "vectorised", "path": args.scenario, "customers": n, "days": days,
                       "write": not args.no_write})
        runs.append(r)
        print(f"  {fmt_n(n)} customers x {days} days: {r['build_s'] + r['run_s']:.1f} s", flush=True)
    rows = []
    for r in runs:
        n, d = r["customers"], r["days"]
        sim = r["build_s"] + r["run_s"]
        row = [fmt_n(n), str(d), f"{r['build_s']:.2f}", f"{r['run_s']:.2f}",
               f"{rate(n, d, r['build_s'] + r['run_s']) / 1e6:.2f}M",
               f"{r['state_bytes'] / n:.0f}", f"{(r['sim_peak_rss'] - r['base_rss']) / n:.0f}",
               f"{r.get('peak_rss', r['sim_peak_rss']) / 2**20:,.0f}"]
        if not args.no_write:
            rw = r["record_s"] + r["write_s"]
            row += [f"{r['record_s']:.2f}", f"{r['write_s']:.2f}", f"{100 * rw / (sim + rw):.1f}%"]
            if r["present_s"] is None:
                row += ["-", "-"]
            else:
                rwp = rw + r["present_s"]
                row += [f"{r['present_s']:.2f}", f"{100 * rwp / (sim + rwp):.1f}%"]
        rows.append(row)
    headers = ["customers", "days", "build s", "run s", "cust-days/s", "state B/cust", "peak B/cust", "peak MiB"]
    if not args.no_write:
        headers += ["record s", "write s", "rec+write", "plots+report s", "with plots"]
    print()
    print(table(headers, rows))

    # 2. Scaling: time against customers, and against days at one size.
    at = args.days_slope_at or max([n for n in sizes if n <= 100_000] or [sizes[0]])
    day_points = sorted({max(1, days // 4), max(1, days // 2), days})
    by_days = []
    for d in day_points:
        same = [r for r in runs if r["customers"] == at and r["days"] == d]
        r = same[0] if same else run_child({"kind": "vectorised", "path": args.scenario, "customers": at,
                                            "days": d, "write": False})
        by_days.append(r)
    s_n = slope([r["customers"] for r in runs], [r["run_s"] for r in runs])
    s_d = slope([r["days"] for r in by_days], [r["run_s"] for r in by_days])
    print()
    print("Scaling (log-log least-squares slope of run time; 1.00 = linear):")
    print(f"  vs customers ({', '.join(fmt_n(r['customers']) for r in runs)} at {days} days): "
          f"{'n/a' if s_n is None else f'{s_n:.2f}'}")
    day_list = ", ".join(str(r["days"]) for r in by_days)
    day_times = ", ".join(f"{r['run_s']:.2f}" for r in by_days)
    print(f"  vs days ({day_list} at {fmt_n(at)} customers; run s {day_times}): "
          f"{'n/a' if s_d is None else f'{s_d:.2f}'}")

    # 3. The floor set by random numbers: drawing the day's uniforms alone, at the largest size.
    big = runs[-1]
    rng = run_child({"kind": "rng", "customers": big["customers"], "days": big["days"]})
    print()
    print(f"Random numbers alone ({rng['streams']} daily streams x {fmt_n(rng['customers'])} customers x "
          f"{rng['days']} days, drawn once for both arms): {rng['rng_s']:.2f} s, "
          f"{100 * rng['rng_s'] / (big['build_s'] + big['run_s']):.0f}% of that size's build + run")

    # 4. Against the per-agent Mesa reference, in the same process, taking turns.
    cmp = None
    if ref[0] != [0]:
        rn, rd = ref[0][0], ref[1] or days
        at = max([n for n in sizes if n <= 1_000_000] or [sizes[0]])
        cmp = run_child({"kind": "reference", "path": args.scenario, "customers": at, "reference_customers": rn,
                         "days": rd, "block": args.block})
        rows = [("reference", "Mesa reference", "reduced", rn), ("same_size", "vectorised", "reduced", rn),
                ("same_rules", "vectorised", "reduced", at), ("full", "vectorised", "full", at)]
        seconds = {k: cmp["build_s"][k] + cmp["run_s"][k] for k in cmp["run_s"]}
        rates = {k: rate(n, rd, seconds[k]) for k, _, _, n in rows}
        # Each turn's ratio (run time only): how steady the comparison was through the run.
        turns = [(at * t["reference"]) / (rn * t["full"]) for t in cmp["blocks"]]
        q1, q2, q3 = statistics.quantiles(turns, n=4, method="inclusive") if len(turns) > 1 else turns * 3
        print()
        print(f"Per-agent Mesa reference (one mesa.Agent per customer) against the vectorised model, {rd} days, "
              f"both arms, in one process taking turns {args.block} days at a time (build + run):")
        print(table(["model", "rules", "customers", "seconds", "cust-days/s", "x reference"], [
            [model, rules, fmt_n(n), f"{seconds[k]:.2f}", f"{rates[k]:,.0f}", f"{rates[k] / rates['reference']:,.0f}"]
            for k, model, rules, n in rows]))
        print(f"  full model x reference per turn of {args.block} days (run time only, {len(turns)} turns): "
              f"median {q2:.0f}, quartiles {q1:.0f}-{q3:.0f}, range {min(turns):.0f}-{max(turns):.0f}")
        cmp["rates"] = rates
    ref_sizes = None
    if args.reference_sizes:
        ns, rs_days = sorted(set(args.reference_sizes[0])), args.reference_sizes[1] or days
        ref_sizes = run_child({"kind": "reference_sizes", "path": args.scenario, "sizes": ns, "days": rs_days,
                               "block": args.block})
        speed = {n: rate(n, rs_days, ref_sizes["run_s"][str(n)]) for n in ns}
        print()
        print(f"Mesa reference alone, {rs_days} days, both arms, sizes taking turns {args.block} days at a time "
              f"(run time only):")
        print(table(["customers", "seconds", "cust-days/s", f"x {fmt_n(ns[0])}"], [
            [fmt_n(n), f"{ref_sizes['run_s'][str(n)]:.2f}", f"{speed[n]:,.0f}", f"{speed[n] / speed[ns[0]]:.2f}"]
            for n in ns]))
    # 5. Where the time goes, function by function.
    prof = None
    profile_days = args.profile if args.profile is not None else (10 if args.quick else 60)
    if profile_days > 0:
        at = max([n for n in sizes if n <= 1_000_000] or [sizes[0]])
        prof = run_child({"kind": "profile", "path": args.scenario, "customers": at, "days": profile_days,
                          "top": 15})
        total = sum(prof["kinds"].values())
        print()
        print(f"Where the time goes (cProfile's own time per function, {fmt_n(at)} customers x {profile_days} "
              f"days after a week's warm-up, {prof['run_s']:.1f} s):")
        print(f"  compiled passes {100 * prof['kinds']['compiled'] / total:.0f}%, numpy and Python in the model's "
              f"functions {100 * prof['kinds']['python'] / total:.0f}%, numpy called directly "
              f"{100 * prof['kinds']['numpy'] / total:.0f}%")
        print(table(["function", "kind", "own s", "share"], [
            [r["function"], r["kind"], f"{r['own_s']:.2f}", f"{100 * r['own_s'] / total:.1f}%"]
            for r in prof["top"]]))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "by_days": by_days, "slope_customers": s_n,
                                               "slope_days": s_d, "rng": rng, "reference": cmp,
                                               "reference_sizes": ref_sizes,
                                               "profile": prof}, indent=2))


if __name__ == "__main__":
    main()
