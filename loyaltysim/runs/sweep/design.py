"""A sweep's design and plan: which scenario points to run, each validated, with the run key of each
replicate. A design comes from ``--vary`` options or a scenario file's ``sweep:`` section."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from loyaltysim.errors import ScenarioError
from loyaltysim.present.formatting import format_parameters
from loyaltysim.results.store import versions
from loyaltysim.runs.sweep.statistics import COLUMNS
from loyaltysim.scenario.loading import apply_overrides, canonical_json, read_scenario, scenario_data, validate
from loyaltysim.scenario.models import Scenario, SweepDesign

__all__ = [
    "FORMAT", "SweepDesign", "SweepPlan", "SweepPoint", "design_from", "load_sweep", "parse_vary", "plan_sweep",
    "point_hash", "run_key",
]

FORMAT = 1
"""Version of the sweep folder's layout (in sweep.json)."""


def _plain(x: Any) -> Any:
    """JSON-compatible data (tuples become lists), as it reads back from sweep.json."""
    return json.loads(json.dumps(x))


def parse_vary(texts: list[str], kind: str | None = None) -> SweepDesign:
    """A design from ``--vary key.path=v1,v2,...`` options; values are YAML (``[a,b]`` stays one value)."""
    vary: dict[str, list[Any]] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError(f"'{text}' is not key.path=v1,v2,...", source="--vary")
        if key in vary:
            raise ScenarioError("is given twice (list all its values in one --vary)", source="--vary", field=key)
        pieces = _split_top_level(raw)
        if not any(p.strip() for p in pieces):
            raise ScenarioError("has no values (key.path=v1,v2,...)", source="--vary", field=key)
        values = []
        for piece in pieces:
            try:
                values.append(yaml.safe_load(piece) if piece.strip() else "")
            except yaml.YAMLError:
                raise ScenarioError(f"cannot read the value '{piece}'", source="--vary", field=key) from None
        vary[key] = values
    return design_from({"kind": kind, "vary": vary}, source="--vary")


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes."""
    out, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def design_from(data: Any, source: str = "sweep", lines: dict | None = None) -> SweepDesign:
    """Validate a design mapping; problems raise a one-line ScenarioError naming the field."""
    if isinstance(data, SweepDesign):
        return data
    data = {k: v for k, v in (data or {}).items() if v is not None} if isinstance(data, dict) else data
    try:
        return SweepDesign.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(SweepDesign.model_fields)
            problem = f"'{loc[-1]}' is not a field (allowed: {allowed})"
        else:
            problem = err["msg"].removeprefix("Value error, ")
        prefix = ("sweep",) if source != "--vary" else ()
        path = prefix + tuple(loc)
        line = None
        for n in range(len(path), 0, -1):
            if lines and path[:n] in lines:
                line = lines[path[:n]]
                break
        field_ = ".".join(str(p) for p in path) or None
        raise ScenarioError(problem, source=source, line=line, field=field_) from None


# ---------------------------------------------------------------- the plan: points and run keys

@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its parameter values and its resolved scenario."""

    index: int
    parameters: dict[str, Any]
    scenario: Scenario
    scenario_hash: str           # of the resolved scenario without replications (see point_hash)
    keys: tuple[str, ...]        # run key of each replicate


@dataclass(frozen=True)
class SweepPlan:
    """A sweep ready to run: the base scenario, the design, the points, and the units of work."""

    base: Scenario
    design: SweepDesign
    replications: int
    points: list[SweepPoint]
    reference: dict[str, Any]     # each factor's value in the base scenario (one-factor lines hold the others here)
    source: str = "<scenario>"

    @property
    def factors(self) -> list[str]:
        return list(self.points[0].parameters) if self.points else []

    @property
    def units(self) -> list[tuple[int, int, str]]:
        """(point, replicate, run key) of every unit, point by point."""
        return [(p.index, r, key) for p in self.points for r, key in enumerate(p.keys)]

    def record(self) -> dict:
        """What sweep.json holds: everything that defines the sweep, compared on resume."""
        base = scenario_data(self.base)
        base.pop("replications", None)
        return _plain({
            "kind": "sweep", "format": FORMAT, "loyaltysim": versions()["loyaltysim"], "scenario": self.base.name,
            "design": self.design.record(), "replications": self.replications, "seed": self.base.seed,
            "base": base, "reference": self.reference,
            "points": [{"point": p.index, "parameters": p.parameters, "scenario_hash": p.scenario_hash,
                        "runs": list(p.keys)} for p in self.points],
        })


