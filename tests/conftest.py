import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "gradflow",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gradflow"))
