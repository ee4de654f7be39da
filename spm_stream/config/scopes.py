"""Scopes: which rep, team and org an event counts for, and in which time zone.

A rep's days follow the rep's own zone (directory override, else the org's);
team and org days follow the org zone. The team is the event's ``team_id``,
else the rep's team in the directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from spm_stream.config.directory import Directory
from spm_stream.contract.events import Event

__all__ = ["ORG", "Routing", "Scope"]

#: Scope id of the whole organisation.
ORG: Final = "all"


@dataclass(frozen=True, slots=True)
class Scope:
    """One place an event counts: ("rep", "rep-17", zone), ("team", "emea", zone), ("org", …)."""

    kind: str
    id: str
    zone: ZoneInfo


@dataclass(frozen=True)
class Routing:
    """Team and zone look-ups for planning and querying."""

    zone: ZoneInfo
    team_of: Mapping[str, str | None] = field(default_factory=dict)
    rep_zones: Mapping[str, ZoneInfo] = field(default_factory=dict)

    @classmethod
    def from_directory(cls, directory: Directory) -> Routing:
        """Routing from the people directory (SPM_CONFIG)."""
        return cls(
            zone=directory.zone(),
            team_of={pid: p.team for pid, p in directory.people.items()},
            rep_zones={
                pid: ZoneInfo(p.timezone) for pid, p in directory.people.items() if p.timezone
            },
        )

    def team_for(self, event: Event) -> str | None:
        """The CRM's own team_id, else the directory's team of the rep."""
        return event.team_id if event.team_id is not None else self.team_of.get(event.rep_id)

    def zone_of(self, scope: str, scope_id: str) -> ZoneInfo:
        """The zone whose calendar days a scope's counters follow."""
        return self.rep_zones.get(scope_id, self.zone) if scope == "rep" else self.zone

    def today(self, scope: str, scope_id: str) -> date:
        """Today's local date in the scope's zone (the default day of a query)."""
        return datetime.now(UTC).astimezone(self.zone_of(scope, scope_id)).date()

    def scopes(self, event: Event) -> list[Scope]:
        """Every scope the event counts in."""
        out = [
            Scope("rep", event.rep_id, self.zone_of("rep", event.rep_id)),
            Scope("org", ORG, self.zone),
        ]
        team = self.team_for(event)
        if team is not None:
            out.append(Scope("team", team, self.zone))
        return out
