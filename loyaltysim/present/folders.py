"""A result as a results folder: its data (through :mod:`loyaltysim.results.store`), then its plots and
its self-contained report, then the manifest; and the plots and report drawn again from a folder."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from loyaltysim.errors import RunError
from loyaltysim.present.report import RunView, comparison_figures, comparison_report_html, run_figures, run_report_html
from loyaltysim.results.manifest import MANIFEST
from loyaltysim.results.store import (
    PLOTS, REPORT, Folder, checksums, load_results, now, prepare_folder, run_manifest, versions, write_manifest,
    write_text,
)
from loyaltysim.scenario.loading import scenario_data, scenario_hash

__all__ = ["PLOTS", "REPORT", "rebuild", "write_comparison", "write_run"]


def write_run(out: Path, result, *, fmt: str = "parquet", overrides: list[str] | None = None,
              wall_seconds: float = 0.0, extra_files: dict[str, Path] | None = None,
              plots: bool = True, report: bool = True) -> Path:
    """Write a simulation result into ``out`` in the results-folder layout; the manifest goes last.

    Data files first, then the plots and the report (which embeds the manifest as it stands without
    the report), then ``manifest.json`` listing every file with its checksum.
    """
    folder = Folder(prepare_folder(Path(out)))
    sc = result.scenario
    # Mark the folder partial before anything else: a run killed while writing, or writing over an
    # older run, never leaves a manifest that calls the folder complete.
    write_manifest(folder.out, sc, [], status="partial", overrides=overrides)
    folder.text("scenario.resolved.yaml", yaml.safe_dump(scenario_data(sc), sort_keys=False))
    folder.frame("daily.parquet" if fmt == "parquet" else "daily.csv", result.daily)
    folder.frame("summary.csv", result.summary)
    folder.text("verdict.json", json.dumps(result.verdict, indent=2))
    folder.frame("customers.parquet", result.customers)
    if result.transactions is not None:
        folder.frame("transactions.parquet", result.transactions)
    folder.files += [name for name in (extra_files or {}) if name not in folder.files]

    def manifest() -> dict:
        return run_manifest(folder.out, sc, folder.files, status="complete", overrides=overrides,
                            wall_seconds=wall_seconds)

    if plots or report:
        run = RunView.from_result(result)
        images = run_figures(run)
        if plots:
            folder.images(images)
        if report:
            folder.text(REPORT, run_report_html(run, images, manifest()))
    write_text(folder.out / MANIFEST, json.dumps(manifest(), indent=2))
    return folder.out


def write_comparison(out: Path, comparison, *, fmt: str = "parquet", overrides: list[str] | None = None,
                     wall_seconds: float = 0.0, plots: bool = True, report: bool = True) -> Path:
    """Write a ComparisonResult: a partial manifest, each run under ``runs/<label>/``, then
    ``comparison.csv``, plots, report and, last, the complete manifest."""
    folder = Folder(prepare_folder(Path(out)))
    write_text(folder.out / MANIFEST, json.dumps({"kind": "comparison", "status": "partial", "created": now(),
                                                  "files": {}}, indent=2))
    runs = {}
    for label, result in comparison.results.items():
        sub = f"runs/{label}"
        write_run(folder.out / sub, result, fmt=fmt, overrides=overrides, plots=plots, report=report)
        folder.files.append(f"{sub}/{MANIFEST}")
        runs[label] = RunView.from_result(result)
    folder.frame("comparison.csv", comparison.table)
    images = comparison_figures(comparison.table) if plots or report else {}
    if plots:
        folder.images(images)
    entries = [{"label": label, "scenario": r.scenario.name, "scenario_hash": scenario_hash(r.scenario),
                "seed": r.scenario.seed, "replications": r.scenario.replications,
                "customers": r.scenario.customers, "days": r.scenario.days, "folder": f"runs/{label}"}
               for label, r in comparison.results.items()]

    def manifest() -> dict:
        return {
            "kind": "comparison", "status": "complete", "created": now(), "versions": versions(),
            "seed": comparison.seed, "scenarios": entries, "overrides": list(overrides or []),
            "wall_seconds": round(wall_seconds, 3), "files": checksums(folder.out, folder.files),
        }

    if report:
        folder.text(REPORT, comparison_report_html(comparison.table, runs, images, manifest()))
    write_text(folder.out / MANIFEST, json.dumps(manifest(), indent=2))
    return folder.out


def rebuild(folder: str | Path, *, plots: bool = False, report: bool = False) -> list[str]:
    """Redraw the plots and/or the report of a results folder from its data; update its manifest.

    Returns the files written. Works on run folders and comparison folders alike.
    """
    folder = Path(folder)
    loaded = load_results(folder)
    manifest = loaded["manifest"]
    written = Folder(prepare_folder(folder))
    if manifest.get("kind") == "comparison":
        runs = {label: _view(sub, folder / "runs" / label) for label, sub in loaded["runs"].items()}
        table = loaded["comparison"]
        images = comparison_figures(table)
        if plots:
            written.images(images)
        if report:
            written.text(REPORT, comparison_report_html(table, runs, images, manifest))
    else:
        run = _view(loaded, folder)
        images = run_figures(run)
        if plots:
            written.images(images)
        if report:
            written.text(REPORT, run_report_html(run, images, manifest))
    files = list(manifest["files"]) + [f for f in written.files if f not in manifest["files"]]
    manifest = {**manifest, "rebuilt": now(), "files": checksums(folder, files)}
    write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
    return written.files


def _view(loaded: dict, folder: Path) -> RunView:
    missing = [k for k in ("daily", "summary", "verdict") if k not in loaded]
    if missing:
        raise RunError(f"{folder}: cannot draw without {', '.join(missing)} (the run may be incomplete)")
    return RunView.from_loaded(loaded)
