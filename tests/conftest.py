import os

from hypothesis import HealthCheck, settings

# "ci" keeps the default run short on 2 cores; SEQCORE_HYPOTHESIS=thorough
# runs many more examples.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("SEQCORE_HYPOTHESIS", "ci"))
