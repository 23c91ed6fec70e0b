"""Typed, frozen settings, validated once at the edge and passed down.

Precedence, lowest first: defaults < a settings file (``fraudlab.toml`` in the working directory,
or the file named by ``FRAUDLAB_SETTINGS_FILE`` or ``--settings``) < environment variables
(``FRAUDLAB_<FIELD>``) < command-line flags. Nothing else in fraudlab reads the environment.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fraudlab.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS_FILE = Path("fraudlab.toml")
# Wall seconds a producer keeps trying to get a message acknowledged before it gives up: Kafka's
# own producer default (``delivery.timeout.ms`` = 120,000).
DELIVERY_TIMEOUT_S = 120.0


def host_port_list(value: str) -> str:
    """``value`` if it is a comma-separated list of host:port, else a ValueError naming the
    first entry that is not one."""
    for server in value.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{server!r} is not host:port")
    return value


SINK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _sink_name(value: str) -> str:
    if not SINK_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a sink name (up to 64 letters, digits, '.', '_' or '-')"
        )
    return value


SinkName = Annotated[str, AfterValidator(_sink_name)]


class WebhookSink(BaseModel):
    """An HTTP endpoint that receives each new alert as a JSON POST (see :mod:`delivery.sinks`).

    An attempt that times out, cannot connect or gets HTTP 408, 429 or 5xx is tried again after
    ``backoff_s``, doubling up to ``backoff_max_s``, until ``attempts`` have been made; any
    other 4xx is a refusal, not retried. Either way the alert then goes to the run's delivery
    dead letter.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["webhook"]
    name: SinkName
    url: str = Field(description="where alerts are POSTed: an http:// or https:// URL")
    timeout_s: float = Field(5.0, gt=0, le=300, description="wall seconds per attempt")
    attempts: int = Field(5, ge=1, le=100, description="attempts per alert, the first included")
    backoff_s: float = Field(0.5, ge=0, le=600, description="wait before the first retry")
    backoff_max_s: float = Field(30.0, ge=0, le=3600, description="longest wait between tries")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 (a port out of range raises here)
        except ValueError:
            raise ValueError(f"{value!r} has no valid port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _backoff_in_order(self) -> WebhookSink:
        return _backoff_checked(self)


class KafkaSink(BaseModel):
    """A Kafka topic that receives each new alert, keyed by its alert id (see
    :mod:`delivery.sinks`), on the lab's cluster unless ``bootstrap_servers`` names another."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["kafka"]
    name: SinkName
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    bootstrap_servers: str | None = None
    attempts: int = Field(5, ge=1, le=100)
    backoff_s: float = Field(0.5, ge=0, le=600)
    backoff_max_s: float = Field(30.0, ge=0, le=3600)

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str | None) -> str | None:
        return None if value is None else host_port_list(value)

    @model_validator(mode="after")
    def _backoff_in_order(self) -> KafkaSink:
        return _backoff_checked(self)


def _backoff_checked(sink: WebhookSink | KafkaSink) -> Any:
    if sink.backoff_s > sink.backoff_max_s:
        raise ValueError(
            f"backoff_s ({sink.backoff_s:g}) is more than backoff_max_s ({sink.backoff_max_s:g})"
        )
    return sink


AlertSink = Annotated[WebhookSink | KafkaSink, Field(discriminator="kind")]


class Settings(BaseSettings):
    """Everything fraudlab can be told about its surroundings."""

    model_config = SettingsConfigDict(
        env_prefix="FRAUDLAB_", frozen=True, extra="forbid", validate_default=True
    )

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    topic_partitions: int = Field(2, ge=1, le=64, description="partitions of each run topic")
    spark_master: str = Field("local[*]", description="Spark master URL")
    spark_shuffle_partitions: int = Field(4, ge=1, le=10_000)
    engine_state_buckets: int = Field(
        32,
        ge=1,
        le=4096,
        description="buckets of customers the engine's state is kept in (fixed for a run once "
        "its checkpoints exist)",
    )
    engine_location_state: bool = Field(
        True,
        description="keep each shipping location cell's figures in the engine (features.location) "
        "when the model or challenger uses them; off, they are zero (the benchmark's reference)",
    )
    location_cell_resolution: int = Field(
        7,
        ge=0,
        le=15,
        description="H3 resolution of the shipping location cells a model is trained with (7: "
        "hexagons of 5.2 km² on average, edges of 1.4 km); saved with the model, whose own the "
        "engine uses",
    )
    engine_inventory_report: bool = Field(
        True,
        description="write the 30 s inventory-forecast report (engine.inventory_report) when the "
        "model carries a demand model; off, the engine writes none (the benchmark's reference)",
    )
    engine_inventory_live: bool = Field(
        False,
        description="also write the inventory report live, as the watermark closes each window "
        "(engine.inventory_report); off, it is written once, exact, at the run's close. Live, "
        "a score more than the 2-minute watermark behind the browsing is left out of the live "
        "counts, and the driver's forecast costs the engine most of its rate at thousands of "
        "events a second",
    )
    forecast_horizon_minutes: float = Field(
        30.0,
        gt=0,
        le=24 * 60,
        description="minutes of event time ahead that a demand model is trained to forecast "
        "units over; saved with the demand model, whose own the engine uses",
    )
    spark_driver_memory: str = Field("2g", pattern=r"^\d+[kmgt]?$")
    spark_live_quick_start: bool = Field(
        False,
        description="start every live engine's JVM with the C1 JIT alone: its first micro-batch "
        "sooner, its sustained rate about half (see fraudlab.spark); without it, fraudlab run "
        "quick-starts only a live engine whose input is slow",
    )
    spark_ui: bool = Field(False, description="serve the Spark UI on 4040")
    explanation_top: int = Field(
        5,
        ge=1,
        le=26,
        description="feature contributions an explanation keeps (models.explanations); the "
        "rest are summed",
    )
    explain_every_score: bool = Field(
        False,
        description="explain every score, not only each potential fraud (TreeSHAP costs "
        "about as much as scoring again, per explained transaction)",
    )
    jvm_class_archives: bool = Field(
        True,
        description="start Spark's driver and the Kafka broker with the class-data-sharing "
        "archives `make setup` writes into jvm/lib/cds (see fraudlab.class_archives)",
    )
    jvm_class_dump: Path | None = Field(
        None,
        description="write the class-data-sharing archive of Spark's driver here as it exits, "
        "instead of mapping jvm/lib/cds's (`make setup`'s class-archive run sets it)",
    )
    jvm_lib_dir: Path = Field(REPO_ROOT / "jvm" / "lib", description="jars resolved by Maven")
    delivery_timeout_s: float = Field(
        DELIVERY_TIMEOUT_S,
        gt=0,
        le=3600,
        description="wall seconds a producer waits for the broker to acknowledge before it "
        "gives up (Kafka's delivery.timeout.ms)",
    )
    broker_port: int = Field(9092, ge=1, le=65535)
    broker_data_dir: Path = Field(REPO_ROOT / "var" / "kafka")
    broker_heap: str = Field("512m", pattern=r"^\d+[kmg]$")
    archive_dir: Path = Field(REPO_ROOT / "var" / "archive")
    checkpoint_dir: Path = Field(REPO_ROOT / "var" / "checkpoints")
    # what the parts of a `fraudlab run` print, one folder per run
    logs_dir: Path = Field(REPO_ROOT / "var" / "logs")
    # saved models are data, not code: outside the models package
    models_dir: Path = Field(REPO_ROOT / "var" / "models")
    scenarios_dir: Path = Field(REPO_ROOT / "scenarios")
    viz_address: str = Field("127.0.0.1")
    viz_port: int = Field(5006, ge=1, le=65535)
    # the zone of naive local times in assignment CSV files (the assignment's shop is in Jakarta)
    csv_time_zone: str = Field("Asia/Jakarta", description="time zone of naive CSV times")
    # where a run's new fraud alerts are delivered (`[[alert_sinks]]` tables); none by default
    alert_sinks: tuple[AlertSink, ...] = Field(
        (), description="webhooks and Kafka topics each new fraud alert is sent to"
    )

    @field_validator("alert_sinks")
    @classmethod
    def _distinct_sink_names(cls, value: tuple[AlertSink, ...]) -> tuple[AlertSink, ...]:
        names = [sink.name for sink in value]
        repeated = next((n for n in names if names.count(n) > 1), None)
        if repeated is not None:
            raise ValueError(f"two sinks are named {repeated!r}")
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        return host_port_list(value)

    @field_validator("csv_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from fraudlab.field_values import time_zone

        time_zone(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # toml_file is set by load_settings on a subclass; without one this source is empty
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def settings_file(explicit: Path | None = None) -> Path | None:
    """The settings file in force: ``explicit``, $FRAUDLAB_SETTINGS_FILE or ./fraudlab.toml."""
    env = os.environ.get("FRAUDLAB_SETTINGS_FILE")
    path = explicit or (Path(env) if env else None)
    if path is not None:
        if not path.is_file():
            raise UsageError(f"settings file {path} does not exist.")
        return path
    return DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.is_file() else None


def load_settings(
    settings_path: Path | None = None, flag_names: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """Settings from every source, with ``overrides`` (command-line flags, None = not given) on top.

    A bad value ends in a UsageError naming the setting and where it came from; ``flag_names``
    maps a setting to the flag that set it when that is not ``--<setting-name>``.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    file = settings_file(settings_path)
    cls: type[Settings] = Settings
    if file is not None:
        try:
            tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"settings file {file}: {exc}.") from None
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": file})
        cls = type("Settings", (Settings,), {"model_config": config})
    try:
        return cls(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = _location(err["loc"])
        if name in given:
            where = (flag_names or {}).get(name, f"--{name.replace('_', '-')}")
        elif name.upper() in _env_names():
            where = f"FRAUDLAB_{name.upper()}"
        else:
            where = f"{name} in {file}" if file else name
        raise UsageError(f"setting {where}: {_sentence(err)}.") from None


def _location(loc: tuple[int | str, ...]) -> str:
    """Where an error is, as a settings file says it: ``alert_sinks[1].url`` (tables counted
    from 1; the union's tag, which pydantic puts in the path, left out).

    >>> _location(("alert_sinks", 0, "webhook", "url"))
    'alert_sinks[1].url'
    """
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item + 1}]"
        elif item in ("webhook", "kafka") and parts and parts[-1].startswith("alert_sinks["):
            continue
        else:
            parts.append(item)
    return ".".join(parts) or "settings"


