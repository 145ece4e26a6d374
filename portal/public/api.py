"""The public JSON API behind the map: a parcel by code or by point, search, labels.

Only the public tier leaves here (see schemas.py). Query parameters are checked once, and bad
input gets a 422 that names the problem.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from psycopg import AsyncConnection

from portal.platform.deps import ReadConnection
from portal.public import queries
from portal.public.parcels import checked_parcel_code, parcel_from_row, public_parcel
from portal.public.schemas import ParcelLabel, ParcelPublic, SearchHit, SearchResults

__all__ = ["router", "checked_bbox", "classify_query", "label_number", "run_search"]

router = APIRouter(prefix="/api", tags=["public map"])

# The widest view (degrees) in which a map shows parcel labels (zoom 17 on a 2560 px screen is 0.027°):
# wider, digits are not a label's number, and the label search stays within a small box.
LABEL_VIEW_MAX = 0.03
_CODE_CHARS = re.compile(r"^[0-9A-Z]+$")
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}


def classify_query(text: str) -> tuple[Literal["parcel", "unit", "location"], str]:
    """What the user typed: a parcel code prefix, a unit number prefix, or a location (坐落)."""
    cleaned = " ".join(text.translate(_FULL_WIDTH).split())
    compact = cleaned.replace(" ", "").upper()
    if compact and _CODE_CHARS.match(compact) and compact[0].isdigit() and len(compact) >= 6:
        return ("parcel", compact) if len(compact) <= 19 else ("unit", compact)
    return "location", cleaned


def checked_bbox(bbox: str) -> tuple[float, float, float, float]:
    """"min lon,min lat,max lon,max lat" (CGCS2000 degrees, lon first) as four floats, or a 422
    naming what is wrong (not four numbers, min not below max, outside -180..180 / -90..90)."""
    try:
        box = tuple(float(v) for v in bbox.split(","))
    except ValueError as error:
        raise HTTPException(
            422, f"bbox must be four numbers separated by commas: {bbox!r}") from error
    if len(box) != 4 or not (-180 <= box[0] < box[2] <= 180 and -90 <= box[1] < box[3] <= 90):
        raise HTTPException(
            422, "bbox must be min lon, min lat, max lon, max lat with min < max, in degrees: "
                 f"{bbox!r}")
    return box[0], box[1], box[2], box[3]


def label_number(text: str) -> str | None:
    """The map label's short number when `text` is one (1 to 5 digits, full-width allowed), padded
    to the five digits of the parcel sequence number the label shows ("41" -> "00041"); else None."""
    compact = "".join(text.translate(_FULL_WIDTH).split())
    if compact.isascii() and compact.isdigit() and 1 <= len(compact) <= 5:
        return compact.zfill(5)
    return None


@router.get("/parcels/at", response_model=ParcelPublic)
async def parcel_at(
    conn: ReadConnection,
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude, CGCS2000 (EPSG:4490)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude, CGCS2000 (EPSG:4490)")],
) -> ParcelPublic:
    """The current parcel under a point (what a click on the map asks)."""
    row = await queries.parcel_at(conn, lon, lat)
    if row is None:
        raise HTTPException(404, f"no current parcel at longitude {lon}, latitude {lat}")
    return await parcel_from_row(conn, row)


@router.get("/parcels/labels", response_model=list[ParcelLabel])
async def parcel_labels(
    request: Request,
    conn: ReadConnection,
    bbox: Annotated[str, Query(description="min lon, min lat, max lon, max lat")],
) -> list[ParcelLabel]:
    """Parcel codes with a point inside each parcel, for labels at high zoom."""
    box = checked_bbox(bbox)
    map_settings = request.app.state.settings.map
    rows = await queries.labels_in(conn, box, map_settings.max_labels)
    return [ParcelLabel(parcel_code=r["parcel_code"].strip(), lon=r["lon"], lat=r["lat"])
            for r in rows]


@router.get("/parcels/{parcel_code}", response_model=ParcelPublic)
async def parcel(parcel_code: str, conn: ReadConnection) -> ParcelPublic:
    """A parcel's public facts: code, area, land use, administrative area, units, history."""
    found, _ = await public_parcel(conn, checked_parcel_code(parcel_code))
    return found


@router.get("/search", response_model=SearchResults)
async def search(
    conn: ReadConnection,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    view: Annotated[str | None, Query(
        max_length=200, description="the map's view: min lon, min lat, max lon, max lat (CGCS2000 degrees); "
                                    "with it (at most 0.03° wide and high: where labels show), a short number "
                                    "as the map labels show it (1 to 5 digits) finds the parcels with that "
                                    "sequence number in the view, then nearest it (within one view around it), "
                                    "before the locations holding the number")] = None,
) -> SearchResults:
    """Suggestions as the user types: parcel code or unit number prefix, a map label's short
    number (with `view`), or part of a location."""
    return await run_search(conn, q, limit, None if view is None else checked_bbox(view))


async def run_search(conn: AsyncConnection, q: str, limit: int,
                     view: tuple[float, float, float, float] | None = None) -> SearchResults:
    """Search as the API does (the map page uses it too when scripts are off). With `view` (the
    map's bounds, lon/lat degrees), a label's short number comes first: see `label_number`."""
    if any(ord(c) < 32 for c in q):
        raise HTTPException(422, "the search text contains control characters")
    labels_shown = view is not None and max(view[2] - view[0], view[3] - view[1]) <= LABEL_VIEW_MAX
    number = label_number(q) if labels_shown else None
    if number is not None and view is not None:
        return await _label_search(conn, q, number, view, limit)
    kind, text = classify_query(q)
    if kind == "location" and len(text) < 2:
        raise HTTPException(422, "type at least two characters of a location (坐落)")
    if kind == "parcel":
        rows = await queries.search_parcel_codes(conn, text, limit)
    elif kind == "unit":
        rows = await queries.search_unit_numbers(conn, text, limit)
    else:
        rows = await queries.search_locations(conn, text, limit)
    hits = [SearchHit(kind=kind, parcel_code=r["parcel_code"].strip(),
                      unit_number=r["unit_number"], location=r["location"],
                      bbox=r["bbox"], centroid=r["centroid"]) for r in rows]
    return SearchResults(query=text, kind=kind, results=hits)


async def _label_search(conn: AsyncConnection, q: str, number: str,
                        view: tuple[float, float, float, float], limit: int) -> SearchResults:
    # The parcels labelled with the number (kind "parcel", in view first), then the locations
    # holding it as typed ("33" is also a house number), filling the rest of the list.
    rows = await queries.search_parcel_labels(conn, number, view, limit)
    hits = [SearchHit(kind="parcel", parcel_code=r["parcel_code"].strip(), bbox=r["bbox"],
                      centroid=r["centroid"]) for r in rows]
    _, text = classify_query(q)
    if len(hits) < limit and len(text) >= 2:
        hits += [SearchHit(kind="location", parcel_code=r["parcel_code"].strip(), unit_number=r["unit_number"],
                           location=r["location"], bbox=r["bbox"], centroid=r["centroid"])
                 for r in await queries.search_locations(conn, text, limit - len(hits))]
    return SearchResults(query=number, kind="label", results=hits)
