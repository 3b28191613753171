"""The registry of published findings the model is checked against, and the evidence scenarios they run.

A finding names what was found, the figure as published (only figures seen in the cited source), its
source, and the band the model's figure should fall in. A band whose ends are published figures says so; a band proposed for this check (by the research
note or here) is marked *proposed* with its reasoning. The statistic itself is computed per replicate by
:mod:`loyaltysim.evidence.statistics`, on the evidence scenario it names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FINDINGS", "SCENARIOS", "EvidenceScenario", "Finding"]

INF = math.inf


@dataclass(frozen=True)
class EvidenceScenario:
    """A scenario run for evidence: a shipped scenario with overrides, at evidence sizes."""

    name: str
    base: str                      # a shipped scenario's name
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)
    customers: int = 20_000        # default size (``--customers`` replaces it)
    quick_customers: int = 1_500   # size of the smoke run (``--quick``)
    transactions: bool = False     # record the scheme arm's trips (the stamp-card gaps need them)


@dataclass(frozen=True)
class Finding:
    """A published finding and the model statistic that is checked against it."""

    id: str
    finding: str                   # what was found, in a sentence
    statistic: str                 # how the model's figure is computed
    unit: Literal["share", "ratio", "days"]
    published: float | None        # the published figure in the statistic's unit (None: qualitative)
    published_text: str            # the figure as the source gives it
    band: tuple[float, float]      # (low, high) the model's figure should fall in; inf for one-sided
    band_basis: str                # where the band comes from ("proposed: ..." when it is not published)
    source: str
    measures: tuple[tuple[str, str], ...]  # (evidence scenario, statistic name) per replicate
    combine: Literal["one", "ratio", "drop"] = "one"  # the finding's figure from its measures' values
    cite: str = ""                 # the source, short (for the terminal table)
    published_short: str = ""      # a qualitative published finding in a few words (for the terminal table)

    @property
    def proposed(self) -> bool:
        """Whether the band is proposed for this check rather than made of published figures."""
        return self.band_basis.startswith("proposed")

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for s, _ in self.measures))


# ---------------------------------------------------------------- the evidence scenarios

NO_VALUE_SCHEME = {"scheme.points": None, "scheme.expiry": None, "scheme.offers": None,
                   "scheme.data.requested": ["transactions"]}
"""The supermarket card with nothing in it: no points, no rewards, no offers, no member prices, only the
card (and the transaction data any card collects)."""

CAR_WASH = {
    "days": 270,  # nine months, the longer of the windows secondary pages give for Nunes and Dreze (2006)
    "population.segments": [{
        "name": "drivers", "share": 1.0,
        # About one wash a month here (half of ~16 needs a year), so an 8-wash card is a stretch in nine
        # months, as it was in the field study. Assumption.
        "trips_per_year": {"mean": 16, "shape": 1.5},
        "basket_log_mu": 2.3, "basket_log_sd_between": 0.2, "basket_log_sd_within": 0.2,
        "categories": [0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.7],
    }],
    # Every customer is handed a card on day 0, as in the field experiment; nobody else joins.
    "scheme.enrolment.initial_members": 1.0, "scheme.enrolment.join_rate_per_visit": 0.0,
    "scheme.enrolment.referral_rate_per_year": 0.0,
}


NO_INCENTIVES = {"behaviour.reward_weight": 0.0, "behaviour.rewarded_weight": 0.0,
                 "scheme.goal_gradient.strength": 0.0, "scheme.goal_gradient.acceleration": 0.0}
"""The points' incentive channels switched off, and nothing else: the anticipated reward, points pressure
(the goal gradient's pull and acceleration) and rewarded behaviour (a voucher in hand). Members still join,
earn, redeem and get offers as before; only what the points make them do is gone."""


def _car_wash(required: int, prefilled: int) -> dict[str, Any]:
    reward = {"name": "free_wash", "kind": "free_product", "points": required, "face_value": 10.0, "cost_ratio": 0.3}
    return {**CAR_WASH, "scheme.stamps": {"required": required, "prefilled": prefilled, "reward": reward}}


SCENARIOS: dict[str, EvidenceScenario] = {s.name: s for s in (
    EvidenceScenario("grocery", "supermarket_points",
                     "The shipped 1% supermarket points card (supermarket_points), as shipped."),
    EvidenceScenario("grocery_no_incentives", "supermarket_points",
                     "The 1% supermarket card with its points' incentive channels switched off (same draws).",
                     overrides=NO_INCENTIVES),
    EvidenceScenario("no_value", "supermarket_points",
                     "The supermarket card with no points, rewards or offers: a card worth nothing.",
                     overrides=NO_VALUE_SCHEME),
    EvidenceScenario("coffee", "coffee_stamps", "The shipped buy-ten-get-one-free coffee card (coffee_stamps).",
                     customers=10_000, quick_customers=1_000, transactions=True),
    EvidenceScenario("coffee_control", "coffee_stamps",
                     "The coffee card with a worthless reward (0.01), as Kivetz et al.'s control card.",
                     # Handed to every customer, as the study's control card was (a card worth nothing is
                     # otherwise joined by few).
                     overrides={"scheme.stamps.reward.face_value": 0.01, "scheme.enrolment.initial_members": 1.0,
                                "scheme.enrolment.join_rate_per_visit": 0.0},
                     customers=10_000, quick_customers=1_000, transactions=True),
    EvidenceScenario("car_wash_8", "coffee_stamps",
                     "A car wash handing every customer an 8-stamp card on day 0, for nine months.",
                     overrides=_car_wash(8, 0)),
    EvidenceScenario("car_wash_10_2", "coffee_stamps",
                     "The same car wash and customers with a 10-stamp card with 2 stamps already on it.",
                     overrides=_car_wash(10, 2)),
    EvidenceScenario("paid", "paid_membership", "The shipped paid grocery membership (paid_membership)."),
)}
"""Every evidence scenario, by name. Replicate r of each runs on the random numbers ``loyaltysim run``
gives replicate r of its base scenario, so the two car-wash cards meet the same customers and draws."""


# ---------------------------------------------------------------- the findings

NASTASOIU = ("Nastasoiu, Bendle, Bagga, Vandenbosch & Navarro (2021), Journal of the Academy of Marketing "
             "Science, doi 10.1007/s11747-021-00782-2")
KIVETZ = "Kivetz, Urminsky & Zheng (2006), Journal of Marketing Research 43, 39-58"

FINDINGS: dict[str, Finding] = {f.id: f for f in (
    Finding(
        "incentive_sales",
        "A modest 1% cash-type grocery points programme drives a small share of sales by its incentives "
        "(points pressure and rewarded behaviour, separated from customer heterogeneity).",
        "1 - (scheme-arm sales with the points' incentive channels off) / (scheme-arm sales), the 1% "
        "supermarket card in the last quarter of its launch year, on the same draws: the anticipated reward, "
        "the goal gradient and rewarded behaviour switched off, members joining and earning as before.",
        "share", 0.0174, "1.74% of sales incentive-driven",
        (0.005, 0.03), "proposed (research note): 0.5%-3% around the published 1.74%", NASTASOIU,
        (("grocery", "scheme_sales"), ("grocery_no_incentives", "scheme_sales")), combine="drop",
        cite="Nastasoiu et al. 2021"),
    Finding(
        "incremental_sales",
        "Loyalty programme membership has a small causal effect on sales.",
        "(scheme-arm sales - counterfactual sales) / counterfactual sales, the 1% supermarket card in the "
        "last quarter of its launch year: every channel, the points' incentives, targeted offers and how "
        "members feel about the value they get.",
        "share", None, "a small effect: 1.74% of sales from the points' incentives alone; membership's effect "
        "a seventh of the naive gap",
        (0.0174, 0.05), "proposed (here): at least the points' incentive-driven 1.74% (Nastasoiu et al. 2021: "
        "the total adds targeted offers, which the study left out), at most 5%, a small effect (Leenheer et al. "
        "2007; Meyer-Waarden and Benavent 2009: behaviour changes only slightly after joining)",
        NASTASOIU + "; Leenheer, van Heerde, Bijmolt & Smidts (2007), International Journal of Research in "
        "Marketing 24(1), 31-47", (("grocery", "incremental_sales"),), cite="Nastasoiu 2021; Leenheer 2007",
        published_short="small (>= 1.74%)"),
    Finding(
        "self_selection",
        "The naive member vs non-member comparison overstates the causal effect of membership seven times.",
        "(members' - non-members' mean share of wallet, scheme arm, among the retailer's shoppers) / members' "
        "mean (share of wallet in the scheme arm - in the counterfactual), members at the end of the year; "
        "share of wallet is the share of a customer's shopping trips brought here, as the study measured it.",
        "ratio", 7.0, "causal effect 7 times smaller than the naive model's",
        (4.0, 12.0), "proposed (research note): 4-12 around the published 7",
        "Leenheer, van Heerde, Bijmolt & Smidts (2007), International Journal of Research in Marketing 24(1), 31-47",
        (("grocery", "self_selection"),), cite="Leenheer et al. 2007"),
    Finding(
        "member_sales_share",
        "A world-class grocery programme captures at least 80% of sales on the card.",
        "Card-presented (linked) sales / all sales in the scheme arm, the 1% supermarket card in the last quarter of its launch year.",
        "share", 0.80, ">= 80% of sales on the card",
        (0.80, 0.90), "lower end published (Woolf 2002); upper end proposed (grocery programmes are "
        "commonly put at 80-90%; no published upper figure found)",
        "Woolf (2002), interview by N. Raphel, brianwoolf.com",
        (("grocery", "member_sales_share"),), cite="Woolf 2002"),
    Finding(
        "programme_cost_share",
        "A 1% points card costs about 1% of sales (Tesco Clubcard: 1p per pound; Woolf: points programmes "
        "costing 1% of sales are questionable).",
        "(Rewards at cost + operating cost) / sales, scheme arm, the 1% supermarket card in the last quarter of its launch year "
        "(offer discounts left out).",
        "share", 0.01, "1% of sales (1 point per pound, 1p a point)",
        (0.007, 0.015), "proposed (here): rewards at cost are 1% of linked sales (80-90% of sales) less what is "
        "not yet redeemed, about 0.7-0.9% of sales, plus operations of a few tenths of a percent",
        "Woolf (2001), Loyalty Marketing: The Second Act; Tesco Clubcard terms (1 point per pound, 1p a point)",
        (("grocery", "programme_cost_share"),), cite="Woolf 2001; Tesco Clubcard"),
    Finding(
        "goal_gradient",
        "Purchases accelerate toward the reward of a buy-ten-get-one-free coffee card.",
        "Mean inter-purchase gap before the 10th stamp / mean first gap of the card, over completed cards "
        "(coffee_stamps).",
        "ratio", 0.80, "last gap 20% shorter than the first (0.7 days)",
        (0.70, 0.90), "proposed (here): 0.80 +- 0.10 (the study's t = 2.6 puts its own 95% interval at about "
        "0.65-0.95)", KIVETZ,
        (("coffee", "goal_gradient"),), cite="Kivetz et al. 2006"),
    Finding(
        "goal_gradient_days",
        "The last gap before the reward is 0.7 days shorter than the card's first gap.",
        "Mean first gap - mean gap before the 10th stamp, days, over completed cards (coffee_stamps; the "
        "shipped cafe's customers visit about as often as the study's, about every 3 days).",
        "days", 0.7, "0.7 days shorter (t = 2.6)",
        (0.35, 1.05), "proposed (here): 0.7 days +- 50%", KIVETZ,
        (("coffee", "goal_gradient_days"),), cite="Kivetz et al. 2006"),
    Finding(
        "card_completion_speed",
        "A card is completed in 24.6 days instead of the 29.4 its first gap would take (16% faster).",
        "Mean days from a completed card's first purchase to its 10th / (9 x the mean first gap) (coffee_stamps).",
        "ratio", 24.6 / 29.4, "24.6 vs 29.4 days (0.84)",
        (0.75, 0.92), "proposed (here): 0.84 +- about 0.08", KIVETZ,
        (("coffee", "card_completion_speed"),), cite="Kivetz et al. 2006"),
    Finding(
        "goal_gradient_control",
        "Without a reward (the study's control card) purchases do not accelerate.",
        "As goal_gradient, with the free coffee worth 0.01.",
        "ratio", None, "no acceleration on the control card",
        (0.95, INF), "proposed (here): no acceleration means a ratio of 1 or more, less 0.05 for noise", KIVETZ,
        (("coffee_control", "goal_gradient"),), cite="Kivetz et al. 2006", published_short="no acceleration"),
    Finding(
        "endowed_progress",
        "A 10-stamp card with 2 stamps given is completed more often than an 8-stamp card (endowed progress).",
        "Share of day-0 card holders who complete a card within nine months, 10-stamp card with 2 prefilled / "
        "8-stamp card (a car wash made from coffee_stamps, same customers and draws).",
        "ratio", 0.34 / 0.19, "34% vs 19% completed (1.8 times)",
        (1.3, 2.3), "proposed (here): 1.8 +- 0.5; the 34% and 19% are from secondary pages only (research note)",
        "Nunes & Dreze (2006), Journal of Consumer Research 32(4), 504-512",
        (("car_wash_10_2", "card_completion_share"), ("car_wash_8", "card_completion_share")), combine="ratio",
        cite="Nunes & Dreze 2006"),
    Finding(
        "joining_effect_fades",
        "Behaviour changes only slightly after joining, and the change erodes 6-9 months after joining.",
        "Causal sales uplift (scheme - counterfactual, same customers) of customers who joined in the first "
        "90 days, in months 7-9 since joining / in months 1-3 (the 1% supermarket card).",
        "ratio", 0.0, "the change erodes within 6-9 months",
        (-0.25, 0.25), "proposed (here): eroded means under a quarter of the early change, either way",
        "Meyer-Waarden & Benavent (2009), Journal of the Academy of Marketing Science, doi 10.1007/s11747-008-0123-z",
        (("grocery", "joining_effect_fades"),), cite="Meyer-Waarden & Benavent 2009"),
    Finding(
        "heavy_buyer_uplift",
        "Heavy buyers redeem most but do not change their behaviour.",
        "Causal spend uplift of members in the top tercile of spend without the scheme (their counterfactual "
        "spend), the 1% supermarket card.",
        "share", 0.0, "heavy buyers flat (no significant change)",
        (-0.01, 0.01), "proposed (here): within 1% of no change", "Liu (2007), Journal of Marketing 71(4), 19-35",
        (("grocery", "heavy_buyer_uplift"),), cite="Liu 2007"),
    Finding(
        "light_minus_heavy_uplift",
        "Light and moderate buyers increase their purchases after joining; heavy buyers do not.",
        "Causal spend uplift of the bottom two terciles of members minus that of the top tercile (as "
        "heavy_buyer_uplift).",
        "share", None, "light/moderate buyers grow, heavy do not (moderate: lambda3 = .16, p = .03)",
        (0.0, INF), "proposed (here): positive", "Liu (2007), Journal of Marketing 71(4), 19-35",
        (("grocery", "light_minus_heavy_uplift"),), cite="Liu 2007", published_short="positive"),
    Finding(
        "no_value_recruits",
        "A scheme worth nothing recruits almost nobody.",
        "Share of the retailer's customers (a trip in the year) who join the supermarket card with no points, "
        "rewards or offers.",
        "share", None, "almost nobody (no published figure)",
        (0.0, 0.05), "proposed (here): at most 1 customer in 20 joining by chance, against the 67% the "
        "model gave before joining depended on value; far above the sampling error of evidence sizes",
        "A requirement of the model: no reason to join, no joining (no published figure)",
        (("no_value", "joined_share"),), cite="model requirement", published_short="almost nobody"),
    Finding(
        "paid_renewal",
        "Paid warehouse-club members renew at about 90% a year.",
        "Yearly renewal of the paid grocery membership's members: exp(-leaves per member-year) (paid_membership).",
        "share", 0.89, "89% (US & Canada, FY2011); 86% worldwide; 93% (FY2024 Q3)",
        (0.86, 0.93), "published: Costco's renewal rates, 86% (worldwide, 2011) to 93% (US & Canada, 2024); the "
        "paid scenario's leave rate is calibrated to them (a calibration target, not an independent check)",
        "Costco 2011 Annual Report p. 13; Progressive Grocer, 10 Jul 2024",
        (("paid", "annual_renewal"),), cite="Costco 2011, 2024"),
    Finding(
        "paid_naive_spend_ratio",
        "Paid members spend about 2.3 times what non-members do (naive, not causal).",
        "Members' / non-members' mean spend in the paid membership's scheme arm, among shoppers (paid_membership).",
        "ratio", 1400 / 600, "$1,400 vs $600 a year (Amazon Prime, 2018)",
        (1.5, 3.0), "proposed (here): around the published 2.3",
        "CIRP (Consumer Intelligence Research Partners), 2018",
        (("paid", "naive_spend_ratio"),), cite="CIRP 2018"),
    Finding(
        "never_redeemed",
        "A share of members never redeem: 20% across programmes (US), 5% of UK card owners.",
        "Share of members who joined in the first 90 days and stayed to the end of the year who never received "
        "a voucher (the 1% supermarket card, whose vouchers are issued at 150 points).",
        "share", 0.20, "20% never redeemed (Bond 2016); 5% of UK card owners (2013)",
        (0.05, 0.20), "published: the UK 5% and the cross-programme 20%",
        "Bond Brand Loyalty Report 2016; Plastic Card Services, Loyalty Pays 2013",
        (("grocery", "never_redeemed"),), cite="Bond 2016; PCS 2013"),
)}
"""Every finding, by id, in the order the table shows them."""