def point_hash(scenario: Scenario) -> str:
    """Hash of a point's resolved scenario without ``replications`` (a replicate does not depend on it)."""
    data = scenario_data(scenario)
    data.pop("replications", None)
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def run_key(scenario: Scenario, replicate: int, scenario_hash: str | None = None) -> str:
    """The key of one run: its resolved parameters, replicate and seed (24 hex digits)."""
    h = scenario_hash or point_hash(scenario)
    text = canonical_json({"scenario": h, "replicate": replicate, "seed": scenario.seed})
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _get_path(data: Any, key: str) -> Any:
    here = data
    for part in key.split("."):
        if isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        elif isinstance(here, dict) and part in here:
            here = here[part]
        else:
            return None
    return here


def plan_sweep(scenario: Scenario | dict, design: SweepDesign | dict, *, replications: int | None = None,
               source: str = "<scenario>", lines: dict | None = None,
               overridden: list[str] | tuple[str, ...] = ()) -> SweepPlan:
    """Resolve a design against a base scenario (a Scenario, or its data before validation).

    Every point is validated before anything runs; a point that makes an invalid scenario raises a
    ScenarioError naming the point and the field. ``overridden`` names the ``--set`` overrides in the
    data, which a problem in the base scenario is blamed on (as in ``load_scenario``).
    """
    design = design_from(design)
    if isinstance(scenario, Scenario):
        base, raw = scenario, scenario_data(scenario)
    else:
        raw = {k: v for k, v in scenario.items() if k != "sweep"}
        base = validate(raw, source, lines, overridden=overridden)
    reps = replications or design.replications or base.replications
    resolved = scenario_data(base)
    factors = design.factors
    clash = [f for f in factors if f in COLUMNS]
    if clash:
        raise ScenarioError(f"'{clash[0]}' cannot be swept under that name", source=source, field=clash[0])
    reference = _plain({f: _get_path(resolved, f) for f in factors})
    kind = design.resolved_kind
    # Each point sets only the fields its design names (a field left out keeps the scenario's own
    # value, which may be "absent"); its parameters record every factor's value, for the index.
    if kind == "grid":
        specified = [dict(zip(factors, values)) for values in itertools.product(*design.vary.values())]
    elif kind == "one_at_a_time":
        specified = [{}] + [{f: v} for f, values in design.vary.items() for v in values]
    else:
        specified = list(design.points)
    points: list[SweepPoint] = []
    seen: dict[str, int] = {}
    for given in specified:
        i = len(points)
        given = _plain(given)
        params = {**reference, **given}
        sc = _point_scenario(raw, given, params, i, reps)
        h = point_hash(sc)
        if h in seen:
            if kind == "one_at_a_time":  # a factor's value that is the scenario's own: the base point has it
                continue
            raise ScenarioError(f"points {seen[h]} and {i} give the same scenario ({format_parameters(params)})",
                                source=source, field="sweep")
        seen[h] = i
        points.append(SweepPoint(i, params, sc, h, tuple(run_key(sc, r, h) for r in range(reps))))
    return SweepPlan(base, design, reps, points, reference, source)


def _point_scenario(raw: dict, given: dict, params: dict, index: int, replications: int) -> Scenario:
    where = f"sweep point {index} ({format_parameters(params)})"
    try:
        data = apply_overrides(raw, given, source=where)
        data["replications"] = replications
        return validate(data, where)
    except ScenarioError as err:
        raise ScenarioError(err.problem, source=where, field=err.field) from None


def load_sweep(path: str | Path, overrides: list[str] | None = None, *, vary: list[str] | None = None,
               kind: str | None = None, replications: int | None = None, seed: int | None = None,
               customers: int | None = None, days: int | None = None) -> SweepPlan:
    """Read a scenario file and its ``sweep:`` section (or ``--vary`` options, which replace it) into a plan.

    ``overrides`` (``--set``) and the keyword arguments change the base scenario before the design applies.
    """
    source = str(Path(path))
    data, lines = read_scenario(path)
    section = data.pop("sweep", None)
    if vary:
        design = parse_vary(vary, kind)
    elif section is not None:
        if not isinstance(section, dict):
            raise ScenarioError("must be a mapping (kind, vary, points, replications)", source=source,
                                line=lines.get(("sweep",)), field="sweep")
        if kind is not None:
            section = {**section, "kind": kind}
        design = design_from(section, source, lines)
    else:
        raise ScenarioError("nothing to sweep: give --vary key.path=v1,v2,... or a sweep: section", source=source)
    if overrides:
        data = apply_overrides(data, overrides)
    for key, value in (("seed", seed), ("customers", customers), ("days", days)):
        if value is not None:
            data[key] = value
    return plan_sweep(data, design, replications=replications, source=source, lines=lines,
                      overridden=[o.strip() for o in overrides or []])
