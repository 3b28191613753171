"""The mechanic registry: every optional section of a scheme is run by exactly one registered mechanic,
and the day runs the mechanics a scheme has, in the registry's order, through a scheduled change."""

from __future__ import annotations

import types
import typing

import numpy as np
from helpers import RICH_SCHEME, scenario

from loyaltysim.engine.mechanics import REGISTRY
from loyaltysim.engine.model import LoyaltyModel
from loyaltysim.scenario.models import Scheme, Strict

ALWAYS = {"data", "costs", "enrolment", "goal_gradient"}
"""Scheme sections every scheme has (goal gradient is how members respond, not a mechanic)."""


def optional_sections() -> list[str]:
    """Scheme fields that are an optional section (``Model | None``)."""
    names = []
    for name, field in Scheme.model_fields.items():
        args = typing.get_args(field.annotation)
        if isinstance(field.annotation, types.UnionType) and type(None) in args and any(
                isinstance(a, type) and issubclass(a, Strict) for a in args):
            names.append(name)
    return names


def test_every_optional_scheme_section_has_one_registered_mechanic_that_applies_only_with_it():
    rich = scenario().scheme
    sections = optional_sections()
    assert {"points", "stamps", "expiry", "tiers", "member_pricing", "offers", "membership", "challenges"} <= set(sections)
    for name in sections:
        with_it = rich if getattr(rich, name) is not None else scenario(
            overrides={f"scheme.{name}": {"voucher": 1.0}} if name == "challenges" else None).scheme
        if getattr(with_it, name) is None:  # stamps: not in the rich scheme, tried alone below
            continue
        without = with_it.model_copy(update={name: None})
        runs = [k for k in REGISTRY if k.applies(with_it) and not k.applies(without)]
        assert len(runs) == 1, f"scheme.{name} is run by {runs}"
    stamps = scenario(overrides={"scheme": {"stamps": {"required": 8, "reward": {
        "name": "coffee", "kind": "free_product", "points": 8, "face_value": 3}}}}).scheme
    assert [k.name for k in REGISTRY if k.applies(stamps) and not k.applies(stamps.model_copy(
        update={"stamps": None}))] == ["stamps"]


def test_a_scheme_gets_its_mechanics_in_registry_order_and_a_change_keeps_their_state():
    sc = scenario(overrides={"scheme.challenges.voucher": 1.0, "days": 30, "customers": 400,
                             "changes": [{"day": 10, "set": {"scheme.offers": None}}]})
    model = LoyaltyModel(sc)
    arm = model.arms[0]
    names = [m.name for m in arm.mechanics]
    assert names == [k.name for k in REGISTRY if k.applies(sc.scheme)]
    assert names.index("expiry") < names.index("points") and names.index("member_pricing") < names.index("offers")
    challenges = arm.mechanics[names.index("challenges")]
    for _ in range(10):
        model.step()
    held = challenges.until.copy()
    model.step()  # day 10: offers switched off
    after = [m.name for m in arm.mechanics]
    assert "offers" not in after and arm.mechanics[after.index("challenges")] is challenges
    assert np.array_equal(challenges.until[held < 10], held[held < 10])  # closed ones stay closed


def test_the_rich_scheme_has_every_mechanic_but_stamps_and_challenges():
    got = {k.name for k in REGISTRY if k.applies(scenario().scheme)}
    assert got == {k.name for k in REGISTRY} - {"stamps", "challenges"}
    assert set(RICH_SCHEME) - ALWAYS - {"name"} <= got
