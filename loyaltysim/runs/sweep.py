"""Parameter sweeps: many scenario points, each with replications, on any executor, resumable.

A sweep varies scenario fields (``key.path`` as in ``--set``) over a design: a ``grid`` (every
combination), ``one_at_a_time`` (the base scenario, then each field alone through its values), or an
explicit ``list`` of points. One unit of work is one (point, replicate): both arms of one replicate.
Replicate r's random numbers come from the scenario's seed and r only, so replicate r meets the same
customers and the same draws at every point and in both arms, and a unit's result never depends on
which executor ran it, on how many workers there were, or on the order units finished.

Each unit has a run key: a hash of its resolved scenario (without ``replications``, which does not
change a replicate), its replicate and its seed. Its results go in ``runs/<key>/``, written in a
hidden temporary folder beside it and renamed into place once complete, its manifest last with the
checksum of every file. A run folder is reused only if its manifest is complete and every checksum
matches, so an interrupted sweep (Ctrl-C, a killed worker, a killed process) loses no finished run
and leaves nothing half-written under a run's name. ``resume=True`` continues a sweep in the same
folder and refuses one whose design changed, naming the field.

The sweep folder::

    sweep.json        the design: base scenario, design, replications, every point and its runs
    index.parquet     one row per point and replicate: point, replicate, key, seed, parameters, KPIs
    summary.csv       one row per point and KPI: parameters, metric, unit, mean, ci_low, ci_high, n
    runs/<key>/       manifest.json, scenario.resolved.yaml, daily.parquet, summary.csv, verdict.json
    plots/*.png       heatmaps with the break-even contour, one-factor response lines with bands
    report.html       self-contained report (images embedded)
    manifest.json     written last: versions, counts, every top-level file and its checksum

KPIs are run totals of the difference arm (scheme minus counterfactual), all segments together.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from loyaltysim.engine.metrics import REGISTRY
from loyaltysim.errors import RunError, ScenarioError
from loyaltysim.results.store import MANIFEST, prepare_folder, sha256, versions, write_frame, write_text
from loyaltysim.results.summary import mean_interval, run_totals, summarise, with_difference
from loyaltysim.results.verdict import balance_state
from loyaltysim.results.verdict import verdict as judge
from loyaltysim.runs.executors import Executor, SerialExecutor
from loyaltysim.runs.simulate import check_parallel_memory, run_replicate
from loyaltysim.scenario.loading import apply_overrides, read_yaml, scenario_data, validate
from loyaltysim.scenario.models import Scenario, SweepDesign

__all__ = [
    "KPIS", "SweepDesign", "SweepPlan", "SweepPoint", "SweepResult", "load_sweep", "parse_vary", "plan_sweep",
    "plot_sweep_heatmap", "plot_sweep_response", "run_sweep", "sweep_unit",
]

KPIS: tuple[str, ...] = (
    "business_roi", "customer_net_value", "business_net_value", "members", "revenue", "insight_index",
    "breakage_rate",
)
"""The headline KPIs of every run in ``index.parquet`` (difference arm, all segments, run totals)."""

FORMAT = 1
"""Version of the sweep folder's layout (in sweep.json)."""
RUN_KIND = "sweep-run"
RUN_FILES = ("scenario.resolved.yaml", "daily.parquet", "summary.csv", "verdict.json")
_TMP = ".tmp-"


# ---------------------------------------------------------------- the design

def _plain(x: Any) -> Any:
    """JSON-compatible data (tuples become lists), as it reads back from sweep.json."""
    return json.loads(json.dumps(x))


def _canonical(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), default=_scalar)


def _scalar(x: Any) -> Any:
    if isinstance(x, np.generic):  # a value read back from a frame
        return x.item()
    raise TypeError(f"{type(x).__name__} is not plain data")


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
            "kind": "sweep", "format": FORMAT, "loyaltysim": _loyaltysim_version(), "scenario": self.base.name,
            "design": self.design.record(), "replications": self.replications, "seed": self.base.seed,
            "base": base, "reference": self.reference,
            "points": [{"point": p.index, "parameters": p.parameters, "scenario_hash": p.scenario_hash,
                        "runs": list(p.keys)} for p in self.points],
        })


def _loyaltysim_version() -> str:
    return versions()["loyaltysim"]


