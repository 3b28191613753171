"""Strict scenario loading: YAML with line numbers, --set overrides, validation as one-line errors."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from loyaltysim.errors import ScenarioError
from loyaltysim.scenario.models import Scenario

Path_ = tuple[str | int, ...]
FIXED_DURING_RUN = ("name", "customers", "days", "replications", "seed", "start_weekday", "population", "changes", "$schema",
                    "sweep")
"""Top-level fields a mid-run change may not touch: they define who is simulated and for how long."""


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses duplicate keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ScenarioError(
                f"duplicate key '{key}' (first at line {seen[key]})", line=key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_map(node: yaml.Node | None, path: Path_ = (), out: dict | None = None) -> dict[Path_, int]:
    """Map every key path in a YAML node tree to its 1-based line."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, path + (i,), out)
    return out


def read_yaml(text: str, source: str) -> tuple[dict, dict[Path_, int]]:
    """Parse YAML text strictly; return the data and a map of key paths to lines."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)
    except ScenarioError as err:
        raise ScenarioError(err.problem, source=source, line=err.line) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = (err.problem or err.context or "invalid YAML").strip()
        raise ScenarioError(f"invalid YAML: {problem}", source=source,
                            line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"invalid YAML: {str(err).splitlines()[0]}", source=source) from None
    except RecursionError:
        raise ScenarioError("invalid YAML: nesting too deep", source=source) from None
    if data is None:
        raise ScenarioError("the file is empty (a scenario needs at least 'name' and 'population')", source=source)
    if not isinstance(data, dict):
        raise ScenarioError(f"a scenario must be a mapping of fields (got {type(data).__name__})",
                            source=source, line=1)
    return data, _line_map(node)


# ---------------------------------------------------------------- overrides

def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key.path=value``; the value is read as a YAML scalar or flow collection."""
    if "=" not in text:
        raise ScenarioError(f"'{text}' is not key.path=value", source="--set")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"'{text}' has an empty key path (use key.path=value)", source="--set")
    try:
        value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else ""
    except (yaml.YAMLError, ScenarioError):
        raise ScenarioError(f"cannot read the value '{raw}'", source="--set", field=key) from None
    return key, value


def set_path(data: dict, key: str, value: Any, source: str) -> None:
    """Set ``value`` at a dotted path in nested dicts/lists (digits index lists), creating mappings."""
    parts = key.split(".")
    here: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(here, list):
            if not part.isdigit() or int(part) >= len(here):
                raise ScenarioError(f"index '{part}' is not in a list of {len(here)} items",
                                    source=source, field=".".join(parts[:i + 1]))
            idx = int(part)
            if last:
                here[idx] = value
            else:
                here = here[idx]
            continue
        if not isinstance(here, dict):
            raise ScenarioError("cannot set a field inside a value that is not a mapping",
                                source=source, field=".".join(parts[:i + 1]))
        if last:
            here[part] = value
        else:
            if here.get(part) is None:
                here[part] = {}
            here = here[part]


def apply_overrides(data: dict, overrides: list[str] | dict[str, Any], source: str = "--set") -> dict:
    """Return a copy of ``data`` with overrides applied (strings ``k=v`` or a mapping)."""
    out = copy.deepcopy(data)
    items = overrides.items() if isinstance(overrides, dict) else [parse_override(o) for o in overrides]
    for key, value in items:
        set_path(out, key, value, source)
    return out


# ---------------------------------------------------------------- validation

