"""Digitising a scanned drawing into parcels: upload the scan, give control points, fit, warp,
trace, submit. The submitted parcels are an ordinary survey submission (the same reading,
validation, review, approval and lineage as any upload) whose file is the scan, and the
digitisation row keeps the georeferencing as evidence.

    start          the scan is kept in the archive (refused like any archive file), a page of it
                   rendered at full size; the target CRS defaults to the Gauss-Krüger zone
                   (3 degrees, CGCS2000, zone-prefixed eastings) of the office's area
    set_points     control points: pixel (column, row: row axis down) -> (easting, northing) metres
    fit_points     the transformation (`spatial.georeference`), residuals in metres, RMS, worst
                   point, and whether they meet the tolerance of the drawing's scale
    to_map         pixels -> map coordinates by the fit (tracing by clicking on the scan)
    snap           a click on the cadastre map as coordinates, snapped to the nearest parcel corner
    point_table    the printed boundary-point table read by OCR, offered for confirmation
    scan_tile_source  the page as pixel-space tiles (Leaflet's CRS.Simple), read from the pixel
                   pyramid built at upload (a tiled GeoTIFF with overviews), so a control point
                   can be placed at full resolution without loading the whole scan
    warp           the page warped by GDAL into a tiled GeoTIFF in the target CRS (the route
                   runs warp_source, warp_file, warp_record apart: no connection while GDAL runs)
    tile_source    the warped scan as Web Mercator tiles for the overlay
    render_tile    either kind of tile drawn (after its *_source, the access check in a short
                   unit of work) with no database connection; tile_version names it for the ETag
    audit_view, audit_refusal  the scan's views and refused views in the audit trail
    set_parcels    the traced parcels, GeoJSON in the target CRS (x = easting, metres)
    submit         a draft submission of the parcels, the scan attached to it

Every step is the digitisation's creator's (or a registrar's); once submitted the row is frozen
(migration 0017).
"""

from __future__ import annotations

import json
import os
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from portal.archive import service as archive_service
from portal.archive.service import Archive
from portal.audit.trail import AuditEntry, record
from portal.platform.errors import BadInput, Conflict, NotFound
from portal.platform.permissions import Principal, Role, role_label
from portal.settings import SurveySettings
from portal.surveys import workflow
from portal.surveys.ocr import read_point_table
from spatial.crs import gauss_kruger_zone, transformer
from spatial.georeference import (
    ControlPoint,
    Fit,
    Residual,
    Transformation,
    check_plausible,
    fit,
    tolerance_for_scale,
)
from spatial.warp import build_pyramid, open_tiles, pixel_levels, pixel_tile_png, tile_png, warp_image

__all__ = ["default_crs", "start", "get", "set_points", "fit_points", "to_map", "warp", "page_source", "page_image",
           "point_table", "warped_path", "warp_source", "warp_file", "warp_record", "set_parcels", "submit", "snap",
           "view", "pyramid_path", "TileSource", "scan_tile_source", "tile_source", "tile_file", "tile_version",
           "render_tile", "audit_view", "audit_refusal", "NotYours"]

LABEL_MAX = 40
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

_ROW = """
SELECT digitisation_id, sha256, file_name, page, image_width, image_height, crs, scale_denominator, control_points,
       fit, warped, parcels, submission_id, created_by, created_by_name, created_at, updated_at
  FROM digitisations WHERE digitisation_id = %s
"""


def default_crs(conn: psycopg.Connection[Any]) -> int:
    """EPSG code of the 3-degree Gauss-Krüger zone (CGCS2000, prefixed eastings) of the office's
    admin areas' centre, e.g. 4528 (zone 40) for Hangzhou."""
    row = conn.execute("SELECT ST_X(ST_Centroid(ST_Collect(boundary))) FROM admin_areas").fetchone()
    longitude = float(row[0]) if row and row[0] is not None else 120.0
    return gauss_kruger_zone(round(longitude / 3), width=3).epsg


@dataclass(frozen=True)
class PreparedScan:
    """A scan checked, in the store, its page rendered and its pixel pyramid built: all the work
    of `prepare_scan`, done with no database connection; `start` only records it."""

    checked: archive_service.Checked
    page: int
    width: int
    height: int


