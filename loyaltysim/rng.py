"""Named random streams from a SeedSequence tree: seed -> replicate -> stream.

Common random numbers: each decision has its own stream, and every day each stream draws one number
for every customer whether or not it is used. Customer i's draws therefore never depend on what other
customers did, nor on the scheme, so the scheme and counterfactual arms differ only by the scheme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Stream ids are part of the results' reproducibility: append new names, never reorder or reuse.
POPULATION_STREAMS: tuple[str, ...] = (
    "segment", "household", "children", "income", "need_rate", "weekday", "hours", "basket_mu",
    "categories", "own_label", "motivations", "time_poor", "retailer_preference", "life_events",
    "life_event_effects", "membership_start", "consent",
)
DAILY_STREAMS: tuple[str, ...] = (
    "need", "choice", "basket_value", "basket_category", "basket_brand", "hour", "card",
    "join", "redeem", "offer", "leave", "defect", "consent_change", "refer",
)


def replicate_seed(seed: int, replicate: int) -> np.random.SeedSequence:
    """The SeedSequence of one replicate: independent of every other replicate and of the scheme."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(replicate,))


def _generator(seed: int, replicate: int, group: int, stream: int) -> np.random.Generator:
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(replicate, group, stream))
    return np.random.Generator(np.random.PCG64DXSM(seq))


def population_rng(seed: int, replicate: int, name: str) -> np.random.Generator:
    """The generator for one population attribute (so changing one attribute's spec leaves the rest)."""
    return _generator(seed, replicate, 0, POPULATION_STREAMS.index(name))


@dataclass
class DailyDraws:
    """One day's uniforms (float32 in [0, 1)), one per customer per stream.

    Uniforms are cheap to draw for everyone; where a decision needs another distribution it
    transforms the uniforms of the customers concerned (e.g. lognormal baskets by inverse CDF).
    """

    need: np.ndarray
    choice: np.ndarray
    basket_value: np.ndarray
    basket_category: np.ndarray
    basket_brand: np.ndarray
    hour: np.ndarray
    card: np.ndarray
    join: np.ndarray
    redeem: np.ndarray
    offer: np.ndarray
    leave: np.ndarray
    defect: np.ndarray
    consent_change: np.ndarray
    refer: np.ndarray


class Streams:
    """The daily decision streams of one replicate."""

    def __init__(self, seed: int, replicate: int, n: int) -> None:
        self.n = n
        self._gens = {name: _generator(seed, replicate, 1, i) for i, name in enumerate(DAILY_STREAMS)}

    def day(self) -> DailyDraws:
        """Draw the next day for every customer, from every stream."""
        n = self.n
        out = {}
        for name, gen in self._gens.items():
            out[name] = gen.random(n, dtype=np.float32)
        return DailyDraws(**out)
