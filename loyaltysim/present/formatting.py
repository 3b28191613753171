"""Numbers as people read them: one format for the terminal, the report and every table.

A figure with a 95% interval is its mean rounded to the interval's precision, then ``±`` the half-width
to two significant digits (``730,000 ± 69,000``, ``0.67 ± 0.14``): digits finer than the uncertainty
would be noise. A figure without an interval keeps three significant digits. Thousands are separated
by commas, so currency reads ``17,500`` and never ``1.75e+04``. A swept parameter's value (any data)
is shown as compact JSON, cut to a width.
"""

from __future__ import annotations

import math
from typing import Any

from loyaltysim.scenario.loading import canonical_json

__all__ = ["format_estimate", "format_number", "format_parameters", "format_value"]

MAX_DECIMALS = 6
"""Finer than this is shown as zero: no metric is meaningful below a millionth of its unit."""


def _decimals(scale: float, significant: int) -> int:
    """Decimal places that keep ``significant`` significant digits of a number of size ``scale``
    (negative: round to tens, hundreds, ...)."""
    if scale == 0 or not math.isfinite(scale):
        return 0
    return min(MAX_DECIMALS, significant - 1 - math.floor(math.log10(abs(scale))))


def _rounded(x: float, decimals: int) -> str:
    value = round(x, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{value:,.{max(decimals, 0)}f}"


def format_number(x: float, significant: int = 3) -> str:
    """A number to ``significant`` significant digits with thousands separators (``-`` if undefined)."""
    if x != x:
        return "-"
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf"
    return _rounded(x, _decimals(x, significant))


def format_estimate(mean: float, lo: float = math.nan, hi: float = math.nan) -> str:
    """A mean and its 95% interval as ``mean ± half-width``, rounded to the interval's precision."""
    if mean != mean:
        return "-"
    if lo == lo and hi == hi and hi > lo and math.isfinite(hi - lo):
        half = (hi - lo) / 2
        d = _decimals(half, 2)
        return f"{_rounded(mean, d)} ± {_rounded(half, d)}"
    return format_number(mean)


def format_value(value: Any, width: int = 60) -> str:
    """A value as short text: a string as it is, anything else as compact JSON, cut to ``width``."""
    text = value if isinstance(value, str) else canonical_json(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def format_parameters(parameters: dict[str, Any]) -> str:
    """Parameter values as ``key=value, ...`` (a sweep point in a message or a caption)."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in parameters.items())
