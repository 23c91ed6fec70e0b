"""The local Apache Kafka broker: one KRaft node (broker and controller) in one Java process,
or a cluster of such nodes on loopback.

The jars come from Maven Central through ``jvm/pom.xml`` (``make jvm``). A broker owns its data
folder: the properties, the log4j2 config, the pid file, the server log and the Kafka logs all
live there, so ``up`` again on the same folder keeps every topic. A cluster
(:class:`LocalCluster`, ``fraudlab broker up --brokers 3``) keeps one such folder per node under
its own, and its layout (ports, controller quorum, cluster id) in ``cluster.json``: every node is
both broker and controller, topics are replicated on up to three nodes
(``default.replication.factor``) and a write needs two of them in sync
(``min.insync.replicas``), so the cluster keeps taking writes with one node down.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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


async def _answers(bootstrap: str, timeout_s: float) -> int:
    """The number of brokers in the cluster at ``bootstrap``; raises when none answers."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000) + 1000
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return len(cluster["brokers"])
    finally:
        await admin.close()


def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """Whether a Kafka broker at ``bootstrap`` answers a metadata request."""
    from fraudlab.kafka_io import quiet_kafka_logs

    try:
        with quiet_kafka_logs():
            return asyncio.run(_answers(bootstrap, timeout_s)) > 0
    except Exception:
        return False


def require_broker(bootstrap: str, timeout_s: float = 5.0) -> None:
    """Raise BrokerUnavailable, in one sentence, when no broker answers at ``bootstrap``."""
    if not broker_answers(bootstrap, timeout_s):
        raise BrokerUnavailable(
            f"no Kafka broker answers at {bootstrap}: start one with `make kafka-up` "
            "or set FRAUDLAB_BOOTSTRAP_SERVERS."
        )


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
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.lib_dir = lib_dir
        self.heap = heap
        self.quorum = quorum
        self.controller_port = controller_port
        self.cluster_id = cluster_id

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
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._pid_file.unlink(missing_ok=True)
                raise FraudlabError(
                    f"the broker exited with code {proc.returncode} while starting: "
                    f"see {self.server_log}."
                )
            if broker_answers(self.bootstrap, timeout_s=1.0):
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


@dataclass(frozen=True)
class ClusterStatus:
    """What ``fraudlab broker status`` reports of a cluster: each node's status."""

    nodes: list[BrokerStatus]
    data_dir: Path

    @property
    def running(self) -> bool:
        return any(n.running for n in self.nodes)

    @property
    def answers(self) -> bool:
        return any(n.answers for n in self.nodes)

    def describe(self) -> str:
        if not self.running:
            return f"no broker of the cluster in {self.data_dir} is running"
        lines = [f"cluster of {len(self.nodes)} brokers, data in {self.data_dir}:"]
        for i, node in enumerate(self.nodes, start=1):
            state = ("ready" if node.answers else "not answering") if node.running else "stopped"
            where = f"{HOST}:{node.port}" if node.port else "-"
            pid = f" (pid {node.pid})" if node.pid else ""
            lines.append(f"  node {i}: {state} at {where}{pid}")
        return "\n".join(lines)


class LocalCluster:
    """A KRaft cluster of ``brokers`` nodes on loopback, each both broker and controller, on
    ports ``port``, ``port + 1``, ...; its state lives in ``data_dir`` (see the module)."""

    LAYOUT = "cluster.json"

    def __init__(
        self, data_dir: Path, port: int, lib_dir: Path, heap: str = "512m", brokers: int = 3
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.lib_dir = lib_dir
        self.heap = heap
        self.brokers = brokers

    @classmethod
    def found_in(cls, data_dir: Path) -> bool:
        """Whether ``data_dir`` holds a cluster (rather than a single broker, or nothing)."""
        return (data_dir / cls.LAYOUT).is_file()

    def _layout(self) -> dict[str, object]:
        path = self.data_dir / self.LAYOUT
        if path.is_file():
            layout: dict[str, object] = json.loads(path.read_text())
            return layout
        if (self.data_dir / "broker.pid").exists() or (self.data_dir / "logs").exists():
            raise UsageError(
                f"{self.data_dir} holds a single broker's data: give the cluster another "
                "--data-dir."
            )
        ports = [self.port + i for i in range(self.brokers)]
        busy = [p for p in ports if port_in_use(p)]
        if busy:
            raise FraudlabError(
                f"port {busy[0]} is already in use: choose other ports with --port (the cluster "
                f"takes {self.brokers} in a row)."
            )
        layout = {
            "brokers": self.brokers,
            "ports": ports,
            "controller_ports": [free_port() for _ in range(self.brokers)],
            "cluster_id": new_cluster_id(),
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(layout, indent=2) + "\n")
        return layout

    def nodes(self) -> list[LocalBroker]:
        """The cluster's nodes, in node-id order."""
        layout = self._layout()
        ports = [int(p) for p in layout["ports"]]  # type: ignore[attr-defined]
        controllers = [int(p) for p in layout["controller_ports"]]  # type: ignore[attr-defined]
        count = len(ports)
        voters = ",".join(f"{i}@{HOST}:{c}" for i, c in enumerate(controllers, start=1))
        return [
            LocalBroker(
                self.data_dir / f"node-{i}",
                ports[i - 1],
                self.lib_dir,
                self.heap,
                quorum=Quorum(i, voters, min(3, count), min(2, count)),
                controller_port=controllers[i - 1],
                cluster_id=str(layout["cluster_id"]),
            )
            for i in range(1, count + 1)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes())

    def up(self, timeout_s: float = 120.0) -> float:
        """Start every node that is not running, and return once each answers."""
        started = time.monotonic()
        procs = [(node, node.start()) for node in self.nodes() if node.status().pid is None]
        if not procs:
            raise FraudlabError(
                f"the cluster in {self.data_dir} already runs: `fraudlab broker down` stops it."
            )
        try:
            # a quorum needs most of its voters: the nodes start together, then are waited for
            for node, proc in procs:
                node.wait_ready(proc, started + timeout_s)
        except FraudlabError:
            self.down()
            raise
        return time.monotonic() - started

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop every node, all at once (one by one, the last ones would wait for a quorum
        that is gone); False if none ran."""
        from concurrent.futures import ThreadPoolExecutor

        nodes = self.nodes()
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            stopped = list(pool.map(lambda node: node.down(timeout_s), nodes))
        return any(stopped)

    def status(self) -> ClusterStatus:
        return ClusterStatus([node.status() for node in self.nodes()], self.data_dir)


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
