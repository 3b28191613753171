"""Where units of work run: serially here, on local processes, or on a Dask cluster. One interface,
so results never depend on it.

A unit of work is a picklable call ``fn(*args)`` of a module-level function; an executor runs a list
of them. ``map`` returns their results in the order given, whatever order they finished in;
``as_completed`` yields ``(index, result)`` as each finishes, so a caller can keep every finished
result (write it to disk) before the rest are done. Closing an ``as_completed`` iterator early (an
error, Ctrl-C) cancels the units not yet finished and stops the work in progress.

Dask is imported only when a ``DaskExecutor`` is made, so it is needed only for that executor.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
import uuid
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager
from typing import Any, Callable, Iterator, Protocol, Sequence

from loyaltysim.errors import RunError

__all__ = ["EXECUTORS", "DaskExecutor", "Executor", "LocalExecutor", "SerialExecutor", "cpu_count", "make_executor"]

EXECUTORS = ("serial", "local", "dask")
"""The executors by name, as ``--executor`` takes them."""


class Executor(Protocol):
    """Runs units of work; results never depend on which executor ran them, or in what order."""

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], on_done: Callable[[int], Any] | None = None) -> list:
        """Return ``[fn(*a) for a in args]``; call ``on_done(i)`` as unit i completes."""
        ...

    def as_completed(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, fn(*args[i]))`` for every unit, in the order they complete."""
        ...

    def close(self) -> None:
        """Release the executor's processes or cluster connection."""
        ...


