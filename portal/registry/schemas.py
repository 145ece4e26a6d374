"""What the applications API may send: the schemas are the whitelist of fields that leave the
server, one per audience (shared docs/domain.md, "Who may see what"). A field not named in the
audience's schema is not sent.

    audience      applications                         unit record
    registrar     ApplicationOut: everything,          UnitOut: restrictions with court, document
                  the request as received (identity    number and secured amount
                  numbers masked: stored sealed)
    court clerk   ApplicationForCourt: the workflow;   UnitForCourt: seizures with court and
                  applicant and request of seizures    document number; no amounts
                  only, the request's seizure fields
    auditor       ApplicationSummary: the workflow     UnitSummary: kinds, states, ranks and terms
                  (who received and decided, when),
                  no applicant, no request

`application_for(principal, row)` and `unit_for(principal, row)` choose by the principal's
permissions (`portal.platform.permissions`), never by deleting keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer

from portal.platform.permissions import Action, Principal

__all__ = ["Moment", "ApplicationSummary", "SeizureRequestOut", "ApplicationForCourt", "ApplicationOut",
           "ApplicationView", "RegisteredOut", "RegisteredForCourt", "RegisteredView", "RestrictionFlagsOut",
           "RestrictionForCourtOut", "RestrictionOut", "OwnershipOut", "UnitSummary", "UnitForCourt", "UnitOut",
           "UnitView", "MonthOut", "audience", "application_for", "registered_for", "unit_for", "shown_request"]

# Timestamps as Python writes them (`2026-11-23T09:00:00+08:00`), the same text as before the schemas.
Moment = Annotated[dt.datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str,
                                                        when_used="json")]


class ApplicationSummary(BaseModel):
    """An application as the workflow knows it (the auditor's view): its kind, state, deadline
    and who received and decided it, without the applicant or what they asked to register."""

    id: int
    reference: str
    kind: str = Field(examples=["mortgage"])
    status: str = Field(examples=["under_review"])
    unit_number: str
    received_at: Moment
    received_by_name: str
    due_at: Moment
    review_started_at: Moment | None
    decided_at: Moment | None
    decided_by_name: str | None
    reasons: list[str] | None
    outcome: dict[str, Any] | None = Field(description="ids of the records the registration changed, by kind")
    time_limit_days: int
    warning: str | None = Field(examples=["due_soon", "overdue"])


class SeizureRequestOut(BaseModel):
    """What a seizure or its release asks: the fields a court clerk works with, and no others."""

    court: str | None = None
    document_number: str | None = None
    term_start: str | None = None
    term_end: str | None = None
    reason: str | None = None
    restriction_id: int | None = Field(default=None, description="the seizure a release lifts")


class ApplicationForCourt(ApplicationSummary):
    """A court clerk's view: the workflow, and for seizures and their releases the applicant and
    the seizure's fields; for every other kind neither (`null`)."""

    applicant: str | None
    request: SeizureRequestOut | None


class ApplicationOut(ApplicationSummary):
    """The registrar's view: the application as received, identity numbers masked (the request is
    stored with them sealed, `parties.sealed_request`; a registered party's full number is for the
    audited reveal, `POST /api/registry/parties/{party_id}/identity-number`)."""

    applicant: str
    outcome: dict[str, Any] | None = Field(description="what the registration changed, by kind of record")
    request: dict[str, Any] = Field(description="what to register; depends on the kind")


ApplicationView = ApplicationOut | ApplicationForCourt | ApplicationSummary
SEIZURE_KINDS = ("seizure", "seizure_release")


def audience(principal: Principal) -> str:
    """Which view of the register the principal gets: "registry" (the full record, identity
    numbers unmasked), "court" (seizures and what a seizure needs) or "summary" (no personal data)."""
    if principal.may(Action.VIEW_FULL_RECORD) and principal.may(Action.VIEW_IDENTITY_NUMBERS):
        return "registry"
    return "court" if principal.may(Action.VIEW_SEIZURE_DETAILS) else "summary"


def _shown_party(given: Any) -> Any:
    if not isinstance(given, dict) or "id_document_masked" not in given:
        return given
    kept = {k: v for k, v in given.items() if k not in ("id_document_masked", "id_document_digest",
                                                        "id_document_sealed")}
    return {**kept, "id_document_number": given["id_document_masked"]}


def shown_request(request: Any) -> Any:
    """A stored request as registrars see it: each party's identity number in its masked form
    under `id_document_number` (the digest and the sealed number never leave the server)."""
    if not isinstance(request, dict):
        return request
    shown = dict(request)
    for key in ("holders", "mortgagee", "party"):
        if isinstance(shown.get(key), list):
            shown[key] = [_shown_party(given) for given in shown[key]]
        elif key in shown:
            shown[key] = _shown_party(shown[key])
    return shown


def application_for(principal: Principal, row: dict[str, Any]) -> ApplicationSummary:
    """The application `row` in the schema of the principal's audience."""
    seen = audience(principal)
    if seen == "registry":
        return ApplicationOut.model_validate({**row, "request": shown_request(row.get("request"))})
    if seen == "court":
        seizure = row["kind"] in SEIZURE_KINDS
        asked = row.get("request") if seizure and isinstance(row.get("request"), dict) else None
        return ApplicationForCourt.model_validate({
            **ApplicationSummary.model_validate(row).model_dump(), "applicant": row["applicant"] if seizure else None,
            "request": SeizureRequestOut.model_validate(
                {k: asked.get(k) for k in SeizureRequestOut.model_fields}) if asked is not None else None})
    return ApplicationSummary.model_validate(row)


class RegisteredOut(ApplicationOut):
    changed: dict[str, list[int]] = Field(description="ids of the records the registration created or ended")


class RegisteredForCourt(ApplicationForCourt):
    changed: dict[str, list[int]] = Field(description="ids of the records the registration created or ended")


RegisteredView = RegisteredOut | RegisteredForCourt


def registered_for(principal: Principal, row: dict[str, Any], changed: dict[str, list[int]]) -> BaseModel:
    """A registered application with what changed, in the schema of the principal's audience
    (only registrars and court clerks register)."""
    view = application_for(principal, row).model_dump()
    kind = RegisteredOut if audience(principal) == "registry" else RegisteredForCourt
    return kind.model_validate({**view, "changed": changed})


class RestrictionFlagsOut(BaseModel):
    restriction_id: int
    kind: str
    status: str
    rank: int | None
    queue_position: int | None
    term_start: str | None
    term_end: str | None


class RestrictionForCourtOut(RestrictionFlagsOut):
    court: str | None = Field(description="seizures only")
    document_number: str | None = Field(description="the court order's number; seizures only")


class RestrictionOut(RestrictionForCourtOut):
    secured_amount: int | float | None = Field(description="yuan")


class OwnershipOut(BaseModel):
    right_id: int
    co_ownership: str | None
    registered_on: str | None
    holders: int


class UnitSummary(BaseModel):
    """A unit and its open restrictions by kind, state, rank and term: no names, numbers or amounts."""

    unit_id: int
    unit_number: str
    location: str | None
    use: str | None
    floor_area: float | None
    restrictions: Sequence[RestrictionFlagsOut]
    ownership: OwnershipOut | None


class UnitForCourt(UnitSummary):
    """A court clerk's view: the seizures with their court and document number; no amounts."""

    restrictions: Sequence[RestrictionForCourtOut]


class UnitOut(UnitSummary):
    """A unit's ownership and open restrictions, for a registrar preparing an application."""

    restrictions: Sequence[RestrictionOut]


UnitView = UnitOut | UnitForCourt | UnitSummary


def unit_for(principal: Principal, row: dict[str, Any]) -> UnitSummary:
    """The unit record `row` in the schema of the principal's audience."""
    seen = audience(principal)
    if seen == "registry":
        return UnitOut.model_validate(row)
    if seen == "court":
        return UnitForCourt.model_validate({**row, "restrictions": [
            {**r, "court": r["court"] if r["kind"] == "seizure" else None,
             "document_number": r["document_number"] if r["kind"] == "seizure" else None}
            for r in row["restrictions"]]})
    return UnitSummary.model_validate(row)


class MonthOut(BaseModel):
    """Per kind and month: completed applications, median working days, share within the time limit."""

    kind: str
    month: str = Field(examples=["2026-11"])
    completed: int
    median_working_days: float | None
    within_limit_percent: float | None
    time_limit_days: int
