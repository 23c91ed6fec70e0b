"""A served copy of the views (``fraudlab serve`` in its own process) and a headless Chromium,
for the browser tests and the views benchmark."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from fraudlab.net import free_port
from fraudlab.settings import REPO_ROOT

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class ServedViews:
    """A ``fraudlab serve`` process on a free loopback port."""

    def __init__(
        self,
        archive_dir: Path,
        bootstrap: str,
        log: Path,
        address: str | None = None,
        settings_file: Path | None = None,
    ) -> None:
        """``address``: what ``fraudlab serve --address`` binds (default its own, loopback);
        ``settings_file``: the settings the server (and the runs it starts) use besides."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "FRAUDLAB_ARCHIVE_DIR": str(archive_dir),
            "FRAUDLAB_BOOTSTRAP_SERVERS": bootstrap,
        }
        if settings_file is not None:
            env["FRAUDLAB_SETTINGS_FILE"] = str(settings_file)
        fraudlab = Path(sys.executable).with_name("fraudlab")
        self.log = log
        self.process = subprocess.Popen(
            [
                str(fraudlab),
                "serve",
                "--port",
                str(self.port),
                *(["--address", address] if address else []),
            ],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        self._wait_until_serving()

    def _wait_until_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fraudlab serve ended: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"fraudlab serve did not answer in {timeout} s: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def chrome() -> Any:
    """A headless Chromium driven through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        raise RuntimeError("headless Chromium is missing: `make setup` installs it and its driver")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1300,1900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Debian's driver, named explicitly: selenium never looks for or downloads one of its own
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
