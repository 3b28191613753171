"""User-facing errors: each renders as one line naming the file, line, field and what is allowed."""

from __future__ import annotations


class LoyaltysimError(Exception):
    """Base of every error caused by the user's input rather than by a bug.

    The CLI prints ``str(error)`` on one line and exits with code 2; the Python API raises it.
    """


class ScenarioError(LoyaltysimError):
    """A scenario file or override that cannot be read or is not valid.

    Attributes carry the parts of the message so callers and tests can inspect them.
    """

    def __init__(self, problem: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source:
            where = self.source + (f":{self.line}" if self.line else "") + ": "
        what = f"{self.field}: " if self.field else ""
        return one_line(f"{where}{what}{self.problem}")


def one_line(text: str) -> str:
    """``text`` with line breaks, tabs and other invisible characters (NUL, right-to-left marks) escaped,
    so a message quoting the user's input stays one readable line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class RunError(LoyaltysimError):
    """A run that cannot start or go on (e.g. an impossible size, an unwritable output folder)."""
