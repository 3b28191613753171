"""The results folder: layout, atomic writes, the manifest, and loading (the plots and the report
that go into a folder are drawn a layer up, by :mod:`loyaltysim.present.folders`).

A run folder holds ``manifest.json`` (status ``partial`` while the folder is written, ``complete`` with
every file's checksum once it is: a folder without a complete manifest is not a result),
``scenario.resolved.yaml``, ``daily.parquet`` (or ``.csv``), ``summary.csv``, ``verdict.json``,
``customers.parquet``, when asked for ``transactions.parquet``, the plots as ``plots/*.png`` and the
self-contained ``report.html``. A comparison folder holds ``comparison.csv``, its plots and report,
and one run folder per scenario under ``runs/<label>/``. Every file is written to a temporary name in
the same folder and renamed into place, so no half-written file has a result's name; a folder written
as a whole (an ``--out`` replaced with ``--overwrite``, a sweep's run, an export) is staged beside its
place and renamed into it once complete (:func:`staged_folder`). A write that fails after a simulation
(a full disk) saves the data under the system's temporary folder instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from loyaltysim.errors import RunError
from loyaltysim.results.manifest import MANIFEST, checked_file, sha256
from loyaltysim.scenario.loading import scenario_hash

DEPENDENCIES = ("numpy", "pandas", "scipy", "mesa", "pydantic", "pyarrow", "matplotlib")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda p: p.write_bytes(data))


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    if path.suffix == ".parquet":
        atomic_write(path, lambda p: frame.to_parquet(p, index=False))
    else:
        atomic_write(path, lambda p: frame.to_csv(p, index=False))


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


def is_results_folder(folder: Path) -> bool:
    """Whether ``folder`` was written by loyaltysim: it has a manifest naming a run, a comparison or a
    sweep (complete or partial: an interrupted run is still a results folder)."""
    if (folder / "sweep.json").is_file():
        return True
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind", "run") in ("run", "comparison", "sweep") \
        and isinstance(manifest.get("files", {}), dict)


@dataclass
class Destination:
    """Where a folder's results go: ``path`` is written, then :meth:`commit` puts it at ``final``.

    A new or empty ``--out`` is written in place. A folder written as a whole (an existing results
    folder replaced with ``--overwrite``, a sweep's run, an export) is written to a staging folder
    beside ``final``, and only once it is complete does the staging folder take the name ``final``
    (the folder there before is then removed), so ``final`` never holds two results' files or a
    half-written one, and an interrupted or failed write leaves what was there as it was.
    """

    final: Path
    path: Path

    @property
    def staged(self) -> bool:
        return self.path != self.final

    def commit(self) -> Path:
        """Put the written folder at its final place; return that place."""
        if not self.staged:
            return self.final
        if not self.final.exists():
            os.replace(self.path, self.final)
            return self.final
        old = self.path.with_name(self.path.name.replace(".new-", ".replaced-"))  # unique as the staging name is
        os.replace(self.final, old)  # two renames on one filesystem: the old folder is never half gone
        try:
            os.replace(self.path, self.final)
        except OSError:
            os.replace(old, self.final)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return self.final

    def discard(self) -> None:
        """Remove the staging folder of a write that did not complete (what was at ``final`` stays)."""
        if self.staged:
            shutil.rmtree(self.path, ignore_errors=True)


def stage_beside(final: Path) -> Destination:
    """A new hidden staging folder beside ``final`` (``.<name>.new-*``), to be committed to ``final``."""
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.new-", dir=final.parent))
    os.chmod(staging, 0o777 & ~_UMASK)  # mkdtemp makes 0700; results are ordinary folders
    return Destination(final=final, path=staging)


def claim_folder(out: Path, *, overwrite: bool = False, ours: Callable[[Path], bool] | None = None,
                 holds: str = "loyaltysim results", kind: str = "a results folder") -> Destination:
    """Check ``--out`` before any work starts and say where the results will be written.

    A folder that does not exist or is empty is used; one that holds files is refused (results of two
    runs must never mix) unless ``overwrite``, and even then only if ``ours`` recognises it (by default
    :func:`is_results_folder`; ``holds`` and ``kind`` name what it must be in the message).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out}: is a file, not a folder (give a folder path)")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RunError(f"--out {out}: the folder exists and is not empty (results of two runs never mix: "
                           "add --overwrite to replace it, or choose another --out)")
        if not (ours or is_results_folder)(out):
            raise RunError(f"--out {out}: the folder holds files that are not {holds}; --overwrite "
                           f"replaces only {kind} (choose another --out)")
        if not os.access(out.parent, os.W_OK):
            raise RunError(f"--out {out}: its parent folder is not writable, so it cannot be replaced "
                           "(choose another --out)")
        try:
            return stage_beside(out)
        except OSError as err:
            raise RunError(f"--out {out}: cannot write beside it ({err.strerror})") from None
    return Destination(final=out, path=prepare_folder(out))


