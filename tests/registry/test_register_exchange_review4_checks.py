"""Fourth round on `cadastre register import`, the checking side (review 3's N1-N3 and its LOW
findings): every refusal names file, row and column (and the unit by number, never an internal
id), is audited as refused, changes nothing and never ends in a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from register_exchange import last_exchange_audit, register_on

from portal.platform.clock import office_zone
from portal.registry.exchange.exporting import write_tables
from portal.registry.exchange.importing import _COPY_LINE, ImportOutcome, import_register
from portal.registry.exchange.parcels import ParcelPublishing
from portal.surveys.register_parcels import register_publisher
from spatial.codes import parcel_code_problem, unit_number_problem

ZONE = office_zone()


def _import(url: str, path: Path, **options: bool) -> ImportOutcome:
    with psycopg.connect(url) as conn:
        return import_register(conn, path, zone=ZONE, actor_user_id=None,
                               parcels=ParcelPublishing(register_publisher()), **options)


def _register(url: str, seed: int, building: int, units: int = 3) -> dict[str, list[dict[str, str]]]:
    return register_on(url, seed=seed, building=building, units=units)


def _fingerprint(url: str) -> tuple[int, ...]:
    """The register's row counts: a refused import changes none of them."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM units), (SELECT count(*) FROM rights), "
                           "(SELECT count(*) FROM right_holders), (SELECT count(*) FROM restrictions), "
                           "(SELECT count(*) FROM parties), (SELECT count(*) FROM exchange_ids)").fetchone()
    assert row is not None
    return tuple(row)


def _last_audit(url: str) -> tuple[str, str]:
    return last_exchange_audit(url)


def _refused(url: str, path: Path, tables: dict[str, list[dict[str, str]]]) -> dict[tuple[str, int, str], str]:
    """Import `tables` written at `path`: refused, audited so, nothing changed; the problems by place."""
    write_tables(tables, path)
    before = _fingerprint(url)
    outcome = _import(url, path)
    assert not outcome.committed and outcome.problems
    assert _last_audit(url)[0] == "refused"
    assert _fingerprint(url) == before
    return {(p.file, p.row, p.column): str(p) for p in outcome.problems}


# -- N1, N2: numbers of any size are refused by row and column, never a traceback ------------------

@pytest.mark.parametrize(("table", "column", "value"), [
    ("BDCDY", "JZMJ", "1e30"), ("BDCDY", "JZMJ", "-1E+400"), ("BDCDY", "JZMJ", "9" * 60),
    ("DYAQ", "BDBZZQSE", "1E+40"), ("DYAQ", "BDBZZQSE", "1e-40"), ("DYAQ", "BDBZZQSE", "١٢٣"),
])
def test_an_amount_of_any_size_is_refused_by_row_and_column(module_database: str, tmp_path: Path, table: str,
                                                            column: str, value: str) -> None:
    tables = _register(module_database, 41, 4100)
    tables[table][0][column] = value
    found = _refused(module_database, tmp_path / "x", tables)
    assert (f"{table}.csv", 2, column) in found, found
    assert "is not a positive amount" in found[(f"{table}.csv", 2, column)]


@pytest.mark.parametrize("share", ["1" * 5000 + "/" + "2" * 5000, "1/" + "9" * 40, "5" * 400 + "%",
                                   "1." + "5" * 5000 + "%", "١/٢", "1/2x", "1/0", "0/2"])
def test_a_share_of_any_size_is_refused_by_row_and_column(module_database: str, tmp_path: Path,
                                                          share: str) -> None:
    tables = _register(module_database, 42, 4200)
    tables["QLRGX"][0]["QLBL"] = share
    row = 2
    found = _refused(module_database, tmp_path / "x", tables)
    assert ("QLRGX.csv", row, "QLBL") in found, found
    assert "is not a share" in found[("QLRGX.csv", row, "QLBL")]


# -- LOW: a date is the whole cell ---------------------------------------------------------------------

@pytest.mark.parametrize("value", ["2020-01-01 garbage", "2020-01-01x", "2020/01/01 junk", "20200101 9",
                                   "2020-01-01 25:00", "２０２０-01-01"])
def test_a_date_with_trailing_text_is_refused(module_database: str, tmp_path: Path, value: str) -> None:
    tables = _register(module_database, 43, 4300)
    tables["SJ"] = [{"BSM": "S43", "SJLX": "合同", "WJBH": "HT-43", "WJRQ": value}]
    found = _refused(module_database, tmp_path / "x", tables)
    assert ("SJ.csv", 2, "WJRQ") in found, found
    assert "is not a date" in found[("SJ.csv", 2, "WJRQ")]


