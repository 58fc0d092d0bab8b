"""Shared fixtures: real servers on free loopback ports, stopped after the session."""

pytest_plugins = ["tests.fixtures.redis", "tests.fixtures.prometheus"]