class Folder:
    """A folder being written: each file goes in atomically and is remembered for the manifest."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: list[str] = []

    def put(self, name: str, writer: Callable[[Path], None]) -> None:
        writer(self.out / name)
        if name not in self.files:
            self.files.append(name)

    def text(self, name: str, text: str) -> None:
        self.put(name, lambda p: write_text(p, text))

    def frame(self, name: str, frame: pd.DataFrame) -> None:
        self.put(name, lambda p: write_frame(p, frame))

    def images(self, images: dict[str, bytes]) -> None:
        for name, png in images.items():
            self.put(f"{PLOTS}/{name}", lambda p, b=png: write_bytes(p, b))

    def seal(self, manifest: dict) -> dict:
        """Write ``manifest.json`` last: ``manifest`` with every file written and its checksum."""
        manifest = {**manifest, "files": checksums(self.out, self.files)}
        write_text(self.out / MANIFEST, json.dumps(manifest, indent=2))
        return manifest


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Folder]:
    """A :class:`Folder` written beside ``final`` that takes its place when the block ends; if the
    block fails or is interrupted, the staging folder is removed and ``final`` is left as it was."""
    dest = stage_beside(final)
    try:
        yield Folder(dest.path)
        dest.commit()
    except BaseException:
        dest.discard()
        raise


PLOTS = "plots"
REPORT = "report.html"


RESCUE_PREFIX = "loyaltysim-rescued-"


def write_or_rescue(write: Callable[..., Path], out: Path, result, name: str, **options) -> Path:
    """``write(out, result, **options)`` (``write_run`` or ``write_comparison``); if the disk refuses
    (full, removed, read-only), save the data to a new folder under the system's temporary folder so
    the computed results are not lost, and raise a RunError saying where they went.

    The rescued folder holds the data and a complete manifest, without plots or report (which are
    drawn from the data again with ``loyaltysim plot`` and ``loyaltysim report``).
    """
    try:
        return write(out, result, **options)
    except OSError as err:
        problem = _os_problem(err)
    tmp = Path(tempfile.gettempdir())
    try:
        rescue = Path(tempfile.mkdtemp(prefix=f"{RESCUE_PREFIX}{name}-", dir=tmp))
    except OSError as err:
        raise RunError(f"--out {out}: cannot write the results ({problem}); saving them under {tmp} failed too "
                       f"({_os_problem(err)}), so they are lost: free some space and run again") from None
    try:
        os.chmod(rescue, 0o777 & ~_UMASK)  # mkdtemp makes 0700; results are ordinary folders
        write(rescue, result, **{**options, "plots": False, "report": False})
    except OSError as err:
        shutil.rmtree(rescue, ignore_errors=True)
        raise RunError(f"--out {out}: cannot write the results ({problem}); saving them to {rescue} failed too "
                       f"({_os_problem(err)}), so they are lost: free some space and run again") from None
    raise RunError(f"--out {out}: cannot write the results ({problem}); the data were saved to {rescue} instead "
                   f"(move that folder where you want it, then 'loyaltysim plot FOLDER' and 'loyaltysim report "
                   f"FOLDER' draw the plots and the report)")


def _os_problem(err: OSError) -> str:
    text = err.strerror or _first_line(err)
    return f"{Path(err.filename).name}: {text}" if err.filename else text


def run_manifest(out: Path, scenario, files: list[str], *, status: str, overrides=None,
                 wall_seconds: float = 0.0) -> dict:
    """The manifest of a run folder: versions, the scenario's hash, seeds, sizes, files and checksums."""
    return {
        "kind": "run",
        "status": status,
        "created": now(),
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
        "files": checksums(out, files),
    }


def write_manifest(out: Path, scenario, files: list[str], *, status: str, overrides=None,
                   wall_seconds: float = 0.0) -> None:
    """Write a run folder's manifest (call it last)."""
    write_text(out / MANIFEST, json.dumps(run_manifest(out, scenario, files, status=status, overrides=overrides,
                                                       wall_seconds=wall_seconds), indent=2))


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def checksums(out: Path, files: list[str]) -> dict:
    return {name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
            for name in files if (out / name).exists()}


# ---------------------------------------------------------------- loading

def read_manifest(folder: Path) -> dict:
    """The manifest of a complete results folder; a one-line RunError says why there is none."""
    if not folder.exists():
        raise RunError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise RunError(f"{folder}: is a file, not a results folder")
    path = folder / MANIFEST
    if not path.exists():
        raise RunError(f"{folder}: not a results folder (no {MANIFEST}: an incomplete, interrupted run, or not a "
                       "run at all)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise RunError(f"{path}: cannot be read ({err.strerror or err})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise RunError(f"{path}: not a valid manifest ({_first_line(err)})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise RunError(f"{path}: not a valid manifest (no 'files' mapping)")
    if manifest.get("status", "complete") != "complete":
        raise RunError(f"{folder}: the results are incomplete (manifest status {manifest.get('status')!r}, not "
                       "'complete': the run was interrupted or failed while writing; run it again)")
    return manifest


def load_results(folder: str | Path) -> dict:
    """Load a results folder: the manifest and every data file it lists, by name without extension.

    A run folder gives ``manifest``, ``scenario`` (the resolved scenario as data), ``daily``,
    ``summary``, ``verdict``, ``customers`` and, if written, ``transactions``. A comparison folder
    gives ``manifest``, ``comparison`` and ``runs`` (each run folder loaded, by label).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    out: dict = {"manifest": manifest}
    for name in manifest["files"]:
        if "/" in name or not name.endswith(_DATA):  # plots, report, a comparison's runs (below)
            continue
        p = checked_file(folder, manifest, name)
        try:
            if name.endswith(".parquet"):
                out[p.stem] = pd.read_parquet(p)
            elif name.endswith(".csv"):
                out[p.stem] = pd.read_csv(p)
            elif name.endswith(".json"):
                out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
            elif name == "scenario.resolved.yaml":
                out["scenario"] = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as err:
            raise RunError(f"{p}: cannot be read ({_first_line(err)})") from None
    if manifest.get("kind") == "comparison":
        out["runs"] = {s["label"]: load_results(folder / s["folder"]) for s in manifest.get("scenarios", [])}
    return out


_DATA = (".parquet", ".csv", ".json", ".yaml")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
