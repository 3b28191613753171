"""The layers hold: import-linter's contracts (pyproject.toml) pass, and an import that points up fails them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contracts, on the ``loyaltysim`` found under ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    command = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", command, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          capture_output=True, text=True, cwd=package_parent, env=env, timeout=300)


def test_the_layer_contracts_are_kept():
    res = lint_imports(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


def test_an_engine_module_importing_the_cli_breaks_the_layers(tmp_path):
    shutil.copytree(ROOT / "loyaltysim", tmp_path / "loyaltysim", ignore=shutil.ignore_patterns("__pycache__"))
    rng = tmp_path / "loyaltysim" / "engine" / "rng.py"
    rng.write_text(rng.read_text() + "\nfrom loyaltysim.cli import common  # noqa: E402\n")
    res = lint_imports(tmp_path)
    assert res.returncode != 0
    assert "loyaltysim.engine.rng -> loyaltysim.cli.common" in res.stdout


def test_a_cycle_between_engine_modules_breaks_the_contracts(tmp_path):
    shutil.copytree(ROOT / "loyaltysim", tmp_path / "loyaltysim", ignore=shutil.ignore_patterns("__pycache__"))
    rules = tmp_path / "loyaltysim" / "engine" / "rules.py"
    rules.write_text(rules.read_text() + "\nfrom loyaltysim.engine import state  # noqa: E402\n")
    res = lint_imports(tmp_path)
    assert res.returncode != 0 and "No cycles are allowed in loyaltysim.engine" in res.stdout
