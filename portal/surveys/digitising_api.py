"""HTTP API of digitising a scanned drawing (`portal.surveys.digitising`), for surveyors and registrars:

    POST /api/digitisations                      upload a scan (multipart `file`, `crs`, `page`, `scale`)
    GET  /api/digitisations/{id}                 where it stands
    GET  /api/digitisations/{id}/image.png       the page at full size
    GET  /api/digitisations/{id}/scan-tiles/{z}/{x}/{y}.png  the page as pixel tiles (z <= 0; CRS.Simple)
    PUT  /api/digitisations/{id}/control-points  [{label, column, row, easting, northing}]
    POST /api/digitisations/{id}/fit             {"transformation": "affine"}: residuals (m), RMS, worst point
    GET  /api/digitisations/{id}/snap?lon=&lat=  a map click as coordinates, snapped to a parcel corner
    POST /api/digitisations/{id}/point-table     the printed point table read by OCR, to confirm (not stored)
    POST /api/digitisations/{id}/to-map          {"pixels": [[column, row], ...]} -> [[easting, northing], ...]
    POST /api/digitisations/{id}/warp            GDAL warp into a tiled GeoTIFF in the target CRS
    GET  /api/digitisations/{id}/warped.tif      the GeoTIFF
    GET  /api/digitisations/{id}/tiles/{z}/{x}/{y}.png   the warped scan as XYZ tiles (overlay on the map)
    PUT  /api/digitisations/{id}/parcels         GeoJSON FeatureCollection in the target CRS
    POST /api/digitisations/{id}/submit          a draft survey submission of the parcels, the scan attached

Pixels: column and row from the top-left corner of the page image, the row axis down. Map
coordinates: metres in the digitisation's CRS (EPSG), x = easting.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from layers.http import if_none_match_of, not_modified
from portal.archive.api import archive_of, limit_of
from portal.archive.errors import FileRefused
from portal.platform.errors import Forbidden, Limited, NotAuthenticated, NotFound
from portal.platform.permissions import Action, Principal, current_principal, require
from portal.platform.requests import client_of
from portal.platform.slots import UploadsAtOnce, slots_of, user_key
from portal.platform.state import app_state
from portal.platform.work import in_worker
from portal.surveys import digitising
from portal.surveys.schemas import SubmissionOut

__all__ = ["router", "refused_view", "TilesAtOnce", "ViewAudit"]

router = APIRouter(prefix="/api/digitisations", tags=["digitising"])

Digitiser = Annotated[Principal, Depends(require(Action.UPLOAD_SURVEY_FILE))]
T = TypeVar("T")
Finite = Annotated[float, Field(allow_inf_nan=False)]


def _heavy(request: Request, principal: Principal) -> AbstractContextManager[None]:
    """One of the user's slots for reading, rendering or warping a scan (429 when all are held)."""
    limit = limit_of(request)
    return slots_of(request).slot(user_key(principal), limit, UploadsAtOnce.working(limit))


class TilesAtOnce(Limited):
    """As many of the user's map tiles as they may have drawn at once are being drawn (429):
    one user's map cannot slow everyone else's."""

    code = "tiles_at_once"

    @classmethod
    def of(cls, limit: int) -> TilesAtOnce:
        return cls(f"{limit} of your map tiles are being drawn already (tiles at once per user); wait a moment, "
                   "then try again", retry_after=1)


