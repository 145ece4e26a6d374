"""Reading an exchange: a directory of `<TABLE>.csv` files (UTF-8, with or without BOM, or
GBK/GB 18030), one XLSX workbook with a sheet per table, or a GeoPackage with an attribute
table per table, into rows that know their place.

A CSV file is decoded, parsed and its header checked when the exchange is read (the refusals
of a file come then, but for a cell over CELL_MAX_CHARS when something else in the process
raised the csv module's field limit); its rows are built when first asked for (`Exchange.rows`). A
CSV file or GeoPackage table beyond `TableLimits` (rows, bytes) is refused by name.

Row numbers are those a person sees: the header is row 1, the first record row 2 (the CSV line
or the spreadsheet row). Cells are text, stripped; empty cells are None; XLSX dates and numbers
come as Python values and are turned into text the same way a CSV would carry them. A CSV cell
of a single quote followed by = + - @ TAB CR or another single quote loses that first quote: the
exporter adds it so that spreadsheets never read a cell as a formula (docs/register-exchange.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import hashlib
import io
import itertools
import os
import re
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from portal.registry.exchange.layout import (
    CELL_MAX_CHARS,
    CSV_MAX_BYTES,
    PARCEL_MAX_VERTICES,
    SHEET_MAX_CELLS,
    SHEET_MAX_COLUMNS,
    SHEET_MAX_ROWS,
    TABLE_MAX_ROWS,
    TABLES,
)

__all__ = ["Row", "Exchange", "ReadProblem", "read_exchange", "csv_value", "UNSAFE_CHARACTERS", "TableLimits",
           "shown_name", "FORMAT_CHARACTERS"]

# A CSV cell the exporter escaped against formula injection: one single quote before one of these.
_ESCAPED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_value(cell: str) -> str:
    """A CSV cell's value: the single quote the exporter puts before = + - @ TAB CR or a single
    quote (exporting.csv_cell, OWASP CSV injection) taken off; any other cell as it is."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_ESCAPED_STARTS) else cell


# Characters refused in every text cell (and header), so that a name never reorders what a page
# shows, hides text, nor breaks an export (an XLSX workbook cannot hold controls): the controls
# (Unicode category Cc: C0, DEL, C1); every format character (Cf: the bidirectional embeddings,
# overrides and isolates, zero-width space and joiners, soft hyphen, BOM, tags...; Chinese text
# needs none of them, and ideographic variation selectors are Mn, not Cf, so stay allowed); the
# private-use areas (Co: what a wrong decoding or a legacy font's own characters leave); surrogates
# (Cs) and the noncharacters (U+FDD0-U+FDEF and the last two code points of every plane); the line
# and paragraph separators (Zl U+2028, Zp U+2029: a line break inside a name); the Hangul fillers
# (U+115F, U+1160, U+3164, U+FFA0: letters that show as nothing, so a name of them looks blank).
# The Cf ranges are those of Unicode 14 (tests/registry compares them with unicodedata).
FORMAT_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
PRIVATE_USE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_BLANK_LOOKING = "\u2028\u2029\u115f\u1160\u3164\uffa0"
NONCHARACTERS = "\ufdd0-\ufdef" + "".join(f"{chr(plane * 0x10000 + 0xfffe)}{chr(plane * 0x10000 + 0xffff)}"
                                            for plane in range(17))
UNSAFE_CHARACTERS = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{FORMAT_CHARACTERS}{PRIVATE_USE}{NONCHARACTERS}"
                               f"{_BLANK_LOOKING}]")
# A superset searched on every CSV row (ten times faster than the exact class, whose astral ranges
# make the regular expression engine slow): the unsafe characters of the Basic Multilingual Plane
# and any character beyond it; a row it finds something in is checked with the exact class
# (validation.unsafe_cell), so an ideograph of CJK Extension B costs only that row a second look.
_BMP_FORMAT_CHARACTERS = "".join(part for part in re.findall(r".-.|.", FORMAT_CHARACTERS) if part < "\U00010000")
_SUSPECT_CHARACTERS = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_BMP_FORMAT_CHARACTERS}{_BLANK_LOOKING}"
                                 "\ue000-\uf8ff\ufdd0-\ufdef\ufffe\uffff\U00010000-\U0010ffff]")


def shown_name(name: str) -> str:
    """A file, sheet, table or column name as a message shows it: as it is when every character
    of it is printable and safe, else quoted with its unprintable characters escaped (an escape
    sequence in a header never reaches a terminal or the audit trail)."""
    return name if name.isprintable() and not UNSAFE_CHARACTERS.search(name) else ascii(name)


@dataclass(frozen=True, slots=True)
class Row:
    """One record row: its file, its number as a person sees it (header = 1) and its cells by
    column code. `suspect` is False when the reader has seen that no cell holds an unsafe
    character (UNSAFE_CHARACTERS), so the checks need not look again (validation.unsafe_cell)."""

    file: str
    number: int
    values: dict[str, str | None]
    suspect: bool = True

    def get(self, column: str) -> str | None:
        """The cell, stripped; None when empty or blank (CSV cells are stripped when read)."""
        value = self.values.get(column)
        return (value.strip() or None) if value else None


