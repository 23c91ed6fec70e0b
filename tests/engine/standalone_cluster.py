"""A Spark standalone cluster (one master, one worker) on loopback, from the installed pyspark."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyspark

from fraudlab.net import free_port, port_in_use

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(SPARK_CLASS), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


@contextmanager
def standalone_cluster(work_dir: Path, cores: int = 2, memory: str = "2g") -> Iterator[str]:
    """Yields the master URL of a running cluster; stops both processes afterwards."""
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_CLASS.parent.parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(work_dir / "work"),
    }
    port = free_port()
    master = _start(
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(free_port()),
        ],
        work_dir / "master.log",
        env,
    )
    url = f"spark://127.0.0.1:{port}"
    worker = None
    try:
        deadline = time.monotonic() + 90
        while not port_in_use(port):
            if master.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Spark master did not start: {work_dir / 'master.log'}")
            time.sleep(0.5)
        worker = _start(
            [
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                str(cores),
                "--memory",
                memory,
                "--webui-port",
                str(free_port()),
            ],
            work_dir / "worker.log",
            env,
        )
        while "Successfully registered with master" not in (work_dir / "worker.log").read_text(
            errors="replace"
        ):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Spark worker did not register: {work_dir / 'worker.log'}")
            time.sleep(0.5)
        yield url
    finally:
        for proc in (worker, master):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
