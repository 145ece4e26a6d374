"""The submission workflow over real HTTP and real PostGIS: upload, report, preview, submit,
approve, reject; splits and merges; and the rule that a refused step changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from harness import PEOPLE, header_principal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from survey_files import FREE_NORTHING, block, exchange

from portal.app import create_app
from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.settings import DatabaseSettings, Settings, SurveySettings
from portal.surveys import workflow as submissions
from portal.surveys.importer import import_file

E0 = 40_515_100.0  # eastings inside the demo grid's span, south of it


@pytest.fixture(scope="module")
def survey_db(fresh_database) -> str:  # type: ignore[no-untyped-def]
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=60, seed=3)
    return url


@pytest.fixture(scope="module")
def client(survey_db: str) -> Iterator[TestClient]:
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=survey_db)))

    app.state.principal_resolver = header_principal
    with TestClient(app) as test_client:
        yield test_client


def as_(person: str) -> dict[str, str]:
    return {"x-test-person": person}


def upload(client: TestClient, content: bytes, name: str = "survey.txt", person: str = "surveyor", **form):  # type: ignore[no-untyped-def]
    return client.post("/api/submissions", files={"file": (name, content)}, data=form, headers=as_(person))


def state(url: str) -> tuple[int, ...]:
    """Everything a refused step must leave as it was."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM parcels), (SELECT count(*) FROM parcels WHERE end_lifespan IS NULL), "
            "(SELECT count(*) FROM sources), (SELECT count(*) FROM parcel_lineage), "
            "(SELECT count(*) FROM submissions), (SELECT count(*) FROM submissions WHERE status = 'approved')"
        ).fetchone()


def test_clean_upload_becomes_a_draft_and_changes_no_parcel(client, survey_db) -> None:
    before = state(survey_db)
    response = upload(client, exchange(block("330102001001GB09001", E0, FREE_NORTHING, 20)))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft" and body["file_format"] == "exchange" and body["crs"] == 4528
    assert body["report"]["error_count"] == 0 and body["created_by_name"] == "张测绘 (测试测绘院)"
    [parcel] = body["parcels"]
    assert parcel["parcel_code"] == "330102001001GB09001"
    assert parcel["computed_area"] == pytest.approx(400, abs=0.5)
    after = state(survey_db)
    assert after[:4] == before[:4] and after[4] == before[4] + 1


def test_overlap_is_reported_located_in_the_preview_and_blocks_submission(client, survey_db) -> None:
    with psycopg.connect(survey_db) as conn:
        code, xmin, ymin = conn.execute(
            "SELECT parcel_code, ST_XMin(survey_geom), ST_YMin(survey_geom) FROM current_parcels "
            "ORDER BY parcel_id LIMIT 1").fetchone()
    body = upload(client, exchange(block("330102001001GB09002", xmin - 3, ymin - 3, 5))).json()
    [overlap] = [i for i in body["report"]["issues"] if i["code"] == "overlap_existing"]
    assert overlap["parcel_index"] == 0 and code in overlap["message"] and overlap["details"]["area_m2"] == 4.0
    assert overlap["location"].startswith("POLYGON")
    assert overlap["where"] == "line 13" and "place" not in overlap  # the API key stays `where` (docs/glossary.md)
    preview = client.get(f"/api/submissions/{body['id']}/preview", headers=as_("surveyor"))
    assert preview.headers["content-type"].startswith("application/geo+json")
    layers = {f["properties"]["layer"] for f in preview.json()["features"]}
    assert {"upload", "cadastre", "issue"} <= layers
    [fault] = [f for f in preview.json()["features"] if f["properties"].get("code") == "overlap_existing"]
    lon, lat = fault["geometry"]["coordinates"][0][0]
    assert 120.1 < lon < 120.2 and 30.1 < lat < 30.3  # longitude first, in CGCS2000
    before = state(survey_db)
    refused = client.post(f"/api/submissions/{body['id']}/submit", headers=as_("surveyor"))
    assert refused.status_code == 409 and refused.json()["detail"]["report"]["error_count"] >= 1
    assert state(survey_db) == before


