"""Every compiled kernel and the numpy statement of the rule it applies: the registry of the pairs.

A kernel (:mod:`loyaltysim.engine.kernels`) applies a rule customer by customer in one pass, for speed;
the rule is stated once in numpy, to be read, and tests/test_kernels.py runs each pair on the same inputs
and requires the same results. The convention:

* the numpy statement of kernel ``k`` is ``kernels.k_numpy``, right after it: the same parameters, the
  same return value and the same writes to the arrays it is given;
* where the rule is stated in numpy one level up (the shopping rules in :mod:`~loyaltysim.engine.behaviour`,
  the value of joining in enrolment, the business's estimates in :mod:`~loyaltysim.engine.insight`), the
  pair is the function that runs the kernel and that statement, which take the same arguments;
* a compiled function with no numpy statement of its own is in :data:`WITHOUT_TWIN`, with the reason.

The Mesa reference (:mod:`loyaltysim.reference`) states the core rules a third time, one agent at a time
with its own random numbers: it agrees in distribution (tests/test_reference.py), not draw for draw, so a
twin names where it does (``reference``) and nothing here compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numba.core.dispatcher import Dispatcher

from loyaltysim.engine import behaviour, insight, kernels
from loyaltysim.engine.mechanics import enrolment

__all__ = ["TWINS", "WITHOUT_TWIN", "Twin", "compiled_functions"]

TANH_RTOL = 1e-6
"""How close recent values computed in numpy come to the kernels': numpy's float32 tanh is its own, within a
few units in the last place of the C library's tanhf, which compiled code calls."""


@dataclass(frozen=True, eq=False)
class Twin:
    """A compiled pass and the numpy statement of its rule: called with the same arguments, they must
    return the same and leave the same values in every array they were given."""

    compiled: Callable
    numpy: Callable
    kernels: tuple[str, ...]
    """The kernels ``compiled`` runs."""
    counted: Mapping[str, int | None] = field(default_factory=dict)
    """Arrays filled only up to a count the call returns (None: the number returned; i: the i-th number
    of the tuple returned): past it the kernel leaves scratch."""
    close: Mapping[str, float] = field(default_factory=dict)
    """Arrays equal only to this relative tolerance, not to the bit."""
    reference: str = ""
    """Where the Mesa reference states the same rule."""


def _twin(kernel: Dispatcher, **kw) -> Twin:
    """Kernel ``k`` and ``kernels.k_numpy``."""
    return Twin(kernel, getattr(kernels, f"{kernel.__name__}_numpy"), (kernel.__name__,), **kw)


def _top_categories(sc, pop, arm, priors, idx: np.ndarray, day: int) -> np.ndarray:
    """The category the business believes members ``idx`` buy most, by the compiled pass the day runs."""
    return insight.believed_top_category(sc, pop, arm, priors)(idx, day)


def _top_categories_numpy(sc, pop, arm, priors, idx: np.ndarray, day: int) -> np.ndarray:
    """The largest share of the business's estimate of each member's mix (the first on a tie)."""
    return np.argmax(insight.Estimator(sc, pop, arm, idx, day).mix(priors.mix), axis=1).astype(np.int8)


SURPLUS_RTOL = 1e-6
"""How close the day's choice surplus summed in numpy comes to the kernel's: each member's gain is computed
in float32 (exp, expm1, log1p), where the C library's functions and numpy's vectorised ones agree to
within a few units in the last place (a few times 1e-7), not to the bit."""

_PAIRS = (
    Twin(behaviour.shop, behaviour.shop_numpy, ("shop",), close={"surplus": SURPLUS_RTOL},
         reference="Customer.step, .choose and .shop"),
    _twin(kernels.progress_curve, reference="Customer.pull"),
    _twin(kernels.refresh_recent_values, close={"recent": TANH_RTOL}, reference="Customer.recent_value"),
    _twin(kernels.update_value_averages, close={"recent": TANH_RTOL}, reference="Customer.update"),
    Twin(enrolment.expected_value_compiled, enrolment.expected_value, ("expected_values",),
         reference="Customer.expected_value"),
    _twin(kernels.same_day_baskets),
    _twin(kernels.settle_trips, reference="Customer.shop"),
    _twin(kernels.defect, counted={"out_gone": None}, reference="Customer.step"),
    _twin(kernels.join_draws, counted={"out": None}, reference="Customer.update"),
    _twin(kernels.redeemable, counted={"out": None}, reference="Customer.settle"),
    _twin(kernels.stock_counts),
    _twin(kernels.insight_sums),
    _twin(kernels.recent_life_events),
    _twin(kernels.member_accuracy),
    _twin(kernels.present_card, reference="Customer.present_p"),
    _twin(kernels.redeem_offers),
    _twin(kernels.card_effort, reference="Customer.effort"),
    _twin(kernels.learn_trips, counted={"out_found": None}),
    _twin(kernels.operating_costs),
    _twin(kernels.privacy_costs, reference="Customer.settle"),
    _twin(kernels.member_decisions, counted={"out_leave": 0, "out_withdraw": 1}, reference="Customer.update"),
    _twin(kernels.data_revenue),
    Twin(insight.errors_compiled, insight.errors, ("estimate_errors", "family_errors")),
    Twin(_top_categories, _top_categories_numpy, ("top_categories",)),
    _twin(kernels.earned_points, reference="Customer.shop"),
    _twin(kernels.credit_points, reference="Customer.shop"),
    _twin(kernels.redeem_rewards, reference="Customer.settle and .take"),
    _twin(kernels.segment_sums),
    _twin(kernels.segment_sums_of_one),
)

TWINS: dict[str, Twin] = {name: twin for twin in _PAIRS for name in twin.kernels}
"""Each kernel's twin, by the kernel's name (one twin may hold several kernels)."""

_STEP_OF_SHOP = "a step of shop, compared through its twin"
WITHOUT_TWIN: dict[str, str] = {
    "uniform": "a step of every kernel that draws; rng.to_uniform states it, compared through their twins",
    "friction_share": "a step of present_card, card_effort, expected_values and shop; friction_share_numpy states "
                      "it, compared through their twins",
    "felt_value": "a step of refresh_recent_values and update_value_averages; felt_value_numpy states it, "
                    "compared through their twins",
    "_progress": "a step of progress_curve and shop, compared through their twins",
    "_pull": _STEP_OF_SHOP,
    "_curved": _STEP_OF_SHOP,
    "_member_utility": _STEP_OF_SHOP,
    "_choice_surplus": _STEP_OF_SHOP + " (behaviour.choice_surplus states it)",
    "_softplus": _STEP_OF_SHOP + " (numpy's logaddexp states it)",
    "_member_utilities": _STEP_OF_SHOP,
    "_shop_range": _STEP_OF_SHOP,
    "_reward_rate": "a step of expected_values and shop, compared through their twins",
    "_category_dot": "a step of expected_values and shop, compared through their twins",
    "_segment_run": "how kernels keep per-segment sums, compared through the twin of every kernel that sums by segment",
    "_flags": "bookkeeping of defect and join_draws, compared through their twins",
    "_append_flagged": "bookkeeping of defect and join_draws, compared through their twins",
}
"""Compiled functions with no numpy statement of their own, and why."""


def compiled_functions() -> set[str]:
    """The names of every compiled function defined in :mod:`loyaltysim.engine.kernels`."""
    return {name for name, f in vars(kernels).items()
            if isinstance(f, Dispatcher) and f.py_func.__module__ == kernels.__name__}
