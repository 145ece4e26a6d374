"""The shape of a check's answer, for the OpenAPI document only: the API sends the JSON the
database built (migration 0007) without validating it through these models, which would cost
more than the check itself. `tests/checks/test_check_function.py` holds answers to them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

__all__ = ["CheckOut", "CheckUnitOut", "CheckQueryOut"]


class CheckQueryOut(BaseModel):
    kind: Literal["unit_number", "parcel_code"]
    value: str


class CheckUnitOut(BaseModel):
    """One unit: the flags everyone who may check sees, and what a higher tier adds."""

    unit_number: str
    location: str
    use: str
    co_owned: bool
    holders: int
    mortgaged: bool
    mortgages: int
    seized: bool
    seizures_active: int
    seizures_queued: int
    under_objection: bool
    objections: int
    advance_notice: bool
    advance_notices: int
    tier: Literal["flags", "court", "owner", "registry"]
    record: dict[str, list[dict[str, Any]]] | None = None
    """owner and registry tiers: rights (with holders and shares) and restrictions, history included"""
    seizures: list[dict[str, Any]] | None = None
    """court tier: active and queued seizures (court, document number, queue position, term)"""


class CheckOut(BaseModel):
    reference: str
    verification_code: str
    as_of: str
    query: CheckQueryOut
    tier: Literal["flags", "court", "owner", "registry"]
    units: list[CheckUnitOut]
    certificate_url: str
    verify_url: str
