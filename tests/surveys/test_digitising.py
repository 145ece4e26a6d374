"""Digitising a scanned drawing through the API (issue 19, acceptance): a generated drawing of
known parcels under a known distortion is georeferenced with its printed boundary points (the
transformation recovered to an RMS under 0.05 m), warped by GDAL, traced, submitted, validated,
approved, and the published parcels match the known ones."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely
from drawn_scans import DrawnScan, KnownParcel, draw_scan
from fastapi.testclient import TestClient
from harness import header_principal
from PIL import Image

from portal.app import create_app
from portal.settings import ArchiveSettings, DatabaseSettings, Settings

E, N = 40_515_100.0, 3_345_465.0  # in the demo district's free southern margin (tests/support/survey_files)
POINTS = {
    "J1": (E, N), "J2": (E + 20, N), "J3": (E + 40, N), "J4": (E + 60, N),
    "J5": (E + 60, N + 25), "J6": (E + 40, N + 25), "J7": (E + 20, N + 25), "J8": (E, N + 25),
}
PARCELS = [
    KnownParcel("330102001001GB09701", "0701", ("J1", "J2", "J7", "J8")),
    KnownParcel("330102001001GB09702", "0701", ("J2", "J3", "J6", "J7")),
    KnownParcel("330102001001GB09703", "0702", ("J3", "J4", "J5", "J6")),
]
CLICK_NOISE_PX = 0.3  # a third of a pixel (1.2 cm on the ground at 0.04 m per pixel)


@pytest.fixture(scope="module")
def scan() -> DrawnScan:
    return draw_scan(POINTS, PARCELS)


@pytest.fixture(scope="module")
def client(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("digitising")
    settings = Settings(database=DatabaseSettings(DATABASE_URL=module_database),
                        archive=ArchiveSettings(store_dir=folder / "store", cache_dir=folder / "cache"))
    app = create_app(settings)
    app.state.principal_resolver = header_principal
    with TestClient(app) as test_client:
        yield test_client


def as_(person: str) -> dict[str, str]:
    return {"x-test-person": person}


def start(client: TestClient, scan: DrawnScan, **form: str) -> dict:  # type: ignore[type-arg]
    answer = client.post("/api/digitisations", files={"file": ("zongditu.png", scan.png)},
                         data={"scale": "500", **form}, headers=as_("surveyor"))
    assert answer.status_code == 201, answer.text
    return answer.json()


def georeference(client: TestClient, scan: DrawnScan, digitisation_id: int, kind: str = "affine") -> dict:  # type: ignore[type-arg]
    """Control points: each printed boundary point clicked on the scan, its printed coordinates typed."""
    points = []
    for label, (easting, northing) in scan.points.items():
        column, row = scan.clicked(label, CLICK_NOISE_PX)
        points.append({"label": label, "column": column, "row": row, "easting": easting, "northing": northing})
    put = client.put(f"/api/digitisations/{digitisation_id}/control-points", json={"points": points},
                     headers=as_("surveyor"))
    assert put.status_code == 200, put.text
    fitted = client.post(f"/api/digitisations/{digitisation_id}/fit", json={"transformation": kind},
                         headers=as_("surveyor"))
    assert fitted.status_code == 200, fitted.text
    return fitted.json()  # type: ignore[no-any-return]


def test_the_printed_points_recover_the_known_transformation(client, scan) -> None:  # type: ignore[no-untyped-def]
    started = start(client, scan)
    assert (started["image_width"], started["image_height"]) == (scan.width, scan.height)
    assert started["crs"] == 4528  # the Gauss-Krüger zone (40) of the office's area
    result = georeference(client, scan, started["digitisation_id"])
    assert result["transformation"] == "affine" and len(result["residuals"]) == len(POINTS)
    assert result["rms_m"] < 0.05 and result["within_tolerance"] and result["tolerance_m"] == pytest.approx(0.25)
    # Against the known transformation, over the whole sheet (not only at the control points):
    grid = np.array([[c, r] for c in np.linspace(0, scan.width, 12) for r in np.linspace(0, scan.height, 9)])
    fitted = client.post(f"/api/digitisations/{started['digitisation_id']}/to-map",
                         json={"pixels": grid.tolist()}, headers=as_("surveyor")).json()["coordinates"]
    error = np.hypot(*(np.array(fitted) - scan.to_map(grid)).T)
    assert float(np.sqrt(np.mean(error ** 2))) < 0.05


def test_a_wrong_point_is_the_worst_and_too_few_points_are_refused(client, scan) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = start(client, scan)["digitisation_id"]
    points = [{"label": label, "column": scan.pixels[label][0], "row": scan.pixels[label][1], "easting": e,
               "northing": n} for label, (e, n) in scan.points.items()]
    points[2]["easting"] += 2.0  # a typing slip in the table
    client.put(f"/api/digitisations/{digitisation_id}/control-points", json={"points": points},
               headers=as_("surveyor"))
    fitted = client.post(f"/api/digitisations/{digitisation_id}/fit", json={"transformation": "similarity"},
                         headers=as_("surveyor")).json()
    assert fitted["residuals"][fitted["worst"]]["label"] == "J3" and not fitted["within_tolerance"]
    client.put(f"/api/digitisations/{digitisation_id}/control-points", json={"points": points[:5]},
               headers=as_("surveyor"))
    refused = client.post(f"/api/digitisations/{digitisation_id}/fit", json={"transformation": "polynomial2"},
                          headers=as_("surveyor"))
    assert refused.status_code == 422
    assert refused.json()["detail"]["code"] == "georeference_failed"
    assert "at least 6 control points" in refused.json()["detail"]["message"]
    outside = client.put(f"/api/digitisations/{digitisation_id}/control-points",
                         json={"points": [{**points[0], "column": -5}]}, headers=as_("surveyor"))
    assert outside.status_code == 422 and "outside" in outside.json()["detail"]["message"]
    assert client.get(f"/api/digitisations/{digitisation_id}", headers=as_("other-surveyor")).status_code == 404
    assert client.get(f"/api/digitisations/{digitisation_id}").status_code == 401


def put_points(client: TestClient, digitisation_id: int, points: list[dict]):  # type: ignore[no-untyped-def,type-arg]
    return client.put(f"/api/digitisations/{digitisation_id}/control-points", json={"points": points},
                      headers=as_("surveyor"))


def test_a_fit_degenerate_or_out_of_range_is_refused_before_it_is_stored_or_warped(client, scan, module_database,
                                                                                  ) -> None:  # type: ignore[no-untyped-def]
    """Control points at ±1e300, two points at one place on the ground, or a page far outside
    the CRS's area of use: /fit answers 422 georeference_failed ("the fit is degenerate or out of
    range"), stores nothing; a degenerate fit stored earlier is refused by /warp before GDAL runs,
    and no warped file is left behind."""
    digitisation_id = start(client, scan)["digitisation_id"]
    pixels = [scan.pixels[label] for label in ("J1", "J4", "J5")]
    huge = [{"label": f"P{i}", "column": c, "row": r, "easting": sign * 1e300, "northing": -sign * 1e300}
            for i, ((c, r), sign) in enumerate(zip(pixels, (1, -1, 1), strict=True))]
    one_place = [{"label": f"P{i}", "column": c, "row": r, "easting": E, "northing": N}
                 for i, (c, r) in enumerate(pixels[:2])]
    far_away = [{"label": label, "column": scan.pixels[label][0], "row": scan.pixels[label][1],
                 "easting": e - 30_000_000, "northing": n} for label, (e, n) in scan.points.items()]
    for points, kind in ((huge, "affine"), (huge[:2], "similarity"), (one_place, "similarity"),
                         (far_away, "affine")):
        assert put_points(client, digitisation_id, points).status_code == 200
        refused = client.post(f"/api/digitisations/{digitisation_id}/fit", json={"transformation": kind},
                              headers=as_("surveyor"))
        assert refused.status_code == 422, (kind, refused.text)
        detail = refused.json()["detail"]
        assert detail["code"] == "georeference_failed", detail
        assert "degenerate" in detail["message"] or "spread" in detail["message"], detail
        assert "control character" not in refused.text
        assert client.get(f"/api/digitisations/{digitisation_id}", headers=as_("surveyor")).json()["fit"] is None
    # A degenerate similarity stored before these checks existed: /warp refuses it, no file is made.
    with psycopg.connect(module_database) as conn:
        conn.execute("UPDATE digitisations SET fit = %s WHERE digitisation_id = %s", (json.dumps({
            "transformation": "similarity", "parameters": [0.0, 0.0, E, N], "origin": [0.0, 0.0], "scale": 1.0,
            "rms_m": 0.0, "worst": 0, "residuals": []}), digitisation_id))
    warped = client.post(f"/api/digitisations/{digitisation_id}/warp", headers=as_("surveyor"))
    assert warped.status_code == 422 and "degenerate or out of range" in warped.json()["detail"]["message"]
    store = Path(client.app.state.settings.archive.cache_dir) / "warped"
    assert not list(store.glob(f"*digitisation-{digitisation_id}.tif*")) if store.exists() else True


def test_one_user_cannot_hold_every_worker_with_digitisations(client, scan) -> None:  # type: ignore[no-untyped-def]
    """Starting, rendering at full size and warping count against the survey uploads' per-user
    limit: with all the surveyor's slots held, each is refused with 429 uploads_at_once."""
    from types import SimpleNamespace

    from harness import PEOPLE

    from portal.platform.slots import slots_of

    digitisation_id = start(client, scan)["digitisation_id"]
    slots = slots_of(SimpleNamespace(app=client.app))
    limit = client.app.state.settings.survey.uploads_at_once_per_user
    held = [slots.slot(str(PEOPLE["surveyor"].user_id), limit) for _ in range(limit)]
    for slot in held:
        slot.__enter__()
    try:
        answers = [
            client.post("/api/digitisations", files={"file": ("zongditu.png", scan.png)}, headers=as_("surveyor")),
            client.get(f"/api/digitisations/{digitisation_id}/image.png", headers=as_("surveyor")),
            client.post(f"/api/digitisations/{digitisation_id}/warp", headers=as_("surveyor"))]
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    for answer in answers:
        assert answer.status_code == 429, answer.text
        assert answer.json()["detail"]["code"] == "uploads_at_once" and answer.headers["retry-after"] == "5"
    assert client.get(f"/api/digitisations/{digitisation_id}/image.png", headers=as_("surveyor")).status_code == 200


