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
from loyaltysim.scenario.shipped import shipped_dir

Path_ = tuple[str | int, ...]
FIXED_DURING_RUN = ("name", "customers", "days", "replications", "seed", "start_weekday", "population", "changes", "$schema",
                    "sweep")
"""Top-level fields a mid-run change may not touch: they define who is simulated and for how long."""


MAX_VALUES = 100_000
"""Most values (mappings, lists and scalars, every alias expanded) a scenario file may hold: a rich
scenario has about a thousand; the limit stops alias bombs ("billion laughs") before they are built."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and lists a scenario file may have (a rich scenario has about eight)."""
MERGE_TAG = "tag:yaml.org,2002:merge"
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 15x faster


class _StrictLoader(_SAFE_LOADER):
    """Safe YAML loader that refuses duplicate keys, keys that are lists or mappings, and numbers too
    long to read; a value its tag cannot read (``!!int many``) is a ScenarioError with its line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            raise _unreadable(node) from None


def _unreadable(node: yaml.Node) -> ScenarioError:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    what = f"'{_shorten(node.value)}'" if isinstance(node, yaml.ScalarNode) else f"this {node.id}"
    return ScenarioError(f"invalid YAML: {what} cannot be read as {tag}", line=_line(node))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:  # '<<: *anchor' merges a mapping; its keys may be overridden here
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise ScenarioError("a key must be a name, not a list or a mapping", line=_line(key_node))
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ScenarioError(f"duplicate key '{key}' (first at line {seen[key]})", line=_line(key_node))
        seen[key] = _line(key_node)
    return loader.construct_mapping(node, deep=deep)


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:
        if len(node.value) <= 4300:
            raise
        # Python refuses to read integers of more than 4300 digits
        raise ScenarioError(f"the number {_shorten(node.value, 20)} has {len(node.value):,} characters, "
                            "too long to read", line=_line(node)) from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_size(root: yaml.Node) -> None:
    """Refuse a node graph nested deeper than MAX_DEPTH, that expands (aliases repeated) to more than
    MAX_VALUES values, or whose aliases refer to a value that contains them, before anything is
    built from it."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted: the path from the root
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:  # depth-first without recursion
        node, depth, done = stack.pop()
        if done:
            open_.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[id(node)] > MAX_VALUES:
                raise ScenarioError(f"the file holds more than {MAX_VALUES:,} values once its aliases are "
                                    "expanded (a scenario needs far fewer; are aliases repeating an anchor?)",
                                    line=_line(node))
            continue
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise ScenarioError(f"mappings and lists nest more than {MAX_DEPTH} deep (a scenario needs about 8)",
                                line=_line(node))
        open_.add(id(node))
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) in open_:
                raise ScenarioError("an alias refers to a value that contains it (recursive anchors are not "
                                    "allowed)", line=_line(child))
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))