def prepare_scan(archive: Archive, name: str, data: bytes, page: int, dpi: int = 300) -> PreparedScan:
    """Check the scan in the sandboxed worker, keep its bytes in the store, render page `page`
    and build its tile pyramid; needs no database connection (a large scan takes seconds).
    FileRefused names a file the archive does not accept; BadInput (422) a page it lacks."""
    checked = archive_service.check_file(archive, name, data)
    if not 1 <= page <= checked.facts.pages:
        raise BadInput(f"page: the scan has {checked.facts.pages} page(s), there is no page {page}")
    sha256 = archive.store.put(data)
    full, width, height = archive_service.full_page(archive, sha256, checked.facts.media_type, page, dpi)
    _pyramid(archive, sha256, page, full)
    return PreparedScan(checked, page, width, height)


def start(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, name: str,
          data: bytes | PreparedScan, *, crs: int | None, page: int, scale_denominator: int | None,
          dpi: int = 300) -> dict[str, Any]:
    """Keep the scan in the archive and begin digitising page `page` of it; commits. `data`
    already `prepare_scan`ned is only recorded (the routes prepare it with no connection held)."""
    prepared = data if isinstance(data, PreparedScan) else prepare_scan(archive, name, data, page, dpi)
    kept = archive_service.keep(conn, archive, principal, name, prepared.checked)
    width, height = prepared.width, prepared.height
    row = conn.execute(
        "INSERT INTO digitisations (sha256, file_name, page, image_width, image_height, crs, scale_denominator, "
        "created_by, created_by_name) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING digitisation_id",
        (kept["sha256"], Path(name).name or "scan", prepared.page, width, height, crs or default_crs(conn),
         scale_denominator, principal.user_id, principal.label)).fetchone()
    assert row is not None
    conn.commit()
    return get(conn, principal, int(row[0]))


class NotYours(NotFound):
    """The digitisation does not exist or is another surveyor's (404, as any missing thing);
    its own code so the routes can audit the refused view."""

    code = "digitisation_not_found"


def get(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int) -> dict[str, Any]:
    """The digitisation, if the principal made it or is a registrar; NotYours (404) otherwise."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_ROW, (digitisation_id,)).fetchone()
    if row is None or not (row["created_by"] == principal.user_id or Role.REGISTRAR in principal.roles):
        raise NotYours(f"digitisation {digitisation_id} does not exist or is not yours")
    return row


def _open(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int) -> dict[str, Any]:
    row = get(conn, principal, digitisation_id)
    if row["submission_id"] is not None:
        raise Conflict(f"digitisation {digitisation_id} was submitted as submission {row['submission_id']}: "
                       "it is kept unchanged")
    return row


def _update(conn: psycopg.Connection[Any], digitisation_id: int, **values: Any) -> None:
    columns = {"control_points", "fit", "warped", "parcels", "submission_id"}
    assert set(values) <= columns
    sets = ", ".join(f"{column} = %({column})s" for column in values)
    conn.execute(f"UPDATE digitisations SET {sets}, updated_at = now() "  # noqa: S608 - column names from the set above
                 "WHERE digitisation_id = %(id)s", {**values, "id": digitisation_id})


def set_points(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int,
               points: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace the control points (each: label, column, row, easting, northing); a new set
    clears the fit and the warp. Commits. BadInput (422) names a pixel outside the image or a
    label with control or formatting characters (shown on the page, so kept plain text)."""
    row = _open(conn, principal, digitisation_id)
    for i, p in enumerate(points):
        label = str(p.get("label") or "")
        if len(label) > LABEL_MAX or any(unicodedata.category(ch) in _UNPRINTABLE for ch in label):
            raise BadInput(f"control_points[{i}].label: a label is at most {LABEL_MAX} printable characters, "
                           "without control or formatting characters")
        if not (0 <= p["column"] <= row["image_width"] and 0 <= p["row"] <= row["image_height"]):
            raise BadInput(f"control_points[{i}] ({p.get('label') or i + 1}): pixel ({p['column']}, {p['row']}) is "
                           f"outside the {row['image_width']} x {row['image_height']} image")
    _update(conn, digitisation_id, control_points=Jsonb(points), fit=None, warped=None)
    conn.commit()
    return get(conn, principal, digitisation_id)


