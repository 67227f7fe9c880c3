"""The outbox tests' ``env`` fixture, shared by every module in this package."""

from .test_outbox import env  # noqa: F401
