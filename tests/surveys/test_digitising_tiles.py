"""Tiles of a scan being digitised under load and on the record (review 1, F3, F4, F5, F9e):
drawing a tile holds no database connection and one user's tiles are limited, so a flood of
them leaves the registry answering; views of a scan by tiles and refused views are audited
(not one row per tile); empty tiles are never written, the overlay cache is bounded and an
earlier warp's tiles go; ETags compare as RFC 9110 says, and a 304 is answered without drawing.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from drawn_scans import DrawnScan, KnownParcel, draw_scan
from fastapi.testclient import TestClient
from harness import header_principal, serve
from pyproj import Transformer

from layers.http import not_modified
from portal.app import create_app
from portal.settings import ArchiveSettings, DatabaseSettings, Settings, SurveySettings
from portal.surveys import digitising

E, N = 40_515_100.0, 3_345_465.0  # the demo district's free southern margin, as in test_digitising
POINTS = {"J1": (E, N), "J2": (E + 40, N), "J3": (E + 40, N + 25), "J4": (E, N + 25)}
PARCELS = [KnownParcel("330102001001GB09711", "0701", ("J1", "J2", "J3", "J4"))]


@pytest.fixture(scope="module")
def scan() -> DrawnScan:
    return draw_scan(POINTS, PARCELS)


def _settings(database: str, folder: Path, **survey: object) -> Settings:
    return Settings(database=DatabaseSettings(DATABASE_URL=database),
                    archive=ArchiveSettings(store_dir=folder / "store", cache_dir=folder / "cache"),
                    survey=SurveySettings(**survey))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(_settings(module_database, tmp_path_factory.mktemp("tiles")))
    app.state.principal_resolver = header_principal
    with TestClient(app) as test_client:
        yield test_client


def as_(person: str) -> dict[str, str]:
    return {"x-test-person": person}


def warped(client: TestClient | httpx.Client, scan: DrawnScan) -> int:
    """A digitisation of the scan, georeferenced by its printed points and warped."""
    answer = client.post("/api/digitisations", files={"file": ("zongditu.png", scan.png)}, data={"scale": "500"},
                         headers=as_("surveyor"))
    assert answer.status_code == 201, answer.text
    digitisation_id = int(answer.json()["digitisation_id"])
    points = [{"label": label, "column": scan.pixels[label][0], "row": scan.pixels[label][1], "easting": e,
               "northing": n} for label, (e, n) in scan.points.items()]
    assert client.put(f"/api/digitisations/{digitisation_id}/control-points", json={"points": points},
                      headers=as_("surveyor")).status_code == 200
    assert client.post(f"/api/digitisations/{digitisation_id}/fit", json={"transformation": "affine"},
                       headers=as_("surveyor")).status_code == 200
    done = client.post(f"/api/digitisations/{digitisation_id}/warp", headers=as_("surveyor"))
    assert done.status_code == 200, done.text
    return digitisation_id


def tile_over(easting: float, northing: float, z: int) -> tuple[int, int]:
    lon, lat = Transformer.from_crs(4528, 4326, always_xy=True).transform(easting, northing)
    mx, my = Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
    size = 2 * 20037508.342789244 / 2**z
    return int((mx + 20037508.342789244) // size), int((20037508.342789244 - my) // size)


def tile_folder(client: TestClient, digitisation_id: int) -> Path:
    path = digitising.warped_path(client.app.state.archive, digitisation_id)  # type: ignore[attr-defined]
    return path.with_suffix("") / str(path.stat().st_mtime_ns)


def audit_rows(database: str, digitisation_id: int) -> list[tuple[str, int | None, str | None, str, str | None]]:
    with psycopg.connect(database) as conn:
        return conn.execute(  # type: ignore[return-value]
            "SELECT outcome, actor_user_id, actor_role, detail::jsonb->>'size', client FROM audit_log "
            "WHERE action = 'archive.view' AND (detail::jsonb->>'digitisation_id')::int = %s ORDER BY seq",
            (digitisation_id,)).fetchall()


# -- F3: a flood of tiles ----------------------------------------------------------------------

def test_a_flood_of_one_users_tiles_leaves_the_registry_answering(module_database, scan, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One surveyor asks for overlay and scan tiles from 24 threads at once while a registrar
    lists applications: the registrar is answered (200, never 503), the flooder gets tiles and
    429 tiles_at_once with Retry-After beyond their tiles at once, never a 503 or a 500."""
    app = create_app(_settings(module_database, tmp_path, tiles_at_once_per_user=2, tile_wait_seconds=0.0))
    app.state.principal_resolver = header_principal
    base, server = serve(app)
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            digitisation_id = warped(http, scan)
            x0, y0 = tile_over(E + 20, N + 12, 22)
            stop = time.monotonic() + 4.0
            flooded: Counter[int] = Counter()
            refusals: list[httpx.Response] = []
            lock = threading.Lock()

            def flood() -> None:
                rng = random.Random()  # noqa: S311 - tile addresses, not secrets
                with httpx.Client(base_url=base, timeout=60, headers=as_("surveyor")) as mine:
                    while time.monotonic() < stop:
                        if rng.random() < 0.5:
                            z = rng.choice((22, 23, 24))
                            f = 2 ** (z - 22)
                            url = f"tiles/{z}/{x0 * f + rng.randrange(-4, 5)}/{y0 * f + rng.randrange(-4, 5)}.png"
                        else:
                            url = f"scan-tiles/0/{rng.randrange(3)}/{rng.randrange(3)}.png"
                        answer = mine.get(f"/api/digitisations/{digitisation_id}/{url}")
                        with lock:
                            flooded[answer.status_code] += 1
                            if answer.status_code == 429:
                                refusals.append(answer)

            threads = [threading.Thread(target=flood) for _ in range(24)]
            for thread in threads:
                thread.start()
            registrar: Counter[int] = Counter()
            while time.monotonic() < stop:
                registrar[http.get("/api/applications", headers=as_("registrar")).status_code] += 1
            for thread in threads:
                thread.join()
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        server.thread.join(10)  # type: ignore[attr-defined]
    assert set(registrar) == {200}, registrar
    assert flooded[200] > 0 and flooded[429] > 0, flooded
    assert set(flooded) <= {200, 404, 429}, flooded  # 404: a scan tile off a small page
    refusal = refusals[0]
    assert refusal.json()["detail"]["code"] == "tiles_at_once" and refusal.headers["retry-after"] == "1"
    assert "map tiles" in refusal.json()["detail"]["message"]
    assert "瓦片" in refusal.json()["detail"]["localized_message"]


