"""Errors a user can cause: each carries one sentence and the exit code the CLI ends with."""

from __future__ import annotations


class FraudlabError(Exception):
    """A mistake or condition the user can fix; printed as one line, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(FraudlabError):
    """A bad argument, option or input file."""

    exit_code = 2


class BrokerUnavailable(FraudlabError):
    """No Kafka broker answers at the configured address."""


class JavaMissing(FraudlabError):
    """No Java runtime to start the broker or Spark with."""
