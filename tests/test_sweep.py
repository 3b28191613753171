"""Sweeps: designs, run keys, the same numbers on every executor (serial, local processes at 1 and 2
workers, a real Dask cluster), resuming after a killed process, Ctrl-C, and refusing a changed design."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import wait_for_group_to_end
from tiny_runs import SCENARIOS
from typer.testing import CliRunner

from loyaltysim.cli import app
from loyaltysim.errors import RunError, ScenarioError
from loyaltysim.results.store import load_results, sha256
from loyaltysim.runs.executors import DaskExecutor, LocalExecutor, SerialExecutor
from loyaltysim.runs.sweep import KPIS, completed_run, load_sweep, run_key, run_sweep
from loyaltysim.scenario.loading import load_scenario, scenario_hash

SCENARIO = SCENARIOS / "supermarket_points.yaml"
BASE = ["customers=300", "days=40", "scheme.costs.fixed_per_year=0"]
VARY = ["scheme.points.earn_per_unit=0.5,2", "scheme.offers.discount=0.1,0.3"]
REPS = 2
RUNS = 4 * REPS
WAIT = 60.0
"""Upper bound, in seconds, on any wait for a process in these tests."""


def small_plan(**kw):
    return load_sweep(SCENARIO, BASE, vary=VARY, replications=REPS, **kw)


def quick(plan, out, **kw):
    """A sweep without plots and report (the CLI test draws them)."""
    return run_sweep(plan, out, plots=False, report=False, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small sweep run serially, never interrupted."""
    return quick(small_plan(), tmp_path_factory.mktemp("serial") / "sweep", executor=SerialExecutor())


def same_numbers(folder: Path, reference) -> None:
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "index.parquet"), reference.index, check_exact=True)


# ---------------------------------------------------------------- designs and keys

def test_grid_points_in_order_with_every_combination():
    plan = small_plan()
    assert plan.factors == ["scheme.points.earn_per_unit", "scheme.offers.discount"]
    assert [tuple(p.parameters.values()) for p in plan.points] == [(0.5, 0.1), (0.5, 0.3), (2, 0.1), (2, 0.3)]
    assert [p.scenario.scheme.points.earn_per_unit for p in plan.points] == [0.5, 0.5, 2, 2]
    assert [(u[0], u[1]) for u in plan.units] == [(p, r) for p in range(4) for r in range(REPS)]


def test_one_at_a_time_starts_from_the_scenario_and_skips_its_own_values():
    plan = load_sweep(SCENARIO, BASE, vary=["scheme.points.earn_per_unit=0.5,1,2", "scheme.offers.discount=0.1,0.3"],
                      kind="one_at_a_time")
    base = {"scheme.points.earn_per_unit": 1.0, "scheme.offers.discount": 0.15}
    assert plan.reference == base
    assert [p.parameters for p in plan.points] == [
        base, {**base, "scheme.points.earn_per_unit": 0.5}, {**base, "scheme.points.earn_per_unit": 2},
        {**base, "scheme.offers.discount": 0.1}, {**base, "scheme.offers.discount": 0.3}]


def test_sweep_section_of_a_scenario_file(tmp_path):
    text = SCENARIO.read_text() + ("sweep:\n  kind: list\n  replications: 4\n  points:\n"
                                   "    - {scheme.points.earn_per_unit: 2}\n"
                                   "    - {scheme.points.earn_per_unit: 0.5, scheme.offers.discount: 0.3}\n")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    plan = load_sweep(path, BASE)
    assert plan.replications == 4 and plan.base.replications == 3
    assert [p.parameters for p in plan.points] == [
        {"scheme.points.earn_per_unit": 2, "scheme.offers.discount": 0.15},
        {"scheme.points.earn_per_unit": 0.5, "scheme.offers.discount": 0.3}]
    # --vary replaces the file's design; --replications overrides both.
    plan = load_sweep(path, BASE, vary=["days=30,40"], replications=2)
    assert [p.scenario.days for p in plan.points] == [30, 40] and plan.replications == 2
    # Other commands run the scenario itself: the section is checked but leaves the scenario unchanged.
    assert load_scenario(path).sweep.resolved_kind == "list"
    assert scenario_hash(load_scenario(path)) == scenario_hash(load_scenario(SCENARIO))
    path.write_text(text.replace("kind: list", "kind: lists"))
    with pytest.raises(ScenarioError, match=r"sweep\.kind"):
        load_scenario(path)