class Throttle:
    """When something was last done per key, the latest `size` keys kept (a thread-safe LRU):
    `due(key)` is True, and notes it, when it was not done in the last `seconds`."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self.lock = threading.Lock()
        self.done: OrderedDict[Hashable, float] = OrderedDict()

    def due(self, key: Hashable) -> bool:
        now = time.monotonic()
        with self.lock:
            last = self.done.get(key)
            if last is not None and now - last < self.seconds:
                return False
            self.done[key] = now
            self.done.move_to_end(key)
            while len(self.done) > self.size:
                self.done.popitem(last=False)
            return True


class ViewAudit:
    """How often views of a scan are audited, per app process (docs/security.md, "Archive"):
    tiles once per user, digitisation and kind of tile an hour (a map asks for hundreds);
    a refused view once per client, user, digitisation and kind a minute, and at most
    REFUSALS_PER_HOUR refused rows per client address an hour, so a prober cannot flood the
    audit chain (what is refused beyond that is in the server log only)."""

    REFUSALS_PER_HOUR = 60

    def __init__(self) -> None:
        self.views = Throttle(3600.0)
        self.refusals = Throttle(60.0)
        self.budget_lock = threading.Lock()
        self.budget: OrderedDict[str | None, tuple[float, int]] = OrderedDict()

    def refusal_due(self, key: tuple[Any, ...], client: str | None) -> bool:
        if not self.refusals.due((client, *key)):
            return False
        now = time.monotonic()
        with self.budget_lock:
            since, count = self.budget.get(client, (now, 0))
            if now - since >= 3600:
                since, count = now, 0
            if count >= self.REFUSALS_PER_HOUR:
                return False
            self.budget[client] = (since, count + 1)
            self.budget.move_to_end(client)
            while len(self.budget) > 10_000:
                self.budget.popitem(last=False)
            return True


def _view_audit(request: Request) -> ViewAudit:
    return app_state(request, "view_audit", ViewAudit)


async def refused_view(request: Request, principal: Principal, digitisation_id: int, kind: str) -> None:
    """Audit a refused view of a digitisation's scan (as often as `ViewAudit` allows)."""
    client = client_of(request)
    if _view_audit(request).refusal_due((principal.user_id, digitisation_id, kind), client):
        await in_worker(request, digitising.audit_refusal, principal, digitisation_id, kind, client)


def _viewer(kind: str) -> Callable[..., Any]:
    """The digitiser (as `Digitiser`), a refusal (401 anonymous, 403 a citizen, an owner) audited first."""
    allowed = require(Action.UPLOAD_SURVEY_FILE)

    async def dependency(request: Request) -> Principal:
        try:
            return await allowed(request)
        except (NotAuthenticated, Forbidden):
            asked = str(request.path_params.get("digitisation_id", ""))
            if asked.isascii() and asked.isdigit() and len(asked) < 19:
                await refused_view(request, await current_principal(request), int(asked), kind)
            raise

    return dependency


async def _checked(request: Request, principal: Principal, kind: str, digitisation_id: int, find: Callable[..., T],
                   *args: Any, every: bool = False) -> T:
    """`find(conn, *args)` in a short unit of work (the access check); a NotYours is audited as a
    refused view, a view every time (`every`) or as `ViewAudit` says."""
    try:
        found = await in_worker(request, find, *args)
    except digitising.NotYours:
        await refused_view(request, principal, digitisation_id, kind)
        raise
    if every or _view_audit(request).views.due((principal.user_id, digitisation_id, kind)):
        await in_worker(request, digitising.audit_view, principal, found, kind, client_of(request))
    return found


