"""Hostile uploads over real HTTP, as the demo surveyor (issue 15, sections 1 and 8).

The reported attack: an OGR VRT uploaded to `POST /api/submissions` made the server read its own
files into parcel names that the report sent back, and fetch URLs. Each upload here tries a way
of that kind; the answer is a 4xx naming the format or the limit, nothing is stored, the
response holds none of the target file's content, and the canary server gets no request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from hostile_files import Canary, canary, geojson, gml, slow_dxf, vrt, zipped
from survey_files import FREE_NORTHING, block, exchange

from portal.app import create_app
from portal.demo.accounts import DEMO_ACCOUNTS
from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.settings import DatabaseSettings, Settings, SurveySettings
from portal.surveys.api import _Reading
from portal.surveys.workflow import UploadsAtOnce

E0 = 40_515_100.0
REPORTED = Path("/work/shared/fixtures/reported/upload-vrt/read-local-file.vrt")
if not REPORTED.is_file():
    REPORTED = Path(__file__).resolve().parents[3] / "shared/fixtures/reported/upload-vrt/read-local-file.vrt"
PASSWORD = {a.username: a.password for a in DEMO_ACCOUNTS}["surveyor"]


@pytest.fixture(scope="module")
def survey_db(fresh_database) -> str:  # type: ignore[no-untyped-def]
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=30, seed=4)
    return url


def _client(url: str, **survey: object) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url), survey=SurveySettings(**survey)))
    with TestClient(app) as client:
        token = client.post("/api/tokens", json={"username": "surveyor", "password": PASSWORD})
        assert token.status_code == 201, token.text
        yield client, {"Authorization": f"Bearer {token.json()['token']}"}


@pytest.fixture(scope="module")
def surveyor(survey_db: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client of the app, and the demo surveyor's credentials (a real account, not a test header)."""
    yield from _client(survey_db)


@pytest.fixture
def bait(tmp_path: Path) -> Iterator[Canary]:
    with canary(tmp_path / "server-files") as found:
        yield found