def point_hash(scenario: Scenario) -> str:
    """Hash of a point's resolved scenario without ``replications`` (a replicate does not depend on it)."""
    data = scenario_data(scenario)
    data.pop("replications", None)
    return hashlib.sha256(_canonical(data).encode()).hexdigest()


def run_key(scenario: Scenario, replicate: int, scenario_hash: str | None = None) -> str:
    """The key of one run: its resolved parameters, replicate and seed (24 hex digits)."""
    h = scenario_hash or point_hash(scenario)
    text = _canonical({"scenario": h, "replicate": replicate, "seed": scenario.seed})
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
               source: str = "<scenario>", lines: dict | None = None) -> SweepPlan:
    """Resolve a design against a base scenario (a Scenario, or its data before validation).

    Every point is validated before anything runs; a point that makes an invalid scenario raises a
    ScenarioError naming the point and the field.
    """
    design = design_from(design)
    if isinstance(scenario, Scenario):
        base, raw = scenario, scenario_data(scenario)
    else:
        raw = {k: v for k, v in scenario.items() if k != "sweep"}
        base = validate(raw, source, lines)
    reps = replications or design.replications or base.replications
    resolved = scenario_data(base)
    factors = design.factors
    clash = [f for f in factors if f in ("point", "replicate", "key", "seed", "metric", "unit", "mean",
                                         "ci_low", "ci_high", "n") + KPIS]
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
            raise ScenarioError(f"points {seen[h]} and {i} give the same scenario ({_describe(params)})",
                                source=source, field="sweep")
        seen[h] = i
        points.append(SweepPoint(i, params, sc, h, tuple(run_key(sc, r, h) for r in range(reps))))
    return SweepPlan(base, design, reps, points, reference, source)


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(v: Any, width: int = 60) -> str:
    text = _canonical(v) if not isinstance(v, str) else v
    return text if len(text) <= width else text[:width - 3] + "..."


def _point_scenario(raw: dict, given: dict, params: dict, index: int, replications: int) -> Scenario:
    where = f"sweep point {index} ({_describe(params)})"
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
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", source=source) from None
    except IsADirectoryError:
        raise ScenarioError("is a folder, not a scenario file", source=source) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot be read ({getattr(err, 'strerror', None) or err})", source=source) from None
    data, lines = read_yaml(text, source)
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
    return plan_sweep(data, design, replications=replications, source=source, lines=lines)


# ---------------------------------------------------------------- one unit of work

def sweep_unit(scenario: Scenario, replicate: int) -> dict:
    """One (point, replicate), both arms: the daily frame with the difference arm, its summary,
    verdict and headline KPIs. Pure: touches no file (the caller writes the run folder)."""
    start = time.perf_counter()
    daily = with_difference(run_replicate(scenario, replicate)["daily"])
    summary = summarise(daily, scenario.business.currency)
    verdict = judge(daily[daily["arm"] == "difference"], scenario.verdict.period_days, scenario.verdict.roi_threshold)
    totals = run_totals(daily)
    row = totals[(totals["arm"] == "difference") & (totals["segment"] == "all")].iloc[0]
    kpis = {m: float(row[m]) for m in KPIS}
    return {"daily": daily, "summary": summary, "verdict": verdict, "kpis": kpis,
            "seconds": time.perf_counter() - start}


# ---------------------------------------------------------------- run folders

def _json_number(x: float) -> float | None:
    return x if math.isfinite(x) else None