def _control_points(row: dict[str, Any]) -> list[ControlPoint]:
    return [ControlPoint(float(p["column"]), float(p["row"]), float(p["easting"]), float(p["northing"]),
                         str(p.get("label") or i + 1)) for i, p in enumerate(row["control_points"])]


def _fit_of(row: dict[str, Any]) -> Fit:
    stored = row["fit"]
    if not stored:
        raise Conflict(f"digitisation {row['digitisation_id']} has no fitted transformation yet: fit it first")
    return Fit(Transformation(stored["transformation"]), tuple(stored["parameters"]), tuple(stored["origin"]),
               float(stored["scale"]),
               tuple(Residual(r["label"], r["d_easting_m"], r["d_northing_m"], r["distance_m"])
                     for r in stored["residuals"]),
               float(stored["rms_m"]), int(stored["worst"]))


def fit_points(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int,
               kind: str, settings: SurveySettings) -> dict[str, Any]:
    """Fit `kind` through the control points; returns the fit with residuals in metres, RMS, the
    worst point, the tolerance of the drawing's scale and whether every point meets it. Commits.
    A GeoreferenceError (422) names too few or degenerate points, or a fit degenerate or out of
    range (not finite, an implausible scale, off the CRS's area of use); nothing is stored then."""
    row = _open(conn, principal, digitisation_id)
    found = fit(_control_points(row), kind)
    check_plausible(found, row["image_width"], row["image_height"], row["crs"])
    evidence: dict[str, Any] = found.to_dict()
    if row["scale_denominator"]:
        tolerance = tolerance_for_scale(row["scale_denominator"], paper_mm=settings.digitise_tolerance_paper_mm)
        evidence |= {"tolerance_m": tolerance, "within_tolerance": found.within(tolerance)}
    _update(conn, digitisation_id, fit=Jsonb(evidence), warped=None)
    conn.commit()
    return evidence


def to_map(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int,
           pixels: list[list[float]]) -> list[list[float]]:
    """Map coordinates [easting, northing] (metres, the digitisation's CRS) of pixels [column, row]."""
    found = _fit_of(get(conn, principal, digitisation_id))
    return [[round(float(x), 4), round(float(y), 4)] for x, y in found.apply(pixels)] if pixels else []


def page_source(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int) -> dict[str, Any]:
    """The digitisation (as `get`) and its scan's `media_type`: what `page_image` and
    `point_table` need, read in a short unit of work so the rendering holds no connection."""
    row = get(conn, principal, digitisation_id)
    return {**row, "media_type": archive_service.file_row(conn, row["sha256"])["media_type"]}


def page_image(archive: Archive, source: dict[str, Any]) -> Path:
    """The page being digitised at full size (a PNG file, rendered once into the cache), from a
    `page_source`; no database connection (the route audits the view like any archive view)."""
    path, _, _ = archive_service.full_page(archive, source["sha256"], source["media_type"], source["page"])
    return path


def view(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int,
         client: str | None = None) -> dict[str, Any]:
    """The digitisation, its scan's view audited like any archive view (the workspace shows the
    page as tiles: one audit row per opening of the workspace, not per tile). Commits."""
    row = get(conn, principal, digitisation_id)
    record(conn, AuditEntry("archive.view", actor_user_id=principal.user_id, actor_role=role_label(principal),
                            actor_institution=principal.institution, access="consulted",
                            subject=f"file:{row['sha256']}", client=client,
                            detail={"page": row["page"], "size": "tiles", "digitisation_id": digitisation_id}))
    conn.commit()
    return row