def _sentence(err: Any) -> str:
    """pydantic's message in the words of the settings file."""
    kind = err["type"]
    if kind == "union_tag_not_found":
        return 'a sink needs kind = "webhook" or kind = "kafka"'
    if kind == "union_tag_invalid":
        return f"kind {err['input'].get('kind')!r} is neither 'webhook' nor 'kafka'"
    if kind == "extra_forbidden":
        return "no such setting"
    if kind == "tuple_type":
        return "must be a list: one [[alert_sinks]] table per sink"
    return str(err["msg"]).removeprefix("Value error, ")


def _env_names() -> set[str]:
    return {k.removeprefix("FRAUDLAB_") for k in os.environ if k.startswith("FRAUDLAB_")}


def settings_toml(settings: Settings) -> str:
    """The settings as a TOML settings file, so that processes a command starts share them.

    >>> text = settings_toml(Settings(topic_partitions=3))
    >>> "topic_partitions = 3" in text, tomllib.loads(text)["spark_ui"]
    (True, False)
    """
    lines = []
    for name, value in settings.model_dump().items():
        if name == "alert_sinks":
            lines.append(f"{name} = [{', '.join(_inline_table(v) for v in value)}]")
        elif value is None:
            continue  # unset: TOML has no null, and the default is None
        elif isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{name} = {value}")
        else:
            # a JSON string is a TOML basic string for the paths and names settings hold
            lines.append(f"{name} = {json.dumps(str(value))}")
    return "\n".join(lines) + "\n"


def _inline_table(values: dict[str, Any]) -> str:
    """A flat dict of strings and numbers as a TOML inline table (None values left out)."""
    items = (f"{k} = {json.dumps(v)}" for k, v in values.items() if v is not None)
    return "{" + ", ".join(items) + "}"