async def _drawn(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in one of the tile renderers' threads (`tile_renders_at_once` of them, apart
    from the work pool and its connections): drawing a tile holds no database connection."""
    limiter = app_state(request, "tile_limiter", lambda: anyio.CapacityLimiter(
        request.app.state.settings.survey.tile_renders_at_once))
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)


class ControlPointIn(BaseModel):
    label: str = Field(default="", max_length=40)
    column: Finite = Field(description="pixel column from the left edge")
    row: Finite = Field(description="pixel row from the top edge (row axis down)")
    easting: Finite = Field(description="metres, the digitisation's CRS")
    northing: Finite = Field(description="metres, the digitisation's CRS")


class ControlPointsIn(BaseModel):
    points: list[ControlPointIn] = Field(max_length=500)


class FitIn(BaseModel):
    transformation: Literal["similarity", "affine", "projective", "polynomial2"] = "affine"


class PixelsIn(BaseModel):
    pixels: list[tuple[Finite, Finite]] = Field(max_length=100_000)


class ParcelFeature(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: dict[str, Any] = Field(description="parcel_code, land_use_code, declared_area (m²), name")


class ParcelsIn(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[ParcelFeature] = Field(max_length=10_000)


class SubmitIn(BaseModel):
    purpose: Literal["new", "split", "merge", "boundary_adjustment"] = "new"
    retires: list[str] = Field(default_factory=list, max_length=1000)


class DigitisationOut(BaseModel):
    digitisation_id: int
    sha256: str
    file_name: str
    page: int
    image_width: int
    image_height: int
    crs: int
    scale_denominator: int | None
    control_points: list[dict[str, Any]]
    fit: dict[str, Any] | None
    warped: dict[str, Any] | None
    parcels: dict[str, Any] | None
    submission_id: int | None
    created_by_name: str
    created_at: dt.datetime
    updated_at: dt.datetime


@router.post("", status_code=status.HTTP_201_CREATED)
async def start(request: Request, principal: Digitiser,
                file: Annotated[UploadFile, File(description="the scan: PDF, TIFF, JPEG or PNG")],
                crs: Annotated[int | None, Form(description="EPSG code of the target CRS; default: the "
                                                            "Gauss-Krüger zone of the office's area", gt=0)] = None,
                page: Annotated[int, Form(ge=1)] = 1,
                scale: Annotated[int | None, Form(description="the drawing's scale denominator, e.g. 500",
                                                  gt=0, le=1_000_000)] = None) -> DigitisationOut:
    archive = archive_of(request)
    limit = archive.settings.max_file_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise FileRefused("file_size_limit", f"{file.filename}: larger than {limit:,} bytes", file=file.filename)
    with _heavy(request, principal):
        # The scan is checked, rendered and tiled with no database connection held; only the
        # record is a unit of work (issue 15 §8).
        prepared = await anyio.to_thread.run_sync(digitising.prepare_scan, archive, file.filename or "scan", data, page)
        row = await in_worker(request, digitising.start, archive, principal, file.filename or "scan", prepared,
                              crs=crs, page=page, scale_denominator=scale)
    return DigitisationOut.model_validate(row)


@router.get("/{digitisation_id}")
async def detail(request: Request, principal: Digitiser, digitisation_id: int) -> DigitisationOut:
    return DigitisationOut.model_validate(await in_worker(request, digitising.get, principal, digitisation_id))


@router.get("/{digitisation_id}/image.png", response_class=FileResponse)
async def image(request: Request, principal: Annotated[Principal, Depends(_viewer("full"))],
                digitisation_id: int) -> FileResponse:
    """The page being digitised at full size (pixels as the control points count them)."""
    with _heavy(request, principal):
        source = await _checked(request, principal, "full", digitisation_id, digitising.page_source, principal,
                                digitisation_id, every=True)
        path = await anyio.to_thread.run_sync(digitising.page_image, archive_of(request), source)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.put("/{digitisation_id}/control-points")
async def control_points(request: Request, principal: Digitiser, digitisation_id: int,
                         body: ControlPointsIn) -> DigitisationOut:
    points = [p.model_dump() for p in body.points]
    return DigitisationOut.model_validate(await in_worker(request, digitising.set_points, principal, digitisation_id,
                                                          points))


@router.post("/{digitisation_id}/fit")
async def fit(request: Request, principal: Digitiser, digitisation_id: int, body: FitIn) -> dict[str, Any]:
    """Residuals in metres per control point, RMS, the worst point, and the scale's tolerance."""
    result: dict[str, Any] = await in_worker(request, digitising.fit_points, principal, digitisation_id,
                                             body.transformation, request.app.state.settings.survey)
    return result


@router.get("/{digitisation_id}/snap")
async def snap(request: Request, principal: Digitiser, digitisation_id: int,
               lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
               lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)]) -> dict[str, Any]:
    """A point clicked on the map as control point coordinates: the nearest corner of a current
    parcel within the snapping distance, else the point itself, in the digitisation's CRS."""
    result: dict[str, Any] = await in_worker(request, digitising.snap, principal, digitisation_id, lon, lat,
                                             request.app.state.settings.survey)
    return result


@router.post("/{digitisation_id}/point-table")
async def point_table(request: Request, principal: Digitiser, digitisation_id: int) -> dict[str, Any]:
    """The drawing's printed boundary-point table read by OCR (tesseract): rows {label, northing,
    easting, text} to confirm as control points; nothing is stored. 503 without tesseract."""
    with _heavy(request, principal):
        source = await in_worker(request, digitising.page_source, principal, digitisation_id)
        rows = await anyio.to_thread.run_sync(digitising.point_table, archive_of(request), source)
    return {"rows": rows}


@router.post("/{digitisation_id}/to-map")
async def to_map(request: Request, principal: Digitiser, digitisation_id: int, body: PixelsIn) -> dict[str, Any]:
    coordinates = await in_worker(request, digitising.to_map, principal, digitisation_id,
                                  [list(p) for p in body.pixels])
    return {"coordinates": coordinates}


@router.post("/{digitisation_id}/warp")
async def warp(request: Request, principal: Digitiser, digitisation_id: int) -> dict[str, Any]:
    archive = archive_of(request)
    with _heavy(request, principal):  # no connection is held while GDAL warps
        source = await in_worker(request, digitising.warp_source, archive, principal, digitisation_id)
        warped = await anyio.to_thread.run_sync(digitising.warp_file, archive, source)
        result: dict[str, Any] = await in_worker(request, digitising.warp_record, principal, source, warped)
    return result


