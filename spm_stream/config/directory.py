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

from spm_stream.config.files import load_yaml_model
from spm_stream.crm.generic import Roster
from spm_stream.crm.mapping import CrmMappings
from spm_stream.ranking.boards import BoardSpec
from spm_stream.ranking.fair import Scorecard
from spm_stream.ranking.gamification import Gamification
from spm_stream.ranking.privacy import Privacy, Visibility
from spm_stream.rules.config import AlertRules, CalendarConfig
from spm_stream.time.worktime import WorkCalendar

__all__ = ["Directory", "Person", "Team", "check_zone", "load_directory"]

Locale = Literal["en", "de", "zh"]
SlackId = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,}$")]
Channel = Annotated[str, Field(pattern=r"^(#[a-z0-9_.-]+|[CGD][A-Z0-9]{2,})$")]


def check_zone(value: str | None) -> str | None:
    """A validator: ``value`` is a known IANA time zone (or None)."""
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
    calendar: CalendarConfig | None = Field(
        default=None, description="The team's working calendar, if not the org's."
    )


class Person(_Strict):
    """A rep or a manager."""

    name: str | None = None
    slack_id: SlackId | None = None
    team: str | None = None
    manager: str | None = None
    timezone: str | None = Field(default=None, description="IANA zone; org default if unset.")
    locale: Locale | None = None
    role: str | None = Field(default=None, description="Picks the scorecard, e.g. sdr or ae.")

    _zone = field_validator("timezone")(check_zone)


class Directory(_Strict):
    """The whole config file: people, teams, calendar and alert rules, cross-checked."""

    timezone: str = Field(default="UTC", description="Org default IANA time zone.")
    locale: Locale = "en"
    calendar: CalendarConfig = CalendarConfig()
    teams: dict[str, Team] = Field(default_factory=dict)
    people: dict[str, Person] = Field(default_factory=dict)
    alerts: AlertRules = AlertRules()
    gamification: Gamification = Gamification()
    boards: list[BoardSpec] = Field(default_factory=list)
    crm: CrmMappings = CrmMappings()
    privacy: Privacy = Privacy()
    scorecards: dict[str, Scorecard] = Field(
        default_factory=dict, description="Role -> weighted metrics; 'default' for the rest."
    )

    _zone = field_validator("timezone")(check_zone)

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
        for crm, mapping in self.crm:
            for crm_id, owner in mapping.owners.items():
                where = f"crm.{crm}.owners.{crm_id}"
                if self.people and owner.rep not in self.people:
                    raise ValueError(f"{where}: unknown person {owner.rep!r}")
                if owner.team is not None and owner.team not in self.teams:
                    raise ValueError(f"{where}.team: unknown team {owner.team!r}")
        for i, board in enumerate(self.boards):
            if board.team is not None and board.team not in self.teams:
                raise ValueError(f"boards.{i}.team: unknown team {board.team!r}")
            if self.visibility(board) == "public" and board.channel is None:
                raise ValueError(f"boards.{i}.channel: a public board needs a channel")
            if board.metric == "score" and not self.scorecards:
                raise ValueError(f"boards.{i}.metric: score needs scorecards: in SPM_CONFIG")
        return self

    def visibility(self, board: BoardSpec) -> Visibility:
        """A board's own visibility, else the ``privacy.boards`` default."""
        return board.visibility or self.privacy.boards

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

    def zone_of(self, person_id: str) -> ZoneInfo:
        """A person's time zone, else the org's."""
        person = self.people.get(person_id)
        return ZoneInfo(person.timezone) if person and person.timezone else self.zone()

    def locale_of(self, person_id: str) -> str:
        """A person's locale, else the org's."""
        person = self.people.get(person_id)
        return person.locale if person and person.locale else self.locale

    def manager_of(self, rep_id: str) -> str | None:
        """The rep's own manager, else the manager of the rep's team."""
        person = self.people.get(rep_id)
        if person is None:
            return None
        if person.manager is not None:
            return person.manager
        team = self.teams.get(person.team) if person.team else None
        return team.manager if team else None

    def calendar_of(self, person_id: str) -> WorkCalendar:
        """A person's working calendar: the team's (else the org's) in the person's zone."""
        team_id = self.team_of(person_id)
        team = self.teams.get(team_id) if team_id else None
        config = team.calendar if team and team.calendar else self.calendar
        return config.for_zone(self.zone_of(person_id))

    def scope_name(self, scope: str, scope_id: str) -> str:
        """What people call a rep, team or the org (tables show names, not ids)."""
        if scope == "rep":
            return self.display_name(scope_id)
        if scope == "team":
            team = self.teams.get(scope_id)
            return (team.name if team is not None else None) or scope_id
        return "org"

    def roster(self) -> Roster:
        """The reps and teams events may name (canonical webhooks check it)."""
        return Roster(frozenset(self.reps()), frozenset(self.teams))

    def reps(self) -> list[str]:
        """People on a team who manage nobody: the ones nudged every morning."""
        managers = {p.manager for p in self.people.values()} | {
            t.manager for t in self.teams.values()
        }
        return sorted(pid for pid, p in self.people.items() if p.team and pid not in managers)

    def managers(self) -> list[str]:
        """People who manage a team or a person: the ones sent the digest."""
        found = {p.manager for p in self.people.values()} | {t.manager for t in self.teams.values()}
        return sorted(m for m in found if m is not None)

    def locales(self) -> set[str]:
        """Every locale a message may be rendered in."""
        return {self.locale} | {p.locale for p in self.people.values() if p.locale}

    def unreachable(self) -> list[str]:
        """Warnings for reps and managers without a Slack id (their alerts cannot be sent)."""
        return [
            f"people.{pid}.slack_id: not set; alerts to {pid} go to the ops channel only"
            for pid in sorted(set(self.reps()) | set(self.managers()))
            if self.people.get(pid) is None or self.people[pid].slack_id is None
        ]

    def reports_of(self, manager_id: str) -> list[str]:
        """The reps whose manager (own or team's) is ``manager_id``."""
        return [rep for rep in self.reps() if self.manager_of(rep) == manager_id]


def load_directory(path: Path | None) -> Directory:
    """Load and validate the YAML directory; no file means an empty directory in UTC."""
    return Directory() if path is None else load_yaml_model(path, Directory)
