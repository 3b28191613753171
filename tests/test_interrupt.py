"""Interrupted runs: real ``python -m loyaltysim run`` and ``compare`` processes killed with Ctrl-C
(SIGINT) and SIGKILL while starting, simulating, writing data, drawing plots and writing the report.

After every kill the results folder is either a complete result (manifest status complete, every
file matching its checksum) or clearly not one (no manifest, or status partial, which ``report`` and
``plot`` refuse in one line); no file under a result's name is half-written (temporary files have
hidden names). Ctrl-C prints one line, ``interrupted: ...``, and exits with 130.

``LOYALTYSIM_KILLS=N`` adds N kills at random (seeded) moments to the fixed ones.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import wait_for_group_to_end
from typer.testing import CliRunner

from loyaltysim.cli import app
from loyaltysim.errors import RunError
from loyaltysim.results.store import MANIFEST, load_results, sha256

SIZE = ["--customers", "2000", "--days", "120", "--replications", "2", "--quiet"]
RUN = ["run", "supermarket_points", *SIZE, "--executor", "serial"]
COMPARE = ["compare", "supermarket_points", "member_pricing", *SIZE, "--executor", "serial"]
WAIT = 120.0
EXTRA = int(os.environ.get("LOYALTYSIM_KILLS", "0") or 0)

# (command, signal, trigger): ("after", s) s after the start; ("ready", s) s after the results folder
# appears (the scenario is loaded, the simulation starts); ("appears", glob) as soon as a file matching
# glob appears in the folder. Delays come from a fixed-seed generator.
_rng = random.Random(1995)
KILLS = [
    (RUN, signal.SIGINT, ("after", round(_rng.uniform(0.2, 0.8), 2))),           # starting up
    # building and simulating (a SIGKILL then leaves nothing to check: in the LOYALTYSIM_KILLS pool)
    ([*RUN[:-2], "--workers", "2"], signal.SIGINT, ("ready", round(_rng.uniform(0.5, 1.5), 2))),  # on workers
    (RUN, signal.SIGKILL, ("appears", MANIFEST)),                                # writing starts
    (RUN, signal.SIGINT, ("appears", "daily.parquet")),                          # writing data files
    (RUN, signal.SIGKILL, ("appears", "plots/*.png")),                           # plots
    (COMPARE, signal.SIGINT, ("appears", "runs/*/" + MANIFEST)),                 # a comparison's runs
]
for _ in range(EXTRA):
    KILLS.append((_rng.choice([RUN, COMPARE]), _rng.choice([signal.SIGINT, signal.SIGKILL]),
                  _rng.choice([("after", round(_rng.uniform(0.2, 6), 2)), ("ready", round(_rng.uniform(0, 3), 2)),
                               ("appears", _rng.choice([MANIFEST, ".*.tmp", "summary.csv", "customers.parquet",
                                                        "plots", "report.html", "runs/*/plots/*.png"]))])))
OUTCOMES: Counter = Counter()


def _kill_when(p: subprocess.Popen, out: Path, trigger: tuple, sig: int) -> None:
    kind, arg = trigger
    start = time.monotonic()
    ready = None
    while p.poll() is None:
        now = time.monotonic()
        assert now - start < WAIT, "the command neither finished nor reached the moment to kill it"
        if kind == "after" and now - start >= arg:
            break
        if kind == "ready":
            if ready is None and out.exists():
                ready = now
            if ready is not None and now - ready >= arg:
                break
        if kind == "appears" and out.exists() and next(out.glob(arg), None) is not None:
            break
        time.sleep(0.002)
    try:
        os.killpg(p.pid, sig)  # the whole group, as Ctrl-C in a terminal does (workers included)
    except ProcessLookupError:
        pass


def _stop(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _readable(path: Path) -> None:
    """Fail unless a file with a result's name is whole."""
    name = path.name
    if name.endswith(".parquet"):
        pd.read_parquet(path)
    elif name.endswith(".csv"):
        pd.read_csv(path)
    elif name.endswith(".json"):
        json.loads(path.read_text(encoding="utf-8"))
    elif name.endswith(".yaml"):
        yaml.safe_load(path.read_text(encoding="utf-8"))
    elif name.endswith(".png"):
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82"), path
    elif name.endswith(".html"):
        assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), path
    else:
        pytest.fail(f"unexpected file {path}")


