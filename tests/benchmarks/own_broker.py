"""A benchmark's own broker and folders: a local KRaft broker on a free port in a temporary
folder, and the settings that point every part of fraudlab at them."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fraudlab.broker import LocalBroker
from fraudlab.net import free_port
from fraudlab.settings import Settings


@contextmanager
def own_broker(
    base: Settings, prefix: str, **more: Any
) -> Iterator[tuple[Path, LocalBroker, Settings]]:
    """``with own_broker(base, "bench-x-") as (folder, broker, settings):`` a broker started in
    a temporary ``folder`` (and stopped, the folder removed, at the end), and ``base`` with the
    broker, checkpoints, archive and broker data there, Spark's UI off and ``more`` (a setting
    name -> its value) on top. Spark's local folders go there too, unless set already."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        folder = Path(tmp)
        os.environ.setdefault("SPARK_LOCAL_DIRS", str(folder / "spark"))
        broker = LocalBroker(folder / "kafka", free_port(), base.jvm_lib_dir, heap="1g")
        print(f"starting a broker at {broker.bootstrap} ...", file=sys.stderr, flush=True)
        broker.up()
        try:
            settings = base.model_copy(
                update={
                    "bootstrap_servers": broker.bootstrap,
                    "checkpoint_dir": folder / "checkpoints",
                    "archive_dir": folder / "archive",
                    "broker_data_dir": folder / "kafka",
                    "spark_ui": False,
                    **more,
                }
            )
            yield folder, broker, settings
        finally:
            broker.down()
