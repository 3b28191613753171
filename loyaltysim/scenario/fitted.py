"""Behavioural weights fitted to published causal targets by ``python -m loyaltysim.evidence.fit``.
Written by that command; do not edit by hand (run it again). The schema's defaults read these.
"""

FITTED: dict[str, float] = {
    'scheme.enrolment.card_presentation': 0.85,
    'scheme.enrolment.value_sensitivity': 1.0,
    'behaviour.reward_weight': 6.0,
}
