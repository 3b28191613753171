"""The calibrate and export commands through the CLI."""

from __future__ import annotations

import pandas as pd
from tiny_runs import SCENARIOS
from typer.testing import CliRunner

from loyaltysim.cli import app

runner = CliRunner()


def _one_line_error(res, *fragments):
    assert res.exit_code == 2, res.output
    text = res.stderr if hasattr(res, "stderr") else res.output
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output
    for f in fragments:
        assert f in lines[0]


def test_export_writes_clv_tables_and_calibrate_fits_them(tmp_path):
    run = tmp_path / "run"
    res = runner.invoke(app, ["run", str(SCENARIOS / "coffee_stamps.yaml"), "--customers", "400", "--days", "90",
                              "--replications", "1", "--transactions", "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "clv")])
    assert res.exit_code == 0, res.output
    tx = pd.read_csv(tmp_path / "clv" / "transactions.csv")
    rfm = pd.read_csv(tmp_path / "clv" / "rfm.csv")
    truth = pd.read_csv(tmp_path / "clv" / "truth.csv")
    assert list(tx.columns) == ["customer_id", "date", "amount"]
    assert list(rfm.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    # frequency counts repeat purchase days: distinct days minus one.
    days = tx.groupby("customer_id")["date"].nunique()
    assert (rfm.set_index("customer_id")["frequency"] == days.reindex(rfm["customer_id"]).to_numpy() - 1).all()
    assert len(truth) == 400 and {"need_rate_per_year", "churn_day"} <= set(truth.columns)

    res = runner.invoke(app, ["calibrate", str(tmp_path / "clv" / "transactions.csv"), "--out",
                              str(tmp_path / "population.yaml"), "--customers", "400"])
    assert res.exit_code == 0, res.output
    assert "trips per customer" in res.output and (tmp_path / "population.yaml").exists()


def test_data_command_mistakes_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,date,amount\n1,2025-01-01,5\n2,2025-13-01,3\n")
    _one_line_error(runner.invoke(app, ["calibrate", str(bad), "--out", str(tmp_path / "p.yaml")]),
                    "bad.csv", "'date'", "row")
    assert not (tmp_path / "p.yaml").exists()
    _one_line_error(runner.invoke(app, ["export", str(tmp_path / "missing")]), "missing")
    _one_line_error(runner.invoke(app, ["calibrate", str(bad), "--column", "customer_id"]), "--column")
