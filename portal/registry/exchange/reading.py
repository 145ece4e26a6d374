"""Reading an exchange: a directory of `<TABLE>.csv` files (UTF-8, with or without BOM, or
GBK/GB 18030), one XLSX workbook with a sheet per table, or a GeoPackage with an attribute
table per table, into rows that know their place.

Row numbers are those a person sees: the header is row 1, the first record row 2 (the CSV line
or the spreadsheet row). Cells are text, stripped; empty cells are None; XLSX dates and numbers
come as Python values and are turned into text the same way a CSV would carry them. A CSV cell
of a single quote followed by = + - @ TAB CR or another single quote loses that first quote: the
exporter adds it so that spreadsheets never read a cell as a formula (docs/register-exchange.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.registry.exchange.layout import TABLES

__all__ = ["Row", "Exchange", "ReadProblem", "read_exchange", "csv_value"]

# A CSV cell the exporter escaped against formula injection: one single quote before one of these.
_ESCAPED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_value(cell: str) -> str:
    """A CSV cell's value: the single quote the exporter puts before = + - @ TAB CR or a single
    quote (exporting.csv_cell, OWASP CSV injection) taken off; any other cell as it is."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_ESCAPED_STARTS) else cell


@dataclass(frozen=True)
class Row:
    file: str
    number: int
    values: dict[str, str | None]

    def get(self, column: str) -> str | None:
        """The cell, stripped; None when empty or blank (CSV cells are stripped when read)."""
        value = self.values.get(column)
        return (value.strip() or None) if value else None


@dataclass
class Exchange:
    """The tables read (a missing table is an empty one), the files' SHA-256 and encodings."""

    tables: dict[str, list[Row]] = field(default_factory=dict)
    sha256: str = ""
    encodings: dict[str, str] = field(default_factory=dict)
    path: Path = Path()
    feature_layers: set[str] = field(default_factory=set)  # GeoPackage tables with a geometry column

    def rows(self, table: str) -> list[Row]:
        return self.tables.get(table, [])


class ReadProblem(ValueError):
    """The exchange cannot be read at all: the message names the file (and row or column)."""


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _rows(file: str, table: str, records: list[list[Any]], *, text: bool = False) -> list[Row]:
    if not records:
        return []
    header = [str(h).strip().upper() if h is not None else "" for h in records[0]]
    known = set(TABLES[table].codes)
    unknown = [h for h in header if h and h not in known]
    if unknown:
        raise ReadProblem(f"{file}: row 1: unknown column {unknown[0]} (the columns of {table} are "
                          f"{', '.join(TABLES[table].codes)})")
    missing = [c.code for c in TABLES[table].columns if c.required and c.code not in header]
    if missing:
        raise ReadProblem(f"{file}: row 1: the required column {missing[0]} is missing")
    rows = []
    named = [(i, h) for i, h in enumerate(header) if h]
    for number, record in enumerate(records[1:], start=2):
        if text:  # CSV cells are text already: kept as read, stripped when a cell is read (Row.get)
            if not "".join(record).strip():
                continue
            values: dict[str, str | None] = dict(zip(header, map(csv_value, record), strict=False))
            values.pop("", None)
        else:
            values = {h: _cell(record[i]) if i < len(record) else None for i, h in named}
            if not any(values.values()):
                continue
        rows.append(Row(file, number, values))
    return rows


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GBK"
    except UnicodeDecodeError as error:
        raise ReadProblem(f"{path.name}: neither UTF-8 nor GBK text (byte {error.start})") from error


