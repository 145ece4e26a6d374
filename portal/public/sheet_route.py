"""GET /parcels/{code}/sheet.pdf: the printable parcel sheet, built off the event loop."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from portal.platform.clock import office_zone
from portal.public import queries
from portal.public.parcels import checked_parcel_code, public_parcel
from portal.public.sheet import SheetData, crs_name, reference_number, render_sheet, sheet_points, sheet_srid
from portal.web.i18n import language_of

__all__ = ["router", "sheet_verify_url"]

router = APIRouter(tags=["public map"])


def sheet_verify_url(request: Request, reference: str) -> str:
    """The absolute address where the sheet's reference is verified: under the configured public
    URL (`PortalSettings.base_url`), never the request's Host header, which the client chooses."""
    return f"{request.app.state.settings.portal.base_url}/verify/sheet/{reference}"


@router.get("/parcels/{parcel_code}/sheet.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def parcel_sheet(request: Request, parcel_code: str) -> Response:
    """The parcel sheet (宗地图) as PDF: map extract, boundary points, attributes, reference."""
    code = checked_parcel_code(parcel_code)
    async with request.app.state.pool.connection() as conn:
        parcel, row = await public_parcel(conn, code)
        place = await queries.parcel_sheet_place(conn, row["parcel_id"], row["version"])
        geometry = None if place is None else await queries.parcel_sheet_geometry(
            conn, row["parcel_id"], row["version"], sheet_srid(place["survey_srid"], place["lon"]))
    if geometry is None:  # the row was there a moment ago: a concurrent change, ask again
        raise HTTPException(409, f"parcel {code} changed while the sheet was made; try again")
    printed_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    reference = reference_number(parcel, printed_at, request.app.state.sheet_key)
    data = SheetData(
        parcel=parcel, srid=geometry["srid"],
        crs_name=crs_name(geometry["srtext"], geometry["srid"]),
        geometry=geometry["geometry"], neighbours=geometry["neighbours"],
        points=sheet_points(geometry["points"]), printed_at=printed_at,
        reference=reference, digitised_rms=geometry["digitised_rms"],
        verify_url=sheet_verify_url(request, reference),
    )
    pdf = await run_in_threadpool(render_sheet, data, language_of(request),  # FontMissing: a 503
                                  office_zone(request.app.state.settings.portal.office_timezone))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{code}-sheet.pdf"',
        "X-Reference": data.reference,
    })
