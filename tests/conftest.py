"""Shared pytest set-up. Area-specific fixtures live in tests/<area>/conftest.py or tests/support/."""

pytest_plugins = ["tests.support.k8s_fixtures"]