def _read_geopackage(path: Path, exchange: Exchange) -> None:
    """Attribute tables of a GeoPackage (an SQLite file), named by the layout's table codes; the
    GeoPackage's own tables (gpkg_*, rtree_*) and any feature layers not of the layout are refused
    by name, so a misnamed table is not silently skipped."""
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        geometry_columns: dict[str, str] = {}
        if "gpkg_geometry_columns" in names:
            geometry_columns = {t.upper(): c.lower() for t, c in db.execute(
                "SELECT table_name, column_name FROM gpkg_geometry_columns")}
    except sqlite3.DatabaseError as error:
        raise ReadProblem(f"{path.name}: not a GeoPackage ({error})") from error
    try:
        for name in names:
            lowered = name.lower()
            if lowered.startswith(("gpkg_", "rtree_", "sqlite_")) or lowered.startswith("gpkgext_"):
                continue
            table = name.upper()
            if table not in TABLES:
                raise ReadProblem(f"{path.name}: table {name!r} is not a table of the layout ({', '.join(TABLES)})")
            # A feature layer's geometry is read by the hardened reader (parcels.py), never here.
            skipped = {"fid", "geom", "geometry", geometry_columns.get(table, "geom")}
            if table in geometry_columns:
                if table != "ZDJBXX":
                    raise ReadProblem(f"{path.name}: table {name!r} has geometry; only ZDJBXX is a feature layer")
                exchange.feature_layers.add(table)
            quoted = name.replace('"', '""')
            cursor = db.execute(f'SELECT * FROM "{quoted}"')  # noqa: S608 (a table name read from the file, quoted)
            header = [d[0] for d in cursor.description if d[0].lower() not in skipped]
            keep = [i for i, d in enumerate(cursor.description) if d[0].lower() not in skipped]
            records: list[list[Any]] = [list(header)]
            records.extend([row[i] for i in keep] for row in cursor)
            exchange.tables[table] = _rows(f"{path.name}[{table}]", table, records)
            exchange.encodings[f"{path.name}[{table}]"] = "GeoPackage"
    finally:
        db.close()


def read_exchange(path: Path) -> Exchange:
    """Read a directory of CSV files, an .xlsx workbook or a .gpkg GeoPackage. Raises ReadProblem
    when a file cannot be read or a header is wrong; the values themselves are checked by
    `validation`."""
    exchange = Exchange()
    digest = hashlib.sha256()
    if path.is_dir():
        files = {p.stem.upper(): p for p in sorted(path.iterdir()) if p.suffix.lower() == ".csv"}
        strays = [name for name in files if name not in TABLES]
        if strays:
            raise ReadProblem(f"{files[strays[0]].name}: not a table of the layout ({', '.join(TABLES)})")
        if not files:
            raise ReadProblem(f"{path}: no .csv table of the layout in this directory")
        for table, file in files.items():
            data = file.read_bytes()
            digest.update(file.name.encode() + b"\0" + hashlib.sha256(data).digest())
            text, encoding = _decode(file, data)
            exchange.encodings[file.name] = encoding
            try:
                records = list(csv.reader(io.StringIO(text, newline="")))
            except csv.Error as error:
                raise ReadProblem(f"{file.name}: not CSV: {error}") from error
            exchange.tables[table] = _rows(file.name, table, records, text=True)
    elif path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        data = path.read_bytes()
        digest.update(data)
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
            raise ReadProblem(f"{path.name}: not an XLSX workbook ({type(error).__name__})") from error
        try:
            for sheet in book.worksheets:
                table = sheet.title.strip().upper()
                if table not in TABLES:
                    raise ReadProblem(f"{path.name}: sheet {sheet.title!r} is not a table of the layout "
                                      f"({', '.join(TABLES)})")
                records = [list(r) for r in sheet.iter_rows(values_only=True)]
                exchange.tables[table] = _rows(f"{path.name}[{table}]", table, records)
                exchange.encodings[f"{path.name}[{table}]"] = "XLSX"
        finally:
            book.close()
    elif path.suffix.lower() == ".gpkg":
        data = path.read_bytes()
        digest.update(data)
        _read_geopackage(path, exchange)
    else:
        raise ReadProblem(f"{path.name}: give a directory of .csv tables, an .xlsx workbook or a .gpkg GeoPackage")
    exchange.sha256 = digest.hexdigest()
    exchange.path = path
    return exchange
