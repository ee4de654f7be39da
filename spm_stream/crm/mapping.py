"""How each CRM's records become canonical events: the ``crm:`` section of SPM_CONFIG.

Owners (the CRM's user or owner ids) map to people; stage, status, outcome and
activity-type values map to event types. Every CRM ships defaults for its
standard objects (HubSpot's default pipeline, Salesforce's standard stage
names, Close's status types, Pipedrive's activity types); a section in the
YAML replaces the defaults it names and keeps the others.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from urllib.parse import quote

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from spm_stream.contract.events import EventType

__all__ = [
    "CloseMapping",
    "CrmMappings",
    "HubSpotMapping",
    "Owner",
    "PipedriveMapping",
    "SalesforceMapping",
]


def _key_as_text(value: object) -> object:
    # YAML reads an unquoted owner id such as 41520873 as an int; CRMs send it as text.
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


class Owner(BaseModel):
    """A CRM user as a person of the directory, optionally with the team to count for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rep: str = Field(min_length=1)
    team: str | None = None


def _owner(value: object) -> object:
    return {"rep": value} if isinstance(value, str) else value


Types = Annotated[dict[str, EventType], BeforeValidator(_key_as_text)]
Owners = Annotated[
    dict[str, Annotated[Owner, BeforeValidator(_owner)]], BeforeValidator(_key_as_text)
]


class _CrmMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owners: Owners = Field(
        default_factory=dict,
        description="CRM user/owner id → person id (or {rep, team}); unknown owners go to "
        "the dead-letter topic.",
    )
    default_currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="For deals that name no currency."
    )
    default_product: str = Field(
        default="default", min_length=1, description="For won deals that name no product."
    )
    reschedule_initiated_by: Literal["rep", "prospect"] = Field(
        default="prospect",
        description="Who moved a meeting when the CRM does not say (none of the four does).",
    )

    record_url: str | None = Field(
        default=None,
        description="Link to a lead in this CRM, for alerts: a URL with {lead_id} (and "
        "optionally {meeting_id}), e.g. https://app.close.com/lead/{lead_id}/.",
    )

    @field_validator("record_url")
    @classmethod
    def _url_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("https://") or "{lead_id}" not in value:
            raise ValueError("expected an https:// URL containing {lead_id}")
        try:
            value.format(lead_id="x", meeting_id="y")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{lead_id}} and {{meeting_id}} may be used: {exc}") from None
        return value

    def lead_url(self, lead_id: str | None, meeting_id: str) -> str | None:
        """The lead's page in the CRM, when a ``record_url`` is configured."""
        if self.record_url is None or not lead_id:
            return None
        return self.record_url.format(
            lead_id=quote(lead_id, safe=""), meeting_id=quote(meeting_id, safe="")
        )

    def owner(self, crm_id: str | None) -> tuple[str, str | None] | None:
        """The (rep_id, team_id) of a CRM owner id, or None when unmapped."""
        found = self.owners.get(crm_id) if crm_id is not None else None
        return (found.rep, found.team) if found is not None else None


class HubSpotMapping(_CrmMapping):
    """HubSpot workflow webhooks: deals, meetings, calls, e-mails and contacts."""

    deal_stages: Types = Field(
        default_factory=lambda: {
            "qualifiedtobuy": EventType.LEAD_QUALIFIED,
            "contractsent": EventType.QUOTE_SUBMITTED,
            "closedwon": EventType.DEAL_WON,
            "closedlost": EventType.DEAL_LOST,
        },
        description="dealstage value → event type (the default pipeline's internal values).",
    )
    forecast_categories: Types = Field(
        default_factory=lambda: {"COMMIT": EventType.LEAD_IN_FORECAST},
        description="hs_manual_forecast_category value → event type.",
    )
    lifecycle_stages: Types = Field(
        default_factory=lambda: {"salesqualifiedlead": EventType.LEAD_QUALIFIED},
        description="A contact's lifecyclestage value → event type.",
    )
    meeting_outcomes: Types = Field(
        default_factory=lambda: {
            "SCHEDULED": EventType.MEETING_BOOKED,
            "COMPLETED": EventType.MEETING_HELD,
            "NO_SHOW": EventType.MEETING_NO_SHOW,
            "RESCHEDULED": EventType.MEETING_RESCHEDULED,
            "CANCELED": EventType.MEETING_CANCELED,
        },
        description="hs_meeting_outcome value → event type.",
    )
    call_outcomes: Types = Field(
        default_factory=dict,
        description="hs_call_disposition id → an extra event besides the call, e.g. "
        "Connected (f240bbac-87c9-4f6e-bf70-924b57d47db7) → conversation.meaningful.",
    )


