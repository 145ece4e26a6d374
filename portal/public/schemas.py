"""What the public portal may send: the whitelist of fields anyone may see (disclosure tier 0).

These models are the only shapes the public JSON API returns. Owners, shares, mortgages,
seizures and identity documents have no field here, so they cannot leave through this API.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "LandUse", "AdminArea", "UnitPublic", "ParcelVersion", "LineageLink", "ParcelPublic",
    "SearchHit", "SearchResults", "ParcelLabel",
]


class LandUse(BaseModel):
    code: str
    name_zh: str
    name_en: str


class AdminArea(BaseModel):
    code: str
    name: str


class UnitPublic(BaseModel):
    unit_number: str
    location: str


class ParcelVersion(BaseModel):
    version: int
    land_use: LandUse
    area: Decimal
    begin_lifespan: dt.datetime
    end_lifespan: dt.datetime | None


class LineageLink(BaseModel):
    relation: Literal["parent", "child"]
    event: Literal["split", "merge", "boundary_adjustment"]
    parcel_code: str
    recorded_at: dt.datetime


class ParcelPublic(BaseModel):
    """A parcel as anyone may see it; `current` is false once it was split or merged away."""

    parcel_code: str
    current: bool
    version: int
    area: Decimal
    # The declared area; the JSON name stays `survey_area` (an API contract, docs/glossary.md).
    declared_area: Decimal | None = Field(serialization_alias="survey_area")
    land_use: LandUse
    admin_area: AdminArea
    valid_from: dt.date
    valid_to: dt.date | None
    begin_lifespan: dt.datetime
    end_lifespan: dt.datetime | None
    units: list[UnitPublic]
    history: list[ParcelVersion]
    lineage: list[LineageLink]
    bbox: list[float]
    centroid: list[float]
    geometry: dict[str, Any]


class SearchHit(BaseModel):
    kind: Literal["parcel", "unit", "location"]
    parcel_code: str
    unit_number: str | None = None
    location: str | None = None
    bbox: list[float]
    centroid: list[float]


class SearchResults(BaseModel):
    query: str
    # "label": a map label's short number (the parcel sequence number), searched around the view
    kind: Literal["parcel", "unit", "location", "label"]
    results: list[SearchHit]


class ParcelLabel(BaseModel):
    parcel_code: str
    lon: float
    lat: float
