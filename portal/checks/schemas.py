"""The shape of a check's answer, for the OpenAPI document only: the API sends the JSON the
database built (migration 0007) without validating it through these models, which would cost
more than the check itself. `tests/checks/test_check_function.py` holds answers to them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["CheckIn", "CheckOut", "CheckUnitOut", "CheckQueryOut", "CHECK_REQUEST_BODY"]


class CheckIn(BaseModel):
    """What POST /api/check takes: one of `unit_number`, `parcel_code` or `query` (either), and
    an optional purpose. Documentation only: the route reads the body itself
    (`portal.platform.requests.json_object`), refusing anything but text in these fields with 422."""

    unit_number: str | None = Field(default=None, min_length=28, max_length=28,
                                    description="the 28-character unit number (GB/T 37346)",
                                    examples=["330102001001GB00001F00010001"])
    parcel_code: str | None = Field(default=None, min_length=19, max_length=19,
                                    description="the 19-character parcel code: every unit on the parcel")
    query: str | None = Field(default=None, max_length=64, description="a unit number or a parcel code")
    purpose: str | None = Field(default=None, max_length=200, description="why the check is made (logged)")


CHECK_REQUEST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": CheckIn.model_json_schema()}}}}


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
