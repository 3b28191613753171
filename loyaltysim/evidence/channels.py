"""Where a scheme's incremental sales come from: each behavioural channel switched off in turn, on the same
random numbers, and the sales it was worth.

``python -m loyaltysim.evidence.channels [SCENARIO] [--customers N] [--replications R]`` runs the scenario
as it is and once per channel with that channel alone switched off (every other setting and every random
draw the same), and prints the incremental sales (scheme minus counterfactual, over the counterfactual)
of each, and what switching the channel off took away. Channels interact, so their parts need not add up
to the whole; the line "all channels off" says what is left (what the card itself does: the members it
recruits still earn and redeem, and their vouchers are money off).
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from loyaltysim.evidence import statistics as S
from loyaltysim.evidence.observe import simulate_replicate
from loyaltysim.scenario.loading import load_scenario
from loyaltysim.scenario.shipped import resolve

CHANNELS: dict[str, dict] = {
    "anticipated rewards (reward_weight)": {"behaviour.reward_weight": 0.0},
    "rewarded behaviour (rewarded_weight)": {"behaviour.rewarded_weight": 0.0},
    "goal gradient (pull and acceleration)": {"scheme.goal_gradient.strength": 0.0,
                                              "scheme.goal_gradient.acceleration": 0.0},
    "felt value against the reference (reference_weight)": {"behaviour.reference_weight": 0.0},
    "defection by felt value (defection_value_weight)": {"behaviour.defection_value_weight": 0.0},
    "offers' promised saving": {"scheme.offers.expected_basket_share": 1e-9},
}
"""Each channel and the overrides that switch it off (and nothing else)."""


def _uplift(args: tuple[str, dict, int, int]) -> float:
    scenario, overrides, customers, replicate = args
    sc = load_scenario(resolve(scenario), {**overrides, "customers": customers})
    rep = simulate_replicate(sc, replicate)
    cf = S.arm_totals(rep, "counterfactual")["sales"]
    return S.ratio(S.arm_totals(rep, "scheme")["sales"] - cf, cf)


def decompose(scenario: str = "supermarket_points", customers: int = 20_000, replications: int = 2,
              workers: int = 2) -> dict[str, float]:
    """Incremental sales over the run: as it is, with each channel off, and with all of them off."""
    sc = load_scenario(resolve(scenario))
    channels = {k: v for k, v in CHANNELS.items()
                if not (k.startswith("offers") and sc.scheme.offers is None)}
    runs = {"as it is": {}, **channels, "all channels off": {k: v for o in channels.values() for k, v in o.items()}}
    jobs = [(scenario, over, customers, r) for over in runs.values() for r in range(replications)]
    with ProcessPoolExecutor(workers) as pool:
        values = list(pool.map(_uplift, jobs))
    per = np.array(values).reshape(len(runs), replications).mean(axis=1)
    return dict(zip(runs, per))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loyaltysim.evidence.channels", description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", nargs="?", default="supermarket_points")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    out = decompose(a.scenario, a.customers, a.replications, a.workers)
    whole = out["as it is"]
    print(f"{a.scenario}: incremental sales over the run ({a.customers:,} customers x {a.replications} replications)")
    for name, v in out.items():
        part = "" if name == "as it is" else f"   (switching it off takes {100 * (whole - v):+.2f} points)"
        print(f"  {name:55s} {100 * v:6.2f}%{part}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
