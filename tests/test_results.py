"""The results folder: every file listed with its checksum, the manifest last, plots and report
rebuilt from the data, comparisons, and loading."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import TINY, copy_run, tiny_comparison, tiny_comparison_folder, tiny_result, tiny_run

from loyaltysim.errors import RunError
from loyaltysim.present.folders import rebuild, write_run
from loyaltysim.present.report import COMPARISON_FIGURES, RUN_FIGURES
from loyaltysim.results.store import load_results
from loyaltysim.runs.compare import COLUMNS, compare

RUN_FILES = {"manifest.json", "scenario.resolved.yaml", "daily.parquet", "summary.csv", "verdict.json",
             "customers.parquet", "report.html"} | {f"plots/{stem}.png" for stem, _, _ in RUN_FIGURES}


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def check_manifest(folder: Path) -> dict:
    """Every file but the manifest is listed with its true checksum and size."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data), name
    return manifest


def test_a_run_folder_holds_data_plots_and_report():
    folder = tiny_run()
    assert files_in(folder) == RUN_FILES
    manifest = check_manifest(folder)
    assert set(manifest["files"]) == RUN_FILES - {"manifest.json"}
    assert manifest["kind"] == "run" and manifest["status"] == "complete"
    for png in folder.glob("plots/*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_manifest_is_written_last():
    folder = tiny_run()
    last = (folder / "manifest.json").stat().st_mtime_ns
    assert all((folder / name).stat().st_mtime_ns <= last for name in RUN_FILES)


def test_the_manifest_names_no_machine_path():
    text = (tiny_run() / "manifest.json").read_text()
    for path in {str(tiny_run()), str(Path.home()), os.getcwd(), "/tmp"}:
        assert path not in text


def test_result_files_are_readable_by_others():
    for name in RUN_FILES:
        assert (tiny_run() / name).stat().st_mode & 0o044 == 0o044 & ~_umask(), name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_no_temporary_file_is_left_behind():
    assert not [p for p in tiny_run().rglob("*") if p.name.endswith(".tmp")]


def test_load_results_gives_back_the_frames():
    loaded = load_results(tiny_run())
    result = tiny_result()
    pd.testing.assert_frame_equal(loaded["summary"], result.summary, check_dtype=False)
    assert loaded["verdict"] == json.loads(json.dumps(result.verdict))
    assert loaded["scenario"]["name"] == "supermarket_points"
    assert len(loaded["daily"]) == len(result.daily)


def test_plots_are_rebuilt_identically_from_the_folder(tmp_path):
    folder = copy_run(tiny_run(), tmp_path)
    before = {p.name: p.read_bytes() for p in (folder / "plots").glob("*.png")}
    for p in (folder / "plots").glob("*.png"):
        p.unlink()
    written = rebuild(folder, plots=True)
    assert sorted(written) == sorted(f"plots/{name}" for name in before)
    assert {p.name: p.read_bytes() for p in (folder / "plots").glob("*.png")} == before
    manifest = check_manifest(folder)
    assert "rebuilt" in manifest and set(manifest["files"]) == RUN_FILES - {"manifest.json"}


def test_the_report_is_rebuilt_and_the_manifest_updated(tmp_path):
    folder = copy_run(tiny_run(), tmp_path)
    (folder / "report.html").unlink()
    assert rebuild(folder, report=True) == ["report.html"]
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")
    check_manifest(folder)


def test_a_csv_run_without_plots_still_loads(tmp_path):
    folder = write_run(tmp_path / "csv", tiny_result(), fmt="csv", plots=False, report=False)
    assert files_in(folder) == {"manifest.json", "scenario.resolved.yaml", "daily.csv", "summary.csv",
                                "verdict.json", "customers.parquet"}
    assert set(load_results(folder)["daily"]["arm"]) == {"scheme", "counterfactual", "difference"}
    rebuild(folder, plots=True, report=True)
    assert (folder / "report.html").exists() and (folder / "plots" / "points.png").exists()
    check_manifest(folder)


# ---------------------------------------------------------------- comparisons

def test_comparison_table_has_the_contract_columns():
    table = tiny_comparison().table
    assert list(table.columns) == COLUMNS
    assert list(dict.fromkeys(table["scenario"])) == ["supermarket_points", "member_pricing"]
    assert set(table["arm"]) == {"scheme", "counterfactual", "difference"}


def test_scenarios_are_compared_on_the_same_seeds():
    results = tiny_comparison().results
    assert {r.scenario.seed for r in results.values()} == {1995}  # the first scenario's seed
    cf = [r.summary.query("arm == 'counterfactual' and segment == 'all'").set_index("metric")["mean"]
          for r in results.values()]
    # Different schemes, but the no-scheme arm of each sees the same customers and the same draws.
    assert cf[0]["visits"] == cf[1]["visits"]


def test_a_scenario_compared_with_itself_differs_by_nothing():
    path = Path(__file__).resolve().parent.parent / "scenarios" / "coalition.yaml"
    table = compare([path, path], **{**TINY, "replications": 1, "days": 30}).table
    a, b = (table[table["scenario"] == s].drop(columns="scenario").reset_index(drop=True)
            for s in ("coalition", "coalition-2"))
    pd.testing.assert_frame_equal(a, b)


def test_compare_needs_two_scenarios():
    with pytest.raises(RunError, match="at least two"):
        compare([tiny_result().scenario])


def test_a_comparison_folder_holds_runs_table_plots_and_report():
    folder = tiny_comparison_folder()
    files = files_in(folder)
    top = {f for f in files if not f.startswith("runs/")}
    assert top == {"manifest.json", "comparison.csv", "report.html"} | {
        f"plots/compare_{m}.png" for m in COMPARISON_FIGURES}
    for label in ("supermarket_points", "member_pricing"):
        assert {f"runs/{label}/{f}" for f in RUN_FILES} <= files
        check_manifest(folder / "runs" / label)
    manifest = check_manifest(folder)
    assert manifest["kind"] == "comparison"
    assert [s["label"] for s in manifest["scenarios"]] == ["supermarket_points", "member_pricing"]
    assert list(pd.read_csv(folder / "comparison.csv").columns) == COLUMNS


def test_a_comparison_folder_loads_and_rebuilds(tmp_path):
    folder = copy_run(tiny_comparison_folder(), tmp_path)
    loaded = load_results(folder)
    assert list(loaded["runs"]) == ["supermarket_points", "member_pricing"]
    assert list(loaded["comparison"].columns) == COLUMNS
    before = (folder / "plots" / "compare_business_roi.png").read_bytes()
    rebuild(folder, plots=True, report=True)
    assert (folder / "plots" / "compare_business_roi.png").read_bytes() == before
    check_manifest(folder)


# ---------------------------------------------------------------- loading problems

def test_loading_problems_are_one_line_run_errors(tmp_path):
    with pytest.raises(RunError, match="no such folder"):
        load_results(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="is a file"):
        load_results(tmp_path / "file")
    with pytest.raises(RunError, match="not a results folder"):
        load_results(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(RunError, match="not a valid manifest"):
        load_results(tmp_path)
    (tmp_path / "manifest.json").write_text('{"files": {"summary.csv": {}}}')
    with pytest.raises(RunError, match="listed in the manifest but missing"):
        load_results(tmp_path)
