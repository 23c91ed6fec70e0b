"""``fraudlab serve``: its options, a port in use as one sentence, the origins it allows."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from fraudlab.net import free_port
from viz.server import allowed_origins, urls


def _fraudlab(*args: str, archive: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("fraudlab")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "FRAUDLAB_ARCHIVE_DIR": str(archive)},
        check=False,
    )


def test_help_names_the_options(tmp_path: Path) -> None:
    done = _fraudlab("serve", "--help", archive=tmp_path)
    assert done.returncode == 0
    for option in ("--port", "--address", "--allow-origin", "--archive-dir"):
        assert option in done.stdout


def test_a_port_in_use_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        done = _fraudlab("serve", "--port", str(port), archive=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"fraudlab: port {port} on 127.0.0.1 is in use: stop what listens there or serve on "
        "another port with --port."
    )
    assert "Traceback" not in done.stderr


def test_a_bad_port_names_the_flag(tmp_path: Path) -> None:
    done = _fraudlab("serve", "--port", "70000", archive=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("fraudlab: setting --port:")


def test_loopback_serving_allows_only_loopback_origins() -> None:
    assert allowed_origins("127.0.0.1", 5006) == ["127.0.0.1:5006", "localhost:5006"]
    assert urls("127.0.0.1", 5006)[1:] == [
        "http://localhost:5006/live",
        "http://localhost:5006/replay",
        "http://localhost:5006/compare",
    ]


def test_serving_on_every_address_allows_the_machine_s_names_and_addresses() -> None:
    import psutil

    origins = allowed_origins("0.0.0.0", 8080, ["proxy.example:443"])
    assert f"{socket.gethostname()}:8080" in origins
    assert {"localhost:8080", "127.0.0.1:8080", "proxy.example:443"} <= set(origins)
    interfaces = {
        a.address
        for found in psutil.net_if_addrs().values()
        for a in found
        if a.family == socket.AF_INET
    }
    assert {f"{a}:8080" for a in interfaces} <= set(origins)
    assert "0.0.0.0:8080" not in origins  # no browser's page has that origin
    assert urls("0.0.0.0", 8080)[0] == f"http://{socket.gethostname()}:8080/"


def test_serving_on_one_address_allows_it_and_the_names_that_resolve_to_it() -> None:
    assert allowed_origins("192.0.2.7", 80, names=["lab", "192.0.2.7"]) == ["192.0.2.7:80"]
    assert allowed_origins("192.0.2.7", 80, names=["localhost"]) == ["192.0.2.7:80"]