def test_a_control_point_label_is_plain_text(client, scan) -> None:  # type: ignore[no-untyped-def]
    """A label with control or formatting characters (NUL, a right-to-left override) or over 40
    characters is refused with 422 naming it; markup is kept as the words typed, and the page's
    script shows every label as a text node (Leaflet would put a string tooltip in as HTML)."""
    digitisation_id = start(client, scan)["digitisation_id"]
    (column, row), (easting, northing) = scan.pixels["J1"], scan.points["J1"]
    point = {"column": column, "row": row, "easting": easting, "northing": northing}
    for label in ("J1\x00", "J\u202e1", "J1\n", "J" * 41):
        refused = put_points(client, digitisation_id, [{**point, "label": label}])
        assert refused.status_code == 422, (label, refused.text)
        assert "label" in json.dumps(refused.json()["detail"]), refused.text
    markup = '<img src=x onerror="alert(1)">'
    kept = put_points(client, digitisation_id, [{**point, "label": markup}])
    assert kept.status_code == 200 and kept.json()["control_points"][0]["label"] == markup
    script = (Path(__file__).parents[2] / "portal" / "web" / "static" / "js" / "digitise.js").read_text()
    import re

    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert re.findall(r"\.bind(?:Tooltip|Popup)\((\w+)\(", script) == ["plain"] * len(
        re.findall(r"\.bind(?:Tooltip|Popup)\(", script)), "a tooltip or popup given a string"