@pytest.mark.parametrize("value", ["2020-01-01", "2020/01/01", "20200101", "2020-01-01 00:00:00",
                                   "2020-01-01T00:00:00+08:00"])
def test_a_date_as_a_spreadsheet_writes_it_is_still_a_date(module_database: str, tmp_path: Path, value: str) -> None:
    tables = _register(module_database, 44, 4400)
    tables["SJ"] = [{"BSM": "S44", "SJLX": "合同", "WJBH": "HT-44", "WJRQ": value}]  # an .xlsx date cell: 00:00:00
    write_tables(tables, tmp_path / "x")
    outcome = _import(module_database, tmp_path / "x", dry_run=True)
    assert not outcome.problems, outcome.problems


def test_a_time_in_other_digits_is_refused(module_database: str, tmp_path: Path) -> None:
    tables = _register(module_database, 47, 4700)
    tables["QL"][0]["DJSJ"] = "٢٠٢٠-01-01 10:00"
    found = _refused(module_database, tmp_path / "x", tables)
    assert ("QL.csv", 2, "DJSJ") in found, found


# -- LOW: codes are ASCII digits ------------------------------------------------------------------------

def test_codes_take_ascii_digits_only() -> None:
    arabic = "".join(chr(0x660 + int(d)) for d in "00010001")
    assert unit_number_problem("110101001001GB00001F" + arabic) is not None
    assert unit_number_problem("110101001001GB00001F00010001") is None
    assert parcel_code_problem("١١٠١٠١001001GB00001") is not None
    assert parcel_code_problem("110101００1001GB00001") is not None  # normalised before, never here
    assert parcel_code_problem("110101001001GB0000²") is not None


def test_a_unit_number_with_other_digits_is_refused_by_row_and_column(module_database: str, tmp_path: Path) -> None:
    tables = _register(module_database, 45, 4500)
    unit = tables["BDCDY"][0]["BDCDYH"]
    odd = unit[:20] + "".join(chr(0x660 + int(d)) for d in unit[20:])
    for table in tables.values():
        for row in table:
            if row.get("BDCDYH") == unit:
                row["BDCDYH"] = odd
    found = _refused(module_database, tmp_path / "x", tables)
    assert ("BDCDY.csv", 2, "BDCDYH") in found, found
    assert "positions 21-28 must be digits" in found[("BDCDY.csv", 2, "BDCDYH")]


# -- N3 e: the line of the COPY, not of a function in the error's context ---------------------------------

def test_the_copy_line_is_the_line_of_the_copy() -> None:
    context = "PL/pgSQL function unit_references() line 12 at RAISE\nCOPY units, line 3: \"-1\t...\""
    found = _COPY_LINE.search(context)
    assert found is not None and found[1] == "3"
    found = _COPY_LINE.search("COPY restrictions, line 7, column rank: \"x\"")
    assert found is not None and (found[1], found[2]) == ("7", "rank")
    assert _COPY_LINE.search("PL/pgSQL function unit_references() line 12 at RAISE") is None


# -- N3 a-d: rules that involve what the register holds, checked before anything is written -----------------

COURT = {"CFJG": "北京市东城区人民法院", "CFWH": "(2025)京0101执46号", "CFQSSJ": "2025-06-01"}


