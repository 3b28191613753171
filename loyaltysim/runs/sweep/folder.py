"""The sweep folder on disk: one run folder per unit, written whole through the results store and
reused only when complete; the lock that keeps two sweeps out of one folder; and the check that a
resumed sweep has the design of the one in its folder."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from loyaltysim.errors import RunError
from loyaltysim.present.formatting import format_value
from loyaltysim.results.manifest import MANIFEST, sha256
from loyaltysim.results.store import now, staged_folder, versions
from loyaltysim.runs.sweep.design import SweepPoint
from loyaltysim.scenario.loading import scenario_data

__all__ = ["RUN_FILES", "RUN_KIND", "check_folder", "clear_leftovers", "completed_run", "locked", "write_run_folder"]

RUN_KIND = "sweep-run"
RUN_FILES = ("scenario.resolved.yaml", "daily.parquet", "summary.csv", "verdict.json")


def _json_number(x: float) -> float | None:
    return x if math.isfinite(x) else None


def write_run_folder(runs: Path, key: str, point: SweepPoint, replicate: int, output: dict) -> dict:
    """Write one run into ``runs/<key>/``, manifest last, staged beside it so that ``runs/<key>/``
    exists only complete; return the manifest."""
    sc = point.scenario
    with staged_folder(runs / key) as folder:
        folder.text("scenario.resolved.yaml", yaml.safe_dump(scenario_data(sc), sort_keys=False))
        folder.frame("daily.parquet", output["daily"])
        folder.frame("summary.csv", output["summary"])
        folder.text("verdict.json", json.dumps(output["verdict"], indent=2))
        return folder.seal({
            "kind": RUN_KIND, "status": "complete", "key": key, "created": now(), "versions": versions(),
            "scenario": sc.name, "scenario_hash": point.scenario_hash, "seed": sc.seed, "replicate": replicate,
            "replicate_seed": {"entropy": sc.seed, "spawn_key": [replicate]},
            "customers": sc.customers, "days": sc.days, "parameters": point.parameters,
            "kpis": {k: _json_number(v) for k, v in output["kpis"].items()},
            "wall_seconds": round(output.get("seconds", 0.0), 3),
        })


def clear_leftovers(runs: Path) -> None:
    """Remove the hidden staging folders an interrupted sweep left in ``runs/`` (never a result)."""
    for leftover in runs.glob(".*"):
        shutil.rmtree(leftover, ignore_errors=True)


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


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
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


def check_folder(out: Path, record: dict, resume: bool) -> None:
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
        where, was, now_ = change
        raise RunError(f"--resume: the sweep in {out} has a different design: {where} was {was}, now {now_} "
                       "(use another --out for a new sweep)")


def _first_difference(old: dict, new: dict) -> tuple[str, str, str] | None:
    """The first field that differs between two sweep records, as (field, old value, new value)."""
    # Runs made by another version of loyaltysim may not match this one's, so a new version is a change.
    for key, name in (("format", "format"), ("loyaltysim", "loyaltysim version")):
        if old.get(key) != new[key]:
            return name, format_value(old.get(key)), format_value(new[key])
    design = old.get("design") or {}
    for part in ("kind", "vary", "points"):
        found = _diff_path(design.get(part, _MISSING), new["design"][part], f"sweep.{part}", lists=False)
        if found:
            return found
    for key in ("replications", "seed"):
        if old.get(key) != new[key]:
            return key, format_value(old.get(key)), format_value(new[key])
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
        show = (lambda v: "absent" if v is _MISSING else format_value(v))
        return path, show(a), show(b)
    return None
