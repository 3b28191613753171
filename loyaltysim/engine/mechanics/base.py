"""What a mechanic is: a unit of a scheme that owns its state, its steps in the day and its bookings.

The day (:mod:`loyaltysim.engine.arms`) calls every hook of every mechanic the scheme has, in the order
of :data:`loyaltysim.engine.mechanics.REGISTRY`; a mechanic overrides only the hooks it needs. A hook
reads and writes the scheme arm's columns (``arm.mem``, ``arm.net_value``), books its amounts in
``arm.ledger`` and reads the scheme as compiled today (``arm.rules``, rebuilt when a change lands).

A mechanic's pull on store choice: the terms of the built-in mechanics are inside the fused shopping
kernel (for speed); any other mechanic sets :attr:`Mechanic.utility`, one float64 per customer that
members add to their utility of shopping here, and calls :meth:`Mechanic.utility_changed` when it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

from loyaltysim.engine.population import Population
from loyaltysim.engine.rng import DailyDraws
from loyaltysim.scenario.models import Scenario, Scheme

if TYPE_CHECKING:
    from loyaltysim.engine.arms import SchemeArm
    from loyaltysim.engine.behaviour import Trips
    from loyaltysim.engine.rules import Rules


@dataclass
class Today:
    """What the day's hooks read: the scenario in force, the day, its draws and this arm's trips."""

    spec: Scenario
    day: int
    weekday: int
    draws: DailyDraws
    trips: "Trips"
    members: np.ndarray | None = None
    """Today's members, ascending (membership changes only at the day's end), from settling on."""
    believed_top_category: Callable[[np.ndarray, int], np.ndarray] | None = None
    """The category the business believes each of some members buys most (from learning on)."""


class Mechanic:
    """One mechanic of the scheme arm. Every hook does nothing unless a mechanic overrides it."""

    name: ClassVar[str]

    def __init__(self, arm: "SchemeArm", pop: Population) -> None:
        self.arm, self.pop = arm, pop
        self.utility: np.ndarray | None = None

    @staticmethod
    def applies(scheme: Scheme) -> bool:
        """Whether a scheme has this mechanic."""
        raise NotImplementedError

    def enrol(self, idx: np.ndarray, day: int) -> None:
        """Customers ``idx`` join today: set this mechanic's state for new members."""

    def leave(self, idx: np.ndarray) -> None:
        """Members ``idx`` leave the scheme: close this mechanic's state (book what that costs)."""

    def till(self, today: Today, off: np.ndarray) -> None:
        """Add money off (into ``off``, aligned with today's card trips) as members pay."""

    def settle(self, today: Today) -> None:
        """After the till: award, redeem, expire, review, charge, for today's card trips and members."""

    def after_learning(self, today: Today) -> None:
        """After the business has learnt from today's data: act on what it believes."""

    def changed(self, spec: Scenario, old: "Rules", day: int) -> None:
        """The scenario changed to ``spec`` at the start of ``day`` (``arm.rules`` is its scheme compiled; ``old`` the last)."""

    def utility_changed(self) -> None:
        """Say that :attr:`utility` has new values (the arm sums the mechanics' terms before shopping)."""
        self.arm.utility_stale = True
