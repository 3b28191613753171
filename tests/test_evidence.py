"""``loyaltysim evidence``: the reduced run gives every finding a figure and an interval, writes its folder
as ``run`` writes one, and each statistic is right where the answer is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loyaltysim.cli import app
from loyaltysim.evidence import FINDINGS, SCENARIOS, plan_evidence, summarise_evidence
from loyaltysim.evidence import statistics as S
from loyaltysim.evidence.observe import Replicate, simulate_replicate
from loyaltysim.present.page import escape
from loyaltysim.scenario.loading import load_scenario
from loyaltysim.scenario.shipped import resolve


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(res, fragments: list[str]) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The reduced run (``--quick``), once for the module: its folder and what the command printed."""
    out = tmp_path_factory.mktemp("evidence") / "ev"
    res = invoke("evidence", "--quick", "--workers", "1", "--out", out)
    assert res.exit_code == 0, res.output
    return out, res.stdout


# ---------------------------------------------------------------- the reduced run

def test_the_quick_run_gives_every_finding_a_finite_figure_inside_its_interval(quick):
    out, _ = quick
    table = pd.read_csv(out / "evidence.csv")
    assert list(table["id"]) == list(FINDINGS)
    for _, r in table.iterrows():
        assert math.isfinite(r["model"]), r["id"]
        assert r["ci_low"] <= r["model"] <= r["ci_high"], r["id"]
        assert r["replications"] == 2
        assert r["in_band"] == (r["band_low"] <= r["model"] <= r["band_high"]), r["id"]
    reps = pd.read_csv(out / "evidence_replicates.csv")
    assert len(reps) == 2 * len(FINDINGS)
    # The figure is the mean of the replicates' values.
    means = reps.groupby("id")["value"].mean()
    assert np.allclose(table.set_index("id")["model"], means.loc[table["id"]].to_numpy())


