"""The CLI: each command on tiny runs, and a catalogue of user mistakes that must each end with exit
code 2 and one line on stderr naming the file, line and field, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_runs import SCENARIOS, copy_run, tiny_run
from typer.testing import CliRunner

from loyaltysim.cli import app
from loyaltysim.runs.compare import COLUMNS
from loyaltysim.scenario.schema import schema_text
from loyaltysim.scenario.shipped import describe_shipped

TINY_ARGS = ["--customers", "300", "--days", "60", "--replications", "2", "--quiet"]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


# ---------------------------------------------------------------- commands

def test_run_a_shipped_scenario_by_name(tmp_path):
    out = tmp_path / "r"
    res = invoke("run", "supermarket_points", *TINY_ARGS, "--out", out)
    assert res.exit_code == 0, res.output
    assert "Overall the exchange is" in res.stdout
    assert f"results: {out}" in res.stdout
    assert (out / "report.html").exists() and (out / "plots" / "value_balance.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"report.html", "plots/difference.png"} <= set(manifest["files"])
    assert (manifest["customers"], manifest["days"], manifest["replications"]) == (300, 60, 2)


def test_run_with_csv_transactions_and_overrides(tmp_path):
    out = tmp_path / "r"
    res = invoke("run", SCENARIOS / "coalition.yaml", *TINY_ARGS, "--format", "csv", "--transactions",
                 "--set", "scheme.points.earn_per_unit=2", "--seed", "7", "--out", out)
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"daily.csv", "transactions.parquet"} <= set(manifest["files"])
    assert manifest["overrides"] == ["scheme.points.earn_per_unit=2"] and manifest["seed"] == 7
    assert "earn_per_unit: 2" in (out / "scenario.resolved.yaml").read_text()


def test_compare_writes_the_table_plots_and_report(tmp_path):
    out = tmp_path / "c"
    res = invoke("compare", "supermarket_points", SCENARIOS / "paid_membership.yaml", *TINY_ARGS, "--out", out)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "comparison.csv")
    assert list(table.columns) == COLUMNS
    assert list(dict.fromkeys(table["scenario"])) == ["supermarket_points", "paid_membership"]
    assert (out / "report.html").exists() and list((out / "plots").glob("compare_*.png"))
    seeds = {s["seed"] for s in json.loads((out / "manifest.json").read_text())["scenarios"]}
    assert seeds == {1995}
    assert "supermarket_points: Overall" in res.stdout and "paid_membership: Overall" in res.stdout


def test_run_gives_the_same_numbers_on_every_executor(tmp_path):
    """Replicates run in worker processes by default; the numbers never depend on where they ran."""
    frames = {}
    for label, extra in {"serial": ["--executor", "serial"], "local": ["--workers", "2"]}.items():
        out = tmp_path / label
        res = invoke("run", "supermarket_points", *TINY_ARGS, "--out", out, *extra)
        assert res.exit_code == 0, res.output
        frames[label] = pd.read_parquet(out / "daily.parquet")
        frames[label + " summary"] = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(frames["serial"], frames["local"], check_exact=True)
    pd.testing.assert_frame_equal(frames["serial summary"], frames["local summary"], check_exact=True)
    res = invoke("run", "supermarket_points", *TINY_ARGS, "--executor", "threads")
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: --executor: 'threads' is not an executor (allowed: serial, local, dask)"


def test_report_and_plot_rebuild_a_folder(tmp_path):
    folder = copy_run(tiny_run(), tmp_path)
    (folder / "report.html").unlink()
    for p in (folder / "plots").glob("*.png"):
        p.unlink()
    res = invoke("report", folder)
    assert res.exit_code == 0, res.output
    assert (folder / "report.html").exists()
    res = invoke("plot", folder)
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert len(list((folder / "plots").glob("*.png"))) == 6 == len(lines) - 1
    assert lines[-1] == f"results: {folder}"  # the folder is said last


def test_schema_prints_the_json_schema():
    res = invoke("schema")
    assert res.exit_code == 0
    assert res.stdout == schema_text()
    assert json.loads(res.stdout)["properties"]["customers"]["type"] == "integer"


def test_scenarios_lists_each_shipped_scenario_on_one_line():
    res = invoke("scenarios")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert len(lines) == len(list(SCENARIOS.glob("*.yaml")))
    for line, (name, text) in zip(lines, describe_shipped()):
        assert line.split()[0] == name and line.endswith(text)


def test_validate_says_ok_per_file():
    res = invoke("validate", SCENARIOS / "hotel_tiers.yaml", "devaluation")
    assert res.exit_code == 0
    assert res.stdout.splitlines() == [f"{SCENARIOS / 'hotel_tiers.yaml'}: ok", "devaluation: ok"]


def test_no_arguments_shows_help():
    res = invoke()
    assert res.exit_code == 0
    assert "Usage" in res.stdout and "compare" in res.stdout


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "loyaltysim", "scenarios"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "supermarket_points" in done.stdout


# ---------------------------------------------------------------- the catalogue of mistakes

BASE = """\
name: tiny
customers: 50
days: 10
replications: 1
population:
  segments:
    - name: everyone
      share: 1.0
