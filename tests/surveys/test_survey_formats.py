"""The surveyors' guidance page and its templates (issue 16 §3): every template reads back
into its two parcels with code, land use and area, and the page names every attribute alias."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.settings import DatabaseSettings, Settings
from portal.surveys.samples import SAMPLES
from spatial.attributes import DXF_TAGS, FIELD_NAMES
from spatial.readers import read_parcels
from spatial.validation import validate_result


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database=DatabaseSettings(DATABASE_URL=database_url)))) as test_client:
        yield test_client


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_page_lists_formats_attribute_names_and_templates(client: TestClient, language: str) -> None:
    page = client.get("/surveys/formats", headers={"accept-language": language})
    assert page.status_code == 200
    for names in FIELD_NAMES.values():
        assert all(f"<code>{name}</code>" in page.text for name in names)
    for tags in DXF_TAGS.values():
        assert all(f"<code>{tag}</code>" in page.text for tag in tags)
    for kind in SAMPLES:
        assert f'href="/surveys/formats/{kind}"' in page.text
    assert ("Accepted survey files" if language == "en" else "可接受的测量成果文件") in page.text


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_template_reads_back_clean(client: TestClient, kind: str, tmp_path: Path) -> None:
    response = client.get(f"/surveys/formats/{kind}")
    assert response.status_code == 200
    name = SAMPLES[kind][0]
    assert f'filename="{name}"' in response.headers["content-disposition"]
    path = tmp_path / name
    path.write_bytes(response.content)
    result = read_parcels(path)
    assert [(p.parcel_code, p.land_use_code, p.declared_area) for p in result.parcels] == [
        ("330102001001GB00001", "0701", 400.0), ("330102001001GB00002", "0501", 400.0)]
    assert validate_result(result).error_count == 0


def test_an_unknown_template_is_a_404_page(client: TestClient) -> None:
    response = client.get("/surveys/formats/shapefile", headers={"accept-language": "en"})
    assert response.status_code == 404 and "There is no template shapefile" in response.text
