"""Interrupted runs: real ``python -m loyaltysim run`` and ``compare`` processes killed with Ctrl-C
(SIGINT) and SIGKILL while starting, simulating, writing data, drawing plots and writing the report.

After every kill the results folder is either a complete result (manifest status complete, every
file matching its checksum) or clearly not one (no manifest, or status partial, which ``report`` and
``plot`` refuse in one line); no file under a result's name is half-written (temporary files have
hidden names). Ctrl-C prints one line, ``interrupted: ...``, and exits with 130.

Each fixed kill must land mid-run: the command exits by the signal (130 after Ctrl-C, killed by
SIGKILL) and never prints its closing lines (the summary table and ``results: FOLDER``); a command that
finished first fails the test. Runs are long enough (about 15 s) for that, and kills timed from the
start of the simulation wait for the command's own output to say it has started.

``LOYALTYSIM_KILLS=N`` adds N kills at random (seeded) moments to the fixed ones.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
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

# (command, signal, trigger): ("after", s) s after the start; ("ready", s) s after the command's output
# says what it runs (the scenario is loaded, the folder claimed, the simulation starts); ("appears",
# glob) as soon as a file matching glob appears in the folder. Delays come from a fixed-seed generator.
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
FIXED = len(KILLS) - EXTRA
"""The first FIXED kills must land mid-run; a random extra one that comes after the end is skipped, saying so."""
OUTCOMES: Counter = Counter()
STARTED = "supermarket_points: 2,000 customers, 120 days, 2 replications"
"""The line run and compare print once the scenario is loaded and the folder claimed, as the simulation starts."""
FINISHED = ("results: ", "run totals", "mean ± 95%")
"""What a command prints only once it has finished (the summary table, then the results folder)."""


class Output:
    """A pipe read line by line in a thread, so the test can watch a command's output as it runs."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, b""):
            self.lines.append(line.decode(errors="replace"))
        stream.close()

    def says(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def text(self, timeout: float = WAIT) -> str:
        """Everything the command wrote (waits for the pipe to close)."""
        self._thread.join(timeout)
        return "".join(self.lines)


def _kill_when(p: subprocess.Popen, out: Path, stdout: Output, trigger: tuple, sig: int) -> bool:
    """Send ``sig`` at the trigger; return whether it was sent while the command still ran."""
    kind, arg = trigger
    start = time.monotonic()
    ready = None
    while p.poll() is None:
        now = time.monotonic()
        assert now - start < WAIT, "the command neither finished nor reached the moment to kill it"
        if kind == "after" and now - start >= arg:
            break
        if kind == "ready":
            if ready is None and stdout.says(STARTED):
                ready = now
            if ready is not None and now - ready >= arg:
                break
        if kind == "appears" and out.exists() and next(out.glob(arg), None) is not None:
            break
        time.sleep(0.002)
    if p.poll() is not None:
        return False
    try:
        os.killpg(p.pid, sig)  # the whole group, as Ctrl-C in a terminal does (workers included)
    except ProcessLookupError:
        return False
    return True


def _foreground_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


@pytest.mark.parametrize("number, args, sig, trigger", [(i, *k) for i, k in enumerate(KILLS)],
                         ids=[f"{a[0]}-{signal.Signals(s).name}-{t[0]}-{t[1]}" for a, s, t in KILLS])
def test_a_killed_run_leaves_a_result_or_clearly_none(tmp_path, number, args, sig, trigger):
    out = tmp_path / "out"
    # Unbuffered, so that the output shows the run has started as soon as it has.
    # Ctrl-C's default action restored in the child, as a shell does for a command in the foreground: a
    # test run launched as a background job inherits Ctrl-C ignored, which Python then keeps.
    p = subprocess.Popen([sys.executable, "-m", "loyaltysim", *args, "--out", str(out)], start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                         preexec_fn=_foreground_signals)
    stdout, stderr = Output(p.stdout), Output(p.stderr)
    try:
        sent = _kill_when(p, out, stdout, trigger, sig)
        p.wait(timeout=WAIT)
    finally:
        _stop(p)
        p.wait(timeout=WAIT)
    printed, err = stdout.text(), stderr.text()
    assert "Traceback" not in err, err[-3000:]
    wait_for_group_to_end(p.pid, WAIT, "the command")  # no worker outlives the command
    outcome = check_folder(out)
    finished = p.returncode == 0 or any(mark in printed for mark in FINISHED)
    if finished and number >= FIXED:
        assert outcome == "complete" and p.returncode == 0, (p.returncode, outcome)
        pytest.skip(f"random kill {number - FIXED + 1} at {trigger} came after the command finished "
                    f"(exit {p.returncode}, folder complete)")
    # The signal landed mid-run: the command was stopped by it and never finished.
    assert sent, f"the command ended (exit {p.returncode}) before the signal was sent: make the run longer"
    assert not finished, f"the command finished before the signal landed (exit {p.returncode}):\n{printed[-2000:]}"
    if sig == signal.SIGINT:
        assert p.returncode == 130, (p.returncode, err[-3000:])
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("interrupted: "), err
    else:
        assert p.returncode == -signal.SIGKILL, p.returncode
    if trigger[0] == "ready":  # timed from the start of the simulation, which the output showed
        assert STARTED in printed, printed
    assert outcome in ("empty", "partial"), outcome
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
