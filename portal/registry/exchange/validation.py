"""Checking an exchange before anything is written: every row becomes a record of our values,
or a problem that names its file, row and column.

The database enforces every rule itself (migrations 0001, 0004): these checks exist so that a
refusal says where the fault is. They cover the codes and their check digits (GB/T 37346 unit
numbers, parcel codes, GB 11643 and GB 32100 identity numbers), the code lists of the layout,
references between tables, holders and shares (单独所有 one holder, 共同共有 two or more
without shares, 按份共有 shares adding up to exactly 1), one ownership at a time per unit, the
seizure queue (one seizure in effect, queued ones behind it), mortgage ranks, and no mortgage
registered while a seizure was in effect. Messages never carry an identity number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from portal.accounts.identity_numbers import credit_code_problem, resident_id_problem
from portal.registry.exchange.layout import (
    BSM_MAX_CHARS,
    CO_OWNERSHIP,
    DOCUMENT_TYPES,
    EARLIEST_YEAR,
    ENDED,
    LATEST_YEAR,
    MORTGAGE_KINDS,
    NUMERIC_COLUMNS,
    RESTRICTION_TABLES,
    RIGHT_KINDS,
    SOURCE_KINDS,
    STATUSES,
    TABLES,
    TEXT_MAX_CHARS,
    TIME_MARGIN_HOURS,
    UNIT_USES,
)
from portal.registry.exchange.reading import UNSAFE_CHARACTERS, Exchange, Row
from spatial.codes import parcel_code_problem, unit_number_problem

__all__ = ["Problem", "Known", "Checked", "Ready", "check_exchange", "queue_history"]

Record = dict[str, Any]
_COLUMN_NAMES = {c.code: c.zh for t in TABLES.values() for c in t.columns}


@dataclass(frozen=True)
class Problem:
    file: str
    row: int
    column: str
    message: str
    unit: str | None = None  # the unit the row belongs to, for --clean-units-only

    def __str__(self) -> str:
        zh = _COLUMN_NAMES.get(self.column)
        column = f"{self.column} ({zh})" if zh else self.column
        return f"{self.file}: row {self.row} 第{self.row}行, column {column}: {self.message}"


@dataclass
class Known:
    """What the cadastre already holds that an exchange may refer to."""

    parcels: dict[str, int] = field(default_factory=dict)          # current parcel code -> parcel_id
    units: dict[str, int] = field(default_factory=dict)            # current unit number -> unit_id
    mapped: dict[str, dict[str, tuple[int, bytes]]] = field(default_factory=dict)  # table -> BSM -> (id, digest)
    documents: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (type, number) -> (id, name)
    # Of the exchange's units already in the register, by unit number: the lifespans of their
    # ownership rights' versions, and of their seizures' versions in effect (with court, document).
    owned: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = field(default_factory=dict)
    seized: dict[str, list[tuple[dt.datetime, dt.datetime | None, str]]] = field(default_factory=dict)
    # Of the same units: the seizures in effect now (restriction id, court and document), the
    # active mortgages' versions (rank, lifespan, restriction id), the seizures' places in the queue over time
    # (place, lifespan, court and document), and the restrictions whose current version has ended
    # (discharged, released, expired, cancelled: an ended restriction stays ended).
    seized_now: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    ranks: dict[str, list[tuple[int, dt.datetime, dt.datetime | None, int]]] = field(default_factory=dict)
    places: dict[str, list[tuple[int, dt.datetime, dt.datetime | None, str]]] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)

    def mapping(self, table: str) -> dict[str, tuple[int, bytes]]:
        return self.mapped.get(table, {})


@dataclass
class Checked:
    records: dict[str, list[Record]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    holders: dict[str, list[Record]] = field(default_factory=dict)  # right BSM -> its holder records


_UNSAFE = UNSAFE_CHARACTERS


def unsafe_cell(row: Row) -> tuple[str, str] | None:
    """The first cell of the row holding a character of reading.UNSAFE_CHARACTERS: (column, message)."""
    if not row.suspect:
        return None  # the reader saw none in the row (reading.UNSAFE_CHARACTERS)
    if not _UNSAFE.search("".join(filter(None, row.values.values()))):
        return None  # one search of the whole row (cells unstripped); each cell is looked at only on a hit
    for column, value in row.values.items():
        found = _UNSAFE.search(value.strip()) if value else None
        if found:
            character, place = f"U+{ord(found.group()):04X}", found.start() + 1
            return column, (f"holds the character {character} at position {place}, a control, text-direction, "
                            "zero-width, line-separator, blank-filler, private-use or noncharacter (never part of a "
                            "name or number): remove it")
    return None


class _Bad(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")
# What each decimal column's database column (numeric(p, s)) holds: below 10 ** (p - s).
_AMOUNT_TOPS = {code: Decimal(10) ** (precision - scale)
                for code, (_table, _column, precision, scale) in NUMERIC_COLUMNS.items()}
# ASCII digits only, and few of them: a share's terms fit in 32 bits (and int() of thousands of
# digits raises); \d would take any script's digits.
_FRACTION = re.compile(r"([0-9]{1,10}) *\/ *([0-9]{1,10})")
_PERCENT = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,9})?) *%")
_AMOUNT = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+")  # a plain decimal, ASCII digits, no exponent


def _shown(value: str, most: int = 40) -> str:
    """A cell as quoted in a message: at most `most` characters, then an ellipsis."""
    return value if len(value) <= most else value[:most] + "…"


class _Reader:
    """Typed cells of one row; a bad cell raises _Bad naming its column."""

    def __init__(self, row: Row, zone: dt.tzinfo, latest: dt.datetime | None = None) -> None:
        self.row = row
        self.values = row.values
        self.zone = zone
        # The latest time a registration may carry (layout.TIME_MARGIN_HOURS after now).
        self.latest = latest or dt.datetime.now(dt.UTC) + dt.timedelta(hours=TIME_MARGIN_HOURS)

    def text(self, column: str, *, required: bool = False) -> str | None:
        value = self.values.get(column)
        if value and (value := value.strip()):
            if len(value) > TEXT_MAX_CHARS:
                raise _Bad(column, f"holds {len(value):,} characters, more than the {TEXT_MAX_CHARS:,} a text of the "
                                   "register may hold (an export's XLSX cell)")
            return value
        if required:
            raise _Bad(column, "is empty")
        return None

    def code(self, column: str, codes: dict[str, Any], *, required: bool = True, also: Collection[Any] = ()) -> Any:
        value = self.text(column, required=required)
        if value is None:
            return None
        if value in codes:
            return codes[value]
        if value in also:  # a dict's values (a view: no set built per cell)
            return value
        raise _Bad(column, f"{_shown(value)!r} is not one of {', '.join(codes)}")

    def time(self, column: str, *, required: bool = False) -> dt.datetime | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        parsed: dt.datetime | None = None
        try:  # ASCII only: strptime's %Y takes any script's digits
            parsed = dt.datetime.fromisoformat(value) if value.isascii() else None
        except ValueError:
            for pattern in _TIME_FORMATS + _DATE_FORMATS:
                try:
                    parsed = dt.datetime.strptime(value, pattern)
                    break
                except ValueError:
                    continue
        if parsed is None:
            raise _Bad(column, f"{_shown(value)!r} is not a time (YYYY-MM-DD HH:MM:SS, office time, or ISO 8601)")
        if parsed.year < EARLIEST_YEAR:  # before any offset is applied: year 1 has no earlier year
            raise _Bad(column, f"{_shown(value)!r} is before {EARLIEST_YEAR}: a placeholder for no time? leave the "
                               "cell empty if there is none")
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone)
        if parsed > self.latest:
            raise _Bad(column, f"{_shown(value)!r} is in the future: a time of the register has passed")
        return parsed

    def date(self, column: str, *, required: bool = False, past: bool = False) -> dt.date | None:
        """A date from EARLIEST_YEAR to LATEST_YEAR (a term may end decades ahead); with `past`,
        no later than the latest time of a registration (a document's date)."""
        value = self.text(column, required=required)
        if value is None:
            return None
        parsed: dt.date | None = None
        if len(value) == 10 and value[4] == value[7] == "-" and value.isascii():  # YYYY-MM-DD, without strptime
            try:
                parsed = dt.date.fromisoformat(value)
            except ValueError:
                pass
        elif value.isascii():  # the other date formats, or a date with its time (an .xlsx date cell
            # reads as "YYYY-MM-DD 00:00:00"): the whole cell, never a date followed by other text
            for pattern in _DATE_FORMATS + _TIME_FORMATS:
                try:
                    parsed = dt.datetime.strptime(value, pattern).date()
                    break
                except ValueError:
                    continue
            if parsed is None:
                try:
                    parsed = dt.datetime.fromisoformat(value).date()
                except ValueError:
                    pass
        if parsed is None:
            raise _Bad(column, f"{_shown(value)!r} is not a date (YYYY-MM-DD)")
        if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
            raise _Bad(column, f"{_shown(value)!r} is not a date from {EARLIEST_YEAR} to {LATEST_YEAR}: a placeholder "
                               "for no date? leave the cell empty if there is none")
        if past and parsed > self.latest.astimezone(self.zone).date():
            raise _Bad(column, f"{_shown(value)!r} is in the future: a document's date has passed")
        return parsed

    def amount(self, column: str, *, required: bool = False) -> Decimal | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        top = _AMOUNT_TOPS[column]
        try:  # a plain decimal of ASCII digits (Decimal alone takes any script's digits and 1E+40)
            number = Decimal(value.replace(",", "")) if _AMOUNT.fullmatch(value) and len(value) <= 40 else None
        except InvalidOperation:
            number = None
        # Below the top before quantize: quantize raises beyond the context's 28 digits.
        if number is None or number <= 0 or number >= top or number != number.quantize(Decimal("0.01")):
            raise _Bad(column, f"{_shown(value)!r} is not a positive amount below {top:,} with at most two decimals")
        return number.quantize(Decimal("0.01"))

    def whole(self, column: str, *, required: bool = False, top: int = 32767) -> int | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 10) or not 1 <= int(value) <= top:
            raise _Bad(column, f"{_shown(value)!r} is not a whole number from 1 to {top}")
        return int(value)


