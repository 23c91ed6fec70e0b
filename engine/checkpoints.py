"""What a run's checkpoints were written with, recorded beside them and checked on restart.

The scoring query's state is keyed by a bucket of the customer id, so the bucket count is part
of the meaning of the state: a restart with another count would look every customer up in the
wrong bucket. It is written to ``<checkpoints>/engine.json`` when the run's checkpoints are
created, and a restart with a different count is refused.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp()) / "r1"
>>> record_state_buckets(folder, "r1", 32)
>>> record_state_buckets(folder, "r1", 32)
>>> record_state_buckets(folder, "r1", 16)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
fraudlab.errors.UsageError: run r1's engine checkpoints were written with 32 state buckets, ...
"""

from __future__ import annotations

import json
from pathlib import Path

from fraudlab.errors import UsageError

RECORD_FILE = "engine.json"
# what a bucket's state holds (engine.bucket_fold.BucketState); another layout cannot be resumed
STATE_FORMAT = "customers+pending+frontier+element"


def record_state_buckets(checkpoints: Path, run_id: str, buckets: int) -> None:
    """Record ``buckets`` beside a run's checkpoints, or check it against the recorded count."""
    path = checkpoints / RECORD_FILE
    try:
        recorded = json.loads(path.read_text())["state_buckets"]
    except FileNotFoundError:
        checkpoints.mkdir(parents=True, exist_ok=True)
        record = {"state_buckets": buckets, "state_format": STATE_FORMAT}
        path.write_text(json.dumps(record) + "\n")
        return
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UsageError(
            f"{path} is unreadable: remove {checkpoints} to score run {run_id} again "
            "from the start."
        ) from None
    layout = json.loads(path.read_text()).get("state_format")
    if layout != STATE_FORMAT:
        raise UsageError(
            f"run {run_id}'s engine checkpoints were written by an engine that kept another "
            f"state ({layout or 'customers only'}): remove {checkpoints} to score it again "
            "from the start."
        )
    if recorded != buckets:
        raise UsageError(
            f"run {run_id}'s engine checkpoints were written with {recorded} state buckets, "
            f"not {buckets}: set engine_state_buckets = {recorded} to resume it (or remove "
            f"{checkpoints} to score it again from the start)."
        )
