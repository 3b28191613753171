"""Executors: results in input order whatever the order units finish, errors and dead workers become
clear failures, and Dask is needed only by the Dask executor. (A real Dask cluster is exercised by
the sweep tests, which start `dask scheduler` and `dask worker` processes.)"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from loyaltysim.errors import RunError
from loyaltysim.runs.executors import DaskExecutor, LocalExecutor, SerialExecutor, cpu_count, make_executor


def slow_square(x: int, delay: float) -> int:
    """A unit whose finishing order is set by ``delay``."""
    time.sleep(delay)
    return x * x


def fail(x: int) -> int:
    raise ValueError(f"unit {x} failed")


def die_on(x: int, bad: int) -> int:
    """A unit that kills its own worker process (as the kernel's out-of-memory killer would)."""
    if x == bad:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def test_serial_map_keeps_order_and_reports_each_unit():
    seen = []
    assert SerialExecutor().map(slow_square, [(3, 0), (1, 0), (2, 0)], on_done=seen.append) == [9, 1, 4]
    assert seen == [0, 1, 2]
    assert list(SerialExecutor().as_completed(slow_square, [(2, 0), (5, 0)])) == [(0, 4), (1, 25)]


@pytest.fixture(scope="module")
def local2():
    with LocalExecutor(2) as ex:
        yield ex


def test_local_map_returns_input_order_when_units_finish_out_of_order(local2):
    args = [(0, 0.8), (1, 0.0), (2, 0.3), (3, 0.0)]
    finished = []
    assert local2.map(slow_square, args, on_done=finished.append) == [0, 1, 4, 9]
    assert sorted(finished) == [0, 1, 2, 3]
    assert finished[-1] == 0  # the slowest unit finished last, yet came back first
    # The workers stay up between calls, so a second call pays no start-up.
    assert local2.map(slow_square, [(4, 0)]) == [16]


def test_local_unit_error_is_raised_as_itself(local2):
    with pytest.raises(ValueError, match="unit 1 failed"):
        local2.map(fail, [(1,)])


def test_local_killed_worker_fails_clearly_and_the_executor_recovers(local2):
    done = {}
    with pytest.raises(RunError, match="a worker process stopped unexpectedly"):
        for i, result in local2.as_completed(die_on, [(0, 3), (1, 3), (2, 3), (3, 3)]):
            done[i] = result
    assert all(done[i] == i for i in done)  # what finished before the death is intact
    assert local2.map(die_on, [(5, -1)]) == [5]  # fresh workers on the next call


def test_local_workers_default_to_every_core():
    assert LocalExecutor().workers == cpu_count() >= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "threads"}, "--executor: 'threads' is not an executor (allowed: serial, local, dask)"),
    ({"kind": "local", "scheduler": "tcp://127.0.0.1:1"}, "--scheduler needs the dask executor (got --executor local)"),
    ({"kind": "serial", "workers": 4}, "--workers: the serial executor runs one unit at a time (got --workers 4)"),
    ({"kind": "dask", "scheduler": "tcp://127.0.0.1:1", "workers": 2}, "--workers: an existing Dask cluster has its own workers"),
    ({"kind": "local", "workers": 0}, "--workers must be at least 1 (got 0)"),
])
def test_make_executor_refuses_bad_combinations(kwargs, message):
    with pytest.raises(RunError) as err:
        make_executor(kwargs.pop("kind"), **kwargs)
    assert str(err.value).startswith(message)


def test_make_executor_defaults():
    assert isinstance(make_executor(), LocalExecutor)
    assert isinstance(make_executor("serial"), SerialExecutor)


def test_dask_executor_without_dask_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(RunError, match=r"needs Dask, which is not installed \(pip install 'loyaltysim\[dask\]'\)"):
        DaskExecutor("tcp://127.0.0.1:1")


def test_dask_executor_names_an_unreachable_scheduler():
    pytest.importorskip("distributed", reason="Dask is not installed (pip install 'loyaltysim[dask]')")
    start = time.perf_counter()
    with pytest.raises(RunError, match=r"^--scheduler tcp://127\.0\.0\.1:9: cannot connect to a Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", timeout=2)
    assert time.perf_counter() - start < 30
