"""The ``sweep:`` section: which fields a sweep varies and how."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NOT_SWEPT = ("name", "replications", "seed", "$schema", "sweep")
"""Fields a sweep may not vary: replications and the seed define the replicates every point shares."""
MAX_SWEEP_POINTS = 100_000
"""Most points a grid sweep may have."""

class SweepDesign(BaseModel):
    """The ``sweep:`` section of a scenario file, or what ``--vary`` builds.

    ``vary`` maps field paths (as in ``--set``) to the values to try; ``points`` lists explicit points,
    each a mapping of field paths to values (fields a point leaves out keep the scenario's value).
    """

    kind: Literal["grid", "one_at_a_time", "list"] | None = Field(
        None, description="grid: every combination of the vary values; one_at_a_time: the scenario itself, then "
        "each field through its values with the others at the scenario's; list: the explicit points. "
        "Default: list when points are given, else grid.")
    vary: dict[str, list[Any]] = Field({}, description="Field path (as in --set) to the values to try (grid, one_at_a_time).")
    points: list[dict[str, Any]] = Field([], description="Explicit points (list): each maps field paths to values.")
    replications: int | None = Field(None, ge=1, le=1000, description="Replications per point (default: the scenario's).")

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _check(self) -> "SweepDesign":
        kind = self.resolved_kind
        if kind == "list":
            if self.vary:
                raise ValueError("a list sweep takes points, not vary")
            if not self.points:
                raise ValueError("a list sweep needs at least one point")
            for i, point in enumerate(self.points):
                if not point:
                    raise ValueError(f"point {i} sets no field")
                _check_keys(point)
        else:
            if self.points:
                raise ValueError(f"a {kind} sweep takes vary, not points (use kind: list for explicit points)")
            if not self.vary:
                raise ValueError(f"a {kind} sweep needs at least one field in vary")
            _check_keys(self.vary)
            for key, values in self.vary.items():
                if not values:
                    raise ValueError(f"vary.{key} has no values")
                seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
                for i, text in enumerate(seen):
                    if text in seen[:i]:
                        raise ValueError(f"vary.{key} lists {values[i]!r} twice")
            if kind == "grid" and math.prod(len(v) for v in self.vary.values()) > MAX_SWEEP_POINTS:
                raise ValueError(f"the grid has {math.prod(len(v) for v in self.vary.values()):,} points "
                                 f"(at most {MAX_SWEEP_POINTS:,})")
        return self

    @property
    def resolved_kind(self) -> str:
        return self.kind or ("list" if self.points else "grid")

    @property
    def factors(self) -> list[str]:
        """The varied field paths, in the order given."""
        if self.resolved_kind != "list":
            return list(self.vary)
        out: list[str] = []
        for point in self.points:
            out += [k for k in point if k not in out]
        return out

    def record(self) -> dict:
        """The design as plain data (as in sweep.json)."""
        return json.loads(json.dumps({"kind": self.resolved_kind, "vary": self.vary, "points": self.points}))


def _check_keys(keys) -> None:
    for key in keys:
        parts = str(key).split(".")
        if not key or any(not p for p in parts):
            raise ValueError(f"'{key}' is not a field path (use key.path)")
        if parts[0] in NOT_SWEPT:
            raise ValueError(f"'{key}' cannot vary in a sweep (replicates share the seed across points; "
                             "set replications and seed for the whole sweep)")
    for a in keys:
        for b in keys:
            if a != b and b.startswith(a + "."):
                raise ValueError(f"'{a}' and '{b}' overlap (vary one or the other)")
