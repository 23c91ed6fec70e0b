"""A command's coroutine hears a Ctrl-C (or a part's parent-death signal) as one stop, however
often it comes at once, and ends its work cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

SCRIPT = """
import asyncio, os, signal
from fraudlab.cli_context import run_async

async def work():
    print("started", flush=True)
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        # a dying supervisor's parent-death signal comes again, once per thread
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(0.3)
        print("ended cleanly", flush=True)
        raise

try:
    run_async(work())
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_a_repeated_sigint_is_the_same_stop_and_the_work_ends_cleanly() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "started"
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert out.split() == ["ended", "cleanly", "interrupted"], err