# -- F4: the views on the record ---------------------------------------------------------------

def test_tile_views_are_audited_once_per_kind_and_refused_views_each(client, scan, module_database) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = warped(client, scan)
    base = f"/api/digitisations/{digitisation_id}"
    x, y = tile_over(E + 20, N + 12, 21)
    for dx in range(3):
        assert client.get(f"{base}/tiles/21/{x + dx}/{y}.png", headers=as_("surveyor")).status_code == 200
        assert client.get(f"{base}/scan-tiles/0/{dx}/0.png", headers=as_("surveyor")).status_code == 200
    for _ in range(2):
        assert client.get(f"{base}/warped.tif", headers=as_("surveyor")).status_code == 200
    seen = [(r[0], r[1], r[3]) for r in audit_rows(module_database, digitisation_id)]
    assert sorted(seen) == sorted([("success", 11, "overlay tiles"), ("success", 11, "scan tiles"),
                                   ("success", 11, "warped.tif"), ("success", 11, "warped.tif")])

    # Refused: another surveyor (404), a citizen (403), anonymous (401): each on the record,
    # anonymous by the client's address; a prober asking again within a minute adds nothing.
    for _ in range(2):
        assert client.get(f"{base}/tiles/21/{x}/{y}.png", headers=as_("other-surveyor")).status_code == 404
        assert client.get(f"{base}/scan-tiles/0/0/0.png", headers=as_("citizen")).status_code == 403
        assert client.get(f"{base}/warped.tif").status_code == 401
    refused = [(r[1], r[2], r[3], r[4]) for r in audit_rows(module_database, digitisation_id) if r[0] == "refused"]
    assert sorted(refused, key=str) == sorted([(12, "surveyor", "overlay tiles", "testclient"),
                                               (31, "verified_user", "scan tiles", "testclient"),
                                               (None, "anonymous", "warped.tif", "testclient")], key=str)
    assert client.get("/api/digitisations/999999/tiles/21/0/0.png", headers=as_("other-surveyor")).status_code == 404
    assert [r[0] for r in audit_rows(module_database, 999999)] == ["refused"]