def write_run_folder(runs: Path, key: str, point: SweepPoint, replicate: int, output: dict) -> Path:
    """Write one run into ``runs/<key>/``: in a hidden temporary folder first, manifest last, then
    renamed into place, so ``runs/<key>/`` exists only complete."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{key}-", dir=runs))
    try:
        sc = point.scenario
        write_text(tmp / "scenario.resolved.yaml", yaml.safe_dump(scenario_data(sc), sort_keys=False))
        write_frame(tmp / "daily.parquet", output["daily"])
        write_frame(tmp / "summary.csv", output["summary"])
        write_text(tmp / "verdict.json", json.dumps(output["verdict"], indent=2))
        manifest = {
            "kind": RUN_KIND, "status": "complete", "key": key, "created": _now(), "versions": versions(),
            "scenario": sc.name, "scenario_hash": point.scenario_hash, "seed": sc.seed, "replicate": replicate,
            "replicate_seed": {"entropy": sc.seed, "spawn_key": [replicate]},
            "customers": sc.customers, "days": sc.days, "parameters": point.parameters,
            "kpis": {k: _json_number(v) for k, v in output["kpis"].items()},
            "wall_seconds": round(output.get("seconds", 0.0), 3),
            "files": {name: {"sha256": sha256(tmp / name), "bytes": (tmp / name).stat().st_size} for name in RUN_FILES},
        }
        write_text(tmp / MANIFEST, json.dumps(manifest, indent=2))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; results are ordinary folders
        final = runs / key
        if final.exists():  # an unusable leftover: checked and refused before this run was computed
            shutil.rmtree(final)
        os.rename(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def completed_run(folder: Path, key: str, point_hash_: str, replicate: int) -> dict | None:
    """The manifest of a complete run folder whose checksums all match, or None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if (manifest.get("kind") != RUN_KIND or manifest.get("status") != "complete" or manifest.get("key") != key
                or manifest.get("scenario_hash") != point_hash_ or manifest.get("replicate") != replicate):
            return None
        files = manifest["files"]
        if set(files) != set(RUN_FILES) or not isinstance(manifest.get("kpis"), dict):
            return None
        for name, entry in files.items():
            p = folder / name
            if p.stat().st_size != entry["bytes"] or sha256(p) != entry["sha256"]:
                return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# ---------------------------------------------------------------- running a sweep

@dataclass
class SweepResult:
    """What a sweep returns: its folder, plan, index and per-point summary, and what ran."""

    folder: Path
    plan: SweepPlan
    index: pd.DataFrame        # point, replicate, key, seed, parameters..., KPIs
    summary: pd.DataFrame      # point, parameters..., metric, unit, mean, ci_low, ci_high, n
    computed: int
    reused: int
    discarded: int = 0         # run folders found incomplete or corrupt and computed again
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)


Progress = Callable[[int, int, int], Any]
"""``progress(computed, reused, total)``: called once before any unit runs, then after each computed run."""


def run_sweep(plan: SweepPlan, out: str | Path, *, executor: Executor | None = None, resume: bool = False,
              progress: Progress | None = None, plots: bool = True, report: bool = True) -> SweepResult:
    """Run every unit of a plan not already complete in ``out``; write the index, summary, plots and report.

    Without ``resume`` the folder must be new or empty; with it, the sweep recorded there must have
    the same design (else a RunError names the first field that differs).
    """
    start = time.perf_counter()
    out = prepare_folder(Path(out))
    executor = executor or SerialExecutor()
    record = plan.record()
    with _locked(out):
        _check_folder(out, record, resume)
        (out / MANIFEST).unlink(missing_ok=True)  # the folder is complete again only when the manifest is back
        write_text(out / "sweep.json", json.dumps(record, indent=2))
        runs = out / "runs"
        runs.mkdir(exist_ok=True)
        for leftover in runs.glob(f"{_TMP}*"):  # from an interrupted sweep: never a result
            shutil.rmtree(leftover, ignore_errors=True)
        points = {p.index: p for p in plan.points}
        units = plan.units
        done: dict[str, dict] = {}
        todo, discarded = [], 0
        for point, replicate, key in units:
            folder = runs / key
            manifest = completed_run(folder, key, points[point].scenario_hash, replicate) if folder.exists() else None
            if manifest is not None:
                done[key] = manifest
            else:
                discarded += folder.exists()
                todo.append((point, replicate, key))
        reused = len(done)
        check_parallel_memory([points[p].scenario for p in sorted({p for p, _, _ in todo})], executor, len(todo))
        if progress is not None:
            progress(0, reused, len(units))
        computed = 0
        work = [(points[p].scenario, r) for p, r, _ in todo]
        with contextlib.closing(executor.as_completed(sweep_unit, work)) as results:
            for i, output in results:
                point, replicate, key = todo[i]
                folder = write_run_folder(runs, key, points[point], replicate, output)
                done[key] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
                computed += 1
                if progress is not None:
                    progress(computed, reused, len(units))
        index = build_index(plan, done)
        summary = summarise_points(plan, index)
        files = ["sweep.json", "index.parquet", "summary.csv"]
        write_frame(out / "index.parquet", index)
        write_frame(out / "summary.csv", summary)
        result = SweepResult(out, plan, index, summary, computed, reused, discarded, time.perf_counter() - start, files)
        images = sweep_figures(plan, summary) if (plots or report) else {}
        if plots:
            for name, png in images.items():
                _write_bytes(out / "plots" / name, png)
                files.append(f"plots/{name}")
        if report:
            write_text(out / "report.html", sweep_report_html(result, images))
            files.append("report.html")
        result.seconds = time.perf_counter() - start
        write_text(out / MANIFEST, json.dumps(_sweep_manifest(out, result), indent=2))
        files.append(MANIFEST)
    return result


