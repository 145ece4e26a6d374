"""Parcels with their geometry (ZDJBXX) and source documents (SJ) in the register exchange
(docs/register-exchange.md): a new parcel passes the rules of a survey publication and carries
its units; a parcel already in the cadastre with the same boundary is left as it is, another
boundary is refused; a GeoPackage feature layer is read by the hardened reader; rights and
restrictions cite source documents of their own table, which never change once recorded."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely
import shapely.affinity
from pyogrio.raw import write
from register_exchange import generate_register

from portal.platform.clock import office_zone
from portal.registry.exchange.exporting import ExportProblem, checksums, export_tables, write_tables
from portal.registry.exchange.importing import ImportOutcome, import_register
from portal.registry.exchange.layout import TABLES
from portal.registry.exchange.parcels import ParcelPublishing
from portal.registry.exchange.reading import read_exchange
from portal.surveys.register_parcels import register_publisher

ZONE = office_zone()
Tables = dict[str, list[dict[str, str]]]


def _import(url: str, path: Path, **options: bool) -> ImportOutcome:
    with psycopg.connect(url) as conn:
        return import_register(conn, path, zone=ZONE, actor_user_id=None,
                               parcels=ParcelPublishing(register_publisher()), **options)


def _free_land(url: str, n: int) -> list[tuple[str, str, int, str]]:
    """`n` squares of free land (about 20 m, CGCS2000 longitude/latitude) inside the
    administrative area of the demo's first parcel, each with a code no parcel ever had: (code,
    WKT, EPSG, land use)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("""
            WITH first AS (SELECT parcel_code, admin_area_code, land_use_code FROM current_parcels
                            ORDER BY parcel_id LIMIT 1),
                 free AS (SELECT ST_MaximumInscribedCircle(ST_Difference(a.boundary, (
                              SELECT ST_Union(p.geom) FROM current_parcels p
                               WHERE p.admin_area_code = a.code))) AS c
                            FROM admin_areas a JOIN first f ON f.admin_area_code = a.code)
            SELECT f.parcel_code, f.land_use_code, ST_X((c).center), ST_Y((c).center), (c).radius
              FROM first f, free""").fetchone()
        assert row is not None
        code, land_use, x, y, radius = row
        taken = {c for (c,) in conn.execute("SELECT DISTINCT parcel_code FROM parcels WHERE parcel_code LIKE %s",
                                            (code[:14] + "%",))}
    half = min(radius / (2 * n + 1), 0.0001)
    assert half > 0.00001, "the demo's administrative area has room for a new parcel"
    free = []
    for k in range(n):
        x0 = x - radius / 2 + k * 3 * half
        square = f"POLYGON (({x0} {y}, {x0 + 2 * half} {y}, {x0 + 2 * half} {y + 2 * half}, {x0} {y + 2 * half}, " \
                 f"{x0} {y}))"
        fresh = next(f"{code[:14]}{s:05d}" for s in range(90001, 99999) if f"{code[:14]}{s:05d}" not in taken)
        taken.add(fresh)
        free.append((fresh, square, 4490, land_use))
    return free


def _zdjbxx(bsm: str, code: str, wkt: str, srid: int, land_use: str) -> dict[str, str]:
    values = {"BSM": bsm, "ZDDM": code, "YT": land_use, "ZDMJ": "", "WKT": wkt, "EPSG": str(srid)}
    return {c: values.get(c, "") for c in TABLES["ZDJBXX"].codes}


def _state(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM parcels), (SELECT count(*) FROM units), "
                           "(SELECT count(*) FROM sources), (SELECT count(*) FROM exchange_ids), "
                           "(SELECT count(*) FROM parties), (SELECT count(*) FROM rights)").fetchone()
    assert row is not None
    return tuple(row)


