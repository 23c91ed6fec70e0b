"""The local Apache Kafka broker: one KRaft node (broker and controller) in one Java process.

The jars come from Maven Central through ``jvm/pom.xml`` (``make jvm``). A broker owns its data
folder: the properties, the log4j2 config, the pid file, the server log and the Kafka logs all
live there, so ``up`` again on the same folder keeps every topic. A node of a cluster
(:mod:`fraudlab.cluster`) is such a broker with its place in the quorum (:class:`Quorum`).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from fraudlab.class_archives import dumping_options, sharing_options
from fraudlab.errors import BrokerUnavailable, FraudlabError, JavaMissing, UsageError
from fraudlab.net import free_port, port_in_use

HOST = "127.0.0.1"

# `fraudlab broker tool NAME`: Kafka's own command-line tools, from the same jars.
TOOLS = {
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "storage": "kafka.tools.StorageTool",
}

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""

_TOOLS_LOG4J2 = """\
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
"""


@dataclass(frozen=True)
class Quorum:
    """A node's place in a cluster: its id, the controller quorum, and what topics need."""

    node_id: int
    voters: str  # controller.quorum.voters: "1@127.0.0.1:p1,2@127.0.0.1:p2,..."
    replication: int  # default.replication.factor, and that of the internal topics
    min_insync: int  # min.insync.replicas


def server_properties(
    port: int,
    controller_port: int,
    log_dir: Path,
    partitions: int = 1,
    quorum: Quorum | None = None,
) -> str:
    """The properties of a KRaft node (broker and controller) listening on loopback only: a
    single-node broker, or with ``quorum`` one node of a cluster.

    >>> 'listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093' in server_properties(
    ...     9092, 9093, Path('/tmp/k'))
    True
    >>> props = server_properties(9094, 9095, Path('/tmp/k'), quorum=Quorum(2, "1@h:1,2@h:2", 3, 2))
    >>> 'node.id=2' in props and 'min.insync.replicas=2' in props
    True
    """
    quorum = quorum or Quorum(1, f"1@{HOST}:{controller_port}", 1, 1)
    replication, min_insync = str(quorum.replication), str(quorum.min_insync)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(quorum.node_id),
        "controller.quorum.voters": quorum.voters,
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": str(partitions),
        "default.replication.factor": replication,
        "min.insync.replicas": min_insync,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_insync,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_insync,
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        # messages carry simulated event time, possibly long past: keep logs until deleted
        "log.retention.ms": "-1",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "log.flush.interval.messages": "9223372036854775807",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def java_executable() -> str:
    """The java binary to start JVM parts with: $JAVA_HOME/bin/java, else java on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise JavaMissing("Java is not installed: install a Java 17+ runtime or set JAVA_HOME.")
    return found


def kafka_classpath(lib_dir: Path) -> str:
    """The classpath of the broker and Kafka's tools, resolved by Maven under ``lib_dir``."""
    kafka_lib = lib_dir / "kafka"
    if not any(kafka_lib.glob("kafka_*.jar")):
        raise UsageError(f"the Kafka jars are missing from {kafka_lib}: run `make setup` first.")
    return str(kafka_lib / "*")


def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """Whether a Kafka cluster at ``bootstrap`` answers in ``timeout_s`` (see
    :meth:`fraudlab.kafka_session.KafkaSession.answers`): one question, asked through a session
    of its own, for code that holds none (a broker's process, a command before it opens its
    session). Code that holds a session asks it."""
    from fraudlab.blocking_kafka import BlockingKafka

    with BlockingKafka(bootstrap) as kafka:
        return kafka.answers(timeout_s)


def require_broker(bootstrap: str, timeout_s: float = 5.0) -> None:
    """Raise BrokerUnavailable, in one sentence, when no broker answers at ``bootstrap`` (see
    :func:`broker_answers`; with a session, :meth:`~fraudlab.kafka_session.KafkaSession.
    require_answer`)."""
    from fraudlab.kafka_session import no_broker

    if not broker_answers(bootstrap, timeout_s):
        raise BrokerUnavailable(no_broker(bootstrap))