def test_refused_views_of_one_client_are_capped(client) -> None:  # type: ignore[no-untyped-def]
    """A prober walking through digitisation numbers leaves at most REFUSALS_PER_HOUR rows an hour."""
    from portal.surveys.digitising_api import ViewAudit

    audit = ViewAudit()
    due = [audit.refusal_due((None, n, "scan tiles"), "192.0.2.7") for n in range(ViewAudit.REFUSALS_PER_HOUR + 10)]
    assert due.count(True) == ViewAudit.REFUSALS_PER_HOUR
    assert audit.refusal_due((None, 1, "scan tiles"), "192.0.2.8")  # another client has its own


# -- F5: the overlay cache -----------------------------------------------------------------------

def test_empty_tiles_are_not_written_and_the_cache_is_bounded(client, scan, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = warped(client, scan)
    base = f"/api/digitisations/{digitisation_id}/tiles"
    x, y = tile_over(E + 20, N + 12, 21)
    folder = tile_folder(client, digitisation_id)

    far = [client.get(f"{base}/21/{x + 50 + i}/{y}.png", headers=as_("surveyor")) for i in range(3)]
    assert {a.status_code for a in far} == {200} and len({a.content for a in far}) == 1  # the one empty tile
    assert not folder.exists() or not list(folder.iterdir())

    assert client.get(f"{base}/21/{x}/{y}.png", headers=as_("surveyor")).status_code == 200
    assert [p.name for p in folder.iterdir()] == [f"21-{x}-{y}.png"]
    x23, y23 = tile_over(E + 20, N + 12, 23)  # closer than CACHED_ZOOM_MAX: drawn, not kept
    assert client.get(f"{base}/23/{x23}/{y23}.png", headers=as_("surveyor")).status_code == 200
    assert len(list(folder.iterdir())) == 1

    monkeypatch.setattr(digitising, "TILES_KEPT_PER_SCAN", 2)
    for dx in (1, 2, 3):
        assert client.get(f"{base}/21/{x}/{y + dx - 2}.png", headers=as_("surveyor")).status_code == 200
    assert len(list(folder.iterdir())) == 2


def test_an_earlier_warps_tiles_are_removed(client, scan) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = warped(client, scan)
    x, y = tile_over(E + 20, N + 12, 20)
    assert client.get(f"/api/digitisations/{digitisation_id}/tiles/20/{x}/{y}.png",
                      headers=as_("surveyor")).status_code == 200
    first = tile_folder(client, digitisation_id)
    assert first.is_dir()
    time.sleep(0.01)
    assert client.post(f"/api/digitisations/{digitisation_id}/warp", headers=as_("surveyor")).status_code == 200
    assert not first.exists()
    assert list(first.parent.iterdir()) == []


# -- F9e: ETags ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    ('"abc"', True), ('W/"abc"', True), ("*", True), (' "x" , W/"abc"', True), ('"x", "y"', False),
    ('"abcd"', False), ("", False), ("abc", False), ('W/"a,bc", "abc"', True), ('"ab', False),
    ('"abc""abc"', False), ('"x" "abc"', False), ('"x", abc, "abc"', False), ('"x", , "abc"', True)])