@dataclass(frozen=True)
class TableLimits:
    """What a CSV file or GeoPackage table may hold before it is read whole: `rows` rows (the
    header and blank rows count; an XLSX sheet has its own limits, SHEET_MAX_*) and `csv_bytes`
    bytes: a CSV file's, or the cells of a GeoPackage table (counted as UTF-8 before the table is
    read). Beyond them the file or table is refused by name (docs/register-exchange.md)."""

    rows: int = TABLE_MAX_ROWS
    csv_bytes: int = CSV_MAX_BYTES


@dataclass
class _Parsed:
    """A CSV table parsed (records of text cells, its header checked), its rows not yet built."""

    file: str
    header: list[str]
    records: list[list[str]]  # the header's record first

    def column(self, code: str) -> list[str]:
        """The non-blank cells of one column, as Row.get gives them (the last column of that code
        when the header repeats it, as the rows' dicts keep it)."""
        if code not in self.header:
            return []
        index = len(self.header) - 1 - self.header[::-1].index(code)
        return [value for record in self.records[1:] if index < len(record)
                and (value := csv_value(record[index]).strip())]


@dataclass
class Exchange:
    """The tables read (a missing table is an empty one), the files' SHA-256 and encodings.

    A CSV table is decoded, parsed and its header checked when the exchange is read, but its
    rows are built when they are first asked for (`rows`): the import checks and writes the
    first tables while the rows of the later ones are still to be built, and `column` gives one
    column's cells without building them."""

    tables: dict[str, list[Row]] = field(default_factory=dict)
    sha256: str = ""
    encodings: dict[str, str] = field(default_factory=dict)
    path: Path = Path()
    feature_layers: set[str] = field(default_factory=set)  # GeoPackage tables with a geometry column
    parsed: dict[str, _Parsed] = field(default_factory=dict)  # CSV tables whose rows are not built yet

    def rows(self, table: str) -> list[Row]:
        """The table's rows (built now if not yet). Raises ReadProblem for a cell longer than
        CELL_MAX_CHARS that the csv module's field limit let through (when something else in the
        process raised that limit)."""
        parsed = self.parsed.pop(table, None)
        if parsed is not None:
            self.tables[table] = _csv_rows(parsed.file, parsed.header, parsed.records)
        return self.tables.get(table, [])

    def column(self, table: str, code: str) -> list[str]:
        """The non-blank cells of one column (stripped), in row order, without building rows."""
        parsed = self.parsed.get(table)
        if parsed is not None:
            return parsed.column(code)
        return [value for row in self.tables.get(table, []) if (value := row.get(code)) is not None]


class ReadProblem(ValueError):
    """The exchange cannot be read at all: the message names the file (and row or column).
    `sha256` is the exchange's hash when its files could be read (for the audit trail), else ""."""

    sha256: str = ""


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    elif isinstance(value, float):
        text = repr(value)  # 1e+308, not 309 digits
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _header(file: str, table: str, records: list[list[Any]]) -> list[str]:
    """The header's column codes (stripped, upper case), each known, none twice and every
    required one there (else ReadProblem, the column quoted when it holds an unprintable or
    unsafe character: shown_name)."""
    header = [str(h).strip().upper() if h is not None else "" for h in records[0]]
    known = set(TABLES[table].codes)
    unknown = [h for h in header if h and h not in known]
    if unknown:
        bom = (" (it begins with a byte order mark U+FEFF: the file has two; save it with one at most)"
               if unknown[0].startswith("\ufeff") else "")
        raise ReadProblem(f"{file}: row 1: unknown column {shown_name(unknown[0])}{bom} (the columns of {table} "
                          f"are {', '.join(TABLES[table].codes)})")
    seen: dict[str, int] = {}
    for index, code in enumerate(header, start=1):
        if code and code in seen:
            raise ReadProblem(f"{file}: row 1: the column {code} appears twice (columns {seen[code]} and {index}); "
                              "keep one")
        seen.setdefault(code, index)
    missing = [c.code for c in TABLES[table].columns if c.required and c.code not in header]
    if missing:
        raise ReadProblem(f"{file}: row 1: the required column {missing[0]} is missing")
    return header


def _rows(file: str, table: str, records: list[list[Any]]) -> list[Row]:
    """The rows of an XLSX sheet or GeoPackage table (cells as Python values, made text)."""
    if not records:
        return []
    header = _header(file, table, records)
    rows = []
    named = [(i, h) for i, h in enumerate(header) if h]
    unnamed = [i for i, h in enumerate(header) if not h]
    for number, record in enumerate(records[1:], start=2):
        values = {h: _cell(record[i]) if i < len(record) else None for i, h in named}
        if not any(values.values()):
            continue
        stray = next((i for i in unnamed if i < len(record) and _cell(record[i]) is not None), None)
        if stray is not None:
            raise ReadProblem(f"{file}: row {number}, column {stray + 1}: a value under a column without a name in "
                              "row 1; name the column or empty it")
        _refuse_long(file, number, values)
        rows.append(Row(file, number, values))
    return rows