def test_the_quick_run_writes_a_page_and_a_complete_manifest(quick):
    out, stdout = quick
    page = (out / "evidence.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    for i, f in FINDINGS.items():
        assert f'id="{i}"' in page
        assert escape(f.band_basis) in page and escape(f.source) in page
    assert page.count("<img") == len(FINDINGS)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "evidence" and manifest["status"] == "complete" and manifest["quick"] is True
    assert set(manifest["files"]) == {"evidence.csv", "evidence_replicates.csv", "evidence.html"}
    assert set(manifest["scenarios"]) == set(SCENARIOS)
    # The cost before the work, the table after it, then the page and the folder.
    assert stdout.splitlines()[0].startswith("evidence: 17 findings from 8 scenarios x 2 replications = 16 runs")
    assert "customer-days" in stdout.splitlines()[0]
    assert all(i in stdout for i in FINDINGS) and "inside their bands" in stdout
    assert stdout.strip().splitlines()[-1] == f"results: {out}"


def test_a_second_run_never_mixes_into_the_same_folder(quick, tmp_path):
    out, _ = quick
    res = invoke("evidence", "--quick", "--out", out)
    assert_one_line_error(res, [f"--out {out}", "--overwrite"])
    folder = tmp_path / "ev"
    args = ("evidence", "--only", "programme_cost_share", "--customers", 200, "--replications", 2, "--workers", 1,
            "--out", folder)
    assert invoke(*args).exit_code == 0
    first = (folder / "evidence.csv").read_text()
    res = invoke(*args[:-2], "--only", "member_sales_share", "--out", folder, "--overwrite")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(folder / "evidence.csv")
    assert list(table["id"]) == ["member_sales_share", "programme_cost_share"]
    assert (folder / "evidence.csv").read_text() != first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ev")]  # no staging folder left
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    res = invoke("evidence", "--quick", "--out", tmp_path / "mine", "--overwrite")
    assert_one_line_error(res, ["not a loyaltysim evidence run"])
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("args, fragments", [
    (["--replications", "1"], ["--replications", "at least 2", "got 1"]),
    (["--customers", "10"], ["--customers", "at least 200", "got 10"]),
    (["--customers", "many"], ["--customers"]),
    (["--only", "goal_gradient,nope"], ["--only", "'nope' is not a finding", "allowed: incentive_sales"]),
    (["--only", ","], ["--only", "at least one finding"]),
    (["--workers", "0"], ["--workers"]),
], ids=["one replication", "few customers", "not a number", "unknown finding", "no finding", "no workers"])
def test_bad_options_are_one_line_errors(tmp_path, args, fragments):
    res = invoke("evidence", *args, "--out", tmp_path / "ev")
    assert_one_line_error(res, fragments)
    assert not (tmp_path / "ev").exists() or not any((tmp_path / "ev").iterdir())


def test_a_file_as_out_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    assert_one_line_error(invoke("evidence", "--quick", "--out", tmp_path / "f"), ["is a file"])


def test_only_runs_the_scenarios_its_findings_need():
    plan = plan_evidence(["endowed_progress", "goal_gradient"], quick=True)
    assert list(plan.scenarios) == ["coffee", "car_wash_10_2", "car_wash_8"]
    assert plan.runs == 6
    assert plan.customer_days == 2 * (1000 * 365 + 2 * 1500 * 270)
    sizes = plan_evidence(["self_selection"], customers=5000, replications=3)
    assert sizes.scenarios["grocery"].customers == 5000 and sizes.replications == 3
    # The shipped card's fixed cost (20,000 a year for 20,000 customers) keeps its cost per customer.
    assert sizes.scenarios["grocery"].scheme.costs.fixed_per_year == pytest.approx(5000)
    assert plan_evidence(["self_selection"]).scenarios["grocery"].scheme.costs.fixed_per_year == 20000


# ---------------------------------------------------------------- statistics where the answer is known

def _replicate(base: str, overrides: dict, customers: int = 600, days: int = 90) -> Replicate:
    sc = load_scenario(resolve(base), {**overrides, "customers": customers, "days": days, "replications": 1})
    return simulate_replicate(sc, 0)


def test_a_scheme_nobody_joins_has_exactly_no_incremental_sales():
    rep = _replicate("supermarket_points", {"scheme.enrolment.join_rate_per_visit": 0.0,
                                            "scheme.enrolment.referral_rate_per_year": 0.0})
    assert S.incremental_sales(rep) == 0.0
    assert S.joined_share(rep) == 0.0
    assert math.isnan(S.self_selection(rep))  # no members: the ratio is undefined, not a number
    ordinary = _replicate("supermarket_points", {})
    assert S.incremental_sales(ordinary) != 0.0 and S.joined_share(ordinary) > 0


def test_the_incentive_share_is_what_switching_the_incentives_off_takes_away():
    from loyaltysim.evidence.findings import FINDINGS, NO_INCENTIVES
    from loyaltysim.evidence.run import combine
    f = FINDINGS["incentive_sales"]
    off = S.scheme_sales(_replicate("supermarket_points", NO_INCENTIVES, customers=1500))
    # Already off: switching them off again takes nothing away, exactly (the same draws).
    assert combine(f, [off, off]) == 0.0
    on = S.scheme_sales(_replicate("supermarket_points", {}, customers=1500))
    assert combine(f, [on, off]) == pytest.approx(1 - off / on) and on > off


def test_members_presenting_every_time_make_all_the_sales():
    everyone = {"scheme.enrolment.initial_members": 1.0, "scheme.enrolment.card_presentation": 1.0,
                "scheme.enrolment.friction_per_visit": 0.0, "scheme.enrolment.leave_rate_per_year": 0.0,
                "scheme.data.consent_withdrawal_per_year": 0.0,  # withdrawing the required consent would end membership
                "scheme.enrolment.dormancy_per_year": 0.0,  # a dormant member keeps the card in the pocket
                "population.arrivals_per_year": 0.0}  # customers who arrive later are not members from the start
    assert S.member_sales_share(_replicate("supermarket_points", everyone)) == pytest.approx(1.0, abs=1e-12)
    half = {**everyone, "scheme.enrolment.card_presentation": 0.5}
    assert S.member_sales_share(_replicate("supermarket_points", half)) < 0.7


def test_the_recorder_counts_every_voucher_and_stamp_card_the_ledger_books():
    rep = _replicate("supermarket_points", {}, days=150)
    scheme = rep.daily[(rep.daily["arm"] == "scheme") & (rep.daily["segment"] == "all")]
    assert rep.vouchers_received.sum() == pytest.approx(scheme["reward_value"].sum(), rel=1e-6)
    assert 0 < rep.reward_days.sum() <= scheme["rewards_redeemed"].sum()
    assert ((rep.reward_days > 0) == (rep.vouchers_received > 0)).all()
    cafe = _replicate("coffee_stamps", {}, days=120)
    scheme = cafe.daily[(cafe.daily["arm"] == "scheme") & (cafe.daily["segment"] == "all")]
    assert cafe.cards_completed.sum() == scheme["rewards_redeemed"].sum() > 0
    joined = cafe.customers["ever_member"].to_numpy()
    assert ((cafe.first_join_day >= 0) == joined).all()
    weekly = cafe.weekly_sales["scheme"].sum()
    assert weekly == pytest.approx(scheme["sales"].sum(), rel=1e-9)


def _by_hand(**fields) -> Replicate:
    """A replicate made by hand: only the fields a statistic reads are filled in."""
    empty = np.zeros(0)
    base = dict(scenario=None, daily=pd.DataFrame(), customers=pd.DataFrame(), first_join_day=empty,
                weekly_sales={}, reward_days=empty, vouchers_received=empty, cards_completed=empty)
    return Replicate(**{**base, **fields})


def test_self_selection_is_the_naive_gap_over_the_causal_effect():
    customers = pd.DataFrame({
        "member": [True, True, False, False, False],
        "visits_scheme": [5, 5, 5, 5, 0],  # the last never shops here: not in the retailer's data
        "spend_scheme": [10.0, 14.0, 2.0, 4.0, 0.0],
        "spend_counterfactual": [9.0, 11.0, 2.0, 4.0, 0.0],
        # Share of wallet (the share of shopping trips brought here), as the study measured it.
        "trip_share_scheme": [0.8, 0.6, 0.3, 0.1, 0.0],
        "trip_share_counterfactual": [0.7, 0.5, 0.3, 0.1, 0.0],
    })
    # Naive: 0.7 - 0.2 = 0.5; causal: mean(0.1, 0.1) = 0.1.
    assert S.self_selection(_by_hand(customers=customers)) == pytest.approx(5.0)
    assert S.naive_spend_ratio(_by_hand(customers=customers)) == pytest.approx(4.0)


def test_tercile_uplifts_split_members_by_their_spend_without_the_scheme():
    cf = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    customers = pd.DataFrame({"member": True, "visits_scheme": 1, "visits_counterfactual": 1,
                              "spend_counterfactual": cf, "spend_scheme": cf * np.array([1.5, 1.5, 1.5, 1.5, 1, 1])})
    rep = _by_hand(customers=customers)
    assert S.heavy_buyer_uplift(rep) == 0.0
    assert S.light_minus_heavy_uplift(rep) == pytest.approx(0.5)


def test_an_effect_that_stops_after_six_months_has_faded_and_a_lasting_one_has_not():
    weeks = 53
    cf = np.ones((2, weeks))
    lasting = cf * 1.1
    fading = cf.copy()
    fading[:, :20] = 1.1  # weeks 0-19: the first 4.6 months after joining on day 0
    join = np.array([0, 0])
    rep = lambda sch: _by_hand(first_join_day=join, weekly_sales={"scheme": sch, "counterfactual": cf})
    assert S.joining_effect_fades(rep(fading)) == 0.0
    assert S.joining_effect_fades(rep(lasting)) == pytest.approx(1.0)
    assert math.isnan(S.joining_effect_fades(_by_hand(first_join_day=np.array([-1, 200]),
                                                      weekly_sales={"scheme": lasting, "counterfactual": cf})))


def test_stamp_gaps_give_the_goal_gradient_of_cards_made_by_hand():
    # Two completed 10-stamp cards: first gaps 4 and 6 days, last gaps 2 and 4, the rest 3; a third card
    # is left incomplete and must not count.
    rows = []
    for customer, (first, last) in enumerate([(4, 2), (6, 4)]):
        gaps = [first] + [3] * 7 + [last]
        days = np.concatenate([[0], np.cumsum(gaps)])
        rows += [(customer, int(d), s / 10) for s, d in enumerate(days)]
        rows += [(customer, int(days[-1]) + 1 + 10 * k, k / 10) for k in range(3)]  # the incomplete card
    tx = pd.DataFrame(rows, columns=["customer_id", "day", "reward_progress"]).assign(linked=True)
    sc = load_scenario(resolve("coffee_stamps"))
    rep = _by_hand(scenario=sc, transactions=tx)
    assert S.goal_gradient(rep) == pytest.approx(3 / 5)
    assert S.goal_gradient_days(rep) == pytest.approx(2.0)
    assert S.card_completion_speed(rep) == pytest.approx((27 + 31) / 2 / (9 * 5))


def test_renewal_is_the_yearly_survival_of_the_leaving_rate():
    daily = pd.DataFrame({"arm": "scheme", "segment": "all", "members": [100.0] * 365,
                          "leaves": [10.0 / 365] * 365})
    assert S.annual_renewal(_by_hand(daily=daily)) == pytest.approx(np.exp(-0.1))


def test_the_summary_flags_a_figure_outside_its_band_and_an_undefined_one():
    reps = pd.DataFrame({"id": ["incremental_sales"] * 3 + ["goal_gradient"] * 3 + ["self_selection"] * 3,
                         "replicate": [0, 1, 2] * 3,
                         "value": [0.07, 0.08, 0.09, 0.79, 0.80, 0.81, np.nan, np.nan, np.nan]})
    t = summarise_evidence(reps).set_index("id")
    assert t.loc["incremental_sales", "model"] == pytest.approx(0.08)
    assert not t.loc["incremental_sales", "in_band"] and t.loc["goal_gradient", "in_band"]
    assert pd.isna(t.loc["self_selection", "in_band"]) and math.isnan(t.loc["self_selection", "model"])
    assert t.loc["incremental_sales", "band_proposed"] and t.loc["goal_gradient", "published"] == 0.80


# ---------------------------------------------------------------- the behavioural fit and the channels

def test_the_fit_says_which_target_it_missed_and_by_how_much_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from loyaltysim.evidence import fit as F
    share, _, high = F.target_of("member_sales_share")
    assert share == pytest.approx(0.85) and high == 0.9  # a published lower bound: the band's middle
    assert F.target_of("self_selection")[0] == 7.0 and F.target_of("incentive_sales")[0] == pytest.approx(0.0174)
    inside = F.Trial({}, np.array([0.85, 7.0, 0.0174]), np.zeros((1, 3)))
    assert F.misses(inside) == []
    outside = F.Trial({}, np.array([0.70, 7.0, 0.05]), np.zeros((1, 3)))
    missed = F.misses(outside)
    assert len(missed) == 2 and "member_sales_share: 0.7 is 0.1 below its band 0.8 to 0.9" in missed[0]
    assert "incentive_sales: 0.05 is 0.02 above its band" in missed[1]
    # The command: a miss is said on one line and nothing is written.
    target = tmp_path / "fitted.py"
    monkeypatch.setattr(F, "FITTED_FILE", target)
    monkeypatch.setattr(F, "fit", lambda *a, **k: ({p.path: 1.0 for p in F.PARAMETERS}, outside))
    assert F.main(["--write"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("not written: a target is out of reach: member_sales_share")
    assert not target.exists()
    monkeypatch.setattr(F, "fit", lambda *a, **k: ({p.path: 1.0 for p in F.PARAMETERS}, inside))
    assert F.main(["--write"]) == 0
    written = {}
    exec(target.read_text(), written)
    assert written["FITTED"] == {p.path: 1.0 for p in F.PARAMETERS}
    assert F.main(["--customers", "10"]) == 2


def test_the_schema_defaults_are_the_fitted_weights():
    from loyaltysim.scenario.fitted import FITTED
    sc = load_scenario(resolve("supermarket_points"))
    assert sc.behaviour.reward_weight == FITTED["behaviour.reward_weight"]
    assert sc.scheme.enrolment.join_rate_per_visit == FITTED["scheme.enrolment.join_rate_per_visit"]
    assert sc.scheme.enrolment.value_sensitivity == FITTED["scheme.enrolment.value_sensitivity"]


def test_switching_every_channel_off_leaves_little_of_the_uplift():
    from loyaltysim.evidence.channels import CHANNELS, decompose
    out = decompose("supermarket_points", customers=3000, replications=1, workers=1)
    assert set(out) == {"as it is", *CHANNELS, "all channels off"}
    # Same draws: each channel off takes some uplift away, all of them together most of it.
    assert out["as it is"] > 0.005
    assert all(v < out["as it is"] for k, v in out.items() if k not in ("as it is", "defection by felt value (defection_value_weight)"))
    assert abs(out["all channels off"]) < out["as it is"] / 2
