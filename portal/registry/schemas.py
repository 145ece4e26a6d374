"""What the applications API may send: the public schemas are the whitelist of fields that leave
the server. A field not named here is not sent."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer

__all__ = ["Moment", "ApplicationOut", "RegisteredOut", "RestrictionOut", "OwnershipOut", "UnitOut", "MonthOut"]

# Timestamps as Python writes them (`2026-11-23T09:00:00+08:00`), the same text as before the schemas.
Moment = Annotated[dt.datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str,
                                                        when_used="json")]


class ApplicationOut(BaseModel):
    """An application with its deadline and, while open, a `warning` (due_soon or overdue)."""

    id: int
    reference: str
    kind: str = Field(examples=["mortgage"])
    status: str = Field(examples=["under_review"])
    unit_number: str
    applicant: str
    received_at: Moment
    received_by_name: str
    due_at: Moment
    review_started_at: Moment | None
    decided_at: Moment | None
    decided_by_name: str | None
    reasons: list[str] | None
    outcome: dict[str, Any] | None = Field(description="what the registration changed, by kind of record")
    request: dict[str, Any] = Field(description="what to register; depends on the kind")
    time_limit_days: int
    warning: str | None = Field(examples=["due_soon", "overdue"])


class RegisteredOut(ApplicationOut):
    changed: dict[str, list[int]] = Field(description="ids of the records the registration created or ended")


class RestrictionOut(BaseModel):
    restriction_id: int
    kind: str
    status: str
    rank: int | None
    queue_position: int | None
    court: str | None
    document_number: str | None
    secured_amount: int | float | None = Field(description="yuan")
    term_start: str | None
    term_end: str | None


class OwnershipOut(BaseModel):
    right_id: int
    co_ownership: str | None
    registered_on: str | None
    holders: int


class UnitOut(BaseModel):
    """A unit's ownership and open restrictions, for staff preparing an application."""

    unit_id: int
    unit_number: str
    location: str | None
    use: str | None
    floor_area: float | None
    restrictions: list[RestrictionOut]
    ownership: OwnershipOut | None


class MonthOut(BaseModel):
    """Per kind and month: completed applications, median working days, share within the time limit."""

    kind: str
    month: str = Field(examples=["2026-11"])
    completed: int
    median_working_days: float | None
    within_limit_percent: float | None
    time_limit_days: int