def _refuse_long(file: str, number: int, values: dict[str, str | None]) -> None:
    long = next((h for h, v in values.items() if v is not None and len(v) > CELL_MAX_CHARS), None)
    if long is not None:
        raise ReadProblem(f"{file}: row {number}, column {long}: more than {CELL_MAX_CHARS:,} characters, the "
                          f"most a cell may hold (a boundary of {PARCEL_MAX_VERTICES:,} vertices)")


def _csv_rows(file: str, header: list[str], records: list[list[str]]) -> list[Row]:
    """CSV records as rows. Cells are text already: kept as read, stripped when a cell is read
    (Row.get). Each row's cells are joined once, to skip a blank row, to find whether any cell
    needs the exporter's quote taken off (csv_value), whether any may hold an unsafe character,
    and whether any may be longer than CELL_MAX_CHARS (the csv module's field limit holds them to
    it, unless something else in the process raised that limit)."""
    rows = []
    blank_column = "" in header
    width = len(header)
    unsafe = _SUSPECT_CHARACTERS.search
    for number, record in enumerate(records[1:], start=2):
        joined = "".join(record)
        if not joined.strip():
            continue
        if len(record) > width and "".join(record[width:]).strip():
            raise ReadProblem(f"{file}: row {number}: {len(record)} cells, but the header (row 1) names {width}: "
                              "a cell is not under a column (a separator too many, or a quote missing?)")
        if blank_column and any(cell.strip() for h, cell in zip(header, record, strict=False) if not h):
            column = next(i for i, (h, cell) in enumerate(zip(header, record, strict=False)) if not h and cell.strip())
            raise ReadProblem(f"{file}: row {number}, column {column + 1}: a value under a column without a name in "
                              "row 1; name the column or empty it")
        values: dict[str, str | None] = dict(zip(header, record if "'" not in joined else map(csv_value, record),
                                                 strict=False))
        if blank_column:
            values.pop("", None)
        if len(joined) > CELL_MAX_CHARS:
            _refuse_long(file, number, values)
        rows.append(Row(file, number, values, unsafe(joined) is not None))
    return rows


def _place(data: bytes, start: int, codec: str) -> str:
    """Where the bad bytes at `start` are, as a person finds them: "row N, column C" (header = 1)."""
    prefix = data[:start].decode(codec, errors="replace")
    before = list(csv.reader(io.StringIO(prefix, newline="")))
    if not prefix or prefix.endswith(("\n", "\r")):  # the bad bytes begin a row
        before.append([""])
    row = len(before)
    header = before[0] if row > 1 else []
    index = len(before[-1]) - 1
    column = f", column {shown_name(header[index].strip().upper())}" if row > 1 and index < len(header) else ""
    return f"row {row}{column}"


_BEYOND_ASCII = re.compile(rb"[\x80-\xff]")
_LINE_BREAK = re.compile(rb"[\r\n]")
_WIDE = re.compile("[\u0800-\U0010ffff]")


def _first_lines(data: bytes, base: int, valid: bool, invalid: bool) -> tuple[int, int]:
    """The byte offsets (from `base`) of the first UTF-8 line of `data` (its first byte beyond
    ASCII) when `valid`, and of the first byte that is not UTF-8 when `invalid`; -1 when none or
    not asked for (as _utf8_lines counts the lines)."""
    first_valid = first_invalid = -1
    search, newline, wide = _BEYOND_ASCII.search, _LINE_BREAK.search, _WIDE.search
    found, end = search(data), 0
    while found is not None and ((valid and first_valid < 0) or (invalid and first_invalid < 0)):
        start = max(data.rfind(b"\n", end, found.start()), data.rfind(b"\r", end, found.start()), end - 1) + 1
        after = newline(data, found.end())
        end = after.start() if after is not None else len(data)
        try:
            if wide(data[start:end].decode("utf-8")) and first_valid < 0:
                first_valid = base + found.start()
        except UnicodeDecodeError as error:
            first_invalid = base + start + error.start if first_invalid < 0 else first_invalid
        found = search(data, end)
    return first_valid, first_invalid


# A line (CR LF, LF and CR alone made LF) of text decoded with surrogateescape: UTF-8 text when it
# holds a character from U+0800 up and no escaped byte; not UTF-8 when it holds an escaped byte.
_UTF8_LINE = re.compile("^[\x00-\x09\x0b-\u07ff]*[\u0800-\ud7ff\ue000-\U0010ffff][^\n\udc80-\udcff]*$", re.M)
_OTHER_LINE = re.compile("^[^\n\udc80-\udcff]*[\udc80-\udcff]", re.M)
_CHUNK = 1 << 22


