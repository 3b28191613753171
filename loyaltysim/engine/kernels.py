"""Compiled per-customer loops for the busiest parts of the day (numba).

The rules are those of :mod:`loyaltysim.engine.behaviour` and the scheme modules, applied customer by customer
in one pass instead of as a chain of gathers and temporaries over index subsets: at a million
customers the gathers, not the arithmetic, were most of a run. Each kernel mirrors the numpy
expression it replaces, including its float32/float64 steps (numpy treats a Python float next to a
float32 array as float32), so a customer's decisions come out as before. Random numbers still come
from the named streams (:mod:`loyaltysim.engine.rng`), passed in as the day's raw 32-bit outputs.

Kernels are serial: results never depend on the number of threads. They divide as numpy does (a zero
divisor gives inf or nan, not an exception).

Each kernel ``k`` is followed by ``k_numpy``, the numpy statement of its rule: the same parameters, the
same return value and the same writes to the arrays it is given, on the same inputs. The few rules
stated in numpy one level up (shopping, the value of joining, the business's estimates) say where in
their kernel's docstring; :mod:`loyaltysim.engine.twins` lists every pair, and tests/test_kernels.py
holds each kernel to its statement.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import binding
from numba import njit, types
from numba.extending import get_cython_function_address

from loyaltysim.engine.kernel_cache import use_user_cache
from loyaltysim.engine.rng import to_uniform

use_user_cache()  # before any kernel is defined: compiled code never goes inside the package

# scipy's own ndtri (inverse normal CDF), the function behind scipy.special.ndtri, linked by name so
# that compiled kernels can be cached (a ctypes pointer would be baked into the cached code).
binding.add_symbol("loyaltysim_ndtri", get_cython_function_address("scipy.special.cython_special", "ndtri"))
_ndtri = types.ExternalFunction("loyaltysim_ndtri", types.float64(types.float64))

F32 = np.float32
UNIT = F32(2.0 ** -24)
U_LO = F32(1e-7)         # the clip of a basket uniform before its inverse normal CDF
U_HI = F32(1 - 1e-7)

# Indices into the ``c`` tuple of scheme constants passed to ``shop`` (floats; flags are 0/1).
(C_HAS_POINTS, C_HAS_STAMPS, C_HAS_CAT_MULT, C_HAS_MEMBERSHIP, C_HAS_MEMBER_PRICING, C_HAS_TIERS,
 C_HAS_OFFERS, C_EARN_PER_UNIT, C_MEMBERSHIP_MULT, C_STAMP_PERCEIVED, C_STAMP_LEFT, C_STAMP_MIN_SPEND,
 C_STAMP_REQUIRED, C_STAMP_WORTH, C_MP_SHARE, C_MP_DISCOUNT, C_STATUS_WEIGHT, C_OFFER_SAVING,
 C_FRICTION_PER_VISIT, C_APP_RELIEF, C_APP_BIT, C_REFERENCE_WEIGHT, C_PRICE_WEIGHT,
 C_REWARD_WEIGHT, C_FRICTION_WEIGHT, C_GG_STRENGTH, C_GG_ACCELERATION, C_GG_CURVATURE, C_HABIT_WEIGHT,
 C_PRICE_ADVANTAGE, C_COMP_REWARD_RATE, C_CARD_SKIP_SCALE, C_MP_SKIP_KEPT, C_OFFER_BASKET_SHARE,
 C_REWARDED_WEIGHT, C_WELFARE_OUTCOME_FLOOR, C_OFFER_BASE, C_OFFER_SLOPE, N_CONSTANTS) = range(39)


@njit(cache=True, error_model="numpy", inline="always")
def uniform(bits, i):
    """Customer i's float32 uniform, exactly as ``rng.to_uniform`` (its numpy statement)."""
    return F32(bits[i] >> 8) * UNIT


# The helpers below take numbers, not arrays: an array argument is reference-counted on every call
# (atomic operations that cost more than the arithmetic), while numbers and the constants' tuple are not.

@njit(cache=True, error_model="numpy", inline="always")
def _progress(c, points, need, stamps):
    """Progress (0-1) of a member toward the next reward (behaviour.progress); ``need`` is the points
    of the member's goal."""
    p = F32(0.0)
    if c[C_HAS_POINTS] != 0.0:
        p = F32(min(points / need, 1.0))
    if c[C_HAS_STAMPS] != 0.0:
        p = F32(max(np.float64(p), stamps / c[C_STAMP_REQUIRED]))
    return p


@njit(cache=True, error_model="numpy", inline="always")
def _pull(c, points, stamps, need, perceived, mean_basket, curved):
    """Goal-gradient pull of a member (behaviour.pull), float64; ``perceived`` is the goal's worth and
    ``curved`` the member's progress ** curvature if looked up in a :func:`progress_curve` (else -1)."""
    worth = 0.0
    if c[C_HAS_POINTS] != 0.0:
        worth = perceived
    if c[C_HAS_STAMPS] != 0.0:
        worth = max(worth, c[C_STAMP_WORTH])
    scale = min(worth / np.float64(mean_basket), 1.0)
    if curved < 0:
        curved = _progress(c, points, need, stamps) ** F32(c[C_GG_CURVATURE])
    return np.float64(curved) * scale


@njit(cache=True, error_model="numpy")
def progress_curve(c, reward_points, first, out):
    """Progress ** curvature ahead of time for every whole number of points toward each goal, since a
    float32 power costs more than the rest of a member's pull: ``out[first[g] + p]`` for p points toward
    goal g, p below ``first[g + 1] - first[g]``. The same arithmetic as :func:`_pull`, so the same
    numbers; only for schemes without stamps (whose progress depends on stamps too)."""
    for g in range(reward_points.size):
        for p in range(first[g + 1] - first[g]):
            out[first[g] + p] = _progress(c, np.int32(p), reward_points[g], np.int16(0)) ** F32(c[C_GG_CURVATURE])


def progress_curve_numpy(c, reward_points, first, out):
    """:func:`progress_curve` in numpy: the progress of every whole balance toward each goal to the power
    curvature, each entry a float32 scalar power (C's powf, as the kernel; numpy may compute an array's
    powers otherwise)."""
    curvature = F32(c[C_GG_CURVATURE])
    for g, need in enumerate(reward_points):
        points = np.arange(first[g + 1] - first[g])
        progress = np.minimum(points / need, 1.0).astype(F32) if c[C_HAS_POINTS] else np.zeros(points.size, F32)
        out[first[g]:first[g + 1]] = [p ** curvature for p in progress]


@njit(cache=True, error_model="numpy", inline="always")
def _curved(points, curve, lo, hi):
    """A member's progress ** curvature from their goal's ``curve[lo:hi]`` (:func:`progress_curve`), or -1
    where the table has no entry: for points beyond the goal, or with no table."""
    return curve[lo + points] if 0 <= points < hi - lo else F32(-1.0)


@njit(cache=True, error_model="numpy", inline="always")
def friction_share(c, consent, time_poor, experience, mean_basket):
    """Cost of using the card per trip as a share of the basket (behaviour.friction_share), float64."""
    weight = (1.0 if time_poor else 0.2) * np.float64(F32(0.5) + experience)
    cost = c[C_FRICTION_PER_VISIT] * weight
    if consent & np.uint8(c[C_APP_BIT]):
        cost = cost * (1.0 - c[C_APP_RELIEF])
    return cost / np.float64(mean_basket)


def friction_share_numpy(c, consent, time_poor, experience, mean_basket):
    """:func:`friction_share` of arrays (float64): the time-poor feel the card's cost fully, others a fifth,
    more if experience-driven; a digital card (app) relieves some of it."""
    weight = np.where(time_poor, 1.0, 0.2) * (F32(0.5) + experience)
    cost = c[C_FRICTION_PER_VISIT] * weight
    app = (consent & np.uint8(c[C_APP_BIT])) != 0
    return np.where(app, cost * (1.0 - c[C_APP_RELIEF]), cost) / mean_basket


@njit(cache=True, error_model="numpy", inline="always")
def felt_value(loss_aversion, scale, value_ema, spend_ema, reference):
    """How a member feels about the scheme's recent value against their reference (behaviour.felt_value),
    in units of ``scale``, float32: the gap between the recent value share of spend and the reference,
    a shortfall weighing ``loss_aversion`` times an equal gain."""
    gap = value_ema / max(spend_ema, F32(0.05)) - reference
    if gap < F32(0.0):
        gap = gap * F32(loss_aversion)
    return gap / F32(scale)


def felt_value_numpy(loss_aversion, scale, value_ema, spend_ema, reference):
    """:func:`felt_value` of arrays, float32."""
    gap = value_ema / np.maximum(spend_ema, F32(0.05)) - reference
    return np.where(gap < F32(0.0), gap * F32(loss_aversion), gap) / F32(scale)


@njit(cache=True, error_model="numpy", inline="always")
def _segment_run(sums, seg, total, s):
    """Per-segment sums in a register: customers come in segment blocks, so a kernel keeps the running
    sum of the current segment ``seg`` in ``total`` and calls this with the next customer's segment ``s``.
    On a change the total goes back to ``sums`` and the new segment's is fetched. Each sum gets the same
    additions in the same order as ``sums[s] += x``, but waits for the previous add only, not for a
    store and reload of memory. Start with ``(0, sums[0])``; store ``sums[seg] = total`` at the end."""
    if s != seg:
        sums[seg] = total
        return s, sums[s]
    return seg, total


