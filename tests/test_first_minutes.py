"""What a new user meets first: results folders that never mix two runs, files checked against the
manifest before they are read, a CLI that explains itself, numbers in one format, compiled kernels
kept out of the installed package."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import SCENARIOS
from typer.testing import CliRunner

import loyaltysim
from loyaltysim.cli import app
from loyaltysim.cli.simulate import RunProgress
from loyaltysim.present.formatting import format_estimate, format_number
from loyaltysim.present.report import HEADLINE
from loyaltysim.runs.executors import LocalExecutor, SerialExecutor

TINY = ["--customers", "200", "--days", "20", "--replications", "2", "--quiet", "--executor", "serial"]


def invoke(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False, env=env)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) by relative path, with its content's hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- --out never mixes runs

def test_a_folder_that_is_not_empty_is_refused_and_left_byte_identical(tmp_path):
    out = tmp_path / "r"
    assert invoke("run", "coffee_stamps", *TINY, "--transactions", "--out", out).exit_code == 0
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    res = invoke("run", "coffee_stamps", *TINY, "--customers", "100", "--out", out)
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: --out {out}: the folder exists and is not empty (results of two runs "
                                  "never mix: add --overwrite to replace it, or choose another --out)")
    assert len(res.stderr.strip().splitlines()) == 1
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # nothing staged beside it either


def test_overwrite_leaves_only_the_new_runs_files(tmp_path):
    out = tmp_path / "r"
    assert invoke("run", "coffee_stamps", *TINY, "--transactions", "--out", out).exit_code == 0
    assert invoke("export", out).exit_code == 0
    assert (out / "transactions.parquet").exists() and (out / "export" / "rfm.csv").exists()
    res = invoke("run", "coffee_stamps", *TINY, "--customers", "100", "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["customers"] == 100 and manifest["status"] == "complete"
    on_disk = {name for name in snapshot(out) if name != "manifest.json"}
    assert on_disk == set(manifest["files"])  # the old transactions and export/ are gone
    assert len(pd.read_parquet(out / "customers.parquet")) == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no staging or replaced folder left


def test_overwrite_refuses_a_folder_that_is_not_a_results_folder(tmp_path):
    mine = tmp_path / "scenarios"
    mine.mkdir()
    (mine / "cafe.yaml").write_text("name: cafe\n")
    before = snapshot(mine)
    res = invoke("run", "coffee_stamps", *TINY, "--out", mine, "--overwrite")
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: --out {mine}: the folder holds files that are not loyaltysim results; "
                                  "--overwrite replaces only a results folder (choose another --out)")
    assert snapshot(mine) == before


def test_an_interrupted_overwrite_keeps_the_old_results(tmp_path, monkeypatch):
    out = tmp_path / "r"
    assert invoke("run", "coffee_stamps", *TINY, "--out", out).exit_code == 0
    before = snapshot(out)
    staged = []

    def interrupted(*args, **kwargs):  # Ctrl-C while the new run is being simulated
        staged.extend(p.name for p in tmp_path.iterdir() if p.name != "r")
        raise KeyboardInterrupt

    monkeypatch.setattr("loyaltysim.cli.simulate.simulate", interrupted)
    res = invoke("run", "coffee_stamps", *TINY, "--out", out, "--overwrite")
    assert res.exit_code == 130
    assert staged and staged[0].startswith(".r.new-")  # the new run was being written beside the old one
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_an_empty_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    res = invoke("run", "coffee_stamps", *TINY, "--out", out)
    assert res.exit_code == 0, res.output
    assert (out / "manifest.json").exists()


# ---------------------------------------------------------------- files checked against the manifest

def test_export_refuses_transactions_that_do_not_match_the_manifest(tmp_path):
    out, other = tmp_path / "r", tmp_path / "other"
    assert invoke("run", "coffee_stamps", *TINY, "--transactions", "--out", out).exit_code == 0
    assert invoke("run", "coffee_stamps", *TINY, "--customers", "150", "--transactions", "--out", other).exit_code == 0
    (out / "transactions.parquet").write_bytes((other / "transactions.parquet").read_bytes())
    res = invoke("export", out)
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: {out / 'transactions.parquet'}: does not match its checksum in the "
                                  "manifest (changed or replaced after the run; run it again)")
    assert not (out / "export").exists()


@pytest.mark.parametrize("command", ["report", "plot"])
def test_report_and_plot_refuse_data_that_do_not_match_the_manifest(tmp_path, command):
    out = tmp_path / "r"
    assert invoke("run", "coffee_stamps", *TINY, "--out", out).exit_code == 0
    summary = out / "summary.csv"
    summary.write_text(summary.read_text().replace("scheme", "schema", 1))
    before = snapshot(out)
    res = invoke(command, out)
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: {summary}: does not match its checksum in the manifest (changed or "
                                  "replaced after the run; run it again)")
    assert snapshot(out) == before


# ---------------------------------------------------------------- a CLI that explains itself

def test_version_and_completion_are_offered():
    res = invoke("--version")
    assert res.exit_code == 0 and res.stdout.strip() == f"loyaltysim {loyaltysim.__version__}"
    res = invoke("--help")
    assert "--install-completion" in res.stdout and "--show-completion" in res.stdout


@pytest.mark.parametrize("command", ["run", "compare", "sweep", "report", "plot", "export", "calibrate", "evidence",
                                     "validate", "schema", "scenarios"])
def test_every_command_has_plain_help_and_an_example(command):
    res = invoke(command, "--help", env={"COLUMNS": "100"})
    assert res.exit_code == 0
    text = res.stdout
    assert "Examples:" in text and f"loyaltysim {command}" in text.split("Examples:")[1]
    assert not re.search(r"<(int|str|bool|float|path|list)[^>]*>", text), text  # no typer type labels
    assert "{" not in text.splitlines()[0]


def _run_cli(tmp_path, *args, columns=80):
    """The installed command in a subprocess, as a terminal of ``columns`` columns would run it."""
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "loyaltysim", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)


def test_the_results_table_at_80_columns_keeps_every_metric_name_whole(tmp_path):
    out = tmp_path / "r"
    res = _run_cli(tmp_path, "run", "supermarket_points", *TINY, "--set", "scheme.points.earn_per_unit=2",
                   "--out", out)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 80
    first_cells = [line.split("│")[1].strip() for line in table if line.startswith("│")]
    assert [c for c in first_cells if c] == list(HEADLINE)  # each name whole, on its own line
    assert "e+0" not in res.stdout  # one number format: no scientific notation
    # what ran is echoed first (overrides included); the report and the folder are said last
    assert lines[0] == "supermarket_points: 200 customers, 20 days, 2 replications, seed 1995"
    assert lines[1] == "overrides: scheme.points.earn_per_unit=2"
    assert lines[-2:] == [f"report: {out / 'report.html'}", f"results: {out}"]


# ---------------------------------------------------------------- progress and numbers

def test_progress_counts_replications_and_days_of_the_scenario():
    serial = RunProgress([("a", 3, 10), ("b", 2, 5)], quiet=True, executor=SerialExecutor())
    assert serial._describe() == "a: replication 1/3, day 0/10"
    for _ in range(14):
        serial.advance(1)
    assert serial._describe() == "a: replication 2/3, day 4/10"
    assert serial.bar.tasks[0].completed == pytest.approx(1.4) and serial.bar.tasks[0].total == 5
    for _ in range(16 + 5):
        serial.advance(1)
    assert serial._describe() == "b: replication 2/2, day 0/5"
    serial.advance(5)
    assert serial._describe() == "b: 2/2 replications done"
    assert serial.bar.tasks[0].completed == 5
    with LocalExecutor(workers=1) as ex:
        parallel = RunProgress([("a", 3, 10)], quiet=True, executor=ex)
    parallel.advance(10)  # a finished replicate reports all its days at once
    assert parallel._describe() == "a: 1/3 replications done"


@pytest.mark.parametrize("mean, lo, hi, text", [
    (730_412.0, 661_100.0, 799_724.0, "730,000 ± 69,000"),
    (0.674, 0.534, 0.814, "0.67 ± 0.14"),
    (0.00647, 0.00297, 0.00997, "0.0065 ± 0.0035"),
    (-2_760.0, -3_950.0, -1_570.0, "-2,800 ± 1,200"),
    (8_470.3, float("nan"), float("nan"), "8,470"),
    (float("nan"), 0.0, 1.0, "-"),
    (-0.00001, -0.0012, 0.0012, "0.0000 ± 0.0012"),
])
def test_estimates_are_rounded_to_their_interval(mean, lo, hi, text):
    assert format_estimate(mean, lo, hi) == text


def test_numbers_keep_three_significant_digits_and_separate_thousands():
    assert [format_number(x) for x in (1_234_567.0, 12.345, 0.0012345, 0.0)] == ["1,230,000", "12.3", "0.00123", "0"]


# ---------------------------------------------------------------- compiled kernels

def test_compiled_kernels_are_never_written_inside_the_package():
    loyaltysim.simulate(SCENARIOS / "coffee_stamps.yaml", customers=50, days=3, replications=1)
    package = Path(loyaltysim.__file__).parent
    assert not [p for p in package.rglob("*") if p.suffix in (".nbi", ".nbc")]


def test_the_kernel_cache_is_the_users_or_numba_cache_dir(tmp_path):
    code = ("import loyaltysim.engine.kernels, numba.core.config as c, os; "
            "print(c.CACHE_DIR); print(os.environ['NUMBA_CACHE_DIR'])")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    home = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")}).stdout.split()
    if sys.platform.startswith("linux"):
        assert home == [str(tmp_path / "xdg" / "loyaltysim" / "numba")] * 2
    given = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**env, "NUMBA_CACHE_DIR": str(tmp_path / "mine")}).stdout.split()
    assert given == [str(tmp_path / "mine")] * 2