def _utf8_lines(data: bytes) -> tuple[int, int, int, int]:
    """Of the lines holding a byte beyond ASCII (every line of the file, split on CR LF, LF and CR
    alone): how many are UTF-8 text, how many not, and the byte offsets of the first of each (its
    first byte beyond ASCII, its first byte that is not UTF-8; -1 when none). A line counts as
    UTF-8 when it decodes so and holds a character from U+0800 up (a Chinese character is one); a
    line that decodes but holds only two-byte characters (Latin accents, Greek, Cyrillic: what a
    short GBK name may read as by chance) counts for neither. Linear, and in pieces of 4 MiB cut at
    a line break (never the whole file decoded at once): each piece decoded once and its lines
    counted by regular expression; only the piece where a kind is first seen is looked at line by
    line, for the offset."""
    valid = invalid = 0
    first_valid = first_invalid = -1
    start = 0
    while start < len(data):
        end = min(start + _CHUNK, len(data))
        if end < len(data):  # cut after the last line break of the piece, else at the next one
            cut = max(data.rfind(b"\n", start, end), data.rfind(b"\r", start, end))
            if cut < 0:
                after = _LINE_BREAK.search(data, end)
                cut = after.start() if after is not None else len(data) - 1
            end = cut + 1
        piece = data[start:end]
        if not piece.isascii():
            text = piece.decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n")
            good = sum(1 for _ in _UTF8_LINE.finditer(text))
            bad = sum(1 for _ in _OTHER_LINE.finditer(text))
            if (good and first_valid < 0) or (bad and first_invalid < 0):
                here_valid, here_invalid = _first_lines(piece, start, good > 0 and first_valid < 0,
                                                        bad > 0 and first_invalid < 0)
                first_valid = here_valid if first_valid < 0 else first_valid
                first_invalid = here_invalid if first_invalid < 0 else first_invalid
            valid, invalid = valid + good, invalid + bad
        start = end
    return valid, invalid, first_valid, first_invalid


def _decode(name: str, data: bytes) -> tuple[str, str]:
    """The text of a CSV file and its encoding. UTF-8 (a BOM allowed) when the whole file is;
    else GB 18030 (GBK's superset) when the whole file is and none of its lines is UTF-8 text
    (_utf8_lines): a file mixing UTF-8 lines with lines in another encoding is refused, wherever
    those lines lie, never read as garbled GBK. The refusal names the first line of the kind
    there are fewer of (the first line that is not UTF-8 when there are as many)."""
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError as error:
        valid, invalid, first_valid, first_invalid = _utf8_lines(data)
        if valid and valid < invalid:
            other = _place(data, first_invalid, "utf-8").split(",")[0]
            raise ReadProblem(f"{name}: {_place(data, first_valid, 'gb18030')}: UTF-8 text, though {other} is not "
                              f"(lines beyond ASCII: {valid:,} UTF-8, {invalid:,} not): the file mixes encodings; "
                              "save it in one encoding throughout (UTF-8)") from None
        if valid:
            start = first_invalid if first_invalid >= 0 else error.start
            raise ReadProblem(f"{name}: {_place(data, start, 'utf-8')}: not UTF-8 text (byte {start} of the "
                              f"file), though {valid:,} other lines are: the file mixes encodings; save it as "
                              "UTF-8 throughout") from None
    try:
        return data.decode("gb18030"), "GBK"
    except UnicodeDecodeError as error:
        raise ReadProblem(f"{name}: {_place(data, error.start, 'gb18030')}: neither UTF-8 nor GBK text (byte "
                          f"{error.start} of the file); save the file as UTF-8 or GBK") from None


# csv.field_size_limit is one setting of the process: raised (never lowered) to the cell limit,
# and changed only under this lock, to find the column of a cell that is longer.
_CSV_LIMIT = threading.Lock()


def _csv_records(name: str, text: str, max_rows: int = TABLE_MAX_ROWS) -> list[list[str]]:
    with _CSV_LIMIT:
        if csv.field_size_limit() < CELL_MAX_CHARS:
            csv.field_size_limit(CELL_MAX_CHARS)
    records: list[list[str]] = []
    try:
        records.extend(itertools.islice(csv.reader(io.StringIO(text, newline="")), max_rows + 1))
        if len(records) > max_rows:
            raise ReadProblem(f"{name}: more than {max_rows:,} rows, the most a table of the exchange may hold "
                              "(split the register into several exchanges)")
    except csv.Error as error:
        row = len(records) + 1
        if "field larger than field limit" not in str(error):
            raise ReadProblem(f"{name}: row {row}: not CSV: {error}") from error
        header = [h.strip().upper() for h in records[0]] if records else []
        with _CSV_LIMIT:  # read that row again without the limit, to name the column
            limit = csv.field_size_limit(len(text) + 1)
            try:
                again = next(r for n, r in enumerate(csv.reader(io.StringIO(text, newline="")), start=1) if n == row)
            finally:
                csv.field_size_limit(limit)
        index = next((i for i, cell in enumerate(again) if len(cell) > CELL_MAX_CHARS), 0)
        column = f", column {shown_name(header[index])}" if row > 1 and index < len(header) else ""
        raise ReadProblem(f"{name}: row {row}{column}: more than {CELL_MAX_CHARS:,} characters, the most a cell may "
                          f"hold (a boundary of {PARCEL_MAX_VERTICES:,} vertices)") from None
    return records


