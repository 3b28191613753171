"""Shipped scenarios: valid, documented, small enough to run quickly, each its archetype; the JSON
Schema is current; the scenarios are found by name from the installed package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from loyaltysim.results.verdict import STATES
from loyaltysim.runs.simulate import simulate
from loyaltysim.scenario.loading import apply_change, load_scenario
from loyaltysim.scenario.schema import scenario_reference, schema_text
from loyaltysim.scenario.shipped import describe_shipped, resolve, shipped, shipped_dir

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))
ARCHETYPES = ("supermarket_points", "coffee_stamps", "hotel_tiers", "paid_membership", "member_pricing",
              "data_hungry_app", "coalition", "devaluation")
"""DESIGN section 7: the archetypes shipped as scenarios."""
SCHEMA_LINE = "# yaml-language-server: $schema=scenario.schema.json"


def test_every_archetype_is_shipped():
    assert set(ARCHETYPES) <= {p.stem for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_file_points_at_the_schema_and_explains_itself(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == SCHEMA_LINE
    comment = [ln for ln in lines[1:] if ln.startswith("#")]
    assert len(comment) >= 3 and all(ln.startswith("#") for ln in lines[1:len(comment) + 1]), \
        "a comment block after the schema line says what the scenario represents and where its numbers come from"
    text = " ".join(comment).lower()
    assert "assumption" in text or "source" in text or re.search(r"\(\w.*\d{4}", text), "no source named"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_file_is_valid_small_and_described(path):
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert sc.description.strip() and "\n" not in sc.description.strip()
    assert sc.customers <= 20_000
    assert sc.replications == 3


def test_the_json_schema_file_is_current():
    committed = (SCENARIOS / "scenario.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "regenerate it: loyaltysim schema > scenarios/scenario.schema.json"


def test_the_readme_answers_a_question_for_each_file():
    readme = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    for path in FILES:
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{path.name}`")), None)
        assert row is not None, f"{path.name} is not in scenarios/README.md"
        assert "?" in row


# ---------------------------------------------------------------- each archetype is what it says

def test_hotel_tiers_has_elite_tiers_and_experiential_rewards():
    s = load_scenario(SCENARIOS / "hotel_tiers.yaml").scheme
    assert len(s.tiers.levels) >= 3
    assert any(r.kind == "experience" and r.perceived_ratio > 1 for r in s.points.rewards)


def test_paid_membership_charges_a_fee():
    assert load_scenario(SCENARIOS / "paid_membership.yaml").scheme.membership.fee > 0


def test_member_pricing_gives_prices_not_points():
    s = load_scenario(SCENARIOS / "member_pricing.yaml").scheme
    assert s.member_pricing is not None and s.points is None and s.stamps is None


def test_the_data_hungry_app_asks_for_everything():
    s = load_scenario(SCENARIOS / "data_hungry_app.yaml").scheme
    assert set(s.data.requested) == {"transactions", "demographics", "app", "third_party"}
    assert {"app", "third_party"} <= set(s.data.required)


def test_the_coalition_has_partner_earn_paid_for_by_partners():
    p = load_scenario(SCENARIOS / "coalition.yaml").scheme.points
    assert p.partner_points_per_year > 0 and p.partner_pays_per_point > 0


def test_the_devaluation_raises_reward_thresholds_mid_run():
    sc = load_scenario(SCENARIOS / "devaluation.yaml")
    (change,) = sc.changes
    assert 0 < change.day < sc.days
    after = apply_change(sc, change.set)
    before_pts = [r.points for r in sc.scheme.points.rewards]
    after_pts = [r.points for r in after.scheme.points.rewards]
    assert all(b <= a for b, a in zip(before_pts, after_pts)) and before_pts != after_pts


@pytest.mark.parametrize("name", ["hotel_tiers", "paid_membership", "member_pricing", "data_hungry_app",
                                  "coalition", "devaluation"])
def test_each_new_archetype_runs(name):
    days = 200 if name == "devaluation" else 60  # past the devaluation day
    result = simulate(SCENARIOS / f"{name}.yaml", customers=200, days=days, replications=1)
    assert result.verdict["state"] in STATES
    assert (result.summary["n"] == 1).any()


# ---------------------------------------------------------------- found by name

def test_the_package_reaches_the_shipped_folder():
    assert shipped_dir() is not None and shipped_dir().samefile(SCENARIOS)
    assert list(shipped()) == [p.stem for p in FILES]
    assert [name for name, _ in describe_shipped()] == [p.stem for p in FILES]


def test_shipped_scenarios_are_package_data():
    # Wheels copy loyaltysim/shipped_scenarios (a link to scenarios/) as package data.
    rules = (ROOT / "MANIFEST.in").read_text()
    assert "recursive-include loyaltysim/shipped_scenarios *.yaml" in rules
    assert (ROOT / "loyaltysim" / "shipped_scenarios" / "scenario.schema.json").exists()


def test_a_bare_name_resolves_to_a_shipped_scenario(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("coalition").samefile(SCENARIOS / "coalition.yaml")
    assert resolve("coalition.yaml").samefile(SCENARIOS / "coalition.yaml")
    (tmp_path / "coalition.yaml").write_text("name: mine\n")
    assert resolve("coalition.yaml") == Path("coalition.yaml")  # a file here wins
    assert resolve("sub/x.yaml") == Path("sub/x.yaml")  # a path is left to the loader


def test_every_shipped_scenario_loads_with_overrides():
    for path in FILES:
        sc = load_scenario(path, ["customers=100", "replications=1"])
        assert (sc.customers, sc.replications) == (100, 1)
        assert yaml.safe_load(path.read_text())["name"] == sc.name


def test_the_scenario_reference_covers_every_field():
    from loyaltysim.scenario.models import Scenario

    text = scenario_reference()
    seen, todo = set(), [Scenario]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        assert f"### {model.__name__}\n" in text
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in text, f"{model.__name__}.{name}"
            todo += [m for m in _models_in(field.annotation)]
    assert "| `earn_per_unit` | number | `1.0` | Points per unit of money spent." in text


def _models_in(annotation) -> list:
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_the_readme_scenario_reference_is_current():
    from loyaltysim.scenario.schema import README_MARKERS, readme_reference
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start, end = README_MARKERS
    shown = readme[readme.index(start) + len(start):readme.index(end)].strip()
    assert shown == readme_reference(), (
        "README's scenario reference is stale: run python -c 'from loyaltysim.scenario.schema import "
        "update_readme; update_readme()'")
