"""The people directory: who is on which team, their Slack id, manager, time zone and locale.

Loaded from the YAML file named by ``SPM_CONFIG``. Every reference is checked
at load time (a person's team exists, a manager is a known person, time zones
and locales are real), and errors name the key, e.g.
``people.rep-17.timezone: unknown time zone 'Europe/Berln'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spm_stream.config_files import load_yaml_model

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
                raise ValueError(f"people.{pid}.team: unknown team {person.team!r}")
            if person.manager is not None and person.manager not in self.people:
                raise ValueError(f"people.{pid}.manager: unknown person {person.manager!r}")
        for tid, team in self.teams.items():
            if team.manager is not None and team.manager not in self.people:
                raise ValueError(f"teams.{tid}.manager: unknown person {team.manager!r}")
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


def load_directory(path: Path | None) -> Directory:
    """Load and validate the YAML directory; no file means an empty directory in UTC."""
    return Directory() if path is None else load_yaml_model(path, Directory)