def test_unreadable_file_is_refused_with_its_place_and_nothing_is_stored(client, survey_db) -> None:
    before = state(survey_db)
    text = exchange(block("330102001001GB09003", E0, FREE_NORTHING, 10)).replace(b"3345472.000", b"33454X2.000")
    response = upload(client, text, name="bad.txt")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["file"] == "bad.txt" and detail["line"] is not None and "33454X2" in detail["message"]
    assert state(survey_db) == before


def test_drawing_without_crs_asks_for_one(client, survey_db) -> None:
    import ezdxf

    doc = ezdxf.new()
    doc.modelspace().add_lwpolyline([(100, 100), (120, 100), (120, 120), (100, 120)], close=True)
    import io

    stream = io.StringIO()
    doc.write(stream)
    before = state(survey_db)
    response = upload(client, stream.getvalue().encode(), name="parcel.dxf")
    assert response.status_code == 422 and "crs" in response.json()["detail"]["message"].lower()
    assert state(survey_db) == before


def test_permissions_come_from_one_place(client, survey_db) -> None:
    content = exchange(block("330102001001GB09004", E0 + 30, FREE_NORTHING, 10))
    assert upload(client, content, person="").status_code == 401
    assert upload(client, content, person="citizen").status_code == 403
    mine = upload(client, content).json()["id"]
    assert client.get(f"/api/submissions/{mine}", headers=as_("other-surveyor")).status_code == 404
    assert client.get(f"/api/submissions/{mine}", headers=as_("registrar")).status_code == 200
    assert client.post(f"/api/submissions/{mine}/submit", headers=as_("surveyor")).status_code == 200
    assert client.post(f"/api/submissions/{mine}/approve", headers=as_("surveyor")).status_code == 403
    ids = {s["id"] for s in client.get("/api/submissions", params={"status": "submitted"},
                                       headers=as_("registrar")).json()}
    assert mine in ids
    assert mine not in {s["id"] for s in client.get("/api/submissions", headers=as_("other-surveyor")).json()}


def test_approval_publishes_everything_in_one_transaction(client, survey_db) -> None:
    codes = ["330102001001GB09011", "330102001001GB09012"]
    content = exchange(block(codes[0], E0 + 50, FREE_NORTHING, 15), block(codes[1], E0 + 65, FREE_NORTHING, 15))
    sid = upload(client, content).json()["id"]
    assert client.post(f"/api/submissions/{sid}/submit", headers=as_("surveyor")).json()["status"] == "submitted"
    before = state(survey_db)
    approved = client.post(f"/api/submissions/{sid}/approve", headers=as_("registrar"))
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["decided_by_name"].startswith("王登记")
    assert sorted(body["published"]["parcel_codes"]) == codes
    after = state(survey_db)
    assert after[0] == before[0] + 2 and after[1] == before[1] + 2 and after[2] == before[2] + 1
    with psycopg.connect(survey_db) as conn:
        rows = conn.execute("SELECT parcel_code, source_id, round(calculated_area) FROM current_parcels "
                            "WHERE parcel_code = ANY(%s) ORDER BY 1", (codes,)).fetchall()
    assert [r[0] for r in rows] == codes and {r[1] for r in rows} == {body["source_id"]}
    assert [float(r[2]) for r in rows] == [225.0, 225.0]
    # The published bounds (for the map) are those of the stored lon/lat geometry, to within
    # PostGIS's single-precision boxes (1e-5 degrees, about a metre).
    with psycopg.connect(survey_db) as conn:
        stored = conn.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
                              "FROM current_parcels WHERE parcel_code = ANY(%s)) x", (codes,)).fetchone()
    west, south, east, north = body["published"]["bounds"]
    assert (west, south, east, north) == pytest.approx(stored, abs=1e-5)
    again = client.post(f"/api/submissions/{sid}/approve", headers=as_("registrar"))
    assert again.status_code == 409 and "approved" in again.json()["detail"]["message"]


