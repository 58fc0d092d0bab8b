"""Shared fixtures: real servers on free loopback ports, stopped after the session."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.prometheus",
    "tests.fixtures.victoria",
]