def _write_bytes(path: Path, data: bytes) -> None:
    from loyaltysim.results.store import write_bytes

    write_bytes(path, data)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _sweep_manifest(out: Path, result: SweepResult) -> dict:
    plan = result.plan
    return {
        "kind": "sweep", "status": "complete", "created": _now(), "versions": versions(),
        "scenario": plan.base.name, "seed": plan.base.seed, "replications": plan.replications,
        "points": len(plan.points), "runs": len(result.index), "computed": result.computed, "reused": result.reused,
        "wall_seconds": round(result.seconds, 3),
        "files": {name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size} for name in result.files},
    }


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold a lock on the sweep folder, so two sweeps never write one folder at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows; one sweep per folder is then up to the user
        yield
        return
    with open(out / ".lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunError(f"--out {out}: another sweep is writing this folder now") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_folder(out: Path, record: dict, resume: bool) -> None:
    """Refuse to mix a sweep into a folder holding something else, or a changed design on resume."""
    design = out / "sweep.json"
    if not design.exists():
        others = [p.name for p in out.iterdir() if p.name not in (".lock", "runs")]
        if others:
            raise RunError(f"--out {out}: the folder holds other files and no sweep (choose a new or empty folder)")
        return
    if not resume:
        raise RunError(f"--out {out}: already holds a sweep (add --resume to continue it, or choose another --out)")
    try:
        old = json.loads(design.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunError(f"{design}: cannot be read ({err}); choose another --out") from None
    change = _first_difference(old, record)
    if change is not None:
        where, was, now = change
        raise RunError(f"--resume: the sweep in {out} has a different design: {where} was {was}, now {now} "
                       "(use another --out for a new sweep)")


def _first_difference(old: dict, new: dict) -> tuple[str, str, str] | None:
    """The first field that differs between two sweep records, as (field, old value, new value)."""
    # Runs made by another version of loyaltysim may not match this one's, so a new version is a change.
    for key, name in (("format", "format"), ("loyaltysim", "loyaltysim version")):
        if old.get(key) != new[key]:
            return name, _short(old.get(key)), _short(new[key])
    design = old.get("design") or {}
    for part in ("kind", "vary", "points"):
        found = _diff_path(design.get(part, _MISSING), new["design"][part], f"sweep.{part}", lists=False)
        if found:
            return found
    for key in ("replications", "seed"):
        if old.get(key) != new[key]:
            return key, _short(old.get(key)), _short(new[key])
    found = _diff_path(old.get("base", _MISSING), new["base"], "")
    if found:
        return (f"scenario field {found[0]}" if found[0] else "scenario"), found[1], found[2]
    return None


_MISSING = object()


def _diff_path(a: Any, b: Any, path: str, lists: bool = True) -> tuple[str, str, str] | None:
    """The first path where two data trees differ (into lists of equal length too, if ``lists``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            found = _diff_path(a.get(k, _MISSING), b.get(k, _MISSING), f"{path}.{k}" if path else str(k), lists)
            if found:
                return found
        return None
    if lists and isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _diff_path(x, y, f"{path}.{i}" if path else str(i), lists)
            if found:
                return found
        return None
    if a != b or type(a) is not type(b):
        show = (lambda v: "absent" if v is _MISSING else _short(v))
        return path, show(a), show(b)
    return None


# ---------------------------------------------------------------- index and summary

def _parameter_column(values: list) -> pd.Series:
    """A parameter's values as one parquet-friendly column: numbers, strings, or JSON text."""
    numbers = [v for v in values if v is not None]
    if numbers and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        if len(numbers) == len(values) and all(isinstance(v, int) for v in values):
            return pd.Series(values, dtype="int64")
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")  # None: absent
    if all(isinstance(v, bool) for v in values):
        return pd.Series(values, dtype="bool")
    if all(isinstance(v, str) for v in values):
        return pd.Series(values, dtype="object")
    return pd.Series([v if isinstance(v, str) else _canonical(v) for v in values], dtype="object")


def build_index(plan: SweepPlan, manifests: dict[str, dict]) -> pd.DataFrame:
    """One row per point and replicate, in that order: identifiers, parameters, KPIs."""
    points = {p.index: p for p in plan.points}
    units = plan.units
    index = pd.DataFrame([(point, replicate, key, plan.base.seed) for point, replicate, key in units],
                         columns=["point", "replicate", "key", "seed"])
    index = index.astype({"point": "int64", "replicate": "int64", "seed": "int64"})
    for f in plan.factors:
        index[f] = _parameter_column([points[p].parameters[f] for p, _, _ in units])
    for m in KPIS:
        index[m] = np.array([np.nan if manifests[k]["kpis"][m] is None else manifests[k]["kpis"][m]
                             for _, _, k in units], dtype="float64")
    return index


def summarise_points(plan: SweepPlan, index: pd.DataFrame) -> pd.DataFrame:
    """Per point and KPI: mean and 95% t-interval over replicates (as a run's summary.csv)."""
    currency = plan.base.business.currency
    rows = []
    for point, g in index.groupby("point", sort=True):
        params = g.iloc[0][plan.factors].tolist()
        for m in KPIS:
            mean, lo, hi, n = mean_interval(g[m].to_numpy(dtype=float))
            unit = currency if REGISTRY[m].unit == "money" else REGISTRY[m].unit
            rows.append([point, *params, m, unit, mean, lo, hi, n])
    out = pd.DataFrame(rows, columns=["point", *plan.factors, "metric", "unit", "mean", "ci_low", "ci_high", "n"])
    for f in plan.factors:  # keep each parameter's type as in the index
        out[f] = out[f].astype(index[f].dtype)
    return out


# ---------------------------------------------------------------- plots

BREAK_EVEN = {"customer_net_value": 0.0, "business_net_value": 0.0}
"""Where each KPI breaks even (business ROI breaks even at the scenario's ROI threshold, 1 by default)."""


def _break_even(metric: str, roi_threshold: float) -> float | None:
    return roi_threshold if metric == "business_roi" else BREAK_EVEN.get(metric)


def _order(values: pd.Series) -> list:
    uniq = list(dict.fromkeys(values.tolist()))
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in uniq):
        return sorted(uniq)
    return uniq


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only when the caller gave no axes (e.g. in a notebook)

    _, ax = plt.subplots(figsize=(7.0, 5.0), layout="constrained")
    return ax


def _tick(value: Any, width: int = 18) -> str:
    """A parameter value as a short tick label (a list as its items, wrapped)."""
    import textwrap

    if isinstance(value, str) and value[:1] in "[{":  # a list or mapping stored as JSON text
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, (float, np.floating)):
        text = f"{value:g}"
    else:
        text = str(value)
    return "\n".join(textwrap.wrap(text, width, max_lines=3, placeholder="...")) or text


