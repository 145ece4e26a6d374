"""The public pages: the full-screen cadastral map at `/`, and a plain page per parcel.

The map is built by folium on each request (a few milliseconds) from the administrative areas
and the extent of the cadastre, so a new boundary shows without a restart.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from portal.platform.deps import Connection
from portal.public import queries
from portal.public.api import run_search
from portal.public.mapview import LAND_USE_COLOURS, build_map
from portal.public.parcels import checked_parcel_code, public_parcel
from portal.public.sheet_verify import verify_reference
from portal.web.i18n import language_of, translator
from portal.web.messages import district
from portal.web.templating import render
from spatial.codes import CodeError, parse_parcel_code

__all__ = ["router", "MAP_TEXT_KEYS"]

router = APIRouter(tags=["pages"])

# Catalog keys the map script needs, sent to the page as `text` (without the "map.js." prefix).
MAP_TEXT_KEYS = (
    "parcel", "parcel_code", "area", "square_metres", "land_use", "admin_area", "valid_from",
    "version", "since", "now", "retired", "units", "unit_number", "location", "no_units",
    "history", "lineage", "came_from", "went_into", "event_split", "event_merge",
    "event_boundary_adjustment", "check_restrictions", "check_hint", "print_sheet", "no_parcel",
    "no_parcel_here", "error", "kind_parcel", "kind_unit", "kind_location", "results_count",
    "no_results", "keep_typing", "labels", "map_label", "details", "zoom_in", "zoom_out", "layers", "enter_opens",
    "retired_no_check", "pointer_hint", "gk_zone",
    "measure", "measure_distance", "measure_area", "measure_finish", "measure_clear", "measure_hint_distance",
    "measure_hint_area", "distance_result", "area_result", "perimeter", "metres", "kilometres", "mu", "hectares",
    "measure_basis", "measure_crossing",
)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def map_page(request: Request, parcel: str | None = None,
                   q: str | None = None) -> HTMLResponse:
    settings = request.app.state.settings
    _ = translator(language_of(request))
    async with request.app.state.pool.connection() as conn:
        areas = await queries.admin_areas(conn)
        extent = await queries.cadastre_extent(conn)
        land_uses = await queries.land_uses(conn)
        found = None
        if q and q.strip():
            try:  # shown when scripts are off; the script runs the same search itself
                found = await run_search(conn, q.strip()[:100], 10)
            except HTTPException:
                found = None
    labels = {"parcels": _("map.parcels"), "admin_areas": _("map.admin_areas"),
              "basemap": _("map.basemap")}
    parts = build_map(settings, labels, areas, extent)
    try:
        initial_parcel = parse_parcel_code(parcel).code if parcel else None
    except CodeError:
        initial_parcel = None
    boxes = [a["bbox"] for a in areas] + ([extent] if extent else [])
    whole = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
             max(b[3] for b in boxes)] if boxes else None
    return render(request, "map.html", {
        "map": parts, "district": whole, "land_uses": land_uses, "colours": LAND_USE_COLOURS,
        "settings": settings.map, "query": q, "found": found,
        "initial": {"parcel": initial_parcel, "q": (q or "").strip()[:100] or None},
        "text": {key: _(f"map.js.{key}") for key in MAP_TEXT_KEYS}
        | {"districts": {a["code"]: district(a["code"], a["name"], language_of(request)) for a in areas},
           "zone": settings.portal.office_timezone},
    })


@router.get("/parcels/{parcel_code}", response_class=HTMLResponse, include_in_schema=False)
async def parcel_page(request: Request, parcel_code: str, conn: Connection) -> HTMLResponse:
    """The parcel's public facts as a plain page: for sharing, printing and screen readers."""
    parcel, _row = await public_parcel(conn, checked_parcel_code(parcel_code))
    return render(request, "parcel.html", {"parcel": parcel})


@router.get("/verify/sheet/{reference}", response_class=HTMLResponse, include_in_schema=False)
async def verify_sheet_page(request: Request, reference: str, conn: Connection) -> HTMLResponse:
    """What the parcel sheet with this reference number showed, and whether its version is still
    current (see `portal.public.sheet_verify`); a reference not issued gets a 404 page saying why."""
    verdict = await verify_reference(conn, reference, request.app.state.sheet_key)
    v = verdict.version
    area = None if v is None else district(v["admin_area_code"], v["admin_area_name"], language_of(request))
    return render(request, "verify_sheet.html", {"verdict": verdict, "district_name": area},
                  status_code=200 if verdict.valid else 404)
