"""One item by id: one statement text for every id (prepared once, its generic plan kept)."""

from __future__ import annotations

import datetime as dt

import psycopg

from layers.catalog import collection, parse_crs
from layers.routes import ITEM_SESSION_SETTINGS
from layers.sql import item_statement


def test_the_statement_text_is_shared_and_the_values_are_bound() -> None:
    parcels, crs = collection("parcels"), parse_crs(None)
    first, values = item_statement(parcels, "A", crs)
    second, other = item_statement(parcels, "B", crs)
    assert first is second
    assert values == {"p0": "A"} and other == {"p0": "B"}
    gauss = parse_crs("http://www.opengis.net/def/crs/EPSG/0/4528")
    assert item_statement(parcels, "A", gauss)[0] is not first
    when = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    past, past_values = item_statement(parcels, "A", crs, when)
    assert past is not first and past_values == {"p0": "A", "p1": when}
    assert item_statement(parcels, "B", crs, when)[0] is past


def test_a_generic_plan_session_finds_the_same_feature(database_url: str) -> None:
    parcels, crs = collection("parcels"), parse_crs(None)
    with psycopg.connect(database_url, autocommit=True) as conn:
        (code,) = conn.execute("SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL "
                               "ORDER BY parcel_code LIMIT 1").fetchone() or ("",)
        expected = conn.execute(*item_statement(parcels, code, crs)).fetchone()
        conn.execute(ITEM_SESSION_SETTINGS)
        for _ in range(3):  # prepared, then run on its generic plan
            row = conn.execute(*item_statement(parcels, code, crs), prepare=True).fetchone()
            assert row == expected
        assert conn.execute(*item_statement(parcels, "no such parcel", crs), prepare=True).fetchone() is None