def audit_view(conn: psycopg.Connection[Any], principal: Principal, source: TileSource | dict[str, Any], kind: str,
               client: str | None = None) -> None:
    """One archive.view row ("consulted") of the digitisation's scan, `kind` of view in its
    detail ("scan tiles", "overlay tiles", "warped.tif"); commits. The routes decide how often
    (tiles: once per user, digitisation and kind an hour, not per tile)."""
    if isinstance(source, TileSource):
        sha256, page, digitisation_id = source.sha256, source.page, source.digitisation_id
    else:
        sha256, page, digitisation_id = source["sha256"], source["page"], source["digitisation_id"]
    record(conn, AuditEntry("archive.view", actor_user_id=principal.user_id, actor_role=role_label(principal),
                            actor_institution=principal.institution, access="consulted", subject=f"file:{sha256}",
                            client=client, detail={"page": page, "size": kind, "digitisation_id": digitisation_id}))
    conn.commit()


def audit_refusal(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int, kind: str,
                  client: str | None = None) -> None:
    """One refused archive.view row of a digitisation's scan (`kind` of view in the detail):
    the subject is the digitisation asked for (the scan is not named to whom may not see it),
    the actor whoever asked (none for an anonymous caller: the client address says who);
    commits."""
    record(conn, AuditEntry("archive.view", outcome="refused", actor_user_id=principal.user_id,
                            actor_role=role_label(principal), actor_institution=principal.institution,
                            subject=f"digitisation:{digitisation_id}", client=client,
                            detail={"size": kind, "digitisation_id": digitisation_id}))
    conn.commit()


def pyramid_path(archive: Archive, sha256: str, page: int) -> Path:
    """The scan page's pixel pyramid (a tiled GeoTIFF with overviews, in pixels), in the cache."""
    return archive.cache / "pyramid" / sha256[:2] / f"{sha256}-{page}.tif"


def _pyramid(archive: Archive, sha256: str, page: int, full: Path) -> Path:
    """The page's pixel pyramid, built (GDAL, a few seconds for an A1 scan) if the cache lacks it."""
    out = pyramid_path(archive, sha256, page)
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        build_pyramid(full, partial)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


@dataclass(frozen=True)
class TileSource:
    """What a tile is drawn from, found in a short unit of work (the access check), so the
    drawing itself (`render_tile`) holds no database connection. kind: "scan" (pixel tiles of
    the page's pyramid) or "overlay" (XYZ tiles of the warped GeoTIFF); media_type: the
    scan's, when its pyramid must be built again (the cache was cleared), else None."""

    kind: str
    digitisation_id: int
    sha256: str
    page: int
    z: int
    x: int
    y: int
    media_type: str | None = None


def scan_tile_source(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, digitisation_id: int,
                     z: int, x: int, y: int) -> TileSource:
    """Where tile x, y at zoom z of the page in scan pixels comes from, as Leaflet's CRS.Simple
    asks for it (z from -levels, the whole page in one 256-pixel tile, to 0, full resolution:
    one tile pixel is 2**-z scan pixels, tile x covering columns [256 x, 256 (x + 1)) * 2**-z,
    rows likewise, row axis down). The access check: NotFound for another surveyor's
    digitisation, and for a tile outside the page."""
    row = get(conn, principal, digitisation_id)
    lowest = -pixel_levels(row["image_width"], row["image_height"])
    span = 256 * 2 ** (-z) if lowest <= z <= 0 else 0
    if not span or not (0 <= x * span < row["image_width"] and 0 <= y * span < row["image_height"]):
        raise NotFound(f"there is no scan tile {z}/{x}/{y}: its zoom levels run from {lowest} to 0")
    media_type = None
    if not pyramid_path(archive, row["sha256"], row["page"]).exists():
        media_type = archive_service.file_row(conn, row["sha256"])["media_type"]
    return TileSource("scan", digitisation_id, row["sha256"], row["page"], z, x, y, media_type)


def tile_source(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, digitisation_id: int, z: int,
                x: int, y: int) -> TileSource:
    """Where the XYZ tile z/x/y (Web Mercator, y from the north, z <= 24) of the warped scan
    comes from; the access check: NotFound for another surveyor's digitisation, one not warped
    yet, and a tile that does not exist."""
    row = get(conn, principal, digitisation_id)
    if not row["warped"] or not warped_path(archive, digitisation_id).exists():
        raise NotFound(f"digitisation {digitisation_id} has not been warped yet")
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"there is no tile {z}/{x}/{y}")
    return TileSource("overlay", digitisation_id, row["sha256"], row["page"], z, x, y)