def test_a_renamed_program_is_refused_as_a_scan(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/api/digitisations", files={"file": ("scan.png", b"MZ\x90\x00" + b"\x00" * 100)},
                         headers=as_("surveyor"))
    assert answer.status_code == 422 and answer.json()["detail"]["reason"] == "executable"


def test_the_scan_is_served_as_pixel_tiles_from_its_pyramid(client, scan, module_database) -> None:  # type: ignore[no-untyped-def]
    """While georeferencing, the page is shown as 256-pixel tiles in scan pixels (Leaflet's
    CRS.Simple): at zoom 0 a tile is the page's own pixels, at zoom -levels the whole page is one
    tile; tiles off the page are refused; opening the workspace audits one view of the scan."""
    import math

    started = start(client, scan)
    digitisation_id, width, height = started["digitisation_id"], started["image_width"], started["image_height"]
    levels = math.ceil(math.log2(max(width, height) / 256))
    url = f"/api/digitisations/{digitisation_id}/scan-tiles"
    original = np.asarray(Image.open(io.BytesIO(scan.png)).convert("L"))

    column, row = scan.pixels["J1"]
    x, y = int(column // 256), int(row // 256)
    tile = client.get(f"{url}/0/{x}/{y}.png", headers=as_("surveyor"))
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(tile.content)) as image:
        assert image.size == (256, 256)
        pixels = np.asarray(image.convert("LA"))
    part = original[y * 256:(y + 1) * 256, x * 256:(x + 1) * 256]
    assert np.array_equal(pixels[:part.shape[0], :part.shape[1], 0], part)  # full resolution: the page itself
    assert pixels[:part.shape[0], :part.shape[1], 1].min() == 255
    assert pixels[part.shape[0]:, :, 1].max(initial=0) == 0 and pixels[:, part.shape[1]:, 1].max(initial=0) == 0

    whole = client.get(f"{url}/{-levels}/0/0.png", headers=as_("surveyor"))
    with Image.open(io.BytesIO(whole.content)) as image:
        alpha = np.asarray(image.convert("LA"))[:, :, 1]
    factor = 2**levels  # the page's edge to the nearest tile pixel
    assert (alpha[0] > 0).sum() == round(width / factor) and (alpha[:, 0] > 0).sum() == round(height / factor)

    etag = tile.headers["etag"]
    again = client.get(f"{url}/0/{x}/{y}.png", headers={**as_("surveyor"), "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content

    for z, tx, ty, code in ((0, math.ceil(width / 256), 0, 404), (0, 0, math.ceil(height / 256), 404),
                            (-levels - 1, 0, 0, 404), (1, 0, 0, 422), (0, -1, 0, 422), (-99, 0, 0, 422),
                            (0, 2**40, 0, 422)):
        refused = client.get(f"{url}/{z}/{tx}/{ty}.png", headers=as_("surveyor"))
        assert refused.status_code == code, (z, tx, ty, refused.text)
    assert client.get(f"{url}/0/0/0.png", headers=as_("other-surveyor")).status_code == 404

    def views() -> int:
        with psycopg.connect(module_database) as conn:
            found = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'archive.view' AND subject = %s "
                                 "AND detail::jsonb->>'size' = 'tiles'", (f"file:{started['sha256']}",)).fetchone()
            return int(found[0])

    before = views()
    assert client.get(f"/surveys/digitise/{digitisation_id}", headers=as_("surveyor")).status_code == 200
    assert views() == before + 1


def test_scan_to_parcels_validated_approved_and_matching(client, scan, module_database) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = start(client, scan)["digitisation_id"]
    assert georeference(client, scan, digitisation_id)["rms_m"] < 0.05

    # Warp with GDAL: a tiled GeoTIFF in EPSG:4528 covering the parcels.
    warped = client.post(f"/api/digitisations/{digitisation_id}/warp", headers=as_("surveyor"))
    assert warped.status_code == 200, warped.text
    xmin, ymin, xmax, ymax = warped.json()["bounds"]
    assert xmin < E and ymin < N and xmax > E + 60 and ymax > N + 25
    assert warped.json()["pixel_size_m"] == pytest.approx(0.04, rel=0.05)
    tif = client.get(f"/api/digitisations/{digitisation_id}/warped.tif", headers=as_("surveyor"))
    assert tif.status_code == 200
    with Image.open(io.BytesIO(tif.content)) as image:
        assert image.format == "TIFF"
        assert image.tag_v2.get(322)  # TileWidth: tiled
        assert "CADASTRE_GEOREFERENCE" in str(image.tag_v2.get(42112, ""))  # GDAL metadata records the fit

    # Overlay tiles (Web Mercator): the tile over the parcels shows the drawing, one far away is empty.
    from pyproj import Transformer

    from spatial.warp import tile_bounds

    lon, lat = Transformer.from_crs(4528, 4326, always_xy=True).transform(E + 30, N + 12)
    mx, my = Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
    z = 21  # about 17 m across here: inside the sheet
    size = 2 * 20037508.342789244 / 2**z
    x, y = int((mx + 20037508.342789244) // size), int((20037508.342789244 - my) // size)
    assert tile_bounds(z, x, y)[0] <= mx <= tile_bounds(z, x, y)[2]
    overlay = client.get(f"/api/digitisations/{digitisation_id}/tiles/{z}/{x}/{y}.png", headers=as_("surveyor"))
    assert overlay.status_code == 200
    with Image.open(io.BytesIO(overlay.content)) as image:
        alpha = np.asarray(image.convert("RGBA"))[:, :, 3]
        grey = np.asarray(image.convert("L"))
    assert alpha.min() == 255 and grey.min() < 100  # all inside the scan, with ink on it
    far = client.get(f"/api/digitisations/{digitisation_id}/tiles/{z}/{x + 50}/{y}.png", headers=as_("surveyor"))
    with Image.open(io.BytesIO(far.content)) as image:
        assert np.asarray(image.convert("RGBA"))[:, :, 3].max() == 0
    assert client.get(f"/api/digitisations/{digitisation_id}/tiles/{z}/{x}/{y}.png",
                      headers=as_("other-surveyor")).status_code == 404
    cached = client.get(f"/api/digitisations/{digitisation_id}/tiles/{z}/{x}/{y}.png",
                        headers={**as_("surveyor"), "If-None-Match": overlay.headers["etag"]})
    assert cached.status_code == 304 and cached.headers["cache-control"] == "private, max-age=300"

    # Trace: each boundary point clicked once (neighbours share it), turned into map coordinates.
    labels = list(scan.points)
    clicks = [list(scan.clicked(label, CLICK_NOISE_PX)) for label in labels]
    mapped = client.post(f"/api/digitisations/{digitisation_id}/to-map", json={"pixels": clicks},
                         headers=as_("surveyor")).json()["coordinates"]
    corner = dict(zip(labels, mapped, strict=True))
    features = []
    for parcel in PARCELS:
        ring = [corner[label] for label in parcel.corners]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                         "properties": {"parcel_code": parcel.code, "land_use_code": parcel.land_use,
                                        "declared_area": 500.0, "name": "数字化宗地"}})
    put = client.put(f"/api/digitisations/{digitisation_id}/parcels",
                     json={"type": "FeatureCollection", "features": features}, headers=as_("surveyor"))
    assert put.status_code == 200, put.text

    made = client.post(f"/api/digitisations/{digitisation_id}/submit", json={}, headers=as_("surveyor"))
    assert made.status_code == 201, made.text
    submission = made.json()
    assert submission["report"]["error_count"] == 0, json.dumps(submission["report"], ensure_ascii=False)[:2000]
    assert "digitised from a scan" in submission["description"]
    submission_id = submission["id"]
    submitted = client.post(f"/api/submissions/{submission_id}/submit", headers=as_("surveyor"))
    assert submitted.status_code == 200, submitted.text
    approved = client.post(f"/api/submissions/{submission_id}/approve", headers=as_("registrar"))
    assert approved.status_code == 200, approved.text
    assert sorted(approved.json()["published"]["parcel_codes"]) == [p.code for p in PARCELS]

    # The published parcels are the known ones, within 5 cm at every point.
    with psycopg.connect(module_database) as conn:
        rows = dict(conn.execute("SELECT parcel_code, ST_AsBinary(ST_Transform(survey_geom, 4528)) "
                                 "FROM current_parcels WHERE parcel_code = ANY(%s)",
                                 ([p.code for p in PARCELS],)).fetchall())
        source_id = conn.execute("SELECT source_id FROM submissions WHERE submission_id = %s",
                                 (submission_id,)).fetchone()[0]
        frozen = conn.execute("SELECT submission_id, fit->>'rms_m' FROM digitisations WHERE digitisation_id = %s",
                              (digitisation_id,)).fetchone()
    for parcel in PARCELS:
        published = shapely.from_wkb(bytes(rows[parcel.code]))
        known = shapely.Polygon(scan.ring(parcel))
        assert shapely.hausdorff_distance(published, known) < 0.05, parcel.code
        assert abs(published.area - known.area) < 1.0
    # The scan is a file of the published source (the evidence), and the digitisation is frozen.
    files = client.get(f"/api/sources/{source_id}/files", headers=as_("registrar")).json()
    assert [f["media_type"] for f in files] == ["image/png"]
    assert frozen[0] == submission_id and float(frozen[1]) < 0.05
    # Its sheet says so, with the RMS.
    from pypdf import PdfReader

    sheet = client.get(f"/parcels/{PARCELS[0].code}/sheet.pdf", headers={"accept-language": "en"})
    assert sheet.status_code == 200
    words = "".join(page.extract_text() for page in PdfReader(io.BytesIO(sheet.content)).pages)
    assert "Digitised from a scan; georeferencing RMS 0.0" in words.replace("\n", " ")
    again = client.put(f"/api/digitisations/{digitisation_id}/parcels",
                       json={"type": "FeatureCollection", "features": features}, headers=as_("surveyor"))
    assert again.status_code == 409