def _model_at(loc: Path_) -> type[BaseModel] | None:
    """The model class that owns the last element of ``loc`` (for "did you mean")."""
    model: Any = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) or origin is list:
        for arg in typing.get_args(annotation):
            inner = _inner_model(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        return None
    return annotation


def _describe(err: dict) -> str:
    kind = err["type"]
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        model = _model_at(loc)
        name = str(loc[-1])
        if model is not None:
            allowed = [f.alias or k for k, f in model.model_fields.items()]
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return f"'{name}' is not a field{hint} (allowed: {', '.join(allowed)})"
        return f"'{name}' is not a field"
    if kind == "missing":
        return "is required"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = err.get("input")
    if kind not in ("model_type", "dict_type", "list_type") and not isinstance(got, (dict, list)):
        msg += f" (got {got!r})"
    return msg


def _clean_loc(loc: tuple) -> Path_:
    # pydantic inserts union branch tags (e.g. 'Points') and function names in locs; drop them.
    return tuple(p for p in loc if isinstance(p, int) or not (str(p)[:1].isupper() or "[" in str(p)))


def validate(data: dict, source: str = "<scenario>", lines: dict[Path_, int] | None = None,
             overridden: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Validate a scenario mapping; raise ScenarioError naming the first problem's line and field.

    A problem in a field set by an override (``overridden``: ``key.path=value`` texts or bare key
    paths) is reported against that ``--set``, not against the file's line for the same field.
    """
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _clean_loc(tuple(err["loc"]))
        err = {**err, "loc": loc}
        field = ".".join(str(p) for p in loc) or None
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        culprit = _override_for(loc, overridden)
        if culprit is not None:
            raise ScenarioError(_describe(err) + extra, source=f"--set {culprit}", field=field) from None
        lines = lines or {}
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        raise ScenarioError(_describe(err) + extra, source=source, line=line, field=field) from None
    # Every change must itself give a valid scenario, so a bad change fails before day 0.
    for i, change in enumerate(scenario.changes):
        fixed = [k for k in change.set if k.split(".")[0] in FIXED_DURING_RUN]
        if fixed:
            raise ScenarioError(
                f"change on day {change.day}: '{fixed[0]}' cannot change during a run "
                f"(changes may set scheme, business, competition, behaviour and verdict fields)",
                source=source, line=(lines or {}).get(("changes", i)), field=f"changes.{i}.set")
        changed = apply_overrides(scenario_data(scenario), change.set, source=source)
        changed["changes"] = []
        try:
            Scenario.model_validate(changed)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = _clean_loc(tuple(err["loc"]))
            err = {**err, "loc": loc}
            raise ScenarioError(
                f"change on day {change.day}: " + _describe(err), source=source,
                line=(lines or {}).get(("changes", i)), field=".".join(str(p) for p in loc)) from None
    return scenario


def _override_for(loc: Path_, overridden) -> str | None:
    """The override key whose path contains ``loc`` or lies inside it, if any."""
    here = [str(p) for p in loc]
    for text in reversed(list(overridden)):  # the last override of a field wins, so blame it
        key = text.partition("=")[0].strip()
        parts = key.split(".")
        n = min(len(parts), len(here))
        if parts[:n] == here[:n]:
            return text
    return None


def scenario_data(scenario: Scenario) -> dict:
    """The scenario as plain data (JSON-compatible), with every default filled in."""
    return scenario.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"schema_"})


def scenario_hash(scenario: Scenario) -> str:
    """A stable hash of the resolved scenario (sha256 of canonical JSON)."""
    text = json.dumps(scenario_data(scenario), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def load_scenario(path: str | Path, overrides: list[str] | dict[str, Any] | None = None) -> Scenario:
    """Read, override and validate a scenario file. Every problem raises a one-line ScenarioError."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", source=source) from None
    except IsADirectoryError:
        raise ScenarioError("is a folder, not a scenario file", source=source) from None
    except UnicodeDecodeError:
        raise ScenarioError("is not UTF-8 text", source=source) from None
    except OSError as err:
        raise ScenarioError(f"cannot be read ({err.strerror})", source=source) from None
    data, lines = read_yaml(text, source)
    keys: list[str] = []
    if overrides:
        if isinstance(overrides, dict):
            keys = list(overrides)
        else:
            keys = [o.strip() for o in overrides]
        data = apply_overrides(data, overrides)
    return validate(data, source, lines, overridden=keys)


def apply_change(scenario: Scenario, changes: dict[str, Any]) -> Scenario:
    """The scenario with one change applied (already checked when the scenario was loaded)."""
    data = apply_overrides(scenario_data(scenario), changes)
    return Scenario.model_validate(data)