def tile_file(archive: Archive, source: TileSource) -> Path:
    """The file a tile is drawn from (the page's pyramid is built first if the cache lost it);
    its modification time versions the tile (`tile_version`). No database connection."""
    if source.kind == "overlay":
        digitisation_id = source.digitisation_id
        path = warped_path(archive, digitisation_id)
        if not path.exists():
            raise NotFound(f"digitisation {digitisation_id} has not been warped yet")
        return path
    path = pyramid_path(archive, source.sha256, source.page)
    if not path.exists():
        kept = source.media_type or "image/png"
        full, _, _ = archive_service.full_page(archive, source.sha256, kept, source.page)
        path = _pyramid(archive, source.sha256, source.page, full)
    return path


def tile_version(archive: Archive, source: TileSource) -> str:
    """A name of the tile as it is drawn now (its file's modification time, the kind and
    z/x/y), known before it is drawn: the route's ETag, so a client's copy is answered 304
    without drawing it again."""
    stamp = tile_file(archive, source).stat().st_mtime_ns
    return f"{source.kind}-{source.digitisation_id}-{stamp}-{source.z}-{source.x}-{source.y}"


# Overlay tiles are kept on disk up to this zoom (about 7 cm a tile pixel at z21 in China, the
# resolution of a 1:500 scan at 300 dpi); closer ones are drawn each time, as is an empty tile.
CACHED_ZOOM_MAX = 21
# At most this many overlay tiles are kept per warped scan (a few hundred MB at most).
TILES_KEPT_PER_SCAN = 4096
_KEPT: dict[Path, int] = {}
_KEPT_LOCK = threading.Lock()


def _may_keep(folder: Path) -> bool:
    """Count one more tile kept in `folder` (counted once from the disk per process); False when
    it holds TILES_KEPT_PER_SCAN already."""
    with _KEPT_LOCK:
        if folder not in _KEPT:
            if len(_KEPT) > 1024:
                _KEPT.clear()
            _KEPT[folder] = sum(1 for _ in folder.glob("*.png")) if folder.exists() else 0
        if _KEPT[folder] >= TILES_KEPT_PER_SCAN:
            return False
        _KEPT[folder] += 1
        return True


def render_tile(archive: Archive, source: TileSource) -> bytes:
    """The tile as PNG, drawn without a database connection (in the tile renderers' threads):
    a scan tile from the page's pyramid (transparent beyond the page), an overlay tile from the
    warped GeoTIFF (transparent outside the scan). One empty tile (the same bytes every time)
    answers for any tile outside the scan and is never written to disk; overlay tiles up to
    CACHED_ZOOM_MAX are kept on disk under the warped file's modification time, at most
    TILES_KEPT_PER_SCAN of them."""
    path = tile_file(archive, source)
    if source.kind == "scan":
        return pixel_tile_png(path, source.z, source.x, source.y) or _empty_tile()
    folder = path.with_suffix("") / f"{path.stat().st_mtime_ns}"
    cached = folder / f"{source.z}-{source.x}-{source.y}.png"
    if source.z <= CACHED_ZOOM_MAX and cached.exists():
        return cached.read_bytes()
    png = tile_png(path, source.z, source.x, source.y)
    if png is None:
        return _empty_tile()
    if source.z <= CACHED_ZOOM_MAX and _may_keep(folder):
        folder.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{threading.get_ident()}.part")
        partial.write_bytes(png)
        partial.replace(cached)
    return png


def _forget_old_tiles(path: Path) -> None:
    """Remove the kept overlay tiles of earlier warps of `path` (folders named by another
    modification time than the file's now)."""
    import shutil

    current = str(path.stat().st_mtime_ns) if path.exists() else None
    root = path.with_suffix("")
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.name != current:
            shutil.rmtree(folder, ignore_errors=True)
            with _KEPT_LOCK:
                _KEPT.pop(folder, None)


