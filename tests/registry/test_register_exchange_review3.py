"""Third review of `cadastre register import` (an attacker with a fresh clone): every refusal
names file, row and column, is audited as refused, changes nothing and prints no traceback."""

from __future__ import annotations

import csv
import io
import os
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from register_exchange import last_exchange_audit, register_on

from portal.cli import main
from portal.platform.clock import office_zone
from portal.registry.exchange.exporting import write_tables
from portal.registry.exchange.importing import ImportOutcome, _copy, _nth, _Placed, import_register
from portal.registry.exchange.layout import NUMERIC_COLUMNS, TABLES
from portal.registry.exchange.parcels import ParcelPublishing
from portal.registry.exchange.reading import FORMAT_CHARACTERS, UNSAFE_CHARACTERS, ReadProblem, Row, read_exchange
from portal.surveys.register_parcels import register_publisher

ZONE = office_zone()
PERSON = {"BSM": "P1", "QLRMC": "王小明", "QLRLX": "1", "ZJZL": "1", "ZJH": "110101199003074514"}


def _import(url: str, path: Path, **options: bool) -> ImportOutcome:
    with psycopg.connect(url) as conn:
        return import_register(conn, path, zone=ZONE, actor_user_id=None,
                               parcels=ParcelPublishing(register_publisher()), **options)


def _text(table: str, rows: list[dict[str, str]], header: list[str] | None = None) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    codes = header or list(TABLES[table].codes)
    writer.writerow(codes)
    writer.writerows([row.get(c, "") for c in codes] for row in rows)
    return buffer.getvalue()


def _csv(path: Path, table: str, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    path.mkdir(exist_ok=True)
    (path / f"{table}.csv").write_text(_text(table, rows, header), encoding="utf-8")
    return path


# -- 4: only regular files, never through a link, never more than the limit -----------------------

def test_links_devices_and_pipes_are_refused_by_name(tmp_path: Path) -> None:
    zero = _csv(tmp_path / "zero", "QL", [])
    (zero / "QLR.csv").symlink_to("/dev/zero")
    with pytest.raises(ReadProblem, match=r"^QLR.csv: a symbolic link"):
        read_exchange(zero)
    leak = _csv(tmp_path / "leak", "QL", [])
    (leak / "QLR.csv").symlink_to("/etc/os-release")
    with pytest.raises(ReadProblem, match=r"^QLR.csv: a symbolic link") as refused:
        read_exchange(leak)
    assert "NAME=" not in str(refused.value)
    fifo = _csv(tmp_path / "fifo", "QL", [])
    os.mkfifo(fifo / "QLR.csv")
    with pytest.raises(ReadProblem, match=r"^QLR.csv: not a regular file"):
        read_exchange(fifo)  # refused at once, never waiting for a writer
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "QLR.csv").mkdir()
    with pytest.raises(ReadProblem, match=r"^QLR.csv: not a regular file"):
        read_exchange(folder)
    (tmp_path / "linked").symlink_to(_csv(tmp_path / "real", "QLR", [PERSON]))
    with pytest.raises(ReadProblem, match=r"^linked: a symbolic link"):
        read_exchange(tmp_path / "linked")
    for name in ("book.xlsx", "package.gpkg"):
        (tmp_path / name).symlink_to("/dev/zero")
        with pytest.raises(ReadProblem, match=rf"^{name}: a symbolic link"):
            read_exchange(tmp_path / name)
    os.mkfifo(tmp_path / "pipe.xlsx")
    with pytest.raises(ReadProblem, match=r"^pipe.xlsx: not a regular file"):
        read_exchange(tmp_path / "pipe.xlsx")