@dataclass(frozen=True)
class BrokerStatus:
    """What ``fraudlab broker status`` reports."""

    running: bool
    pid: int | None
    port: int | None
    answers: bool
    data_dir: Path

    def describe(self) -> str:
        if not self.running:
            return f"no broker is running from {self.data_dir}"
        state = "ready" if self.answers else "not answering"
        return f"broker {state} at {HOST}:{self.port} (pid {self.pid}), data in {self.data_dir}"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (ended, not yet reaped by whoever started it) does not."""
    import psutil

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is reaped here; another process's zombie counts as gone too
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done != 0:
            return False
    except ChildProcessError:
        pass
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class LocalBroker:
    """A single-node KRaft broker whose state lives in ``data_dir``; with ``quorum``, one node
    of a :class:`LocalCluster` (its controller port and cluster id then fixed by the cluster)."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        lib_dir: Path,
        heap: str = "512m",
        quorum: Quorum | None = None,
        controller_port: int | None = None,
        cluster_id: str | None = None,
        share_classes: bool = True,
        class_dump: Path | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.lib_dir = lib_dir
        self.heap = heap
        self.quorum = quorum
        self.controller_port = controller_port
        self.cluster_id = cluster_id
        # the broker's JVM maps the class-data-sharing archive of Kafka's JVM when there is one
        # (fraudlab.class_archives) and ``share_classes``, or writes one to ``class_dump``
        self.share_classes = share_classes
        self.class_dump = class_dump

    def _class_options(self) -> list[str]:
        if self.class_dump is not None:
            return dumping_options(self.class_dump)
        return sharing_options(self.lib_dir, "kafka", self.share_classes)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def _port_file(self) -> Path:
        return self.data_dir / "broker.port"

    @property
    def server_log(self) -> Path:
        return self.data_dir / "server.log"

    def _running_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def status(self) -> BrokerStatus:
        """Whether this folder's broker runs, on which port, and whether it answers."""
        pid = self._running_pid()
        port = int(self._port_file.read_text()) if pid and self._port_file.exists() else None
        answers = bool(port) and broker_answers(f"{HOST}:{port}")
        return BrokerStatus(pid is not None, pid, port, answers, self.data_dir)

    def up(self, timeout_s: float = 90.0) -> float:
        """Start the broker and return once it answers; the seconds it took."""
        started = time.monotonic()
        proc = self.start()
        self.wait_ready(proc, started + timeout_s)
        return time.monotonic() - started

    def start(self) -> subprocess.Popen[bytes]:
        """Start the broker's process (formatting its storage the first time); not waiting."""
        java = java_executable()
        classpath = kafka_classpath(self.lib_dir)
        running = self._running_pid()
        if running is not None:
            raise FraudlabError(
                f"a broker from {self.data_dir} already runs (pid {running}): "
                "`fraudlab broker down` stops it."
            )
        if port_in_use(self.port):
            what = "a Kafka broker" if broker_answers(self.bootstrap) else "another program"
            raise FraudlabError(
                f"port {self.port} is already in use by {what}: choose another with --port."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        controller_port = self.controller_port or free_port()
        props = self.data_dir / "server.properties"
        props.write_text(
            server_properties(
                self.port, controller_port, self.data_dir / "logs", quorum=self.quorum
            )
        )
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=self.server_log, level="INFO"))
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self._format(java, classpath, props)
        jvm_opts = [
            *self._class_options(),
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
        ]
        out = open(self.data_dir / "broker.out", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [java, *jvm_opts, "-cp", classpath, "kafka.Kafka", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self._pid_file.write_text(f"{proc.pid}\n")
        self._port_file.write_text(f"{self.port}\n")
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        """Return once the started broker answers; stop it and raise when it exits or does
        not answer by ``deadline`` (a monotonic time)."""
        from fraudlab.blocking_kafka import BlockingKafka

        # one session asks each 0.2 s (a client that could not start is started afresh)
        with BlockingKafka(self.bootstrap) as kafka:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    self._pid_file.unlink(missing_ok=True)
                    raise FraudlabError(
                        f"the broker exited with code {proc.returncode} while starting: "
                        f"see {self.server_log}."
                    )
                if kafka.answers(timeout_s=1.0):
                    return
                time.sleep(0.2)
        self.down()
        raise FraudlabError(f"the broker did not answer in time: see {self.server_log}.")

    def _format(self, java: str, classpath: str, props: Path) -> None:
        cluster_id = self.cluster_id or new_cluster_id()
        tools_log4j = self.data_dir / "tools-log4j2.properties"
        tools_log4j.write_text(_TOOLS_LOG4J2)
        result = subprocess.run(
            [
                java,
                *sharing_options(self.lib_dir, "kafka", self.share_classes),
                f"-Dlog4j2.configurationFile={tools_log4j}",
                "-cp",
                classpath,
                TOOLS["storage"],
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:]
            raise FraudlabError(f"formatting {self.data_dir} failed: {' '.join(last)}")

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker (TERM, then KILL) and wait until its port is free; False if none ran."""
        pid = self._running_pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        port = int(self._port_file.read_text()) if self._port_file.exists() else self.port
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        while port_in_use(port) and time.monotonic() < deadline + 5:
            time.sleep(0.1)
        self._pid_file.unlink(missing_ok=True)
        return True


def new_cluster_id() -> str:
    """A random KRaft cluster id, as Kafka's own Uuid: 16 bytes, URL-safe base64, never
    starting with "-" (the storage tool would read it as an option)."""
    cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
    return "A" + cluster_id[1:] if cluster_id.startswith("-") else cluster_id


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def run_tool(name: str, args: list[str], lib_dir: Path) -> int:
    """Run one of Kafka's command-line tools (TOOLS) with ``args``; its exit code."""
    if name not in TOOLS:
        raise UsageError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(TOOLS))}.")
    java = java_executable()
    classpath = kafka_classpath(lib_dir)
    tools_log4j = lib_dir / "tools-log4j2.properties"
    if not tools_log4j.exists():
        tools_log4j.write_text(_TOOLS_LOG4J2)
    cmd = [java, "-Xmx512m", f"-Dlog4j2.configurationFile={tools_log4j}", "-cp", classpath]
    return subprocess.call([*cmd, TOOLS[name], *args])
