"""Hostile and odd exchanges (second review, M3-M8, L1-L4): every one is refused with a message
naming file, sheet or row and column, never a traceback or a huge allocation; every attempt,
failed reads included, is one audited action; an export never writes through a symbolic link
nor changes an existing folder's mode."""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
from pathlib import Path

import psycopg
import pytest
import shapely
from click.testing import CliRunner
from register_exchange import generate_register

from portal.cli import main
from portal.platform.clock import office_zone
from portal.registry.exchange.exporting import ExportProblem, write_tables
from portal.registry.exchange.importing import ImportOutcome, import_register
from portal.registry.exchange.layout import CELL_MAX_CHARS, CSV_MAX_BYTES, PARCEL_MAX_VERTICES, TABLE_MAX_ROWS, TABLES
from portal.registry.exchange.parcels import ParcelPublishing
from portal.registry.exchange.reading import ReadProblem, TableLimits, read_exchange
from portal.surveys.register_parcels import register_publisher

ZONE = office_zone()


def _import(url: str, path: Path, **options: bool) -> ImportOutcome:
    with psycopg.connect(url) as conn:
        return import_register(conn, path, zone=ZONE, actor_user_id=None,
                               parcels=ParcelPublishing(register_publisher()), **options)


def _last_import_audit(url: str) -> tuple[str, str | None, dict[str, object]]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT outcome, reference, detail::jsonb FROM audit_log WHERE action = 'register_import' "
                           "ORDER BY seq DESC LIMIT 1").fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def _csv(path: Path, table: str, rows: list[dict[str, str]]) -> None:
    path.mkdir(exist_ok=True)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TABLES[table].codes)
    writer.writerows([row.get(c, "") for c in TABLES[table].codes] for row in rows)
    (path / f"{table}.csv").write_text(buffer.getvalue(), encoding="utf-8")


def _parcel(wkt: str) -> dict[str, str]:
    return {"BSM": "P1", "ZDDM": "330102001001GB99999", "YT": "07", "WKT": wkt, "EPSG": "4490"}


# -- M3: XLSX sheets are bounded -------------------------------------------------------------

def _sparse_xlsx(path: Path, far_cell: str, dimension: str) -> None:
    """A workbook of one sheet QLR: the header and one cell far away, as a few hundred bytes."""
    header = "".join(f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{code}</t></is></c>'
                     for i, code in enumerate(TABLES["QLR"].codes))
    row = int("".join(ch for ch in far_cell if ch.isdigit()))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main">{dimension}<sheetData><row r="1">{header}</row>'
             f'<row r="{row}"><c r="{far_cell}" t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>')
    ns = "http://schemas.openxmlformats.org"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="'
                      f'{ns}/package/2006/content-types"><Default Extension="rels" ContentType="application/'
                      'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
                      '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
                      'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
                      'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                      'spreadsheetml.worksheet+xml"/></Types>')
        book.writestr("_rels/.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/'
                      f'2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/'
                      'officeDocument" Target="xl/workbook.xml"/></Relationships>')
        book.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}/'
                      f'spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet '
                      'name="QLR" sheetId="1" r:id="rId1"/></sheets></workbook>')
        book.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships '
                      f'xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/'
                      '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        book.writestr("xl/worksheets/sheet1.xml", sheet)


def test_a_sparse_xlsx_sheet_is_refused_from_its_dimensions_and_while_read(tmp_path: Path) -> None:
    declared = tmp_path / "declared.xlsx"
    _sparse_xlsx(declared, "XFD1048576", '<dimension ref="A1:XFD1048576"/>')
    with pytest.raises(ReadProblem, match=r"declared.xlsx: sheet 'QLR': declares 1,048,576 rows and 16,384 columns"):
        read_exchange(declared)
    hidden = tmp_path / "hidden.xlsx"  # no dimension: the limits hold while the rows are read
    _sparse_xlsx(hidden, "B1048576", "")
    with pytest.raises(ReadProblem, match=r"hidden.xlsx: sheet 'QLR': more than 1,000,000 rows"):
        read_exchange(hidden)