def test_a_link_is_refused_and_audited_from_the_command_line(module_database: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    leak = _csv(tmp_path / "leak", "QL", [])
    (leak / "QLR.csv").symlink_to("/etc/os-release")
    monkeypatch.setenv("DATABASE_URL", module_database)
    done = CliRunner().invoke(main, ["register", "import", str(leak), "--as", "registrar"])
    assert done.exit_code == 1 and "QLR.csv: a symbolic link" in done.output, done.output
    assert "Traceback" not in done.output and "NAME=" not in done.output
    with psycopg.connect(module_database) as conn:
        outcome, detail = conn.execute("SELECT outcome, detail::text FROM audit_log WHERE action = 'register_import' "
                                       "ORDER BY seq DESC LIMIT 1").fetchone() or ("", "")
    assert outcome == "refused" and "NAME=" not in detail


# -- 5, 7: the header --------------------------------------------------------------------------------

def test_a_column_named_twice_is_refused_naming_both(tmp_path: Path) -> None:
    header = ["BSM", "QLRMC", "QLRLX", "ZJZL", "ZJH", " qlrmc "]
    _csv(tmp_path, "QLR", [], header)
    tmp_path.joinpath("QLR.csv").write_text(_text("QLR", [], header) + "P1,王小明,1,1,110101199003074514,李四\r\n",
                                            encoding="utf-8")
    with pytest.raises(ReadProblem, match=r"^QLR.csv: row 1: the column QLRMC appears twice \(columns 2 and 6\)"):
        read_exchange(tmp_path)


def test_header_and_file_names_are_shown_escaped(tmp_path: Path) -> None:
    _csv(tmp_path, "QLR", [], ["BSM", "QLRMC", "QLRLX", "ZJZL", "ZJH", "\x1b]0;pwned\x07X"])
    with pytest.raises(ReadProblem) as refused:
        read_exchange(tmp_path)
    assert "\x1b" not in str(refused.value) and "\\x1b]0;PWNED\\x07X" in str(refused.value)
    tmp_path.joinpath("QLR.csv").write_bytes(b"\xef\xbb\xbf\xef\xbb\xbfBSM,QLRMC,QLRLX,ZJZL,ZJH\r\n")
    with pytest.raises(ReadProblem, match=r"unknown column '\\ufeffBSM' \(it begins with a byte order mark"):
        read_exchange(tmp_path)
    odd = tmp_path / "odd"
    odd.mkdir()
    odd.joinpath("QLR\x1b[2J.csv").write_text("BSM\r\n", encoding="utf-8")
    with pytest.raises(ReadProblem) as refused:
        read_exchange(odd)
    assert "\x1b" not in str(refused.value) and "unprintable" in str(refused.value)


def test_a_row_with_more_cells_than_the_header_is_refused(tmp_path: Path) -> None:
    text = _text("QLR", [PERSON])
    tmp_path.joinpath("QLR.csv").write_text(text + "P2,李四,1,1,11010119900307451X,extra\r\n", encoding="utf-8")
    with pytest.raises(ReadProblem, match=r"^QLR.csv: row 3: 6 cells, but the header \(row 1\) names 5"):
        read_exchange(tmp_path).rows("QLR")
    tmp_path.joinpath("QLR.csv").write_text(text.replace("\r\n", ",,\r\n"), encoding="utf-8")
    assert len(read_exchange(tmp_path).rows("QLR")) == 1  # blank cells beyond the header lose nothing
    tmp_path.joinpath("QLR.csv").write_text("BSM,QLRMC,,QLRLX,ZJZL,ZJH\r\nP1,王小明,hidden,1,1,110101199003074514\r\n",
                                            encoding="utf-8")
    with pytest.raises(ReadProblem, match=r"^QLR.csv: row 2, column 3: a value under a column without a name"):
        read_exchange(tmp_path).rows("QLR")


# -- 6: one encoding per file; no private-use, format or noncharacters ---------------------------------

def test_a_utf8_file_with_a_gbk_line_is_refused_at_that_line(tmp_path: Path) -> None:
    rows = [dict(PERSON, BSM=f"P{i}", QLRMC="王小明") for i in range(5)]
    data = _text("QLR", rows).encode("utf-8")
    data += "P9,张三丰,1,1,110101199003074514\r\n".encode("gbk")
    tmp_path.joinpath("QLR.csv").write_bytes(data)
    with pytest.raises(ReadProblem, match=r"^QLR.csv: row 7, column QLRMC: not UTF-8 text .* mixes encodings"):
        read_exchange(tmp_path)
    tmp_path.joinpath("QLR.csv").write_bytes(_text("QLR", rows).encode("gbk"))
    assert read_exchange(tmp_path).encodings == {"QLR.csv": "GBK"}


@pytest.mark.parametrize("character", ["\ue000", "\U000f0001", "\ufdd0", "\uffff", "\u200b", "\u200d", "\u00ad",
                                       "\ufeff", "\U000e0041"])
def test_private_use_format_and_noncharacters_are_refused_in_a_cell(module_database: str, tmp_path: Path,
                                                                   character: str) -> None:
    _csv(tmp_path, "QLR", [dict(PERSON, QLRMC=f"王{character}小明")])
    outcome = _import(module_database, tmp_path, dry_run=True)
    assert [(p.file, p.row, p.column) for p in outcome.problems] == [("QLR.csv", 2, "QLRMC")], outcome.problems
    assert f"U+{ord(character):04X}" in str(outcome.problems[0])


def test_the_format_characters_are_those_of_unicode() -> None:
    expected = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    listed = [c for c in range(sys.maxunicode + 1) if UNSAFE_CHARACTERS.match(chr(c))
              and unicodedata.category(chr(c)) == "Cf"]
    assert listed == expected, FORMAT_CHARACTERS
    assert not UNSAFE_CHARACTERS.search("王小明\U000e0100\ufe00")  # ideographic variation selectors stay


# -- 1: times and dates within a documented range; an export never tracebacks ---------------------------

def _register(url: str, seed: int, building: int, units: int = 3) -> dict[str, list[dict[str, str]]]:
    return register_on(url, seed=seed, building=building, units=units)


def _audit(url: str) -> tuple[str, str]:
    return last_exchange_audit(url, ("register_import", "register_export"))


def test_times_before_1900_or_in_the_future_are_refused_by_row_and_column(module_database: str,
                                                                          tmp_path: Path) -> None:
    tables = _register(module_database, 31, 7100)
    tables["BDCDY"][0]["DJSJ"] = "0001-01-01 00:00:00"  # what .NET writes for "no date"
    tables["QL"][0]["DJSJ"] = "0001-01-01T00:00:00+00:00"
    tables["QL"][1]["DJSJ"] = "2999-01-01 10:00:00"
    tables["SJ"] = [{"BSM": "S1", "SJLX": "合同", "WJBH": "HT-1", "WJRQ": "9999-12-31"}]
    write_tables(tables, tmp_path / "x")
    outcome = _import(module_database, tmp_path / "x")
    places = {(p.file, p.row, p.column) for p in outcome.problems}
    assert {("BDCDY.csv", 2, "DJSJ"), ("QL.csv", 2, "DJSJ"), ("QL.csv", 3, "DJSJ"), ("SJ.csv", 2, "WJRQ")} <= places
    assert not outcome.committed and _audit(module_database)[0] == "refused"
    assert "before 1900" in " ".join(map(str, outcome.problems))


def test_an_export_of_a_time_python_cannot_hold_fails_audited_without_traceback(
        writable_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(writable_database) as conn:  # as an import before the range check could store it
        conn.execute("INSERT INTO units (unit_id, unit_number, parcel_id, location, begin_lifespan) "
                     "SELECT nextval('unit_id_seq'), parcel_code || 'F99990001', parcel_id, 'x', "
                     "'0001-01-01 00:00:00+08:05:43' FROM current_parcels ORDER BY parcel_code LIMIT 1")
    monkeypatch.setenv("DATABASE_URL", writable_database)
    done = CliRunner().invoke(main, ["register", "export", str(tmp_path / "out"), "--as", "registrar"])
    assert done.exit_code == 1 and "the register holds a value the export cannot read" in done.output, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert _audit(writable_database)[0] == "failure" and not (tmp_path / "out").exists()


# -- 2: numbers within their database column ----------------------------------------------------------------

def test_the_numeric_bounds_are_those_of_the_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        for code, (table, column, precision, scale) in NUMERIC_COLUMNS.items():
            found = conn.execute("SELECT numeric_precision, numeric_scale FROM information_schema.columns "
                                 "WHERE table_name = %s AND column_name = %s", (table, column)).fetchone()
            assert found == (precision, scale), code


def test_an_amount_beyond_its_column_is_refused_by_row_and_column(module_database: str, tmp_path: Path) -> None:
    tables = _register(module_database, 34, 7400)
    tables["BDCDY"][1]["JZMJ"] = "99999999999.99"
    write_tables(tables, tmp_path / "x")
    outcome = _import(module_database, tmp_path / "x")
    assert [(p.file, p.row, p.column) for p in outcome.problems] == [("BDCDY.csv", 3, "JZMJ")], outcome.problems
    assert _audit(module_database)[0] == "refused"


def test_a_row_the_database_refuses_in_copy_is_placed(module_database: str) -> None:
    rec = {"_row": Row("BDCDY.csv", 7, {}), "unit_number": "110101001001GB00001F00010001"}
    with psycopg.connect(module_database) as conn:
        parcel = conn.execute("SELECT parcel_id FROM current_parcels LIMIT 1").fetchone()
        with pytest.raises(_Placed) as placed:
            _copy(conn, "units", ("unit_id", "unit_number", "parcel_id", "location", "floor_area"),
                  [(-1, rec["unit_number"], parcel[0] if parcel else 0, "x", Decimal("1e11"))], _nth([rec]))
        conn.rollback()
    problem = placed.value.problem
    assert (problem.file, problem.row, problem.column, problem.unit) == ("BDCDY.csv", 7, "JZMJ", rec["unit_number"])


# -- 3: what only the database found before ------------------------------------------------------------------

def test_a_long_identifier_is_refused_by_row_and_column(module_database: str, tmp_path: Path) -> None:
    tables = _register(module_database, 35, 7500)
    tables["QLR"][0]["BSM"] = "P" * 201
    write_tables(tables, tmp_path / "x")
    outcome = _import(module_database, tmp_path / "x")
    assert ("QLR.csv", 2, "BSM") in {(p.file, p.row, p.column) for p in outcome.problems}
    assert "201 characters" in str(outcome.problems[0])


def test_rules_involving_the_register_are_placed_with_the_unit_number(module_database: str,
                                                                      tmp_path: Path) -> None:
    tables = _register(module_database, 36, 7600, units=2)
    unit = tables["BDCDY"][0]["BDCDYH"]
    tables["CFDJ"] = [{"BSM": "S36-x", "BDCDYH": unit, "CFJG": "北京市东城区人民法院", "CFWH": "(2025)京0101执1号",
                       "CFQSSJ": "2025-06-01", "LHSX": "1", "DJSJ": "2025-06-01 10:00:00", "ZT": "查封"}]
    write_tables(tables, tmp_path / "first")
    assert _import(module_database, tmp_path / "first").committed
    owner = next(r["QLRBSM"] for r in tables["QLRGX"])
    bank = next(r["BSM"] for r in tables["QLR"] if r["BSM"].startswith("B"))
    later = {
        "QL": [{"BSM": "R36-new", "BDCDYH": unit, "QLLX": "4", "GYFS": "0", "DJSJ": "2025-07-01 10:00:00"}],
        "QLRGX": [{"BSM": "R36-new/0", "QLBSM": "R36-new", "QLRBSM": owner}],
        "DYAQ": [{"BSM": "M36-new", "BDCDYH": unit, "DYQRBSM": bank, "DYFS": "1", "BDBZZQSE": "100000.00",
                  "DYSW": "7", "ZWLXQSSJ": "2025-07-01", "DJSJ": "2025-07-01 11:00:00", "ZT": "现势"}],
    }
    write_tables(later, tmp_path / "later")
    outcome = _import(module_database, tmp_path / "later")
    found = {(p.file, p.row, p.column): str(p) for p in outcome.problems}
    assert set(found) == {("QL.csv", 2, "DJSJ"), ("DYAQ.csv", 2, "DJSJ")}, outcome.problems
    assert all(unit in message for message in found.values()) and "one ownership at a time" in found[("QL.csv", 2,
                                                                                                     "DJSJ")]
    assert _audit(module_database)[0] == "refused"


def test_an_xlsx_value_beyond_the_header_is_refused(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "QLR"
    sheet.append(list(TABLES["QLR"].codes))
    sheet.append([PERSON[c] for c in TABLES["QLR"].codes])
    sheet.append([*(PERSON[c] for c in TABLES["QLR"].codes), None, "hidden"])
    book.save(tmp_path / "x.xlsx")
    with pytest.raises(ReadProblem, match=r"^x.xlsx: sheet 'QLR': row 3, column 7: a value beyond the header"):
        read_exchange(tmp_path / "x.xlsx")
