"""Example counts for the property tests that ask for more (or fewer) examples than their
profile's default (tests/conftest.py): the count is the one the full suite runs (the ``ci``
profile, ``.ci/run``); the quick loop's ``dev`` profile runs the same share of it as of the
default count (12 of 40: 150 → 45)."""

from __future__ import annotations

from hypothesis import settings


def examples(ci: int) -> int:
    """``ci`` examples under the ci profile, the loaded profile's share of them otherwise."""
    full = settings.get_profile("ci").max_examples
    return max(1, round(ci * settings.default.max_examples / full))
