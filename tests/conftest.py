"""Shared test configuration: the claim plugin and deterministic Hypothesis profiles."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["lora_theorems.pytest_plugin"]

# CI: derandomized, no example database, so every run sees the same examples.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
