"""Where numba keeps the compiled kernels: a per-user cache folder, never inside the installed package.

numba's default puts compiled code in a ``__pycache__`` folder beside the source. For an installed
package that is ``site-packages/loyaltysim/__pycache__``: a later ``pip install -e`` (or uninstall)
removes the package's files but not numba's, and the folder left behind, without ``__init__.py``,
imports as an empty namespace package that hides the real one. So every kernel module calls
:func:`use_user_cache` before it defines a kernel. ``NUMBA_CACHE_DIR``, when the user sets it, wins.

The first run after an install or an upgrade compiles the kernels (about half a minute); a marker
file per build of the kernels' source lets the command line say so before it starts.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
from pathlib import Path

KERNEL_SOURCES = ("kernels.py", "rng.py")
"""The modules whose compiled code is cached (their text keys the first-run marker)."""


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for loyaltysim (XDG on Linux, Caches on macOS,
    LOCALAPPDATA on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "loyaltysim"


def numba_cache_dir() -> Path:
    """The folder numba caches compiled kernels in: ``NUMBA_CACHE_DIR`` if set, else the user cache
    (or, when that cannot be written, a per-user folder under the system's temporary folder)."""
    given = os.environ.get("NUMBA_CACHE_DIR")
    if given:
        return Path(given)
    for candidate in (user_cache_dir() / "numba",
                      Path(tempfile.gettempdir()) / f"loyaltysim-{_user()}" / "numba"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    return user_cache_dir() / "numba"  # numba then falls back to its own choice, with a warning


def use_user_cache() -> None:
    """Point numba's cache at :func:`numba_cache_dir` (before any ``@njit(cache=True)`` is defined).

    Set both in the environment (so worker processes inherit it) and in numba's live configuration
    (numba may have been imported already, by the user or another library).
    """
    path = str(numba_cache_dir())
    os.environ["NUMBA_CACHE_DIR"] = path
    from numba.core import config

    config.CACHE_DIR = path


def _user() -> str:
    try:
        return str(os.getuid())
    except AttributeError:  # Windows
        return os.environ.get("USERNAME", "user")


def _marker() -> Path:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in KERNEL_SOURCES:
        h.update((here / name).read_bytes())
    try:
        from importlib.metadata import version

        h.update(version("numba").encode())
    except Exception:  # pragma: no cover - numba always has metadata when installed by pip
        pass
    h.update(f"{sys.version_info[:2]} {platform.machine()}".encode())
    return numba_cache_dir() / f"loyaltysim-compiled-{h.hexdigest()[:16]}"


def kernels_compiled() -> bool:
    """Whether this build of the kernels has been compiled into the cache before (best effort: numba
    may still recompile, for example for another CPU)."""
    return _marker().exists()


def mark_kernels_compiled() -> None:
    """Record that the kernels are compiled (called after a run completes)."""
    try:
        _marker().touch()
    except OSError:  # an unwritable cache only means the first-run note shows again
        pass
