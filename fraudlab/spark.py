"""The one place that builds a SparkSession.

``local[*]`` by default, any master (standalone, YARN, Kubernetes) by settings alone; Spark's
Kafka connector comes from the jars Maven resolved into ``jvm/lib/spark`` (never downloaded at
run time); small shuffle partitions, UTC session time, RocksDB state store, UI off unless asked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fraudlab.broker import java_executable
from fraudlab.class_archives import dumping_options, sharing_options
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


LOG4J2 = Path(__file__).with_name("spark-log4j2.properties")

# The JIT of a JVM that should answer soon rather than run long at its peak: C1 alone. On two
# cores, the C2 compiler's work competes with the first micro-batch of a fresh engine (which
# folds in every customer profile). Measured on two cores: that micro-batch's trigger took 6.4 s
# with both tiers and 4.7 s with C1 alone, 3.0 s either way once warm. But C1's code is slower:
# the live engine sustained 8,000 events/s with C1 alone (not 9,510) against 16,000 with both
# tiers (make bench), and a `run history --minutes 190 --fast` (1,044,324 events) took 111 s
# against 95 s. So both tiers stay the default; `spark_live_quick_start` trades for the sooner
# first scores where the rate is low (a demo on a laptop).
# C1 alone makes the JVM reserve 48 MB for compiled code, not the 240 MB of both tiers: a live
# engine filled it about a minute into a run ("CodeCache is full. Compiler has been disabled."),
# and from then on ran new code in the interpreter. It keeps the 240 MB.
QUICK_START_JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=240m")


def connector_jars(lib_dir: Path) -> list[Path]:
    """The jars of Spark's Kafka connector; a UsageError when they were never resolved."""
    jars = sorted((lib_dir / "spark").glob("*.jar"))
    if not any(j.name.startswith("spark-sql-kafka") for j in jars):
        raise UsageError(
            f"Spark's Kafka connector is missing from {lib_dir / 'spark'}: run `make setup` first."
        )
    return jars


def spark_conf(settings: Settings, app_name: str, quick_start: bool = False) -> dict[str, str]:
    """The Spark configuration fraudlab runs with, as plain key/value pairs.

    ``quick_start``: the JVMs (driver, and executors on a cluster) JIT with C1 alone
    (:data:`QUICK_START_JAVA_OPTIONS`), for a live engine whose first scores matter more than
    its peak rate. The driver maps the class-data-sharing archive of Spark's JVM when there is
    one (:mod:`fraudlab.class_archives`), or, with ``settings.jvm_class_dump``, writes one there
    as it exits (see :func:`stop_and_wait_for_jvm`).
    """
    class_dump = settings.jvm_class_dump
    jars = ",".join(str(j) for j in connector_jars(settings.jvm_lib_dir))
    java_options = f"-Dlog4j2.configurationFile={LOG4J2}"
    if quick_start:
        java_options += " " + " ".join(QUICK_START_JAVA_OPTIONS)
    classes = (
        dumping_options(class_dump)
        if class_dump is not None
        else sharing_options(settings.jvm_lib_dir, "spark", settings.jvm_class_archives)
    )
    driver_options = " ".join([java_options, *classes])
    return {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.jars": jars,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.default.parallelism": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": str(settings.spark_ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        # each micro-batch uploads what changed in the state, not a snapshot of all of it
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.executorEnv.PYTHONHASHSEED": "0",
        # pandas deprecation chatter from pyspark's own serializers, not from fraudlab
        "spark.executorEnv.PYTHONWARNINGS": "ignore::FutureWarning",
        "spark.driver.extraJavaOptions": driver_options,
        "spark.executor.extraJavaOptions": java_options,
        # workers forked from a daemon that has the scoring libraries imported already
        "spark.python.daemon.module": "fraudlab.python_workers",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }


def build_spark_session(
    settings: Settings, app_name: str = "fraudlab", quick_start: bool = False
) -> SparkSession:
    """A SparkSession configured by ``settings`` (an existing one is reused by Spark);
    ``quick_start`` as in :func:`spark_conf`."""
    java = java_executable()
    os.environ.setdefault("JAVA_HOME", str(Path(java).resolve().parent.parent))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name, quick_start).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # py4j and pyspark raise plain exceptions when the JVM fails
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise FraudlabError(
            f"Spark failed to start with master {settings.spark_master}: {first}"
        ) from None


# how long a JVM that writes its class archive as it exits may take to do so (Spark's: 180 MiB)
JVM_EXIT_LIMIT_S = 300.0


def stop_and_wait_for_jvm(spark: SparkSession, limit_s: float = JVM_EXIT_LIMIT_S) -> None:
    """Stop ``spark`` and wait for its driver JVM to exit, which a JVM started with
    ``settings.jvm_class_dump`` spends writing its class archive: without the wait, this
    process would end first and the archive be left half written. The JVM exits when its
    standard input ends; it is killed after ``limit_s`` seconds."""
    import subprocess

    jvm = getattr(spark.sparkContext._gateway, "proc", None)
    spark.stop()
    if jvm is None or jvm.stdin is None:
        return
    jvm.stdin.close()
    try:
        jvm.wait(limit_s)
    except subprocess.TimeoutExpired:
        jvm.kill()