# An XLSX workbook is a zip of XML parts that openpyxl reads whole (the shared strings, the
# workbook): before it is opened, its parts are counted and their sizes as the zip declares them
# (Python's zipfile never unpacks a part beyond its declared size) bounded: at most XLSX_MAX_PARTS
# parts, XLSX_MAX_BYTES bytes unpacked in all, and no part of over a megabyte unpacking to more than
# XLSX_MAX_RATIO times its packed size (Apache POI's ZipSecureFile refuses the same ratio): a zip
# bomb is refused by name before it costs memory or time.
XLSX_MAX_PARTS = 10_000
XLSX_MAX_BYTES = CSV_MAX_BYTES
XLSX_MAX_RATIO = 100
# openpyxl streams worksheets (read-only mode) but holds every other part whole, the shared
# strings at about six times their XML's size: each part not declared a worksheet in
# [Content_Types].xml unpacks to at most XLSX_WHOLE_PART_MAX_BYTES (a ratio just under
# XLSX_MAX_RATIO cost 350 MB for 60 MB of shared strings). A register that large is exchanged as CSV.
XLSX_WHOLE_PART_MAX_BYTES = 64 << 20
_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


def _check_zip(name: str, file: BinaryIO) -> None:
    """Refuse (ReadProblem) a workbook whose zip holds too many parts, unpacks to too many bytes or
    packs a part too tightly (the limits above); a file that is no zip is left to openpyxl."""
    import zipfile

    try:
        with zipfile.ZipFile(file) as archive:
            parts = archive.infolist()
            worksheets = _worksheet_parts(archive, parts)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        file.seek(0)
        return
    file.seek(0)
    if len(parts) > XLSX_MAX_PARTS:
        raise ReadProblem(f"{name}: {len(parts):,} parts, more than the {XLSX_MAX_PARTS:,} a workbook of the exchange "
                          "may hold: save it again from a spreadsheet, or export as CSV")
    total = 0
    for part in parts:
        total += part.file_size
        if part.file_size > 1 << 20 and part.file_size > XLSX_MAX_RATIO * max(part.compress_size, 1):
            raise ReadProblem(f"{name}: {shown_name(part.filename)} unpacks to {part.file_size:,} bytes from "
                              f"{part.compress_size:,} (more than {XLSX_MAX_RATIO} times): not a workbook a "
                              "spreadsheet writes (a zip bomb?); save it again, or export as CSV")
        if total > XLSX_MAX_BYTES:
            raise ReadProblem(f"{name}: unpacks to more than {XLSX_MAX_BYTES:,} bytes, the most a workbook of the "
                              "exchange may hold (split the register into several exchanges, or export as CSV)")
    for part in parts:
        if part.file_size > XLSX_WHOLE_PART_MAX_BYTES and part.filename not in worksheets:
            raise ReadProblem(f"{name}: {shown_name(part.filename)} unpacks to {part.file_size:,} bytes, more than the "
                              f"{XLSX_WHOLE_PART_MAX_BYTES:,} a workbook part read whole may hold: exchange a "
                              "register this large as CSV")


def _worksheet_parts(archive: Any, parts: list[Any]) -> set[str]:
    """The zip names [Content_Types].xml declares worksheets (streamed by openpyxl); none when it
    is missing, too large (over a megabyte) or unreadable, so every part is then bounded."""
    import zipfile
    from xml.etree import ElementTree

    manifest = next((p for p in parts if p.filename == "[Content_Types].xml"), None)
    if manifest is None or manifest.file_size > 1 << 20:
        return set()
    try:
        root = ElementTree.fromstring(archive.read(manifest))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, ElementTree.ParseError, RuntimeError):
        return set()
    return {element.get("PartName", "").lstrip("/") for element in root.iter()
            if element.tag.endswith("Override") and element.get("ContentType") == _WORKSHEET_TYPE}


def _unreadable_cell(where: str, error: Exception, header: list[Any], number: int) -> ReadProblem:
    """A ReadProblem for an error openpyxl raised while reading a sheet's cell (a t="d" cell that is
    no date, a shared string index out of range, a number like 1.2.3): the row and column are
    those openpyxl was reading (from its parser's frame), else the row after the last one read."""
    row, column = number, 0
    trace = error.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        if frame.f_code.co_name == "parse_cell" and "self" in frame.f_locals:
            parser = frame.f_locals["self"]
            row = frame.f_locals.get("row", getattr(parser, "row_counter", number))
            column = frame.f_locals.get("column", getattr(parser, "col_counter", 0))
        trace = trace.tb_next
    named = ""
    if isinstance(column, int) and column > 0:
        named = f", column {shown_name(str(header[column - 1]).strip().upper())}" if column <= len(header) and \
            header[column - 1] is not None else f", column {column}"
    detail = str(error)
    detail = shown_name(detail if len(detail) <= 60 else detail[:60] + "…")
    return ReadProblem(f"{where}: row {row}{named}: a cell that cannot be read ({type(error).__name__}: {detail}); "
                       "correct it in a spreadsheet, or export as CSV")