def test_new_parcels_pass_the_survey_rules_carry_their_units_and_boundaries_never_change(
        writable_database: str, tmp_path: Path) -> None:
    url = writable_database
    (code, wkt, srid, land_use), (code2, wkt2, srid2, land_use2) = _free_land(url, 2)
    tables: Tables = generate_register([code], units=4, seed=11)
    tables["ZDJBXX"] = [_zdjbxx("ZD-1", code, wkt, srid, land_use)]
    write_tables(tables, tmp_path / "first")
    first = _import(url, tmp_path / "first")
    assert first.committed, [str(p) for p in first.problems[:5]]
    assert first.counts["ZDJBXX"]["new"] == 1 and first.counts["BDCDY"]["new"] == 4
    with psycopg.connect(url) as conn:
        parcel = conn.execute("SELECT p.parcel_id, s.kind, p.land_use_code, ST_SRID(p.survey_geom) "
                              "FROM current_parcels p JOIN sources s USING (source_id) WHERE p.parcel_code = %s",
                              (code,)).fetchone()
        assert parcel is not None and parcel[1:] == ("survey_report", land_use, srid)
        assert conn.execute("SELECT count(*) FROM current_units WHERE parcel_id = %s", (parcel[0],)).fetchone() == (4,)
    # Again: nothing changes.
    before = _state(url)
    assert not _import(url, tmp_path / "first").changed_anything
    assert _state(url) == before

    # Another boundary for a parcel in the cadastre, a new parcel over a current one, geometry that
    # is not a polygon, a land use that is no code, an EPSG code PROJ does not know: each refused
    # by file, row and column, and nothing changes.
    with psycopg.connect(url) as conn:
        other = conn.execute("SELECT parcel_code, ST_AsText(survey_geom), ST_SRID(survey_geom) FROM current_parcels "
                             "WHERE parcel_code <> %s ORDER BY parcel_id LIMIT 1", (code,)).fetchone()
    assert other is not None
    shrunk = shapely.to_wkt(shapely.affinity.scale(shapely.from_wkt(wkt), 0.9, 0.9), rounding_precision=-1)
    bad = copy.deepcopy(tables)
    bad["ZDJBXX"] = [_zdjbxx("ZD-1", code, shrunk, srid, land_use),
                     _zdjbxx("ZD-2", code2, other[1], other[2], land_use2),
                     _zdjbxx("ZD-3", code2[:14] + "98001", "POINT (1 2)", srid, land_use),
                     _zdjbxx("ZD-4", code2[:14] + "98002", wkt2, srid2, "7"),
                     _zdjbxx("ZD-5", code2[:14] + "98003", wkt2, 999999, land_use2)]
    write_tables(bad, tmp_path / "bad")
    refused = _import(url, tmp_path / "bad")
    assert not refused.committed
    found = {(p.file, p.row, p.column) for p in refused.problems}
    assert {("ZDJBXX.csv", 2, "WKT"), ("ZDJBXX.csv", 4, "WKT"), ("ZDJBXX.csv", 5, "YT"),
            ("ZDJBXX.csv", 6, "EPSG")} <= found, [str(p) for p in refused.problems]
    assert any("another boundary" in p.message for p in refused.problems if p.row == 2)
    assert _state(url) == before
    # The overlap is found by the survey rules once the other rows are clean.
    overlap = copy.deepcopy(tables)
    overlap["ZDJBXX"].append(_zdjbxx("ZD-2", code2, other[1], other[2], land_use2))
    write_tables(overlap, tmp_path / "overlap")
    refused = _import(url, tmp_path / "overlap")
    assert not refused.committed and {(p.row, p.column) for p in refused.problems} == {(3, "WKT")}
    assert any("overlaps current parcel" in p.message for p in refused.problems) and _state(url) == before

    # A GeoPackage whose ZDJBXX is a feature layer: the geometry comes through the hardened reader.
    path = tmp_path / "second.gpkg"
    write(path, geometry=np.asarray([shapely.to_wkb(shapely.from_wkt(wkt2))], dtype=object),
          field_data=[np.asarray(v, dtype=object) for v in (["ZD-6"], [code2], [land_use2])],
          fields=["BSM", "ZDDM", "YT"], layer="ZDJBXX", driver="GPKG", geometry_type="Polygon", crs=f"EPSG:{srid2}")
    second = _import(url, path)
    assert second.committed and second.counts["ZDJBXX"]["new"] == 1, [str(p) for p in second.problems]
    assert "ZDJBXX" in {name.split("[")[-1].rstrip("]") for name in second.encodings}

    # The parcels exported as a GeoPackage feature layer (one CRS) and imported back: the same
    # boundaries, so nothing changes but the mapping of their BSMs; the export stays the same.
    with psycopg.connect(url) as conn:
        exported = export_tables(conn, ZONE, unmasked=True)
        conn.rollback()
    crs = exported["ZDJBXX"][0]["EPSG"]
    write_tables({"ZDJBXX": [r for r in exported["ZDJBXX"] if r["EPSG"] == crs]}, tmp_path / "out.gpkg")
    assert (tmp_path / "out.gpkg").stat().st_mode & 0o077 == 0
    assert read_exchange(tmp_path / "out.gpkg").feature_layers == {"ZDJBXX"}
    again = _import(url, tmp_path / "out.gpkg")
    assert again.committed and not again.changed_anything, [str(p) for p in again.problems[:5]]
    with psycopg.connect(url) as conn:
        assert checksums(export_tables(conn, ZONE, unmasked=True)) == checksums(exported)


