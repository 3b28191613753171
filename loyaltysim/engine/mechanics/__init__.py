"""A scheme's mechanics, one module each, and the registry the day runs them from.

A mechanic is a :class:`~loyaltysim.engine.mechanics.base.Mechanic`: it owns its state, its steps in
the day (enrol, leave, till, settle, after learning, a change of scheme), its bookings in the ledger and
any pull it adds to store choice. Adding one means a scenario model, one module here and one line in
:data:`REGISTRY`.

The order of :data:`REGISTRY` is the order of every hook in the day. It is part of the model: points
expire before the day's points go into the ring that holds them, member prices come off a basket before
an offer does, and amounts booked to one ledger row are summed in this order.
"""

from __future__ import annotations

from loyaltysim.engine.mechanics import (
    challenges, data_collection, enrolment, expiry, member_pricing, membership, offers, points, stamps, tiers,
)
from loyaltysim.engine.mechanics.base import Mechanic, Today
from loyaltysim.engine.population import Population
from loyaltysim.scenario.models import Scheme

__all__ = ["REGISTRY", "Mechanic", "Today", "mechanics_for"]

REGISTRY: tuple[type[Mechanic], ...] = (
    expiry.Expiry,
    points.Points,
    stamps.Stamps,
    tiers.Tiers,
    member_pricing.MemberPricing,
    offers.Offers,
    enrolment.Enrolment,
    membership.Membership,
    data_collection.DataCollection,
    challenges.Challenges,
)
"""Every mechanic, in the order the day runs them."""


def mechanics_for(arm, pop: Population, scheme: Scheme, keep: list[Mechanic] = ()) -> list[Mechanic]:
    """The mechanics ``scheme`` has, in registry order; those of ``keep`` it still has carry on (with their state)."""
    kept = {type(m): m for m in keep}
    return [kept.get(kind) or kind(arm, pop) for kind in REGISTRY if kind.applies(scheme)]
