"""Exports for CLV tools: the RFM conventions by hand, a real run folder, and all-or-nothing writes."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

import loyaltysim
from loyaltysim.data import export as ex
from loyaltysim.errors import LoyaltysimError
from loyaltysim.present.folders import write_run
from loyaltysim.scenario.loading import validate


def test_rfm_of_a_small_hand_made_log():
    tx = pd.DataFrame([
        # customer 1: two purchases on 6 Jan are one period of 15.00, then 10 Jan and 20 Jan
        (1, "2025-01-06", 10.00), (1, "2025-01-06", 5.00), (1, "2025-01-10", 20.00), (1, "2025-01-20", 30.00),
        (2, "2025-01-15", 12.50),                              # one purchase only
        (3, "2025-01-30", 7.00), (3, "2025-01-31", 9.00),      # last purchase on the last day
        (4, "2025-02-03", 50.00),                              # after the observation period: left out
        (5, "2025-01-07 09:00", 4.00), (5, "2025-01-07 18:30", 6.00),  # one day, two times: one period
    ], columns=["customer_id", "date", "amount"])
    rfm = ex.rfm_table(tx, date(2025, 1, 31))
    # Worked by hand, in days, observation period ending 2025-01-31:
    #   1: periods 6, 10, 20 Jan -> frequency 2, recency 20-6 = 14, T 31-6 = 25, monetary (20+30)/2 = 25
    #   2: frequency 0, recency 0, T 31-15 = 16, monetary 0
    #   3: frequency 1, recency 1, T 1, monetary 9
    #   5: frequency 0, recency 0, T 31-7 = 24, monetary 0
    expected = pd.DataFrame({
        "customer_id": [1, 2, 3, 5],
        "frequency": [2.0, 0.0, 1.0, 0.0],
        "recency": [14.0, 0.0, 1.0, 0.0],
        "T": [25.0, 16.0, 1.0, 24.0],
        "monetary_value": [25.0, 0.0, 9.0, 0.0],
    })
    pd.testing.assert_frame_equal(rfm, expected)


def test_day_zero_falls_on_the_scenarios_start_weekday():
    assert ex.start_date("mon") == date(2025, 1, 6)
    assert ex.start_date("wed") == date(2025, 1, 1)      # 2025-01-01 is a Wednesday
    assert ex.start_date("tue") == date(2025, 1, 7)
    t = ex.transactions_table(pd.DataFrame({"customer_id": [3, 1], "day": [2, 0], "amount": [1.234, 5.0]}),
                              date(2025, 1, 6))
    assert t.to_dict("list") == {"customer_id": [1, 3], "date": [pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-08")],
                                 "amount": [5.0, 1.23]}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run made with transactions: a points scheme, churn, a Tuesday start."""
    sc = validate({
        "name": "export_me", "customers": 1500, "days": 120, "replications": 1, "seed": 31, "start_weekday": "tue",
        "population": {"segments": [{"name": "a", "share": 0.6, "defection_per_year": 0.3},
                                    {"name": "b", "share": 0.4, "trips_per_year": {"mean": 60, "shape": 2}}]},
        "scheme": {"points": {"rewards": [{"name": "v", "kind": "voucher", "points": 150, "face_value": 1.5}]}},
    })
    result = loyaltysim.simulate(sc, transactions=True)
    folder = tmp_path_factory.mktemp("runs") / "run"
    write_run(folder, result, plots=False, report=False)
    return folder, result