def test_rights_and_restrictions_cite_source_documents_which_never_change(writable_database: str,
                                                                          tmp_path: Path) -> None:
    url = writable_database
    with psycopg.connect(url) as conn:
        codes = [c for (c,) in conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_code LIMIT 20")]
    tables: Tables = generate_register(codes, units=40, seed=13)
    tables["SJ"] = [{"BSM": "SJ-1", "SJLX": "合同", "WJBH": "京(2015)买卖合同第0001号", "WJRQ": "2015-03-02",
                     "FZJG": "北京市住房和城乡建设委员会", "SJMC": "商品房买卖合同"},
                    {"BSM": "SJ-2", "SJLX": "借款合同", "WJBH": "工银借字2016第77号", "WJRQ": "2016-05-09",
                     "FZJG": "中国工商银行", "SJMC": ""}]
    tables["QL"][0]["SJBSM"] = "SJ-1"
    tables["DYAQ"][0]["SJBSM"] = "SJ-2"
    write_tables(tables, tmp_path / "first")
    first = _import(url, tmp_path / "first")
    assert first.committed and first.counts["SJ"]["new"] == 2, [str(p) for p in first.problems[:5]]
    with psycopg.connect(url) as conn:
        cited = conn.execute("""
            SELECT s.kind, s.reference, s.issued_on::text, s.issuer FROM rights r
              JOIN exchange_ids e ON e.exchange_table = 'QL' AND e.object_id = r.right_id AND e.old_id = %s
              JOIN sources s ON s.source_id = r.source_id""", (tables["QL"][0]["BSM"],)).fetchone()
        assert cited == ("contract", "京(2015)买卖合同第0001号", "2015-03-02", "北京市住房和城乡建设委员会")
        exported = export_tables(conn, ZONE, unmasked=True)
        conn.rollback()
    ql = next(r for r in exported["QL"] if r["BSM"] == tables["QL"][0]["BSM"])
    assert ql["SJBSM"] == "SJ-1" and {r["BSM"] for r in exported["SJ"]} >= {"SJ-1", "SJ-2"}
    assert not _import(url, tmp_path / "first").changed_anything

    # A reference to a document that is nowhere, and a recorded document that changed: refused.
    before = _state(url)
    bad = copy.deepcopy(tables)
    bad["YYDJ"][0]["SJBSM"] = "SJ-9"
    write_tables(bad, tmp_path / "unknown")
    refused = _import(url, tmp_path / "unknown")
    assert not refused.committed
    assert [(p.file, p.row, p.column) for p in refused.problems] == [("YYDJ.csv", 2, "SJBSM")]
    changed = copy.deepcopy(tables)
    changed["SJ"][1]["WJBH"] = "工银借字2016第78号"
    write_tables(changed, tmp_path / "changed")
    refused = _import(url, tmp_path / "changed")
    assert not refused.committed and [(p.file, p.row, p.column) for p in refused.problems] == [("SJ.csv", 3, "BSM")]
    assert "never changes" in refused.problems[0].message and _state(url) == before


def test_a_refusal_by_the_database_while_later_stages_are_checked_changes_nothing(writable_database: str,
                                                                                  tmp_path: Path) -> None:
    """The writes run beside the checks: a rule only the database knows (here a constraint added
    for the test) refuses a unit while the rights are being checked; the import is refused with
    the rule's name, placed at the row and column (COPY's line, the constraint's column), nothing
    is written, and the refusal is audited."""
    url = writable_database
    with psycopg.connect(url) as conn:
        codes = [c for (c,) in conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_code LIMIT 20")]
        conn.execute("ALTER TABLE units ADD CONSTRAINT only_in_this_test CHECK (location <> '拒收之地')")
        conn.commit()
    tables: Tables = generate_register(codes, units=60, seed=17)
    tables["BDCDY"][5]["ZL"] = "拒收之地"
    write_tables(tables, tmp_path / "refused")
    before = _state(url)
    outcome = _import(url, tmp_path / "refused")
    assert [(p.file, p.row, p.column, p.unit) for p in outcome.problems] == [
        ("BDCDY.csv", 7, "ZL", tables["BDCDY"][5]["BDCDYH"])], outcome.problems
    assert "only_in_this_test" in str(outcome.problems[0]) and not outcome.committed
    assert _state(url) == before
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT outcome FROM audit_log WHERE action = 'register_import' ORDER BY seq DESC "
                            "LIMIT 1").fetchone() == ("refused",)


def test_a_boundary_longer_than_an_xlsx_cell_stops_the_xlsx_export_before_anything_is_written(tmp_path: Path) -> None:
    ring = ", ".join(f"{116 + i * 1e-7:.7f} 39.9" for i in range(3000))
    row = _zdjbxx("ZD-LONG", "110101001001GB00001", f"POLYGON (({ring}, 116 40, 116 39.9))", 4490, "0701")
    with pytest.raises(ExportProblem, match="ZDJBXX ZD-LONG: column WKT holds more than 32,767 characters"):
        write_tables({"ZDJBXX": [row]}, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()
    write_tables({"ZDJBXX": [row]}, tmp_path / "out")  # CSV holds it
    assert (tmp_path / "out" / "ZDJBXX.csv").stat().st_size > 32_767