def point_table(archive: Archive, source: dict[str, Any]) -> list[dict[str, Any]]:
    """The printed boundary-point table read by OCR (`portal.surveys.ocr`) from a `page_source`:
    suggestions {label, northing, easting, text} for the person to confirm; nothing is written,
    and no database connection is held while tesseract reads."""
    path = page_image(archive, source)
    return [{"label": r.label, "northing": r.northing, "easting": r.easting, "text": r.text}
            for r in read_point_table(path)]


def warped_path(archive: Archive, digitisation_id: int) -> Path:
    return archive.cache / "warped" / f"digitisation-{digitisation_id}.tif"


def warp(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, digitisation_id: int
         ) -> dict[str, Any]:
    """Warp the page (read from its pixel pyramid) by the fit into a tiled GeoTIFF in the target
    CRS (GDAL); commits. The fit is checked first (GeoreferenceError, 422); on any failure no
    warped file is left behind. The route runs its three steps apart (`warp_source`,
    `warp_file`, `warp_record`), so no connection is held while GDAL warps."""
    source = warp_source(conn, archive, principal, digitisation_id)
    return warp_record(conn, principal, source, warp_file(archive, source))


def warp_source(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, digitisation_id: int
                ) -> dict[str, Any]:
    """The digitisation to warp (as `get`, with its scan's `media_type`), its fit checked
    (GeoreferenceError, 422; Conflict without a fit or once submitted)."""
    row = _open(conn, principal, digitisation_id)
    found = _fit_of(row)
    check_plausible(found, row["image_width"], row["image_height"], row["crs"])
    return {**row, "media_type": archive_service.file_row(conn, row["sha256"])["media_type"]}


def warp_file(archive: Archive, source: dict[str, Any]) -> dict[str, Any]:
    """Warp the page of a `warp_source` into its GeoTIFF (the pyramid built again first if the
    cache lost it), removing an earlier warp's kept tiles; returns the `warped` evidence (crs,
    width, height, pixel_size_m, bounds in the CRS's metres, lonlat_bounds in degrees). No
    database connection."""
    found = _fit_of(source)
    image = pyramid_path(archive, source["sha256"], source["page"])
    if not image.exists():  # the cache was cleared since the upload: build it again
        full, _, _ = archive_service.full_page(archive, source["sha256"], source["media_type"], source["page"])
        image = _pyramid(archive, source["sha256"], source["page"], full)
    out = warped_path(archive, source["digitisation_id"])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}-{threading.get_ident()}.part")
    try:
        done = warp_image(image, found, source["crs"], partial, width=source["image_width"],
                          height=source["image_height"], control_points=_control_points(source))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    _forget_old_tiles(out)
    open_tiles(out)  # the overlay's first tiles are asked for next
    west, south, east, north = transformer(source["crs"], 4326).transform_bounds(*done.bounds)
    return {"crs": done.crs, "width": done.width, "height": done.height, "pixel_size_m": done.pixel_size,
            "bounds": list(done.bounds), "lonlat_bounds": [west, south, east, north]}


def warp_record(conn: psycopg.Connection[Any], principal: Principal, source: dict[str, Any],
                warped: dict[str, Any]) -> dict[str, Any]:
    """Keep the `warped` evidence of a `warp_source`, unless the digitisation changed meanwhile
    (new control points or fit, submitted: Conflict, warp it again); commits."""
    digitisation_id = source["digitisation_id"]
    _open(conn, principal, digitisation_id)
    changed = conn.execute("UPDATE digitisations SET warped = %s, updated_at = now() WHERE digitisation_id = %s "
                           "AND updated_at = %s AND submission_id IS NULL",
                           (Jsonb(warped), digitisation_id, source["updated_at"])).rowcount
    if changed != 1:
        raise Conflict(f"digitisation {digitisation_id} changed while it was being warped: warp it again")
    conn.commit()
    return warped


_EMPTY_TILE: bytes | None = None


def _empty_tile() -> bytes:
    global _EMPTY_TILE
    if _EMPTY_TILE is None:
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.new("LA", (256, 256), (0, 0)).save(out, "PNG")
        _EMPTY_TILE = out.getvalue()
    return _EMPTY_TILE