def test_a_parcel_published_after_submission_blocks_approval(client, survey_db, tmp_path) -> None:
    content = exchange(block("330102001001GB09021", E0 + 90, FREE_NORTHING, 12))
    sid = upload(client, content).json()["id"]
    client.post(f"/api/submissions/{sid}/submit", headers=as_("surveyor")).raise_for_status()
    intruder = tmp_path / "intruder.txt"
    intruder.write_bytes(exchange(block("330102001001GB09022", E0 + 96, FREE_NORTHING, 12)))
    assert import_file(survey_db, intruder).published == 1
    before = state(survey_db)
    refused = client.post(f"/api/submissions/{sid}/approve", headers=as_("registrar"))
    assert refused.status_code == 409
    assert "overlap_existing" in {i["code"] for i in refused.json()["detail"]["report"]["issues"]}
    assert state(survey_db) == before
    assert client.get(f"/api/submissions/{sid}", headers=as_("registrar")).json()["status"] == "submitted"


def test_rejection_needs_reasons_and_is_final(client, survey_db) -> None:
    sid = upload(client, exchange(block("330102001001GB09031", E0 + 115, FREE_NORTHING, 10))).json()["id"]
    client.post(f"/api/submissions/{sid}/submit", headers=as_("surveyor")).raise_for_status()
    assert client.post(f"/api/submissions/{sid}/reject", json={"reasons": []},
                       headers=as_("registrar")).status_code == 422
    rejected = client.post(f"/api/submissions/{sid}/reject", json={"reasons": ["界址点J3与实地不符"]},
                           headers=as_("registrar"))
    assert rejected.status_code == 200 and rejected.json()["reasons"] == ["界址点J3与实地不符"]
    assert client.get(f"/api/submissions/{sid}", headers=as_("surveyor")).json()["status"] == "rejected"
    assert client.post(f"/api/submissions/{sid}/approve", headers=as_("registrar")).status_code == 409


def test_the_database_refuses_skipping_a_step(survey_db, client) -> None:
    sid = upload(client, exchange(block("330102001001GB09041", E0 + 130, FREE_NORTHING, 10))).json()["id"]
    with psycopg.connect(survey_db) as conn, pytest.raises(psycopg.errors.IntegrityConstraintViolation,
                                                           match="cannot move from draft to approved"):
        conn.execute("UPDATE submissions SET status = 'approved' WHERE submission_id = %s", (sid,))
    with psycopg.connect(survey_db) as conn, pytest.raises(psycopg.errors.IntegrityConstraintViolation,
                                                           match="evidence"):
        conn.execute("UPDATE submissions SET file_content = 'x' WHERE submission_id = %s", (sid,))


def _publish_directly(url: str, tmp_path, content: bytes) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "base.txt"
    path.write_bytes(content)
    assert import_file(url, path).published >= 1


def test_split_retires_the_parent_and_records_lineage(client, survey_db, tmp_path) -> None:
    parent = "330102001001GB09051"
    _publish_directly(survey_db, tmp_path, exchange(block(parent, E0 + 145, FREE_NORTHING, 20, 10)))
    halves = exchange(block("330102001001GB09052", E0 + 145, FREE_NORTHING, 10),
                      block("330102001001GB09053", E0 + 155, FREE_NORTHING, 10))
    draft = upload(client, halves, purpose="split", retires=parent).json()
    assert draft["report"]["error_count"] == 0, draft["report"] and draft["retires"] == [parent]
    client.post(f"/api/submissions/{draft['id']}/submit", headers=as_("surveyor")).raise_for_status()
    body = client.post(f"/api/submissions/{draft['id']}/approve", headers=as_("registrar")).json()
    assert len(body["published"]["retired_parcel_ids"]) == 1 and len(body["published"]["lineage"]) == 2
    with psycopg.connect(survey_db) as conn:
        assert conn.execute("SELECT count(*) FROM current_parcels WHERE parcel_code = %s", (parent,)).fetchone()[0] == 0
        lineage = conn.execute(
            "SELECT DISTINCT p.parcel_code, c.parcel_code, l.event FROM parcel_lineage l "
            "JOIN parcels p ON p.parcel_id = l.parent_parcel_id JOIN parcels c ON c.parcel_id = l.child_parcel_id "
            "WHERE p.parcel_code = %s ORDER BY 2", (parent,)).fetchall()
    assert lineage == [(parent, "330102001001GB09052", "split"), (parent, "330102001001GB09053", "split")]


