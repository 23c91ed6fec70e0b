"""Producer throughput: ``fraudlab produce --fast`` against Kafka's own Java producer perf test.

Side by side, on one broker this script starts: Kafka's ProducerPerformance tool at the same
record size, acks=all and idempotence; the batched aiokafka publisher alone (messages generated
beforehand) under a few batching settings, which is how the defaults were chosen; and the whole
``produce --fast`` path, simulation included. Prints rates and ratios; ``--json PATH`` writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fraudlab.broker import TOOLS, LocalBroker, java_executable, kafka_classpath
from fraudlab.kafka_io import ProducerTuning, create_topics
from fraudlab.net import free_port
from fraudlab.publisher import Publisher
from fraudlab.settings import load_settings
from simulator.clock import DEFAULT_START
from simulator.producer import produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

GOAL = 0.25
# the first is the default (fraudlab.kafka_io.DEFAULT_TUNING): the others are why
TUNINGS = {
    "zstd, linger 20 ms, 256 KiB": ProducerTuning(20, 256 * 1024, "zstd"),
    "lz4, linger 20 ms, 256 KiB": ProducerTuning(20, 256 * 1024, "lz4"),
    "none, linger 20 ms, 256 KiB": ProducerTuning(20, 256 * 1024, None),
    "lz4, linger 5 ms, 64 KiB": ProducerTuning(5, 64 * 1024, "lz4"),
}


def java_perf_test(
    bootstrap: str, lib_dir: Path, topic: str, records: int, size: int, compression: str
) -> float:
    """Records per second of Kafka's ProducerPerformance tool."""
    cmd = [
        java_executable(),
        "-Xmx512m",
        "-cp",
        kafka_classpath(lib_dir),
        TOOLS["producer-perf-test"],
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
        "enable.idempotence=true",
        "linger.ms=20",
        "batch.size=262144",
        f"compression.type={compression}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    last = [line for line in out.splitlines() if "records sent" in line][-1]
    return float(re.search(r"([\d.]+) records/sec", last).group(1))  # type: ignore[union-attr]


async def publish_only(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], tuning: ProducerTuning
) -> float:
    """Messages per second of the batched publisher over pre-built messages."""
    publisher = Publisher(bootstrap, tuning)
    await publisher.start()
    started = time.perf_counter()
    for key, value in messages:
        await publisher.send(topic, key, value, None)
    await publisher.close()
    return len(messages) / (time.perf_counter() - started)


async def produce_fast(bootstrap: str, minutes: float) -> tuple[float, int]:
    scenario = load_scenario("baseline", Path("scenarios"))
    sim = Simulation(scenario, 7, DEFAULT_START, minutes)
    details = run_details(scenario.text, scenario.name, 7, DEFAULT_START, minutes, None)
    started = time.perf_counter()
    report = await produce_run(
        sim, DEFAULT_START, f"bench-{time.time_ns()}", bootstrap, 2, None, details=details
    )
    return report.total / (time.perf_counter() - started), report.total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated minutes to produce")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(Path(tmp), free_port(), settings.jvm_lib_dir, heap="1g")
        broker.up()
        try:
            figures = asyncio.run(_measure(broker, settings.jvm_lib_dir, args.minutes))
        finally:
            broker.down()
    figures["cores"] = os.cpu_count()
    figures["goal"] = GOAL
    print(
        f"\nproduce --fast: {figures['produce_fast_per_s']:,.0f} msg/s; Java perf test "
        f"{figures['java_per_s']:,.0f} msg/s at {figures['record_size']} B -> ratio "
        f"{figures['ratio']:.2f} (goal {GOAL})"
    )
    print(
        "limits: one Python thread builds every record (simulation and JSON) and every batch; "
        "the Java tool only copies a fixed payload."
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


async def _measure(broker: LocalBroker, lib_dir: Path, minutes: float) -> dict[str, Any]:
    scenario = load_scenario("baseline", Path("scenarios"))
    sample = [(m.key, m.value) for m in Simulation(scenario, 11, DEFAULT_START, minutes).messages()]
    size = round(sum(len(v) for _, v in sample) / len(sample))
    figures: dict[str, Any] = {"record_size": size, "messages": len(sample), "tunings": {}}
    for label, tuning in TUNINGS.items():
        topic = f"bench.publish.{time.time_ns()}"
        await create_topics(broker.bootstrap, [topic], 2)
        rate = await publish_only(broker.bootstrap, topic, sample, tuning)
        figures["tunings"][label] = rate
        print(f"publisher alone, {label:<28} {rate:>10,.0f} msg/s", flush=True)
    topic = f"bench.java.{time.time_ns()}"
    await create_topics(broker.bootstrap, [topic], 2)
    # five times the records, so the JVM's warm-up does not hold the reference back; the
    # reference is the faster of Java with the same compression and Java without any
    java_rates = {}
    for compression in ("zstd", "none"):
        java_rates[compression] = java_perf_test(
            broker.bootstrap, lib_dir, topic, 5 * len(sample), size, compression
        )
        print(
            f"Java ProducerPerformance ({compression:<4})         "
            f"{java_rates[compression]:>10,.0f} msg/s",
            flush=True,
        )
    java = max(java_rates.values())
    figures["java_by_compression"] = java_rates
    fast, total = await produce_fast(broker.bootstrap, minutes)
    print(f"produce --fast (simulation included)    {fast:>10,.0f} msg/s ({total:,} messages)")
    figures.update(
        java_per_s=java,
        produce_fast_per_s=fast,
        ratio=fast / java,
        publisher_ratio=figures["tunings"][next(iter(TUNINGS))] / java,
    )
    return figures


if __name__ == "__main__":
    sys.exit(main())
