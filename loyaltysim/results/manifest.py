"""A results folder's manifest: its name, file checksums, and the check that a file is the one the run
wrote. Kept apart from the writing and drawing so that readers of results (export) need only this."""

from __future__ import annotations

import hashlib
from pathlib import Path

from loyaltysim.errors import RunError

__all__ = ["MANIFEST", "checked_file", "sha256"]

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checked_file(folder: Path, manifest: dict, name: str) -> Path:
    """The path of ``name`` in a results folder, once it is known to be the file the run wrote: listed
    in the manifest, present, and matching the manifest's checksum (else a one-line RunError)."""
    p = Path(folder) / name
    entry = manifest["files"].get(name)
    if entry is None:
        raise RunError(f"{p}: not listed in {Path(folder) / MANIFEST} (not written by this run)")
    if not p.exists():
        raise RunError(f"{p}: listed in the manifest but missing")
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if expected is not None and sha256(p) != expected:
        raise RunError(f"{p}: does not match its checksum in the manifest (changed or replaced after the "
                       "run; run it again)")
    return p
