"""Named scenarios: TOML files in the scenarios folder, loaded into typed, frozen models.

A scenario says what world to build, how legitimate customers behave, which fraud patterns run
and how hard, which data faults to inject and how the shop keeps stock; plus its default
duration and seed. A bad file ends in one :class:`~fraudlab.errors.UsageError` sentence that
names the file and the field.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from fraudlab.errors import UsageError
from simulator.faults import FaultConfig
from simulator.legit import TrafficConfig
from simulator.patterns import PATTERNS
from simulator.patterns.account_takeover import Params as AccountTakeover
from simulator.patterns.base import PatternParams
from simulator.patterns.bot_checkout import Params as BotCheckout
from simulator.patterns.card_testing import Params as CardTesting
from simulator.patterns.high_value_spike import Params as HighValueSpike
from simulator.patterns.promo_abuse import Params as PromoAbuse
from simulator.patterns.regional_fraud_ring import Params as RegionalFraudRing
from simulator.stock import InventoryConfig

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class WorldSize(BaseModel):
    """How many customers and products the static world has."""

    model_config = _FROZEN

    customers: int = Field(default=5_000, ge=1, le=1_000_000)
    products: int = Field(default=2_000, ge=10, le=1_000_000)


class Patterns(BaseModel):
    """The fraud patterns a scenario runs; a pattern left out does not run."""

    model_config = _FROZEN

    card_testing: CardTesting | None = None
    account_takeover: AccountTakeover | None = None
    promo_abuse: PromoAbuse | None = None
    bot_checkout: BotCheckout | None = None
    regional_fraud_ring: RegionalFraudRing | None = None
    high_value_spike: HighValueSpike | None = None

    def enabled(self) -> list[tuple[str, PatternParams]]:
        """(name, params) of each pattern that runs, in the registry's order."""
        chosen = ((name, getattr(self, name)) for name in PATTERNS)
        return [(name, params) for name, params in chosen if params is not None]


class Scenario(BaseModel):
    """A scenario file, validated: everything a simulation needs besides seed and start."""

    model_config = _FROZEN

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field(..., min_length=1)
    minutes: float = Field(..., gt=0)
    seed: int = Field(..., ge=0)
    world: WorldSize = WorldSize()
    traffic: TrafficConfig = TrafficConfig()
    patterns: Patterns = Patterns()
    faults: FaultConfig = FaultConfig()
    inventory: InventoryConfig = InventoryConfig()
    _path: Path | None = PrivateAttr(None)
    _text: str = PrivateAttr("")
    _as_read: dict[str, Any] | None = PrivateAttr(None)

    @property
    def path(self) -> Path | None:
        """The file the scenario was loaded from."""
        return self._path

    def with_customers(self, customers: int) -> Scenario:
        """This scenario in a world of ``customers`` customers: its products, traffic, patterns,
        faults and seed as they are, its file's text and path kept (a run announces the text and
        the count apart, see :func:`simulator.producer.run_details`)."""
        world = self.world.model_copy(update={"customers": customers})
        return self.model_copy(update={"world": world})

    @property
    def text(self) -> str:
        """The scenario file's text, as read; for a scenario changed since (``model_copy``, as
        the regression suite and the tests scale worlds down), its resolved TOML
        (:func:`scenario_toml`): a run announces the scenario it simulates, and a resumed run
        is simulated from that text."""
        if self._text and self._as_read == self.model_dump():
            return self._text
        return scenario_toml(self)


def _shown(path: Path) -> str:
    """A path as users see it: relative to the working directory when it lies beneath it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _field_error(err: Any) -> str:
    """One pydantic error as ``field: what is wrong`` (without the final period)."""
    loc = [str(p) for p in err["loc"]]
    # discriminated unions add the tag (e.g. "burst") to the location; users never typed it
    if "intensity" in loc:
        i = loc.index("intensity")
        if i + 1 < len(loc) and loc[i + 1] in ("constant", "ramp", "burst"):
            del loc[i + 1]
    field = ".".join(loc) or "(file)"
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        what = "is missing"
    elif kind == "extra_forbidden" and loc[:1] == ["patterns"] and len(loc) == 2:
        what = f"is not a known pattern (known: {', '.join(PATTERNS)})"
    elif kind == "extra_forbidden":
        what = "is not a known field"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        limit = next(iter(ctx.values()))
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        what = f"must be {sign} {limit}"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
        what = msg[:1].lower() + msg[1:]
    return f"{field}: {what.rstrip('.')}"


def parse_scenario(text: str, path: Path) -> Scenario:
    """A scenario from TOML ``text``; errors name ``path`` and the field."""
    where = _shown(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}.") from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"{where}: {_field_error(exc.errors()[0])}.") from None
    scenario._path = path
    scenario._text = text
    scenario._as_read = scenario.model_dump()
    return scenario


def scenario_path(name_or_path: str, scenarios_dir: Path) -> Path:
    """The file a scenario argument names: a path to a TOML file, or a name in the folder."""
    given = Path(name_or_path)
    if given.suffix == ".toml" or given.is_file() or len(given.parts) > 1:
        if not given.is_file():
            raise UsageError(f"scenario file {name_or_path} does not exist.")
        return given
    path = scenarios_dir / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(scenarios_dir.glob("*.toml"))) or "none"
        raise UsageError(f"unknown scenario {name_or_path!r}: no {_shown(path)} (known: {known}).")
    return path


def load_scenario(name_or_path: str, scenarios_dir: Path) -> Scenario:
    """The scenario a name (in ``scenarios_dir``) or a path to a TOML file refers to."""
    path = scenario_path(name_or_path, scenarios_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{_shown(path)}: cannot be read ({exc}).") from None
    return parse_scenario(text, path)


def list_scenarios(scenarios_dir: Path) -> list[Scenario]:
    """Every scenario in ``scenarios_dir``, by file name."""
    if not scenarios_dir.is_dir():
        raise UsageError(f"scenarios folder {scenarios_dir} does not exist.")
    return [load_scenario(str(p), scenarios_dir) for p in sorted(scenarios_dir.glob("*.toml"))]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_array_of_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(map(_is_table, value))


def _toml_table(prefix: str, table: dict[str, Any], out: list[str]) -> None:
    for key, value in table.items():
        if not _is_table(value) and not _is_array_of_tables(value):
            out.append(f"{key} = {_toml_value(value)}")
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if _is_table(value):
            # a table holding only tables needs no header of its own
            if not value or not all(_is_table(v) for v in value.values()):
                out.extend(["", f"[{name}]"])
            _toml_table(name, value, out)
        elif _is_array_of_tables(value):
            for item in value:
                out.extend(["", f"[[{name}]]"])
                _toml_table(name, item, out)


def scenario_toml(scenario: Scenario) -> str:
    """The resolved scenario (every default filled in) as a TOML document."""
    out: list[str] = []
    _toml_table("", scenario.model_dump(mode="json", exclude_none=True), out)
    return "\n".join(out) + "\n"