def test_if_none_match_is_compared_weakly(header: str, expected: bool) -> None:
    """RFC 9110 13.1.2: a list of entity tags compared weakly, or `*`."""
    assert not_modified(header, '"abc"') is expected


def test_a_304_is_answered_without_drawing_the_tile(client, scan) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = warped(client, scan)
    x, y = tile_over(E + 20, N + 12, 21)
    url = f"/api/digitisations/{digitisation_id}/tiles/21/{x}/{y}.png"
    first = client.get(url, headers=as_("surveyor"))
    etag = first.headers["etag"]
    kept = tile_folder(client, digitisation_id) / f"21-{x}-{y}.png"
    kept.unlink()  # were it drawn again, it would be kept again
    for header in (etag, f"W/{etag}", "*", f'"other", W/{etag}'):
        again = client.get(url, headers={**as_("surveyor"), "If-None-Match": header})
        assert again.status_code == 304 and again.headers["etag"] == etag and not again.content, header
    assert not kept.exists()
    assert client.get(url, headers={**as_("surveyor"), "If-None-Match": '"other"'}).status_code == 200
    assert kept.exists()
    scan_url = f"/api/digitisations/{digitisation_id}/scan-tiles/0/0/0.png"
    scan_etag = client.get(scan_url, headers=as_("surveyor")).headers["etag"]
    assert client.get(scan_url, headers={**as_("surveyor"), "If-None-Match": f"W/{scan_etag}"}).status_code == 304


def test_the_full_page_and_the_workspace_audit_their_refusals_too(client, scan, module_database) -> None:  # type: ignore[no-untyped-def]
    digitisation_id = warped(client, scan)
    assert client.get(f"/api/digitisations/{digitisation_id}/image.png", headers=as_("surveyor")).status_code == 200
    assert client.get(f"/api/digitisations/{digitisation_id}/image.png",
                      headers=as_("other-surveyor")).status_code == 404
    assert client.get(f"/api/digitisations/{digitisation_id}/image.png", headers=as_("citizen")).status_code == 403
    assert client.get(f"/surveys/digitise/{digitisation_id}", headers=as_("other-surveyor")).status_code == 404
    assert client.get(f"/surveys/digitise/{digitisation_id}", headers=as_("citizen")).status_code == 403
    rows = [(r[0], r[1], r[3]) for r in audit_rows(module_database, digitisation_id)]
    assert sorted(rows, key=str) == sorted([("success", 11, "full"), ("refused", 12, "full"), ("refused", 31, "full"),
                                            ("refused", 12, "tiles"), ("refused", 31, "tiles")], key=str)


def test_a_warp_kept_only_if_the_digitisation_did_not_change_while_gdal_ran(client, scan, module_database) -> None:  # type: ignore[no-untyped-def]
    """GDAL warps with no connection held: the result is kept only if the control points and fit
    are those it was warped by."""
    from harness import PEOPLE

    from portal.platform.errors import Conflict

    digitisation_id = warped(client, scan)
    archive = client.app.state.archive  # type: ignore[attr-defined]
    with psycopg.connect(module_database) as conn:
        source = digitising.warp_source(conn, archive, PEOPLE["surveyor"], digitisation_id)
    warped_now = digitising.warp_file(archive, source)
    assert client.post(f"/api/digitisations/{digitisation_id}/fit", json={"transformation": "similarity"},
                       headers=as_("surveyor")).status_code == 200
    with psycopg.connect(module_database) as conn, pytest.raises(Conflict, match="changed while it was being warped"):
        digitising.warp_record(conn, PEOPLE["surveyor"], source, warped_now)
