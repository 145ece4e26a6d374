"""The OpenAPI document of /ogc is complete, true and whole offline (issue 18 section 1): it
validates, refers to no other host, lists no operation we refuse, and every path and
parameter it lists answers as documented; schemathesis over it finds no 5xx and no answer
outside the document. `properties` and `sortby` on items are implemented and documented."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyproj
import pytest
from ogc_server import Server
from openapi_spec_validator import validate

DOCUMENT_PARAMETERS_TO_TRY = 3  # values of an enum tried per parameter (the crs list is long)


def _document(server: Server) -> dict[str, Any]:
    response = httpx.get(server.ogc + "/openapi", params={"f": "json"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    document: dict[str, Any] = response.json()
    return document


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_the_document_validates_and_is_whole(ogc_server: Server) -> None:
    document = _document(ogc_server)
    validate(document)
    assert document["servers"] == [{"url": ogc_server.ogc}]
    for node in _walk(document):
        if "$ref" in node:
            assert node["$ref"].startswith("#/"), node
        for key in ("$schema", "$id", "externalDocs", "externalValue"):
            assert key not in node, node
    assert "schemas.opengis.net" not in str(document)
    assert "githubusercontent" not in str(document)


def test_the_document_lists_no_operation_we_refuse(ogc_server: Server) -> None:
    document = _document(ogc_server)
    for path, item in document["paths"].items():
        assert not path.startswith(("/jobs", "/processes")), path
        assert set(item) <= {"get", "parameters", "summary", "description"}, (path, set(item))
    names = {p["name"] for item in document["paths"].values()
             for p in item["get"].get("parameters", [])}
    assert "vendorSpecificParameters" not in str(document)
    assert {"datetime", "filter", "filter-lang", "filter-crs", "after", "bbox", "bbox-crs",
            "crs", "limit", "offset", "skipGeometry"} <= names
    for cid in ("parcels", "admin-areas"):
        base = f"/collections/{cid}"
        for path in ("", "/items", "/items/{featureId}", "/queryables", "/schema", "/tiles",
                     "/tiles/{tileMatrixSetId}", "/tiles/{tileMatrixSetId}/metadata",
                     "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"):
            assert base + path in document["paths"], base + path
        items = document["paths"][f"{base}/items"]["get"]["parameters"]
        listed = {_resolve(document, p)["name"] for p in items}
        assert {"properties", "sortby", "after", "datetime", "filter"} <= listed


def _samples(server: Server) -> dict[str, Any]:
    with psycopg.connect(server.database_url) as conn:
        code, land_use, admin, lon, lat = conn.execute(
            "SELECT parcel_code, land_use_code, admin_area_code, ST_X(ST_Centroid(geom)), "
            "ST_Y(ST_Centroid(geom)) FROM parcels WHERE end_lifespan IS NULL "
            "ORDER BY parcel_code LIMIT 1").fetchone()
    z = 16
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return {"parcels": code, "admin-areas": admin, "land_use": land_use, "tile": (z, y, x),
            "bbox": f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}"}


def _values(name: str, schema: dict[str, Any], samples: dict[str, Any], cid: str) -> list[str]:
    """Valid values of one query parameter, as a client would write them."""
    given = {
        "bbox": [samples["bbox"]],
        "datetime": ["2030-01-01T00:00:00Z"] if cid else [],
        "filter": ["land_use_code = '" + samples["land_use"] + "'" if cid == "parcels"
                   else "admin_area_code IS NOT NULL"],
        "after": ["0"],
        "limit": ["1", "5"],
        "offset": ["0", "2"],
        "ui": ["swagger", "redoc"],
    }
    if name in given:
        return given[name]
    if schema.get("type") == "array" and "enum" in schema.get("items", {}):
        choices = schema["items"]["enum"]
        return [choices[0], f"{choices[-1]},{choices[0]}"]
    if "enum" in schema:
        return [str(v) for v in schema["enum"][:DOCUMENT_PARAMETERS_TO_TRY]]
    if schema.get("type") == "boolean":
        return ["true", "false"]
    if schema.get("type") == "number":
        return ["12.5"]
    if schema.get("format") == "date":
        return ["2020-01-01"]
    if name == "parcel_code" or name == "admin_area_code":
        return [samples["parcels"] if name == "parcel_code" else samples["admin-areas"]]
    return ["x"]  # a queryable's value: a valid filter that matches nothing


def _companion(name: str, value: str, samples: dict[str, Any]) -> dict[str, str]:
    """What a parameter needs beside it: bbox-crs a bbox in that CRS, filter-crs a filter
    with a geometry in it."""
    if name not in ("bbox-crs", "filter-crs"):
        return {}
    x0, y0, x1, y1 = (float(v) for v in samples["bbox"].split(","))
    target = pyproj.CRS.from_user_input(value)
    to = pyproj.Transformer.from_crs("OGC:CRS84", target)  # the target's own axis order
    (a0, a1), (b0, b1) = to.transform([x0, x1], [y0, y1])
    if name == "bbox-crs":
        return {"bbox": f"{a0},{b0},{a1},{b1}"}
    return {"filter": f"S_INTERSECTS(geometry, BBOX({a0},{b0},{a1},{b1}))"}


def _documented(operation: dict[str, Any], document: dict[str, Any], status: int) -> set[str]:
    response = operation["responses"].get(str(status))
    assert response is not None, (operation["operationId"], status)
    return set(_resolve(document, response).get("content", {}))


def test_every_path_and_parameter_answers_as_documented(ogc_server: Server) -> None:
    document = _document(ogc_server)
    samples = _samples(ogc_server)
    z, y, x = samples["tile"]
    tried = 0
    with httpx.Client(timeout=60) as client:
        for path, item in document["paths"].items():
            operation = item["get"]
            cid = path.split("/")[2] if path.startswith("/collections/") else ""
            url = ogc_server.ogc + path.format(
                featureId=samples.get(cid, ""), tileMatrixSetId="WebMercatorQuad",
                tileMatrix=z, tileRow=y, tileCol=x).rstrip("/")
            if path == "/":
                url = ogc_server.ogc
            calls: list[dict[str, str]] = [{}]
            for parameter in operation.get("parameters", []):
                parameter = _resolve(document, parameter)
                if parameter["in"] != "query":
                    continue
                for value in _values(parameter["name"], parameter["schema"], samples, cid):
                    calls.append({parameter["name"]: value,
                                  **_companion(parameter["name"], value, samples)})
            for params in calls:
                response = client.get(url, params=params)
                assert response.status_code in (200, 204), (path, params, response.text[:300])
                documented = _documented(operation, document, response.status_code)
                media = response.headers.get("content-type", "").split(";")[0].strip()
                if response.status_code == 200:
                    assert any(m.split(";")[0] == media for m in documented), \
                        (path, params, media, documented)
                tried += 1
    assert tried > 150


def test_an_undocumented_parameter_on_items_is_refused(ogc_server: Server) -> None:
    for params in ({"foo": "bar"}, {"sortby": "owner"}, {"properties": "owner_name"},
                   {"area": "large"}, {"valid_from": "yesterday"},
                   {"sortby": "area", "after": "x"}, {"filter-lang": "cql2-json"},
                   {"crs": "EPSG:4490"}):
        response = httpx.get(ogc_server.ogc + "/collections/parcels/items", params=params,
                             timeout=30)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["code"] == "InvalidParameterValue"


def test_properties_returns_only_the_selected_public_properties(ogc_server: Server) -> None:
    page = httpx.get(ogc_server.ogc + "/collections/parcels/items",
                     params={"properties": "area,parcel_code", "limit": 3}, timeout=30).json()
    assert page["numberReturned"] == 3
    for feature in page["features"]:
        assert list(feature["properties"]) == ["area", "parcel_code"]
        assert feature["properties"]["parcel_code"] == feature["id"]
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    html = httpx.get(ogc_server.ogc + "/collections/parcels/items",
                     params={"properties": "area", "limit": 3, "f": "html"}, timeout=30)
    assert html.status_code == 200


def test_sortby_orders_pages_by_public_properties(ogc_server: Server) -> None:
    url = ogc_server.ogc + "/collections/parcels/items"
    with psycopg.connect(ogc_server.database_url) as conn:
        expected = [r[0] for r in conn.execute(
            "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL "
            "ORDER BY calculated_area DESC, parcel_code LIMIT 7").fetchall()]
        by_use = [r[0] for r in conn.execute(
            "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL "
            "ORDER BY land_use_code, calculated_area DESC, parcel_code LIMIT 5").fetchall()]
    first = httpx.get(url, params={"sortby": "-area", "limit": 4}, timeout=30)
    assert first.status_code == 200, first.text
    page = first.json()
    nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
    assert nxt and "offset=4" in nxt[0] and "after=" not in nxt[0]
    second = httpx.get(nxt[0], timeout=30).json()
    got = [f["id"] for f in page["features"] + second["features"]][:7]
    assert got == expected
    both = httpx.get(url, params={"sortby": "+land_use_code,-area", "limit": 5}, timeout=30)
    assert [f["id"] for f in both.json()["features"]] == by_use
    assert httpx.get(url, params={"sortby": "-area", "f": "html"}, timeout=30).status_code == 200


@pytest.mark.slow
def test_schemathesis_over_the_ogc_document(ogc_server: Server, tmp_path: Path) -> None:
    st = Path(sys.executable).parent / "st"
    if not st.exists() and not shutil.which("st"):
        pytest.skip("schemathesis is not installed")
    done = subprocess.run(
        [str(st if st.exists() else "st"), "run", f"{ogc_server.ogc}/openapi?f=json",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--max-examples", "8", "--workers", "1", "--phases", "examples,coverage,fuzzing",
         "--request-timeout", "20", "--no-color", "--seed", "18"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    report = Path(__file__).resolve().parents[2] / "artifacts" / "schemathesis-ogc.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"see {report}:\n" + done.stdout[-3000:]
