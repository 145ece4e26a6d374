"""Fourth review of `cadastre register import`, the reading side: a GeoPackage is read from the file
that was checked (never another one its name points SQLite to), an XLSX workbook's size is bounded
before openpyxl opens it and a cell openpyxl cannot read is placed, a file mixing encodings is
refused wherever its lines lie, and every name shown or audited is escaped."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import zipfile
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from portal.cli import main
from portal.registry.exchange.layout import TABLES
from portal.registry.exchange.reading import ReadProblem, read_exchange

PERSON = {"BSM": "P1", "QLRMC": "王小明", "QLRLX": "1", "ZJZL": "1", "ZJH": "110101199003074514"}
HEADER = ",".join(TABLES["QLR"].codes)


def _text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TABLES["QLR"].codes)
    writer.writerows([row.get(c, "") for c in TABLES["QLR"].codes] for row in rows)
    return buffer.getvalue()


def _last_audit(url: str) -> tuple[str, str, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT outcome, subject, detail::text FROM audit_log WHERE action = 'register_import' "
                           "ORDER BY seq DESC LIMIT 1").fetchone()
    assert row is not None
    return row[0], row[1], row[2]


# -- N4: a GeoPackage's name is never read by SQLite as a URI ---------------------------------------

def _geopackage(path: Path) -> Path:
    import numpy as np
    from pyogrio.raw import write

    write(path, geometry=None, field_data=[np.asarray([v], dtype=object) for v in PERSON.values()],
          fields=list(PERSON), layer="QLR", driver="GPKG")
    return path


@pytest.mark.parametrize("name", ["c#.gpkg", "a#b.gpkg", "q?mode=rw.gpkg", "p%41.gpkg"])
def test_a_geopackage_named_with_uri_characters_is_read_from_itself(tmp_path: Path, name: str) -> None:
    real = _geopackage(tmp_path / "real.gpkg")
    path = tmp_path / name
    path.write_bytes(real.read_bytes())
    real.unlink()
    before = sorted(p.name for p in tmp_path.iterdir())
    exchange = read_exchange(path)
    assert [row.get("QLRMC") for row in exchange.rows("QLR")] == ["王小明"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no file 'c' or 'a' created


def test_a_geopackage_name_never_opens_another_file(tmp_path: Path) -> None:
    _geopackage(tmp_path / "a.gpkg").rename(tmp_path / "a")  # what 'a#b.gpkg' would open as a URI
    (tmp_path / "a#b.gpkg").write_text("not a GeoPackage")
    with pytest.raises(ReadProblem, match=r"^a#b.gpkg: not a GeoPackage|^a#b.gpkg: the GeoPackage cannot be read"):
        read_exchange(tmp_path / "a#b.gpkg")


# -- N5, N5b: an XLSX workbook -------------------------------------------------------------------

_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
          'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
          'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
          'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
          'officedocument.spreadsheetml.worksheet+xml"/>{shared}</Types>')
_SHARED_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.spreadsheetml.sharedStrings+xml"/>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
         'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
             '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
             '<sheet name="QLR" sheetId="1" r:id="rId1"/></sheets></workbook>')
_BOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
              '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
              '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>{shared}</Relationships>')
_SHARED_REL = ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
               'sharedStrings" Target="sharedStrings.xml"/>')


def _workbook(path: Path, second_row: str, shared: bytes | None = None) -> Path:
    """A workbook of one QLR sheet: the header, then `second_row`'s cells (XML) in row 2."""
    header = "".join(f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{c}</t></is></c>'
                     for i, c in enumerate(TABLES["QLR"].codes[:5]))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
             f'2006/main"><dimension ref="A1:E2"/><sheetData><row r="1">{header}</row><row r="2">{second_row}</row>'
             '</sheetData></worksheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", _TYPES.format(shared=_SHARED_TYPE if shared is not None else ""))
        book.writestr("_rels/.rels", _RELS)
        book.writestr("xl/workbook.xml", _WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", _BOOK_RELS.format(shared=_SHARED_REL if shared else ""))
        book.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared is not None:
            book.writestr("xl/sharedStrings.xml", shared)
    return path


def test_a_well_made_workbook_of_these_parts_is_read(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "good.xlsx", '<c r="A2" t="inlineStr"><is><t>P1</t></is></c>'
                                             '<c r="B2" t="inlineStr"><is><t>王小明</t></is></c>')
    assert [row.get("QLRMC") for row in read_exchange(book).rows("QLR")] == ["王小明"]


@pytest.mark.parametrize(("cell", "column"), [
    ('<c r="B2" t="d"><v>not-a-date</v></c>', "QLRMC"),
    ('<c r="C2" t="s"><v>7</v></c>', "QLRLX"),
    ('<c r="A2" t="b"><v>x</v></c>', "BSM"),
    ('<c r="A2"><v>1.2.3</v></c>', "BSM"),
])
def test_a_cell_openpyxl_cannot_read_is_refused_by_sheet_row_and_column(tmp_path: Path, cell: str,
                                                                         column: str) -> None:
    book = _workbook(tmp_path / "bad.xlsx", cell)
    with pytest.raises(ReadProblem, match=rf"^bad.xlsx: sheet 'QLR': row 2, column {column}: a cell that cannot be "
                                          "read") as refused:
        read_exchange(book)
    assert refused.value.sha256  # the workbook was hashed: the audit trail has it


def test_a_cell_openpyxl_cannot_read_is_refused_and_audited(module_database: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    book = _workbook(tmp_path / "bad.xlsx", '<c r="A2" t="d"><v>not-a-date</v></c>')
    monkeypatch.setenv("DATABASE_URL", module_database)
    done = CliRunner().invoke(main, ["register", "import", str(book), "--as", "registrar", "--dry-run"])
    assert done.exit_code == 1 and "bad.xlsx: sheet 'QLR': row 2, column BSM" in done.output, done.output
    assert "Traceback" not in done.output
    outcome, subject, detail = _last_audit(module_database)
    assert (outcome, subject) == ("refused", "bad.xlsx") and '"sha256": null' not in detail


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    strings = b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/' \
              b'2006/main">' + b"<si><t>x</t></si>" * 1_000_000 + b"</sst>"
    book = _workbook(tmp_path / "bomb.xlsx", '<c r="A2" t="s"><v>0</v></c>', shared=strings)
    assert book.stat().st_size < 1_000_000
    with pytest.raises(ReadProblem, match=r"^bomb.xlsx: xl/sharedStrings.xml unpacks to 17,000,\d+ bytes from "
                                          r"[\d,]+ \(more than 100 times\)"):
        read_exchange(book)


def test_an_xlsx_of_too_many_parts_is_refused(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "many.xlsx", "")
    with zipfile.ZipFile(book, "a") as archive:
        for n in range(10_001):
            archive.writestr(f"x/{n}", b"")
    with pytest.raises(ReadProblem, match=r"^many.xlsx: 10,006 parts, more than the 10,000"):
        read_exchange(book)


# -- N6: mixed encodings, wherever the lines lie -------------------------------------------------

def _mixed(path: Path, lines: list[tuple[str, str]], ending: bytes = b"\r\n") -> Path:
    path.mkdir(exist_ok=True)
    data = HEADER.encode() + ending + b"".join(f"P{n},{name},1,1,x".encode(codec) + ending
                                               for n, (name, codec) in enumerate(lines, start=1))
    (path / "QLR.csv").write_bytes(data)
    return path


def test_one_utf8_line_among_gbk_lines_is_refused(tmp_path: Path) -> None:
    folder = _mixed(tmp_path / "a", [("王李", "utf-8"), ("张三", "gbk"), ("李四", "gbk")])
    with pytest.raises(ReadProblem, match=r"^QLR.csv: row 2, column QLRMC: UTF-8 text, though row 3 is not \(lines "
                                          r"beyond ASCII: 1 UTF-8, 2 not\): the file mixes encodings"):
        read_exchange(folder)


def test_many_gbk_lines_before_utf8_ones_are_refused(tmp_path: Path) -> None:
    folder = _mixed(tmp_path / "b", [("张三", "gbk")] * 64 + [("王李", "utf-8")] * 200)
    with pytest.raises(ReadProblem, match=r"^QLR.csv: row 2, column QLRMC: not UTF-8 text.* the file mixes "
                                          "encodings"):
        read_exchange(folder)


def test_lines_ending_in_cr_alone_are_counted_apart(tmp_path: Path) -> None:
    folder = _mixed(tmp_path / "c", [("王李", "utf-8"), ("张三", "gbk"), ("李四", "gbk")], ending=b"\r")
    with pytest.raises(ReadProblem, match=r"^QLR.csv: row 2, column QLRMC: UTF-8 text, though row 3 is not \(lines "
                                          r"beyond ASCII: 1 UTF-8, 2 not\)"):
        read_exchange(folder)


def test_a_gbk_file_and_a_utf8_file_are_still_read(tmp_path: Path) -> None:
    gbk = _mixed(tmp_path / "gbk", [("张三", "gbk"), ("李四", "gbk")])
    exchange = read_exchange(gbk)
    assert exchange.encodings == {"QLR.csv": "GBK"} and exchange.rows("QLR")[0].get("QLRMC") == "张三"
    utf8 = _mixed(tmp_path / "utf8", [("张三", "utf-8"), ("李四", "utf-8")])
    assert read_exchange(utf8).encodings == {"QLR.csv": "UTF-8"}


def test_line_separators_and_blank_looking_letters_are_refused_in_a_cell(tmp_path: Path) -> None:
    from portal.registry.exchange.validation import unsafe_cell

    for name in ("王\u2028李", "王\u2029李", "\u3164", "\u3164\u3164", "\uffa0", "\u115f\u1160"):
        folder = tmp_path / name.encode("unicode_escape").decode().replace("\\", "")
        folder.mkdir()
        (folder / "QLR.csv").write_text(_text([{**PERSON, "QLRMC": name}]), encoding="utf-8")
        (row,) = read_exchange(folder).rows("QLR")
        found = unsafe_cell(row)
        assert found is not None and found[0] == "QLRMC", name


# -- N7: names shown and audited ------------------------------------------------------------------

def test_a_long_cell_under_an_unsafe_header_is_named_escaped(tmp_path: Path) -> None:
    from portal.registry.exchange.reading import _csv_records

    text = "BSM,Q\x1b[31m\r\nP1," + "x" * 7_000_000 + "\r\n"
    with pytest.raises(ReadProblem) as refused:
        _csv_records("QLR.csv", text)
    assert "\x1b" not in str(refused.value) and "column 'Q\\x1b[31M'" in str(refused.value)


def test_workbook_and_geopackage_names_are_shown_escaped(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "v\x1b]0;PWNED.xlsx", '<c r="A2" t="d"><v>not-a-date</v></c>')
    with pytest.raises(ReadProblem) as refused:
        read_exchange(book)
    assert "\x1b" not in str(refused.value) and str(refused.value).startswith("'v\\x1b]0;PWNED.xlsx': sheet 'QLR'")
    package = tmp_path / "e\x1b]0;PWNED.gpkg"
    with sqlite3.connect(package) as db:
        db.execute("CREATE TABLE t (a)")
    with pytest.raises(ReadProblem) as refused:
        read_exchange(package)
    assert "\x1b" not in str(refused.value) and str(refused.value).startswith("'e\\x1b]0;PWNED.gpkg': ")


def test_an_unsafe_or_undecodable_name_is_audited_escaped(module_database: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", module_database)
    book = _workbook(tmp_path / "x\x1b[31mRED.xlsx", '<c r="A2" t="b"><v>x</v></c>')
    done = CliRunner().invoke(main, ["register", "import", str(book), "--as", "registrar", "--dry-run"])
    assert done.exit_code == 1 and "Traceback" not in done.output and "\x1b" not in done.output, done.output
    outcome, subject, _ = _last_audit(module_database)
    assert (outcome, subject) == ("refused", "'x\\x1b[31mRED.xlsx'")
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/n\xff"))
    folder.mkdir()
    (folder / "QLR.csv").write_text(_text([PERSON]).replace("王小明", "王\u202e明"), encoding="utf-8")
    (folder / "BAD.csv").write_text("", encoding="utf-8")
    done = CliRunner().invoke(main, ["register", "import", str(folder), "--as", "registrar", "--dry-run"])
    assert done.exit_code == 1 and "Traceback" not in done.output, done.output
    outcome, subject, _ = _last_audit(module_database)
    assert (outcome, subject) == ("refused", "'n\\udcff'")


def test_an_export_to_an_unsafe_name_is_audited_escaped(module_database: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", module_database)
    done = CliRunner().invoke(main, ["register", "export", str(tmp_path / "o\x1b[2Jut"), "--as", "registrar"])
    assert done.exit_code == 0, done.output
    with psycopg.connect(module_database) as conn:
        row = conn.execute("SELECT subject FROM audit_log WHERE action = 'register_export' "
                           "ORDER BY seq DESC LIMIT 1").fetchone()
    assert row == ("'o\\x1b[2Jut'",)


def test_a_geopackage_table_beyond_the_byte_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from portal.registry.exchange.reading import TableLimits

    path = _geopackage(tmp_path / "parties.gpkg")
    size = sum(len(v.encode()) for v in PERSON.values())
    assert len(read_exchange(path, TableLimits(csv_bytes=size)).rows("QLR")) == 1
    with pytest.raises(ReadProblem, match=rf"^parties.gpkg\[QLR\]: {size} bytes of cells, more than the {size - 1} a "
                                          "table of the exchange may hold"):
        read_exchange(path, TableLimits(csv_bytes=size - 1))


def test_shared_strings_too_large_to_hold_are_refused_under_the_ratio(tmp_path: Path) -> None:
    # Review 4: just under the ratio (96:1), 60 MB of shared strings cost 350 MB to open. Every
    # part openpyxl reads whole (all but the worksheets) is bounded, whatever its ratio.
    import random

    rnd = random.Random(4)
    body = b"".join(b"<si><t>" + bytes(rnd.choices(b"abcdefghij", k=60)) + b"</t></si>" for _ in range(1_000_000))
    strings = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main">' + body + b"</sst>")
    assert len(strings) > 64 << 20
    book = _workbook(tmp_path / "big.xlsx", '<c r="A2" t="s"><v>0</v></c>', shared=strings)
    with pytest.raises(ReadProblem, match=r"^big.xlsx: xl/sharedStrings.xml unpacks to [\d,]+ bytes, more than the "
                                          r"67,108,864 a workbook part read whole may hold"):
        read_exchange(book)
    # A worksheet is streamed: the bound is not on the parts declared worksheets.
    assert book.stat().st_size < 60 << 20
