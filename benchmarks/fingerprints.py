"""Fingerprints of every shipped scenario's results, to hold a refactoring to bit-identical numbers.

Runs each shipped scenario at 5,000 customers x 120 days, 2 replications (serially), and prints one
line per scenario: the SHA-256 of its ``summary`` and of its ``daily`` frame, hashed by value (so the
Parquet writer's version does not matter). ``--write FILE`` saves them, and one hash per metric, as
JSON; ``--check FILE`` compares with a saved set metric by metric and exits 1 on any difference, naming
the scenarios and metrics that differ. A metric only one side has (a new one) is listed, not a difference.

    python benchmarks/fingerprints.py --write before.json     # on the old code
    python benchmarks/fingerprints.py --check before.json     # on the new code
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import pandas as pd

import loyaltysim

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SIZE = {"customers": 5_000, "days": 120, "replications": 2}


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns, index and values (exact: floats by their bits)."""
    h = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def by_metric(result) -> dict[str, str]:
    """One fingerprint per metric: its summary rows and its daily column (keyed by replicate, arm, day, segment)."""
    keys = ["replicate", "arm", "day", "segment"]
    out = {}
    for metric, rows in result.summary.groupby("metric", sort=True):
        daily = result.daily[keys + [metric]] if metric in result.daily.columns else None
        out[metric] = fingerprint(rows.reset_index(drop=True)) + (fingerprint(daily) if daily is not None else "")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="save the fingerprints to this JSON file")
    parser.add_argument("--check", type=Path, help="compare with fingerprints saved by --write")
    parser.add_argument("--only", nargs="*", help="scenario names (default: every shipped scenario)")
    args = parser.parse_args(argv)
    names = args.only or sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
    prints = {}
    for name in names:
        start = time.perf_counter()
        r = loyaltysim.simulate(SCENARIOS / f"{name}.yaml", **SIZE)
        prints[name] = {"summary": fingerprint(r.summary), "daily": fingerprint(r.daily), "metrics": by_metric(r)}
        print(f"{name:<20} summary {prints[name]['summary'][:16]}  daily {prints[name]['daily'][:16]}  "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    if args.write:
        args.write.write_text(json.dumps(prints, indent=2) + "\n")
    if args.check:
        saved = json.loads(args.check.read_text())
        differ = []
        for n in names:
            old, new = saved.get(n, {}).get("metrics", {}), prints[n]["metrics"]
            changed = sorted(m for m in old.keys() & new.keys() if old[m] != new[m])
            added, gone = sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())
            if changed or gone or not old:
                differ.append(f"{n} ({', '.join(changed + gone) or 'no saved metrics'})")
            if added:
                print(f"{n}: new metrics {', '.join(added)}")
        print("identical" if not differ else f"differ: {'; '.join(differ)}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
