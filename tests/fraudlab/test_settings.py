"""Settings precedence (defaults < file < environment < flags) and one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudlab.errors import UsageError
from fraudlab.settings import load_settings


def test_precedence_defaults_file_env_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRAUDLAB_BROKER_PORT", raising=False)
    monkeypatch.delenv("FRAUDLAB_SETTINGS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings().broker_port == 9092
    file = tmp_path / "fraudlab.toml"
    file.write_text("broker_port = 9300\nspark_master = 'spark://127.0.0.1:7077'\n")
    assert load_settings().broker_port == 9300
    monkeypatch.setenv("FRAUDLAB_BROKER_PORT", "9400")
    s = load_settings()
    assert (s.broker_port, s.spark_master) == (9400, "spark://127.0.0.1:7077")
    assert load_settings(broker_port=9500).broker_port == 9500


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(Exception, match="frozen"):
        s.broker_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("env", "setting FRAUDLAB_BROKER_PORT: Input should be a valid integer"),
        ("file", "broker_port in"),
        ("flag", "setting --broker-port"),
    ],
)
def test_a_bad_value_names_the_setting_and_its_source(
    source: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FRAUDLAB_SETTINGS_FILE", raising=False)
    kwargs = {}
    if source == "env":
        monkeypatch.setenv("FRAUDLAB_BROKER_PORT", "nine")
    elif source == "file":
        (tmp_path / "fraudlab.toml").write_text("broker_port = 70000\n")
    else:
        kwargs["broker_port"] = 0
    with pytest.raises(UsageError, match=expected):
        load_settings(**kwargs)


def test_unknown_key_and_bad_syntax_in_the_file(tmp_path: Path) -> None:
    bad_key = tmp_path / "a.toml"
    bad_key.write_text("brokr_port = 1\n")
    with pytest.raises(UsageError, match="brokr_port"):
        load_settings(bad_key)
    bad_syntax = tmp_path / "b.toml"
    bad_syntax.write_text("broker_port = \n")
    with pytest.raises(UsageError, match=r"settings file .*b\.toml"):
        load_settings(bad_syntax)
    with pytest.raises(UsageError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_bootstrap_servers_must_be_host_port_pairs() -> None:
    with pytest.raises(UsageError, match=r"bootstrap-servers.*not host:port"):
        load_settings(bootstrap_servers="localhost")


SINKS = """
[[alert_sinks]]
kind = "webhook"
name = "oncall"
url = "http://127.0.0.1:8080/alerts"
attempts = 3

[[alert_sinks]]
kind = "kafka"
name = "queue"
topic = "fraud-alerts-out"
"""


def test_alert_sinks_are_read_from_the_file_and_passed_on_to_the_parts(tmp_path: Path) -> None:
    from fraudlab.settings import KafkaSink, WebhookSink, settings_toml

    file = tmp_path / "fraudlab.toml"
    file.write_text(SINKS)
    settings = load_settings(file)
    hook, queue = settings.alert_sinks
    assert isinstance(hook, WebhookSink) and isinstance(queue, KafkaSink)
    assert (hook.attempts, hook.timeout_s, queue.topic) == (3, 5.0, "fraud-alerts-out")
    assert load_settings().alert_sinks == (), "no sinks unless the settings name some"
    # the settings file a run writes for its parts holds them unchanged
    passed = tmp_path / "parts.toml"
    passed.write_text(settings_toml(settings))
    assert load_settings(passed).alert_sinks == settings.alert_sinks


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (("http://127.0.0.1:8080/alerts", "ftp://host/x"), "'ftp://host/x' is not an http:// or"),
        (('name = "queue"', 'name = "oncall"'), "two sinks are named 'oncall'"),
        (('kind = "kafka"', 'kind = "email"'), "kind 'email' is neither 'webhook' nor 'kafka'"),
        (("127.0.0.1:8080", "127.0.0.1:99999"), "alert_sinks[1].url in"),
        (("attempts = 3", "backoff_s = 10\nbackoff_max_s = 1"), "backoff_s (10) is more than"),
        (("attempts = 3", "headers = 1"), "alert_sinks[1].headers in"),
        (('topic = "fraud-alerts-out"', 'topic = "t"\nbootstrap_servers = "x"'), "'x' is not host"),
        (("attempts = 3", "attempts = 0"), "attempts"),
        (('name = "queue"', 'name = "a b"'), "'a b' is not a sink name"),
    ],
)
def test_a_bad_sink_is_one_sentence_naming_it(
    tmp_path: Path, change: tuple[str, str], sentence: str
) -> None:
    file = tmp_path / "fraudlab.toml"
    file.write_text(SINKS.replace(*change))
    with pytest.raises(UsageError) as refused:
        load_settings(file)
    message = str(refused.value)
    assert message.startswith("setting alert_sinks") and sentence in message
    assert "\n" not in message
