"""How a producer's wait for the broker is shown: bounded lines in a log, one line when back."""

from __future__ import annotations

import io

from rich.console import Console

from fraudlab.progress import WAIT_LINE_EVERY_S, BrokerWaitStatus
from fraudlab.publisher import BrokerWait


def test_a_45_s_outage_in_a_log_is_a_line_every_10_s_and_one_when_the_broker_is_back() -> None:
    out = io.StringIO()
    now = [0.0]
    status = BrokerWaitStatus(console=Console(file=out, width=200), clock=lambda: now[0])
    for second in range(3, 49):  # the publisher reports each second from the third on
        now[0] = float(second)
        status(BrokerWait("127.0.0.1:9092", float(second), 594, 120.0))
    status(None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5 + 1  # at 3, 13, 23, 33 and 43 s, then the end
    assert lines[0] == (
        "broker at 127.0.0.1:9092 unreachable for 3 s; 594 messages waiting (gives up at 120 s)"
    )
    assert all(f"for {3 + 10 * i} s" in lines[i] for i in range(5))
    assert lines[-1] == "broker back: acknowledging again after 48 s"
    assert WAIT_LINE_EVERY_S == 10.0


def test_a_second_outage_is_reported_afresh() -> None:
    out = io.StringIO()
    now = [0.0]
    status = BrokerWaitStatus(console=Console(file=out, width=200), clock=lambda: now[0])
    for outage_starts in (0.0, 5.0):
        now[0] = outage_starts + 3
        status(BrokerWait("b:9092", 3.0, 1, 120.0))
        status(None)
    assert (
        out.getvalue().splitlines()
        == [
            "broker at b:9092 unreachable for 3 s; 1 messages waiting (gives up at 120 s)",
            "broker back: acknowledging again after 3 s",
        ]
        * 2
    )


def test_no_outage_no_line() -> None:
    out = io.StringIO()
    BrokerWaitStatus(console=Console(file=out))(None)
    assert out.getvalue() == ""