def test_a_split_must_cover_its_parent(client, survey_db, tmp_path) -> None:
    parent = "330102001001GB09061"
    _publish_directly(survey_db, tmp_path, exchange(block(parent, E0 + 170, FREE_NORTHING, 20, 10)))
    short = exchange(block("330102001001GB09062", E0 + 170, FREE_NORTHING, 10),
                     block("330102001001GB09063", E0 + 180, FREE_NORTHING, 8, 10))
    report = upload(client, short, purpose="split", retires=parent).json()["report"]
    [gap] = [i for i in report["issues"] if i["code"] == "coverage_mismatch"]
    assert gap["details"]["uncovered_m2"] == pytest.approx(20, abs=0.1) and gap["location"]
    one_child = exchange(block("330102001001GB09064", E0 + 170, FREE_NORTHING, 20, 10))
    codes = {i["code"] for i in upload(client, one_child, purpose="split", retires=parent).json()["report"]["issues"]}
    assert "purpose_mismatch" in codes


def test_merge_and_a_retired_parcel_with_units(client, survey_db, tmp_path) -> None:
    a, b, merged = "330102001001GB09071", "330102001001GB09072", "330102001001GB09073"
    _publish_directly(survey_db, tmp_path, exchange(block(a, E0 + 195, FREE_NORTHING, 10),
                                                     block(b, E0 + 205, FREE_NORTHING, 10)))
    draft = upload(client, exchange(block(merged, E0 + 195, FREE_NORTHING, 20, 10)), purpose="merge",
                   retires=f"{a}, {b}").json()
    assert draft["report"]["error_count"] == 0, draft["report"]
    client.post(f"/api/submissions/{draft['id']}/submit", headers=as_("surveyor")).raise_for_status()
    published = client.post(f"/api/submissions/{draft['id']}/approve", headers=as_("registrar")).json()["published"]
    assert len(published["lineage"]) == 2 and len(published["retired_parcel_ids"]) == 2
    with psycopg.connect(survey_db) as conn:
        code, xmin, ymin, xmax, ymax = conn.execute(
            "SELECT p.parcel_code, ST_XMin(p.survey_geom), ST_YMin(p.survey_geom), ST_XMax(p.survey_geom), "
            "ST_YMax(p.survey_geom) FROM current_parcels p WHERE EXISTS "
            "(SELECT 1 FROM current_units u WHERE u.parcel_id = p.parcel_id) ORDER BY p.parcel_id LIMIT 1").fetchone()
    again = block("330102001001GB09074", xmin, ymin, xmax - xmin, ymax - ymin)
    report = upload(client, exchange(again), purpose="boundary_adjustment", retires=code).json()["report"]
    assert "retired_parcel_has_units" in {i["code"] for i in report["issues"]}


def test_two_registrars_approving_at_once_publish_once(client, survey_db) -> None:
    sid = upload(client, exchange(block("330102001001GB09081", E0 + 220, FREE_NORTHING, 10))).json()["id"]
    client.post(f"/api/submissions/{sid}/submit", headers=as_("surveyor")).raise_for_status()
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def approve() -> None:
        with psycopg.connect(survey_db) as conn:
            barrier.wait()
            try:
                outcomes.append(submissions.approve(conn, sid, PEOPLE["registrar"], SurveySettings()))
            except submissions.SubmissionConflict as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["Publication", "SubmissionConflict"]
    with psycopg.connect(survey_db) as conn:
        assert conn.execute("SELECT count(*) FROM parcels WHERE parcel_code = '330102001001GB09081'").fetchone()[0] == 1


FIXTURES = Path("/work/shared/fixtures/external")
if not FIXTURES.is_dir():
    FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "external"
