"""Scenario rules: what the models accept and refuse at their boundaries, and what loading computes
(size limits, duplicate keys, overrides and who gets blamed for them, mid-run changes, the hash)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from loyaltysim.errors import ScenarioError
from loyaltysim.scenario import loading
from loyaltysim.scenario.loading import (
    apply_change,
    apply_overrides,
    canonical_json,
    load_scenario,
    parse_override,
    read_scenario,
    read_value,
    read_yaml,
    scenario_data,
    scenario_hash,
    set_path,
    validate,
)

POINTS = {"rewards": [{"name": "v", "kind": "voucher", "points": 100, "face_value": 1}]}


def minimal(**top) -> dict:
    return {"name": "t", "population": {"segments": [{"name": "a", "share": 1.0}]}, **top}


def refusal(data: dict, **kw) -> ScenarioError:
    with pytest.raises(ScenarioError) as err:
        validate(data, "s.yaml", **kw)
    assert "\n" not in str(err.value)
    return err.value


# ---------------------------------------------------------------- share lists

@pytest.mark.parametrize("income, problem", [
    ([0.5, 0.5], "needs 3 shares (low, middle, high) (got 2)"),
    ([0.25, 0.25, 0.25, 0.25], "needs 3 shares (low, middle, high) (got 4)"),
    ([1.2, -0.2, 0.0], "shares must be at least 0"),
    ([0.3, 0.3, 0.402], "shares must sum to 1 (got 1.002)"),
    ([0.3, 0.3, 0.398], "shares must sum to 1 (got 0.998)"),
])
def test_a_share_list_needs_its_length_no_negatives_and_a_sum_of_one(income, problem):
    data = minimal()
    data["population"]["segments"][0]["income"] = income
    err = refusal(data)
    assert err.field == "population.segments.0.income" and err.problem.startswith(problem)


@pytest.mark.parametrize("income", [[1.0, 0.0, 0.0], [0.3, 0.3, 0.4009], [0.3, 0.3, 0.3991]])
def test_a_share_list_within_a_thousandth_of_one_is_accepted(income):
    data = minimal()
    data["population"]["segments"][0]["income"] = income
    assert validate(data).population.segments[0].income == income


def test_segment_shares_must_sum_to_one_and_names_be_unique_and_not_all():
    segs = [{"name": "a", "share": 0.6}, {"name": "b", "share": 0.3}]
    assert refusal(minimal(population={"segments": segs})).problem.startswith("segment shares must sum to 1 (got 0.9)")
    segs = [{"name": "a", "share": 0.5}, {"name": "a", "share": 0.5}]
    assert "segment names must be unique" in refusal(minimal(population={"segments": segs})).problem
    err = refusal(minimal(population={"segments": [{"name": "all", "share": 1.0}]}))
    assert "'all' is reserved" in err.problem and err.field == "population.segments.0.name"


# ---------------------------------------------------------------- scheme rules

@pytest.mark.parametrize("scheme, problem", [
    ({"stamps": {"required": 5, "prefilled": 5, "reward": POINTS["rewards"][0]}}, "prefilled must be below required (5)"),
    ({"points": POINTS, "tiers": {"levels": [{"name": "a", "threshold": 10}, {"name": "b", "threshold": 20}]}},
     "the lowest tier's threshold must be 0 (got 10.0)"),
    ({"points": POINTS, "tiers": {"levels": [{"name": "a", "threshold": 0}, {"name": "b", "threshold": 0}]}},
     "tier thresholds must increase (got [0.0, 0.0])"),
    ({"challenges": {}}, "a challenge needs a bonus"),
    ({"challenges": {"bonus_points": 5}}, "challenges.bonus_points needs points"),
    ({"expiry": {"age_days": 30}}, "expiry needs points"),
    ({"tiers": {"levels": [{"name": "a", "threshold": 0}, {"name": "b", "threshold": 5}]}}, "tiers need points"),
    ({"data": {"requested": ["app"]}}, "must include 'transactions'"),
    ({"data": {"required": ["transactions", "app"]}}, "required sources ['app'] are not in requested"),
    ({"data": {"privacy_cost_per_year": {"gossip": 1.0}}}, "'gossip' is not a data source"),
    ({"points": {**POINTS, "category_multipliers": {"toys": 2}}}, "'toys' is not a category"),
    ({"points": {**POINTS, "category_multipliers": {"fuel": -1}}}, "fuel must be at least 0 (got -1"),
])
def test_scheme_rules_refuse_combinations_that_cannot_run(scheme, problem):
    assert problem in refusal(minimal(scheme=scheme)).problem


@pytest.mark.parametrize("scheme", [
    {"stamps": {"required": 5, "prefilled": 4, "reward": POINTS["rewards"][0]}},
    {"points": POINTS, "tiers": {"levels": [{"name": "a", "threshold": 0}, {"name": "b", "threshold": 0.01}]}},
    {"challenges": {"voucher": 1.0}},
    {"points": {**POINTS, "category_multipliers": {"fuel": 0}}, "expiry": {"age_days": 1}},
    {"data": {"requested": ["transactions", "app"], "required": ["transactions", "app"]}},
])
def test_the_nearest_valid_combinations_are_accepted(scheme):
    validate(minimal(scheme=scheme))


def test_margins_changes_and_the_verdict_threshold_have_their_limits():
    margin = [0.3] * 6 + [0.999]
    assert validate(minimal(business={"margin": margin})).business.margin == margin
    assert "each from 0 to below 1" in refusal(minimal(business={"margin": [0.3] * 6 + [1.0]})).problem
    assert "needs 7 rates" in refusal(minimal(business={"margin": [0.3] * 6})).problem
    changes = [{"day": 9, "set": {"verdict.period_days": 7}}, {"day": 3, "set": {"verdict.period_days": 14}}]
    assert "changes must be in day order (got days [9, 3])" in refusal(minimal(changes=changes)).problem
    assert refusal(minimal(verdict={"roi_threshold": 0})).field == "verdict.roi_threshold"


# ---------------------------------------------------------------- YAML size limits

def test_nesting_is_allowed_to_exactly_max_depth():
    assert loading.MAX_DEPTH == 100
    deep = "[" * 100 + "1" + "]" * 100
    assert read_value(deep) is not None
    with pytest.raises(ScenarioError, match="nest more than 100 deep"):
        read_value("[" + deep + "]")


def test_values_are_counted_with_aliases_expanded(monkeypatch):
    # A list of three is four values. 'a: &x [1, 2]' and 'b: *x' count the list twice: 1 + (1 + 3) + (1 + 3) = 9.
    monkeypatch.setattr(loading, "MAX_VALUES", 4)
    assert read_value("[1, 2, 3]") == [1, 2, 3]
    with pytest.raises(ScenarioError, match="more than 4 values once its aliases are expanded"):
        read_value("[1, 2, 3, 4]")
    monkeypatch.setattr(loading, "MAX_VALUES", 9)
    assert read_yaml("a: &x [1, 2]\nb: *x\n", "f")[0] == {"a": [1, 2], "b": [1, 2]}
    monkeypatch.setattr(loading, "MAX_VALUES", 8)
    with pytest.raises(ScenarioError, match="more than 8 values"):
        read_yaml("a: &x [1, 2]\nb: *x\n", "f")


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(ScenarioError, match="recursive anchors") as err:
        read_yaml("a: 1\nb: &x [1, *x]\n", "f.yaml")
    assert err.value.line == 2 and err.value.source == "f.yaml"


def test_duplicate_keys_are_refused_but_merge_keys_may_be_overridden():
    with pytest.raises(ScenarioError) as err:
        read_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    assert str(err.value) == "f.yaml:4: duplicate key 'c' (first at line 3)"
    data, lines = read_yaml("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert data["m"] == {"x": 1, "y": 3}
    assert lines[("m", "y")] == 4 and lines[("m", "x")] == 1 and lines[("m",)] == 2


def test_keys_must_be_names_and_numbers_readable():
    with pytest.raises(ScenarioError, match="a key must be a name") as err:
        read_yaml("a: 1\n[1, 2]: 3\n", "f.yaml")
    assert err.value.line == 2
    assert read_yaml("n: " + "7" * 4300 + "\n", "f")[0]["n"] == int("7" * 4300)
    with pytest.raises(ScenarioError, match="has 4,301 characters, too long to read"):
        read_yaml("n: " + "7" * 4301 + "\n", "f")
    with pytest.raises(ScenarioError) as err:
        read_yaml("a: 1\nn: !!int many\n", "f.yaml")
    assert str(err.value) == "f.yaml:2: invalid YAML: 'many' cannot be read as !!int"


def test_a_file_must_hold_a_mapping():
    with pytest.raises(ScenarioError, match="the file is empty"):
        read_yaml("# nothing\n", "f")
    with pytest.raises(ScenarioError, match=r"must be a mapping of fields \(got list\)"):
        read_yaml("- 1\n", "f")


def test_reading_problems_name_the_file(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        read_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="is a folder"):
        read_scenario(tmp_path)
    (tmp_path / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="is not UTF-8 text"):
        read_scenario(tmp_path / "latin.yaml")


# ---------------------------------------------------------------- overrides

@pytest.mark.parametrize("text, expected", [
    ("scheme.points.earn_per_unit=0.5", ("scheme.points.earn_per_unit", 0.5)),
    ("  days = 30", ("days", 30)),
    ("description=", ("description", "")),
    ("description=a=b", ("description", "a=b")),
    ("x=[1, 2]", ("x", [1, 2])),
    ("x={a: 1}", ("x", {"a": 1})),
    ("x=null", ("x", None)),
])
def test_an_override_is_a_key_path_and_a_yaml_value(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text, problem", [
    ("days", "'days' is not key.path=value"),
    ("=3", "has an empty key path"),
    ("a..b=3", "has an empty key path"),
    ("a.=3", "has an empty key path"),
    ("x=[1, 2", "x: cannot read the value '[1, 2'"),
    ("x=" + "[" * 102 + "]" * 102, "cannot read the value"),
])
def test_an_unreadable_override_is_refused(text, problem):
    with pytest.raises(ScenarioError) as err:
        parse_override(text)
    assert err.value.source == "--set" and problem in str(err.value)


def test_set_path_creates_mappings_and_indexes_lists():
    data = {"a": None, "l": [{"k": 1}, 2]}
    set_path(data, "a.b.c", 1, "--set")
    set_path(data, "l.0.k", 5, "--set")
    set_path(data, "l.1", 7, "--set")
    set_path(data, "new", 3, "--set")
    assert data == {"a": {"b": {"c": 1}}, "l": [{"k": 5}, 7], "new": 3}


@pytest.mark.parametrize("key, problem, field", [
    ("l.2", "index '2' is not in a list of 2 items", "l.2"),
    ("l.x", "index 'x' is not in a list of 2 items", "l.x"),
    ("l.1.k", "cannot set a field inside a value that is not a mapping", "l.1.k"),
    ("s.k.j", "cannot set a field inside a value that is not a mapping", "s.k"),
])
def test_set_path_refuses_what_it_cannot_reach(key, problem, field):
    with pytest.raises(ScenarioError) as err:
        set_path({"l": [{}, 2], "s": 3}, key, 1, "src")
    assert (err.value.problem, err.value.field, err.value.source) == (problem, field, "src")


def test_overrides_apply_in_order_to_a_copy():
    data = minimal()
    out = apply_overrides(data, ["days=10", "days=20", "population.segments.0.share=0.5"])
    assert out["days"] == 20 and out["population"]["segments"][0]["share"] == 0.5
    assert data == minimal()
    assert apply_overrides(data, {"seed": 4, "scheme.name": "x"})["scheme"] == {"name": "x"}


# ---------------------------------------------------------------- who is blamed

def test_a_bad_value_is_reported_at_its_line_or_its_nearest_parent():
    text = "name: t\npopulation:\n  segments:\n    - name: a\n      share: 2\n"
    data, lines = read_yaml(text, "s.yaml")
    assert str(refusal(data, lines=lines)) == ("s.yaml:5: population.segments.0.share: Input should be less than "
                                               "or equal to 1 (got 2)")
    data, lines = read_yaml("name: t\npopulation:\n  segments:\n    - {name: a}\n", "s.yaml")
    err = refusal(data, lines=lines)
    assert (err.line, err.field, err.problem) == (4, "population.segments.0.share", "is required")


def test_an_override_is_blamed_when_it_set_the_field_or_a_parent_of_it():
    data = minimal(customers=0, days=0)
    err = refusal(data, overridden=["customers=0", "seed=1"])
    assert err.source == "--set customers=0" and err.problem.endswith("(and 1 more)")
    assert refusal(minimal(customers=0), overridden=["customers=5", " customers = 0"]).source == "--set  customers = 0"
    bad = minimal()
    bad["population"]["segments"][0]["share"] = 3
    assert refusal(bad, overridden=["population={}"]).source == "--set population={}"
    assert refusal(bad, overridden=["population.segments.0.share.x=1"]).source.startswith("--set population.")
    assert refusal(bad, overridden=["population.segments.1=1"]).source == "s.yaml"
    assert refusal(bad, overridden=["customers=9"]).source == "s.yaml"


def test_load_scenario_applies_overrides_and_blames_them(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\npopulation:\n  segments:\n    - {name: a, share: 1}\n")
    assert load_scenario(path, ["days=12"]).days == 12
    assert load_scenario(path, {"days": 13}).days == 13
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, {"days": -1})
    assert str(err.value).startswith("--set days: days: ")
    assert load_scenario(path).days == 365


# ---------------------------------------------------------------- mid-run changes

@pytest.mark.parametrize("key", ["name", "customers", "days", "replications", "seed", "start_weekday",
                                 "population.segments.0.share", "changes", "$schema", "sweep"])
def test_a_change_may_not_touch_what_defines_the_run(key):
    err = refusal(minimal(changes=[{"day": 5, "set": {key: 1}}]))
    assert err.problem.startswith(f"change on day 5: '{key}' cannot change during a run")
    assert err.field == "changes.0.set"


def test_a_change_must_leave_a_valid_scenario():
    ok = validate(minimal(changes=[{"day": 5, "set": {"scheme.costs.fixed_per_year": 9, "verdict.period_days": 7}}]))
    assert ok.changes[0].set["verdict.period_days"] == 7
    err = refusal(minimal(changes=[{"day": 4, "set": {"scheme.costs.fixed_per_year": -1}}]))
    assert err.problem.startswith("change on day 4: scheme.costs.fixed_per_year: Input should be greater than or equal")
    err = refusal(minimal(changes=[{"day": 6, "set": {"scheme.name.x": 1}}]))
    assert err.problem == ("change on day 6: scheme.name.x: cannot set a field inside a value that is not a mapping")
    data, lines = read_yaml("name: t\npopulation: {segments: [{name: a, share: 1}]}\nchanges:\n"
                            "  - {day: 2, set: {verdict.period_days: 7}}\n  - {day: 3, set: {days: 9}}\n", "s.yaml")
    assert refusal(data, lines=lines).line == 5


def test_a_change_applies_to_a_copy():
    sc = validate(minimal())
    changed = apply_change(sc, {"verdict.period_days": 7, "scheme.costs.fixed_per_year": 12.5})
    assert (changed.verdict.period_days, changed.scheme.costs.fixed_per_year) == (7, 12.5)
    assert sc.verdict.period_days == 28


# ---------------------------------------------------------------- resolved data and its hash

def test_the_hash_depends_on_the_resolved_scenario_only():
    a = validate(minimal())
    same = validate({**minimal(), "days": 365, "$schema": "x.json"})  # a default written out, an editor hint
    assert scenario_hash(a) == scenario_hash(same) and len(scenario_hash(a)) == 64
    assert scenario_hash(a) != scenario_hash(validate(minimal(seed=1)))
    data = scenario_data(a)
    assert "$schema" not in data and "sweep" not in data and data["days"] == 365
    assert "points" not in data["scheme"]  # a mechanic left out stays out
    assert validate(copy.deepcopy(data)) == a


def test_canonical_json_is_compact_sorted_and_reads_numpy_numbers():
    assert canonical_json({"b": np.float64(1.5), "a": [np.int64(2)]}) == '{"a":[2],"b":1.5}'
    with pytest.raises(TypeError, match="object is not plain data"):
        canonical_json({"a": object()})


# ---------------------------------------------------------------- what an error says

def test_an_unreadable_value_is_quoted_shortened_or_named_by_its_kind():
    with pytest.raises(ScenarioError) as err:
        read_yaml("a: 1\nn: !!int " + "x" * 100 + "\n", "f.yaml")
    assert err.value.problem == "invalid YAML: '" + "x" * 57 + "...' cannot be read as !!int"
    with pytest.raises(ScenarioError) as err:
        read_yaml("a: 1\nn: !!map [[1]]\n", "f.yaml")
    assert str(err.value) == "f.yaml:2: invalid YAML: this sequence cannot be read as !!map"
    with pytest.raises(ScenarioError) as err:
        read_yaml("a: \x00\n", "f.yaml")
    assert str(err.value) == "f.yaml:1: invalid YAML: control characters are not allowed (character U+0000)"


@pytest.mark.parametrize("where, typo, close, allowed", [
    (("population", "segments", 0), "shaer", "share", "name, share, "),             # in a list of models
    (("scheme", "points"), "earn_per_unt", "earn_per_unit", "earn_per_unit, category_multipliers, "),  # optional
    (("scheme", "points", "rewards", 0), "pionts", "points", "name, kind, points, face_value, "),
    (("changes", 0), "nott", "note", "day, set, note"),
])
def test_an_unknown_field_suggests_the_closest_field_of_its_own_model(where, typo, close, allowed):
    data = minimal(scheme={"points": copy.deepcopy(POINTS)}, changes=[{"day": 1, "set": {}}])
    here = data
    for part in where:
        here = here[part]
    here[typo] = 1
    err = refusal(data)
    assert err.field == ".".join(map(str, where + (typo,)))
    assert err.problem.startswith(f"'{typo}' is not a field; did you mean '{close}'? (allowed: {allowed}")


@pytest.mark.parametrize("top, field, problem", [
    ({"scheme": {"Points": 1}}, "scheme.Points", "'Points' is not a field; did you mean 'points'? (allowed: name, points, ..."),
    ({"changes": [{"day": 1, "set": {}, "zzzz": 1}]}, "changes.0.zzzz", "'zzzz' is not a field (allowed: day, set, note)"),
    ({"scheme": {"points": {**POINTS, "category_multipliers": {3: 2.0}}}}, "scheme.points.category_multipliers",
     "the key 3 is not a name (keys are text)"),
    ({"population": 3}, "population", "Input should be a valid dictionary or instance of Population"),
    ({"population": {"segments": {"a": 1}}}, "population.segments", "Input should be a valid list"),
    ({"days": [1, 2]}, "days", "Input should be a valid integer"),
    ({"days": "many"}, "days", "Input should be a valid integer, unable to parse string as an integer (got 'many')"),
])
def test_the_problem_names_the_field_and_quotes_a_scalar_it_could_not_use(top, field, problem):
    err = refusal(minimal(**top))
    assert err.field == field
    assert err.problem.startswith(problem[:-3]) if problem.endswith("...") else err.problem == problem


def test_a_problem_in_a_file_names_the_file_and_the_nearest_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\npopulation:\n  segments:\n    - {name: a, share: 2}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value) == f"{path}:4: population.segments.0.share: Input should be less than or equal to 1 (got 2)"
    path.write_text("name: t\ndays: 3\n")  # a missing field has no line of its own: the file's first
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value) == f"{path}:1: population: is required"
    path.write_text("name: t\nm:\n  <<: {x: 1}\n  y: 1\n  y: 2\n")  # keys after a merge are still checked
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value) == f"{path}:5: duplicate key 'y' (first at line 4)"


def test_an_alias_met_again_elsewhere_is_not_mistaken_for_recursion():
    assert read_yaml("a: [&x [1]]\nb: [*x]\n", "f")[0] == {"a": [[1]], "b": [[1]]}
