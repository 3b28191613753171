"""Named random streams from a SeedSequence tree: seed -> replicate -> stream.

Common random numbers: each decision has its own stream, and every day each stream draws one number
for every customer whether or not it is used. Customer i's draws therefore never depend on what other
customers did, nor on the scheme, so the scheme and counterfactual arms differ only by the scheme.
"""

from __future__ import annotations

import sys
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


UNIT = np.float32(2.0 ** -24)
"""Weight of the lowest of a float32 uniform's 24 random bits."""


def to_uniform(bits: np.ndarray) -> np.ndarray:
    """Raw 32-bit generator outputs as float32 uniforms in [0, 1): exactly ``Generator.random(dtype=np.float32)``
    (the top 24 bits times 2**-24)."""
    return (bits >> 8).astype(np.float32) * UNIT


class Uniforms:
    """One stream's draws for the day: one per customer, held as raw 32-bit outputs.

    Indexing (``draws.card[idx]``) returns float32 uniforms for those customers only; most streams are
    read for a small share of customers, and compiled kernels read ``bits`` directly.
    """

    __slots__ = ("bits",)

    def __init__(self, bits: np.ndarray) -> None:
        self.bits = bits

    def __getitem__(self, idx) -> np.ndarray:
        return to_uniform(self.bits[idx])

    def __len__(self) -> int:
        return self.bits.size

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        u = to_uniform(self.bits)
        return u if dtype is None else u.astype(dtype)


@dataclass
class DailyDraws:
    """One day's uniforms in [0, 1), one per customer per stream (see :class:`Uniforms`).

    Uniforms are cheap to draw for everyone; where a decision needs another distribution it
    transforms the uniforms of the customers concerned (e.g. lognormal baskets by inverse CDF).
    """

    need: Uniforms
    choice: Uniforms
    basket_value: Uniforms
    basket_category: Uniforms
    basket_brand: Uniforms
    hour: Uniforms
    card: Uniforms
    join: Uniforms
    redeem: Uniforms
    offer: Uniforms
    leave: Uniforms
    defect: Uniforms
    consent_change: Uniforms
    refer: Uniforms


class Streams:
    """The daily decision streams of one replicate."""

    def __init__(self, seed: int, replicate: int, n: int) -> None:
        self.n = n
        self._gens = {name: _generator(seed, replicate, 1, i) for i, name in enumerate(DAILY_STREAMS)}
        # A float32 draw uses half of one 64-bit output (low half first); with n odd, a day ends halfway
        # through an output and the next day starts with its high half, as Generator.random would.
        self._carry: dict[str, np.ndarray | None] = dict.fromkeys(self._gens)

    def day(self) -> DailyDraws:
        """Draw the next day for every customer, from every stream.

        The numbers are those of ``gen.random(n, dtype=np.float32)`` day after day, but taken as raw
        64-bit outputs (``random_raw``) and split into 32-bit halves: about half the cost, and no
        float conversion for customers whose draw is never read.
        """
        return DailyDraws(**{name: Uniforms(self._bits(name)) for name in self._gens})

    def _bits(self, name: str) -> np.ndarray:
        n, carry = self.n, self._carry[name]
        m = n - (carry is not None)
        raw = self._gens[name].bit_generator.random_raw((m + 1) // 2)
        halves = raw.view(np.uint32)
        if sys.byteorder == "big":
            halves = halves.reshape(-1, 2)[:, ::-1].ravel()
        self._carry[name] = halves[m:m + 1].copy() if m % 2 else None
        return halves[:m] if carry is None else np.concatenate([carry, halves[:m]])
