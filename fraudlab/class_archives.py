"""Class-data-sharing archives of fraudlab's two JVMs: Spark's driver and the Kafka broker.

A JVM spends the first seconds of its life finding, reading, verifying and linking classes:
Spark's driver loads about 24,000 of them by the end of an engine's first micro-batch, the
broker about 7,600 before it answers. HotSpot's class data sharing (CDS, JDK 13+, JEP 350)
writes the classes a JVM loaded into an archive when it exits (``-XX:ArchiveClassesAtExit``);
a later JVM with the same JDK and class path maps that archive (``-XX:SharedArchiveFile``)
instead of loading them again. ``make setup`` writes both archives from a small run of the lab
(:mod:`lab.class_archives`) into ``jvm/lib/cds``.

Measured on two cores (JDK 17), without the archive and with it: a Spark session built and its
first job run in 8.4 s and 4.8 s; a fresh engine's first scoring micro-batch (11,600 customer
profiles and 20,000 events) in 7.5 s and 6.2 s; a broker formatted, started and answering in
3.3 s and 2.2 s.

JDK 25's AOT cache (JEP 483, ``-XX:AOTCache``), tried in place of this archive with Temurin 25
on the same two cores: the session built in 3.4 s, the engine's first scoring micro-batch in 5.4
to 5.7 s (6.4 s on JDK 25 without a cache, 2.9 to 3.0 s once warm). Its log said why it gave
no more: with the ``--add-opens`` options Spark's launcher passes, JDK 25 archives no full module
graph, so the cache holds no ahead-of-time linked classes (``-XX:+AOTClassLinking`` needs that
graph); the method profiles of JEP 515, recorded in the same training run, brought no visible
gain in the JIT's warm-up.

The JVM checks that an archive fits (same JDK build, same class path, each jar of the same size
and modification time) and otherwise runs without it, as it would with no archive: a stale
archive costs only the time it would have saved. Its messages about that stay off, so that
they never mix with a command's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

JvmKind = Literal["spark", "kafka"]
KINDS: tuple[JvmKind, ...] = ("spark", "kafka")
# CDS logs go to standard output; a JVM that cannot use its archive says so there
QUIET = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def archive_path(lib_dir: Path, kind: JvmKind) -> Path:
    """Where the archive of ``kind``'s JVM is kept: ``<lib_dir>/cds/<kind>.jsa``."""
    return lib_dir / "cds" / f"{kind}.jsa"


def sharing_options(lib_dir: Path, kind: JvmKind, enabled: bool = True) -> list[str]:
    """The JVM options that map ``kind``'s archive when it exists (none when it does not, or
    when ``enabled`` is False: the setting ``jvm_class_archives``)."""
    path = archive_path(lib_dir, kind)
    if not enabled or not path.is_file():
        return []
    return [f"-XX:SharedArchiveFile={path}", *QUIET]


def dumping_options(path: Path) -> list[str]:
    """The JVM options that write the classes the JVM loaded into ``path`` when it exits."""
    return [f"-XX:ArchiveClassesAtExit={path}", *QUIET]


__all__ = ["KINDS", "JvmKind", "archive_path", "dumping_options", "sharing_options"]