def _words(metric: str, capital: bool = False) -> str:
    """A metric's name in words (``business_roi`` -> ``business ROI``)."""
    text = " ".join("ROI" if w == "roi" else w for w in metric.split("_"))
    return text[0].upper() + text[1:] if capital else text


def _metric_label(metric: str, unit: str | None = None) -> str:
    return f"{_words(metric)} ({unit or REGISTRY[metric].unit})"


def plot_sweep_heatmap(summary: pd.DataFrame, ax=None, *, x: str, y: str, metric: str = "business_roi",
                       level: float | None = None, where: dict | None = None):
    """A KPI's mean over two swept parameters, with the contour where it breaks even (``level``).

    ``summary`` is a sweep's summary frame; ``where`` fixes any other swept parameters. Cells are the
    grid's points in order (parameters need not be evenly spaced); the contour is interpolated between
    cell centres. Returns the axes.
    """
    from matplotlib.colors import Normalize

    ax = _axes(ax)
    s = summary[summary["metric"] == metric]
    for k, v in (where or {}).items():
        s = s[s[k] == v]
    xs, ys = _order(s[x]), _order(s[y])
    grid = s.pivot_table(index=y, columns=x, values="mean", aggfunc="first").reindex(index=ys, columns=xs)
    z = grid.to_numpy(dtype=float)
    finite = z[np.isfinite(z)]
    norm = None
    if level is not None and finite.size:  # white at break-even: blue above it, red below
        half = float(np.abs(finite - level).max()) or 1.0
        norm = Normalize(level - half, level + half)
    image = ax.imshow(np.ma.masked_invalid(z), origin="lower", aspect="auto", cmap="RdBu", norm=norm,
                      interpolation="nearest")
    unit = str(s["unit"].iloc[0]) if len(s) else None
    ax.figure.colorbar(image, ax=ax, label=_metric_label(metric, unit))
    for (i, j), v in np.ndenumerate(z):
        if np.isfinite(v):
            dark = norm is not None and abs(norm(v) - 0.5) > 0.3
            ax.text(j, i, f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    if level is not None and z.shape[0] >= 2 and z.shape[1] >= 2 and finite.size and finite.min() < level < finite.max():
        ax.contour(np.arange(z.shape[1]), np.arange(z.shape[0]), np.ma.masked_invalid(z), levels=[level],
                   colors="black", linewidths=2.0)
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    title = f"{_words(metric, True)} (mean over replications)"
    if level is not None:
        title += f"; break-even {_words(metric)} = {level:g} in black"
    ax.set_title(title, fontsize=10)
    return ax


def plot_sweep_response(summary: pd.DataFrame, ax=None, *, factor: str, metric: str = "business_roi",
                        where: dict | None = None, level: float | None = None):
    """A KPI's mean against one swept parameter, with its 95% interval as a band and the break-even
    line at ``level``. ``where`` fixes the other swept parameters. Returns the axes."""
    ax = _axes(ax)
    s = summary[summary["metric"] == metric]
    for k, v in (where or {}).items():
        s = s[s[k] == v]
    order = _order(s[factor])
    s = s.set_index(factor).loc[order]
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in order)
    xs = np.asarray(order, dtype=float) if numeric else np.arange(len(order))
    ax.plot(xs, s["mean"].to_numpy(dtype=float), marker="o", color="#1f6fb4", label="mean")
    lo, hi = s["ci_low"].to_numpy(dtype=float), s["ci_high"].to_numpy(dtype=float)
    if np.isfinite(lo).any():
        ax.fill_between(xs, lo, hi, color="#1f6fb4", alpha=0.2, lw=0, label="95% interval")
    if level is not None:
        ax.axhline(level, color="black", lw=1, ls="--", label=f"break-even ({level:g})")
    if not numeric:
        ax.set_xticks(xs, [_tick(v) for v in order])
        ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set_xlabel(factor)
    unit = str(s["unit"].iloc[0]) if len(s) else None
    ax.set_ylabel(_metric_label(metric, unit))
    ax.set_title(f"{_words(metric, True)} against {factor}", fontsize=10)
    ax.legend(loc="best", frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return ax


RESPONSE_KPIS = ("business_roi", "customer_net_value", "business_net_value")
HEATMAP_KPIS = ("business_roi", "customer_net_value")


def _held(plan: SweepPlan, summary: pd.DataFrame, free: tuple[str, ...]) -> dict:
    """The other factors held at their reference value, or at their first value if no point has it."""
    where = {}
    for f in plan.factors:
        if f in free:
            continue
        ref = _parameter_column([plan.reference[f]]).iloc[0] if plan.reference[f] is not None else None
        where[f] = ref if ref is not None and (summary[f] == ref).any() else summary[f].iloc[0]
    return where


def _selection(plan: SweepPlan, summary: pd.DataFrame, free: tuple[str, ...]) -> tuple[dict, pd.DataFrame]:
    where = _held(plan, summary, free)
    s = summary[summary["metric"] == KPIS[0]]
    for k, v in where.items():
        s = s[s[k] == v]
    return where, s


def figure_specs(plan: SweepPlan, summary: pd.DataFrame) -> list[tuple[str, str, Callable, tuple[float, float]]]:
    """The sweep's plots as (file name, caption, draw(ax), size): heatmaps over the first two
    parameters when the points cover every combination of them, and response lines for each
    parameter that takes two or more values with the others held."""
    roi = plan.base.verdict.roi_threshold
    specs = []
    factors = plan.factors
    if len(factors) >= 2:
        x, y = factors[0], factors[1]
        where, s = _selection(plan, summary, (x, y))
        nx, ny = s[x].nunique(), s[y].nunique()
        if nx >= 2 and ny >= 2 and len(s[[x, y]].drop_duplicates()) == nx * ny:
            held = f", with {_describe(where)}" if where else ""
            for m in HEATMAP_KPIS:
                level = _break_even(m, roi)
                specs.append((f"heatmap_{m}.png",
                              f"{_words(m, True)} (mean over replications) over {x} and {y}{held}; "
                              f"the black line is break-even ({_words(m)} = {level:g}).",
                              lambda ax, m=m, w=where, lv=level: plot_sweep_heatmap(
                                  summary, ax, x=x, y=y, metric=m, where=w, level=lv), (7.5, 5.5)))
    for f in factors:
        where, s = _selection(plan, summary, (f,))
        if s[f].nunique() < 2:
            continue
        held = f", with {_describe(where)}" if where else ""
        for m in RESPONSE_KPIS:
            level = _break_even(m, roi)
            specs.append((f"response_{_slug(f)}_{m}.png",
                          f"{_words(m, True)} against {f}{held}: mean over replications, band = "
                          f"95% interval, dashed = break-even.",
                          lambda ax, m=m, f=f, w=where, lv=level: plot_sweep_response(
                              summary, ax, factor=f, metric=m, where=w, level=lv), (7.0, 4.2)))
    return specs


def sweep_figures(plan: SweepPlan, summary: pd.DataFrame) -> dict[str, bytes]:
    """Every plot of a sweep as PNG bytes, keyed by file name."""
    from loyaltysim.present.report import render_png

    return {name: render_png(draw, size) for name, _, draw, size in figure_specs(plan, summary)}


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in key)


