"""Named random streams from a SeedSequence tree: seed -> replicate -> stream.

Common random numbers: each decision has its own stream, and every day each stream draws one number
for every customer whether or not it is used. Customer i's draws therefore never depend on what other
customers did, nor on the scheme, so the scheme and counterfactual arms differ only by the scheme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

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


@intrinsic
def _mul_wide(typingctx, a, b):
    """The 128-bit product of two uint64 as (high, low) words: one machine multiply."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        lo = builder.trunc(p, ir.IntType(64))
        hi = builder.trunc(builder.lshr(p, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, (hi, lo))

    return sig, codegen


_CHEAP_MULTIPLIER = np.uint64(0xDA942042E4DD58B5)
_LOW = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _dxsm(hi, lo):
    """PCG64DXSM's output for a state (numpy's pcg64_cm_random_r, before its step)."""
    x = hi ^ (hi >> np.uint64(32))
    x *= _CHEAP_MULTIPLIER
    x ^= x >> np.uint64(48)
    return x * (lo | np.uint64(1))


@njit(cache=True, inline="always")
def _step(hi, lo, inc_hi, inc_lo):
    """PCG64DXSM's 128-bit step: state * multiplier + increment, as (high, low) words."""
    p_hi, p_lo = _mul_wide(lo, _CHEAP_MULTIPLIER)
    new_lo = p_lo + inc_lo
    return p_hi + hi * _CHEAP_MULTIPLIER + inc_hi + np.uint64(new_lo < p_lo), new_lo


@njit(cache=True)
def _fill(words, carry, start, out):
    """Fill row r of ``out`` (streams x customers, uint32) with generator r's next outputs split into
    32-bit halves, low half first: exactly numpy's ``PCG64DXSM.random_raw`` viewed as uint32 on a
    little-endian machine, which is what ``Generator.random(dtype=np.float32)`` consumes.

    ``words`` (streams x 4, uint64) holds each generator's state and increment (high, low words). With
    ``start`` 1 the row begins with ``carry[r]``, the high half left over from the previous fill; a row
    that ends halfway through an output leaves its high half in ``carry[r]``.

    Four generators step together: each 128-bit step waits on the multiply before it, so one generator
    alone leaves the processor idle.
    """
    n_rows, n = out.shape
    if start:
        for r in range(n_rows):
            out[r, 0] = np.uint32(carry[r])
    pairs = (n - start) // 2
    odd = (n - start) % 2
    r = 0
    while r + 4 <= n_rows:
        h0, l0, h1, l1 = words[r, 0], words[r, 1], words[r + 1, 0], words[r + 1, 1]
        h2, l2, h3, l3 = words[r + 2, 0], words[r + 2, 1], words[r + 3, 0], words[r + 3, 1]
        for q in range(pairs + odd):
            k = start + 2 * q
            x0, x1, x2, x3 = _dxsm(h0, l0), _dxsm(h1, l1), _dxsm(h2, l2), _dxsm(h3, l3)
            h0, l0 = _step(h0, l0, words[r, 2], words[r, 3])
            h1, l1 = _step(h1, l1, words[r + 1, 2], words[r + 1, 3])
            h2, l2 = _step(h2, l2, words[r + 2, 2], words[r + 2, 3])
            h3, l3 = _step(h3, l3, words[r + 3, 2], words[r + 3, 3])
            out[r, k], out[r + 1, k] = np.uint32(x0 & _LOW), np.uint32(x1 & _LOW)
            out[r + 2, k], out[r + 3, k] = np.uint32(x2 & _LOW), np.uint32(x3 & _LOW)
            if q < pairs:
                out[r, k + 1], out[r + 1, k + 1] = np.uint32(x0 >> np.uint64(32)), np.uint32(x1 >> np.uint64(32))
                out[r + 2, k + 1], out[r + 3, k + 1] = np.uint32(x2 >> np.uint64(32)), np.uint32(x3 >> np.uint64(32))
            else:
                carry[r], carry[r + 1], carry[r + 2], carry[r + 3] = (x0 >> np.uint64(32), x1 >> np.uint64(32),
                                                                      x2 >> np.uint64(32), x3 >> np.uint64(32))
        words[r, 0], words[r, 1], words[r + 1, 0], words[r + 1, 1] = h0, l0, h1, l1
        words[r + 2, 0], words[r + 2, 1], words[r + 3, 0], words[r + 3, 1] = h2, l2, h3, l3
        r += 4
    for r in range(r, n_rows):
        h, lo = words[r, 0], words[r, 1]
        for q in range(pairs + odd):
            k = start + 2 * q
            x = _dxsm(h, lo)
            h, lo = _step(h, lo, words[r, 2], words[r, 3])
            out[r, k] = np.uint32(x & _LOW)
            if q < pairs:
                out[r, k + 1] = np.uint32(x >> np.uint64(32))
            else:
                carry[r] = x >> np.uint64(32)
        words[r, 0], words[r, 1] = h, lo


def _generator_words(gen: np.random.Generator) -> list[int]:
    """A PCG64DXSM generator's state and increment as the words :func:`_fill` steps."""
    st = gen.bit_generator.state["state"]
    mask = (1 << 64) - 1
    return [st["state"] >> 64, st["state"] & mask, st["inc"] >> 64, st["inc"] & mask]


class Streams:
    """The daily decision streams of one replicate."""

    def __init__(self, seed: int, replicate: int, n: int) -> None:
        self.n = n
        self._words = np.array([_generator_words(_generator(seed, replicate, 1, i)) for i in range(len(DAILY_STREAMS))],
                               np.uint64)
        self._carry = np.zeros(len(DAILY_STREAMS), np.uint64)
        self._start = 0
        # Each day is written over the previous one: a fresh array a day would cost page faults.
        self._bits = np.empty((len(DAILY_STREAMS), n), np.uint32)

    def day(self) -> DailyDraws:
        """Draw the next day for every customer, from every stream; valid until the next call.

        The numbers are those of ``gen.random(n, dtype=np.float32)`` day after day (with n odd a day ends
        halfway through a 64-bit output and the next starts with its high half), kept as raw 32-bit
        halves: no float conversion for customers whose draw is never read.
        """
        _fill(self._words, self._carry, self._start, self._bits)
        self._start = (self._start + self.n) % 2
        return DailyDraws(*(Uniforms(row) for row in self._bits))
