"""Test-suite wide settings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Machines here are shared and noisy: timing is measured in benchmarks/, never asserted in tests.
settings.register_profile("xrai", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("xrai"), max_examples=50, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "xrai")