def cpu_count() -> int:
    """Cores this process may use (its CPU affinity where the platform says, else all cores)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Base:
    """``map`` and the context-manager protocol on top of ``as_completed``."""

    def as_completed(self, fn, args) -> Iterator[tuple[int, Any]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def map(self, fn, args, on_done=None) -> list:
        args = list(args)
        out: list = [None] * len(args)
        with closing(self.as_completed(fn, args)) as results:
            for i, result in results:
                out[i] = result
                if on_done is not None:
                    on_done(i)
        return out

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialExecutor(_Base):
    """Runs every unit in this process, one after another."""

    def as_completed(self, fn, args) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            yield i, fn(*a)


def _ignore_sigint() -> None:
    # Ctrl-C reaches every process in the terminal's group; only the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C while starting processes, which keep ignoring it (possible only in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LocalExecutor(_Base):
    """Runs units on local worker processes (spawned, not forked: a fresh interpreter per worker,
    the same on every platform, with no inherited threads or open files).

    The processes start at the first unit and are kept until ``close()``, so several calls pay the
    start-up once. A worker that dies (killed, out of memory) stops the call with a ``RunError``;
    results already yielded are unaffected.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise RunError(f"--workers must be at least 1 (got {workers})")
        self.workers = workers or cpu_count()
        self._pool: cf.ProcessPoolExecutor | None = None

    def _started(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_ignore_sigint)
        return self._pool

    def as_completed(self, fn, args) -> Iterator[tuple[int, Any]]:
        args = list(args)
        if not args:
            return
        pool = self._started()
        try:
            pending = {pool.submit(fn, *a): i for i, a in enumerate(args)}
        except BrokenProcessPool:
            self._stop()
            raise RunError("the local worker processes have stopped; start again") from None
        finished = False
        try:
            for fut in cf.as_completed(list(pending)):
                i = pending.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    raise RunError("a worker process stopped unexpectedly (killed, or out of memory); results "
                                   "already finished are kept") from None
                yield i, result
            finished = True
        finally:
            if not finished:
                # Stopping the workers fails every unfinished future (none may be cancelled first:
                # Python 3.11's pool then fails on setting their error).
                self._stop()

    def _stop(self) -> None:
        """Stop the workers now, abandoning the units they are running."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # ProcessPoolExecutor cannot stop running work (Python 3.14 adds terminate_workers); its
        # process table is the only handle on the workers.
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)
        pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


class DaskExecutor(_Base):
    """Runs units on a Dask distributed cluster: an existing one at ``scheduler`` (``tcp://host:port``),
    or a local cluster of ``workers`` single-threaded processes started here and stopped by ``close()``.

    Every worker needs the same version of loyaltysim installed. Dask reschedules the units of a
    worker that dies; a unit that kills workers repeatedly stops the call with a ``RunError``.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None, *, timeout: float = 60.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RunError("the dask executor needs Dask, which is not installed "
                           "(pip install 'loyaltysim[dask]')") from None
        if workers is not None and workers < 1:
            raise RunError(f"--workers must be at least 1 (got {workers})")
        self.scheduler = scheduler
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as err:
                raise RunError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler "
                               f"({' '.join(str(err).split()) or type(err).__name__})") from None
        else:
            import logging

            with _sigint_ignored():  # inherited by the worker processes: Ctrl-C is for this process to handle
                self._cluster = LocalCluster(n_workers=workers or cpu_count(), threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self._cluster, set_as_default=False)
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            self.close()
            raise RunError(f"--scheduler {scheduler}: no Dask worker joined within {timeout:g} s "
                           f"(start one with 'dask worker {scheduler}')") from None
        self._check_versions()

    def _check_versions(self) -> None:
        """Refuse workers without loyaltysim, or with another version of it, before any work is sent."""
        from importlib.metadata import version

        here = version("loyaltysim")
        try:
            there = self.client.run(version, "loyaltysim", on_error="return")
        except TypeError:  # an older distributed without on_error
            there = self.client.run(version, "loyaltysim")
        for worker, v in sorted(there.items()):
            if isinstance(v, BaseException):
                self.close()
                raise RunError(f"Dask worker {worker} cannot import loyaltysim (install loyaltysim {here} on every worker)")
            if v != here:
                self.close()
                raise RunError(f"Dask worker {worker} has loyaltysim {v}, this process {here} (install the same version)")

    def as_completed(self, fn, args) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        try:
            from distributed import KilledWorker
        except ImportError:  # pragma: no cover - older layout
            from distributed.scheduler import KilledWorker

        args = list(args)
        if not args:
            return
        tag = uuid.uuid4().hex[:12]
        # Earlier units first (a higher priority runs sooner), so partial results fill the list in order.
        futures = [self.client.submit(fn, *a, key=f"loyaltysim-{tag}-{i}", pure=False, priority=len(args) - i)
                   for i, a in enumerate(args)]
        index = {f.key: i for i, f in enumerate(futures)}
        pending = {f.key: f for f in futures}
        del futures
        finished = False
        try:
            for fut in as_completed(list(pending.values()), loop=self.client.loop):
                i = index[fut.key]
                try:
                    result = fut.result()
                except KilledWorker:
                    raise RunError(f"unit {i} stopped the Dask workers that ran it (killed, or out of memory); "
                                   "results already finished are kept") from None
                except FutureCancelledError:
                    raise RunError("the Dask cluster cancelled the work (did the scheduler stop?)") from None
                pending.pop(fut.key)
                fut.release()
                yield i, result
            finished = True
        finally:
            if not finished and pending:
                try:
                    self.client.cancel(list(pending.values()), force=True)
                except Exception:  # noqa: BLE001 - the cluster may already be gone; nothing more to stop
                    pass

    def close(self) -> None:
        client, self.client = getattr(self, "client", None), None
        if client is not None:
            client.close()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()

    def __repr__(self) -> str:
        return f"DaskExecutor(scheduler={self.scheduler!r})"


def make_executor(kind: str | None = None, *, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """An executor by name (``serial``, ``local``, ``dask``); a ``scheduler`` address means Dask.

    The default is local processes on every core, or Dask when a scheduler is given.
    """
    if kind is None:
        kind = "dask" if scheduler else "local"
    if kind not in EXECUTORS:
        raise RunError(f"--executor: '{kind}' is not an executor (allowed: {', '.join(EXECUTORS)})")
    if scheduler and kind != "dask":
        raise RunError(f"--scheduler needs the dask executor (got --executor {kind})")
    if kind == "serial":
        if workers not in (None, 1):
            raise RunError(f"--workers: the serial executor runs one unit at a time (got --workers {workers})")
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if scheduler and workers is not None:
        raise RunError("--workers: an existing Dask cluster has its own workers (drop --workers, or --scheduler "
                       "to start a local cluster)")
    return DaskExecutor(scheduler, workers)