def test_export_writes_transactions_rfm_and_truth(run_folder, tmp_path):
    folder, result = run_folder
    paths = ex.export_run(folder, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["export.json", "rfm.csv", "transactions.csv",
                                                                     "truth.csv"]
    assert set(paths) == {"export.json", "rfm.csv", "transactions.csv", "truth.csv"}
    info = json.loads(paths["export.json"].read_text())
    assert info["start_date"] == "2025-01-07" and info["observation_period_end"] == "2025-05-06"  # + 119 days

    tx = pd.read_csv(paths["transactions.csv"])
    assert list(tx.columns) == ["customer_id", "date", "amount"]
    raw = result.transactions
    assert len(tx) == len(raw)
    assert tx["amount"].sum() == pytest.approx(raw["amount"].sum(), abs=0.006 * len(raw))
    assert (pd.to_datetime(tx["date"]).dt.day_of_week.min(), tx["date"].min()) == (0, "2025-01-07")

    # RFM recomputed independently, customer by customer, from the exported transactions.
    rfm = pd.read_csv(paths["rfm.csv"]).set_index("customer_id")
    assert list(rfm.columns) == ["frequency", "recency", "T", "monetary_value"]
    end = pd.Timestamp("2025-05-06")
    for cid, rows in list(tx.groupby("customer_id"))[:200]:
        days = rows.groupby("date")["amount"].sum().sort_index()
        when = pd.to_datetime(days.index)
        row = rfm.loc[cid]
        assert row["frequency"] == len(days) - 1
        assert row["recency"] == (when[-1] - when[0]).days
        assert row["T"] == (end - when[0]).days
        assert row["monetary_value"] == pytest.approx(days.iloc[1:].mean() if len(days) > 1 else 0.0)
    assert set(rfm.index) == set(tx["customer_id"])

    truth = pd.read_csv(paths["truth.csv"])
    assert len(truth) == 1500 and truth["customer_id"].is_unique
    assert {"need_rate_per_year", "basket_log_mu", "basket_log_sd", "segment", "churn_day"} <= set(truth.columns)
    c = result.customers.set_index("customer_id")
    assert (truth.set_index("customer_id")["churned"] == (c["defection_day_scheme"] >= 0)).all()
    gone = truth[truth["churned"]]
    assert len(gone) > 20 and gone["churn_day"].between(0, 119).all() and truth.loc[~truth["churned"], "churn_day"].isna().all()
    last = tx.assign(day=(pd.to_datetime(tx["date"]) - pd.Timestamp("2025-01-07")).dt.days).groupby("customer_id")["day"].max()
    after = last.reindex(gone["customer_id"]).to_numpy() > gone["churn_day"].to_numpy()
    assert not after.any()                                    # nobody buys after leaving for good
    assert (pd.to_datetime(gone["churn_date"]) - pd.Timestamp("2025-01-07")).dt.days.tolist() == gone["churn_day"].tolist()


def test_a_run_without_transactions_is_a_one_line_error_naming_the_file(run_folder, tmp_path):
    folder, result = run_folder
    bare = tmp_path / "bare"
    write_run(bare, result.__class__(**{**vars(result), "transactions": None}), plots=False, report=False)
    with pytest.raises(ex.ExportError) as err:
        ex.export_run(bare)
    assert str(err.value) == (f"{bare / 'transactions.parquet'}: not found (the run was made without "
                              "--transactions; run it again with --transactions)")
    assert isinstance(err.value, LoyaltysimError) and not (bare / "export").exists()


@pytest.mark.parametrize("make, problem", [
    (lambda p: None, "{p}: no such folder"),
    (lambda p: p.mkdir(), ("{p}: not a results folder (no manifest.json: an incomplete, interrupted run, or not "
                           "a run at all)")),
])
def test_a_folder_that_is_not_a_run_is_refused(tmp_path, make, problem):
    p = tmp_path / "nothing"
    make(p)
    with pytest.raises(ex.ExportError) as err:
        ex.export_run(p, tmp_path / "out")
    assert str(err.value) == problem.format(p=p)
    assert not (tmp_path / "out").exists()


def test_a_failed_write_leaves_nothing_behind(run_folder, tmp_path, monkeypatch):
    folder, _ = run_folder
    calls = []
    real = pd.DataFrame.to_csv

    def flaky(self, path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", flaky)
    out = tmp_path / "out"
    with pytest.raises(ex.ExportError) as err:
        ex.export_run(folder, out)
    assert str(err.value) == f"{out}: cannot be written (No space left on device)"
    assert not out.exists()




def test_an_export_replaces_an_earlier_one_and_refuses_other_folders(run_folder, tmp_path):
    folder, _ = run_folder
    out = tmp_path / "out"
    ex.export_run(folder, out)
    (out / "rfm.csv").write_text("stale")
    ex.export_run(folder, out)  # an earlier export is replaced as a whole
    assert (out / "rfm.csv").read_text().startswith("customer_id,frequency")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left beside it
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ex.ExportError) as err:
        ex.export_run(folder, mine)
    assert str(err.value) == (f"{mine}: the folder holds other files (an export goes in a new or empty folder, or "
                              "replaces an earlier export; choose another --out)")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
