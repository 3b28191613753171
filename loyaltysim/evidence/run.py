"""Running the evidence scenarios, summarising each finding's statistic over replications, and writing
the evidence folder (``evidence.csv``, ``evidence_replicates.csv``, ``evidence.html``, ``manifest.json``).

A unit of work is one replicate of one evidence scenario, both arms; it returns the statistics its
findings need, so workers send back a few numbers. A finding's figure is the mean over replications of
its per-replicate value, with a 95% t-interval.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loyaltysim.errors import RunError
from loyaltysim.evidence.findings import FINDINGS, SCENARIOS, Finding
from loyaltysim.evidence.observe import simulate_replicate
from loyaltysim.evidence.statistics import MEASURES, ratio
from loyaltysim.results.manifest import MANIFEST
from loyaltysim.results.store import Destination, Folder, claim_folder, now, versions, write_text
from loyaltysim.results.summary import mean_interval
from loyaltysim.scenario.loading import load_scenario, scenario_hash
from loyaltysim.scenario.models import Scenario
from loyaltysim.scenario.shipped import resolve

__all__ = ["Evidence", "Plan", "claim_evidence_folder", "measure_evidence", "plan_evidence", "run_evidence",
           "summarise_evidence", "write_evidence", "write_evidence_folder"]

REPLICATIONS, QUICK_REPLICATIONS = 8, 2
"""Replications at the default sizes, and in a smoke run (``quick``)."""
MIN_CUSTOMERS = 200
"""Fewer customers leave some statistics with nobody to compute them from (terciles of members, joiners
of the first quarter, completed stamp cards)."""
KIND = "evidence"
"""The manifest's ``kind`` of an evidence folder."""
FILES = ("evidence.csv", "evidence_replicates.csv", "evidence.html")
COLUMNS = ["id", "finding", "statistic", "unit", "model", "ci_low", "ci_high", "replications", "published",
           "published_text", "band_low", "band_high", "band_basis", "band_proposed", "in_band", "source",
           "scenarios"]
"""The summary table's columns (``evidence.csv``)."""


