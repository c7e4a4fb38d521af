import os

import pytest
from hypothesis import HealthCheck, settings

# Two hypothesis profiles: "dev" (the default, for the quick loop on a laptop: few examples
# per property) and "ci" (the full counts; .ci/run sets HYPOTHESIS_PROFILE=ci). Neither is
# derandomized: every run draws new examples, so even the quick loop keeps exploring.
_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=12, **_COMMON)
settings.register_profile("ci", max_examples=40, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# A test that needs an outside component (Chromium, ruff, a second user, two cores) skips
# on a developer's machine with a reason starting "needs ". In CI (.ci/run sets
# GRADFLOW_CI=1) the component is installed on purpose, so such a skip is a failure.
COMPONENT_SKIP = "needs "


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get("GRADFLOW_CI") == "1"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if reason.startswith(COMPONENT_SKIP):
        report.outcome = "failed"
        report.longrepr = f"CI must provide what this test {reason} (GRADFLOW_CI=1)"