class SalesforceMapping(_CrmMapping):
    """Salesforce outbound messages: Opportunity, Lead, Task and Event."""

    organization_id: str | None = Field(
        default=None,
        description="The 15- or 18-character org id; messages from other orgs are refused.",
    )
    stages: Types = Field(
        default_factory=lambda: {
            "Qualification": EventType.LEAD_QUALIFIED,
            "Proposal/Price Quote": EventType.QUOTE_SUBMITTED,
            "Closed Won": EventType.DEAL_WON,
            "Closed Lost": EventType.DEAL_LOST,
        },
        description="Opportunity StageName → event type (the standard sales process).",
    )
    forecast_categories: Types = Field(
        default_factory=lambda: {"Commit": EventType.LEAD_IN_FORECAST},
        description="Opportunity ForecastCategoryName → event type.",
    )
    lead_statuses: Types = Field(
        default_factory=lambda: {"Closed - Converted": EventType.LEAD_QUALIFIED},
        description="Lead Status → event type.",
    )
    task_types: Types = Field(
        default_factory=lambda: {
            "Call": EventType.ACTIVITY_CALL,
            "Email": EventType.ACTIVITY_EMAIL,
        },
        description="Task TaskSubtype (else Type) → event type.",
    )
    event_outcome_field: str | None = Field(
        default=None, description="A custom Event field holding the meeting's outcome."
    )
    event_outcomes: Types = Field(
        default_factory=dict, description="That field's value → event type (e.g. No Show)."
    )


class CloseMapping(_CrmMapping):
    """Close webhooks: calls, e-mails, meetings, opportunities and lead status changes."""

    opportunity_statuses: Types = Field(
        default_factory=lambda: {"won": EventType.DEAL_WON, "lost": EventType.DEAL_LOST},
        description="An opportunity's status_type (or status_label) → event type.",
    )
    lead_statuses: Types = Field(
        default_factory=lambda: {"Qualified": EventType.LEAD_QUALIFIED},
        description="A lead status change's new_status_label → event type.",
    )
    meeting_statuses: Types = Field(
        default_factory=lambda: {
            "upcoming": EventType.MEETING_BOOKED,
            "completed": EventType.MEETING_HELD,
            "canceled": EventType.MEETING_CANCELED,
            "declined-by-lead": EventType.MEETING_CANCELED,
        },
        description="A meeting activity's status → event type.",
    )
    outcomes: Types = Field(
        default_factory=dict,
        description="A call or meeting outcome_id → an extra event (e.g. a no-show outcome).",
    )


class PipedriveMapping(_CrmMapping):
    """Pipedrive webhooks (v1 and v2): deals and activities."""

    deal_statuses: Types = Field(
        default_factory=lambda: {"won": EventType.DEAL_WON, "lost": EventType.DEAL_LOST},
        description="A deal's status → event type.",
    )
    stages: Types = Field(
        default_factory=dict,
        description="stage_id → event type (stage ids are per account, so none by default).",
    )
    activity_types: Types = Field(
        default_factory=lambda: {
            "call": EventType.ACTIVITY_CALL,
            "email": EventType.ACTIVITY_EMAIL,
            "meeting": EventType.MEETING_BOOKED,
        },
        description="An activity's type key → event type; a meeting marked done is held.",
    )


_CRMS: Final = frozenset({"hubspot", "salesforce", "close", "pipedrive"})


class CrmMappings(BaseModel):
    """The ``crm:`` section: one mapping per CRM, each with shipped defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def lead_url(self, source: str | None, lead_id: str | None, meeting_id: str) -> str | None:
        """The lead's page in the CRM an event came from (``source``), if configured."""
        mapping = getattr(self, source, None) if source in _CRMS else None
        return mapping.lead_url(lead_id, meeting_id) if mapping is not None else None

    hubspot: HubSpotMapping = HubSpotMapping()
    salesforce: SalesforceMapping = SalesforceMapping()
    close: CloseMapping = CloseMapping()
    pipedrive: PipedriveMapping = PipedriveMapping()
