"""Third review of `cadastre register import` (an attacker with a fresh clone): every refusal
names file, row and column, is audited as refused, changes nothing and prints no traceback."""

from __future__ import annotations

import csv
import io
import os
import sys
import unicodedata
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from portal.cli import main
from portal.platform.clock import office_zone
from portal.registry.exchange.importing import ImportOutcome, import_register
from portal.registry.exchange.layout import TABLES
from portal.registry.exchange.parcels import ParcelPublishing
from portal.registry.exchange.reading import FORMAT_CHARACTERS, UNSAFE_CHARACTERS, ReadProblem, read_exchange
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