def test_a_formula_cell_is_named_as_a_formula(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "QLR"
    sheet.append(list(TABLES["QLR"].codes))
    sheet.append(["Q1", "=CONCAT(\"王\",\"伟\")", "1", "1", "110101199003070011"])
    book.save(tmp_path / "formula.xlsx")
    with pytest.raises(ReadProblem, match=r"formula.xlsx: sheet 'QLR': row 2, column QLRMC: a formula"):
        read_exchange(tmp_path / "formula.xlsx")


# -- M4, M5, L3: parcel geometry is checked before GEOS works on it ---------------------------

@pytest.mark.parametrize(("wkt", "message"), [
    ("POLYGON((inf 1,1 1,2 2,inf 1))", "vertex 1: the x coordinate inf is not a coordinate"),
    ("POLYGON((1e309 1,1 1,2 2,1e309 1))", "the x coordinate inf is not a coordinate"),
    ("POLYGON((1e300 1,1 1,2 2,1e300 1))", "the x coordinate 1e+300 is not a coordinate"),
    ("POLYGON((1 nan,1 1,2 2,1 nan))", "is not well-known text (WKT) geometry"),
    ("POLYGON Z((1 1 0,2 1 0,2 2 inf,1 1 0))", "vertex 3: the z coordinate inf is not a coordinate"),
    ("POLYGON EMPTY", "is an empty POLYGON"),
    ("POINT(1 2)", "is a POINT, not a POLYGON or MULTIPOLYGON"),
])
def test_a_boundary_that_is_no_place_is_refused_by_row_and_column(module_database: str, tmp_path: Path, wkt: str,
                                                                    message: str) -> None:
    _csv(tmp_path, "ZDJBXX", [_parcel(wkt)])
    outcome = _import(module_database, tmp_path, dry_run=True)
    assert [(p.file, p.row, p.column) for p in outcome.problems] == [("ZDJBXX.csv", 2, "WKT")]
    assert message in outcome.problems[0].message and len(outcome.problems[0].message) < 200


def test_a_boundary_of_too_many_vertices_is_refused_before_it_is_parsed(module_database: str, tmp_path: Path) -> None:
    n = PARCEL_MAX_VERTICES + 1
    ring = ",".join(f"{120 + i * 1e-9:.9f} 30" for i in range(n)) + ",120 30.001,120 30"
    _csv(tmp_path, "ZDJBXX", [_parcel(f"POLYGON(({ring}))")])
    outcome = _import(module_database, tmp_path, dry_run=True)
    assert [(p.row, p.column) for p in outcome.problems] == [(2, "WKT")]
    assert f"more than {PARCEL_MAX_VERTICES:,} vertices" in outcome.problems[0].message


def test_a_geopackage_feature_too_big_is_refused_before_the_reader_runs(tmp_path: Path) -> None:
    import numpy as np
    from pyogrio.raw import write

    n = PARCEL_MAX_VERTICES + 100
    ring = [(120 + i * 1e-9, 30.0) for i in range(n)] + [(120.0, 30.001), (120.0, 30.0)]
    geometry = shapely.multipolygons([shapely.Polygon(ring)])
    path = tmp_path / "big.gpkg"
    write(path, geometry=np.asarray([shapely.to_wkb(geometry)], dtype=object),
          field_data=[np.asarray([v], dtype=object) for v in ("P1", "330102001001GB99999", "07")],
          fields=["BSM", "ZDDM", "YT"], layer="ZDJBXX", driver="GPKG", geometry_type="MultiPolygon", crs="EPSG:4490")
    with pytest.raises(ReadProblem, match=r"big.gpkg\[ZDJBXX\]: feature 1: a geometry of .* bytes"):
        read_exchange(path)


# -- M8: a long boundary round-trips through CSV; beyond the cell limit, row and column named --

def test_a_long_boundary_reads_from_csv_and_a_longer_cell_is_named(tmp_path: Path) -> None:
    ring = ",".join(f"{120 + i * 1e-7:.12f} {30 + (i % 2) * 1e-7:.12f}" for i in range(6000)) + ",120 30"
    _csv(tmp_path / "long", "ZDJBXX", [_parcel(f"POLYGON(({ring}))")])
    assert len(read_exchange(tmp_path / "long").rows("ZDJBXX")[0].get("WKT") or "") > 131_072
    _csv(tmp_path / "longer", "ZDJBXX", [_parcel("POLYGON((" + "1" * (CELL_MAX_CHARS + 1) + "))")])
    with pytest.raises(ReadProblem, match=r"ZDJBXX.csv: row 2, column WKT: more than 6,400,000 characters"):
        read_exchange(tmp_path / "longer")


# -- a CSV file or GeoPackage table is bounded before it is read whole ---------------------------

def _parties(n: int) -> list[dict[str, str]]:
    return [{"BSM": f"Q{i}", "QLRMC": "王伟", "QLRLX": "1", "ZJZL": "1", "ZJH": "110101199003070011"}
            for i in range(n)]


def test_a_csv_table_beyond_the_row_or_byte_limit_is_refused_by_file(tmp_path: Path) -> None:
    assert (TABLE_MAX_ROWS, CSV_MAX_BYTES) == (1_000_000, 1024**3)  # as docs/register-exchange.md says
    _csv(tmp_path, "QLR", _parties(10))  # the header and 10 rows
    assert len(read_exchange(tmp_path, TableLimits(rows=11)).rows("QLR")) == 10
    with pytest.raises(ReadProblem, match=r"^QLR.csv: more than 10 rows, the most a table of the exchange may hold"):
        read_exchange(tmp_path, TableLimits(rows=10))
    size = (tmp_path / "QLR.csv").stat().st_size
    assert len(read_exchange(tmp_path, TableLimits(csv_bytes=size)).rows("QLR")) == 10
    message = rf"^QLR.csv: {size:,} bytes, more than the {size - 1:,} a CSV table"
    with pytest.raises(ReadProblem, match=message) as raised:
        read_exchange(tmp_path, TableLimits(csv_bytes=size - 1))
    assert raised.value.sha256 == ""  # refused before it was read


def test_a_geopackage_table_beyond_the_row_limit_is_refused_by_table(tmp_path: Path) -> None:
    import numpy as np
    from pyogrio.raw import write

    path = tmp_path / "parties.gpkg"
    rows = _parties(5)
    write(path, geometry=None, field_data=[np.asarray([r[c] for r in rows], dtype=object) for c in rows[0]],
          fields=list(rows[0]), layer="QLR", driver="GPKG")
    assert len(read_exchange(path, TableLimits(rows=6)).rows("QLR")) == 5
    with pytest.raises(ReadProblem, match=r"^parties.gpkg\[QLR\]: 5 rows, more than the 4 a table of the exchange"):
        read_exchange(path, TableLimits(rows=5))


def test_the_import_command_takes_the_table_limits(writable_database: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _csv(tmp_path, "QLR", _parties(3))
    monkeypatch.setenv("DATABASE_URL", writable_database)
    done = CliRunner().invoke(main, ["register", "import", str(tmp_path), "--as", "registrar", "--dry-run",
                                     "--max-table-rows", "3"])
    assert done.exit_code == 1 and "QLR.csv: more than 3 rows" in done.output, done.output
    assert _last_import_audit(writable_database)[0] == "refused"


# -- L2, L3 (GBK), L4 ---------------------------------------------------------------------------

def test_two_files_for_one_table_are_named_both(tmp_path: Path) -> None:
    _csv(tmp_path, "QLR", [])
    (tmp_path / "qlr.csv").write_text((tmp_path / "QLR.csv").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ReadProblem, match=r"QLR.csv and qlr.csv: two files for the table QLR"):
        read_exchange(tmp_path)


def test_text_neither_utf8_nor_gbk_is_placed_by_row_and_column(tmp_path: Path) -> None:
    tmp_path.joinpath("QLR.csv").write_bytes(b"BSM,QLRMC,QLRLX,ZJZL,ZJH\r\nQ1," + b"\xff\xff" + b",1,1,x\r\n")
    with pytest.raises(ReadProblem, match=r"QLR.csv: row 2, column QLRMC: neither UTF-8 nor GBK"):
        read_exchange(tmp_path)
    tmp_path.joinpath("QLR.csv").write_bytes(b"BSM,QLRMC,QLRLX,ZJZL,ZJH\r\nQ1,a,1,1,x\r\n\xff\xff,b,1,1,x\r\n")
    with pytest.raises(ReadProblem, match=r"QLR.csv: row 3, column BSM: neither UTF-8 nor GBK"):
        read_exchange(tmp_path)


def test_a_plain_sqlite_file_named_gpkg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE QLR (BSM text, QLRMC text, QLRLX text, ZJZL text, ZJH text)")
    with pytest.raises(ReadProblem, match=r"plain.gpkg: an SQLite file but not a GeoPackage"):
        read_exchange(path)


# -- L1: every attempt is audited ------------------------------------------------------------------

def test_a_failed_read_is_an_audited_attempt_with_the_files_hash(module_database: str, tmp_path: Path) -> None:
    _csv(tmp_path, "QLR", [])
    (tmp_path / "QL.csv").write_text("BSM,XYZ\n", encoding="utf-8")
    with pytest.raises(ReadProblem) as refused:
        _import(module_database, tmp_path)
    outcome, reference, detail = _last_import_audit(module_database)
    assert outcome == "refused" and reference == refused.value.sha256 and len(reference or "") == 64
    assert "unknown column XYZ" in str(detail["problem"])


def test_the_command_line_prints_holder_counts(writable_database: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """On a cadastre of its own: another test of the module imports generated parties whose
    documents this register would find under other names (random order met it)."""
    with psycopg.connect(writable_database) as conn:
        codes = [c for (c,) in conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_code")]
    write_tables(generate_register(codes, units=20, seed=7), tmp_path / "small")
    monkeypatch.setenv("DATABASE_URL", writable_database)
    done = CliRunner().invoke(main, ["register", "import", str(tmp_path / "small"), "--as", "registrar",
                                     "--dry-run"])
    assert done.exit_code == 0, done.output
    assert "QLRGX " in done.output and "new" in done.output


# -- M7: never through a link, never chmod an existing folder ------------------------------------

def test_an_export_never_writes_through_a_link_nor_changes_a_folders_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    target = tmp_path / "victim.txt"
    target.write_text("keep me", encoding="utf-8")
    (shared / "QLR.csv").symlink_to(target)
    with pytest.raises(ExportProblem, match="QLR.csv is a symbolic link"):
        write_tables({}, shared)
    assert target.read_text(encoding="utf-8") == "keep me" and [p.name for p in shared.iterdir()] == ["QLR.csv"]
    (shared / "QLR.csv").unlink()
    (shared / "QL.csv").write_text("an older export", encoding="utf-8")
    (shared / "QL.csv").chmod(0o644)
    write_tables({}, shared)  # an existing folder: files replaced, private, the folder's mode as it was
    assert {p.stat().st_mode & 0o777 for p in shared.iterdir()} == {0o600}
    assert shared.stat().st_mode & 0o777 == 0o775
    assert not [p for p in shared.iterdir() if p.name.startswith(".")], "no scratch file left"
    link = tmp_path / "link.xlsx"
    link.symlink_to(target)
    with pytest.raises(ExportProblem, match="link.xlsx is a symbolic link"):
        write_tables({}, link)
    folder_link = tmp_path / "folder-link"
    folder_link.symlink_to(shared)
    with pytest.raises(ExportProblem, match="folder-link is a symbolic link"):
        write_tables({}, folder_link)
    assert target.read_text(encoding="utf-8") == "keep me"
    # A name holding an escape sequence is shown escaped: it never reaches the terminal as it is.
    odd = tmp_path / "e\x1b]0;PWNED\x07"
    odd.write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(ExportProblem) as refused:
        write_tables({}, odd)
    assert "\x1b" not in str(refused.value) and "\\x1b" in str(refused.value)


# -- M6, L5: an export imported again changes nothing; a row keeps its own YWH, DBR, SJBSM ------------

def test_an_export_imported_again_changes_nothing_and_rows_keep_their_own_ywh_and_dbr(
        module_database: str, tmp_path: Path) -> None:
    from portal.registry.exchange.exporting import export_tables

    with psycopg.connect(module_database) as conn:
        codes = [c for (c,) in conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_code")]
    tables = generate_register(codes, units=12, seed=11, building=9400)
    tables["SJ"] = [{"BSM": "S1", "SJLX": "合同", "WJBH": "W-1", "WJRQ": "2020-01-02", "FZJG": "某公证处"}]
    right, mortgage = tables["QL"][0], tables["DYAQ"][0]
    right["SJBSM"] = "S1"
    assert right["YWH"] and right["DBR"] and not mortgage.get("SJBSM")
    write_tables(tables, tmp_path / "old")
    first = _import(module_database, tmp_path / "old")
    assert first.committed, [str(p) for p in first.problems[:3]]
    with psycopg.connect(module_database) as conn:
        exported = export_tables(conn, ZONE, unmasked=True)

    def ours(row: dict[str, str]) -> bool:  # the rows this test imported (the demo's are cadastre-N)
        return not any((row.get(c) or "").startswith("cadastre-") for c in ("BSM", "QLBSM", "QLRBSM"))

    again = {table: [row for row in rows if ours(row)] for table, rows in exported.items()}
    written = {row["BSM"]: row for row in again["QL"]}[right["BSM"]]
    assert (written["YWH"], written["DBR"], written["SJBSM"]) == (right["YWH"], right["DBR"], "S1")
    mortgage_written = {row["BSM"]: row for row in again["DYAQ"]}[mortgage["BSM"]]
    assert (mortgage_written["YWH"], mortgage_written["SJBSM"]) == (mortgage["YWH"], "")
    assert [row["BSM"] for row in again["SJ"]] == ["S1"], "no SJ row for a document the import made"
    write_tables(again, tmp_path / "again")
    second = _import(module_database, tmp_path / "again")
    assert not second.problems and not second.changed_anything, second.counts


def test_an_installations_own_export_says_what_to_do(module_database: str, tmp_path: Path) -> None:
    from portal.registry.exchange.exporting import export_tables

    with psycopg.connect(module_database) as conn:
        exported = export_tables(conn, ZONE, unmasked=True)
    write_tables(exported, tmp_path / "own")
    outcome = _import(module_database, tmp_path / "own", dry_run=True)
    unit = next(p for p in outcome.problems if p.column == "BDCDYH")
    assert "does not import into the one that wrote it" in unit.message
