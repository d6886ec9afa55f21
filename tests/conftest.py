"""Fixtures for the whole suite live in tests/harness/, one module per real part."""

pytest_plugins = [
    "tests.harness.postgres",
    "tests.harness.mosquitto",
    "tests.harness.nats",
]