def test_a_pdf_drawing_is_rendered_and_digitised_the_same_way(client, scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pdf = tmp_path / "drawing.pdf"
    Image.open(io.BytesIO(scan.png)).convert("RGB").save(pdf, "PDF", resolution=150.0)
    answer = client.post("/api/digitisations", files={"file": ("drawing.pdf", pdf.read_bytes())},
                         data={"scale": "500"}, headers=as_("surveyor"))
    assert answer.status_code == 201, answer.text
    started = answer.json()
    # Rendered at 300 dpi from a sheet laid out at 150: twice the pixels of the scan.
    assert abs(started["image_width"] - 2 * scan.width) <= 2 and abs(started["image_height"] - 2 * scan.height) <= 2


def test_a_click_on_the_map_snaps_to_the_nearest_parcel_corner(client, scan, module_database) -> None:  # type: ignore[no-untyped-def]
    from pyproj import Transformer

    digitisation_id = start(client, scan)["digitisation_id"]
    with psycopg.connect(module_database) as conn:
        code, x, y = conn.execute(
            "SELECT parcel_code, ST_X(v.geom), ST_Y(v.geom) FROM current_parcels p, "
            "ST_DumpPoints(ST_Transform(p.survey_geom, 4528)) v ORDER BY p.parcel_id LIMIT 1").fetchone()
    lon, lat = Transformer.from_crs(4528, 4326, always_xy=True).transform(x + 0.6, y - 0.4)
    snapped = client.get(f"/api/digitisations/{digitisation_id}/snap", params={"lon": lon, "lat": lat},
                         headers=as_("surveyor")).json()
    assert (snapped["easting"], snapped["northing"]) == (pytest.approx(x, abs=0.002), pytest.approx(y, abs=0.002))
    assert snapped["distance_m"] == pytest.approx(0.72, abs=0.02) and snapped["parcel_code"]
    far_lon, far_lat = Transformer.from_crs(4528, 4326, always_xy=True).transform(E + 500, N - 500)
    alone = client.get(f"/api/digitisations/{digitisation_id}/snap", params={"lon": far_lon, "lat": far_lat},
                       headers=as_("surveyor")).json()
    assert alone["parcel_code"] is None and alone["easting"] == pytest.approx(E + 500, abs=0.01)
    assert client.get(f"/api/digitisations/{digitisation_id}/snap", params={"lon": "nan", "lat": 30},
                      headers=as_("surveyor")).status_code == 422


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed (scripts/setup)")
def test_the_printed_point_table_is_read_by_ocr_as_suggestions(client, scan) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = start(client, scan)["digitisation_id"]
    read = client.post(f"/api/digitisations/{digitisation_id}/point-table", headers=as_("surveyor"))
    assert read.status_code == 200, read.text
    rows = {r["label"]: (r["easting"], r["northing"]) for r in read.json()["rows"]}
    assert rows == POINTS
    detail = client.get(f"/api/digitisations/{digitisation_id}", headers=as_("surveyor")).json()
    assert detail["control_points"] == []  # suggestions only: nothing written without the person


def test_ocr_rows_are_parsed_in_either_printed_order() -> None:
    from portal.surveys.ocr import parse_rows

    rows = parse_rows("No. X Y\nJ1  3345465.000 40515100.000\nt J6 J3 —3345465.5 40515140.25\n"
                      "K9 40515100.000 3345490.000\n0701 09702\n")
    assert [(r.label, r.northing, r.easting) for r in rows] == [
        ("J1", 3345465.0, 40515100.0), ("J3", 3345465.5, 40515140.25), ("K9", 3345490.0, 40515100.0)]