def submissions(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM submissions").fetchone()[0])  # type: ignore[index]


def post(surveyor: tuple[TestClient, dict[str, str]], name: str, content: bytes):  # type: ignore[no-untyped-def]
    client, headers = surveyor
    return client.post("/api/submissions", files={"file": (name, content)}, headers=headers)


@pytest.mark.skipif(not REPORTED.is_file(), reason="shared fixtures not available")
def test_the_reported_vrt_gets_422_naming_its_format(surveyor, survey_db) -> None:
    before = submissions(survey_db)
    response = post(surveyor, REPORTED.name, REPORTED.read_bytes())
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "unsupported_format" and "OGR VRT" in detail["message"]
    assert detail["file"] == "read-local-file.vrt"
    assert Path("/etc/hostname").read_text().strip() not in {p.strip() for p in response.text.split('"')}
    assert submissions(survey_db) == before


@pytest.mark.parametrize("name", ["parcels.vrt", "parcels.geojson", "parcels.gml"])
def test_a_vrt_over_a_server_file_leaks_nothing(surveyor, survey_db, bait, name) -> None:
    before = submissions(survey_db)
    response = post(surveyor, name, vrt(f"CSV:{bait.secret}", "secret"))
    assert response.status_code == 422, response.text
    assert not bait.leaked(response.text) and bait.hits == []
    assert submissions(survey_db) == before


@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/shadow", "cluster.json", "identity.key"])
def test_a_vrt_over_the_servers_secrets_leaks_nothing(surveyor, survey_db, target) -> None:
    """The files of the report: the process environment, the system's password hashes, and the
    managed cluster's superuser password and identity key (in the state folder)."""
    if not target.startswith("/"):
        target = str(DatabaseSettings().state_dir.resolve() / target)
    response = post(surveyor, "p.vrt", vrt(f"CSV:{target}", Path(target).stem))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["code"] == "unsupported_format"
    for secret in ("PATH=", "root:", "password", "superuser"):
        assert secret not in response.text


def test_a_vrt_fetching_a_url_fetches_nothing(surveyor, bait) -> None:
    response = post(surveyor, "p.vrt", vrt(f"CSV:/vsicurl/{bait.url}/p.csv", "p"))
    assert response.status_code == 422, response.text
    assert not bait.leaked(response.text) and bait.hits == []


def test_a_zip_holding_a_disguised_vrt_leaks_nothing(surveyor, bait) -> None:
    response = post(surveyor, "survey.zip", zipped({"parcels.geojson": vrt(f"CSV:{bait.secret}", "secret")}))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["code"] == "unsupported_format"
    assert not bait.leaked(response.text) and bait.hits == []


def test_references_inside_accepted_formats_reach_nothing(surveyor, bait) -> None:
    link = {"type": "link", "properties": {"href": f"{bait.url}/crs.prj", "type": "ogcwkt"}}
    for name, content in [
        ("p.geojson", geojson(link)),
        ("p.geojson", geojson({"type": "name", "properties": {"name": str(bait.prj)}})),
        ("p.gml", gml(srs=f"{bait.url}/crs.prj")),
        ("p.gml", gml(extra=f'<ogr:code xlink:href="{bait.url}/x.gml#a"/>')),
        ("p.gml", gml(prolog=f"<!DOCTYPE x [<!ENTITY e SYSTEM 'file://{bait.secret}'>]>", name="&e;")),
    ]:
        response = post(surveyor, name, content)
        assert response.status_code in (201, 422), response.text
        assert not bait.leaked(response.text)
    assert bait.hits == []


def test_limits_answer_413_naming_the_limit_and_the_app_keeps_serving(survey_db) -> None:
    for surveyor in _client(survey_db, max_features=0, max_unpacked_bytes=1024**2):
        before = submissions(survey_db)
        response = post(surveyor, "p.geojson", geojson({"type": "name", "properties": {"name": "EPSG:4528"}}))
        assert response.status_code == 413, response.text
        detail = response.json()["detail"]
        assert detail["code"] == "upload_limit" and "max features per upload" in detail["message"]
        response = post(surveyor, "bomb.zip", zipped({"p.geojson": b" " * (2 * 1024**2)}))
        assert response.status_code == 413 and "max unpacked bytes" in response.text
        assert submissions(survey_db) == before


def test_each_upload_limit_has_its_status_and_stable_code(survey_db) -> None:
    """Too large (413 upload_limit, naming max upload bytes), and more uploads at once than a user
    may have read (429 uploads_at_once, Retry-After): each with a message in the catalogue too."""
    from portal.web.i18n import catalog

    for surveyor in _client(survey_db, max_upload_bytes=100):
        response = post(surveyor, "p.txt", b"x" * 101)
        assert response.status_code == 413, response.text
        assert response.json()["detail"]["code"] == "upload_limit" and "max upload bytes" in response.text
    for surveyor in _client(survey_db, uploads_at_once_per_user=0):
        response = post(surveyor, "p.txt", b"x")
        assert response.status_code == 429 and response.json()["detail"]["code"] == "uploads_at_once"
        assert response.headers["retry-after"] == "5"
    for language in ("en", "zh-CN"):
        assert {"error.upload_limit", "error.uploads_at_once"} <= set(catalog(language))


def test_a_file_that_takes_too_long_costs_one_worker_not_the_app(survey_db) -> None:
    for surveyor in _client(survey_db, read_cpu_seconds=1):
        response = post(surveyor, "slow.dxf", slow_dxf(60_000))
        assert response.status_code == 413, response.text
        assert "read CPU limit" in response.json()["detail"]["message"]
        # The same app serves the next upload.
        good = post(surveyor, "ok.txt", exchange(block("330102001001GB09101", E0, FREE_NORTHING, 20)))
        assert good.status_code == 201, good.text


def test_one_user_cannot_hold_every_reader() -> None:
    reading = _Reading()
    with reading.slot("11", 1), reading.slot("12", 1):
        with pytest.raises(UploadsAtOnce) as refused, reading.slot("11", 1):
            pass
        assert (refused.value.status, refused.value.code) == (429, "uploads_at_once")
        assert "uploads at once per user" in refused.value.message
    with reading.slot("11", 1):  # released
        pass


def _token(client: TestClient, username: str) -> dict[str, str]:
    password = {a.username: a.password for a in DEMO_ACCOUNTS}[username]
    response = client.post("/api/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_slow_uploads_hold_no_connection_and_registrars_are_served(survey_db) -> None:
    """Issue 15 §8: more slow uploads at once than the work pool has connections. While they are
    read no work-pool connection is in use, and a registrar's request (which needs one) answers
    at once instead of 503. On the old code each read held a connection: the registrar waited
    the pool timeout and got 503."""
    import threading
    import time

    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=survey_db, work_pool_size=2, pool_timeout=2),
                              survey=SurveySettings(read_cpu_seconds=2, uploads_at_once_per_user=10)))
    slow = slow_dxf(150_000)  # several seconds of processor time: refused at the CPU limit (413)
    with TestClient(app) as client:
        surveyor, registrar = _token(client, "surveyor"), _token(client, "registrar")
        answers: list[int] = []

        def upload() -> None:
            answers.append(client.post("/api/submissions", files={"file": ("slow.dxf", slow)},
                                       headers=surveyor).status_code)

        uploads = [threading.Thread(target=upload) for _ in range(3)]
        for thread in uploads:
            thread.start()
        deadline = time.monotonic() + 20
        while sum(getattr(app.state, "slots", _Reading()).by_user.values()) < 3:
            assert time.monotonic() < deadline, "the uploads did not start"
            time.sleep(0.02)
        in_use = []
        for _ in range(20):  # a second of the reads
            stats = app.state.work_pool.get_stats()
            in_use.append(stats.get("pool_size", 0) - stats.get("pool_available", 0))
            time.sleep(0.05)
        reading_now = sum(app.state.slots.by_user.values())
        started = time.monotonic()
        served = client.get("/api/applications", headers=registrar)
        waited = time.monotonic() - started
        for thread in uploads:
            thread.join(120)
    assert reading_now == 3, "the registrar asked while the uploads were being read"
    assert max(in_use) == 0, f"connections of the work pool in use while files were read: {in_use}"
    assert served.status_code == 200 and waited < 1.5, (served.status_code, waited)
    assert sorted(answers) == [413, 413, 413], answers


