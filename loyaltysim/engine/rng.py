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

from loyaltysim.engine.kernel_cache import use_user_cache

use_user_cache()  # before any kernel is defined: compiled code never goes inside the package

# Stream ids are part of the results' reproducibility: append new names, never reorder or reuse.
POPULATION_STREAMS: tuple[str, ...] = (
    "segment", "household", "children", "income", "need_rate", "weekday", "hours", "basket_mu",
    "categories", "own_label", "motivations", "time_poor", "retailer_preference", "life_events",
    "life_event_effects", "membership_start", "consent", "need_drift", "arrivals",
    "lapses", "join_taste",
)
DAILY_STREAMS: tuple[str, ...] = (
    "need", "choice", "basket_value", "basket_category", "basket_brand", "hour", "card",
    "join", "redeem", "offer", "leave", "defect", "consent_change", "refer", "aware", "dormancy",
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
    aware: Uniforms
    dormancy: Uniforms


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


@intrinsic
def _full_width_vectors(typingctx):
    """Let the compiler use the machine's widest vectors in the function that calls this. On CPUs with
    AVX-512 LLVM keeps to 256-bit vectors unless told otherwise (a tuning default, against the clock
    slowdown wide instructions can bring), and the generator's 64-bit multiplies, one instruction per
    vector, then take twice the instructions: the daily fill runs about 1.3 x faster with 512-bit vectors.
    Integer arithmetic, so the numbers are the same at any width; without AVX-512 nothing changes.
    llvmlite checks function attributes against a list without this one, so it goes into the set as is."""
    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


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


LANES = 32
"""Outputs of one generator computed side by side in :func:`_fill_row`: lane j makes outputs j,
j + LANES, j + 2 LANES, ... (an LCG jumps LANES steps in one multiply-add), so the lanes are independent
and the compiler turns them into vector instructions."""

_HALF = np.uint64(32)


@njit(cache=True)
def _fill_row(state, jump, out, first, m):
    """Write a generator's next ``m`` 64-bit outputs to ``out[first:first + m]`` and advance its
    ``state`` (high, low, increment high, increment low).

    ``jump`` is (multiplier high, low, increment high, low) of LANES steps at once (:func:`_lane_jump`).
    Each lane's low word is held as two 32-bit halves, so that the high word of its product with the
    multiplier is four 32 x 32-bit multiplies, which vectorise. Held as one word, the compiler recognises
    the same arithmetic as a 128-bit multiply and does it one lane at a time.
    """
    _full_width_vectors()
    h, lo, inc_h, inc_l = state[0], state[1], state[2], state[3]
    lane_h, lane_l0, lane_l1 = np.empty(LANES, np.uint64), np.empty(LANES, np.uint64), np.empty(LANES, np.uint64)
    for j in range(LANES):
        lane_h[j], lane_l0[j], lane_l1[j] = h, lo & _LOW, lo >> _HALF
        h, lo = _step(h, lo, inc_h, inc_l)
    a_h, a_l, c_h, c_l = jump[0], jump[1], jump[2], jump[3]
    a0, a1 = a_l & _LOW, a_l >> _HALF
    blocks = m // LANES
    for b in range(blocks):
        block = out[first + b * LANES:first + (b + 1) * LANES]  # a slice: plain stores, not a scatter
        for j in range(LANES):
            hj, l0, l1 = lane_h[j], lane_l0[j] & _LOW, lane_l1[j] & _LOW  # the masks say the halves fit 32 bits
            lj = (l1 << _HALF) | l0
            block[j] = _dxsm(hj, lj)
            new_l = lj * a_l + c_l
            p00, p01, p10, p11 = l0 * a0, l0 * a1, l1 * a0, l1 * a1
            mid = (p00 >> _HALF) + (p01 & _LOW) + (p10 & _LOW)
            high = p11 + (p01 >> _HALF) + (p10 >> _HALF) + (mid >> _HALF)  # of lj * a_l
            lane_h[j] = high + lj * a_h + hj * a_l + c_h + np.uint64(new_l < c_l)
            lane_l0[j], lane_l1[j] = new_l & _LOW, new_l >> _HALF
    h, lo = lane_h[0], (lane_l1[0] << _HALF) | lane_l0[0]  # the state of output blocks * LANES
    for k in range(first + blocks * LANES, first + m):
        out[k] = _dxsm(h, lo)
        h, lo = _step(h, lo, inc_h, inc_l)
    state[0], state[1] = h, lo


@njit(cache=True)
def _fill(words, jumps, n, start, out32, out64):
    """Fill row r of ``out32`` (streams x an even width > n, uint32; ``out64`` is the same memory as
    uint64) with generator r's next outputs split into 32-bit halves, low half first: exactly numpy's
    ``PCG64DXSM.random_raw`` viewed as uint32 on a little-endian machine, which is what
    ``Generator.random(dtype=np.float32)`` consumes.

    The day's n numbers are ``out32[r, start:start + n]``. With ``start`` 1 the day begins with the high
    half left over at ``out32[r, n]`` by the previous day (n odd), moved to ``out32[r, 1]``, and the new
    outputs fill whole 64-bit words from word 1; with ``start`` 0 they fill from word 0.
    """
    m = (n - start + 1) // 2
    for r in range(out32.shape[0]):
        if start:
            out32[r, 1] = out32[r, n]
        _fill_row(words[r], jumps[r], out64[r], start, m)


def _lane_jump(words: np.ndarray) -> list[int]:
    """(multiplier high, low, increment high, low) of LANES steps of a PCG64DXSM generator at once."""
    mask, word = (1 << 128) - 1, (1 << 64) - 1
    inc = (int(words[2]) << 64) | int(words[3])
    mult, add = 1, 0
    for _ in range(LANES):
        mult, add = (mult * int(_CHEAP_MULTIPLIER)) & mask, (add * int(_CHEAP_MULTIPLIER) + inc) & mask
    return [mult >> 64, mult & word, add >> 64, add & word]


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
        self._jumps = np.array([_lane_jump(w) for w in self._words], np.uint64)
        self._start = 0
        # Each day is written over the previous one: a fresh array a day would cost page faults.
        self._bits = np.zeros((len(DAILY_STREAMS), (n + 2) // 2 * 2), np.uint32)
        # The same memory as 64-bit words, low half first: numba runs only on little-endian machines.
        self._words64 = self._bits.view(np.uint64)

    def day(self) -> DailyDraws:
        """Draw the next day for every customer, from every stream; valid until the next call.

        The numbers are those of ``gen.random(n, dtype=np.float32)`` day after day (with n odd a day ends
        halfway through a 64-bit output and the next starts with its high half), kept as raw 32-bit
        halves: no float conversion for customers whose draw is never read.
        """
        start, n = self._start, self.n
        _fill(self._words, self._jumps, n, start, self._bits, self._words64)
        self._start = (start + n) % 2
        return DailyDraws(*(Uniforms(row[start:start + n]) for row in self._bits))
