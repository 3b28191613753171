"""The scenarios shipped with loyaltysim: found by bare name (``supermarket_points``) after any install.

They live in the repository's ``scenarios/`` folder; the package reaches them as
``loyaltysim/shipped_scenarios`` (a link to that folder, copied into wheels as package data).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from loyaltysim.errors import ScenarioError

_PACKAGE = Path(__file__).resolve().parents[1]


def shipped_dir() -> Path | None:
    """The folder of shipped scenarios, or None when this installation has none."""
    linked = _PACKAGE / "shipped_scenarios"
    if linked.is_dir():
        return linked
    checkout = _PACKAGE.parent / "scenarios"  # a source checkout where the link is not supported
    if checkout.is_dir() and (_PACKAGE.parent / "pyproject.toml").is_file():
        return checkout
    return None


def shipped() -> dict[str, Path]:
    """Shipped scenario files by name (file stem), sorted."""
    folder = shipped_dir()
    if folder is None:
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def describe_shipped() -> list[tuple[str, str]]:
    """(name, one-line description) of each shipped scenario, read without running it."""
    out = []
    for name, path in shipped().items():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            text = str(data.get("description", "")) if isinstance(data, dict) else ""
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            text = "(cannot be read; run 'loyaltysim validate' on it)"
        out.append((name, " ".join(text.split())))
    return out


def resolve(arg: str | Path) -> Path:
    """A scenario argument as a path: an existing file as given, else a shipped scenario's name.

    A bare name that is neither raises a one-line ScenarioError naming the shipped scenarios.
    """
    path = Path(arg)
    text = str(arg)
    if path.exists() or "/" in text or "\\" in text:
        return path
    stem = text.removesuffix(".yaml").removesuffix(".yml")
    ships = shipped()
    if stem in ships:
        return ships[stem]
    close = difflib.get_close_matches(stem, list(ships), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    names = ", ".join(ships) or "none in this installation"
    raise ScenarioError(f"file not found, and not a shipped scenario{hint} (shipped: {names})", source=text)
