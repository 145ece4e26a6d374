"""Pages of digitising a scanned drawing: the upload form and the workspace (scan, control points
and residuals, the warped overlay on the cadastre, tracing). Every change goes through the JSON
API (`portal/surveys/digitising_api.py`) from `static/js/digitise.js`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.platform.deps import PageUser
from portal.platform.errors import NotFound
from portal.platform.permissions import Action
from portal.platform.requests import client_of
from portal.platform.work import in_worker
from portal.surveys import digitising
from portal.surveys.digitising_api import refused_view
from portal.web.templating import render
from spatial.warp import pixel_levels

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/surveys/digitise")
async def start(request: Request, principal: PageUser) -> Response:
    if not principal.may(Action.UPLOAD_SURVEY_FILE):
        return render(request, "surveys/forbidden.html", status_code=403)
    return render(request, "surveys/digitise_start.html")


@router.get("/surveys/digitise/{digitisation_id}")
async def workspace(request: Request, digitisation_id: int, principal: PageUser) -> Response:
    if not principal.may(Action.UPLOAD_SURVEY_FILE):
        await refused_view(request, principal, digitisation_id, "tiles")
        return render(request, "surveys/forbidden.html", status_code=403)
    try:
        found = await in_worker(request, digitising.view, principal, digitisation_id, client_of(request))
    except NotFound as refused:
        if isinstance(refused, digitising.NotYours):
            await refused_view(request, principal, digitisation_id, "tiles")
        return render(request, "surveys/missing.html", {"submission_id": digitisation_id}, status_code=404)
    settings = request.app.state.settings.map
    return render(request, "surveys/digitise.html", {
        "d": found, "parcel_tiles_url": settings.parcel_tiles_url, "parcel_tiles_layer": settings.parcel_tiles_layer,
        "scan_levels": pixel_levels(found["image_width"], found["image_height"])})