def snap(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int, longitude: float,
         latitude: float, settings: SurveySettings) -> dict[str, Any]:
    """The corner of a current parcel nearest a point clicked on the map (longitude, latitude,
    CGCS2000/WGS84 degrees), within `digitise_snap_metres`, in the digitisation's CRS:
    {"easting", "northing", "parcel_code", "distance_m"}; without one, the clicked point itself
    ({"easting", "northing", "parcel_code": None})."""
    row = get(conn, principal, digitisation_id)
    easting, northing = transformer(4326, row["crs"]).transform(longitude, latitude)
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(SNAP, {"crs": row["crs"], "x": easting, "y": northing,
                                   "within": settings.digitise_snap_metres}).fetchone()
    if found is None:
        return {"easting": round(easting, 3), "northing": round(northing, 3), "parcel_code": None, "distance_m": None}
    return {"easting": round(float(found["easting"]), 3), "northing": round(float(found["northing"]), 3),
            "parcel_code": found["parcel_code"], "distance_m": round(float(found["distance_m"]), 3)}


# The nearest vertex of a current parcel's surveyed boundary, in the digitisation's CRS.
SNAP = """
WITH here AS (SELECT ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), %(crs)s) AS g),
near AS (
    SELECT p.parcel_code, ST_Transform(p.survey_geom, %(crs)s) AS g FROM current_parcels p, here
     -- in degrees, a little more than the metres
     WHERE ST_DWithin(p.geom, ST_Transform(here.g, 4490), %(within)s / 80000.0))
SELECT near.parcel_code, ST_X(v.geom) AS easting, ST_Y(v.geom) AS northing, ST_Distance(v.geom, here.g) AS distance_m
  FROM near, here, ST_DumpPoints(near.g) v
 WHERE ST_Distance(v.geom, here.g) <= %(within)s
 ORDER BY ST_Distance(v.geom, here.g) LIMIT 1
"""


def set_parcels(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int,
                collection: dict[str, Any]) -> dict[str, Any]:
    """Keep the traced parcels: a GeoJSON FeatureCollection of Polygons in the digitisation's
    CRS with `parcel_code`, `land_use_code` and `declared_area` (m²) properties. Commits."""
    _open(conn, principal, digitisation_id)
    _update(conn, digitisation_id, parcels=Jsonb(collection))
    conn.commit()
    return get(conn, principal, digitisation_id)


def _as_file(row: dict[str, Any]) -> bytes:
    collection = {**row["parcels"], "crs": {"type": "name",
                                            "properties": {"name": f"urn:ogc:def:crs:EPSG::{row['crs']}"}}}
    return json.dumps(collection, ensure_ascii=False).encode("utf-8")


def submit(conn: psycopg.Connection[Any], principal: Principal, digitisation_id: int,
           settings: SurveySettings, *, purpose: str = "new", retires: list[str] | None = None) -> dict[str, Any]:
    """The traced parcels as a draft survey submission (read and validated like any upload),
    the scan attached to it; returns the submission. The surveyor then submits it for review
    as usual. Conflict when nothing is fitted or traced yet."""
    row = _open(conn, principal, digitisation_id)
    found = _fit_of(row)
    if not row["parcels"] or not row["parcels"].get("features"):
        raise Conflict(f"digitisation {digitisation_id} has no traced parcels yet")
    description = (f"digitised from a scan ({row['file_name']}, page {row['page']}, sha256 {row['sha256']}); "
                   f"{found.kind.value} transformation, RMS {found.rms:.3f} m over {len(found.residuals)} "
                   "control points")
    upload = workflow.Upload(f"digitised-{digitisation_id}.geojson", _as_file(row), row["crs"], purpose,
                             tuple(retires or ()), description)
    submission_id = workflow.create(conn, upload, principal, settings)
    conn.execute("INSERT INTO submission_files (submission_id, sha256, file_name, attached_by, attached_by_name) "
                 "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 (submission_id, row["sha256"], row["file_name"], principal.user_id, principal.label))
    _update(conn, digitisation_id, submission_id=submission_id)
    conn.commit()
    return workflow.get(conn, submission_id, principal)
