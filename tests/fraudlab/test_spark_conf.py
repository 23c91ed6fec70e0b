"""The Spark configuration: the JIT of a live engine's JVMs (C1 alone) and of every other one."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from click.testing import CliRunner

from fraudlab.settings import Settings
from fraudlab.spark import QUICK_START_JAVA_OPTIONS, spark_conf


def _java_options(conf: dict[str, str]) -> list[list[str]]:
    return [conf[f"spark.{side}.extraJavaOptions"].split() for side in ("driver", "executor")]


def test_a_quick_start_session_jits_with_c1_alone_on_the_driver_and_the_executors() -> None:
    quick = _java_options(spark_conf(Settings(), "t", quick_start=True))
    full = _java_options(spark_conf(Settings(), "t"))
    assert all(set(QUICK_START_JAVA_OPTIONS) <= set(options) for options in quick)
    assert not any(set(QUICK_START_JAVA_OPTIONS) & set(options) for options in full)
    # C1 alone keeps the code cache of both tiers (its own 48 MB filled in a minute of a run)
    assert "-XX:ReservedCodeCacheSize=240m" in QUICK_START_JAVA_OPTIONS
    # the logging configuration is kept either way
    assert all(any(o.startswith("-Dlog4j2.configurationFile=") for o in opts) for opts in full)
    assert [o for o in quick[0] if o not in QUICK_START_JAVA_OPTIONS] == full[0]


class _Started(Exception):
    """Raised by the stand-in for build_spark_session once it has seen its arguments."""


QUICK = {"FRAUDLAB_SPARK_LIVE_QUICK_START": "true"}


@pytest.mark.parametrize(
    ("args", "env", "quick_start"),
    [
        (("--speed", "20"), {}, False),
        (("--speed", "20"), QUICK, True),
        (("--available-now",), QUICK, False),
    ],
)
def test_the_engine_starts_quick_when_live_and_the_settings_ask_for_it(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], env: dict[str, str], quick_start: bool
) -> None:
    import fraudlab.spark
    import models.registry
    from lab.cli import app

    seen: dict[str, Any] = {}

    def build(settings: Settings, app_name: str = "", quick: bool = False) -> None:
        seen.update(app_name=app_name, quick_start=quick)
        raise _Started

    monkeypatch.setattr(fraudlab.spark, "build_spark_session", build)
    # the command's stop handlers stay out of the test process
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    monkeypatch.setattr(models.registry, "load_model", lambda *_: None)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["engine", "r-1", *args])
    assert isinstance(result.exception, _Started), result.output
    assert seen == {"app_name": "fraudlab-engine-r-1", "quick_start": quick_start}