def test_run_keys_follow_parameters_replicate_and_seed_only():
    plan = small_plan()
    keys = [k for _, _, k in plan.units]
    assert len(set(keys)) == len(keys)
    sc = plan.points[0].scenario
    assert run_key(sc, 1) == run_key(sc.model_copy(update={"replications": 9}), 1)  # a replicate ignores R
    assert run_key(sc, 1) != run_key(sc, 0)
    assert run_key(sc, 1) != run_key(sc.model_copy(update={"seed": sc.seed + 1}), 1)
    assert keys == [k for _, _, k in small_plan().units]  # stable


@pytest.mark.parametrize("vary, message", [
    (["seed=1,2"], "--vary: 'seed' cannot vary in a sweep"),
    (["replications=2,3"], "--vary: 'replications' cannot vary in a sweep"),
    (["scheme.offers.discount=0,0.1"], "sweep point 0 (scheme.offers.discount=0): scheme.offers.discount: "
                                        "Input should be greater than 0 (got 0)"),
    (["scheme.points.earn_per_uni=1,2"], "sweep point 0 (scheme.points.earn_per_uni=1): scheme.points.earn_per_uni: "
                                         "'earn_per_uni' is not a field; did you mean 'earn_per_unit'?"),
    (["days=30,30"], "--vary: vary.days lists 30 twice"),
    (["days="], "--vary: days: has no values"),
    (["days"], "--vary: 'days' is not key.path=v1,v2,..."),
])
def test_bad_designs_are_one_line_errors(vary, message):
    with pytest.raises(ScenarioError) as err:
        load_sweep(SCENARIO, BASE, vary=vary)
    assert str(err.value).startswith(message)


def test_bad_sweep_section_names_its_line(tmp_path):
    text = SCENARIO.read_text()
    path = tmp_path / "s.yaml"
    path.write_text(text + "sweep:\n  vary: {days: [30, 40]}\n  replicates: 3\n")
    line = text.count("\n") + 3
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    assert str(err.value) == (f"{path}:{line}: sweep.replicates: 'replicates' is not a field "
                              "(allowed: kind, vary, points, replications)")
    with pytest.raises(ScenarioError, match="nothing to sweep"):
        load_sweep(SCENARIO)


def test_the_scenario_file_is_read_as_load_scenario_reads_it(tmp_path):
    with pytest.raises(ScenarioError) as err:
        load_sweep(tmp_path / "missing.yaml", vary=["days=30,40"])
    assert str(err.value) == f"{tmp_path / 'missing.yaml'}: file not found"
    with pytest.raises(ScenarioError) as err:  # a problem in the base scenario is blamed on its --set
        load_sweep(SCENARIO, ["customers=0"], vary=["days=30,40"])
    assert str(err.value).startswith("--set customers=0: customers: Input should be greater than or equal to 1")


def test_vary_values_are_yaml_and_brackets_keep_lists_whole():
    plan = load_sweep(SCENARIO, BASE, vary=["scheme.data.requested=[transactions],[transactions, demographics]"])
    assert [p.parameters["scheme.data.requested"] for p in plan.points] == [
        ["transactions"], ["transactions", "demographics"]]


# ---------------------------------------------------------------- the same numbers on every executor

