"""A summary of the notebooks executed, at the end of the test session's report: each
notebook, its cells and its wall time (what ``test_notebooks_execute`` records)."""

from __future__ import annotations

import pytest

EXECUTED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        EXECUTED.extend(str(v) for k, v in report.user_properties if k == "notebook")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if EXECUTED:
        terminalreporter.write_sep("=", "notebooks executed")
        for line in EXECUTED:
            terminalreporter.write_line(line)