@njit(cache=True, error_model="numpy")
def _flags(n):
    """Zeroed flags for n customers, padded to whole 64-bit words for :func:`_append_flagged`."""
    return np.zeros(n + 7 - (n + 7) % 8, np.uint8)


@njit(cache=True, error_model="numpy")
def _append_flagged(flags, out, k):
    """Write the positions of the nonzero ``flags`` (from :func:`_flags`) to ``out`` from position k, in
    order; return the next free position. Where flags are rare most 64-bit words of them are zero, so
    they are read eight at a time: far fewer steps than one compare-and-store per customer."""
    eights = flags.view(np.uint64)
    for w in range(eights.size):
        if eights[w] != 0:
            for i in range(8 * w, 8 * w + 8):
                if flags[i]:
                    out[k] = i
                    k += 1
    return k


@njit(cache=True, error_model="numpy")
def refresh_recent_values(loss_aversion, scale, idx, value_ema, spend_ema, reference, recent):
    """Store the felt value of members ``idx`` on a -1 to 1 scale (tanh of :func:`felt_value`) in
    ``recent``: it changes only when their moving averages or reference do (weekly, or when the scenario
    changes), and the daily passes read it for every member who shops or might defect."""
    for t in range(idx.size):
        i = idx[t]
        recent[i] = F32(math.tanh(felt_value(loss_aversion, scale, value_ema[i], spend_ema[i], reference[i])))


def refresh_recent_values_numpy(loss_aversion, scale, idx, value_ema, spend_ema, reference, recent):
    """:func:`refresh_recent_values` in numpy. numpy's float32 tanh is its own, within a few units in the
    last place of the C library's tanhf that the kernel calls: the twins agree to that, not to the bit."""
    recent[idx] = np.tanh(felt_value_numpy(loss_aversion, scale, value_ema[idx], spend_ema[idx], reference[idx]))