def _sheet_records(name: str, sheet: Any) -> list[Any]:
    """A read-only XLSX sheet's rows (values), within the sheet limits; a formula is refused (the
    exchange holds values, and a formula's cached value may be missing or stale)."""
    where = f"{name}: sheet {sheet.title!r}"
    rows, columns = sheet.max_row or 0, sheet.max_column or 0  # as the sheet declares them (may be absent)
    if rows > SHEET_MAX_ROWS or columns > SHEET_MAX_COLUMNS or rows * columns > SHEET_MAX_CELLS:
        raise ReadProblem(f"{where}: declares {rows:,} rows and {columns:,} columns; a sheet of the exchange holds at "
                          f"most {SHEET_MAX_ROWS:,} rows, {SHEET_MAX_COLUMNS} columns and {SHEET_MAX_CELLS:,} cells "
                          "(delete the empty rows and columns at its end, or split the sheet)")

    def values(cells: tuple[Any, ...], number: int) -> tuple[Any, ...]:
        for index, cell in enumerate(cells):
            if cell.data_type == "f":
                column = header[index] if index < len(header) else f"{index + 1}"
                formula = str(cell.value)
                formula = formula if len(formula) <= 40 else formula[:40] + "…"
                raise ReadProblem(f"{where}: row {number}, column {column}: a formula ({formula}), not a value: "
                                  "copy the sheet and paste values only")
        return tuple(cell.value for cell in cells)

    header: list[Any] = []
    number = 0  # the last row read
    try:  # openpyxl raises ValueError, IndexError... for a cell it cannot read
        first = next(sheet.iter_rows(min_row=1, max_row=1, max_col=SHEET_MAX_COLUMNS + 1), ())
        header, number = [c.value for c in first], 1
        if len(header) > SHEET_MAX_COLUMNS and header[SHEET_MAX_COLUMNS] is not None:
            raise ReadProblem(f"{where}: row 1: more than {SHEET_MAX_COLUMNS} columns")
        while header and header[-1] is None:
            header.pop()
        if not header:
            return []
        records: list[Any] = [values(first[:len(header)], 1)]
        cells = 0
        named = len(header)
        width = max(named, min(columns, SHEET_MAX_COLUMNS))  # the cells beyond the header are read, to refuse values
        for number, row in enumerate(sheet.iter_rows(min_row=2, max_row=SHEET_MAX_ROWS + 1, max_col=width), start=2):
            if number > SHEET_MAX_ROWS:  # openpyxl fills up to max_row only when a row lies beyond it
                raise ReadProblem(f"{where}: more than {SHEET_MAX_ROWS:,} rows (delete the empty rows at its end)")
            if not any(cell.value is not None for cell in row):
                records.append(())
                continue
            beyond = next((i for i, cell in enumerate(row[named:], start=named + 1)
                           if cell.value is not None and str(cell.value).strip()), None)
            if beyond is not None:
                raise ReadProblem(f"{where}: row {number}, column {beyond}: a value beyond the header's last column "
                                  f"({named}); name the column or empty it")
            row = row[:named]
            cells += len(row)
            if cells > SHEET_MAX_CELLS:
                raise ReadProblem(f"{where}: row {number}: more than {SHEET_MAX_CELLS:,} cells")
            records.append(values(row, number))
        return records
    except ReadProblem:
        raise
    except Exception as error:
        raise _unreadable_cell(where, error, header, number + 1) from None


# PRAGMA application_id of a GeoPackage: 'GPKG' (1.2 and later), 'GP10' and 'GP11' (1.0, 1.1).
_GEOPACKAGE_IDS = {0x47504B47, 0x47503130, 0x47503131}
# A GeoPackage geometry's bytes at most: a 2D boundary of PARCEL_MAX_VERTICES vertices (16 bytes
# each in WKB) with its headers, envelope and ring counts (a 3D boundary may have half as many).
_FEATURE_MAX_BYTES = 16 * PARCEL_MAX_VERTICES + 1024