REAL_FILES = ["es-catastro-inspire/generador-gml_test_wfs_11039.gml",
              "es-catastro-inspire/catatom2osm_38012_parcel.gpkg",
              "es-dxf-parcel/parcelacad.dxf", "fr-dgfip-edigeo/edigeo-25354000AB01.tar.bz2",
              "fr-etalab-cadastre/cadastre-91216-parcelles.json", "co-ladm-col-xtf/test_ladm_col_queries_v1_2.xtf"]


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not available")
@pytest.mark.parametrize("relative", REAL_FILES)
def test_real_cadastral_files_are_kept_as_drafts_with_reasons_or_refused(client, survey_db, relative) -> None:
    """Foreign cadastres' files cannot join a Chinese cadastre: each upload says why, in the
    report (no GB/T 37346 parcel code, outside the administrative area...) or as a refusal."""
    path = FIXTURES / relative
    before = state(survey_db)
    response = upload(client, path.read_bytes(), name=path.name)
    if response.status_code == 422:
        detail = response.json()["detail"]
        assert detail["file"] == path.name and detail["problem"]
        assert state(survey_db) == before
        return
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["parcel_count"] > 0 and report["blocks_publication"]
    codes = {i["code"] for i in report["issues"] if i["severity"] == "error"}
    assert codes & {"parcel_code_missing", "parcel_code_malformed", "outside_admin_area", "land_use_unknown"}
    assert all(i["message"] for i in report["issues"])
    after = state(survey_db)
    assert after[:4] == before[:4]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=2048),
       suffix=st.sampled_from([".txt", ".dxf", ".geojson", ".gpkg", ".zip", ".gml", ""]))
def test_random_uploads_never_break_the_server_or_the_cadastre(client, survey_db, content, suffix) -> None:
    before = state(survey_db)
    response = upload(client, content, name=f"random{suffix}")
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert response.json()["detail"]["message"]
        assert state(survey_db) == before
    else:
        assert state(survey_db)[:4] == before[:4]


