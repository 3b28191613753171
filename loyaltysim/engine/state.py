"""Per-arm customer state, as columns: what every arm tracks about shopping here, and what the scheme
arm tracks about members (the arms themselves are :mod:`loyaltysim.engine.arms`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
import numpy as np

from loyaltysim.engine.rules import CONSENT_BIT  # noqa: F401  (re-exported: a member's consent is these bits)
from loyaltysim.scenario.models import CATEGORIES, HOUR_BANDS

NO_DAY = np.int32(-(10 ** 6))
"""A day long before the run: 'never happened'."""


@dataclass
class ShopperState:
    """What every arm tracks about every customer's shopping here."""

    alive: np.ndarray        # bool: has not left the retailer for good
    habit: np.ndarray        # float32 0-1: share of recent needs brought here
    last_visit: np.ndarray   # int32 day of the latest trip here
    defect_day: np.ndarray   # int32 day the customer left the retailer for good (-1 if never)
    needs: np.ndarray        # int32 shopping needs so far (here or elsewhere)
    visits: np.ndarray       # int32 trips here so far
    spend: np.ndarray        # float64 paid here so far

    @classmethod
    def new(cls, n: int, preference: np.ndarray) -> "ShopperState":
        return cls(
            alive=np.ones(n, bool),
            # Start habit at the no-scheme choice probability, so day 0 is in steady state.
            habit=(1.0 / (1.0 + np.exp(-preference))).astype(np.float32),
            last_visit=np.zeros(n, np.int32),
            defect_day=np.full(n, -1, np.int32),
            needs=np.zeros(n, np.int32),
            visits=np.zeros(n, np.int32),
            spend=np.zeros(n, np.float64),
        )


@dataclass
class MemberState:
    """Scheme state of every customer (meaningful for members) in the scheme arm."""

    member: np.ndarray       # bool
    active: np.ndarray       # bool: a member using the card (not dormant): it is in their store choice and presented
    dormant: np.ndarray      # bool: a member who keeps the card but has stopped presenting it
    aware: np.ndarray        # bool: knows of the scheme (joining is considered only then)
    ever_joined: np.ndarray  # bool: has been a member at some time in the run
    join_day: np.ndarray     # int32
    consent: np.ndarray      # uint8 bitmask over DATA_SOURCES
    points: np.ndarray       # int32 balance
    buckets: np.ndarray      # int32 (n, B) points by earning period, oldest expire first (B=0 without age expiry)
    last_earn: np.ndarray    # int32 day points were last earned
    goal: np.ndarray         # int8 index of the reward the member is working toward
    stamps: np.ndarray       # int16 stamps on the current card
    tier: np.ndarray         # int8 tier index
    qualifying: np.ndarray   # float32 qualifying spend in the current tier window
    vouchers: np.ndarray     # float32 money-off held for the next trip
    offer_until: np.ndarray  # int32 last day the live offer is valid
    offer_cat: np.ndarray    # int8 category of the live offer
    satisfaction: np.ndarray  # float32 0-1: the scheme's recent value against the member's reference (0.5 neutral)
    value_ema: np.ndarray    # float32 recent perceived net value per day
    spend_ema: np.ndarray    # float32 recent spend per day here
    reference: np.ndarray    # float32 value share of spend the member has come to expect (adapts to what they get)
    recent: np.ndarray       # float32 felt value against the reference, -1 to 1 (behaviour.felt_value), kept with the averages
    last_update: np.ndarray  # int32 day of the latest satisfaction update
    # The business's view, built only from linked, consented data.
    obs_trips: np.ndarray    # float32 weighted linked trips observed
    obs_last: np.ndarray     # int32 day of the latest observation
    obs_cat: np.ndarray      # float32 (n, 7) observed spend by category
    # Trips by weekday and hour band are whole counts (an app trip counts twice), at most 2 x MAX_DAYS:
    # 16 bits hold them exactly, and halve what learning from each trip reads and writes.
    obs_dow: np.ndarray      # uint16 (n, 7) observed trips by weekday
    obs_hour: np.ndarray     # uint16 (n, 6) observed trips by hour band
    obs_own: np.ndarray      # float32 observed own-label spend
    obs_logb: np.ndarray     # float32 sum of observed log basket values
    family_told: np.ndarray  # int8 household size given at sign-up (0 if not given)
    event_seen: np.ndarray   # int16 linked trips since the latest life event
    detected_day: np.ndarray  # int32 day the latest life event was detected
    acc_what: np.ndarray     # float32 latest accuracy of the category estimate (drives offers)
    acc_mean: np.ndarray     # float32 latest mean accuracy over dimensions (drives data revenue)
    # Store-choice utility that mechanics outside the shopping kernel's own terms add for a member
    # (float64; empty until a mechanic that adds some makes it one per customer: see engine.mechanics).
    extra_utility: np.ndarray

    @classmethod
    def new(cls, n: int, buckets: int) -> "MemberState":
        f4 = lambda: np.zeros(n, np.float32)  # noqa: E731
        i4 = lambda: np.zeros(n, np.int32)  # noqa: E731
        return cls(
            member=np.zeros(n, bool), active=np.zeros(n, bool), dormant=np.zeros(n, bool), aware=np.zeros(n, bool),
            ever_joined=np.zeros(n, bool), join_day=np.full(n, NO_DAY, np.int32), consent=np.zeros(n, np.uint8),
            points=i4(), buckets=np.zeros((n, buckets), np.int32), last_earn=i4(), goal=np.zeros(n, np.int8),
            stamps=np.zeros(n, np.int16), tier=np.zeros(n, np.int8), qualifying=f4(), vouchers=f4(),
            offer_until=np.full(n, NO_DAY, np.int32), offer_cat=np.zeros(n, np.int8),
            satisfaction=np.full(n, 0.5, np.float32), value_ema=f4(), spend_ema=f4(), reference=f4(), recent=f4(), last_update=i4(),
            obs_trips=f4(), obs_last=np.full(n, NO_DAY, np.int32),
            obs_cat=np.zeros((n, len(CATEGORIES)), np.float32), obs_dow=np.zeros((n, 7), np.uint16),
            obs_hour=np.zeros((n, len(HOUR_BANDS)), np.uint16), obs_own=f4(), obs_logb=f4(),
            family_told=np.zeros(n, np.int8), event_seen=np.zeros(n, np.int16),
            detected_day=np.full(n, NO_DAY, np.int32), acc_what=f4(), acc_mean=f4(),
            extra_utility=np.zeros(0),
        )

    def forget(self, idx: np.ndarray) -> None:
        """Delete the business's profile of these customers (consent withdrawn or left)."""
        for name in ("obs_trips", "obs_cat", "obs_dow", "obs_hour", "obs_own", "obs_logb",
                     "family_told", "event_seen", "acc_what", "acc_mean"):
            getattr(self, name)[idx] = 0
        self.obs_last[idx] = NO_DAY
        self.detected_day[idx] = NO_DAY


def nbytes(*states) -> int:
    """Bytes held by the arrays of some state objects."""
    return int(sum(getattr(s, f.name).nbytes for s in states for f in fields(s)
                   if isinstance(getattr(s, f.name), np.ndarray)))


class TripBuffers:
    """Room for a day's trips of one arm (at most one per customer), written over day after day: fresh
    arrays every day would cost the operating system a page fault for every 4 KiB written."""

    def __init__(self, n: int, n_categories: int) -> None:
        self.idx = np.empty(n, np.intp)
        self.value = np.empty(n, np.float32)
        self.split = np.empty((n, n_categories), np.float32)
        self.own = np.empty(n, np.float32)
        self.band = np.empty(n, np.intp)