def check_folder(out: Path) -> str:
    """'complete', 'partial' or 'empty'; fail if the folder could pass for a result without being one."""
    if not out.exists() or not any(out.iterdir()):
        return "empty"
    for path in out.rglob("*"):
        if path.is_dir():
            continue
        if any(part.startswith(".") for part in path.relative_to(out).parts):
            assert path.name.endswith(".tmp"), f"a hidden file that is not temporary: {path}"
            continue
        _readable(path)
    for manifest_path in out.rglob(MANIFEST):  # every (sub)folder: complete and consistent, or partial
        manifest = json.loads(manifest_path.read_text())
        assert manifest["status"] in ("complete", "partial"), manifest_path
        if manifest["status"] == "complete":
            for name, entry in manifest["files"].items():
                assert sha256(manifest_path.parent / name) == entry["sha256"], f"{name} changed after the manifest"
    top = out / MANIFEST
    if top.exists() and json.loads(top.read_text())["status"] == "complete":
        load_results(out)
        return "complete"
    with pytest.raises(RunError) as err:
        load_results(out)
    assert "incomplete" in str(err.value), str(err.value)
    for command in ("report", "plot"):
        res = CliRunner().invoke(app, [command, str(out)])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
        assert "incomplete" in lines[0] and "Traceback" not in res.output, lines
    return "partial"


@pytest.mark.parametrize("args, sig, trigger", KILLS,
                         ids=[f"{a[0]}-{signal.Signals(s).name}-{t[0]}-{t[1]}" for a, s, t in KILLS])
def test_a_killed_run_leaves_a_result_or_clearly_none(tmp_path, args, sig, trigger):
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "loyaltysim", *args, "--out", str(out)], start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _kill_when(p, out, trigger, sig)
        _, err = p.communicate(timeout=WAIT)
    finally:
        _stop(p)
        p.wait(timeout=WAIT)
    err = err.decode(errors="replace")
    assert "Traceback" not in err, err[-3000:]
    if p.returncode != 0:  # else the command finished before the signal reached it
        if sig == signal.SIGINT:
            assert p.returncode == 130, err[-3000:]
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("interrupted: "), err
        else:
            assert p.returncode == -signal.SIGKILL
    wait_for_group_to_end(p.pid, WAIT, "the command")  # no worker outlives the command
    outcome = check_folder(out)
    if p.returncode == 0:
        assert outcome == "complete"
    OUTCOMES[(signal.Signals(sig).name, outcome)] += 1
    print(f"\nkill {args[0]} {signal.Signals(sig).name} at {trigger}: exit {p.returncode}, folder {outcome}; "
          f"so far {sum(OUTCOMES.values())} kills: {dict(OUTCOMES)}")


def test_an_error_raised_because_ctrl_c_stopped_an_import_counts_as_the_interrupt():
    from loyaltysim.__main__ import _interrupted

    def failing_import(cause: BaseException) -> ImportError:
        try:
            try:
                raise cause
            except BaseException:
                raise SystemError("initialization of _ext raised unreported exception")
        except SystemError as inner:
            try:
                raise ImportError("cannot import name 'x'") from inner
            except ImportError as err:
                return err

    assert _interrupted(KeyboardInterrupt())
    assert _interrupted(failing_import(KeyboardInterrupt()))
    assert not _interrupted(failing_import(ValueError("bad")))
    assert not _interrupted(ImportError("no module named 'pyarrow'"))