@pytest.fixture(scope="module")
def seized(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """A register imported once: unit 0 under a seizure in effect, unit 1 with an active mortgage
    of rank 1, unit 2 with a discharged one of rank 2."""
    tables = _register(module_database, 46, 4600)
    units = [row["BDCDYH"] for row in tables["BDCDY"]]
    bank = next(r["BSM"] for r in tables["QLR"] if r["BSM"].startswith("B"))
    tables["CFDJ"] = [{"BSM": "S46-a", "BDCDYH": units[0], **COURT, "LHSX": "1", "DJSJ": "2025-06-01 10:00:00",
                       "ZT": "查封"}]
    mortgage = {"DYQRBSM": bank, "DYFS": "1", "BDBZZQSE": "100000.00", "ZWLXQSSJ": "2024-01-01"}
    tables["DYAQ"] = [
        {"BSM": "M46-a", "BDCDYH": units[1], **mortgage, "DYSW": "1", "DJSJ": "2024-01-01 10:00:00", "ZT": "现势"},
        {"BSM": "M46-b", "BDCDYH": units[2], **mortgage, "DYSW": "2", "DJSJ": "2020-01-01 10:00:00",
         "ZXSJ": "2021-01-01 10:00:00", "ZT": "注销"},
    ]
    write_tables(tables, tmp_path_factory.mktemp("first") / "x")
    outcome = _import(module_database, tmp_path_factory.getbasetemp() / "first0" / "x")
    assert outcome.committed, outcome.problems
    return tables


def test_a_changed_ownership_of_a_seized_unit_is_refused_by_row(module_database: str, tmp_path: Path,
                                                                seized: dict[str, list[dict[str, str]]]) -> None:
    unit = seized["BDCDY"][0]["BDCDYH"]
    right = next(dict(r) for r in seized["QL"] if r["BDCDYH"] == unit and r["QLLX"] == "4" and not r["ZXSJ"])
    right["BDCQZH"] = right["BDCQZH"] + "更正"
    holders = [r for r in seized["QLRGX"] if r["QLBSM"] == right["BSM"]]
    found = _refused(module_database, tmp_path / "x", {"QL": [right], "QLRGX": holders})
    assert list(found) == [("QL.csv", 2, "BDCDYH")], found
    message = found[("QL.csv", 2, "BDCDYH")]
    assert unit in message and COURT["CFWH"] in message and "transfer" not in message
    assert not re.search(r"(restriction|unit) [0-9]+\b", message), message  # no internal id


def test_a_changed_ownership_of_a_unit_no_longer_seized_is_a_new_version(
        module_database: str, tmp_path: Path, seized: dict[str, list[dict[str, str]]]) -> None:
    unit = seized["BDCDY"][1]["BDCDYH"]  # mortgaged, never seized
    right = next(dict(r) for r in seized["QL"] if r["BDCDYH"] == unit and r["QLLX"] == "4" and not r["ZXSJ"])
    right["BDCQZH"] = right["BDCQZH"] + "更正"
    holders = [r for r in seized["QLRGX"] if r["QLBSM"] == right["BSM"]]
    write_tables({"QL": [right], "QLRGX": holders}, tmp_path / "x")
    outcome = _import(module_database, tmp_path / "x", dry_run=True)
    assert not outcome.problems and outcome.counts["QL"]["changed"] == 1, outcome


def test_a_change_to_an_ended_mortgage_is_refused_by_row(module_database: str, tmp_path: Path,
                                                         seized: dict[str, list[dict[str, str]]]) -> None:
    ended = dict(next(r for r in seized["DYAQ"] if r["BSM"] == "M46-b"), BDBZZQSE="200000.00")
    found = _refused(module_database, tmp_path / "x", {"DYAQ": [ended]})
    assert list(found) == [("DYAQ.csv", 2, "BSM")], found
    message = found[("DYAQ.csv", 2, "BSM")]
    assert "ended in the register already" in message and "rule" not in message, message


def test_a_new_mortgage_of_a_rank_taken_in_the_register_is_refused_by_row(
        module_database: str, tmp_path: Path, seized: dict[str, list[dict[str, str]]]) -> None:
    taken = next(r for r in seized["DYAQ"] if r["BSM"] == "M46-a")
    new = dict(taken, BSM="M46-new", DJSJ="2025-01-01 10:00:00", ZWLXQSSJ="2025-01-01")
    found = _refused(module_database, tmp_path / "x", {"DYAQ": [new]})
    assert list(found) == [("DYAQ.csv", 2, "DYSW")], found
    assert taken["BDCDYH"] in found[("DYAQ.csv", 2, "DYSW")]
    ended = next(r for r in seized["DYAQ"] if r["BSM"] == "M46-b")  # rank 2 ended in 2021: free after it
    write_tables({"DYAQ": [dict(ended, BSM="M46-next", DJSJ="2022-01-01 10:00:00", ZXSJ="", ZT="现势")]},
                 tmp_path / "y")
    outcome = _import(module_database, tmp_path / "y", dry_run=True)
    assert not outcome.problems, outcome.problems


def test_a_new_seizure_at_a_place_taken_in_the_register_is_refused_by_row(
        module_database: str, tmp_path: Path, seized: dict[str, list[dict[str, str]]]) -> None:
    unit = seized["BDCDY"][0]["BDCDYH"]
    new = {"BSM": "S46-new", "BDCDYH": unit, **COURT, "CFWH": "(2025)京0101执99号", "LHSX": "1",
           "DJSJ": "2025-07-01 10:00:00", "ZT": "查封"}
    found = _refused(module_database, tmp_path / "x", {"CFDJ": [new]})
    assert list(found) == [("CFDJ.csv", 2, "LHSX")], found
    assert unit in found[("CFDJ.csv", 2, "LHSX")]


def test_refusals_of_the_register_name_no_internal_id(module_database: str, tmp_path: Path,
                                                      seized: dict[str, list[dict[str, str]]]) -> None:
    taken = next(r for r in seized["DYAQ"] if r["BSM"] == "M46-a")
    ended = dict(next(r for r in seized["DYAQ"] if r["BSM"] == "M46-b"), BDBZZQSE="300000.00")
    new = {"BSM": "S46-late", "BDCDYH": seized["BDCDY"][0]["BDCDYH"], **COURT, "LHSX": "1",
           "DJSJ": "2025-08-01 10:00:00", "ZT": "查封"}
    found = _refused(module_database, tmp_path / "x", {
        "DYAQ": [dict(taken, BSM="M46-late", DJSJ="2025-02-01 10:00:00"), ended], "CFDJ": [new]})
    assert {("DYAQ.csv", 2, "DYSW"), ("CFDJ.csv", 2, "LHSX")} <= set(found), found
    for message in found.values():
        assert not re.search(r"(restriction|unit) [0-9]+\b", message), message


# -- the same kind elsewhere: a number typed by a person is ASCII digits (str.isdigit takes "²", "٣") ------

@pytest.mark.parametrize("odd", ["²", "٣", "１"])
def test_numbers_typed_elsewhere_take_ascii_digits_only(odd: str) -> None:
    from fastapi import HTTPException

    from portal.accounts.identity_numbers import resident_id_problem
    from portal.accounts.service import token_lifetime_days
    from portal.platform.errors import BadInput
    from portal.settings import AccountSettings
    from portal.surveys.api import _crs

    assert resident_id_problem("110101199003074514") is None
    assert resident_id_problem("11010119900307451" + odd) is not None
    assert resident_id_problem(odd + "10101199003074514") is not None
    with pytest.raises(BadInput):
        token_lifetime_days(AccountSettings(), odd)
    assert token_lifetime_days(AccountSettings(), "7") == 7
    with pytest.raises(HTTPException):
        _crs(f"EPSG:452{odd}")
    assert _crs("EPSG:4528") == 4528


def test_a_changed_mortgage_taking_a_rank_held_in_the_register_is_refused_by_row(
        module_database: str, tmp_path: Path, seized: dict[str, list[dict[str, str]]]) -> None:
    first = next(r for r in seized["DYAQ"] if r["BSM"] == "M46-a")
    write_tables({"DYAQ": [dict(first, BSM="M46-c", DYSW="2", DJSJ="2025-03-01 10:00:00", ZWLXQSSJ="2025-03-01")]},
                 tmp_path / "second")
    assert _import(module_database, tmp_path / "second").committed
    found = _refused(module_database, tmp_path / "x", {"DYAQ": [dict(first, DYSW="2")]})
    assert list(found) == [("DYAQ.csv", 2, "DYSW")], found
    assert first["BDCDYH"] in found[("DYAQ.csv", 2, "DYSW")]
    assert not re.search(r"(restriction|unit) [0-9]+\b", found[("DYAQ.csv", 2, "DYSW")])


def test_a_changed_ownership_of_a_seized_unit_is_left_out_with_clean_units_only(
        module_database: str, tmp_path: Path, seized: dict[str, list[dict[str, str]]]) -> None:
    unit = seized["BDCDY"][0]["BDCDYH"]
    right = next(dict(r) for r in seized["QL"] if r["BDCDYH"] == unit and r["QLLX"] == "4" and not r["ZXSJ"])
    right["BDCQZH"] = right["BDCQZH"] + "更正"
    write_tables({"QL": [right], "QLRGX": [r for r in seized["QLRGX"] if r["QLBSM"] == right["BSM"]]},
                 tmp_path / "x")
    before = _fingerprint(module_database)
    outcome = _import(module_database, tmp_path / "x", clean_units_only=True, dry_run=True)  # deferred rules run
    assert [(p.file, p.row, p.column) for p in outcome.problems] == [("QL.csv", 2, "BDCDYH")], outcome.problems
    assert _fingerprint(module_database) == before


# -- review 4: a text longer than an XLSX cell would make the register unexportable ------------------

def test_a_text_longer_than_an_xlsx_cell_is_refused_by_row_and_column(module_database: str, tmp_path: Path) -> None:
    tables = _register(module_database, 43, 4300)
    tables["QLR"][0]["QLRMC"] = "王" * 32_768  # one more than an XLSX cell holds
    found = _refused(module_database, tmp_path / "x", tables)
    assert ("QLR.csv", 2, "QLRMC") in found, found
    assert "32,768 characters" in found[("QLR.csv", 2, "QLRMC")]