def _share(value: str | None) -> Fraction | None:
    if value is None:
        return None
    match = _FRACTION.fullmatch(value)
    if match:
        n, d = int(match[1]), int(match[2])
        if 0 < n <= d < 2**31:
            return Fraction(n, d)
    match = _PERCENT.fullmatch(value)
    if match:
        share = Fraction(Decimal(match[1])) / 100
        if 0 < share <= 1 and share.denominator < 2**31:
            return share
    raise _Bad("QLBL", f"{_shown(value)!r} is not a share: write 1/3 or 50%")


def _document_problem(kind: str, number: str, today: dt.date | None = None) -> str | None:
    if kind == "resident_id":
        return resident_id_problem(number, today=today)
    if kind == "unified_social_credit_code":
        return credit_code_problem(number)
    return None


Ready = Callable[[str, Checked], None]
"""Told when the records of a stage are final unless a problem is found later, in this order:
`units` (BDCDY), `parties` (SJ and QLR), `rights` (QL with their holders), `restrictions` (the
rest). A writer may write them meanwhile, in the same transaction, which is rolled back if any
problem is found."""


def _quiet(stage: str, checked: Checked) -> None:
    return None


class _Checker:
    def __init__(self, exchange: Exchange, known: Known, zone: dt.tzinfo, skip: Callable[[Row], bool],
                 ready: Ready = _quiet) -> None:
        self.ready = ready
        self.exchange = exchange
        self.known = known
        self.zone = zone
        self.skip = skip
        self.out = Checked()
        self.units: dict[str, str] = {}  # unit number -> file place, numbers of this exchange
        self.sources: set[str] = set()  # BSMs of the source documents of this exchange (SJ)
        self.today = dt.date.today()
        self.latest = dt.datetime.now(dt.UTC) + dt.timedelta(hours=TIME_MARGIN_HOURS)  # of any time of the exchange

    def problem(self, row: Row, column: str, message: str, unit: str | None) -> None:
        self.out.problems.append(Problem(row.file, row.number, column, message, unit))

    def each(self, table: str, parse: Callable[[_Reader], Record], unit_column: str | None = "BDCDYH") -> None:
        seen: set[str] = set()
        records: list[Record] = []
        for row in self.exchange.rows(table):
            if self.skip(row):
                continue
            unit = row.get(unit_column) if unit_column else None
            bsm = row.get("BSM")
            if bsm is None:
                self.problem(row, "BSM", "is empty: every row carries the old system's identifier", unit)
                continue
            if len(bsm) > BSM_MAX_CHARS:
                self.problem(row, "BSM", f"{len(bsm)} characters, more than the {BSM_MAX_CHARS} an identifier may "
                                         "hold", unit)
                continue
            if bsm in seen:
                self.problem(row, "BSM", f"{bsm!r} appears twice in {table}", unit)
                continue
            seen.add(bsm)
            unsafe = unsafe_cell(row)
            if unsafe:
                self.problem(row, unsafe[0], unsafe[1], unit)
                continue
            try:
                record = parse(_Reader(row, self.zone, self.latest))
            except _Bad as bad:
                self.problem(row, bad.column, str(bad), unit)
                continue
            record["BSM"] = bsm
            record["_row"] = row
            record["_unit"] = unit
            records.append(record)
        self.out.records[table] = records

    # -- source documents ---------------------------------------------------------------

    def source(self, r: _Reader) -> Record:
        return {"kind": r.code("SJLX", SOURCE_KINDS, also=SOURCE_KINDS.values()),
                "reference": r.text("WJBH", required=True), "issued_on": r.date("WJRQ", past=True),
                "issuer": r.text("FZJG"), "description": r.text("SJMC")}

    def source_of(self, r: _Reader) -> str | None:
        bsm = r.text("SJBSM")
        if bsm is not None and bsm not in self.sources and bsm not in self.known.mapping("SJ"):
            raise _Bad("SJBSM", f"source document {bsm!r} is neither in SJ nor imported before")
        return bsm

    # -- parties and units --------------------------------------------------------------

    def party(self, r: _Reader) -> Record:
        name = r.text("QLRMC", required=True)
        kind = r.code("ZJZL", DOCUMENT_TYPES, also=DOCUMENT_TYPES.values())
        number = (r.text("ZJH", required=True) or "").upper()
        problem = _document_problem(kind, number, self.today)
        if problem:
            raise _Bad("ZJH", f"identity document number: {problem}")
        party_kind = "legal_person" if kind == "unified_social_credit_code" else "natural_person"
        declared = r.text("QLRLX")
        if declared is not None and (declared == "1") != (party_kind == "natural_person"):
            raise _Bad("QLRLX", f"{declared!r} does not fit the identity document type (1 for a person, "
                                "2 for an organisation with a unified social credit code)")
        return {"kind": party_kind, "name": name, "id_document_type": kind, "id_document_number": number}

    def unit(self, r: _Reader) -> Record:
        number = r.text("BDCDYH", required=True) or ""
        problem = unit_number_problem(number)
        if problem:
            raise _Bad("BDCDYH", problem)
        code = r.text("ZDDM", required=True) or ""
        problem = parcel_code_problem(code)
        if problem:
            raise _Bad("ZDDM", problem)
        if code not in self.known.parcels:
            raise _Bad("ZDDM", f"parcel {code} is not in the cadastre: import its survey first")
        if not number.startswith(code):
            raise _Bad("BDCDYH", f"does not start with the parcel code {code} of ZDDM")
        if number in self.units:
            raise _Bad("BDCDYH", f"unit {number} appears twice (also {self.units[number]})")
        self.units[number] = f"row {r.row.number}"
        use = r.code("YT", UNIT_USES, required=False, also=UNIT_USES.values()) or "residential"
        return {"unit_number": number, "parcel_id": self.known.parcels[code], "location": r.text("ZL", required=True),
                "floor_area": r.amount("JZMJ"), "use": use, "begin": r.time("DJSJ")}

    def unit_id_of(self, r: _Reader) -> str:
        number = r.text("BDCDYH", required=True) or ""
        if number not in self.units and number not in self.known.units:
            raise _Bad("BDCDYH", f"unit {number} is neither in BDCDY nor in the register")
        return number

    def party_of(self, r: _Reader, column: str, parties: set[str], *, required: bool) -> str | None:
        bsm = r.text(column, required=required)
        if bsm is not None and bsm not in parties and bsm not in self.known.mapping("QLR"):
            raise _Bad(column, f"party {bsm!r} is neither in QLR nor imported before")
        return bsm

    @staticmethod
    def span(r: _Reader, end_column: str) -> tuple[dt.datetime, dt.datetime | None]:
        begin = r.time("DJSJ", required=True)
        assert begin is not None
        end = r.time(end_column)
        if end is not None and end <= begin:
            raise _Bad(end_column, "is not after DJSJ (registration time)")
        return begin, end

    # -- rights and holders -------------------------------------------------------------

    def right(self, r: _Reader) -> Record:
        unit = self.unit_id_of(r)
        county = r.text("QXDM")
        if county is not None and county != unit[:6]:
            raise _Bad("QXDM", f"{county!r} is not the county of the unit number ({unit[:6]})")
        begin, end = self.span(r, "ZXSJ")
        return {"unit_number": unit, "kind": r.code("QLLX", RIGHT_KINDS, also=RIGHT_KINDS.values()),
                "co_ownership": r.code("GYFS", CO_OWNERSHIP, also=CO_OWNERSHIP.values()),
                "certificate_number": r.text("BDCQZH"), "begin": begin, "end": end,
                "reference": r.text("YWH"), "registrar": r.text("DBR"), "source_document": self.source_of(r),
                "_live_end": end}

    def holders(self, parties: set[str]) -> None:
        rights = {rec["BSM"]: rec for rec in self.out.records.get("QL", [])}
        right_rows = {row.get("BSM") for row in self.exchange.rows("QL")}
        by_right: dict[str, list[Record]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for row in self.exchange.rows("QLRGX"):
            right_bsm = row.get("QLBSM")
            right = rights.get(right_bsm or "")
            unit = right["unit_number"] if right else None
            if self.skip(row) or (right is None and right_bsm in right_rows):
                continue  # a right skipped or already refused: its holders go with it
            r = _Reader(row, self.zone, self.latest)
            try:
                if right is None:
                    raise _Bad("QLBSM", f"right {right_bsm!r} is not in QL")
                unsafe = unsafe_cell(row)
                if unsafe:
                    raise _Bad(*unsafe)
                party = self.party_of(r, "QLRBSM", parties, required=True)
                assert party is not None and right_bsm is not None
                if (right_bsm, party) in seen:
                    raise _Bad("QLRBSM", f"party {party!r} holds right {right_bsm!r} twice")
                seen.add((right_bsm, party))
                share = _share(row.get("QLBL"))
            except _Bad as bad:
                self.problem(row, bad.column, str(bad), unit)
                if right is not None:
                    right["_refused"] = True
                continue
            by_right[right_bsm].append({"party": party, "share": share, "_row": row})
        kept = []
        for right in self.out.records.get("QL", []):
            holders = by_right.get(right["BSM"], [])
            message = None if right.get("_refused") else self.holders_problem(right["co_ownership"], holders)
            if message:
                self.problem(right["_row"], message[0], message[1], right["unit_number"])
            if message or right.get("_refused"):
                continue
            right["holders"] = sorted((h["party"], h["share"]) for h in holders)
            kept.append(right)
        self.out.records["QL"] = kept

    @staticmethod
    def holders_problem(form: str, holders: list[Record]) -> tuple[str, str] | None:
        n = len(holders)
        shares = [h["share"] for h in holders if h["share"] is not None]
        if n == 0:
            return "BSM", "the right has no holder in QLRGX"
        if form == "sole" and n != 1:
            return "GYFS", f"sole ownership (单独所有) has one holder, this right has {n}"
        if form == "joint" and (n < 2 or shares):
            return "GYFS", "joint ownership (共同共有) needs at least two holders, without shares (QLBL)"
        if form == "by_portions":
            if n < 2 or len(shares) != n:
                return "GYFS", "co-ownership by portions (按份共有) needs two holders or more, each with a share (QLBL)"
            if sum(shares) != 1:
                return "GYFS", f"the shares (QLBL) of co-ownership by portions add up to {sum(shares)}, not 1"
        return None

    # -- restrictions -------------------------------------------------------------------

    def restriction(self, kind: str, parties: set[str]) -> Callable[[_Reader], Record]:
        def parse(r: _Reader) -> Record:
            unit = self.unit_id_of(r)
            status = r.code("ZT", STATUSES[kind], also=STATUSES[kind].values())
            end_column = "JFSJ" if kind == "seizure" else "ZXSJ"
            begin, end = self.span(r, end_column)
            if (status in ENDED) != (end is not None):
                raise _Bad(end_column, f"is given exactly when the status (ZT) says it ended: "
                                       f"{'give' if end is None else 'leave out'} it for this status")
            record: Record = {"unit_number": unit, "kind": kind, "status": status, "begin": begin, "end": end,
                              "_live_end": end,
                              "reference": r.text("YWH"), "registrar": r.text("DBR"), "party": None,
                              "source_document": self.source_of(r),
                              "secured_amount": None, "maximum_amount": None, "rank": None, "term_start": None,
                              "term_end": None, "court": None, "document_number": None, "queue_position": None,
                              "reason": None}
            if kind == "mortgage":
                record.update(party=self.party_of(r, "DYQRBSM", parties, required=True),
                              maximum_amount=r.code("DYFS", MORTGAGE_KINDS),
                              secured_amount=r.amount("BDBZZQSE", required=True), rank=r.whole("DYSW", required=True),
                              term_start=r.date("ZWLXQSSJ", required=True), term_end=r.date("ZWLXJSSJ"))
                end_term = "ZWLXJSSJ"
            elif kind == "seizure":
                position = r.whole("LHSX", required=True)
                if status == "active" and position != 1:
                    raise _Bad("LHSX", "the seizure in effect (查封) is first in the queue: LHSX 1")
                if status == "queued" and position == 1:
                    raise _Bad("LHSX", "a queued seizure (轮候) is behind the one in effect: LHSX 2 or more")
                record.update(court=r.text("CFJG", required=True), document_number=r.text("CFWH", required=True),
                              term_start=r.date("CFQSSJ", required=True), term_end=r.date("CFJSSJ"),
                              queue_position=position)
                end_term = "CFJSSJ"
            elif kind == "objection":
                record.update(party=self.party_of(r, "SQRBSM", parties, required=False), reason=r.text("YYSX"))
                end_term = ""
            else:
                record.update(party=self.party_of(r, "QLRBSM", parties, required=False), reason=r.text("YGDJZL"))
                end_term = ""
            if end_term and record["term_end"] is not None and record["term_end"] < record["term_start"]:
                raise _Bad(end_term, "is before the start of the term")
            return record
        return parse

    def overlaps(self) -> None:
        """One ownership at a time, one mortgage per rank, one seizure per place in the queue,
        and no mortgage registered while a seizure was in effect."""
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        refused: set[int] = set()

        def clash(records: list[Record], key: Callable[[Record], Any], what: str, column: str) -> None:
            groups: dict[Any, list[Record]] = defaultdict(list)
            for rec in records:
                k = key(rec)
                if k is not None:
                    groups[k].append(rec)
            for group in groups.values():
                group.sort(key=lambda rec: rec["begin"])
                for before, after in zip(group, group[1:], strict=False):
                    if (before["_live_end"] or far) > after["begin"]:
                        self.problem(after["_row"], column, f"{what} overlaps row {before['_row'].number} in time",
                                     after["unit_number"])
                        refused.add(id(after))

        rights = self.out.records.get("QL", [])
        clash(rights, lambda rec: rec["unit_number"] if rec["kind"] == "ownership" else None,
              "a second ownership of the unit", "DJSJ")
        mortgages = self.out.records.get("DYAQ", [])
        clash(mortgages, lambda rec: (rec["unit_number"], rec["rank"]), "a mortgage of the same rank (DYSW)", "DYSW")
        in_effect: dict[str, list[tuple[dt.datetime, dt.datetime | None, Record]]] = defaultdict(list)
        by_unit: dict[str, list[Record]] = defaultdict(list)
        for rec in self.out.records.get("CFDJ", []):
            by_unit[rec["unit_number"]].append(rec)
        for seizures in by_unit.values():
            for rec in queue_history(seizures):
                last = rec["_segments"][-1][2]
                if last != rec["queue_position"]:
                    self.problem(rec["_row"], "LHSX", f"the queue of the unit's seizures (by DJSJ and JFSJ) puts "
                                                      f"this one at place {last}, not {rec['queue_position']}",
                                 rec["unit_number"])
                    refused.add(id(rec))
                for start, stop, position in rec["_segments"]:
                    if position == 1:
                        in_effect[rec["unit_number"]].append((start, stop, rec))
        for rec in mortgages:
            for start, stop, seizure in in_effect.get(rec["unit_number"], []):
                if start <= rec["begin"] < (stop or far):
                    self.problem(rec["_row"], "DJSJ", f"a mortgage registered while the seizure of CFDJ row "
                                                      f"{seizure['_row'].number} was in effect", rec["unit_number"])
                    refused.add(id(rec))
                    break
        self.against_register(rights, mortgages, refused)
        for table in ("QL", "DYAQ", "CFDJ"):
            self.out.records[table] = [rec for rec in self.out.records.get(table, []) if id(rec) not in refused]

    def against_register(self, rights: list[Record], mortgages: list[Record], refused: set[int]) -> None:
        """The rules that involve what the register holds already, for the rows this exchange adds
        (a BSM not imported before): one ownership at a time per unit (right_one_ownership_per_unit),
        and no mortgage registered while a seizure of the register was in effect
        (no_dealing_under_seizure); the register's rows come from `Known` (one query per rule)."""
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        mapped = self.known.mapping("QL")
        for rec in rights:
            spans = self.known.owned.get(rec["unit_number"])
            if not spans or rec["kind"] != "ownership" or rec["BSM"] in mapped or id(rec) in refused:
                continue
            for start, stop in spans:
                if start < (rec["end"] or far) and rec["begin"] < (stop or far):
                    until = f" until {stop.astimezone(self.zone):%Y-%m-%d %H:%M}" if stop else ", still current"
                    self.problem(rec["_row"], "DJSJ", f"unit {rec['unit_number']} is owned in the register from "
                                 f"{start.astimezone(self.zone):%Y-%m-%d %H:%M}{until}: one ownership at a time",
                                 rec["unit_number"])
                    refused.add(id(rec))
                    break
        mapped = self.known.mapping("DYAQ")
        for rec in mortgages:  # mortgage_rank_unique: a rank held in the register at the same time
            taken = self.known.ranks.get(rec["unit_number"])
            if not taken or rec["BSM"] in mapped or id(rec) in refused:
                continue
            for rank, start, stop, _rid in taken:
                if rank == rec["rank"] and start < (rec["_live_end"] or far) and rec["begin"] < (stop or far):
                    self.problem(rec["_row"], "DYSW", f"rank {rank} of unit {rec['unit_number']} is held in the "
                                 f"register by a mortgage {self.span_text(start, stop)}: one mortgage per rank at a "
                                 "time", rec["unit_number"])
                    refused.add(id(rec))
                    break
        for rec in self.out.records.get("CFDJ", []):  # seizure_queue_unique: a place held in the register
            held = self.known.places.get(rec["unit_number"])
            if not held or rec["BSM"] in self.known.mapping("CFDJ") or id(rec) in refused:
                continue
            clash = next(((place, start, stop, label) for begin, end, mine in rec["_segments"]
                          for place, start, stop, label in held
                          if place == mine and start < (end or far) and begin < (stop or far)), None)
            if clash:
                place, start, stop, label = clash
                self.problem(rec["_row"], "LHSX", f"place {place} in the seizure queue of unit {rec['unit_number']} "
                             f"is held in the register by the seizure {_shown(label, 80)} {self.span_text(start, stop)}"
                             ": one seizure per place in the queue", rec["unit_number"])
                refused.add(id(rec))
        for rec in mortgages:
            seizures = self.known.seized.get(rec["unit_number"])
            if not seizures or rec["BSM"] in mapped or id(rec) in refused:
                continue
            for start, stop, seizure in seizures:
                if start <= rec["begin"] < (stop or far):
                    self.problem(rec["_row"], "DJSJ", f"a mortgage registered while the register's seizure of unit "
                                 f"{rec['unit_number']} ({_shown(seizure, 80)}) was in effect", rec["unit_number"])
                    refused.add(id(rec))
                    break

    def span_text(self, start: dt.datetime, stop: dt.datetime | None) -> str:
        """'from 2024-01-01 10:00 until ...' or '..., still current', in the office's zone."""
        until = f" until {stop.astimezone(self.zone):%Y-%m-%d %H:%M}" if stop else ", still current"
        return f"from {start.astimezone(self.zone):%Y-%m-%d %H:%M}{until}"

    def run(self) -> Checked:
        self.each("SJ", self.source, unit_column=None)
        self.sources = {rec["BSM"] for rec in self.out.records["SJ"]}
        # The units first: their checks are the cheaper, so the writer starts sooner; the
        # parties are checked while the units are written. Problems are reported in the
        # layout's order all the same (SJ, QLR, BDCDY, ...).
        before_units = len(self.out.problems)
        self.each("BDCDY", self.unit)
        mapped_units = self.known.mapping("BDCDY")
        taken = {number: uid for number, uid in self.known.units.items()}
        for rec in self.out.records["BDCDY"]:
            current = taken.get(rec["unit_number"])
            mapped = mapped_units.get(rec["BSM"])
            if current is not None and (mapped is None or mapped[0] != current):
                own = rec["BSM"].startswith("cadastre-")  # this (or another) installation's own export
                self.problem(rec["_row"], "BDCDYH", f"unit {rec['unit_number']} is already in the register "
                             "under another identifier" + (
                                 f" ({rec['BSM']!r} is an identifier an export gives a row the register did not "
                                 "import: an export moves a register into another installation, it does not "
                                 "import into the one that wrote it; change such units in the portal, or "
                                 "import the old system's rows only)" if own else ""), rec["unit_number"])
                rec["_refused"] = True
        self.out.records["BDCDY"] = [rec for rec in self.out.records["BDCDY"] if not rec.get("_refused")]
        self.ready("units", self.out)
        before_parties = len(self.out.problems)
        self.each("QLR", self.party, unit_column=None)
        parties = {rec["BSM"] for rec in self.out.records["QLR"]}
        documents: dict[tuple[str, str], Record] = {}
        for rec in self.out.records["QLR"]:
            key = (rec["id_document_type"], rec["id_document_number"])
            if key in documents:
                self.problem(rec["_row"], "ZJH", f"the same identity document as party {documents[key]['BSM']!r}",
                             None)
                rec["_refused"] = True
            documents[key] = rec
            known = self.known.documents.get(key)
            mapped = self.known.mapping("QLR").get(rec["BSM"])
            if known is not None and known[1] != rec["name"] and (mapped is None or mapped[0] != known[0]):
                self.problem(rec["_row"], "QLRMC", "the identity document belongs to a party registered under "
                                                   "another name", None)
                rec["_refused"] = True
        self.out.records["QLR"] = [rec for rec in self.out.records["QLR"] if not rec.get("_refused")]
        parties = {rec["BSM"] for rec in self.out.records["QLR"]}
        self.ready("parties", self.out)
        problems = self.out.problems
        problems[before_units:] = problems[before_parties:] + problems[before_units:before_parties]
        self.each("QL", self.right)
        self.holders(parties)
        self.ready("rights", self.out)
        for table, kind in RESTRICTION_TABLES.items():
            self.each(table, self.restriction(kind, parties))
        self.overlaps()
        self.ready("restrictions", self.out)
        return self.out


def queue_history(seizures: list[Record]) -> list[Record]:
    """The places in the queue (轮候) each seizure of one unit held over time, as the portal
    keeps them: a seizure joins behind those in force when it is registered (DJSJ), and moves up
    when one before it ends (JFSJ). Sets `_segments`: [(start, stop or None, place)], merged."""
    order = sorted(seizures, key=lambda rec: (rec["begin"], rec["BSM"]))
    times = sorted({rec["begin"] for rec in order} | {rec["end"] for rec in order if rec["end"] is not None})
    for i, rec in enumerate(order):
        segments: list[tuple[dt.datetime, dt.datetime | None, int]] = []
        spans = [t for t in times if rec["begin"] <= t and (rec["end"] is None or t < rec["end"])]
        for j, start in enumerate(spans):
            stop = spans[j + 1] if j + 1 < len(spans) else rec["end"]
            place = 1 + sum(1 for other in order[:i] if other["begin"] <= start
                            and (other["end"] is None or other["end"] > start))
            if segments and segments[-1][2] == place:
                segments[-1] = (segments[-1][0], stop, place)
            else:
                segments.append((start, stop, place))
        rec["_segments"] = segments
    return order


def check_exchange(exchange: Exchange, known: Known, zone: dt.tzinfo, *, clean_units_only: bool = False,
                   ready: Ready = _quiet) -> Checked:
    """Records and problems. With `clean_units_only`, every row of a unit with a problem (and
    every party row with one) is left out, and the rest checked again until it is clean: the
    problems of all rounds are reported, the records are those of the clean units. `ready` is
    told as each stage's records are done in the first round (see `Ready`)."""
    checked = _Checker(exchange, known, zone, lambda row: False, ready).run()
    if not clean_units_only or not checked.problems:
        return checked
    problems = list(checked.problems)
    bad_units: set[str] = set()
    bad_rows: set[tuple[str, int]] = set()
    for _ in range(10):
        for p in checked.problems:
            if p.unit is not None:
                bad_units.add(p.unit)
            else:
                bad_rows.add((p.file, p.row))
        rights_of_bad = {row.get("BSM") for row in exchange.rows("QL") if row.get("BDCDYH") in bad_units}

        def skip(row: Row, rights_of_bad: set[str | None] = rights_of_bad) -> bool:
            return ((row.file, row.number) in bad_rows or row.get("BDCDYH") in bad_units
                    or (row.get("QLBSM") is not None and row.get("QLBSM") in rights_of_bad))

        checked = _Checker(exchange, known, zone, skip).run()
        fresh = [p for p in checked.problems if p not in problems]
        problems.extend(fresh)
        if not checked.problems:
            break
    checked.problems = problems
    checked.records["_bad_units"] = [{"unit_number": u} for u in sorted(bad_units)]
    return checked
