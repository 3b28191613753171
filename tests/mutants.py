"""Mechanism mutants: switch off or distort one mechanism of DESIGN.md at a time and check a test fails.

Run on demand (pytest does not collect it): ``python tests/mutants.py`` runs every mutant,
``--only ID ...`` some, ``--list`` lists them. The repository is copied once to a temporary folder;
each mutant replaces one snippet of one file there (a snippet that is not found exactly once makes the
mutant STALE), runs its test selection against the copy, and restores the file. A mutant is *caught*
when its tests fail and *survives* when they pass. Exit status 1 if any survived or went stale.

numba caches compiled kernels by source file and modification time, so each file is restored with its
original time (``shutil.copy2``) and untouched kernels stay compiled; the cache lives in the copy. No
mutant edits a kernel module: each switches a mechanism off where the Python code hands it to them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T = "tests/test_mechanisms.py::"


@dataclass(frozen=True)
class Mutant:
    id: str
    mechanism: str
    file: str          # relative to the repository
    original: str      # must occur exactly once in the file
    replacement: str
    selection: tuple[str, ...]  # pytest arguments: test ids, files or -k expressions


def m(id, mechanism, file, original, replacement, *tests):
    return Mutant(id, mechanism, f"loyaltysim/engine/{file}", original, replacement,
                  tuple(t if t.startswith(("tests/", "-")) else T + t for t in tests))


DOWNGRADES = tuple(f"test_a_review_downgrades_members_who_stopped_qualifying_by_the_rule[{mode}]"
                   for mode in ("to_qualified", "one_level", "never"))
STATS = ("tests/", "-k", "statistics or summary or interval or verdict or run_totals")
"""The statistics tests (results/summary.py, results/verdict.py), wherever they live."""

MUTANTS: tuple[Mutant, ...] = (
    # Points
    m("points-earn", "points earned per unit of linked spend", "mechanics/points.py",
      "s.points.earn_per_unit, pts)", "0.0, pts)", "test_points_follow_linked_spend_and_the_earn_rate"),
    m("category-multipliers", "category earn multipliers", "rules.py",
      "cat_mult[CATEGORIES.index(cat)] = m", "cat_mult[CATEGORIES.index(cat)] = 1.0",
      "test_a_category_multiplier_gives_its_buyers_more_points_per_unit"),
    m("promotions", "promotional bonus windows", "rules.py",
      "if p.start_day <= day <= p.end_day:", "if False:",
      "test_a_promotion_multiplies_points_inside_its_window_only"),
    m("partner-points", "partner (coalition) earn", "mechanics/points.py",
      "if p.partner_points_per_year <= 0 or day % PARTNER_EVERY_DAYS != 0 or day == 0:", "if True:",
      "test_partner_points_come_without_spend_and_partners_pay_for_them"),
    m("auto-redemption", "automatic redemption at the threshold", "mechanics/points.py",
      "idx = out[:kernels.redeemable(mem.member, mem.points, mem.goal, rules.reward_points, out)]", "idx = out[:0]",
      "test_auto_redemption_converts_every_balance_at_its_goal_and_manual_leaves_some"),
    m("manual-redemption", "manual redemption at the till", "mechanics/points.py",
      'manual = arm.rules.scheme.points.redemption.mode == "manual"', "manual = False",
      "test_auto_redemption_converts_every_balance_at_its_goal_and_manual_leaves_some"),
    m("redemption-friction", "friction of manual redemption for the time-poor", "mechanics/points.py",
      "feel = np.where(pop.time_poor[candidates], 1.0, 0.3)", "feel = np.where(pop.time_poor[candidates], 0.3, 0.3)",
      "test_redemption_friction_holds_back_time_poor_experience_minded_members"),
    m("goal-choice", "choice of goals by motivation", "mechanics/points.py",
      "return np.argmax(score, axis=1).astype(np.int8)", "return np.zeros(idx.size, np.int8)",
      "test_members_work_toward_the_reward_their_motivations_favour"),
    # Expiry
    m("expiry-age", "expiry by age of points", "mechanics/expiry.py",
      "if rules.n_buckets and day > 0 and day % rules.bucket_days == 0:", "if False:",
      "test_age_expiry_takes_old_points"),
    m("expiry-inactivity", "expiry after inactivity", "mechanics/expiry.py",
      "if exp.inactivity_days:", "if False:", "test_inactivity_expiry_empties_idle_balances"),
    # Stamps
    m("stamps", "a stamp per qualifying linked basket", "mechanics/stamps.py",
      "mem.stamps[idx] += 1", "mem.stamps[idx] += 0",
      "test_a_stamp_card_rewards_every_card_filled_and_prefilled_stamps_shorten_the_first"),
    m("stamps-prefilled", "prefilled stamps on a new card (endowed progress)", "mechanics/stamps.py",
      "self.arm.mem.stamps[idx] = self.arm.rules.scheme.stamps.prefilled", "self.arm.mem.stamps[idx] = 0",
      "test_a_stamp_card_rewards_every_card_filled_and_prefilled_stamps_shorten_the_first"),
    # Tiers
    m("tier-qualification", "tier qualification on linked spend", "mechanics/tiers.py",
      "mem.qualifying[idx] += value", "mem.qualifying[idx] += 0",
      "test_members_qualify_for_tiers_on_linked_spend"),
    m("downgrade-to-qualified", "downgrade to the qualified tier", "mechanics/tiers.py",
      "new = qualified", "new = np.maximum(qualified, current - 1)", DOWNGRADES[0]),
    m("downgrade-one-level", "downgrade by one level", "mechanics/tiers.py",
      "new = np.maximum(qualified, current - 1)", "new = np.maximum(qualified, current)", DOWNGRADES[1]),
    m("downgrade-never", "no downgrade", "mechanics/tiers.py",
      "new = np.maximum(qualified, current)\n", "new = qualified\n", DOWNGRADES[2]),
    m("tier-review-window", "tier review at the end of each window", "mechanics/tiers.py",
      "if day == 0 or day % tiers.window_days != 0:", "if day == 0 or day % (2 * tiers.window_days) != 0:",
      *DOWNGRADES),
    m("status-pull", "tier status in store choice", "behaviour.py",
      "c[K.C_STATUS_WEIGHT] = b.status_weight", "c[K.C_STATUS_WEIGHT] = 0.0",
      "test_status_pulls_belonging_motivated_members"),
    m("perk-cost", "tier perks' cost to the business", "mechanics/tiers.py",
      'arm.ledger.add("operating_cost", idx, rules.tier_perk_cost[tier])',
      'arm.ledger.add("operating_cost", idx, 0.0 * rules.tier_perk_cost[tier])',
      "test_tier_perks_cost_the_business_and_nothing_else"),
    # Member pricing
    m("member-prices", "member prices at the till", "mechanics/member_pricing.py",
      "saving = value * mp.share_of_range * mp.discount", "saving = value * 0.0",
      "test_member_prices_take_money_off_linked_baskets"),
    m("member-price-pull", "member prices in store choice", "behaviour.py",
      "c[K.C_HAS_MEMBER_PRICING], c[K.C_MP_SHARE], c[K.C_MP_DISCOUNT] = 1, mp.share_of_range, mp.discount",
      "c[K.C_HAS_MEMBER_PRICING], c[K.C_MP_SHARE], c[K.C_MP_DISCOUNT] = 1, 0.0, mp.discount",
      "test_member_prices_pull_outcome_minded_members_and_bring_out_the_card"),
    m("member-price-card", "member prices bring out the card", "behaviour.py",
      "rules.scheme.member_pricing is not None, mem.member", "False, mem.member",
      "test_member_prices_pull_outcome_minded_members_and_bring_out_the_card"),
    # Offers
    m("offer-targeting", "offers aimed by what the business believes", "mechanics/offers.py",
      "mem.offer_cat[idx] = believed_top_category(idx, day)", "mem.offer_cat[idx] = 0",
      "test_offers_target_what_the_business_believes_each_member_buys"),
    m("offer-accuracy", "offer redemption growing with accuracy", "mechanics/offers.py",
      "o.max_redemption - o.base_redemption", "0.0", "test_offer_redemption_grows_as_the_business_learns"),
    m("offer-pull", "a live offer in store choice", "behaviour.py",
      "c[K.C_HAS_OFFERS], c[K.C_OFFER_SAVING] = 1, s.offers.discount * s.offers.expected_basket_share",
      "c[K.C_HAS_OFFERS], c[K.C_OFFER_SAVING] = 1, 0.0",
      "test_a_live_offer_pulls_members_to_shop_by_the_saving_it_promises"),
    m("offer-pull-by-use", "a live offer pulls by the saving a trip can expect (times the chance it is used)",
      "kernels.py", "use = F32(c[C_OFFER_BASE]) + F32(c[C_OFFER_SLOPE]) * acc_what", "use = acc_what",
      "test_an_offer_that_will_never_be_used_does_not_pull"),
    # Paid membership
    m("fee-at-join", "the fee on joining", "mechanics/membership.py",
      "charge(self.arm, idx, self.arm.rules.scheme.membership.fee)", "charge(self.arm, idx[:0], 0.0)",
      "test_members_pay_the_fee_on_joining_and_at_each_renewal"),
    m("fee-renewal", "the fee's renewal timing", "mechanics/membership.py",
      "% m.period_days == 0)", "% (m.period_days + 1) == 0)",
      "test_members_pay_the_fee_on_joining_and_at_each_renewal"),
    m("convenience", "membership convenience by experience motivation", "mechanics/membership.py",
      "conv = m.convenience_value_per_day * self.pop.experience[members]",
      "conv = m.convenience_value_per_day * 0.5 + 0.0 * self.pop.experience[members]",
      "test_membership_perks_are_worth_more_to_experience_minded_members"),
    # Data collection
    m("consent-privacy", "consent by privacy concern", "mechanics/data_collection.py",
      "np.exp(-pop.privacy[idx] * yearly[k] / data.privacy_scale)", "np.exp(-0.5 * yearly[k] / data.privacy_scale)",
      "test_members_consent_to_required_data_and_the_privacy_minded_to_less_optional_data"),
    m("consent-required", "required data is a condition of joining", "mechanics/data_collection.py",
      "consent = np.full(idx.size, rules.required_mask, np.uint8)", "consent = np.full(idx.size, 0, np.uint8)",
      "test_members_consent_to_required_data_and_the_privacy_minded_to_less_optional_data"),
    m("consent-optional", "optional data asked for", "mechanics/data_collection.py",
      "if (rules.requested_mask & bit) and not (rules.required_mask & bit):", "if False:",
      "test_members_consent_to_required_data_and_the_privacy_minded_to_less_optional_data"),
    m("privacy-cost", "privacy cost of shared data", "mechanics/data_collection.py",
      "pop.privacy, privacy_by_mask(arm.rules)", "pop.privacy, 0.0 * privacy_by_mask(arm.rules)",
      "test_shared_data_costs_the_privacy_minded_more"),
    # Motivations
    m("motive-outcome", "outcome motivation (price)", "population.py",
      'outcome=motiv["outcome"]', "outcome=np.full(n, 0.5, np.float32)",
      "test_member_prices_pull_outcome_minded_members_and_bring_out_the_card"),
    m("motive-experience", "experience motivation (convenience, friction)", "population.py",
      'experience=motiv["experience"]', "experience=np.full(n, 0.5, np.float32)",
      "test_membership_perks_are_worth_more_to_experience_minded_members"),
    m("motive-belonging", "belonging motivation (status)", "population.py",
      'belonging=motiv["belonging"]', "belonging=np.full(n, 0.5, np.float32)",
      "test_status_pulls_belonging_motivated_members"),
    m("motive-reward-seeking", "reward-seeking motivation", "population.py",
      'reward_seeking=motiv["reward_seeking"]', "reward_seeking=np.full(n, 0.5, np.float32)",
      "test_richer_rewards_draw_reward_seekers_to_shop_more"),
    m("motive-privacy", "privacy concern (consent)", "population.py",
      'privacy=motiv["privacy_concern"]', "privacy=np.full(n, 0.5, np.float32)",
      "test_members_consent_to_required_data_and_the_privacy_minded_to_less_optional_data"),
    # Choice
    m("reward-weight", "expected reward value in store choice", "behaviour.py",
      "c[K.C_REWARD_WEIGHT], c[K.C_REFERENCE_WEIGHT] = b.reward_weight, b.reference_weight",
      "c[K.C_REWARD_WEIGHT], c[K.C_REFERENCE_WEIGHT] = 0.0, b.reference_weight",
      "test_richer_rewards_draw_reward_seekers_to_shop_more"),
    m("goal-gradient-pull", "goal-gradient pull in store choice", "behaviour.py",
      "= gg.strength, gg.acceleration, gg.curvature", "= 0.0, gg.acceleration, gg.curvature",
      "test_a_reward_close_at_hand_pulls_members_to_shop_here"),
    m("goal-gradient-acceleration", "goal-gradient purchase acceleration", "behaviour.py",
      "= gg.strength, gg.acceleration, gg.curvature", "= gg.strength, 0.0, gg.curvature",
      "test_a_reward_close_at_hand_makes_members_shop_sooner"),
    m("join-by-value", "joining by the expected deal", "mechanics/enrolment.py",
      "z = en.value_sensitivity * expected_share(sc, pop, arm, idx) / en.value_scale",
      "z = 0.0 * expected_share(sc, pop, arm, idx) / en.value_scale",
      "test_a_worthless_scheme_recruits_fewer_than_a_valuable_one",
      "test_a_fee_deters_light_buyers_more_because_the_deal_is_judged_against_spend"),
    m("deal-against-spend", "the deal judged against the customer's own spend", "mechanics/enrolment.py",
      "/ np.maximum(spend, 1e-9)", "/ np.maximum(spend.mean(), 1e-9)",
      "test_a_fee_deters_light_buyers_more_because_the_deal_is_judged_against_spend"),
    m("join-per-visit", "every visit a chance to join (frequent shoppers join sooner)", "mechanics/enrolment.py",
      "p_till[at_till] = np.where(worth_joining(sc, pop, arm, shoppers[at_till]), en.join_rate_per_visit, 0.0)",
      "p_till[at_till] = np.where(worth_joining(sc, pop, arm, shoppers[at_till]), en.join_rate_per_visit * 0.3 / np.maximum(pop.need_rate[shoppers[at_till]] * 7, 0.3), 0.0)",
      "test_frequent_shoppers_join_sooner_because_every_visit_is_a_chance"),
    m("satisfaction", "satisfaction follows net value", "mechanics/enrolment.py",
      "mem.satisfaction[idx] = sigmoid(z).astype(np.float32)", "mem.satisfaction[idx] = 0.5",
      "test_satisfaction_follows_value_and_the_dissatisfied_leave"),
    m("leaving", "dissatisfied members leave", "mechanics/enrolment.py",
      "daily = 1.0 - (1.0 - en.leave_rate_per_year) ** (1 / 365)", "daily = 0.0",
      "test_satisfaction_follows_value_and_the_dissatisfied_leave"),
    m("referrals", "referrals bring members", "mechanics/enrolment.py",
      "en.referral_rate_per_year / 365", "0.0 / 365", "test_satisfied_members_refer_others_who_join"),
    m("defection-value", "scheme value lowers defection", "arms.py",
      "kernels.defect(today.day, today.spec.behaviour.defection_value_weight,", "kernels.defect(today.day, 0.0,",
      "test_members_the_scheme_serves_better_than_they_expect_defect_less_and_worse_more"),
    m("reference-weight", "felt value against the reference in store choice", "behaviour.py",
      "c[K.C_REWARD_WEIGHT], c[K.C_REFERENCE_WEIGHT] = b.reward_weight, b.reference_weight",
      "c[K.C_REWARD_WEIGHT], c[K.C_REFERENCE_WEIGHT] = b.reward_weight, 0.0",
      "test_a_scheme_worse_than_expected_drives_members_away_beyond_its_lower_value"),
    m("rewarded-behaviour", "a reward in hand in store choice", "behaviour.py",
      "c[K.C_REWARDED_WEIGHT] = b.rewarded_weight", "c[K.C_REWARDED_WEIGHT] = 0.0",
      "test_a_reward_in_hand_draws_reward_seekers_back"),
    m("join-threshold", "joining must beat the threshold (a scheme worth nothing recruits few)",
      "mechanics/enrolment.py", "return z > en.join_threshold", "return z > 0.0",
      "test_a_scheme_worth_nothing_recruits_almost_nobody"),
    m("awareness", "customers join only once aware of the scheme", "mechanics/enrolment.py",
      "mem.aware[unaware[draws.aware[unaware] < p_visit]] = True", "mem.aware[unaware] = True",
      "test_nobody_joins_a_scheme_they_have_not_heard_of"),
    m("loss-aversion", "a shortfall below the reference weighs more than a gain", "mechanics/enrolment.py",
      "SATISFACTION_EVERY_DAYS, b.loss_aversion, b.reference_scale,", "SATISFACTION_EVERY_DAYS, 1.0, b.reference_scale,",
      "test_a_shortfall_below_the_reference_weighs_more_than_an_equal_gain"),
    m("reference-adapts", "the reference adapts to what the scheme gives", "mechanics/enrolment.py",
      "r = 1.0 - np.exp(-SATISFACTION_EVERY_DAYS / b.reference_memory_days)", "r = 0.0",
      "test_the_reference_adapts_to_what_the_scheme_gives"),
    m("devaluation-felt", "a devaluation felt against the reference", "mechanics/enrolment.py",
      "mem.satisfaction[idx] = sigmoid(z).astype(np.float32)", "mem.satisfaction[idx] = 0.5",
      "test_a_devaluation_lowers_satisfaction_and_raises_dormancy_and_leaving"),
    m("dormancy", "members go dormant", "mechanics/enrolment.py",
      "stop = ~dormant & (u <", "stop = ~dormant & False & (u <",
      "test_dormant_members_stop_presenting_the_card_and_come_back",
      "test_a_devaluation_lowers_satisfaction_and_raises_dormancy_and_leaving"),
    m("dormant-present", "dormant members keep the card in the pocket", "behaviour.py",
      "rules.scheme.member_pricing is not None, mem.active, mem.consent",
      "rules.scheme.member_pricing is not None, mem.member, mem.consent",
      "test_dormant_members_stop_presenting_the_card_and_come_back"),
    m("reactivation", "dormant members come back", "mechanics/enrolment.py",
      "back = dormant & (u <", "back = dormant & False & (u <",
      "test_dormant_members_stop_presenting_the_card_and_come_back"),
    m("choice-surplus", "members' choice surplus from the scheme (welfare)", "arms.py",
      "self.trip_buffers, drawn, surplus)", "self.trip_buffers, drawn, None)",
      "test_choice_surplus_counts_what_the_scheme_is_worth_in_store_choice_and_its_friction"),
    m("points-valued-when-earned", "points count as value when earned", "mechanics/points.py",
      "        arm.net_value[idx] += worth(arm, idx, pts)", "        pass",
      "test_points_count_as_value_when_earned_not_when_redeemed"),
    m("habit-weight", "habit in store choice", "behaviour.py",
      "= b.habit_weight, sc.competition.price_advantage", "= 0.0, sc.competition.price_advantage",
      "test_habit_keeps_customers_here"),
    m("habit-learning", "habit follows where needs go", "behaviour.py",
      "return 1.0 - np.exp(-1.0 / np.maximum(sc.behaviour.habit_memory_days * pop.need_rate, 1.0))",
      "return 0.0 * pop.need_rate", "test_habit_follows_where_needs_go"),
    # Life events
    m("life-new-baby", "a new baby shifts the basket", "population.py",
      "mix[:, DRUG_GM] += 0.15", "mix[:, DRUG_GM] += 0.0",
      "test_a_new_baby_moves_spend_toward_drug_and_general_merchandise"),
    m("life-child-leaves", "a child leaving", "population.py",
      "ok = pop.children[c] > 0", "ok = pop.children[c] < 0", "test_a_child_leaving_shrinks_baskets"),
    m("life-move", "a move changes the nearest store", "population.py",
      "pop.preference[c] = factor[sel]", "pop.preference[c] = pop.preference[c]",
      "test_a_move_changes_how_much_a_customer_shops_here"),
    m("life-income", "an income change", "population.py",
      "pop.basket_mu[c] += np.log(factor[sel])", "pop.basket_mu[c] += 0.0",
      "test_an_income_change_moves_baskets_its_way"),
    m("life-retirement", "retirement", "population.py",
      "ok = ~pop.retired[c]", "ok = pop.retired[c]", "test_retirement_moves_trips_to_weekdays"),
    # Insight
    m("detection-app", "faster life-event detection with app data", "insight.py",
      'CONSENT_BIT["app"], CONSENT_BIT["demographics"], idx,', 'np.uint8(0), CONSENT_BIT["demographics"], idx,',
      "test_app_and_demographic_data_detect_life_events_in_fewer_trips"),
    m("detection-demographics", "faster life-event detection with demographics", "insight.py",
      'CONSENT_BIT["app"], CONSENT_BIT["demographics"], idx,', 'CONSENT_BIT["app"], np.uint8(0), idx,',
      "test_app_and_demographic_data_detect_life_events_in_fewer_trips"),
    m("insight-learning", "the business learns from linked trips", "arms.py",
      "insight.learn(sc, pop, self, card.idx,", "insight.learn(sc, pop, self, card.idx[:0],",
      "test_the_business_learns_from_linked_data"),
    m("forget-withdrawal", "a profile is deleted on consent withdrawal", "mechanics/enrolment.py",
      "            mem.consent[withdraw] = 0\n            mem.forget(withdraw)\n", "            mem.consent[withdraw] = 0\n",
      "test_withdrawing_consent_or_leaving_deletes_the_profile_and_a_required_consent_ends_membership"),
    m("promotion-pull", "an advertised promotion in the anticipated earn rate", "behaviour.py",
      "    c = with_promotion(kernel_constants(sc, rules), rules, day)", "    c = kernel_constants(sc, rules)",
      "test_an_advertised_promotion_draws_members_to_shop_here_inside_its_window_only"),
    m("required-consent", "withdrawing a required consent ends membership", "mechanics/enrolment.py",
      "        if arm.rules.required_mask:", "        if False:",
      "test_withdrawing_consent_or_leaving_deletes_the_profile_and_a_required_consent_ends_membership"),
    m("forget-leaving", "a profile is deleted on leaving", "mechanics/enrolment.py",
      "    mem.forget(idx)\n    arm.mem.satisfaction[idx] = 0.5", "    arm.mem.satisfaction[idx] = 0.5",
      "test_withdrawing_consent_or_leaving_deletes_the_profile_and_a_required_consent_ends_membership"),
    m("insight-consent", "insight ignores unconsented data", "insight.py",
      "np.log(np.maximum(value, 1e-3)), mem.consent,", "np.log(np.maximum(value, 1e-3)), mem.consent | np.uint8(1),",
      "test_the_business_learns_nothing_from_members_who_did_not_consent"),
    # The counterfactual
    m("cf-scheme-arm", "the counterfactual has no scheme", "model.py",
      "CounterfactualArm(pop, self.n_segments)]", "SchemeArm(pop, self.n_segments, scenario)]",
      "test_the_counterfactual_is_the_same_customers_with_no_scheme"),
    m("cf-copies-trips", "the counterfactual makes its own choices (copies baskets only)", "model.py",
      "trips = drawn = arm.go_shopping(", "trips = drawn = drawn if drawn is not None else arm.go_shopping(",
      "test_the_counterfactual_is_the_same_customers_with_no_scheme"),
    m("cf-own-draws", "common random numbers across the arms", "model.py",
      "            arm.ledger.reset()\n",
      "            arm.ledger.reset()\n            draws = draws if arm is self.arms[0] else self.streams.day()\n",
      "test_the_counterfactual_is_the_same_customers_with_no_scheme"),
    # Personalised challenges
    m("challenge-aim", "challenges aimed by what the business believes", "mechanics/challenges.py",
      "cat = today.believed_top_category(idx, day)", "cat = self.pop.categories[idx].argmax(axis=1).astype(np.int8)",
      "tests/test_challenges.py::test_challenges_are_aimed_from_what_the_business_believes_not_from_the_truth"),
    m("challenge-pull", "an open challenge in store choice", "mechanics/challenges.py",
      "        self.utility[idx] = c.pull *", "        self.utility[idx] = 0.0 *",
      "tests/test_challenges.py::test_an_open_challenge_pulls_members_to_shop_here"),
    m("challenge-bonus", "a challenge's bonus paid on reaching the target", "mechanics/challenges.py",
      "            self._pay(idx[self.progress[idx] >= self.target[idx]], day)", "            pass",
      "tests/test_challenges.py::test_reaching_the_target_pays_the_voucher_once_and_books_it_as_a_reward"),
    # Customers over time
    m("need-drift", "habits that drift (need rates around each customer's level)", "dynamics.py",
      "            self.dev = self.a * self.dev + self.sigma * np.sqrt(1.0 - self.a ** 2) * z",
      "            self.dev = self.dev",
      "tests/test_dynamics.py::test_drifting_habits_make_first_and_last_quarters_less_alike_and_off_restores_them"),
    m("calendar", "the calendar's seasons", "dynamics.py",
      "pop.season = self.calendar.factor(day) if self.calendar is not None else 1.0", "pop.season = 1.0",
      "tests/test_dynamics.py::test_a_week_the_calendar_closes_has_no_trips_and_a_doubled_week_about_twice_the_needs"),
    m("arrivals", "customers who arrive during the run", "model.py",
      "            arm.shop.alive[arrived] = True\n", "",
      "tests/test_dynamics.py::test_arrivals_join_the_customer_base_on_their_day_in_both_arms_and_not_before"),
    m("lapses", "spells away (no needs while away)", "dynamics.py",
      "            today[self.away] = 0.0  # away this week: no needs", "            pass",
      "tests/test_dynamics.py::test_spells_away_stop_needs_at_the_long_run_rate_and_customers_come_back"),
    m("lapse-return", "customers come back from a spell away", "dynamics.py",
      "np.where(self.away, u >= self.p_return, u < self.p_lapse)", "self.away | (u < self.p_lapse)",
      "tests/test_dynamics.py::test_spells_away_stop_needs_at_the_long_run_rate_and_customers_come_back"),
    m("top-up-visits", "several baskets a day", "kernels.py",
      "            b = 2\n            ratio", "            b = 1\n            ratio",
      "tests/test_dynamics.py::test_top_up_visits_add_baskets_at_the_stated_rate_alike_in_both_arms_and_leave_trips_as_they_were"),
    m("stamp-per-basket", "a stamp per basket, not per trip", "mechanics/stamps.py",
      "    mem.stamps[idx] += add.astype(mem.stamps.dtype)", "    mem.stamps[idx] += 1",
      "tests/test_mechanisms.py::test_a_top_up_visit_earns_its_own_stamp_and_costs_its_own_card_effort"),
    m("effort-per-visit", "card effort per visit", "mechanics/enrolment.py",
      "today.trips.card.visits()", "today.trips.card.idx",
      "tests/test_mechanisms.py::test_a_top_up_visit_earns_its_own_stamp_and_costs_its_own_card_effort"),
    # The verdict's statistics (their tests belong to results/; see the report if these survive)
    Mutant("stats-t-interval", "95% interval uses t(n-1), not 1.96", "loyaltysim/results/summary.py",
           "stats.t.ppf(0.975, n - 1)", "1.96", STATS),
    Mutant("stats-stocks", "a run's stock is its last day's level, not a sum", "loyaltysim/results/summary.py",
           "g[stocks].last()", "g[stocks].sum()", STATS),
)


def stale(root: Path, mutant: Mutant) -> str | None:
    """Why a mutant no longer applies (None if its snippet occurs exactly once)."""
    path = root / mutant.file
    if not path.exists():
        return "file missing"
    count = path.read_text().count(mutant.original)
    return None if count == 1 else f"snippet found {count} times"


def copy_repository(to: Path) -> Path:
    junk = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "*.egg-info", ".venv", ".hypothesis",
                                  ".ruff_cache", ".import_linter_cache")

    def ignore(folder, names):  # results/ at the top holds runs; loyaltysim/results/ is code
        return junk(folder, names) | ({"results"} if Path(folder) == ROOT else set())

    return Path(shutil.copytree(ROOT, to / "repo", ignore=ignore))


def pytest(repo: Path, selection: tuple[str, ...], env: dict) -> tuple[bool, str]:
    """Run a test selection against the copy: (passed, the tail of its output)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *selection],
                          cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode == 5:
        raise SystemExit(f"no test matches {' '.join(selection)}")
    return done.returncode == 0, (done.stdout + done.stderr).strip().splitlines()[-1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and whether each still applies")
    args = parser.parse_args(argv)
    known = {mu.id for mu in MUTANTS}
    assert len(known) == len(MUTANTS), "mutant ids must be unique"
    chosen = [mu for mu in MUTANTS if not args.only or mu.id in args.only]
    if args.only and set(args.only) - known:
        parser.error(f"unknown mutant: {', '.join(sorted(set(args.only) - known))}")
    if args.list:
        for mu in chosen:
            print(f"{mu.id:28} {stale(ROOT, mu) or 'applies':22} {mu.mechanism}  [{mu.file}]")
        return 0
    with tempfile.TemporaryDirectory(prefix="loyaltysim-mutants-") as tmp:
        repo = copy_repository(Path(tmp))
        env = {**os.environ, "PYTHONPATH": str(repo), "NUMBA_CACHE_DIR": str(repo / ".numba-cache")}
        env.pop("PYTEST_ADDOPTS", None)
        where = subprocess.run([sys.executable, "-c", "import loyaltysim; print(loyaltysim.__file__)"],
                               cwd=Path(tmp), env=env, capture_output=True, text=True).stdout
        assert where.startswith(str(repo)), f"the copy is not the package imported: {where}"
        # The unmutated copy must pass every selection (this also compiles the kernels once).
        ours = tuple(sorted({s for mu in chosen for s in mu.selection if s.startswith(T)}))
        others = sorted({mu.selection for mu in chosen if not mu.selection[0].startswith(T)})
        for selection in [ours] * bool(ours) + others:
            start = time.monotonic()
            ok, tail = pytest(repo, selection, env)
            print(f"baseline: {'passed' if ok else 'FAILED'} in {time.monotonic() - start:.0f} s {' '.join(tail)}",
                  flush=True)
            if not ok:
                return 2
        rows = []
        for mu in chosen:
            start = time.monotonic()
            why = stale(repo, mu)
            if why:
                rows.append((mu, "STALE", 0.0, why))
                print(f"{mu.id}: STALE ({why})", flush=True)
                continue
            path = repo / mu.file
            keep = Path(tmp) / "original"
            shutil.copy2(path, keep)
            try:
                path.write_text(path.read_text().replace(mu.original, mu.replacement))
                passed, tail = pytest(repo, mu.selection, env)
            finally:
                shutil.copy2(keep, path)
            result = "survived" if passed else "caught"
            rows.append((mu, result, time.monotonic() - start, " ".join(tail)))
            print(f"{mu.id}: {result} in {rows[-1][2]:.0f} s", flush=True)
    width = max(len(mu.id) for mu in chosen)
    mwidth = max(len(mu.mechanism) for mu in chosen)
    print(f"\n{'id':{width}}  {'mechanism':{mwidth}}  {'result':8}  seconds")
    for mu, result, seconds, _ in rows:
        print(f"{mu.id:{width}}  {mu.mechanism:{mwidth}}  {result:8}  {seconds:7.1f}")
    caught = sum(r[1] == "caught" for r in rows)
    print(f"\nscore: {caught}/{len(rows)} caught"
          f" ({sum(r[1] == 'survived' for r in rows)} survived, {sum(r[1] == 'STALE' for r in rows)} stale)")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
