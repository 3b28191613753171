"""Tiny runs shared by the results, report, plotting and CLI tests (made once per test session).

Tests must not change these folders: copy one (``copy_run``) before rebuilding or breaking it.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from loyaltysim.present.folders import write_comparison, write_run
from loyaltysim.runs.compare import compare
from loyaltysim.runs.simulate import simulate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TINY = {"customers": 300, "days": 60, "replications": 2}
"""Small enough to run in about a second, large enough for every metric to move."""

_ROOT = Path(tempfile.mkdtemp(prefix="loyaltysim-tests-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


@functools.cache
def tiny_result(name: str = "supermarket_points"):
    """A shipped scenario simulated at the tiny size."""
    return simulate(SCENARIOS / f"{name}.yaml", **TINY)


@functools.cache
def tiny_run() -> Path:
    """The tiny supermarket run written as a results folder."""
    return write_run(_ROOT / "run", tiny_result())


@functools.cache
def tiny_comparison():
    """The supermarket points card against member pricing, tiny, on the same seeds."""
    return compare([SCENARIOS / "supermarket_points.yaml", SCENARIOS / "member_pricing.yaml"], **TINY)


@functools.cache
def tiny_comparison_folder() -> Path:
    return write_comparison(_ROOT / "compare", tiny_comparison())


def copy_run(folder: Path, to: Path) -> Path:
    """A private copy of a shared folder."""
    return Path(shutil.copytree(folder, to / folder.name))
