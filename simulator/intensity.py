"""How hard a fraud pattern pushes over the run: constant, a ramp, or burst windows.

An intensity multiplies a pattern's ``rate``; minutes count from the run's start.

>>> Ramp(start_minute=0, end_minute=10, start_level=0, end_level=2).level_at(5)
1.0
>>> Burst(windows=[(2, 3)], level=10, base=0.5).level_at(4)
10.0
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Constant(BaseModel):
    """The same level all the time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["constant"] = "constant"
    level: float = Field(default=1.0, ge=0)

    def level_at(self, minute: float) -> float:
        """The multiplier at ``minute``."""
        return self.level

    @property
    def peak(self) -> float:
        """The highest multiplier this intensity reaches."""
        return self.level


class Ramp(BaseModel):
    """From ``start_level`` to ``end_level`` between two minutes, flat before and after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["ramp"] = "ramp"
    start_minute: float = Field(default=0.0, ge=0)
    end_minute: float = Field(..., gt=0)
    start_level: float = Field(default=0.0, ge=0)
    end_level: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Ramp:
        if self.end_minute <= self.start_minute:
            raise ValueError("end_minute must be after start_minute")
        return self

    def level_at(self, minute: float) -> float:
        """The multiplier at ``minute``."""
        if minute <= self.start_minute:
            return self.start_level
        if minute >= self.end_minute:
            return self.end_level
        share = (minute - self.start_minute) / (self.end_minute - self.start_minute)
        return self.start_level + share * (self.end_level - self.start_level)

    @property
    def peak(self) -> float:
        """The highest multiplier this intensity reaches."""
        return max(self.start_level, self.end_level)


class Burst(BaseModel):
    """``level`` inside the windows (start minute, length in minutes), ``base`` outside."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["burst"] = "burst"
    windows: list[tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(gt=0)]]]
    level: float = Field(default=5.0, ge=0)
    base: float = Field(default=0.0, ge=0)

    def level_at(self, minute: float) -> float:
        """The multiplier at ``minute``."""
        for start, length in self.windows:
            if start <= minute < start + length:
                return self.level
        return self.base

    @property
    def peak(self) -> float:
        """The highest multiplier this intensity reaches."""
        return max(self.level, self.base)


Intensity = Annotated[Constant | Ramp | Burst, Field(discriminator="kind")]