def test_pages_show_the_report_as_a_table_and_ask_strangers_to_log_in(client, survey_db) -> None:
    with psycopg.connect(survey_db) as conn:
        xmin, ymin = conn.execute("SELECT ST_XMin(survey_geom), ST_YMin(survey_geom) FROM current_parcels "
                                  "ORDER BY parcel_id LIMIT 1 OFFSET 3").fetchone()
    sid = upload(client, exchange(block("330102001001GB09091", xmin - 2, ymin - 2, 4))).json()["id"]
    anonymous = client.get("/surveys", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert client.get("/surveys", headers=as_("citizen")).status_code == 403
    listing = client.get("/surveys", headers=as_("surveyor"))
    assert listing.status_code == 200 and f'href="/surveys/{sid}"' in listing.text
    page = client.get(f"/surveys/{sid}", headers={**as_("surveyor"), "accept-language": "en"})
    assert page.status_code == 200
    assert "overlap_existing" in page.text and 'data-parcel="0"' in page.text and "Validation report" in page.text
    assert 'data-action="submit" disabled' in page.text  # errors first
    assert client.get(f"/surveys/{sid}", headers=as_("other-surveyor")).status_code == 404
    queue = client.get("/surveys/review", headers=as_("registrar"))
    assert queue.status_code == 200 and "审核队列" in queue.text


def _geojson_in_utm(code: str, x0: float, y0: float, width: float) -> bytes:
    """A square parcel of `width` m in UTM zone 50N (EPSG:32650), its south-west corner at
    easting `x0`, northing `y0` of the demo's Gauss-Krüger zone (EPSG:4528). Far from the UTM
    zone's central meridian, the planar area (what is published) exceeds the ellipsoidal one."""
    import json

    from pyproj import Transformer

    e, n = Transformer.from_crs(4528, 32650, always_xy=True).transform(x0, y0)
    ring = [[e, n], [e + width, n], [e + width, n + width], [e, n + width], [e, n]]
    return json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32650"}},
                       "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                     "properties": {"ZDDM": code, "DLBM": "0701", "MJ": width * width}}]}).encode()


@pytest.mark.parametrize(("name", "content", "code"), [
    ("utm.geojson", _geojson_in_utm("330102001001GB09091", E0 + 240, FREE_NORTHING + 4, 14), "330102001001GB09091"),
    ("gk.txt", exchange(block("330102001001GB09092", E0 + 262, FREE_NORTHING, 21.37, 13.11)), "330102001001GB09092"),
])
def test_the_area_a_report_shows_is_the_area_published(client, survey_db, monkeypatch, name, content, code) -> None:
    """Read once: submit and approve validate and publish what was read at upload (the file is
    not read again), and each parcel's area in the report is the one approval stores."""
    draft = upload(client, content, name=name).json()
    assert draft["report"]["error_count"] == 0, draft["report"]
    shown = {p["parcel_code"]: p["computed_area"] for p in draft["parcels"]}

    def read_again(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the uploaded file was read again")

    monkeypatch.setattr(submissions, "_read", read_again)
    client.post(f"/api/submissions/{draft['id']}/submit", headers=as_("surveyor")).raise_for_status()
    approved = client.post(f"/api/submissions/{draft['id']}/approve", headers=as_("registrar"))
    assert approved.status_code == 200, approved.text
    with psycopg.connect(survey_db) as conn:
        stored = dict(conn.execute("SELECT parcel_code, calculated_area::float8 FROM current_parcels "
                                   "WHERE parcel_code = %s", (code,)).fetchall())
        ellipsoidal = conn.execute("SELECT ST_Area(geom::geography) FROM current_parcels WHERE parcel_code = %s",
                                   (code,)).fetchone()[0]
    assert shown == stored
    if name == "utm.geojson":  # the case where the ellipsoidal area (shown before) was not the published one
        assert abs(stored[code] - ellipsoidal) > 0.1


def test_a_submission_uploaded_before_its_parcels_were_kept_is_read_from_its_file(client, survey_db) -> None:
    """Submissions from before migration 0010 have only their file: submit and approve read it."""
    code = "330102001001GB09093"
    sid = upload(client, exchange(block(code, E0 + 290, FREE_NORTHING, 12))).json()["id"]
    with psycopg.connect(survey_db) as conn:
        conn.execute("UPDATE submission_parcels SET as_read = NULL WHERE submission_id = %s", (sid,))
        conn.execute("UPDATE submissions SET read_issues = NULL WHERE submission_id = %s", (sid,))
    client.post(f"/api/submissions/{sid}/submit", headers=as_("surveyor")).raise_for_status()
    approved = client.post(f"/api/submissions/{sid}/approve", headers=as_("registrar"))
    assert approved.status_code == 200 and approved.json()["published"]["parcel_codes"] == [code]


def test_nobody_decides_their_own_submission(client, survey_db) -> None:
    """Separation of duties (issue 15, section 7): a registrar may upload and submit a survey,
    but another registrar approves or rejects it; the database refuses it too (migration 0012)."""
    sid = upload(client, exchange(block("330102001001GB09151", E0 + 320, FREE_NORTHING, 10)),
                 person="registrar").json()["id"]
    assert client.post(f"/api/submissions/{sid}/submit", headers=as_("registrar")).status_code == 200
    before = state(survey_db)
    for step, body in (("approve", None), ("reject", {"reasons": ["自审"]})):
        refused = client.post(f"/api/submissions/{sid}/{step}", json=body, headers=as_("registrar"))
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"]["code"] == "own_submission"
        assert "uploaded by you" in refused.json()["detail"]["message"]
    assert state(survey_db) == before
    assert client.get(f"/api/submissions/{sid}", headers=as_("registrar")).json()["status"] == "submitted"
    with psycopg.connect(survey_db) as conn, pytest.raises(psycopg.errors.CheckViolation,
                                                           match="submission_not_decided_by_its_author"):
        conn.execute("UPDATE submissions SET status = 'rejected', decided_at = now(), decided_by = created_by, "
                     "decided_by_name = 'x', reasons = '{自审}' WHERE submission_id = %s", (sid,))
    approved = client.post(f"/api/submissions/{sid}/approve", headers=as_("registrar-2"))
    assert approved.status_code == 200 and approved.json()["decided_by_name"].startswith("陈登记")


def test_reports_come_in_pages(survey_db) -> None:
    """Issue 15 §8: a report is sent a page at a time (API and page), with its total, so a report
    of 100,000 issues is never one response; a page larger than allowed is refused (422)."""
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=survey_db),
                              survey=SurveySettings(report_page_size=2, report_max_page_size=3)))
    app.state.principal_resolver = header_principal
    blocks = [block(f"330102001001GB0950{i}", E0 + 300 + 10 * i, FREE_NORTHING, 5, use="9999") for i in range(5)]
    with TestClient(app) as client:
        made = upload(client, exchange(*blocks))
        assert made.status_code == 201, made.text
        first = made.json()["report"]
        total = first["issues_total"]
        assert total >= 5 and len(first["issues"]) == 2 and first["issues_offset"] == 0
        sid = made.json()["id"]
        pages = []
        for offset in range(0, total, 3):
            page = client.get(f"/api/submissions/{sid}/report", params={"offset": offset, "limit": 3},
                              headers=as_("surveyor"))
            assert page.status_code == 200, page.text
            assert page.json()["issues_total"] == total and page.json()["issues_offset"] == offset
            pages += page.json()["issues"]
        assert len(pages) == total and pages[:2] == first["issues"]
        assert client.get(f"/api/submissions/{sid}/report", headers=as_("surveyor")).json()["issues"] == pages[:2]
        past = client.get(f"/api/submissions/{sid}/report", params={"offset": total}, headers=as_("surveyor"))
        assert past.status_code == 200 and past.json()["issues"] == []
        too_big = client.get(f"/api/submissions/{sid}/report", params={"limit": 4}, headers=as_("surveyor"))
        assert too_big.status_code == 422 and "at most 3" in too_big.json()["detail"]["message"]
        html = client.get(f"/surveys/{sid}", params={"offset": 2}, headers={**as_("surveyor"), "Accept": "text/html"})
        assert html.status_code == 200 and 'id="report-pages"' in html.text
        assert 'data-issue="2"' in html.text and 'data-issue="3"' in html.text and 'data-issue="0"' not in html.text
        assert 'href="?offset=0"' in html.text and 'href="?offset=4"' in html.text