@router.get("/{digitisation_id}/warped.tif", response_class=FileResponse)
async def warped(request: Request, principal: Annotated[Principal, Depends(_viewer("warped.tif"))],
                 digitisation_id: int) -> FileResponse:
    """The warped GeoTIFF; every download audited (archive.view of the scan, "warped.tif")."""
    row = await _checked(request, principal, "warped.tif", digitisation_id, digitising.get, principal,
                         digitisation_id, every=True)
    path = digitising.warped_path(archive_of(request), digitisation_id)
    if not row["warped"] or not path.exists():
        raise NotFound(f"digitisation {digitisation_id} has not been warped yet")
    return FileResponse(path, media_type="image/tiff", headers={"Cache-Control": "private, no-store"})


async def _tile_answer(request: Request, principal: Principal, kind: str, find: Callable[..., digitising.TileSource],
                       digitisation_id: int, z: int, x: int, y: int) -> Response:
    """A tile: the access check in a short unit of work, then, holding one of the user's
    `tiles_at_once_per_user` slots (waited for `tile_wait_seconds`, then 429 tiles_at_once), its ETag from
    the file it is drawn from (304 without drawing when the client holds it), then drawn by a
    tile renderer with no database connection."""
    survey = request.app.state.settings.survey
    limit = survey.tiles_at_once_per_user
    archive = archive_of(request)
    async with slots_of(request).waiting(f"tiles:{user_key(principal)}", limit, survey.tile_wait_seconds,
                                         TilesAtOnce.of(limit)):
        source = await _checked(request, principal, kind, digitisation_id, find, archive, principal, digitisation_id,
                                z, x, y)
        version = await _drawn(request, digitising.tile_version, archive, source)
        etag = '"' + hashlib.blake2b(version.encode(), digest_size=12).hexdigest() + '"'
        headers = {"Cache-Control": "private, max-age=300", "ETag": etag}
        if not_modified(if_none_match_of(request.headers), etag):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        png = await _drawn(request, digitising.render_tile, archive, source)
    return Response(png, media_type="image/png", headers=headers)


@router.get("/{digitisation_id}/tiles/{z}/{x}/{y}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
async def tile(request: Request, principal: Annotated[Principal, Depends(_viewer("overlay tiles"))],
               digitisation_id: int, z: int, x: int, y: int) -> Response:
    """The warped scan as an XYZ tile (Web Mercator, y from the north), transparent outside it;
    ETag and 304 as `not_modified`; 429 tiles_at_once beyond the user's tiles at once."""
    return await _tile_answer(request, principal, "overlay tiles", digitising.tile_source, digitisation_id, z, x, y)


@router.get("/{digitisation_id}/scan-tiles/{z}/{x}/{y}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
async def scan_tile(request: Request, principal: Annotated[Principal, Depends(_viewer("scan tiles"))],
                    digitisation_id: int, z: Annotated[int, Path(ge=-30, le=0)],
                    x: Annotated[int, Path(ge=0, lt=2**31)], y: Annotated[int, Path(ge=0, lt=2**31)]) -> Response:
    """The page in scan pixels as a 256-pixel tile for Leaflet's CRS.Simple: at zoom z (from
    -levels, the whole page in one tile, to 0, full resolution) one tile pixel is 2**-z scan
    pixels and tile (x, y) covers columns 256 x 2**-z to 256 (x + 1) 2**-z, rows likewise (row
    axis down); transparent beyond the page. 404 for a tile outside the page."""
    return await _tile_answer(request, principal, "scan tiles", digitising.scan_tile_source, digitisation_id, z, x,
                              y)


@router.put("/{digitisation_id}/parcels")
async def parcels(request: Request, principal: Digitiser, digitisation_id: int, body: ParcelsIn) -> DigitisationOut:
    collection = body.model_dump()
    return DigitisationOut.model_validate(await in_worker(request, digitising.set_parcels, principal,
                                                          digitisation_id, collection))


@router.post("/{digitisation_id}/submit", status_code=status.HTTP_201_CREATED)
async def submit(request: Request, principal: Digitiser, digitisation_id: int, body: SubmitIn) -> SubmissionOut:
    """The traced parcels as a draft survey submission (validated like any upload)."""
    found = await in_worker(request, digitising.submit, principal, digitisation_id,
                            request.app.state.settings.survey, purpose=body.purpose, retires=body.retires)
    return SubmissionOut.model_validate(found)
