"""`cadastre import` validates a surveyor's file against the cadastre and publishes all or nothing."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner
from survey_files import block, exchange

from portal.cli import main
from portal.surveys.importer import import_file


def parcel_block(code: str, x0: float, y0: float, size: float, use: str = "0701") -> str:
    """A square parcel (the exchange file's X is northing, Y easting with zone prefix)."""
    return block(code, x0, y0, size, use=use)


def write(tmp_path, *blocks: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "upload.txt"
    path.write_bytes(exchange(*blocks))
    return path


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM parcels), (SELECT count(*) FROM sources)").fetchone()


def test_overlap_with_current_parcel_is_refused_and_nothing_changes(database_url, tmp_path) -> None:
    with psycopg.connect(database_url) as conn:
        code, xmin, ymin = conn.execute(
            "SELECT parcel_code, ST_XMin(survey_geom), ST_YMin(survey_geom) FROM current_parcels "
            "ORDER BY parcel_id LIMIT 1").fetchone()
    before = _counts(database_url)
    path = write(tmp_path, parcel_block("330102998001GB00001", xmin + 2, ymin + 2, 5),
                 parcel_block("330102998001GB00002", 40_514_970.0, 3_345_470.0, 10))
    outcome = import_file(database_url, path)
    assert outcome.report.blocks_publication and outcome.published == 0
    overlap = [i for i in outcome.report.issues if i.code == "overlap_existing"]
    assert len(overlap) == 1 and overlap[0].parcel_index == 0
    assert code in overlap[0].message and overlap[0].details["area_m2"] == 25.0
    assert _counts(database_url) == before


def test_code_taken_and_outside_admin_area_are_refused(database_url, tmp_path) -> None:
    with psycopg.connect(database_url) as conn:
        code = conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_id LIMIT 1").fetchone()[0]
    path = write(tmp_path, parcel_block(code, 40_514_970.0, 3_345_470.0, 10),
                 parcel_block("330102998001GB00003", 40_514_000.0, 3_340_000.0, 10))
    issues = {(i.code, i.parcel_index) for i in import_file(database_url, path, dry_run=True).report.issues}
    assert ("parcel_code_taken", 0) in issues
    assert ("outside_admin_area", 1) in issues


def test_clean_file_is_published_once(writable_database, tmp_path) -> None:
    database_url = writable_database
    path = write(tmp_path, parcel_block("330102998001GB00004", 40_514_965.0, 3_345_465.0, 12))
    runner = CliRunner(env={"DATABASE_URL": database_url})
    dry = runner.invoke(main, ["import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "nothing was changed" in dry.output
    published = runner.invoke(main, ["import", str(path)])
    assert published.exit_code == 0, published.output
    assert "published 1 parcels" in published.output
    with psycopg.connect(database_url) as conn:
        area, lon, lat = conn.execute(
            "SELECT calculated_area, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM current_parcels "
            "WHERE parcel_code = '330102998001GB00004'").fetchone()
    assert float(area) == 144.0
    assert 120.1 < lon < 120.2 and 30.2 < lat < 30.3
    again = runner.invoke(main, ["import", str(path)])  # now its code is taken and it overlaps itself
    assert again.exit_code != 0 and "parcel_code_taken" in again.output


def test_unreadable_file_names_file_and_line(database_url, tmp_path) -> None:
    path = write(tmp_path, "5,0.01,330102998001GB00005,x,面,,,0701,@\nJ1,1,abc,40514970\n")
    result = CliRunner(env={"DATABASE_URL": database_url}).invoke(main, ["import", str(path)])
    assert result.exit_code != 0
    assert "upload.txt" in result.output and "line" in result.output


def test_parcel_without_code_is_not_published(database_url, tmp_path) -> None:
    block = parcel_block("330102998001GB00009", 40_514_965.0, 3_345_465.0, 12).replace(
        "330102998001GB00009,", ",")
    outcome = import_file(database_url, write(tmp_path, block))
    assert outcome.published == 0
    assert any(i.code == "parcel_code_missing" and i.severity == "error" for i in outcome.report.issues)


def test_the_report_states_the_crs_and_how_it_was_decided(database_url, tmp_path) -> None:
    path = write(tmp_path, parcel_block("330102998001GB00010", 40_514_965.0, 3_345_465.0, 12))
    runner = CliRunner(env={"DATABASE_URL": database_url})
    stated = runner.invoke(main, ["import", str(path), "--dry-run"])
    assert "coordinate reference system: EPSG:4528 (CGCS2000 / 3-degree Gauss-Kruger zone 40), stated in the file" \
        in stated.output
    given = runner.invoke(main, ["import", str(path), "--dry-run", "--crs", "EPSG:4528"])
    assert "EPSG:4528 (CGCS2000 / 3-degree Gauss-Kruger zone 40), given by the uploader" in given.output


def test_reported_swapped_shapefile_is_refused_naming_the_feature(writable_database) -> None:
    from pathlib import Path

    import pytest

    swapped = Path("/work/shared/fixtures/reported/shp-axes-swapped/swapped.zip")
    if not swapped.exists():
        pytest.skip("shared fixtures not available")
    before = _counts(writable_database)
    outcome = import_file(writable_database, swapped)  # a real import, not a dry run
    assert outcome.published == 0
    [error] = outcome.report.errors
    assert error.code == "axes_swapped" and error.place == "feature 1" and "x and y look swapped" in error.message
    assert _counts(writable_database) == before
