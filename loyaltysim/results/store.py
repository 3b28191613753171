"""The results folder: layout, atomic writes, the manifest, and loading.

A run folder holds ``manifest.json`` (written last: a folder without a complete manifest is partial),
``scenario.resolved.yaml``, ``daily.parquet`` (or ``.csv``), ``summary.csv``, ``verdict.json``,
``customers.parquet`` and, when asked for, ``transactions.parquet``. Every file is written to a
temporary name in the same folder and renamed into place, so no half-written file has a result's name.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

from loyaltysim.errors import RunError
from loyaltysim.scenario.loading import scenario_data, scenario_hash

MANIFEST = "manifest.json"
DEPENDENCIES = ("numpy", "pandas", "scipy", "mesa", "pydantic", "pyarrow", "matplotlib")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    if path.suffix == ".parquet":
        atomic_write(path, lambda p: frame.to_parquet(p, index=False))
    else:
        atomic_write(path, lambda p: frame.to_csv(p, index=False))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of loyaltysim, Python and the libraries results depend on."""
    out = {"loyaltysim": _version("loyaltysim"), "python": platform.python_version()}
    for name in DEPENDENCIES:
        out[name] = _version(name)
    return out


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def prepare_folder(out: Path) -> Path:
    """Create the output folder (refusing a file or an unwritable place) before any work starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunError(f"--out {out}: is a file, not a folder (give a folder path)") from None
    except OSError as err:
        raise RunError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    if not os.access(out, os.W_OK):
        raise RunError(f"--out {out}: the folder is not writable (choose another --out)")
    return out


def write_run(out: Path, result, *, fmt: str = "parquet", overrides: list[str] | None = None,
              wall_seconds: float = 0.0, extra_files: dict[str, Path] | None = None) -> Path:
    """Write a simulation result into ``out`` in the results-folder layout; the manifest goes last."""
    out = prepare_folder(Path(out))
    files: list[str] = []

    def put(name: str, writer) -> None:
        writer(out / name)
        files.append(name)

    sc = result.scenario
    put("scenario.resolved.yaml", lambda p: write_text(p, yaml.safe_dump(scenario_data(sc), sort_keys=False)))
    daily_name = "daily.parquet" if fmt == "parquet" else "daily.csv"
    put(daily_name, lambda p: write_frame(p, result.daily))
    put("summary.csv", lambda p: write_frame(p, result.summary))
    put("verdict.json", lambda p: write_text(p, json.dumps(result.verdict, indent=2)))
    put("customers.parquet", lambda p: write_frame(p, result.customers))
    if result.transactions is not None:
        put("transactions.parquet", lambda p: write_frame(p, result.transactions))
    for name in (extra_files or {}):
        files.append(name)
    write_manifest(out, sc, files, status="complete", overrides=overrides, wall_seconds=wall_seconds)
    return out


def write_manifest(out: Path, scenario, files: list[str], *, status: str, overrides=None,
                   wall_seconds: float = 0.0) -> None:
    manifest = {
        "status": status,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": scenario.seed,
        "replications": scenario.replications,
        "replicate_seeds": [{"entropy": scenario.seed, "spawn_key": [r]} for r in range(scenario.replications)],
        "customers": scenario.customers,
        "days": scenario.days,
        "overrides": list(overrides or []),
        "wall_seconds": round(wall_seconds, 3),
        "files": {name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
                  for name in files if (out / name).exists()},
    }
    write_text(out / MANIFEST, json.dumps(manifest, indent=2))


def load_results(folder: str | Path) -> dict:
    """Load a results folder: manifest, daily, summary, verdict and customers (as available)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        raise RunError(f"{folder}: not a results folder (no {MANIFEST}; the run may have been interrupted)")
    manifest = json.loads(path.read_text())
    out = {"manifest": manifest}
    for name in manifest["files"]:
        p = folder / name
        if name.endswith(".parquet"):
            out[p.stem] = pd.read_parquet(p)
        elif name == "daily.csv" or name == "summary.csv":
            out[p.stem] = pd.read_csv(p)
        elif name.endswith(".json"):
            out[p.stem] = json.loads(p.read_text())
    return out