def _line_map(node: yaml.Node | None, path: Path_ = (), out: dict | None = None) -> dict[Path_, int]:
    """Map every key path in a YAML node tree to its 1-based line."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, _line(node))
    if isinstance(node, yaml.MappingNode):
        merged = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            out[path + (key,)] = _line(key_node)
            _line_map(value_node, path + (key,), out)
        for sub in merged:  # merged keys the mapping does not set itself: lines of the anchor
            if isinstance(sub, yaml.MappingNode):
                for key_node, value_node in sub.value:
                    key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                    if path + (key,) not in out:
                        out[path + (key,)] = _line(key_node)
                        _line_map(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, path + (i,), out)
    return out


def read_yaml(text: str, source: str) -> tuple[dict, dict[Path_, int]]:
    """Parse YAML text strictly; return the data and a map of key paths to lines."""
    loader = None
    try:
        loader = _StrictLoader(text)  # reads every character first: NUL and other controls fail here
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError("the file is empty (a scenario needs at least 'name' and 'population')")
        _check_size(node)
        lines = _line_map(node)
        try:
            data = loader.construct_document(node)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):  # in a mapping or list's body
            raise ScenarioError("invalid YAML: a tagged mapping or list cannot be read as its tag") from None
    except ScenarioError as err:
        raise ScenarioError(err.problem, source=source, line=err.line) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = (err.problem or err.context or "invalid YAML").strip()
        raise ScenarioError(f"invalid YAML: {problem}", source=source,
                            line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as err:
        raise ScenarioError(f"invalid YAML: {err.reason} ({_char(err.character)})", source=source,
                            line=text.count("\n", 0, err.position) + 1) from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"invalid YAML: {_first_line(err)}", source=source) from None
    except RecursionError:
        raise ScenarioError("invalid YAML: nesting too deep", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise ScenarioError("the file is empty (a scenario needs at least 'name' and 'population')", source=source)
    if not isinstance(data, dict):
        raise ScenarioError(f"a scenario must be a mapping of fields (got {type(data).__name__})",
                            source=source, line=1)
    return data, lines


def read_value(text: str) -> Any:
    """Parse one YAML value (an override's), as strictly as a file; raise ScenarioError or YAMLError."""
    loader = _StrictLoader(text)  # raises ReaderError (a YAMLError) on NUL and other controls
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise ScenarioError("nesting too deep") from None
    finally:
        loader.dispose()


def _char(c: str | int) -> str:
    return f"character U+{c if isinstance(c, int) else ord(c):04X}"  # the text is decoded already


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
        value = read_value(raw) if raw.strip() else ""
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
        name = str(loc[-1]) if loc else ""
        if model is not None:
            allowed = [f.alias or k for k, f in model.model_fields.items()]
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return f"'{name}' is not a field{hint} (allowed: {', '.join(allowed)})"
        return f"'{name}' is not a field"
    if kind == "missing":
        return "is required"
    got = err.get("input")
    if err.get("key"):  # a key that is not text, e.g. 3: in a mapping of names
        return f"the key {_shorten(repr(got))} is not a name (keys are text)"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind not in ("model_type", "dict_type", "list_type") and not isinstance(got, (dict, list)):
        msg += f" (got {_shorten(repr(got))})"
    return msg


def _clean_loc(loc: tuple, data: Any) -> Path_:
    """``loc`` without the union branch tags (e.g. 'Points') and function names pydantic inserts: a
    part is kept when it is in the data (a user's key may look like a tag) or is not tag-like (a
    missing field)."""
    out: list = []
    here = data
    for p in loc:
        if isinstance(here, dict) and p in here or isinstance(here, list) and isinstance(p, int) and p < len(here):
            out.append(p)
            here = here[p]
        elif isinstance(p, int) or not (str(p)[:1].isupper() or "[" in str(p)):
            out.append(p)
            here = None
    return tuple(out)


def _first_error(exc: ValidationError, data: Any) -> tuple[dict, Path_]:
    """The first error of a validation, its location cleaned; a bad key is blamed on its mapping."""
    err = exc.errors()[0]
    raw = tuple(err["loc"])
    key = err["type"] == "invalid_key" or (bool(raw) and raw[-1] == "[key]")
    loc = _clean_loc(raw, data)
    if key and loc:
        loc = loc[:-1]
    return {**err, "loc": loc, "key": key}, loc


def validate(data: dict, source: str = "<scenario>", lines: dict[Path_, int] | None = None,
             overridden: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Validate a scenario mapping; raise ScenarioError naming the first problem's line and field.

    A problem in a field set by an override (``overridden``: ``key.path=value`` texts or bare key
    paths) is reported against that ``--set``, not against the file's line for the same field. A
    ``population.base`` file is read first (:func:`with_population_base`).
    """
    data = with_population_base(data, source, lines)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err, loc = _first_error(exc, data)
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
        where = {"source": source, "line": (lines or {}).get(("changes", i)), "field": f"changes.{i}.set"}
        fixed = [k for k in change.set if k.split(".")[0] in FIXED_DURING_RUN]
        if fixed:
            raise ScenarioError(
                f"change on day {change.day}: '{fixed[0]}' cannot change during a run "
                f"(changes may set scheme, business, competition, behaviour and verdict fields)", **where)
        try:
            changed = apply_overrides(scenario_data(scenario), change.set, source=source)
        except ScenarioError as err:
            raise ScenarioError(f"change on day {change.day}: {err.field}: {err.problem}", **where) from None
        changed["changes"] = []
        try:
            Scenario.model_validate(changed)
        except ValidationError as exc:
            err, loc = _first_error(exc, changed)
            path = ".".join(str(p) for p in loc)
            raise ScenarioError(f"change on day {change.day}: " + (f"{path}: " if path else "") + _describe(err),
                                **where) from None
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


def canonical_json(data: Any) -> str:
    """Data as compact JSON with sorted keys: the same data always gives the same text (to hash)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_python_scalar)


def _python_scalar(x: Any) -> Any:
    if callable(getattr(x, "item", None)):  # a numpy number, as read back from a frame
        return x.item()
    raise TypeError(f"{type(x).__name__} is not plain data")


def scenario_hash(scenario: Scenario) -> str:
    """A stable hash of the resolved scenario (sha256 of canonical JSON)."""
    return hashlib.sha256(canonical_json(scenario_data(scenario)).encode()).hexdigest()


def read_scenario(path: str | Path) -> tuple[dict, dict[Path_, int]]:
    """Read a scenario file as it is written (before overrides and validation): its mapping and the
    line of every key path, with a ``population.base`` file read in (relative to this file). Every
    problem raises a one-line ScenarioError naming the file."""
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
        raise ScenarioError(f"cannot be read ({err.strerror or err})", source=source) from None
    data, lines = read_yaml(text, source)
    return with_population_base(data, source, lines), lines


def load_scenario(path: str | Path, overrides: list[str] | dict[str, Any] | None = None) -> Scenario:
    """Read, override and validate a scenario file. Every problem raises a one-line ScenarioError."""
    path = Path(path)
    data, lines = read_scenario(path)
    keys: list[str] = []
    if overrides:
        if isinstance(overrides, dict):
            keys = list(overrides)
        else:
            keys = [o.strip() for o in overrides]
        data = apply_overrides(data, overrides)
    return validate(data, str(path), lines, overridden=keys)


def apply_change(scenario: Scenario, changes: dict[str, Any]) -> Scenario:
    """The scenario with one change applied (already checked when the scenario was loaded)."""
    data = apply_overrides(scenario_data(scenario), changes)
    return Scenario.model_validate(data)


def with_population_base(data: dict, source: str = "<scenario>", lines: dict[Path_, int] | None = None) -> dict:
    """``data`` with its ``population.base`` file's segments under its own, and its ``calendar.base``
    file's weeks under its calendar (:func:`with_calendar_base`).

    The population file (as ``loyaltysim calibrate`` writes) is named relative to the scenario file, or
    else among the shipped scenarios (``populations/grocery_completejourney.yaml`` works from a copy of a
    shipped scenario). A base with one segment is the template of every segment; with several, each
    segment takes the base segment of its name. Fields a segment sets win (mappings such as motivations
    merged key by key); without ``segments`` the base's own are used. The base is resolved here, so a
    results folder records the values it gave.
    """
    data = with_calendar_base(data, source, lines)
    population = data.get("population")
    if not isinstance(population, dict) or population.get("base") is None:  # a resolved scenario says null
        return data
    name = population["base"]
    base = _read_base(name, "population.base", "a population file", source, lines)
    base = base.get("population", base)
    where = {"source": source, "line": (lines or {}).get(("population", "base")), "field": "population.base"}
    templates = base.get("segments") if isinstance(base, dict) else None
    if not isinstance(templates, list) or not templates or not all(isinstance(t, dict) for t in templates):
        raise ScenarioError(f"{name} holds no population segments", **where)
    by_name = {t.get("name"): t for t in templates}
    segments = population.get("segments", templates)
    merged = []
    for i, seg in enumerate(segments if isinstance(segments, list) else []):
        if not isinstance(seg, dict):
            merged.append(seg)  # validation names the problem
            continue
        template = templates[0] if len(templates) == 1 else by_name.get(seg.get("name"))
        if template is None:
            raise ScenarioError(f"segment '{seg.get('name')}' is not in {name} (its segments: "
                                f"{', '.join(map(str, by_name))})", source=source, field=f"population.segments.{i}.name")
        merged.append(_merge({k: v for k, v in template.items() if k not in ("name", "share")}, seg))
    population = {**base, **{k: v for k, v in population.items() if k != "base"}, "segments": merged or segments}
    return {**data, "population": population}


def with_calendar_base(data: dict, source: str = "<scenario>", lines: dict[Path_, int] | None = None) -> dict:
    """``data`` with its ``calendar.base`` file (as ``loyaltysim calibrate --calendar`` writes: weekly
    factors, a first week) read in under the calendar's own fields, found as a population base is."""
    calendar = data.get("calendar")
    if not isinstance(calendar, dict) or calendar.get("base") is None:  # a resolved scenario says null
        return data
    name = calendar["base"]
    base = _read_base(name, "calendar.base", "a calendar file", source, lines)
    base = base.get("calendar", base)
    if not isinstance(base, dict) or "weekly_factors" not in base:
        raise ScenarioError(f"{name} holds no weekly_factors", source=source,
                            line=(lines or {}).get(("calendar", "base")), field="calendar.base")
    return {**data, "calendar": {**base, **{k: v for k, v in calendar.items() if k != "base"}}}


def _read_base(name: Any, field: str, what: str, source: str, lines: dict[Path_, int] | None) -> dict:
    """Read the file a ``base`` field names: relative to the scenario file, else among the shipped scenarios."""
    where = {"source": source, "line": (lines or {}).get(tuple(field.split("."))), "field": field}
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"must be the path of {what}", **where)
    here = Path(source).parent if Path(source).is_file() else Path.cwd()
    found = here / name
    if not found.exists() and shipped_dir() is not None and (shipped_dir() / name).is_file():
        found = shipped_dir() / name  # a shipped file, from a copy of a shipped scenario
    try:
        base, _ = read_scenario(found)
    except ScenarioError as err:  # named from the scenario, the base file in the message
        inner = f"{err.field}: " if err.field else ""
        raise ScenarioError(f"{name}{f' line {err.line}' if err.line else ''}: {inner}{err.problem}", **where) from None
    return base


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, mappings merged key by key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out

