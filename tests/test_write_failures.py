"""Writes that fail and runs that cannot fit: an unwritable --out is refused before any work; a
write that fails after the simulation (a full disk) keeps the computed data in a rescue folder and
says where in one line; sizes that are not allowed, or that need more memory than there is, are
refused in one line before anything is allocated."""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyaltysim.cli import app
from loyaltysim.errors import RunError
from loyaltysim.results import store
from loyaltysim.results.store import RESCUE_PREFIX, load_results
from loyaltysim.runs import simulate as experiment

TINY = ["--customers", "300", "--days", "30", "--replications", "2", "--executor", "serial", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(res, *fragments: str) -> str:
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture
def system_tmp(tmp_path, monkeypatch) -> Path:
    """The system's temporary folder, private to the test."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def disk_full_under(monkeypatch, folder: Path, after: int = 0) -> None:
    """Make every atomic write under ``folder`` fail as on a full disk, after ``after`` succeed."""
    real = store.atomic_write
    done = {"n": 0}

    def atomic_write(path: Path, write) -> None:
        if Path(path).resolve().is_relative_to(folder.resolve()):
            done["n"] += 1
            if done["n"] > after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, write)
    monkeypatch.setattr(store, "atomic_write", atomic_write)


def test_an_out_that_cannot_be_created_is_refused_before_any_work(tmp_path):
    """Places no one can make a folder, root included: under a file, and in /proc."""
    blocker = tmp_path / "a-file"
    blocker.write_text("a file sits where a folder should be\n")
    line = one_line_error(invoke("run", "supermarket_points", *TINY, "--out", blocker / "sub"),
                          f"--out {blocker / 'sub'}", "cannot create the folder")
    assert os.strerror(errno.ENOTDIR) in line
    one_line_error(invoke("run", "supermarket_points", *TINY, "--out", blocker), f"--out {blocker}",
                   "is a file, not a folder")
    assert blocker.read_text() == "a file sits where a folder should be\n"  # untouched
    proc = Path("/proc") / f"loyaltysim-test-{os.getpid()}"
    if Path("/proc/self").is_dir():  # Linux: procfs makes no folders for anyone
        one_line_error(invoke("run", "supermarket_points", *TINY, "--out", proc / "sub"), f"--out {proc / 'sub'}",
                       "cannot create the folder")
        assert not proc.exists()


@pytest.fixture
def unwritable_folder(tmp_path):
    """An empty folder this process cannot write into: read-only by its mode, or, for root (who ignores
    modes, as in CI), a read-only tmpfs mounted there."""
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o555)
        try:
            yield locked
        finally:
            locked.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=4k", "tmpfs", str(locked)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root, which writes into read-only folders, and cannot mount a read-only "
                    f"tmpfs here ({mounted.stderr.strip() or mounted.returncode})")
    try:
        yield locked
    finally:
        subprocess.run(["umount", str(locked)], check=True)


def test_an_unwritable_out_is_refused_before_any_work(unwritable_folder):
    locked = unwritable_folder
    assert not os.access(locked, os.W_OK)  # as the command sees it
    one_line_error(invoke("run", "supermarket_points", *TINY, "--out", locked), f"--out {locked}", "not writable")
    one_line_error(invoke("run", "supermarket_points", *TINY, "--out", locked / "sub"), f"--out {locked / 'sub'}",
                   "cannot create")
    assert not any(locked.iterdir())


@pytest.mark.parametrize("command", ["run", "compare"])
def test_a_full_disk_after_the_simulation_keeps_the_results(tmp_path, monkeypatch, system_tmp, command):
    out = tmp_path / "out"
    disk_full_under(monkeypatch, out, after=2)  # the partial manifest and one file fit, then the disk is full
    scenarios = ["supermarket_points"] + (["member_pricing"] if command == "compare" else [])
    line = one_line_error(invoke(command, *scenarios, *TINY, "--out", out), f"--out {out}",
                          "No space left on device", "saved to", "loyaltysim report")
    rescued = [p for p in system_tmp.iterdir() if p.name.startswith(RESCUE_PREFIX)]
    assert len(rescued) == 1 and str(rescued[0]) in line
    loaded = load_results(rescued[0])  # a complete result: manifest last, every checksum matching
    assert loaded["manifest"]["status"] == "complete"
    if command == "run":
        assert {"daily", "summary", "verdict", "customers"} <= set(loaded)
        assert loaded["manifest"]["customers"] == 300 and len(loaded["daily"]) > 0
    else:
        assert set(loaded["runs"]) == {"supermarket_points", "member_pricing"}
    with pytest.raises(RunError, match="incomplete"):  # what was written to --out is not a result
        load_results(out)
    monkeypatch.undo()
    for rebuild in ("plot", "report"):  # the rescued folder gives back the plots and report
        res = invoke(rebuild, rescued[0])
        assert res.exit_code == 0, res.output
    assert (rescued[0] / "report.html").exists()


def test_when_the_rescue_fails_too_the_error_says_so(tmp_path, monkeypatch, system_tmp):
    out = tmp_path / "out"
    disk_full_under(monkeypatch, tmp_path)  # --out and the temporary folder are on the same full disk
    one_line_error(invoke("run", "supermarket_points", *TINY, "--out", out), f"--out {out}",
                   "No space left on device", "failed too", "free some space")
    assert not [p for p in system_tmp.iterdir() if p.name.startswith(RESCUE_PREFIX)]


def test_a_real_full_disk(tmp_path, system_tmp):
    """A 48 kB tmpfs as --out (only where this test may mount one: root on Linux)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        out = disk / "out"
        line = one_line_error(invoke("run", "supermarket_points", *TINY, "--out", out), f"--out {out}",
                              "No space left on device", "saved to")
        rescued = [p for p in system_tmp.iterdir() if p.name.startswith(RESCUE_PREFIX)]
        assert len(rescued) == 1 and str(rescued[0]) in line
        assert load_results(rescued[0])["manifest"]["status"] == "complete"
        assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left on the full disk"
        with pytest.raises(RunError, match="incomplete|not a results folder"):
            load_results(out)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# ---------------------------------------------------------------- sizes and memory

SWEEP = ["sweep", "supermarket_points", "--vary", "days=30,40"]


@pytest.mark.parametrize("command", [["run", "supermarket_points"], ["compare", "supermarket_points", "coalition"],
                                     SWEEP], ids=["run", "compare", "sweep"])
@pytest.mark.parametrize("option, value, allowed", [
    ("--days", "0", "greater than or equal to 1"),
    ("--customers", "-5", "greater than or equal to 1"),
    ("--customers", "1.5", "valid integer"),
    ("--days", "abc", "valid integer"),
])
def test_sizes_that_are_not_allowed_are_one_line(tmp_path, command, option, value, allowed):
    one_line_error(invoke(*command, option, value, "--out", tmp_path / "out"), f"'{option}'", allowed)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["run", "supermarket_points"], ["compare", "supermarket_points", "coalition"],
                                     SWEEP], ids=["run", "compare", "sweep"])
def test_a_run_that_cannot_fit_in_memory_is_refused_before_allocating(tmp_path, monkeypatch, command):
    monkeypatch.setattr(experiment, "memory_available", lambda: 8 * 2 ** 30)
    monkeypatch.setattr(experiment, "LoyaltyModel", None)  # nothing may be built
    # 50 million customers for ten years (with the calibrated population's arrivals, about 68 million).
    line = one_line_error(invoke(*command, "--customers", "50000000", "--days", "3650", "--replications", "1",
                                 "--executor", "serial", "--out", tmp_path / "out"),
                          "50,000,000 customers", "need about", "GiB but 8.0 GiB is available", "use at most about",
                          "customers")
    assert "fewer days" in line
    if command[0] != "sweep":  # refused before its results folder is made
        assert not (tmp_path / "out").exists()
