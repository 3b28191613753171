"""``loyaltysim evidence``: the model checked against published findings, written as a folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from loyaltysim.cli.common import OVERWRITE_OPT, QUIET_OPT, WORKERS_OPT, console, err_console, examples, say, user_errors
from loyaltysim.engine.kernel_cache import kernels_compiled, mark_kernels_compiled
from loyaltysim.evidence.findings import FINDINGS
from loyaltysim.evidence.page import band_text, estimate_text, short_text
from loyaltysim.evidence.run import claim_evidence_folder, measure_evidence, plan_evidence, write_evidence_folder
from loyaltysim.runs.executors import make_executor

EVIDENCE_EXAMPLES = examples(
    "loyaltysim evidence",
    "loyaltysim evidence --quick --out /tmp/evidence",
    "loyaltysim evidence --only incentive_sales,self_selection --replications 4 --out evidence/sales",
)


@user_errors
def evidence(
    out: Path = typer.Option(Path("evidence"), "--out", metavar="FOLDER",
                             help="Folder for evidence.csv and evidence.html, new or empty."),
    customers: Optional[int] = typer.Option(None, "--customers", metavar="N",
                                            help="Customers in every evidence scenario (default: each its own)."),
    replications: Optional[int] = typer.Option(None, "--replications", metavar="N",
                                               help="Replications of each scenario, at least 2 (default 8; 2 "
                                                    "with --quick)."),
    quick: bool = typer.Option(False, "--quick", show_default=False,
                               help="Small sizes for a smoke run (the intervals are then wide)."),
    only: List[str] = typer.Option([], "--only", metavar="ID[,ID...]", show_default=False,
                                   help=f"Check only these findings (repeatable): {', '.join(FINDINGS)}."),
    overwrite: bool = OVERWRITE_OPT,
    quiet: bool = QUIET_OPT,
    workers: Optional[int] = WORKERS_OPT,
) -> None:
    """Check the model against published findings: the model's figure with its 95% interval beside the
    published figure, its source and band, for each finding; writes evidence.csv and evidence.html."""
    plan = plan_evidence(only, customers=customers, replications=replications, quick=quick)
    dest = claim_evidence_folder(out, overwrite=overwrite)
    try:
        say(plan.describe())
        compiling = not kernels_compiled()
        if compiling:
            say("compiling kernels (first run only, about 30 s)", err=True)
        kind = "serial" if workers == 1 else "local"
        with make_executor(kind, workers=None if workers == 1 else workers) as ex, \
                Progress(TextColumn("evidence"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                         console=err_console, disable=quiet or not sys.stderr.isatty()) as bar:
            task = bar.add_task("runs", total=plan.runs)
            result = measure_evidence(plan, executor=ex, progress=lambda n: bar.advance(task, n))
        if compiling:
            mark_kernels_compiled()
        write_evidence_folder(dest.path, result)
        folder = dest.commit()
    finally:
        dest.discard()
    print_evidence(result)
    say(f"page: {folder / 'evidence.html'}")
    say(f"results: {folder}")


def print_evidence(result) -> None:
    """The findings table: model figure (mean ± 95% half-width), published figure, band, in or out."""
    t = result.table
    table = Table(title=f"the model against published findings, mean ± 95% CI over {result.plan.replications} "
                        f"replications ({result.wall_seconds:.0f} s)", title_justify="left")
    table.add_column("finding", no_wrap=True)
    table.add_column("model", justify="right", overflow="fold")
    table.add_column("published", justify="right", overflow="fold")
    table.add_column("band", justify="right", overflow="fold")
    table.add_column("in band", no_wrap=True)
    table.add_column("source", overflow="fold")
    for _, r in t.iterrows():
        f = FINDINGS[r["id"]]
        published = f.published_short or short_text(r["published"], r["unit"])
        band = band_text(r["band_low"], r["band_high"], r["unit"]) + (" *" if r["band_proposed"] else "")
        inside = "-" if pd.isna(r["in_band"]) else ("yes" if r["in_band"] else "NO")
        table.add_row(r["id"], estimate_text(r["model"], r["ci_low"], r["ci_high"], r["unit"]), published, band,
                      inside, f.cite)
    console.print(table)
    say(f"{int(t['in_band'].fillna(False).sum())} of {len(t)} model figures inside their bands; * a band proposed "
        "for this check, not published (evidence.html says each band's basis and the full sources)")


__all__ = ["EVIDENCE_EXAMPLES", "evidence", "print_evidence"]
