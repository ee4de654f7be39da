"""The people directory: who is on which team, their Slack id, manager, time zone and locale.

Loaded from the YAML file named by ``SPM_CONFIG``. Every reference is checked
at load time (a person's team exists, a manager is a known person, time zones
and locales are real), and errors name the key, e.g.
``people.rep-17.timezone: unknown time zone 'Europe/Berln'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spm_stream.settings import ConfigError

__all__ = ["Directory", "Person", "Team", "load_directory"]

Locale = Literal["en", "de", "zh"]
SlackId = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$")]
Channel = Annotated[str, Field(pattern=r"^(#[a-z0-9_.-]+|[CGD][A-Z0-9]{2,})$")]


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Team(_Strict):
    """A sales team and where its posts go."""

    name: str | None = None
    channel: Channel | None = Field(default=None, description="Slack channel id or #name.")
    manager: str | None = Field(default=None, description="Person id of the team's manager.")


class Person(_Strict):
    """A rep or a manager."""

    name: str | None = None
    slack_id: SlackId | None = None
    team: str | None = None
    manager: str | None = None
    timezone: str | None = Field(default=None, description="IANA zone; org default if unset.")
    locale: Locale | None = None

    _zone = field_validator("timezone")(_check_zone)


class Directory(_Strict):
    """The whole people/teams configuration, with cross-references checked."""

    timezone: str = Field(default="UTC", description="Org default IANA time zone.")
    locale: Locale = "en"
    teams: dict[str, Team] = Field(default_factory=dict)
    people: dict[str, Person] = Field(default_factory=dict)

    _zone = field_validator("timezone")(_check_zone)

    @model_validator(mode="after")
    def _references(self) -> Directory:
        for pid, person in self.people.items():
            if person.team is not None and person.team not in self.teams:
                raise _RefError(f"people.{pid}.team", f"unknown team {person.team!r}")
            if person.manager is not None and person.manager not in self.people:
                raise _RefError(f"people.{pid}.manager", f"unknown person {person.manager!r}")
        for tid, team in self.teams.items():
            if team.manager is not None and team.manager not in self.people:
                raise _RefError(f"teams.{tid}.manager", f"unknown person {team.manager!r}")
        return self

    def team_of(self, rep_id: str) -> str | None:
        """The configured team of a rep, if any."""
        person = self.people.get(rep_id)
        return person.team if person else None

    def display_name(self, rep_id: str) -> str:
        """A person's name for messages, falling back to the id."""
        person = self.people.get(rep_id)
        return person.name if person and person.name else rep_id

    def zone(self) -> ZoneInfo:
        """The org time zone, in which daily counters roll over."""
        return ZoneInfo(self.timezone)


class _RefError(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key


def load_directory(path: Path | None) -> Directory:
    """Load and validate the YAML directory; no file means an empty directory in UTC."""
    if path is None:
        return Directory()
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Directory.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        ctx_error = err.get("ctx", {}).get("error")
        if isinstance(ctx_error, _RefError):
            raise ConfigError(f"{path}: {ctx_error}") from None
        key = ".".join(str(p) for p in err["loc"])
        msg = str(ctx_error) if ctx_error is not None else err["msg"]
        raise ConfigError(f"{path}: {key}: {msg}") from None