# ---------------------------------------------------------------- report

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; margin: 0 auto;
       max-width: 1000px; padding: 1.5em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-variant-numeric: tabular-nums; font-size: 0.9em; }
th, td { padding: 0.3em 0.6em; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #fafafa; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.82em; }
"""


def sweep_report_html(result: SweepResult, images: dict[str, bytes]) -> str:
    """The sweep's report: one self-contained HTML page (images embedded, nothing fetched)."""
    import base64
    import html

    from loyaltysim.present.report import CSP, format_estimate

    e = (lambda x: html.escape(str(x), quote=True))
    plan, s = result.plan, result.summary
    roi = plan.base.verdict.roi_threshold
    wide = s.pivot_table(index="point", columns="metric", values=["mean", "ci_low", "ci_high"], aggfunc="first")
    head = "".join(f"<th>{e(f)}</th>" for f in plan.factors)
    rows = []
    for p in plan.points:
        cells = "".join(f"<td>{e(_short(p.parameters[f], 24))}</td>" for f in plan.factors)
        for m in RESPONSE_KPIS:
            cells += f"<td>{e(format_estimate(*(float(wide[(c, m)].loc[p.index]) for c in ('mean', 'ci_low', 'ci_high'))))}</td>"
        state = balance_state(float(wide[("mean", "business_roi")].loc[p.index]),
                              float(wide[("mean", "customer_net_value")].loc[p.index]), roi)
        rows.append(f"<tr><td>{p.index}</td>{cells}<td>{e(state)}</td></tr>")
    captions = {name: caption for name, caption, _, _ in figure_specs(plan, s)}
    figures = []
    for name, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        figures.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(name)}">'
                       f"<figcaption>{e(captions.get(name, name))}</figcaption></figure>")
    body = [
        f"<h1>Sweep: {e(plan.base.name)}</h1>",
        f"<p>{len(plan.points)} points ({e(plan.design.resolved_kind.replace('_', ' '))}) &times; "
        f"{plan.replications} replications = {len(result.index)} runs, each with its counterfactual; "
        f"{result.computed} computed, {result.reused} reused. Seed {plan.base.seed}: replicate r uses the same "
        "random numbers at every point.</p>",
        "<h2>Points</h2>",
        '<p class="note">Scheme minus counterfactual, run totals: mean and 95% interval over replications. '
        f"The state is judged on the means (business side balanced at ROI of at least {roi:g}, customer side at "
        "net value of at least 0).</p>",
        f"<table><tr><th>point</th>{head}" + "".join(f"<th>{e(m)}</th>" for m in RESPONSE_KPIS)
        + "<th>state</th></tr>", *rows, "</table>",
        "<h2>Plots</h2>", *figures,
        "<h2>Design</h2>", f"<pre>{e(json.dumps(plan.design.record(), indent=2))}</pre>",
    ]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>loyaltysim sweep: {e(plan.base.name)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        *body, "</body>", "</html>", "",
    ])