def _read_geopackage(path: Path, descriptor: int, exchange: Exchange, limits: TableLimits) -> None:
    """Attribute tables of a GeoPackage (an SQLite file with the GeoPackage application id and
    `gpkg_contents`, OGC 12-128r18), named by the layout's table codes; the GeoPackage's own tables
    (gpkg_*, rtree_*) and any feature layers not of the layout are refused by name, so a misnamed
    table is not silently skipped. A feature layer's geometries are not read here (parcels.py
    reads them in the hardened reader), only their size checked: none above the vertex limit.

    SQLite reads the file open at `descriptor` (the regular file checked and hashed, through
    /proc/self/fd), read-only and immutable: never the file's name as a URI, where a '#' or '?'
    would open another file (or create one) and drop the read-only mode."""
    import sqlite3

    shown = shown_name(path.name)
    try:
        db = sqlite3.connect(f"file:/proc/self/fd/{descriptor}?mode=ro&immutable=1", uri=True)
    except sqlite3.DatabaseError as error:
        raise ReadProblem(f"{shown}: not a GeoPackage ({error})") from error
    try:
        try:
            (application_id,) = db.execute("PRAGMA application_id").fetchone()
            names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        except sqlite3.DatabaseError as error:
            raise ReadProblem(f"{shown}: not a GeoPackage ({error})") from error
        if application_id not in _GEOPACKAGE_IDS or "gpkg_contents" not in names:
            raise ReadProblem(f"{shown}: an SQLite file but not a GeoPackage (no GeoPackage application id or "
                              "gpkg_contents table): write it with a GIS (QGIS, GDAL) or export as CSV")
        geometry_columns: dict[str, str] = {}
        if "gpkg_geometry_columns" in names:
            geometry_columns = {t.upper(): c.lower() for t, c in db.execute(
                "SELECT table_name, column_name FROM gpkg_geometry_columns")}
        for name in names:
            lowered = name.lower()
            if lowered.startswith(("gpkg_", "rtree_", "sqlite_")) or lowered.startswith("gpkgext_"):
                continue
            table = name.upper()
            if table not in TABLES:
                raise ReadProblem(f"{shown}: table {name!r} is not a table of the layout ({', '.join(TABLES)})")
            # A feature layer's geometry is read by the hardened reader (parcels.py), never here.
            skipped = {"fid", "geom", "geometry", geometry_columns.get(table, "geom")}
            quoted = name.replace('"', '""')
            if table in geometry_columns:
                if table != "ZDJBXX":
                    raise ReadProblem(f"{shown}: table {name!r} has geometry; only ZDJBXX is a feature layer")
                exchange.feature_layers.add(table)
                column = geometry_columns[table].replace('"', '""')
                big = db.execute(f'SELECT rowid, length("{column}") FROM "{quoted}" '  # noqa: S608 (quoted names)
                                 f'WHERE length("{column}") > ? LIMIT 1', (_FEATURE_MAX_BYTES,)).fetchone()
                if big is not None:
                    raise ReadProblem(f"{shown}[{table}]: feature {big[0]}: a geometry of {big[1]:,} bytes, more "
                                      f"than a boundary of {PARCEL_MAX_VERTICES:,} vertices takes")
            (count,) = db.execute(f'SELECT count(*) FROM "{quoted}"').fetchone()  # noqa: S608 (quoted name)
            if count + 1 > limits.rows:  # the header row counts, as in a CSV file
                raise ReadProblem(f"{shown}[{table}]: {count:,} rows, more than the {limits.rows - 1:,} a table "
                                  "of the exchange may hold (split the register into several exchanges)")
            columns = [d[0] for d in db.execute(f'SELECT * FROM "{quoted}" LIMIT 0').description  # noqa: S608
                       if d[0].lower() not in skipped]
            if columns:  # the cells' bytes, counted before they are read (as a CSV file's are)
                lengths = " + ".join('coalesce(length(CAST("{}" AS BLOB)), 0)'.format(c.replace('"', '""'))
                                     for c in columns)
                (size,) = db.execute(f'SELECT coalesce(sum({lengths}), 0) FROM "{quoted}"').fetchone()  # noqa: S608
                if size > limits.csv_bytes:
                    raise ReadProblem(f"{shown}[{table}]: {size:,} bytes of cells, more than the {limits.csv_bytes:,} "
                                      "a table of the exchange may hold (split the register into several exchanges)")
            cursor = db.execute(f'SELECT * FROM "{quoted}"')  # noqa: S608 (a table name read from the file, quoted)
            header = [d[0] for d in cursor.description if d[0].lower() not in skipped]
            keep = [i for i, d in enumerate(cursor.description) if d[0].lower() not in skipped]
            records: list[list[Any]] = [list(header)]
            records.extend([row[i] for i in keep] for row in cursor)
            exchange.tables[table] = _rows(f"{shown}[{table}]", table, records)
            exchange.encodings[f"{shown}[{table}]"] = "GeoPackage"
    except sqlite3.DatabaseError as error:
        raise ReadProblem(f"{shown}: the GeoPackage cannot be read ({error})") from error
    finally:
        db.close()


