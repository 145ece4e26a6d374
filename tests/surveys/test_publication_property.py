"""Publication never fails on anything validation could have seen (issue 16 §2).

Generated uploads, valid and broken (x and y swapped, eastings without their zone prefix,
the wrong CRS, tiny, self-intersecting, overlapping each other or the cadastre, outside the
administrative area or the cadastre, bad or repeated or taken codes, unknown land use, odd
declared areas), are validated against a real PostGIS demo cadastre; whenever the report has
no error, publishing them must succeed. Every example is rolled back. Readers hand over the
same `SurveyedParcel`s: their own contract is fuzzed in tests/spatial/test_spatial_fuzz.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from portal.settings import SurveySettings
from portal.surveys.cadastre_validation import assess, lonlat_wkbs
from portal.surveys.publication import SourceRecord, publish
from spatial.model import SurveyedParcel

EXAMPLES = int(os.environ.get("CADASTRE_PROPERTY_EXAMPLES", "60"))
# The free strip south of the demo grid, inside administrative area 330102 (tests/support/survey_files).
WEST, SOUTH = 40_515_100.0, 3_345_464.0
GRID_NORTHING = 3_345_520.0  # inside the demo grid: overlaps published parcels

KINDS = ("valid", "valid", "valid", "swapped", "no_prefix", "wrong_crs_4549", "lonlat_crs", "tiny", "bowtie",
         "overlap_upload", "overlap_cadastre", "outside_admin", "far_zone", "spike", "sliver")


@pytest.fixture(scope="module")
def conn(module_database: str) -> Iterator[psycopg.Connection]:
    """One connection to a demo cadastre of this module's own; every example is rolled back."""
    with psycopg.connect(module_database) as connection:
        yield connection


def _ring(kind: str, x: float, y: float, size: float) -> list[tuple[float, float]]:
    if kind == "tiny":
        size = 0.05
    if kind == "sliver":
        return [(x, y), (x + size, y), (x + size, y + 0.004), (x, y + 0.004)]
    if kind == "bowtie":
        return [(x, y), (x + size, y + size), (x + size, y), (x, y + size)]
    if kind == "spike":
        return [(x, y), (x + size, y), (x + size, y + size), (x + size / 2, y + size), (x + size / 2, y + 3 * size),
                (x + size / 2 + 1e-9, y + size), (x, y + size)]
    if kind == "overlap_cadastre":
        y = GRID_NORTHING
    if kind == "outside_admin":
        y = SOUTH - 80
    if kind == "far_zone":
        x -= 100_000  # 100 km west: inside zone 40, far outside the demo cadastre
    return [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]


@st.composite
def uploads(draw: st.DrawFn, taken: str) -> list[SurveyedParcel]:
    count = draw(st.integers(1, 3))
    parcels: list[SurveyedParcel] = []
    base = draw(st.integers(1, 9000))
    faulty = draw(st.booleans())  # half the uploads are meant to be clean, so both sides are exercised
    for n in range(count):
        kind = draw(st.sampled_from(KINDS if faulty else ("valid",)))
        size = draw(st.floats(1.0, 12.0))
        x = WEST + 40 * ((base + n) % 12) + draw(st.floats(0, 2))
        y = SOUTH + draw(st.floats(0, 12))
        if kind == "overlap_upload" and parcels:
            ring = list(parcels[-1].geometry.exterior.coords)[:-1]
            ring = [(px + size / 3, py) for px, py in ring]
        else:
            ring = _ring(kind, x, y, size)
        crs = 4528
        if kind == "swapped":
            ring = [(py, px) for px, py in ring]
        elif kind == "no_prefix":
            ring = [(px - 40_000_000, py) for px, py in ring]
        elif kind == "wrong_crs_4549":
            crs = 4549
        elif kind == "lonlat_crs":
            crs = 4490
        sequence = (base * 3 + n) % 99999 + 1
        good_codes = [f"330102998001GB{sequence:05d}", f"330102998001gb{sequence:05d}",
                      f"３３０１０２９９８００１ＧＢ{sequence:05d}"]  # district 998: no demo parcel has its codes
        code = draw(st.sampled_from(good_codes + ([taken, "330102001001GB00000", "110101001001GB00001",
                                                   "33010200100GB001", "330102998001GB00007", None] if faulty else [])))
        land_use = draw(st.sampled_from(["0701", "0501"] + (["9999", None] if faulty else [])))
        polygon = Polygon(ring)
        area = polygon.area
        declared = draw(st.sampled_from([None, area, round(area, 2)] + ([0.0, area + 5, -1.0, 0.001, 1e13]
                                                                              if faulty else [])))
        parcels.append(SurveyedParcel(geometry=polygon, crs=crs, place=f"feature {n + 1}", parcel_code=code,
                                      declared_area=declared, land_use_code=land_use))
    return parcels


def test_whenever_validation_passes_publishing_succeeds(conn: psycopg.Connection) -> None:
    taken = conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_id LIMIT 1").fetchone()[0]
    survey = SurveySettings()
    seen: dict[str, int] = {"published": 0, "refused": 0}
    codes: set[str] = set()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(parcels=uploads(taken))
    def prop(parcels: list[SurveyedParcel]) -> None:
        with conn.transaction(force_rollback=True):
            lonlat = lonlat_wkbs(parcels)
            report = assess(conn, parcels, survey, file="generated.geojson", crs=parcels[0].crs, lonlat=lonlat)
            if report.blocks_publication:
                seen["refused"] += 1
                codes.update(str(i.code) for i in report.errors)
                return
            publication = publish(conn, parcels, SourceRecord("property test"), lonlat=lonlat)
            assert len(publication.parcel_ids) == len(parcels)
            seen["published"] += 1

    prop()
    assert seen["published"] > 0 and seen["refused"] > 0, seen  # both sides of the property were exercised
    assert {"axes_swapped", "zone_prefix_missing"} & codes, codes


def _report_of(conn: psycopg.Connection, parcels: list[SurveyedParcel]) -> dict[str, Any]:
    with conn.transaction(force_rollback=True):
        return assess(conn, parcels, SurveySettings(), file="f", crs=parcels[0].crs).to_dict()


def test_each_broken_kind_is_refused_with_its_own_code(conn: psycopg.Connection) -> None:
    def one(kind: str, crs: int = 4528) -> set[str]:
        ring = _ring(kind, WEST + 200, SOUTH + 2, 8.0)
        if kind == "swapped":
            ring = [(py, px) for px, py in ring]
        if kind == "no_prefix":
            ring = [(px - 40_000_000, py) for px, py in ring]
        parcel = SurveyedParcel(Polygon(ring), crs, "feature 1", "330102001001GB09501", None, "0701")
        return {i["code"] for i in _report_of(conn, [parcel])["issues"] if i["severity"] == "error"}

    assert one("valid") == set()
    assert one("swapped") == {"axes_swapped"}
    assert one("no_prefix") == {"zone_prefix_missing"}
    assert one("valid", crs=4549) == {"zone_prefix_unexpected"}
    assert one("far_zone") == {"outside_cadastre"}
    far = _ring("far_zone", WEST, SOUTH, 8.0)
    wrong_zone = SurveyedParcel(Polygon([(x - 1_900_000, y) for x, y in far]), 4528, "feature 1",
                                "330102001001GB09502", None, "0701")
    assert {i["code"] for i in _report_of(conn, [wrong_zone])["issues"]} == {"coordinates_outside_crs"}
    assert one("tiny") == {"area_too_small"}
    assert one("outside_admin") == {"outside_admin_area"}