@njit(cache=True, error_model="numpy")
def update_value_averages(a, b, days, loss_aversion, scale, rival_share, rival_weight, day, join_day, idx, net_value,
                          spend_week, value_ema, spend_ema, reference, recent, z):
    """The weekly update of members ``idx`` (enrolment.update_satisfaction): moving averages of net value
    and spend per day move by ``a`` toward the week's (``days`` days); the felt value against the
    reference is refreshed into ``recent`` (-1 to 1) and ``z[t]`` (the logit of satisfaction, twice the
    felt value), float32; then the reference moves toward the recent value share, raised toward
    ``rival_share`` by ``rival_weight`` where the competition gives more: by ``b``, or by 1 / (k + 1) in a
    member's k-th week since joining if that is more (a new member's reference is the mean of what they
    have had so far, until it has ``b``'s memory: they learn what the scheme gives before they take it
    for granted). ``a`` and ``b`` are numpy float64, so the averages move in float64 before being stored
    as float32."""
    for t in range(idx.size):
        i = idx[t]
        v = F32(np.float64(value_ema[i]) + a * np.float64(net_value[i] / F32(days) - value_ema[i]))
        s = F32(np.float64(spend_ema[i]) + a * np.float64(spend_week[i] / F32(days) - spend_ema[i]))
        value_ema[i], spend_ema[i] = v, s
        felt = felt_value(loss_aversion, scale, v, s, reference[i])
        recent[i] = F32(math.tanh(felt))
        z[t] = F32(2.0) * felt
        share = v / max(s, F32(0.05))
        target = np.float64(share) + rival_weight * max(rival_share - np.float64(share), 0.0)
        step = max(b, 1.0 / (max((day - join_day[i]) // days, 0) + 1))
        reference[i] = F32(np.float64(reference[i]) + step * (target - np.float64(reference[i])))


def update_value_averages_numpy(a, b, days, loss_aversion, scale, rival_share, rival_weight, day, join_day, idx,
                                net_value, spend_week, value_ema, spend_ema, reference, recent, z):
    """:func:`update_value_averages` in numpy: each average moves by ``a`` toward the week's mean per day,
    in float64, and is stored as float32; the felt value is read against the reference before it moves."""
    for ema, week in ((value_ema, net_value), (spend_ema, spend_week)):
        step = (week[idx] / F32(days) - ema[idx]).astype(np.float64)
        ema[idx] = (ema[idx].astype(np.float64) + a * step).astype(F32)
    value, spend, ref = value_ema[idx], spend_ema[idx], reference[idx]
    felt = felt_value_numpy(loss_aversion, scale, value, spend, ref)
    recent[idx] = np.tanh(felt)
    z[:] = F32(2.0) * felt
    share = (value / np.maximum(spend, F32(0.05))).astype(np.float64)
    target = share + rival_weight * np.maximum(rival_share - share, 0.0)
    step = np.maximum(b, 1.0 / (np.maximum((day - join_day[idx]) // days, 0) + 1))
    reference[idx] = (ref.astype(np.float64) + step * (target - ref.astype(np.float64))).astype(F32)


@njit(cache=True, error_model="numpy", inline="always")
def _reward_rate(c, perceived, need, tier_mult, cat_dot, mean_basket):
    """Expected perceived reward per unit of spend of a member (behaviour.reward_rate), float64: ``need``
    and ``perceived`` are the points and worth of the member's goal, ``tier_mult`` their tier's earn
    multiplier, ``cat_dot`` their category mix times the category multipliers."""
    rate = 0.0
    if c[C_HAS_POINTS] != 0.0:
        value_per_point = perceived / need
        mult = tier_mult
        if c[C_HAS_CAT_MULT] != 0.0:
            mult = mult * np.float64(cat_dot)
        if c[C_HAS_MEMBERSHIP] != 0.0:
            mult = mult * c[C_MEMBERSHIP_MULT]
        rate += c[C_EARN_PER_UNIT] * mult * value_per_point
    if c[C_HAS_STAMPS] != 0.0:
        rate += np.float64(F32(c[C_STAMP_PERCEIVED])
                           / (F32(c[C_STAMP_LEFT]) * max(mean_basket, F32(c[C_STAMP_MIN_SPEND]))))
    return rate


@njit(cache=True, error_model="numpy", inline="always")
def _category_dot(categories, cat_mult, i):
    """Customer i's category mix times the category multipliers, summed in category order (float32)."""
    total = F32(0.0)
    for j in range(cat_mult.size):
        total += categories[i, j] * cat_mult[j]
    return total


@njit(cache=True, error_model="numpy")
def expected_values(c, offers_gain, membership_gain, membership_cost, privacy_per_day, idx, goal, need_rate,
                    mean_basket, habit, tier, consent, time_poor, experience, privacy, categories, cat_mult,
                    reward_points, reward_perceived, tier_mult, out):
    """Each non-member ``idx[t]``'s expected yearly net value of joining (enrolment.expected_value) into
    ``out[t]``, float64, with the float32 steps numpy takes. ``goal[t]`` is the reward they would work
    toward; ``offers_gain`` is the yearly offer value per unit of mean basket (0 without offers),
    ``membership_gain`` the yearly convenience value per unit of experience and ``membership_cost`` the
    yearly fee (0 without a paid membership); ``privacy_per_day`` is the daily privacy cost of the
    required data for a fully concerned customer. Its numpy statement is enrolment.expected_value."""
    for t in range(idx.size):
        i = idx[t]
        yearly = need_rate[i] * F32(365.0)
        mb = mean_basket[i]
        spend = yearly * mb * habit[i]
        trips = yearly * habit[i]
        g = goal[t]
        cat_dot = _category_dot(categories, cat_mult, i) if c[C_HAS_CAT_MULT] != 0.0 else F32(0.0)
        rate = _reward_rate(c, reward_perceived[g], reward_points[g], tier_mult[tier[i]], cat_dot, mb)
        gain = np.float64(spend) * rate
        if c[C_HAS_MEMBER_PRICING] != 0.0:
            gain += np.float64(spend * F32(c[C_MP_SHARE]) * F32(c[C_MP_DISCOUNT]))
        if c[C_HAS_OFFERS] != 0.0:
            gain += np.float64(F32(offers_gain) * mb * F32(c[C_OFFER_BASKET_SHARE]))
        cost = np.float64(trips) * friction_share(c, consent[i], time_poor[i], experience[i], mb) * np.float64(mb)
        cost += np.float64(privacy[i]) * privacy_per_day * 365.0
        if c[C_HAS_MEMBERSHIP] != 0.0:
            gain += np.float64(F32(membership_gain) * experience[i])
            cost += membership_cost
        out[t] = gain - cost


@njit(cache=True, error_model="numpy", inline="always")
def _member_utility(day, c, rs, outcome, belonging, experience, time_poor, mean_basket, points, stamps, need,
                    perceived, curved, tier_mult, tier_status, cat_dot, recent, vouchers, offer_until, acc_what,
                    consent):
    """What membership adds to a member's utility of shopping here (behaviour.choose_store), float64.

    ``need`` and ``perceived`` are the points and worth of the member's goal, ``tier_mult`` and
    ``tier_status`` their tier's, ``cat_dot`` the category mix times the category multipliers, ``recent``
    the member's felt value (tanh of :func:`felt_value`), ``curved`` as :func:`_pull`'s.

    The scheme's anticipated value enters once (the reward rate, member prices, a live offer's saving,
    tier status, less friction); beside it the goal gradient, rewarded behaviour (a reward in hand) and
    the felt value against the member's reference, each with its own source."""
    rate = _reward_rate(c, perceived, need, tier_mult, cat_dot, mean_basket)
    add = np.float64(F32(c[C_REWARD_WEIGHT]) * rs) * rate
    add += np.float64(F32(c[C_REFERENCE_WEIGHT]) * recent)
    add += np.float64(F32(c[C_GG_STRENGTH]) * rs) * _pull(c, points, stamps, need, perceived, mean_basket, curved)
    if c[C_HAS_MEMBER_PRICING] != 0.0:
        add += np.float64(F32(c[C_PRICE_WEIGHT]) * outcome * F32(c[C_MP_SHARE]) * F32(c[C_MP_DISCOUNT]))
    if c[C_HAS_TIERS] != 0.0:
        add += np.float64(F32(c[C_STATUS_WEIGHT]) * belonging) * tier_status
    if c[C_HAS_OFFERS] != 0.0:
        if offer_until >= day:  # the saving it promises, times the chance it is used on this trip
            use = F32(c[C_OFFER_BASE]) + F32(c[C_OFFER_SLOPE]) * acc_what
            add += np.float64(F32(c[C_PRICE_WEIGHT]) * outcome * F32(c[C_OFFER_SAVING]) * use)
    add += np.float64(F32(c[C_REWARDED_WEIGHT]) * rs * min(vouchers / mean_basket, F32(1.0)))
    add -= c[C_FRICTION_WEIGHT] * friction_share(c, consent, time_poor, experience, mean_basket)
    return add


@njit(cache=True, error_model="numpy")
def _member_utilities(day, c, member_pos, needers, reward_seeking, outcome, belonging, experience, time_poor,
                      mean_basket, categories, goal, points, stamps, tier, recent, vouchers, offer_until, acc_what,
                      consent, reward_points, reward_perceived, tier_mult, tier_status_share, cat_mult, curve,
                      curve_first, extra, add):
    """:func:`_member_utility` of the member needers ``needers[member_pos]`` into ``add[member_pos]``.

    A first loop does the common case only: a pull whose power is in the :func:`progress_curve` table and
    no category multipliers. Without the other paths (and their calls) it is simple enough for the
    processor to work on several members at once; it leaves NaN for the rest, which a second loop works
    out in full. ``extra`` is the utility mechanics outside this kernel add (engine.mechanics: one float64
    per customer, empty when none does), added last."""
    simple = c[C_HAS_CAT_MULT] == 0.0 and curve.size > 0
    for s in range(member_pos.size):
        t = member_pos[s]
        if not simple:
            add[t] = np.nan
            continue
        i = needers[t]
        g, tr = goal[i], tier[i]
        lo, p = curve_first[g], points[i]
        inside = (p >= 0) & (p < curve_first[g + 1] - lo)
        curved = curve[lo + p if inside else 0]  # read either way: curve is not empty here
        a = _member_utility(
            day, c, reward_seeking[i], outcome[i], belonging[i], experience[i], time_poor[i], mean_basket[i],
            p, stamps[i], reward_points[g], reward_perceived[g], max(curved, F32(0.0)), tier_mult[tr],
            tier_status_share[tr], F32(0.0), recent[i], vouchers[i], offer_until[i], acc_what[i], consent[i])
        add[t] = a if inside else np.nan
    for s in range(member_pos.size):
        t = member_pos[s]
        if add[t] == add[t]:
            continue
        i = needers[t]
        g, tr = goal[i], tier[i]
        cat_dot = _category_dot(categories, cat_mult, i) if c[C_HAS_CAT_MULT] != 0.0 else F32(0.0)
        curved = _curved(points[i], curve, curve_first[g], curve_first[g + 1])
        add[t] = _member_utility(
            day, c, reward_seeking[i], outcome[i], belonging[i], experience[i], time_poor[i], mean_basket[i],
            points[i], stamps[i], reward_points[g], reward_perceived[g], curved, tier_mult[tr],
            tier_status_share[tr], cat_dot, recent[i], vouchers[i], offer_until[i], acc_what[i], consent[i])
    if extra.size:
        for s in range(member_pos.size):
            t = member_pos[s]
            add[t] += extra[needers[t]]


SURPLUS_FAST_LIMIT = F32(30.0)
"""Utilities (and scheme terms) within this of zero take the single-precision path of the choice surplus:
e^30 is far inside float32's range, and a utility further out is a certainty either way."""


@njit(cache=True, error_model="numpy", inline="always")
def _softplus(x):
    """log(1 + exp(x)), float64, without overflow: the logit log-sum of one option against an outside one."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True, error_model="numpy", inline="always")
def _choice_surplus(c, base, full, outcome, mean_basket):
    """A member needer's gain in choice surplus from the scheme's terms today (behaviour.choice_surplus),
    in money: the logit log-sum with what the scheme adds to their utility of shopping here (``full``)
    less the log-sum without it (``base``, the same habit), over the member's utility per unit of money
    (price_weight x outcome, at least the floor, per unit of their usual basket). Shopping somewhere
    liked less to collect rewards costs the member this way, which a sum of rewards does not show."""
    # softplus(full) - softplus(base) = log(1 + p_base (e^(full - base) - 1)), p_base the chance of
    # shopping here without the scheme: three single-precision transcendentals (a welfare sum needs no
    # more than float32's seven digits per member; the per-segment sums are float64). Far out, where
    # float32's exponentials would overflow, the log-sums themselves in double precision.
    d = full - base
    if abs(d) <= SURPLUS_FAST_LIMIT and abs(base) <= SURPLUS_FAST_LIMIT:
        p_base = F32(1.0) / (F32(1.0) + F32(math.exp(-base)))
        gain = np.float64(F32(math.log1p(p_base * F32(math.expm1(d)))))
    else:
        gain = _softplus(np.float64(full)) - _softplus(np.float64(base))
    per_money = c[C_PRICE_WEIGHT] * np.float64(max(outcome, F32(c[C_WELFARE_OUTCOME_FLOOR]))) / np.float64(mean_basket)
    return gain / per_money


@njit(cache=True, error_model="numpy")
def _shop_range(lo, hi, k, scheme, day, c, need_bits, choice_bits, value_bits, category_bits, brand_bits,
                hour_bits, alive, habit, habit_alpha, needs,
         need_today, preference, outcome, reward_seeking, belonging, experience, time_poor,
         mean_basket, basket_mu, basket_sd, small_share, small_shift, categories, own_label, hours,
         member, goal, points, stamps, tier, recent, vouchers, offer_until, acc_what, consent,
         reward_points, reward_perceived, tier_mult, tier_status_share, cat_mult, curve, curve_first, extra,
         segment, surplus, drawn_idx, drawn_logvalue, drawn_split, drawn_own, drawn_band,
         out_idx, out_logvalue, out_split, out_own, out_band):
    """One arm's needs, store choices and baskets for customers ``lo:hi`` (behaviour.needs, choose_store,
    draw_baskets), in customer order. ``need_today`` is each customer's chance of a need today (before
    goal-gradient acceleration); the member arrays are read only if ``scheme``. A basket is a small shop
    with chance ``small_share[i]``, its log value shifted by ``small_shift[i]`` (behaviour.draw_baskets).

    ``drawn_*`` are baskets already drawn today for customers ``drawn_idx`` (ascending; may be empty). A
    basket depends only on the customer and the day's draws, which both arms share, so a customer found
    there gets a copy instead of a second draw of the same basket.

    Writes the shoppers into the ``out_*`` buffers from position k (the log of the basket value, to be
    exponentiated by numpy) and returns the next free position. Adds the members' choice surplus from the
    scheme into ``surplus`` by segment (:func:`_choice_surplus`) unless it is empty.
    """
    accelerate = scheme and c[C_GG_ACCELERATION] > 0
    bound = (1.0 + c[C_GG_ACCELERATION]) * (1.0 + 1e-5)  # with room for float32 rounding
    base_hw = F32(c[C_HABIT_WEIGHT])
    # Three stages over the block, each choosing the next one's customers without branching on a
    # random outcome (a branch that goes either way at random stalls the processor).
    # 2. Needs: first as flags, in a loop the compiler vectorises, then the flagged kept in order in a
    # loop of their own (keeping them as it goes would tie each customer to the previous one's count).
    needers = np.empty(hi - lo, np.intp)
    flags = np.empty(hi - lo, np.uint8)
    if not accelerate:
        for i in range(lo, hi):
            flags[i - lo] = alive[i] & (uniform(need_bits, i) < need_today[i])
    else:
        # Acceleration raises a member's need rate by at most (1 + acceleration) times (reward seeking
        # and pull are at most 1): only a draw below that bound needs the member's pull. The flags mark
        # those candidates with the needers, without a branch (membership is a coin flip across
        # customers, and a branch on it stalls); below, the candidates whose draw is under their own rate
        # are settled and the rest listed, their pull worked out in a loop of its own (a branch on the
        # draw would stall), and the needers kept in customer order.
        for i in range(lo, hi):
            p = need_today[i]
            u_need = uniform(need_bits, i)
            maybe = member[i] & (np.float64(u_need) < np.float64(p) * bound)
            flags[i - lo] = alive[i] & ((u_need < p) | maybe)
    n_need = 0
    for i in range(lo, hi):
        needers[n_need] = i
        n_need += flags[i - lo]
    if accelerate:
        n_candidates = n_need
        need_now = np.empty(n_candidates, np.bool_)
        pending = np.empty(n_candidates, np.intp)
        n_pending = 0
        for t in range(n_candidates):
            i = needers[t]
            need = uniform(need_bits, i) < need_today[i]
            need_now[t] = need
            pending[n_pending] = t
            n_pending += not need
        for s in range(n_pending):
            t = pending[s]
            i = needers[t]
            g = goal[i]
            curved = _curved(points[i], curve, curve_first[g], curve_first[g + 1])
            boost = 1.0 + np.float64(F32(c[C_GG_ACCELERATION]) * reward_seeking[i]) * _pull(
                c, points[i], stamps[i], reward_points[g], reward_perceived[g], mean_basket[i], curved)
            need_now[t] = uniform(need_bits, i) < F32(np.float64(need_today[i]) * boost)
        n_need = 0
        for t in range(n_candidates):
            needers[n_need] = needers[t]
            n_need += need_now[t]
    # 3. This retailer or the competition. What membership adds is worked out first, in loops of its
    # own over the member needers: more of it is in flight at once than inside the choice loop, which
    # would branch on membership (a coin flip across customers).
    add = np.zeros(n_need if scheme else 0, np.float64)
    if scheme:
        member_pos = np.empty(n_need, np.intp)
        n_members = 0
        for t in range(n_need):
            member_pos[n_members] = t
            n_members += member[needers[t]]
        _member_utilities(day, c, member_pos[:n_members], needers, reward_seeking, outcome, belonging,
                          experience, time_poor, mean_basket, categories, goal, points, stamps, tier, recent,
                          vouchers, offer_until, acc_what, consent, reward_points, reward_perceived, tier_mult,
                          tier_status_share, cat_mult, curve, curve_first, extra, add)
    # The choice surplus is worked out in the choice loop, from the utility it computes anyway (the
    # member's data are in cache there; the branch is taken for most needers, members).
    welfare = scheme and surplus.size > 0
    n_here = 0
    for t in range(n_need):
        i = needers[t]
        u = (preference[i] + base_hw * habit[i]
             - F32(c[C_PRICE_WEIGHT]) * outcome[i] * F32(c[C_PRICE_ADVANTAGE])
             - F32(c[C_REWARD_WEIGHT]) * reward_seeking[i] * F32(c[C_COMP_REWARD_RATE]))
        if scheme:
            full = F32(np.float64(u) + add[t])  # a non-member adds 0.0, which leaves u exactly as it was
            if welfare and member[i]:
                surplus[segment[i]] += _choice_surplus(c, u, full, outcome[i], mean_basket[i])
            u = full
        x = min(max(u, F32(-60.0)), F32(60.0))
        prob = F32(1.0) / (F32(1.0) + F32(math.exp(-x)))
        here = uniform(choice_bits, i) < prob
        needs[i] += 1
        habit[i] += habit_alpha[i] * (F32(here) - habit[i])
        needers[n_here] = i  # shoppers overwrite needers already read
        n_here += here
    # 4. The baskets.
    n_cat, n_band = categories.shape[1], hours.shape[1]
    p, n_drawn = 0, drawn_idx.size
    for t in range(n_here):
        i = needers[t]
        while p < n_drawn and drawn_idx[p] < i:
            p += 1
        if p < n_drawn and drawn_idx[p] == i:
            out_idx[k] = i
            out_logvalue[k] = drawn_logvalue[p]
            for j in range(n_cat):
                out_split[k, j] = drawn_split[p, j]
            out_own[k] = drawn_own[p]
            out_band[k] = drawn_band[p]
            k += 1
            continue
        # A small shop or the usual one, from the same uniform: below the share w a small shop, and the
        # uniform rescaled within its part, u / w or (u - w) / (1 - w), for the normal draw. Written as
        # arithmetic on a 0/1 flag, not as selects, which the compiler turned into branches (the
        # component is a coin flip to the branch predictor). Each product is by exactly 0 or 1, so the
        # numbers are the selects': u - 0, w + 0, 0 + (1 - w); and the shift (0 or less) is subtracted
        # as -|d| times the flag, +0 for a usual shop, which leaves any value exactly as it was. So with
        # w = 0 the uniform is divided by exactly 1 and the draw is the lognormal's, to the bit.
        uv = min(max(uniform(value_bits, i), U_LO), U_HI)
        w = small_share[i]
        small = F32(uv < w)
        usual = F32(1.0) - small
        u = min(max((uv - w * usual) / (w * small + (F32(1.0) - w) * usual), U_LO), U_HI)
        z = F32(_ndtri(np.float64(u)))
        out_idx[k] = i
        out_logvalue[k] = basket_mu[i] + basket_sd[i] * z - abs(small_shift[i]) * small
        # Category and hour band by inverse CDF of the customer's shares (as behaviour._inverse_cdf),
        # written out here: a helper taking the arrays would cost a reference count per call.
        total = F32(0.0)
        for j in range(n_cat):
            total += categories[i, j]
        x = uniform(category_bits, i) * total
        cum = F32(0.0)
        cat = 0
        for j in range(n_cat):
            cum += categories[i, j]
            cat += x >= cum  # no branch: the outcome is a coin flip to the branch predictor
            out_split[k, j] = F32(0.5) * categories[i, j]
        out_split[k, min(cat, n_cat - 1)] += F32(0.5)
        pref = own_label[i]
        out_own[k] = F32(np.float64(F32(0.5) * pref) + (0.5 if uniform(brand_bits, i) < pref else 0.0))
        total = F32(0.0)
        for j in range(n_band):
            total += hours[i, j]
        x = uniform(hour_bits, i) * total
        cum = F32(0.0)
        band = 0
        for j in range(n_band):
            cum += hours[i, j]
            band += x >= cum
        out_band[k] = min(band, n_band - 1)
        k += 1
    return k


@njit(cache=True, error_model="numpy")
def shop(day, c, need_bits, choice_bits, value_bits, category_bits, brand_bits, hour_bits,
         alive, habit, habit_alpha, needs,
         need_today, preference, outcome, reward_seeking, belonging, experience, time_poor,
         mean_basket, basket_mu, basket_sd, small_share, small_shift, categories, own_label, hours,
         member, goal, points, stamps, tier, recent, vouchers, offer_until, acc_what, consent,
         reward_points, reward_perceived, tier_mult, tier_status_share, cat_mult, curve, curve_first, extra,
         segment, surplus, drawn_idx, drawn_logvalue, drawn_split, drawn_own, drawn_band,
         out_idx, out_logvalue, out_split, out_own, out_band):
    """One arm's needs, store choices and baskets for every customer (see :func:`_shop_range`);
    ``member`` is empty for the arm without a scheme. Returns the number of shoppers. Its numpy statement
    is behaviour.shop_numpy."""
    return _shop_range(0, alive.size, 0, member.size > 0, day, c, need_bits, choice_bits, value_bits,
                       category_bits, brand_bits, hour_bits, alive, habit, habit_alpha, needs,
                       need_today, preference, outcome, reward_seeking, belonging, experience, time_poor,
                       mean_basket, basket_mu, basket_sd, small_share, small_shift, categories, own_label, hours,
                       member, goal, points, stamps, tier, recent, vouchers, offer_until,
                       acc_what, consent, reward_points, reward_perceived, tier_mult, tier_status_share,
                       cat_mult, curve, curve_first, extra, segment, surplus, drawn_idx, drawn_logvalue, drawn_split,
                       drawn_own, drawn_band,
                       out_idx, out_logvalue, out_split, out_own, out_band)


@njit(cache=True, error_model="numpy")
def same_day_baskets(idx, value_bits, segment, share, more, out):
    """Baskets in each trip of customers ``idx`` (behaviour.baskets_per_trip): one, a second with the
    segment's chance ``share`` and each further one with chance ``more``, drawn from the low byte of the
    customer's basket-value draw on a grid of 1/256. Further baskets are counted against powers of
    ``more`` formed by repeated multiplication, as the numpy statement forms them."""
    for t in range(idx.size):
        i = idx[t]
        s = segment[i]
        u = (np.float64(value_bits[i] & np.uint32(0xFF)) + 0.5) / 256.0
        b = 1
        if u < share[s]:
            b = 2
            ratio = u / share[s]
            m = more[s]
            p = m
            while ratio < p:
                b += 1
                p *= m
        out[t] = b


def same_day_baskets_numpy(idx, value_bits, segment, share, more, out):
    """:func:`same_day_baskets` in numpy."""
    s = segment[idx]
    u = ((value_bits[idx] & np.uint32(0xFF)).astype(np.float64) + 0.5) / 256.0
    b = np.ones(idx.size, np.int64)
    top_up = u < share[s]
    b[top_up] = 2
    ratio = np.where(top_up, u / np.where(top_up, share[s], 1.0), 2.0)
    m = more[s]
    p = m.copy()
    going = top_up & (ratio < p)
    while going.any():
        b += going
        p *= m
        going &= ratio < p
    out[:] = b


@njit(cache=True, error_model="numpy")
def settle_trips(day, idx, value, split, discount, segment, margin, visits, spend, last_visit, spend_week, sums):
    """Book trips at the till (the start of an arm's settle step, engine.arms): per-customer totals (and
    the week's spend, unless ``spend_week`` is empty), and per-segment sums of visits, sales, revenue, gross margin
    and margin by category into ``sums`` (rows in that order, then one per category), each summed in
    trip order as ``np.bincount`` would."""
    k = split.shape[1]
    weekly = spend_week.size > 0
    for t in range(idx.size):
        i = idx[t]
        s = segment[i]
        paid = np.float64(value[t]) - discount[t]
        visits[i] += 1
        spend[i] += paid
        last_visit[i] = day
        if weekly:
            spend_week[i] = F32(np.float64(spend_week[i]) + paid)
        sums[0, s] += 1.0
        sums[1, s] += np.float64(value[t])
        sums[2, s] += paid
        total = F32(0.0)
        for j in range(k):
            m = value[t] * split[t, j] * margin[j]
            total += m
            sums[4 + j, s] += np.float64(m)
        sums[3, s] += np.float64(total)


def settle_trips_numpy(day, idx, value, split, discount, segment, margin, visits, spend, last_visit, spend_week, sums):
    """:func:`settle_trips` in numpy, for trips of different customers (one trip each a day). Per-segment
    sums add in trip order (``np.add.at``); a basket's margin adds its categories in order, in float32."""
    paid = value.astype(np.float64) - discount
    visits[idx] += 1
    spend[idx] += paid
    last_visit[idx] = day
    if spend_week.size:
        spend_week[idx] = (spend_week[idx].astype(np.float64) + paid).astype(F32)
    s = segment[idx]
    margin_by_category = value[:, None] * split * margin
    total = np.zeros(idx.size, F32)
    for j in range(split.shape[1]):
        total += margin_by_category[:, j]
    for row, amount in enumerate((np.ones(idx.size), value.astype(np.float64), paid, total.astype(np.float64),
                                  *margin_by_category.T.astype(np.float64))):
        np.add.at(sums[row], s, amount)


@njit(cache=True, error_model="numpy")
def defect(day, weight, defect_bits, alive, defect_rate, defect_day, member, recent, out_gone):
    """Customers who leave the retailer for good today; members the scheme served well less often.

    Returns how many were written to ``out_gone``; marks them not alive.
    """
    scheme = member.size > 0
    # Recent value is between -1 and 1, so a member's chance is within exp(+-weight) of the base rate: only
    # a draw below that bound can mean leaving, and the exact chance is worked out for those few alone (a
    # branch on membership, a coin flip across customers, would stall the processor on every customer).
    bound = math.exp(weight) * (1.0 + 1e-5)
    # First flag those draws, in a loop the compiler vectorises, and list them (:func:`_append_flagged`);
    # then keep, in place, those who leave.
    maybe = _flags(alive.size)
    for i in range(alive.size):
        maybe[i] = (np.float64(uniform(defect_bits, i)) < np.float64(defect_rate[i]) * bound) & alive[i]
    k = 0
    for t in range(_append_flagged(maybe, out_gone, 0)):
        i = out_gone[t]
        p = defect_rate[i]
        if scheme and member[i]:
            p = p * F32(math.exp(-F32(weight) * recent[i]))
        if uniform(defect_bits, i) < p:
            alive[i] = False
            defect_day[i] = day
            out_gone[k] = i
            k += 1
    return k


def defect_numpy(day, weight, defect_bits, alive, defect_rate, defect_day, member, recent, out_gone):
    """:func:`defect` in numpy: the alive whose uniform is below their rate leave, a member's rate scaled by
    exp(-weight * recent value)."""
    chance = defect_rate.copy()
    if member.size:
        chance[member] = defect_rate[member] * np.exp(-F32(weight) * recent[member])
    gone = np.flatnonzero(alive & (to_uniform(defect_bits) < chance))
    alive[gone] = False
    defect_day[gone] = day
    out_gone[:gone.size] = gone
    return gone.size


@njit(cache=True, error_model="numpy")
def join_draws(member, alive, shoppers, p_till, p_ref, join_bits, out):
    """Non-members who join today (enrolment.join): shopper ``shoppers[t]`` (ascending) with chance
    ``max(p_till[t], p_ref)`` (``p_till`` is ignored for members), anyone else alive at ``p_ref`` (referrals).

    Returns how many were written to ``out``, in customer order.
    """
    # Shoppers first: one pass over all customers asking "is this one the next shopper?" would branch
    # at random on every customer.
    till = np.empty(shoppers.size, np.intp)
    n_till = 0
    for t in range(shoppers.size):
        i = shoppers[t]
        till[n_till] = i
        n_till += alive[i] & ~member[i] & (np.float64(uniform(join_bits, i)) < max(p_till[t], p_ref))
    if p_ref <= 0.0:
        out[:n_till] = till[:n_till]
        return n_till
    # Then everyone at the referral chance, as flags the compiler can vectorise, with the shoppers who
    # joined set (their chance was at least p_ref); then the flags in customer order. The chance is a
    # threshold on a uniform's 24 bits: u = m / 2**24 < p_ref exactly when m < ceil(p_ref * 2**24)
    # (scaling by a power of two is exact).
    n = alive.size
    limit = np.uint32(min(math.ceil(p_ref * 16777216.0), 16777216.0))
    joins = _flags(n)
    for i in range(n):
        joins[i] = alive[i] & ~member[i] & ((join_bits[i] >> np.uint32(8)) < limit)
    for t in range(n_till):
        joins[till[t]] = 1
    return _append_flagged(joins, out, 0)


def join_draws_numpy(member, alive, shoppers, p_till, p_ref, join_bits, out):
    """:func:`join_draws` in numpy: the alive non-members whose uniform is below their chance, a shopper's
    the larger of their till chance and the referral chance."""
    chance = np.full(alive.size, p_ref)
    chance[shoppers] = np.maximum(p_till, p_ref)
    joins = np.flatnonzero(alive & ~member & (to_uniform(join_bits).astype(np.float64) < chance))
    out[:joins.size] = joins
    return joins.size


@njit(cache=True, error_model="numpy")
def redeemable(member, points, goal, reward_points, out):
    """Members whose balance reaches their goal's points (candidates for automatic redemption)."""
    k = 0
    for i in range(member.size):
        m = member[i]
        out[k] = i
        k += m & (points[i] >= reward_points[goal[i] * m])  # a non-member's goal may be stale
    return k


def redeemable_numpy(member, points, goal, reward_points, out):
    """:func:`redeemable` in numpy."""
    idx = np.flatnonzero(member & (points >= reward_points[np.where(member, goal, 0)]))
    out[:idx.size] = idx
    return idx.size


@njit(cache=True, error_model="numpy")
def stock_counts(day, lapse_days, bounds, alive, last_visit, member, consent, transactions_bit, points, sums):
    """Per-segment end-of-day stocks (LoyaltyModel._record) into ``sums``: customers, active customers,
    and for a scheme arm members, consenting members and points outstanding. Segment s is the block of
    customers ``bounds[s]:bounds[s + 1]``. Counts are exact."""
    scheme = member.size > 0
    for s in range(bounds.size - 1):
        lo, hi = bounds[s], bounds[s + 1]
        n_alive = n_active = n_members = n_consenting = n_points = 0
        # Branch-free sums over each segment's slices, which the compiler turns into vector instructions
        # (indexing from lo would make it check every index for a negative wrap-around).
        al, last = alive[lo:hi], last_visit[lo:hi]
        for i in range(al.size):
            a = al[i]
            n_alive += np.int64(a)
            n_active += np.int64(a & (day - last[i] < lapse_days))
        if scheme:
            mem, con, pts = member[lo:hi], consent[lo:hi], points[lo:hi]
            for i in range(mem.size):
                m = mem[i]
                n_members += np.int64(m)
                n_consenting += np.int64(m & ((con[i] & transactions_bit) != 0))
                n_points += np.int64(pts[i])
        sums[0, s], sums[1, s], sums[2, s] = n_alive, n_active, n_members
        sums[3, s], sums[4, s] = n_consenting, n_points


def stock_counts_numpy(day, lapse_days, bounds, alive, last_visit, member, consent, transactions_bit, points, sums):
    """:func:`stock_counts` in numpy (no members' stocks without ``member``: zeros)."""
    active = alive & (day - last_visit.astype(np.int64) < lapse_days)
    for s in range(bounds.size - 1):
        block = slice(bounds[s], bounds[s + 1])
        sums[0, s], sums[1, s] = np.count_nonzero(alive[block]), np.count_nonzero(active[block])
        sums[2:5, s] = 0
        if member.size:
            m = member[block]
            sums[2, s] = np.count_nonzero(m)
            sums[3, s] = np.count_nonzero(m & ((consent[block] & transactions_bit) != 0))
            sums[4, s] = points[block].sum(dtype=np.int64)


@njit(cache=True, error_model="numpy")
def insight_sums(alive, known, known_err, base_err, segment, e, b, base_sum):
    """Per-segment sums of estimate errors (``e``) and prior errors (``b``) over customers still shopping
    (insight.snapshot): a known customer's error is the next column of ``known_err``, an unknown one's
    the prior's. Summed in customer order, as ``np.bincount``. ``base_sum`` gets each dimension's float32
    running sum of prior errors over the same customers, which is how numpy sums the columns of the
    gathered ``base_err[:, alive]`` (so its mean comes out the same). Returns the number alive."""
    count = 0
    for i in range(alive.size):
        count += alive[i]
    any_known = known_err.shape[1] > 0
    last_known = max(known_err.shape[1] - 1, 0)
    # One dimension at a time, the three sums in registers while the segment stays the same (as
    # :func:`_segment_run`, with one switch for both per-segment sums), and no branch on who is alive or
    # known (a coin flip to the branch predictor): adding a customer who is not alive adds an exact 0
    # (errors are finite), so every sum gets the same additions in the same order.
    for d in range(base_err.shape[0]):
        base_d, known_d, b_d, e_d = base_err[d], known_err[d], b[d], e[d]
        k = 0
        seg, sum_b, sum_e = 0, b_d[0], e_d[0]
        sum_base = base_sum[d]
        for i in range(alive.size):
            s = segment[i]
            if s != seg:
                b_d[seg], e_d[seg] = sum_b, sum_e
                seg, sum_b, sum_e = s, b_d[s], e_d[s]
            known_i = known[i]
            base = F32(alive[i]) * base_d[i]
            sum_base += base
            sum_b += np.float64(base)
            # A known error is stored as float32 first, as in the float32 error table it replaces.
            known_err_i = F32(known_d[min(k, last_known)]) if any_known else F32(0.0)
            sum_e += np.float64(known_err_i if known_i else base)
            k += known_i
        b_d[seg], e_d[seg] = sum_b, sum_e
        base_sum[d] = sum_base
    return count


def insight_sums_numpy(alive, known, known_err, base_err, segment, e, b, base_sum):
    """:func:`insight_sums` in numpy, for known customers who are alive (as insight.snapshot's) and
    ``base_sum`` starting at zero."""
    err = base_err.copy()
    err[:, known] = known_err
    s = segment[alive]
    for d in range(base_err.shape[0]):
        np.add.at(b[d], s, base_err[d, alive].astype(np.float64))
        np.add.at(e[d], s, err[d, alive].astype(np.float64))
    base_sum += base_err[:, alive].sum(axis=1)
    return np.count_nonzero(alive)


@njit(cache=True, error_model="numpy")
def recent_life_events(day, window, alive, last_event_day, detected_day):
    """Living customers whose latest life event is at most ``window`` days old, in customer order
    (insight._life_change_scores), with the days the business took to detect it (0 if at once) and
    whether it has. Counted first, so that the arrays are no longer than needed."""
    n = 0
    for i in range(alive.size):
        ev = last_event_day[i]
        n += alive[i] and ev >= 0 and day - ev <= window
    idx, delay, found = np.empty(n, np.intp), np.empty(n, np.int32), np.empty(n, np.bool_)
    k = 0
    for i in range(alive.size):
        ev = last_event_day[i]
        if alive[i] and ev >= 0 and day - ev <= window:
            idx[k], delay[k], found[k] = i, max(detected_day[i] - ev, 0), detected_day[i] >= ev
            k += 1
    return idx, delay, found


def recent_life_events_numpy(day, window, alive, last_event_day, detected_day):
    """:func:`recent_life_events` in numpy."""
    idx = np.flatnonzero(alive & (last_event_day >= 0) & (day - last_event_day <= window))
    event, detected = last_event_day[idx], detected_day[idx]
    return idx, np.maximum(detected - event, 0), detected >= event


@njit(cache=True, error_model="numpy")
def member_accuracy(idx, err, base_err, half_mean, acc_what, acc_mean):
    """Each known member's accuracy per dimension (insight.snapshot): 1 - error / the error of knowing only
    the average, that error floored at half its mean over customers (``half_mean``), clipped to 0-1;
    ``acc_what`` gets the category mix's, ``acc_mean`` the mean over dimensions (float32, summed in
    dimension order, as numpy's mean over the first axis)."""
    D = err.shape[0]
    for t in range(idx.size):
        i = idx[t]
        total = F32(0.0)
        for d in range(D):
            floor = max(base_err[d, i], half_mean[d])
            a = F32(1.0) - err[d, t] / max(floor, F32(1e-9))
            a = min(max(a, F32(0.0)), F32(1.0))
            if d == 0:
                acc_what[i] = a
            total += a
        acc_mean[i] = total / F32(D)


def member_accuracy_numpy(idx, err, base_err, half_mean, acc_what, acc_mean):
    """:func:`member_accuracy` in numpy."""
    floor = np.maximum(base_err[:, idx], half_mean[:, None])
    accuracy = np.clip(F32(1.0) - err / np.maximum(floor, F32(1e-9)), F32(0.0), F32(1.0))
    acc_what[idx] = accuracy[0]
    acc_mean[idx] = accuracy.mean(axis=0)


@njit(cache=True, error_model="numpy")
def present_card(c, idx, card_bits, base, member_pricing, member, consent, time_poor, experience, mean_basket,
                 linked):
    """Whether each shopper ``idx[t]`` presents a card (behaviour.present_card) into ``linked``.

    Friction makes the time-poor skip the card; a digital card (app) and member prices remove reasons to.
    """
    relief = c[C_APP_RELIEF]
    for t in range(idx.size):
        i = idx[t]
        if not member[i]:
            linked[t] = False
            continue
        share = friction_share(c, consent[i], time_poor[i], experience[i], mean_basket[i])
        p = base * (1.0 - 0.5 * min(share * c[C_CARD_SKIP_SCALE], 1.0) * (1.0 if time_poor[i] else 0.0))
        if consent[i] & np.uint8(c[C_APP_BIT]):
            p = p + (1 - p) * relief
        if member_pricing:
            p = 1.0 - (1.0 - p) * c[C_MP_SKIP_KEPT]
        linked[t] = np.float64(uniform(card_bits, i)) < p


def present_card_numpy(c, idx, card_bits, base, member_pricing, member, consent, time_poor, experience, mean_basket,
                       linked):
    """:func:`present_card` in numpy."""
    share = friction_share_numpy(c, consent[idx], time_poor[idx], experience[idx], mean_basket[idx])
    p = base * (1.0 - 0.5 * np.minimum(share * c[C_CARD_SKIP_SCALE], 1.0) * np.where(time_poor[idx], 1.0, 0.0))
    app = (consent[idx] & np.uint8(c[C_APP_BIT])) != 0
    p = np.where(app, p + (1 - p) * c[C_APP_RELIEF], p)
    if member_pricing:
        p = 1.0 - (1.0 - p) * c[C_MP_SKIP_KEPT]
    linked[:] = member[idx] & (to_uniform(card_bits[idx]).astype(np.float64) < p)


@njit(cache=True, error_model="numpy")
def redeem_offers(day, idx, value, off, offer_bits, offer_until, acc_what, offer_cat, categories, segment,
                  base, slope, discount, no_day, net_value, saving_sums, used_sums):
    """Members ``idx`` presenting their card use a live personalised offer (mechanics.offers.redeem):
    with chance ``base + slope * accuracy``, for ``discount`` of the offer category's share of the basket
    ``value``, never more than what ``off`` has left of it: member prices and a deep offer on a big
    category could overlap (float32 arithmetic, as numpy does with these float32 arrays, then the float64
    ``off``). Adds the saving to ``off`` and ``net_value``, retires the offer, and adds the savings and
    the offers used to per-segment sums in the order of ``idx``, as :func:`segment_sums` would."""
    seg, total = 0, saving_sums[0]
    seg_n, count = 0, used_sums[0]
    for t in range(idx.size):
        i = idx[t]
        if offer_until[i] >= day and uniform(offer_bits, i) < F32(base) + F32(slope) * acc_what[i]:
            saving = min(np.float64(F32(discount) * value[t] * categories[i, offer_cat[i]]), value[t] - off[t])
            offer_until[i] = no_day
            seg, total = _segment_run(saving_sums, seg, total, segment[i])
            total += saving
            seg_n, count = _segment_run(used_sums, seg_n, count, segment[i])
            count += 1.0
            net_value[i] = F32(np.float64(net_value[i]) + saving)
            off[t] += saving
    saving_sums[seg] = total
    used_sums[seg_n] = count


def redeem_offers_numpy(day, idx, value, off, offer_bits, offer_until, acc_what, offer_cat, categories, segment,
                        base, slope, discount, no_day, net_value, saving_sums, used_sums):
    """:func:`redeem_offers` in numpy, for different members (one card trip each a day)."""
    live = offer_until[idx] >= day
    t = np.flatnonzero(live & (to_uniform(offer_bits[idx]) < F32(base) + F32(slope) * acc_what[idx]))
    used = idx[t]
    share = categories[used, offer_cat[used]]
    saving = np.minimum((F32(discount) * value[t] * share).astype(np.float64), value[t] - off[t])
    offer_until[used] = no_day
    np.add.at(saving_sums, segment[used], saving)
    np.add.at(used_sums, segment[used], 1.0)
    net_value[used] = (net_value[used].astype(np.float64) + saving).astype(F32)
    off[t] += saving


@njit(cache=True, error_model="numpy")
def card_effort(c, idx, consent, time_poor, experience, mean_basket, segment, net_value, sums):
    """Effort of presenting the card on linked trips ``idx`` (enrolment.card_effort): per-segment sums
    into ``sums``, and off each member's perceived net value."""
    seg, total = 0, sums[0]
    for t in range(idx.size):
        i = idx[t]
        effort = friction_share(c, consent[i], time_poor[i], experience[i], mean_basket[i]) * np.float64(mean_basket[i])
        seg, total = _segment_run(sums, seg, total, segment[i])
        total += effort
        net_value[i] = F32(np.float64(net_value[i]) - effort)
    sums[seg] = total


def card_effort_numpy(c, idx, consent, time_poor, experience, mean_basket, segment, net_value, sums):
    """:func:`card_effort` in numpy, for different members (one card trip each a day)."""
    basket = mean_basket[idx].astype(np.float64)
    effort = friction_share_numpy(c, consent[idx], time_poor[idx], experience[idx], mean_basket[idx]) * basket
    np.add.at(sums, segment[idx], effort)
    net_value[idx] = (net_value[idx].astype(np.float64) - effort).astype(F32)


@njit(cache=True, error_model="numpy")
def learn_trips(day, weekday, detection_trips, transactions_bit, app_bit, demographics_bit, idx, value, split,
                own, band, log_value, consent, obs_trips, obs_last, obs_cat, obs_dow, obs_hour, obs_own, obs_logb,
                last_event_day, detected_day, event_seen, family_told, household, out_found):
    """Record linked trips of consenting members (insight.learn); returns how many life events were
    detected today, written to ``out_found`` in trip order."""
    k = 0
    for t in range(idx.size):
        i = idx[t]
        if not consent[i] & transactions_bit:
            continue
        app = (consent[i] & app_bit) != 0
        w = np.uint16(2) if app else np.uint16(1)
        obs_trips[i] += F32(1.0)
        obs_last[i] = day
        for j in range(split.shape[1]):
            obs_cat[i, j] += value[t] * split[t, j]
        obs_dow[i, weekday] += w
        obs_hour[i, band[t]] += w
        obs_own[i] += own[t] * value[t]
        obs_logb[i] += log_value[t]
        # Life changes: detected after enough linked trips since the event; app and demographics speed it up.
        if last_event_day[i] >= 0 and detected_day[i] < last_event_day[i]:
            event_seen[i] += 1
            need = detection_trips
            if app:
                need = need / 2
            demo = (consent[i] & demographics_bit) != 0
            if demo:
                need = need / 3
            if event_seen[i] >= max(need, 1.0):
                detected_day[i] = day
                event_seen[i] = 0
                if demo:
                    family_told[i] = household[i]
                out_found[k] = i
                k += 1
    return k


def learn_trips_numpy(day, weekday, detection_trips, transactions_bit, app_bit, demographics_bit, idx, value, split,
                      own, band, log_value, consent, obs_trips, obs_last, obs_cat, obs_dow, obs_hour, obs_own,
                      obs_logb, last_event_day, detected_day, event_seen, family_told, household, out_found):
    """:func:`learn_trips` in numpy, for trips of different customers (one trip each a day)."""
    t = np.flatnonzero((consent[idx] & transactions_bit) != 0)
    i = idx[t]
    app, demo = (consent[i] & app_bit) != 0, (consent[i] & demographics_bit) != 0
    weight = np.where(app, 2, 1).astype(np.uint16)
    obs_trips[i] += F32(1.0)
    obs_last[i] = day
    obs_cat[i] += value[t, None] * split[t]
    obs_dow[i, weekday] += weight
    obs_hour[i, band[t]] += weight
    obs_own[i] += own[t] * value[t]
    obs_logb[i] += log_value[t]
    waiting = (last_event_day[i] >= 0) & (detected_day[i] < last_event_day[i])
    seen = i[waiting]
    event_seen[seen] += 1
    need = np.full(seen.size, detection_trips, np.float64)
    need = np.where(app[waiting], need / 2, need)
    need = np.where(demo[waiting], need / 3, need)
    found = event_seen[seen] >= np.maximum(need, 1.0)
    detected = seen[found]
    detected_day[detected] = day
    event_seen[detected] = 0
    told = detected[demo[waiting][found]]
    family_told[told] = household[told]
    out_found[:detected.size] = detected
    return detected.size


@njit(cache=True, error_model="numpy")
def operating_costs(members, segment, per_member_day, sums, counts):
    """Members by segment (``counts``) and their daily operating cost (``sums``), in member order."""
    seg, total = 0, sums[0]
    seg_n, count = 0, counts[0]
    for t in range(members.size):
        s = segment[members[t]]
        seg, total = _segment_run(sums, seg, total, s)
        seg_n, count = _segment_run(counts, seg_n, count, s)
        total += per_member_day
        count += 1
    sums[seg] = total
    counts[seg_n] = count


def operating_costs_numpy(members, segment, per_member_day, sums, counts):
    """:func:`operating_costs` in numpy."""
    np.add.at(sums, segment[members], per_member_day)
    np.add.at(counts, segment[members], 1)


@njit(cache=True, error_model="numpy")
def privacy_costs(members, segment, consent, privacy, privacy_by_mask, net_value, sums):
    """Members' daily privacy cost by segment (``sums``, in member order), also taken off each member's
    perceived net value (enrolment.daily_member_flows)."""
    seg, total = 0, sums[0]
    for t in range(members.size):
        i = members[t]
        cost = np.float64(privacy[i]) * privacy_by_mask[consent[i]]
        seg, total = _segment_run(sums, seg, total, segment[i])
        total += cost
        net_value[i] = F32(np.float64(net_value[i]) - cost)
    sums[seg] = total


def privacy_costs_numpy(members, segment, consent, privacy, privacy_by_mask, net_value, sums):
    """:func:`privacy_costs` in numpy."""
    cost = privacy[members].astype(np.float64) * privacy_by_mask[consent[members]]
    np.add.at(sums, segment[members], cost)
    net_value[members] = (net_value[members].astype(np.float64) - cost).astype(F32)


@njit(cache=True, error_model="numpy")
def member_decisions(members, satisfaction, consent, transactions_bit, privacy, belonging, leave_bits, consent_bits,
                     refer_bits, leave_daily, withdraw_daily, refer_daily, out_leave, out_withdraw):
    """Each member's end-of-day decisions, in one pass (enrolment.leave_withdraw_and_refer): leave the
    scheme (less often the satisfied); else, if consenting, withdraw consent (privacy-concerned,
    dissatisfied members more often); and, still a member, refer others (satisfied, belonging-motivated
    members more). Writes leavers and withdrawers to the ``out_*`` buffers; returns their counts and the
    number of referrals."""
    n_leave = n_withdraw = n_refer = 0
    for t in range(members.size):
        i = members[t]
        sat = satisfaction[i]
        if uniform(leave_bits, i) < F32(leave_daily) * (F32(1.0) - sat):
            out_leave[n_leave] = i
            n_leave += 1
            continue
        withdraw = uniform(consent_bits, i) < F32(withdraw_daily) * privacy[i] * (F32(1.0) - sat)
        if consent[i] & transactions_bit and withdraw:
            out_withdraw[n_withdraw] = i
            n_withdraw += 1
        n_refer += uniform(refer_bits, i) < F32(refer_daily) * sat * belonging[i]
    return n_leave, n_withdraw, n_refer


def member_decisions_numpy(members, satisfaction, consent, transactions_bit, privacy, belonging, leave_bits,
                           consent_bits, refer_bits, leave_daily, withdraw_daily, refer_daily, out_leave,
                           out_withdraw):
    """:func:`member_decisions` in numpy."""
    sat = satisfaction[members]
    leave = to_uniform(leave_bits[members]) < F32(leave_daily) * (F32(1.0) - sat)
    consenting = (consent[members] & transactions_bit) != 0
    withdraw = ~leave & consenting & (
        to_uniform(consent_bits[members]) < F32(withdraw_daily) * privacy[members] * (F32(1.0) - sat))
    refer = ~leave & (to_uniform(refer_bits[members]) < F32(refer_daily) * sat * belonging[members])
    leavers, withdrawers = members[leave], members[withdraw]
    out_leave[:leavers.size] = leavers
    out_withdraw[:withdrawers.size] = withdrawers
    return leavers.size, withdrawers.size, np.count_nonzero(refer)


@njit(cache=True, error_model="numpy")
def data_revenue(members, segment, consent, third_party_bit, third_party_multiplier, per_member_day, acc_mean,
                 sums):
    """A day's supplier data revenue by segment from profiled members (insight.value), in member order."""
    seg, total = 0, sums[0]
    for t in range(members.size):
        i = members[t]
        mult = third_party_multiplier if consent[i] & third_party_bit else 1.0
        seg, total = _segment_run(sums, seg, total, segment[i])
        total += np.float64(F32(per_member_day) * acc_mean[i]) * mult
    sums[seg] = total


def data_revenue_numpy(members, segment, consent, third_party_bit, third_party_multiplier, per_member_day, acc_mean,
                       sums):
    """:func:`data_revenue` in numpy."""
    mult = np.where((consent[members] & third_party_bit) != 0, third_party_multiplier, 1.0)
    np.add.at(sums, segment[members], (F32(per_member_day) * acc_mean[members]).astype(np.float64) * mult)


@njit(cache=True, error_model="numpy")
def estimate_errors(idx, fresh, k, k_own, k_log, prior_mix, prior_weekday, prior_hours, indulgence,
                    obs_trips, obs_cat, obs_dow, obs_hour, obs_own, obs_logb,
                    categories, weekday, hours, own_label, basket_mu, segment, segment_base_mu,
                    segment_elasticity, err, log_size):
    """The business's estimate errors for known customers ``idx`` (insight.errors), as float32 rows 0-5
    of ``err``: category mix, weekdays, hours, own label, log basket, indulgence. Each estimate is the
    observations shrunk toward the prior by ``k`` pseudo-trips (``k_own``, ``k_log``: k times the
    scalar priors), weighted by freshness. ``log_size`` gets the exponent of the household size
    inferred from the basket (numpy exponentiates it; row 6 comes from :func:`family_errors`). Its numpy
    statement, with :func:`family_errors`, is insight.errors."""
    kf = F32(k)
    for t in range(idx.size):
        i = idx[t]
        n = obs_trips[i] * fresh[t]
        spend = F32(0.0)
        for j in range(obs_cat.shape[1]):
            spend += obs_cat[i, j]
        tv = F32(0.0)
        for j in range(obs_cat.shape[1]):
            obs = obs_cat[i, j] / spend if spend > 0 else F32(0.0)
            mix = (kf * prior_mix[j] + n * obs) / (kf + n)
            tv += abs(mix - categories[i, j])
            if j == indulgence:
                err[5, t] = abs(mix - categories[i, j])
        err[0, t] = F32(0.5) * tv
        for row, counts, prior, truth, scale in ((1, obs_dow, prior_weekday, weekday, F32(7.0)),
                                                 (2, obs_hour, prior_hours, hours, F32(1.0))):
            total = F32(0.0)
            for j in range(counts.shape[1]):
                total += F32(counts[i, j])
            w = total * fresh[t]
            tv = F32(0.0)
            for j in range(counts.shape[1]):
                obs = F32(counts[i, j]) / total if total > 0 else F32(0.0)
                est = (kf * prior[j] + w * obs) / (kf + w)
                tv += abs(est - (truth[i, j] / scale if row == 1 else truth[i, j]))
            err[row, t] = F32(0.5) * tv
        obs = obs_own[i] / spend if spend > 0 else F32(0.0)
        err[3, t] = abs((F32(k_own) + n * obs) / (kf + n) - own_label[i])
        trips = obs_trips[i]
        obs = obs_logb[i] / trips if trips > 0 else F32(0.0)
        logb = (F32(k_log) + n * obs) / (kf + n)
        err[4, t] = abs(logb - basket_mu[i])
        s = segment[i]
        log_size[t] = (logb - segment_base_mu[s]) / max(segment_elasticity[s], F32(0.05))


@njit(cache=True, error_model="numpy")
def top_categories(idx, n, k, prior_mix, obs_cat, out):
    """The category each customer ``idx`` is believed to buy most (argmax of insight.Estimator.mix): their
    observed category shares shrunk toward ``prior_mix`` by ``k`` pseudo-trips against their ``n``
    freshness-weighted trips, in float32 as numpy computes it; the first category on a tie. Its numpy
    statement is the largest share of insight.Estimator.mix (see engine.twins)."""
    kf = F32(k)
    for t in range(idx.size):
        i = idx[t]
        spend = F32(0.0)
        for j in range(obs_cat.shape[1]):
            spend += obs_cat[i, j]
        best, top = -np.inf, 0
        for j in range(obs_cat.shape[1]):
            obs = obs_cat[i, j] / spend if spend > 0 else F32(0.0)
            mix = (kf * prior_mix[j] + n[t] * obs) / (kf + n[t])
            if mix > best:
                best, top = mix, j
        out[t] = top


@njit(cache=True, error_model="numpy")
def family_errors(idx, fresh, k, k_family, obs_trips, inferred, family_told, household, err):
    """Row 6 of :func:`estimate_errors`: household size as told at sign-up, else inferred from baskets
    and shrunk toward the prior (its numpy statement: insight.errors)."""
    kf = F32(k)
    for t in range(idx.size):
        i = idx[t]
        n = obs_trips[i] * fresh[t]
        told = family_told[i]
        family = F32(told) if told > 0 else (F32(k_family) + n * inferred[t]) / (kf + n)
        err[6, t] = abs(family - F32(household[i]))


@njit(cache=True, error_model="numpy")
def earned_points(idx, value, cat_dot, tier, tier_mult, promotion, membership, earn_per_unit, out):
    """Whole points earned on linked baskets of members ``idx`` (points.earn) into ``out``: basket value
    times the earn rate (float32, as numpy multiplies a float32 array by a number), times the category
    multiplier ``cat_dot`` of each basket, the member's tier multiplier, the day's ``promotion`` and the
    ``membership`` multiplier, in that order in float64, rounded down."""
    for t in range(idx.size):
        mult = np.float64(cat_dot[t]) * tier_mult[tier[idx[t]]] * promotion * membership
        out[t] = np.int32(math.floor(np.float64(value[t] * F32(earn_per_unit)) * mult + 1e-6))


def earned_points_numpy(idx, value, cat_dot, tier, tier_mult, promotion, membership, earn_per_unit, out):
    """:func:`earned_points` in numpy."""
    mult = cat_dot.astype(np.float64) * tier_mult[tier[idx]] * promotion * membership
    out[:] = np.floor((value * F32(earn_per_unit)).astype(np.float64) * mult + 1e-6).astype(np.int32)


@njit(cache=True, error_model="numpy")
def credit_points(day, bucket, idx, pts, points, buckets, last_earn, segment, issued):
    """Add whole points ``pts`` to members ``idx`` (unique; points.credit): balances, the earning period
    ``bucket`` of ``buckets`` (customers x periods; -1 without age expiry) and the day of the latest
    earning; per-segment points issued into ``issued``, in member order."""
    seg, total = 0, issued[0]
    for t in range(idx.size):
        i = idx[t]
        points[i] += pts[t]
        if bucket >= 0:
            buckets[i, bucket] += pts[t]
        last_earn[i] = day
        seg, total = _segment_run(issued, seg, total, segment[i])
        total += np.float64(pts[t])
    issued[seg] = total


def credit_points_numpy(day, bucket, idx, pts, points, buckets, last_earn, segment, issued):
    """:func:`credit_points` in numpy."""
    points[idx] += pts
    if bucket >= 0:
        buckets[idx, bucket] += pts
    last_earn[idx] = day
    np.add.at(issued, segment[idx], pts.astype(np.float64))


@njit(cache=True, error_model="numpy")
def redeem_rewards(current, idx, goal, points, buckets, vouchers, segment, reward_points, reward_face,
                   reward_cost, reward_perceived, reward_kind, sums):
    """Members ``idx`` (ascending) turn as many whole rewards of their goal as their balance buys into
    rewards (points.redeem, after choosing who redeems): points taken from the earning periods oldest
    first, those after ``current`` in ring order (-1 without age expiry), vouchers credited (members
    counted the points' worth as they earned them: points.earn), and per-segment sums into ``sums`` rows: points redeemed, rewards
    redeemed, reward cost, reward value, each summed in member order as the ledger would."""
    n_periods = buckets.shape[1]
    for t in range(idx.size):
        i = idx[t]
        g = goal[i]
        need = reward_points[g]
        count = np.floor(points[i] / need)
        spent = np.int32(count * need)
        points[i] -= spent
        if current >= 0:
            # Every period, oldest first, without stopping once the amount is taken (the rest then take
            # 0): an exit after a varying number of periods would be mispredicted for nearly every member.
            # Indexed directly: a row view would be reference-counted for every member.
            left = spent
            for j in range(current + 1, n_periods):
                take = min(left, buckets[i, j])
                buckets[i, j] -= take
                left -= take
            for j in range(current + 1):
                take = min(left, buckets[i, j])
                buckets[i, j] -= take
                left -= take
        if reward_kind[g] == 0:  # a voucher: money off the next trip
            vouchers[i] = F32(np.float64(vouchers[i]) + count * reward_face[g])
        value = count * reward_perceived[g]
        s = segment[i]
        sums[0, s] += np.float64(spent)
        sums[1, s] += count
        sums[2, s] += count * reward_cost[g]
        sums[3, s] += value


def redeem_rewards_numpy(current, idx, goal, points, buckets, vouchers, segment, reward_points, reward_face,
                         reward_cost, reward_perceived, reward_kind, sums):
    """:func:`redeem_rewards` in numpy."""
    g = goal[idx]
    count = np.floor(points[idx] / reward_points[g])
    spent = (count * reward_points[g]).astype(np.int32)
    points[idx] -= spent
    if current >= 0:
        left = spent.copy()
        for j in [*range(current + 1, buckets.shape[1]), *range(current + 1)]:  # oldest period first
            take = np.minimum(left, buckets[idx, j])
            buckets[idx, j] -= take
            left -= take
    voucher = reward_kind[g] == 0
    vouchers[idx[voucher]] = (vouchers[idx[voucher]].astype(np.float64)
                              + count[voucher] * reward_face[g[voucher]]).astype(F32)
    value = count * reward_perceived[g]
    for row, amount in enumerate((spent.astype(np.float64), count, count * reward_cost[g], value)):
        np.add.at(sums[row], segment[idx], amount)


@njit(cache=True, error_model="numpy")
def segment_sums(segment, idx, amounts, sums):
    """Add ``amounts[t]`` to the sum of customer ``idx[t]``'s segment, in order (as ``np.bincount``
    with weights, without gathering the segments first)."""
    seg, total = 0, sums[0]
    for t in range(idx.size):
        seg, total = _segment_run(sums, seg, total, segment[idx[t]])
        total += np.float64(amounts[t])
    sums[seg] = total


def segment_sums_numpy(segment, idx, amounts, sums):
    """:func:`segment_sums` in numpy: ``np.add.at`` adds in order, as the kernel."""
    np.add.at(sums, segment[idx], np.asarray(amounts, np.float64))


@njit(cache=True, error_model="numpy")
def segment_sums_of_one(segment, idx, amount, sums):
    """:func:`segment_sums` with one amount for every customer."""
    seg, total = 0, sums[0]
    for t in range(idx.size):
        seg, total = _segment_run(sums, seg, total, segment[idx[t]])
        total += amount
    sums[seg] = total


def segment_sums_of_one_numpy(segment, idx, amount, sums):
    """:func:`segment_sums_of_one` in numpy."""
    np.add.at(sums, segment[idx], amount)
