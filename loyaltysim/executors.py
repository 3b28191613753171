"""Where units of work run: serially here, or elsewhere. One interface, so results never depend on it.

A unit of work is a picklable call ``fn(*args)``; an executor runs a list of them and returns their
results in the order given, whatever order they finished in.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence


class Executor(Protocol):
    """Runs units of work and returns their results in input order."""

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], on_done: Callable[[int], Any] | None = None) -> list:
        """Return ``[fn(*a) for a in args]``; call ``on_done(i)`` as unit i completes."""
        ...


class SerialExecutor:
    """Runs every unit in this process, one after another."""

    def map(self, fn, args, on_done=None) -> list:
        out = []
        for i, a in enumerate(args):
            out.append(fn(*a))
            if on_done is not None:
                on_done(i)
        return out
