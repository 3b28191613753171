"""Behavioural weights fitted to published causal targets by ``python -m loyaltysim.evidence.fit``
(20,000 customers x 2 replications of supermarket_points, common random numbers).
Written by that command; do not edit by hand (run it again). The schema's defaults read these.

member_sales_share: 0.8486 (target 0.85, band 0.8 to 0.9)
self_selection: 7.08 (target 7, band 4 to 12)
incentive_sales: 0.0177 (target 0.0174, band 0.005 to 0.03)
"""

FITTED: dict[str, float] = {
    'scheme.enrolment.value_sensitivity': 7.074,
    'scheme.enrolment.join_rate_per_visit': 0.984,
    'behaviour.reward_weight': 5.623,
}
