"""A local Kafka cluster: KRaft nodes on loopback, each both broker and controller.

``fraudlab broker up --brokers 3`` keeps one broker folder per node (:class:`LocalBroker`) under
its data folder, and the cluster's layout (ports, controller quorum, cluster id) in
``cluster.json``. Topics are replicated on up to three nodes (``default.replication.factor``)
and a write needs two of them in sync (``min.insync.replicas``), so the cluster keeps taking
writes with one node down.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from fraudlab.broker import HOST, BrokerStatus, LocalBroker, Quorum, new_cluster_id
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.net import free_port, port_in_use

__all__ = ["ClusterStatus", "LocalCluster"]


@dataclass(frozen=True)
class ClusterStatus:
    """What ``fraudlab broker status`` reports of a cluster: each node's status."""

    nodes: list[BrokerStatus]
    ports: list[int]  # each node's port, running or not
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
        for i, (node, port) in enumerate(zip(self.nodes, self.ports, strict=True), start=1):
            state = ("ready" if node.answers else "not answering") if node.running else "stopped"
            pid = f" (pid {node.pid})" if node.pid else ""
            lines.append(f"  node {i}: {state} at {HOST}:{port}{pid}")
        return "\n".join(lines)


class LocalCluster:
    """A KRaft cluster of ``brokers`` nodes on loopback, each both broker and controller, on
    ports ``port``, ``port + 1``, ...; its state lives in ``data_dir`` (see the module)."""

    LAYOUT = "cluster.json"

    def __init__(
        self,
        data_dir: Path,
        port: int,
        lib_dir: Path,
        heap: str = "512m",
        brokers: int = 3,
        share_classes: bool = True,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.lib_dir = lib_dir
        self.heap = heap
        self.brokers = brokers
        self.share_classes = share_classes

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
                share_classes=self.share_classes,
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
        nodes = self.nodes()
        return ClusterStatus(
            [node.status() for node in nodes], [node.port for node in nodes], self.data_dir
        )