def test_serial_sweep_writes_index_summary_and_complete_runs(reference):
    index, out = reference.index, reference.folder
    assert len(index) == RUNS and reference.computed == RUNS and reference.reused == 0
    assert list(index.columns) == ["point", "replicate", "key", "seed", *small_plan().factors, *KPIS]
    assert index[list(KPIS)].notna().all().all()
    # Replicate r shares its seed at every point; points differ.
    assert (index["seed"] == small_plan().base.seed).all()
    assert index.groupby("point")["business_roi"].mean().nunique() == 4
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 4 * len(KPIS) and (summary["n"] == REPS).all()
    for _, row in index.iterrows():
        folder = out / "runs" / row["key"]
        manifest = completed_run(folder, row["key"], small_plan().points[row["point"]].scenario_hash, row["replicate"])
        assert manifest is not None and manifest["kpis"]["business_roi"] == row["business_roi"]
        daily = pd.read_parquet(folder / "daily.parquet")
        assert set(daily["arm"]) == {"scheme", "counterfactual", "difference"} and set(daily["replicate"]) == {row["replicate"]}
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("workers", [1, 2])
def test_local_processes_give_identical_numbers(reference, tmp_path, workers):
    with LocalExecutor(workers) as ex:
        result = quick(small_plan(), tmp_path / "sweep", executor=ex)
    assert result.computed == RUNS
    same_numbers(tmp_path / "sweep", reference)


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """A real cluster: a `dask scheduler` and a `dask worker` (two single-threaded worker processes)
    started as subprocesses on 127.0.0.1, stopped at the end. Yields the scheduler's address."""
    pytest.importorskip("distributed", reason="Dask is not installed (pip install 'loyaltysim[dask]')")
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> None:
        with open(folder / f"{args[0]}.log", "ab") as log:  # the child keeps its own copy of the handle
            # `python -m dask` is the `dask` command of this environment.
            procs.append(subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=folder, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(info))
        deadline = time.monotonic() + WAIT
        address = None
        while address is None:
            if procs[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail("dask scheduler did not start: " + (folder / "scheduler.log").read_text()[-2000:])
            try:
                address = json.loads(info.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        start("worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
              "--local-directory", str(folder), "--death-timeout", str(int(WAIT)))
        yield address
    finally:
        _stop_groups(procs)


def _stop_groups(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        with _gone():
            os.killpg(p.pid, signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with _gone():
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=20)


def _gone():
    import contextlib

    return contextlib.suppress(ProcessLookupError, PermissionError)


def test_dask_cluster_gives_identical_numbers(reference, tmp_path, dask_scheduler):
    with DaskExecutor(dask_scheduler, timeout=WAIT) as ex:
        assert ex.map(pow, [(2, 3), (3, 2), (5, 1)]) == [8, 9, 5]  # input order
        result = quick(small_plan(), tmp_path / "sweep", executor=ex)
    assert result.computed == RUNS
    same_numbers(tmp_path / "sweep", reference)


# ---------------------------------------------------------------- interruptions and resuming

SUBPROCESS_SWEEP = """
import sys
from loyaltysim.runs.sweep import load_sweep, run_sweep
plan = load_sweep(sys.argv[1], {base!r}, vary={vary!r}, replications={reps})
run_sweep(plan, sys.argv[2], plots=False, report=False)
"""


def _finished_runs(out: Path) -> list[Path]:
    runs = out / "runs"
    return [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.exists() else []


def test_killed_sweep_resumes_to_the_same_numbers(reference, tmp_path):
    out = tmp_path / "sweep"
    code = SUBPROCESS_SWEEP.format(base=BASE, vary=VARY, reps=REPS)
    p = subprocess.Popen([sys.executable, "-c", code, str(SCENARIO), str(out)], start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WAIT
        while len(_finished_runs(out)) < 2:
            assert p.poll() is None, p.stdout.read().decode()
            assert time.monotonic() < deadline, "the sweep did not get going"
            time.sleep(0.01)
        os.killpg(p.pid, signal.SIGKILL)
    finally:
        with _gone():
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=WAIT)
    finished = _finished_runs(out)
    assert 2 <= len(finished) < RUNS and not (out / "index.parquet").exists()
    # Whatever the kill interrupted, every folder with a run's name is a complete run.
    plan = small_plan()
    units = {k: (pt, r) for pt, r, k in plan.units}
    for folder in finished:
        pt, r = units[folder.name]
        assert completed_run(folder, folder.name, plan.points[pt].scenario_hash, r) is not None
    result = quick(plan, out, resume=True)
    assert (result.computed, result.reused) == (RUNS - len(finished), len(finished))
    same_numbers(out, reference)
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]


def test_resume_recomputes_corrupt_and_unfinished_runs(reference, tmp_path):
    out = Path(shutil.copytree(reference.folder, tmp_path / "sweep"))
    keys = list(reference.index["key"])
    with open(out / "runs" / keys[0] / "daily.parquet", "ab") as f:  # damaged after it was written
        f.write(b"\0")
    (out / "runs" / keys[3] / "manifest.json").unlink()              # never finished
    tmp = out / "runs" / f".tmp-{keys[5]}-x"                          # a half-written run
    tmp.mkdir()
    (tmp / "daily.parquet").write_bytes(b"partial")
    result = quick(small_plan(), out, resume=True)
    assert (result.computed, result.reused, result.discarded) == (2, RUNS - 2, 2)
    same_numbers(out, reference)
    assert not tmp.exists()


def test_resume_refuses_a_changed_design_and_a_used_folder_needs_resume(reference, tmp_path):
    out = Path(shutil.copytree(reference.folder, tmp_path / "sweep"))
    with pytest.raises(RunError, match="already holds a sweep"):
        quick(small_plan(), out)
    cases = [
        (load_sweep(SCENARIO, BASE, vary=["scheme.points.earn_per_unit=0.5,3", VARY[1]], replications=REPS),
         "sweep.vary.scheme.points.earn_per_unit was [0.5,2], now [0.5,3]"),
        (load_sweep(SCENARIO, BASE, vary=VARY, replications=3), "replications was 2, now 3"),
        (load_sweep(SCENARIO, BASE + ["days=50"], vary=VARY, replications=REPS), "scenario field days was 40, now 50"),
        (load_sweep(SCENARIO, BASE, vary=VARY, replications=REPS, kind="one_at_a_time"),
         "sweep.kind was grid, now one_at_a_time"),
    ]
    for plan, change in cases:
        with pytest.raises(RunError) as err:
            quick(plan, out, resume=True)
        assert str(err.value) == (f"--resume: the sweep in {out} has a different design: {change} "
                                  "(use another --out for a new sweep)")


def test_cli_sweep_writes_plots_and_report_then_resumes(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", str(SCENARIO), *[a for v in VARY for a in ("--vary", v)], "--replications", str(REPS),
            *[a for s in BASE for a in ("--set", s)], "--executor", "serial", "--quiet", "--out", str(out)]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"runs: {RUNS} computed, 0 reused" in res.stdout and f"results: {out}" in res.stdout
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"heatmap_business_roi.png", "heatmap_customer_net_value.png",
            "response_scheme-points-earn_per_unit_business_roi.png",
            "response_scheme-offers-discount_customer_net_value.png"} <= plots
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(plots) and "http" not in html.replace("http-equiv", "")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and (manifest["computed"], manifest["reused"]) == (RUNS, 0)
    assert all(sha256(out / name) == entry["sha256"] for name, entry in manifest["files"].items())
    loaded = load_results(out)
    assert len(loaded["index"]) == RUNS and loaded["sweep"]["replications"] == REPS

    res = CliRunner().invoke(app, args + ["--resume"], catch_exceptions=False)
    assert res.exit_code == 0 and f"runs: 0 computed, {RUNS} reused" in res.stdout

    changed = [a.replace("0.5,2", "0.5,4") for a in args] + ["--resume"]
    res = CliRunner().invoke(app, changed, catch_exceptions=False)
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: --resume: the sweep in {out} has a different design: "
                                  "sweep.vary.scheme.points.earn_per_unit was [0.5,2], now [0.5,4] "
                                  "(use another --out for a new sweep)")

    res = CliRunner().invoke(app, ["sweep", str(SCENARIO), "--vary", "days=30,40", "--resume"])
    assert res.exit_code == 2 and res.stderr.strip() == "error: --resume needs --out (the folder of the sweep to continue)"


def test_ctrl_c_stops_the_workers_and_keeps_finished_runs(reference, tmp_path):
    out = tmp_path / "sweep"
    args = [str(SCENARIO), *[a for v in VARY for a in ("--vary", v)], "--replications", str(REPS),
            *[a for s in BASE for a in ("--set", s)], "--workers", "1", "--quiet", "--out", str(out)]
    p = subprocess.Popen([sys.executable, "-m", "loyaltysim", "sweep", *args], start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + WAIT
        while not _finished_runs(out):
            assert p.poll() is None, p.communicate()[1].decode()
            assert time.monotonic() < deadline, "the sweep did not get going"
            time.sleep(0.01)
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        _, err = p.communicate(timeout=WAIT)
    finally:
        with _gone():
            os.killpg(p.pid, signal.SIGKILL)
    if p.returncode == 0:
        pytest.skip("the sweep finished before Ctrl-C reached it")
    assert p.returncode == 130, err.decode()
    assert "interrupted: every finished run is kept" in err.decode() and "Traceback" not in err.decode()
    wait_for_group_to_end(p.pid, WAIT, "the interrupted sweep")  # no worker outlives the command
    finished = _finished_runs(out)
    result = quick(small_plan(), out, resume=True)
    assert result.reused == len(finished) >= 1
    same_numbers(out, reference)


def test_heatmap_draws_the_break_even_contour_and_response_the_band():
    from matplotlib.figure import Figure

    from loyaltysim.present.sweep_plots import plot_sweep_heatmap, plot_sweep_response

    rows = [(i * 2 + j, x, y, "business_roi", "ratio", 0.5 + x * y, 0.4 + x * y, 0.6 + x * y, 2)
            for i, x in enumerate([0.5, 1.0]) for j, y in enumerate([0.5, 1.0, 2.0])]
    summary = pd.DataFrame(rows, columns=["point", "a", "b", "metric", "unit", "mean", "ci_low", "ci_high", "n"])
    ax = Figure().subplots()
    assert plot_sweep_heatmap(summary, ax, x="a", y="b", level=1.0) is ax
    assert len(ax.collections) == 1 and ax.collections[0].levels.tolist() == [1.0]  # the break-even line
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1"]
    ax = Figure().subplots()
    assert plot_sweep_response(summary, ax, factor="a", where={"b": 2.0}, level=1.0) is ax
    assert ax.lines[0].get_ydata().tolist() == [1.5, 2.5] and len(ax.collections) == 1  # mean and its band