def test_checking_apart_from_the_cadastre_gives_the_report_of_one_assessment(survey_db) -> None:
    """An upload is checked on its own with no connection (`read_upload`) and against the
    cadastre in the short unit of work that stores it: the report is the one `assess` makes in
    one go, issue for issue and in the same order."""
    settings = SurveySettings()
    with psycopg.connect(survey_db) as conn:
        code, xmin, ymin = conn.execute(
            "SELECT parcel_code, ST_XMin(survey_geom), ST_YMin(survey_geom) FROM current_parcels "
            "ORDER BY parcel_id LIMIT 1").fetchone()
        cases = [
            (exchange(block("330102001001GB09601", xmin - 3, ymin - 3, 5),
                      block("330102001001GB09602", E0 + 500, FREE_NORTHING, 6, use="9999"),
                      block("330102001001GB09603", E0 + 503, FREE_NORTHING, 6)), "new", ()),
            (exchange(block(code, xmin, ymin, 4)), "split", (code, "330102001001GB99999")),
            (exchange(block("330102001001GB09604", E0 + 600, FREE_NORTHING, 5)), "merge", ("330102001001GB99998",)),
        ]
        for content, purpose, retires in cases:
            read = submissions.read_upload(submissions.Upload("s.txt", content, None, purpose, retires), settings)
            retired, unknown = submissions._resolve_retired(conn, retires)
            whole = submissions.assess(conn, read.result.parcels, settings, file=read.result.file,
                                       crs=read.result.crs, read_issues=[*read.result.issues, *unknown],
                                       purpose=purpose, retiring=list(retired), lonlat=read.lonlat,
                                       crs_source=read.result.crs_source)
            apart = submissions._against_cadastre(conn, read, settings, list(retired), unknown)
            assert whole.issues, "the case has issues to compare"
            assert apart.to_dict() == whole.to_dict()
            conn.rollback()
