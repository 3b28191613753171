"""``loyaltysim report`` and ``loyaltysim plot``: redraw a results folder's report or plots from its data
(each data file is checked against the manifest's checksum first)."""

from __future__ import annotations

from pathlib import Path

from loyaltysim.cli.common import FOLDER_ARG, examples, print_paths, say, user_errors
from loyaltysim.present.folders import rebuild

REPORT_EXAMPLES = examples("loyaltysim report results/supermarket_points/20261207-120000")
PLOT_EXAMPLES = examples("loyaltysim plot results/supermarket_points/20261207-120000")


@user_errors
def report(folder: Path = FOLDER_ARG) -> None:
    """Rebuild report.html of a results folder from its data."""
    rebuild(folder, report=True)
    print_paths(folder)


@user_errors
def plot(folder: Path = FOLDER_ARG) -> None:
    """Redraw the plots (plots/*.png) of a results folder from its data."""
    for name in rebuild(folder, plots=True):
        say(f"{folder / name}")
    print_paths(folder, report=False)