@dataclass(frozen=True)
class Plan:
    """What an evidence run will do: the findings, the sized scenarios they need, replications."""

    findings: tuple[str, ...]
    scenarios: dict[str, Scenario]
    replications: int
    quick: bool

    @property
    def runs(self) -> int:
        """Units of work: replicates of scenarios, each both arms."""
        return len(self.scenarios) * self.replications

    @property
    def customer_days(self) -> int:
        """Customers x days summed over every run (each run simulates both arms of them)."""
        return sum(sc.customers * sc.days for sc in self.scenarios.values()) * self.replications

    def describe(self) -> str:
        """One line: what will run and what it costs."""
        sizes = ", ".join(f"{name} {sc.customers:,} x {sc.days}" for name, sc in self.scenarios.items())
        findings, scenarios = _count(len(self.findings), "finding"), _count(len(self.scenarios), "scenario")
        return (f"evidence: {findings} from {scenarios} x {self.replications} "
                f"replications = {self.runs} runs, {self.customer_days:,} customer-days, both arms "
                f"(customers x days: {sizes})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class Evidence:
    """An evidence run's results."""

    table: pd.DataFrame            # one row per finding (COLUMNS)
    replicates: pd.DataFrame       # finding, replicate, value: each finding's per-replicate figure
    plan: Plan
    wall_seconds: float = 0.0
    created: str = field(default_factory=now)


def _ids(only: Iterable[str] | None) -> tuple[str, ...]:
    if not only:
        return tuple(FINDINGS)
    wanted = [part.strip() for item in only for part in str(item).split(",") if part.strip()]
    unknown = [i for i in wanted if i not in FINDINGS]
    if unknown:
        raise RunError(f"--only: '{unknown[0]}' is not a finding (allowed: {', '.join(FINDINGS)})")
    if not wanted:
        raise RunError(f"--only: name at least one finding (allowed: {', '.join(FINDINGS)})")
    return tuple(i for i in FINDINGS if i in wanted)


def plan_evidence(only: Iterable[str] | None = None, *, customers: int | None = None,
                  replications: int | None = None, quick: bool = False) -> Plan:
    """Check the options and size the scenarios the chosen findings need (every finding by default).

    ``customers`` replaces every scenario's own size; ``quick`` uses the smoke-run sizes.
    """
    if customers is not None and (isinstance(customers, bool) or not isinstance(customers, (int, np.integer))
                                  or customers < MIN_CUSTOMERS):
        raise RunError(f"--customers: must be a whole number of at least {MIN_CUSTOMERS:,}, so that every statistic "
                       f"has customers to compute it from (got {customers})")
    if replications is not None and (isinstance(replications, bool)
                                     or not isinstance(replications, (int, np.integer)) or replications < 2):
        raise RunError(f"--replications: must be a whole number of at least 2, as a 95% interval needs two "
                       f"(got {replications})")
    ids = _ids(only)
    reps = replications or (QUICK_REPLICATIONS if quick else REPLICATIONS)
    needed = dict.fromkeys(s for i in ids for s in FINDINGS[i].scenarios)
    scenarios = {}
    for name in needed:
        spec = SCENARIOS[name]
        n = customers or (spec.quick_customers if quick else spec.customers)
        scenarios[name] = _sized(spec.base, spec.overrides, n, reps)
    return Plan(ids, scenarios, reps, quick)


def _sized(base: str, overrides: dict, customers: int, replications: int) -> Scenario:
    """A scenario at evidence sizes. A fixed yearly cost is scaled with the customers, so that a run of
    another size keeps the scheme's cost per customer (and its cost as a share of sales) as shipped."""
    shipped = load_scenario(resolve(base), overrides)
    sizes: dict[str, Any] = {"customers": customers, "replications": replications}
    if shipped.scheme.costs.fixed_per_year > 0:
        sizes["scheme.costs.fixed_per_year"] = shipped.scheme.costs.fixed_per_year * customers / shipped.customers
    return load_scenario(resolve(base), {**overrides, **sizes})


def _measure_unit(scenario: Scenario, replicate: int, transactions: bool, measures: tuple[str, ...]) -> dict:
    """One unit of work: a replicate of an evidence scenario, and the statistics asked of it."""
    rep = simulate_replicate(scenario, replicate, transactions=transactions)
    return {m: MEASURES[m](rep) for m in measures}


def measure_evidence(plan: Plan, *, executor=None, progress: Callable[[int], Any] | None = None) -> Evidence:
    """Run every replicate of the plan's scenarios and summarise the findings.

    ``executor`` is anything with ``map(fn, args, on_done)`` (``loyaltysim.runs.executors``; None runs
    them here, one after another); ``progress(1)`` is called as each run completes.
    """
    start = time.perf_counter()
    asked: dict[str, list[str]] = {name: [] for name in plan.scenarios}
    for i in plan.findings:
        for scenario, measure in FINDINGS[i].measures:
            if measure not in asked[scenario]:
                asked[scenario].append(measure)
    keys = [(name, r) for name, sc in plan.scenarios.items() for r in range(plan.replications)]
    # Biggest runs first, so that workers finish together.
    keys.sort(key=lambda k: -plan.scenarios[k[0]].customers * plan.scenarios[k[0]].days)
    units = [(plan.scenarios[name], r, SCENARIOS[name].transactions, tuple(asked[name])) for name, r in keys]
    if executor is None:
        values = []
        for unit in units:
            values.append(_measure_unit(*unit))
            if progress is not None:
                progress(1)
    else:
        values = executor.map(_measure_unit, units, on_done=(lambda i: progress(1)) if progress else None)
    measured = {key: v for key, v in zip(keys, values)}
    replicates = _per_replicate(plan, measured)
    return Evidence(summarise_evidence(replicates, plan.findings), replicates, plan,
                    wall_seconds=time.perf_counter() - start)


def combine(finding: Finding, values: list[float]) -> float:
    """A finding's figure from its measures' values (in the order it names them)."""
    if finding.combine == "ratio":
        return ratio(values[0], values[1])
    if finding.combine == "drop":  # the share of the first figure that is gone in the second
        return 1.0 - ratio(values[1], values[0])
    return float(values[0])


def _per_replicate(plan: Plan, measured: dict) -> pd.DataFrame:
    rows = []
    for i in plan.findings:
        f = FINDINGS[i]
        for r in range(plan.replications):
            values = [measured[(s, r)][m] for s, m in f.measures]
            rows.append((i, r, combine(f, values)))
    return pd.DataFrame(rows, columns=["id", "replicate", "value"])


def summarise_evidence(replicates: pd.DataFrame, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per finding: the mean of its per-replicate values (``replicates``: id, replicate, value) with
    a 95% t-interval, beside the published figure, the band and whether the mean is inside it."""
    rows = []
    for i in (ids or list(dict.fromkeys(replicates["id"]))):
        f = FINDINGS[i]
        x = replicates.loc[replicates["id"] == i, "value"].to_numpy(float)
        mean, lo, hi, n = mean_interval(x)
        low, high = f.band
        inside = pd.NA if not np.isfinite(mean) else bool(low <= mean <= high)
        rows.append({
            "id": i, "finding": f.finding, "statistic": f.statistic, "unit": f.unit, "model": mean,
            "ci_low": lo, "ci_high": hi, "replications": n,
            "published": np.nan if f.published is None else f.published, "published_text": f.published_text,
            "band_low": low, "band_high": high, "band_basis": f.band_basis, "band_proposed": f.proposed,
            "in_band": inside, "source": f.source, "scenarios": " ".join(f.scenarios),
        })
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["in_band"] = out["in_band"].astype("boolean")
    return out


def run_evidence(only: Iterable[str] | None = None, *, customers: int | None = None,
                 replications: int | None = None, quick: bool = False, executor=None,
                 progress: Callable[[int], Any] | None = None) -> pd.DataFrame:
    """Check the model against the published findings: one row per finding with the model's figure,
    its 95% interval over replications, the published figure, the band and whether the figure is in it.

    ``only`` names findings (ids of ``loyaltysim.evidence.FINDINGS``; default all); ``quick`` runs the
    small smoke-run sizes. See :func:`measure_evidence` for ``executor`` and ``progress``.
    """
    plan = plan_evidence(only, customers=customers, replications=replications, quick=quick)
    return measure_evidence(plan, executor=executor, progress=progress).table


# ---------------------------------------------------------------- the evidence folder

def _is_evidence_folder(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == KIND


def claim_evidence_folder(out: str | Path, *, overwrite: bool = False) -> Destination:
    """Check ``--out`` before any work starts, as ``loyaltysim run`` does (:func:`claim_folder`): with
    ``overwrite``, only an earlier evidence folder is replaced, once the new one is complete."""
    return claim_folder(Path(out), overwrite=overwrite, ours=_is_evidence_folder,
                        holds="a loyaltysim evidence run", kind="an evidence folder")


def _manifest(evidence: Evidence, status: str) -> dict:
    plan = evidence.plan
    return {
        "kind": KIND, "status": status, "created": evidence.created, "versions": versions(),
        "findings": list(plan.findings), "replications": plan.replications, "quick": plan.quick,
        "scenarios": {name: {"base": SCENARIOS[name].base, "overrides": SCENARIOS[name].overrides,
                             "customers": sc.customers, "days": sc.days, "seed": sc.seed,
                             "scenario_hash": scenario_hash(sc)} for name, sc in plan.scenarios.items()},
        "customer_days": plan.customer_days, "wall_seconds": round(evidence.wall_seconds, 3),
    }


def write_evidence_folder(folder: Path, evidence: Evidence) -> None:
    """Write the evidence files into ``folder`` (claimed: new or empty), the manifest marked partial
    first and complete, with every file's checksum, last."""
    from loyaltysim.evidence.page import (
        evidence_page,  # the page draws with matplotlib: only when writing
    )

    folder = Path(folder)
    write_text(folder / MANIFEST, json.dumps({**_manifest(evidence, "partial"), "files": {}}, indent=2))
    f = Folder(folder)
    f.frame("evidence.csv", evidence.table)
    f.frame("evidence_replicates.csv", evidence.replicates)
    f.text("evidence.html", evidence_page(evidence))
    f.seal(_manifest(evidence, "complete"))


def write_evidence(evidence: Evidence, out: str | Path = "evidence", *, overwrite: bool = False) -> Path:
    """Write an evidence run into the folder ``out`` (see :func:`claim_evidence_folder`); return it."""
    dest = claim_evidence_folder(out, overwrite=overwrite)
    try:
        write_evidence_folder(dest.path, evidence)
        return dest.commit()
    finally:
        dest.discard()
