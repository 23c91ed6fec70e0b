"""Class-data-sharing archives: which JVM options map or write them, and a JVM given an archive
that does not fit it runs as without one, silently (fraudlab.class_archives)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fraudlab.broker import LocalBroker, java_executable
from fraudlab.class_archives import archive_path, dumping_options, sharing_options
from fraudlab.settings import Settings
from fraudlab.spark import spark_conf


def _lib_dir(tmp_path: Path, *kinds: str) -> Path:
    lib = tmp_path / "lib"
    (lib / "spark").mkdir(parents=True)
    (lib / "spark" / "spark-sql-kafka-0-10_2.13-4.2.0.jar").write_bytes(b"")
    for kind in kinds:
        path = archive_path(lib, kind)  # type: ignore[arg-type]
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"archive")
    return lib


def test_an_archive_is_mapped_when_it_exists_and_the_setting_allows(tmp_path: Path) -> None:
    lib = _lib_dir(tmp_path, "spark")
    mapped = f"-XX:SharedArchiveFile={archive_path(lib, 'spark')}"
    assert mapped in sharing_options(lib, "spark")
    assert sharing_options(lib, "kafka") == []  # no archive of Kafka's JVM there
    assert sharing_options(lib, "spark", enabled=False) == []


def test_the_spark_driver_maps_its_archive_or_writes_one(tmp_path: Path) -> None:
    lib = _lib_dir(tmp_path, "spark")
    settings = Settings(jvm_lib_dir=lib)
    driver = spark_conf(settings, "t")["spark.driver.extraJavaOptions"].split()
    assert f"-XX:SharedArchiveFile={archive_path(lib, 'spark')}" in driver
    # executors (on a cluster) run other class paths: they are left alone
    executor = spark_conf(settings, "t")["spark.executor.extraJavaOptions"].split()
    assert not any("Archive" in o for o in executor)
    off = spark_conf(Settings(jvm_lib_dir=lib, jvm_class_archives=False), "t")
    assert not any("Archive" in o for o in off["spark.driver.extraJavaOptions"].split())
    dump = tmp_path / "out.jsa"
    dumping = settings.model_copy(update={"jvm_class_dump": dump})
    writing = spark_conf(dumping, "t")["spark.driver.extraJavaOptions"].split()
    assert f"-XX:ArchiveClassesAtExit={dump}" in writing
    assert not any(o.startswith("-XX:SharedArchiveFile") for o in writing)


def test_a_broker_maps_kafka_s_archive_unless_told_to_write_one(tmp_path: Path) -> None:
    lib = _lib_dir(tmp_path, "kafka")
    broker = LocalBroker(tmp_path / "data", 9, lib)
    assert f"-XX:SharedArchiveFile={archive_path(lib, 'kafka')}" in broker._class_options()
    assert LocalBroker(tmp_path / "data", 9, lib, share_classes=False)._class_options() == []
    dump = tmp_path / "k.jsa"
    assert LocalBroker(tmp_path / "data", 9, lib, class_dump=dump)._class_options() == (
        dumping_options(dump)
    )


def test_a_jvm_given_an_archive_that_does_not_fit_runs_without_it_and_says_nothing(
    tmp_path: Path,
) -> None:
    lib = _lib_dir(tmp_path, "kafka")  # an "archive" of 7 bytes: stale, foreign or damaged alike
    result = subprocess.run(
        [java_executable(), *sharing_options(lib, "kafka"), "-version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # the version goes to stderr; nothing about the archive anywhere
    assert "cds" not in result.stderr.lower() and "archive" not in result.stderr.lower()