@pytest.mark.parametrize("far", [1e308, 1e30, -4e7])
def test_coordinates_outside_their_crs_give_a_report_and_a_preview_not_a_500(surveyor, far) -> None:
    """Reported (fresh-eyes review): a GeoJSON polygon at +-1e308 stated as EPSG:4528 was kept as
    a draft with its errors, and then its preview answered 500 (PostGIS: "Point outside of
    projection domain"). Every located fault that cannot be put on the map is left off it; the
    report still names it."""
    client, auth = surveyor
    ring = [[far, far], [far + 10, far], [far + 10, far + 10], [far, far + 10], [far, far]]
    body = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
            '{"parcel_code":"330102001001GB09701","land_use_code":"0701"},'
            f'"geometry":{{"type":"Polygon","coordinates":[{ring}]}}}}]}}').encode()
    made = client.post("/api/submissions", files={"file": ("far.geojson", body, "application/geo+json")},
                       data={"crs": "4528"}, headers=auth)
    assert made.status_code == 201, made.text  # kept as a draft whose report names the fault
    assert made.json()["report"]["error_count"] >= 1
    preview = client.get(f"/api/submissions/{made.json()['id']}/preview", headers=auth)
    assert preview.status_code == 200, preview.text
    for feature in preview.json()["features"]:
        for x, y in ((c[0], c[1]) for c in _coordinates(feature["geometry"])):
            assert -180 <= x <= 180 and -90 <= y <= 90


def _coordinates(geometry: dict | None) -> list[list[float]]:  # type: ignore[type-arg]
    if not geometry:
        return []
    if geometry["type"] == "GeometryCollection":
        return [c for g in geometry["geometries"] for c in _coordinates(g)]
    flat: list[list[float]] = []

    def walk(value: object) -> None:
        if isinstance(value, list) and value and isinstance(value[0], (int, float)):
            flat.append(value)  # type: ignore[arg-type]
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(geometry["coordinates"])
    return flat