scheme:
  points:
    earn_per_unit: 1.0
    rewards:
      - {name: voucher, kind: voucher, points: 150, face_value: 1.5}
"""


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


# (id, the file's text (None: no file written), the command after the scenario path, fragments of the error)
FILE_MISTAKES = [
    ("empty file", "", [], ["bad.yaml", "empty"]),
    ("invalid yaml", "name: tiny\npopulation: [unclosed\n", [], ["bad.yaml:", "invalid YAML"]),
    ("tab indentation", "name: tiny\n\tcustomers: 5\n", [], ["bad.yaml:", "invalid YAML"]),
    ("duplicate key", edit("days: 10\n", "days: 10\ndays: 20\n"), [], ["bad.yaml:4", "duplicate key 'days'", "line 3"]),
    ("not a mapping", "- just\n- a list\n", [], ["bad.yaml:1", "mapping"]),
    ("misspelt top-level field", edit("customers: 50", "custmers: 50"), [],
     ["bad.yaml:2", "custmers", "did you mean 'customers'?", "allowed:"]),
    ("misspelt nested field", edit("earn_per_unit", "earn_per_unt"), [],
     ["bad.yaml:11", "scheme.points.earn_per_unt", "did you mean 'earn_per_unit'?"]),
    ("unknown field without a close match", edit("days: 10", "days: 10\nzzz: 1"), [],
     ["bad.yaml:4", "'zzz' is not a field", "allowed:"]),
    ("wrong type", edit("customers: 50", "customers: many"), [], ["bad.yaml:2", "customers", "'many'"]),
    ("wrong type in a list", edit("share: 1.0", "share: lots"), [],
     ["bad.yaml:8", "population.segments.0.share", "'lots'"]),
    ("shares not summing to 1", edit("    - name: everyone\n      share: 1.0\n",
                                     "    - name: a\n      share: 0.5\n    - name: b\n      share: 0.4\n"), [],
     ["bad.yaml:", "population", "sum to 1"]),
    ("negative rate", edit("      share: 1.0\n", "      share: 1.0\n      defection_per_year: -0.1\n"), [],
     ["bad.yaml:9", "population.segments.0.defection_per_year", "-0.1"]),
    ("reward threshold 0", edit("points: 150", "points: 0"), [],
     ["bad.yaml:13", "scheme.points.rewards.0.points", "greater than 0"]),
    ("stamp card needing 0 stamps", edit("  points:\n    earn_per_unit: 1.0\n    rewards:\n      - ",
                                         "  stamps:\n    required: 0\n    reward: "), [],
     ["bad.yaml:11", "scheme.stamps.required", "(got 0)"]),
    ("missing required field", "name: tiny\n", [], ["bad.yaml", "population", "is required"]),
    ("share list of the wrong length", edit("      share: 1.0\n", "      share: 1.0\n      household_size: [0.5, 0.5]\n"),
     [], ["bad.yaml:9", "population.segments.0.household_size", "needs 5 shares (1, 2, 3, 4, 5+) (got 2)"]),
    ("value not allowed", edit("days: 10", "days: 10\nstart_weekday: monday"), [],
     ["bad.yaml:4", "start_weekday", "'mon'", "(got 'monday')"]),
    ("kind not allowed", edit("kind: voucher", "kind: cash"), [], ["bad.yaml:13", "kind", "'cash'"]),
    ("tier thresholds not increasing", edit("scheme:\n", "scheme:\n  tiers:\n    levels:\n      - {name: a, threshold: 0}\n"
                                            "      - {name: b, threshold: 0}\n"), [],
     ["bad.yaml:", "scheme.tiers", "thresholds must increase"]),
    ("expiry without points", edit("  points:\n    earn_per_unit: 1.0\n    rewards:\n      - {name: voucher, kind: voucher, points: 150, face_value: 1.5}\n",
                                   "  expiry: {age_days: 30}\n"), [], ["bad.yaml:", "scheme", "expiry needs points"]),
    ("unknown category", edit("earn_per_unit: 1.0", "earn_per_unit: 1.0\n    category_multipliers: {snacks: 2}"), [],
     ["bad.yaml:", "'snacks' is not a category", "allowed:"]),
    ("segment named all", edit("name: everyone", "name: all"), [], ["bad.yaml:", "'all' is reserved"]),
    ("change to an impossible value", BASE + "changes:\n  - day: 5\n    set: {scheme.points.rewards.0.points: 0}\n", [],
     ["bad.yaml:15", "change on day 5", "greater than 0"]),
    ("changes out of order", BASE + "changes:\n  - {day: 5, set: {}}\n  - {day: 2, set: {}}\n", [],
     ["bad.yaml", "day order"]),
    ("--set without =", BASE, ["--set", "customers"], ["--set", "'customers' is not key.path=value"]),
    ("--set with an empty key", BASE, ["--set", "=5"], ["--set", "empty key path"]),
    ("--set of an unknown field", BASE, ["--set", "scheme.points.earn_per_unt=2"],
     ["error: --set scheme.points.earn_per_unt=2: ", "did you mean 'earn_per_unit'?"]),
    ("--set of a wrong type", BASE, ["--set", "days=soon"], ["error: --set days=soon: days:", "(got 'soon')"]),
    ("--set of an impossible value", BASE, ["--set", "customers=5", "--set", "population.segments.0.share=2"],
     ["error: --set population.segments.0.share=2: population.segments.0.share", "(got 2)"]),
    ("--set past the end of a list", BASE, ["--set", "population.segments.3.share=0.1"],
     ["--set", "population.segments.3", "index '3'"]),
    ("--format xlsx", BASE, ["--format", "xlsx"], ["--format", "'xlsx'", "parquet, csv"]),
    ("--customers 0", BASE, ["--customers", "0"], ["--customers"]),
    ("--days not a number", BASE, ["--days", "abc"], ["--days", "integer"]),
    ("--seed negative", BASE, ["--seed", "-1"], ["--seed"]),
    ("misspelt option", BASE, ["--frmat", "csv"], ["--frmat", "--format"]),
]


@pytest.fixture
def bad_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(text: str | None) -> str:
        if text is not None:
            Path("bad.yaml").write_text(text, encoding="utf-8")
        return "bad.yaml"
    return write


def assert_one_line_error(res, fragments: list[str]) -> None:
    text = res.stderr
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "Traceback" not in res.output and "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


@pytest.mark.parametrize("text, extra, fragments", [m[1:] for m in FILE_MISTAKES], ids=[m[0] for m in FILE_MISTAKES])
def test_a_mistake_in_a_scenario_or_option_is_one_line(bad_file, text, extra, fragments):
    path = bad_file(text)
    res = invoke("run", path, *extra, "--out", "out")
    assert_one_line_error(res, fragments)
    assert not Path("out").exists() or not any(Path("out").iterdir())
    assert res.stdout == ""


def test_the_same_mistakes_through_validate(bad_file):
    bad_file(edit("customers: 50", "custmers: 50"))
    res = invoke("validate", "bad.yaml")
    assert_one_line_error(res, ["bad.yaml:2", "did you mean 'customers'?"])


OTHER_MISTAKES = [
    ("missing file", ["run", "nothere.yaml"], ["nothere.yaml", "file not found"]),
    ("missing file in a folder", ["run", "sub/nothere.yaml"], ["sub/nothere.yaml", "file not found"]),
    ("misspelt shipped name", ["run", "supermarket_point"],
     ["supermarket_point", "did you mean 'supermarket_points'?", "shipped:"]),
    ("a folder as scenario", ["run", "folder"], ["folder", "is a folder"]),
    ("not UTF-8", ["run", "latin1.yaml"], ["latin1.yaml", "not UTF-8"]),
    ("--out is a file", ["run", "ok.yaml", "--out", "afile"], ["--out afile", "is a file"]),
    ("--out under a file", ["run", "ok.yaml", "--out", "afile/sub"], ["--out afile/sub", "cannot create the folder"]),
    ("missing scenario argument", ["run"], ["Missing argument"]),
    ("unknown command", ["rnu", "ok.yaml"], ["No such command 'rnu'", "Did you mean 'run'?"]),
    ("compare with one scenario", ["compare", "ok.yaml"], ["at least two scenarios"]),
    ("compare with a broken scenario", ["compare", "ok.yaml", "nothere.yaml"], ["nothere.yaml", "file not found"]),
    ("compare --format xlsx", ["compare", "ok.yaml", "ok.yaml", "--format", "xlsx"], ["--format", "'xlsx'"]),
    ("report of a folder with no results", ["report", "folder"], ["folder", "not a results folder"]),
    ("report of a missing folder", ["report", "gone"], ["gone", "no such folder"]),
    ("plot of a file", ["plot", "afile"], ["afile", "is a file"]),
    ("plot of a folder with a broken manifest", ["plot", "broken"], ["broken/manifest.json", "not a valid manifest"]),
]


@pytest.mark.parametrize("args, fragments", [m[1:] for m in OTHER_MISTAKES], ids=[m[0] for m in OTHER_MISTAKES])
def test_other_mistakes_are_one_line(tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    Path("folder").mkdir()
    Path("afile").write_text("x")
    Path("ok.yaml").write_text(BASE)
    Path("latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    Path("broken").mkdir()
    Path("broken/manifest.json").write_text("{")
    res = invoke(*args)
    assert_one_line_error(res, fragments)


def test_the_catalogue_has_at_least_25_distinct_mistakes():
    ids = [m[0] for m in FILE_MISTAKES + OTHER_MISTAKES]
    assert len(set(ids)) == len(ids) >= 25