def _open_regular(path: Path) -> int:
    """A descriptor of the regular file at `path`, opened without following a symbolic link and
    without waiting on a pipe (O_NOFOLLOW | O_NONBLOCK); a link, directory, device, pipe or
    socket is refused by name (ReadProblem), never read: a link could reach any file the process
    may read (and echo it into a message), /dev/zero never ends, a pipe never answers."""
    name = shown_name(path.name)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ReadProblem(f"{name}: a symbolic link; give the file itself") from None
        raise ReadProblem(f"{name}: cannot be opened ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ReadProblem(f"{name}: not a regular file (a directory, device, pipe or socket); give a file")
    return descriptor


def _read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (_open_regular) of at most `limit` bytes, else ReadProblem;
    never more than limit + 1 bytes are read, whatever the file's size claims."""
    descriptor = _open_regular(path)
    with os.fdopen(descriptor, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size <= limit:
            data = file.read(limit + 1)
        if size > limit or len(data) > limit:
            raise ReadProblem(f"{shown_name(path.name)}: {max(size, limit + 1):,} bytes or more, more than the "
                              f"{limit:,} a CSV table of the exchange may hold (split the register into several "
                              "exchanges)")
    return data


def _file_sha256(file: BinaryIO) -> bytes:
    digest = hashlib.sha256()
    while chunk := file.read(1 << 20):
        digest.update(chunk)
    file.seek(0)
    return digest.digest()


def read_exchange(path: Path, limits: TableLimits = TableLimits()) -> Exchange:  # noqa: B008 (frozen)
    """Read a directory of CSV files, an .xlsx workbook or a .gpkg GeoPackage. Raises ReadProblem
    when a file cannot be read, a header is wrong or a limit of layout.py or `limits` is passed
    (with the exchange's SHA-256 when its files could be hashed; a CSV file over
    `limits.csv_bytes` is refused before it is read, so without one); the values themselves are
    checked by `validation`."""
    exchange = Exchange()
    digest = hashlib.sha256()
    try:
        if path.is_symlink():
            raise ReadProblem(f"{shown_name(path.name)}: a symbolic link; give the directory or file itself")
        if path.is_dir():
            files: dict[str, Path] = {}
            for p in sorted(path.iterdir()):
                if p.suffix.lower() != ".csv":
                    continue
                if not p.name.isprintable() or UNSAFE_CHARACTERS.search(p.name):
                    raise ReadProblem(f"{shown_name(p.name)}: a file name with unprintable characters; rename it")
                other = files.setdefault(p.stem.upper(), p)
                if other != p:
                    raise ReadProblem(f"{other.name} and {p.name}: two files for the table {p.stem.upper()}; keep one")
            strays = [name for name in files if name not in TABLES]
            if strays:
                raise ReadProblem(f"{files[strays[0]].name}: not a table of the layout ({', '.join(TABLES)})")
            if not files:
                raise ReadProblem(f"{shown_name(str(path))}: no .csv table of the layout in this directory")
            for file in files.values():  # every file a regular one within the limit before any is read
                descriptor = _open_regular(file)
                size = os.fstat(descriptor).st_size
                os.close(descriptor)
                if size > limits.csv_bytes:
                    raise ReadProblem(f"{file.name}: {size:,} bytes, more than the {limits.csv_bytes:,} a CSV table "
                                      "of the exchange may hold (split the register into several exchanges)")
            contents = {}
            for table, file in files.items():
                contents[table] = data = _read_limited(file, limits.csv_bytes)
                digest.update(file.name.encode() + b"\0" + hashlib.sha256(data).digest())
            exchange.sha256 = digest.hexdigest()
            for table, file in files.items():
                text, encoding = _decode(file.name, contents.pop(table))
                exchange.encodings[file.name] = encoding
                records = _csv_records(file.name, text, limits.rows)
                del text
                if records:  # the rows are built when first asked for (Exchange.rows)
                    exchange.parsed[table] = _Parsed(file.name, _header(file.name, table, records), records)
        elif path.suffix.lower() == ".xlsx":
            from openpyxl import load_workbook

            shown = shown_name(path.name)
            workbook = os.fdopen(_open_regular(path), "rb")
            try:  # formulas as formulas (data_only=False), to refuse them by name
                exchange.sha256 = _file_sha256(workbook).hex()
                _check_zip(shown, workbook)
                book = load_workbook(workbook, read_only=True, data_only=False)
            except ReadProblem:
                workbook.close()
                raise
            except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
                workbook.close()
                raise ReadProblem(f"{shown}: not an XLSX workbook ({type(error).__name__})") from error
            try:
                for sheet in book.worksheets:
                    table = sheet.title.strip().upper()
                    if table not in TABLES:
                        raise ReadProblem(f"{shown}: sheet {sheet.title!r} is not a table of the layout "
                                          f"({', '.join(TABLES)})")
                    if table in exchange.tables:
                        raise ReadProblem(f"{shown}: two sheets for the table {table}; keep one")
                    exchange.tables[table] = _rows(f"{shown}[{table}]", table, _sheet_records(shown, sheet))
                    exchange.encodings[f"{shown}[{table}]"] = "XLSX"
            finally:
                book.close()
                workbook.close()
        elif path.suffix.lower() == ".gpkg":
            with os.fdopen(_open_regular(path), "rb") as geopackage:
                exchange.sha256 = _file_sha256(geopackage).hex()
                _read_geopackage(path, geopackage.fileno(), exchange, limits)
        else:
            raise ReadProblem(f"{shown_name(path.name)}: give a directory of .csv tables, an .xlsx workbook or a .gpkg "
                              "GeoPackage")
    except ReadProblem as problem:
        problem.sha256 = exchange.sha256
        raise
    exchange.path = path
    return exchange
