"""A validation report in the reader's language: the surveyor's page, the report API and the
preview map's faults (issue 17 §1), over real HTTP on a demo district of the module's own."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from harness import header_principal
from survey_files import block, exchange

from portal.app import create_app
from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.settings import DatabaseSettings, Settings

SURVEYOR = {"x-test-person": "surveyor"}


@pytest.fixture(scope="module")
def client(fresh_database) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=30, seed=5)
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url)))
    app.state.principal_resolver = header_principal
    with TestClient(app) as test_client:
        test_client.app_state_url = url  # type: ignore[attr-defined]
        yield test_client


@pytest.fixture(scope="module")
def overlapping(client: TestClient) -> tuple[int, str]:
    with psycopg.connect(client.app_state_url) as conn:  # type: ignore[attr-defined]
        code, xmin, ymin = conn.execute(
            "SELECT parcel_code, ST_XMin(survey_geom), ST_YMin(survey_geom) FROM current_parcels "
            "ORDER BY parcel_id LIMIT 1").fetchone()
    response = client.post("/api/submissions", headers=SURVEYOR, files={
        "file": ("survey.txt", exchange(block("330102001001GB09002", xmin - 3, ymin - 3, 5, use="9999")))})
    assert response.status_code == 201, response.text
    return response.json()["id"], code


def test_the_report_api_adds_the_message_in_the_requests_language(client: TestClient,
                                                                   overlapping: tuple[int, str]) -> None:
    submission, code = overlapping
    zh = client.get(f"/api/submissions/{submission}/report", headers={**SURVEYOR, "Accept-Language": "zh-CN"})
    issues = {i["code"]: i for i in zh.json()["issues"]}
    assert issues["overlap_existing"]["message"].startswith("overlaps current parcel")  # the contract stays
    assert issues["overlap_existing"]["localized_message"].startswith(f"与现势宗地 {code} 重叠 ")
    assert issues["land_use_unknown"]["localized_message"] == "地类代码 '9999' 不是 GB/T 21010 中的地类"
    en = client.get(f"/api/submissions/{submission}/report", headers={**SURVEYOR, "Accept-Language": "en"})
    assert all(i["localized_message"] == i["message"] for i in en.json()["issues"])


def test_the_surveyors_page_and_preview_speak_chinese(client: TestClient, overlapping: tuple[int, str]) -> None:
    submission, code = overlapping
    page = client.get(f"/surveys/{submission}", headers={**SURVEYOR, "Accept": "text/html", "Accept-Language": "zh"})
    assert page.status_code == 200, page.text
    assert f"与现势宗地 {code} 重叠" in page.text and "第 13 行" in page.text
    assert "overlaps current parcel" not in page.text and "line 13" not in page.text
    preview = client.get(f"/api/submissions/{submission}/preview", headers={**SURVEYOR, "Accept-Language": "zh-CN"})
    faults = [f["properties"] for f in preview.json()["features"] if f["properties"].get("code")]
    assert faults and all("localized_message" in p for p in faults)
    assert any(p["localized_message"].startswith("与现势宗地") for p in faults)
