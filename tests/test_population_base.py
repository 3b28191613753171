"""A scenario's population by reference: ``population.base`` names a population file whose segments are
the defaults of the scenario's own, so refitting the file changes every scenario that uses it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from loyaltysim.errors import ScenarioError
from loyaltysim.scenario.loading import load_scenario

POPULATIONS = Path(__file__).resolve().parent.parent / "scenarios" / "populations"
CALIBRATED = POPULATIONS / "grocery_completejourney.yaml"


def write(folder: Path, population: dict, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"name": "s", "customers": 100, "days": 5, "population": population}))
    return path


def calibrated_segment() -> dict:
    return yaml.safe_load(CALIBRATED.read_text())["population"]["segments"][0]


def test_segments_take_the_base_files_fields_and_set_their_own(tmp_path):
    (tmp_path / "pops").mkdir()
    shutil.copy(CALIBRATED, tmp_path / "pops" / "grocery.yaml")
    sc = load_scenario(write(tmp_path, {"base": "pops/grocery.yaml", "segments": [
        {"name": "deal_seekers", "share": 0.6, "motivations": {"outcome": {"mean": 0.8}}},
        {"name": "others", "share": 0.4, "basket_log_mu": 3.1}]}))
    base = calibrated_segment()
    a, b = sc.population.segments
    for seg in (a, b):
        assert seg.trips_per_year.mean == base["trips_per_year"]["mean"]
        assert seg.trips_per_year.shape == base["trips_per_year"]["shape"]
        assert seg.household_size == base["household_size"]
    assert a.motivations.outcome.mean == 0.8 and a.basket_log_mu == base["basket_log_mu"]
    assert b.basket_log_mu == 3.1 and b.motivations.outcome.mean == 0.5  # the schema's default
    assert (a.name, a.share, b.name, b.share) == ("deal_seekers", 0.6, "others", 0.4)
    assert sc.population.base is None  # resolved: the values themselves are the record


def test_without_segments_the_base_is_the_population_and_a_refit_changes_the_scenario(tmp_path):
    pop = tmp_path / "pop.yaml"
    shutil.copy(CALIBRATED, pop)
    scenario = write(tmp_path, {"base": "pop.yaml"})
    before = load_scenario(scenario).population.segments
    assert [s.name for s in before] == [calibrated_segment()["name"]]
    data = yaml.safe_load(pop.read_text())
    data["population"]["segments"][0]["trips_per_year"]["mean"] = 77.0
    pop.write_text(yaml.safe_dump(data))
    assert load_scenario(scenario).population.segments[0].trips_per_year.mean == 77.0


def test_the_base_is_found_beside_the_scenario_file_not_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    shutil.copy(CALIBRATED, tmp_path / "a" / "pop.yaml")
    scenario = write(tmp_path / "a", {"base": "pop.yaml"})
    monkeypatch.chdir(tmp_path)
    assert load_scenario(scenario).population.segments[0].trips_per_year.mean > 0


@pytest.mark.parametrize(("population", "where"), [
    ({"base": "missing.yaml"}, "missing.yaml"),
    ({"base": 3}, "population.base"),
    ({"base": "two.yaml", "segments": [{"name": "c", "share": 1.0}]}, "population.segments.0.name"),
])
def test_a_base_that_cannot_be_used_is_refused_in_one_line(tmp_path, population, where):
    two = {"population": {"segments": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]}}
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(two))
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, population))
    assert where in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- a calendar by reference

CALENDAR = POPULATIONS.parent / "calendars" / "grocery_completejourney.yaml"


def with_calendar(folder: Path, calendar) -> Path:
    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "c", "customers": 100, "days": 5, "calendar": calendar,
                                    "population": {"segments": [{"name": "a", "share": 1.0}]}}))
    return path


def test_a_calendar_base_gives_its_weeks_and_the_scenario_its_own_first_week(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # found among the shipped scenarios from anywhere
    weeks = yaml.safe_load(CALENDAR.read_text())["weekly_factors"]
    sc = load_scenario(with_calendar(tmp_path, {"base": "calendars/grocery_completejourney.yaml", "first_week": 10}))
    assert sc.calendar.weekly_factors == weeks and sc.calendar.first_week == 10 and sc.calendar.base is None
    assert sc.calendar.factor(0) == weeks[9]
    # A copy beside the scenario wins over the shipped one: a refit there changes the scenario.
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "grocery_completejourney.yaml").write_text(yaml.safe_dump({"weekly_factors": [2.0] * 52}))
    sc = load_scenario(with_calendar(tmp_path, {"base": "calendars/grocery_completejourney.yaml"}))
    assert sc.calendar.weekly_factors == [2.0] * 52


@pytest.mark.parametrize(("calendar", "problem"), [
    ({"base": "nowhere.yaml"}, "nowhere.yaml: file not found"),
    ({"base": 3}, "must be the path of a calendar file"),
    ({"base": "p.yaml"}, "p.yaml holds no weekly_factors"),
])
def test_a_calendar_base_that_cannot_be_used_is_refused_in_one_line(tmp_path, calendar, problem):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"population": {"segments": []}}))
    with pytest.raises(ScenarioError) as err:
        load_scenario(with_calendar(tmp_path, calendar))
    msg = str(err.value)
    assert problem in msg and "calendar.base" in msg and "c.yaml" in msg and "\n" not in msg


def test_a_resolved_scenario_written_out_reads_back_the_same(tmp_path):
    # The resolved scenario written out in full says base: null (the schema's default): it must load as it was.
    from loyaltysim.scenario.loading import scenario_hash
    shipped_file = POPULATIONS.parent / "supermarket_points.yaml"
    sc = load_scenario(shipped_file)
    assert sc.population.base is None and sc.calendar is not None and sc.calendar.base is None
    out = tmp_path / "resolved.yaml"
    full = sc.model_dump(mode="json", by_alias=True, exclude={"schema_"})
    assert full["population"]["base"] is None and full["calendar"]["base"] is None
    out.write_text(yaml.safe_dump(full, sort_keys=False))
    assert scenario_hash(load_scenario(out)) == scenario_hash(sc)
