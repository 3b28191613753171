import sys
from pathlib import Path

# Test helpers live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # hypothesis is in the test extra; without it the property tests are not collected
    pass
else:
    # CI skips shrinking (slow for scenarios this rich): a failure prints the full scenario instead.
    settings.register_profile("ci", max_examples=200, deadline=None,
                              phases=[p for p in Phase if p != Phase.shrink],
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=2000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("ci")
