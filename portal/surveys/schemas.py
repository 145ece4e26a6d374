"""What the submissions API may send: the public schemas are the whitelist of fields that leave
the server (full-stack-fastapi-template's `ItemPublic`). A field not named here is not sent."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer

__all__ = ["Moment", "IssueOut", "ReportOut", "SubmittedParcel", "SubmissionSummary", "SubmissionOut",
           "PublishedOut", "ApprovedOut"]

# Timestamps as Python writes them (`2026-11-23T09:00:00+08:00`), the same text as before the schemas.
Moment = Annotated[dt.datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str,
                                                        when_used="json")]


class IssueOut(BaseModel):
    severity: str = Field(examples=["error"])
    code: str = Field(examples=["overlap_existing"], description="stable name of the fault")
    message: str
    parcel_index: int | None
    # The place in the file; the JSON key stays `where` (an API contract, docs/glossary.md).
    place: str | None = Field(alias="where", description="the place in the file: line, feature or entity")
    location: str | None = Field(description="WKT of the fault in the delivered CRS")
    details: dict[str, Any] = Field(description="measurements of the fault (areas in m², widths in m)")
    localized_message: str | None = Field(default=None, description="the message in the request's language "
                                          "(Accept-Language or the lang cookie), by the report endpoint")


class ReportOut(BaseModel):
    """The validation report: its counts, and one page of its errors and warnings (each with its
    parcel, place in the file and location), issues [issues_offset, issues_offset + issues_limit)
    of `issues_total`, in file order."""

    file: str | None
    crs: int | None
    crs_source: str | None = None
    """How the CRS was decided: ``file`` (stated in it), ``zone_prefix`` (inferred from the eastings'
    zone prefix) or ``uploader`` (given with the upload)."""
    crs_name: str | None = None
    parcel_count: int
    error_count: int
    warning_count: int
    blocks_publication: bool
    issues: list[IssueOut]
    issues_total: int = Field(description="issues in the whole report")
    issues_offset: int = Field(description="position of the page's first issue (0-based)")
    issues_limit: int = Field(description="issues a page holds at most")


class SubmittedParcel(BaseModel):
    position: int
    place: str
    parcel_code: str | None
    land_use_code: str | None
    name: str | None
    declared_area: float | None = Field(description="m², as the surveyor declared it")
    # The calculated area; the JSON name stays `computed_area` (an API contract, docs/glossary.md).
    calculated_area: float | None = Field(serialization_alias="computed_area",
                                          description="m², as publication will store it (planar, Gauss-Krüger)")


class SubmissionSummary(BaseModel):
    """A submission as listed: its state, file and counts, without the report."""

    id: int
    status: str = Field(examples=["submitted"])
    purpose: str = Field(examples=["split"])
    file_name: str
    file_format: str
    file_sha256: str
    file_size: int
    crs: int
    description: str | None
    error_count: int
    warning_count: int
    created_by: int | None
    created_by_name: str
    created_at: Moment
    submitted_at: Moment | None
    decided_at: Moment | None
    decided_by_name: str | None
    reasons: list[str] | None
    source_id: int | None
    parcel_count: int
    retires: list[str] = Field(description="parcel codes the submission retires")


class SubmissionOut(SubmissionSummary):
    """One submission; `report` and `parcels` are left out after a decision step."""

    report: ReportOut | None = None
    parcels: list[SubmittedParcel] | None = None


class PublishedOut(BaseModel):
    parcel_codes: list[str]
    retired_parcel_ids: list[int]
    lineage: list[tuple[int, int]] = Field(description="(retired parcel id, new parcel id) pairs")
    bounds: tuple[float, float, float, float] | None = Field(description="lon/lat extent the publication touched")


class ApprovedOut(SubmissionOut):
    published: PublishedOut
