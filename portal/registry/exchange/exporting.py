"""Exporting the register in the exchange layout, and the checksums that prove a round trip.

Every object is one row, as the old systems keep them: its registration time DJSJ is the
beginning of its first version, its values those of its last version, its end (ZXSJ, JFSJ) the
end of a right's last version or the beginning of a restriction's final (ended) version. A row
imported before keeps its old system's BSM; any other row gets `cadastre-<id>`. Identity numbers
are masked (GB 11643 / GB 32100 numbers keep their first 3 and last 2 characters) unless
`unmasked`, which is for a registrar moving the register to another installation and is
audited as such; a masked export is for reading, and does not import again. The register keeps
the masked form (`parties.id_document_masked`); an unmasked export opens each sealed number
with the installation's seal key (`security.unseal_identity`; SealBroken when the key is not
the one that sealed it).

The checksum of a table is the SHA-256 of its canonical rows (each row's values in the
layout's column order, joined by U+001F, rows sorted, joined by newlines): two exports hold the
same register exactly when their checksums are equal, whatever the row order or format.

Files are safe to open in a spreadsheet (OWASP, "CSV Injection"): an XLSX cell is always written
as a string (data type `s`, with the quote prefix when it starts like a formula), never as a
formula; a CSV cell that starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a single
quote gets one more single quote in front (`csv_cell`), which the importer takes off again
(`reading.csv_value`), so an export imports to the same checksums. A value that XLSX cannot hold
(a control character) stops the export with ExportProblem naming the table, row and column,
before any file is written. Files are written readable by their owner only (0600, a new directory
0700): an unmasked export holds identity numbers in full. Each file is written to a new file
in its folder and renamed into place, so a symbolic link is replaced, never followed; an export
path that is a link is refused, and an existing folder's mode is left as it is.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import psycopg

from portal.accounts.security import IdentityKeys, SealBroken, identity_keys, unseal_identity
from portal.audit.trail import AuditEntry, record
from portal.registry.exchange.layout import (
    CO_OWNERSHIP,
    DOCUMENT_TYPES,
    ENDED,
    MORTGAGE_KINDS,
    RESTRICTION_TABLES,
    RIGHT_KINDS,
    SOURCE_KINDS,
    STATUSES,
    TABLE_ORDER,
    TABLES,
    UNIT_USES,
    reverse,
)
from portal.registry.exchange.reading import shown_name

__all__ = ["export_tables", "export_register", "write_tables", "checksums", "template", "csv_cell", "ExportProblem",
           "FORMULA_STARTS"]

# Cell starts a spreadsheet reads as a formula (OWASP CSV injection), and the quote that escapes them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_STARTS = (*FORMULA_STARTS, "'")
# What the XLSX format cannot store (openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE).
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
XLSX_CELL_LIMIT = 32_767
"""Characters an XLSX cell holds at most (a parcel's WKT may be longer)."""


class ExportProblem(ValueError):
    """The register holds a value the format cannot carry: the message names table, row and column."""


def csv_cell(value: str) -> str:
    """The value as a CSV cell: one single quote in front when it starts with = + - @ TAB CR or
    a single quote, so no spreadsheet runs it as a formula (undone by `reading.csv_value`)."""
    return "'" + value if value.startswith(_ESCAPED_STARTS) else value

Table = list[dict[str, str]]

_PARTIES = """
SELECT p.party_id, coalesce(e.old_id, 'cadastre-' || p.party_id), p.name, p.kind, p.id_document_type,
       p.id_document_masked, p.id_document_digest, p.id_document_sealed
  FROM parties p LEFT JOIN exchange_ids e ON e.exchange_table = 'QLR' AND e.object_id = p.party_id
 WHERE p.end_lifespan IS NULL
"""
_UNITS = """
SELECT coalesce(e.old_id, 'cadastre-' || u.unit_id), u.unit_number, u.location, u.floor_area, u.use,
       (SELECT min(begin_lifespan) FROM units f WHERE f.unit_id = u.unit_id)
  FROM units u LEFT JOIN exchange_ids e ON e.exchange_table = 'BDCDY' AND e.object_id = u.unit_id
 WHERE u.end_lifespan IS NULL
"""
# The last version of every object, with its first version's beginning and source.
_RIGHTS = """
SELECT DISTINCT ON (r.right_id) r.right_id, r.version_id, coalesce(e.old_id, 'cadastre-' || r.right_id),
       (SELECT unit_number FROM units u WHERE u.unit_id = r.unit_id ORDER BY u.version DESC LIMIT 1),
       r.kind, r.co_ownership, r.certificate_number, f.begin_lifespan, r.end_lifespan, s.reference, s.issuer,
       s.source_id, e.row_source
  FROM rights r
  JOIN rights f ON f.right_id = r.right_id AND f.version = 1
  JOIN sources s ON s.source_id = f.source_id
  LEFT JOIN exchange_ids e ON e.exchange_table = 'QL' AND e.object_id = r.right_id
 ORDER BY r.right_id, r.version DESC
"""
_HOLDERS = "SELECT right_version_id, party_id, share_numerator, share_denominator FROM right_holders " \
           "WHERE right_version_id = ANY(%s)"
_RESTRICTIONS = """
SELECT DISTINCT ON (x.restriction_id) x.restriction_id, coalesce(e.old_id, 'cadastre-' || x.restriction_id),
       (SELECT unit_number FROM units u WHERE u.unit_id = x.unit_id ORDER BY u.version DESC LIMIT 1),
       x.status, x.party_id, x.secured_amount, x.maximum_amount, x.rank, x.term_start, x.term_end, x.court,
       x.document_number, x.queue_position, x.reason, f.begin_lifespan, x.begin_lifespan, s.reference, s.issuer,
       s.source_id, e.row_source
  FROM restrictions x
  JOIN restrictions f ON f.restriction_id = x.restriction_id AND f.version = 1
  JOIN sources s ON s.source_id = f.source_id
  LEFT JOIN exchange_ids e ON e.exchange_table = %s AND e.object_id = x.restriction_id
 WHERE x.kind = %s
 ORDER BY x.restriction_id, x.version DESC
"""

# Current parcels, their boundary as surveyed (WKT in the surveyed CRS, x = easting or longitude).
_PARCELS = """
SELECT coalesce(e.old_id, 'cadastre-' || p.parcel_id), p.parcel_code, p.land_use_code, p.declared_area,
       ST_AsText(p.survey_geom), ST_SRID(p.survey_geom)
  FROM parcels p LEFT JOIN exchange_ids e ON e.exchange_table = 'ZDJBXX' AND e.object_id = p.parcel_id
 WHERE p.end_lifespan IS NULL
"""
# The source documents the rows cite (each object's first version's source).
_SOURCES = """
SELECT s.source_id, coalesce(e.old_id, 'cadastre-' || s.source_id), s.kind, s.reference, s.issued_on, s.issuer,
       s.description
  FROM sources s LEFT JOIN exchange_ids e ON e.exchange_table = 'SJ' AND e.object_id = s.source_id
 WHERE s.source_id = ANY(%s)
"""


def _text(value: Any, zone: dt.tzinfo) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return str(value)


def _opened(seal: bytes, party_id: int, digest: bytes, sealed: bytes) -> str:
    try:
        return unseal_identity(seal, bytes(digest), bytes(sealed))
    except SealBroken:
        raise ExportProblem(f"QLR: party {party_id}: the identity number cannot be opened with this installation's "
                            "seal key (identity-seal.key or CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY): put the key the "
                            "register was recorded with in place, or export masked") from None


def _row(table: str, zone: dt.tzinfo, **values: Any) -> dict[str, str]:
    return {c: _text(values.get(c), zone) for c in TABLES[table].codes}


def export_tables(conn: psycopg.Connection, zone: dt.tzinfo, *, unmasked: bool = False,
                  keys: IdentityKeys | None = None) -> dict[str, Table]:
    """The register as the layout's tables (rows of column code -> text), in one snapshot.
    `unmasked` opens the sealed identity numbers with `keys` (the environment's when not given);
    raises ExportProblem when one does not open under them."""
    tables: dict[str, Table] = {t: [] for t in TABLE_ORDER}
    doc_codes, right_codes, form_codes = reverse(DOCUMENT_TYPES), reverse(RIGHT_KINDS), reverse(CO_OWNERSHIP)
    use_codes, mortgage_codes = reverse(UNIT_USES), reverse(MORTGAGE_KINDS)
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one snapshot for every table
    for bsm, code, land_use, area, wkt, epsg in conn.execute(_PARCELS):
        tables["ZDJBXX"].append(_row("ZDJBXX", zone, BSM=bsm, ZDDM=code, YT=land_use, ZDMJ=area, WKT=wkt, EPSG=epsg))
    party_bsm: dict[int, str] = {}
    seal = (keys or identity_keys()).seal if unmasked else b""
    for party_id, bsm, name, kind, doc_type, masked, digest, sealed in conn.execute(_PARTIES):
        party_bsm[party_id] = bsm
        tables["QLR"].append(_row("QLR", zone, BSM=bsm, QLRMC=name, QLRLX="1" if kind == "natural_person" else "2",
                                  ZJZL=doc_codes[doc_type],
                                  ZJH=_opened(seal, party_id, digest, sealed) if unmasked else masked))
    for bsm, number, location, area, use, begin in conn.execute(_UNITS):
        tables["BDCDY"].append(_row("BDCDY", zone, BSM=bsm, BDCDYH=number, ZDDM=number[:19], ZL=location,
                                    JZMJ=area, YT=use_codes[use], DJSJ=begin))
    rights = conn.execute(_RIGHTS).fetchall()
    holders: dict[int, list[tuple[int, int | None, int | None]]] = {}
    for version_id, party_id, n, d in conn.execute(_HOLDERS, ([r[1] for r in rights],)):
        holders.setdefault(version_id, []).append((party_id, n, d))
    restrictions = {table: conn.execute(_RESTRICTIONS, (table, kind)).fetchall()
                    for table, kind in RESTRICTION_TABLES.items()}
    # A row imported with its own YWH, DBR and SJBSM (exchange_ids.row_source) is written back as it
    # came, citing the SJ document it cited, or none (the import made its document of YWH and DBR);
    # any other row cites the source of its object's first version.
    every = [*rights, *(r for rows in restrictions.values() for r in rows)]
    cited = {r[-2] for r in every if r[-1] is None}
    named = sorted({r[-1]["SJBSM"] for r in every if r[-1] is not None and r[-1].get("SJBSM")})
    cited |= {i for (i,) in conn.execute("SELECT object_id FROM exchange_ids WHERE exchange_table = 'SJ' "
                                         "AND old_id = ANY(%s)", (named,))}
    source_bsm: dict[int, str] = {}
    kind_codes = reverse(SOURCE_KINDS)
    for source_id, bsm, kind, reference, issued_on, issuer, description in conn.execute(_SOURCES, (sorted(cited),)):
        source_bsm[source_id] = bsm
        tables["SJ"].append(_row("SJ", zone, BSM=bsm, SJLX=kind_codes[kind], WJBH=reference, WJRQ=issued_on,
                                 FZJG=issuer, SJMC=description))
    def own(reference: str, issuer: str, source_id: int, row: dict[str, str | None] | None) -> dict[str, Any]:
        if row is not None:
            return {"YWH": row.get("YWH"), "DBR": row.get("DBR"), "SJBSM": row.get("SJBSM")}
        return {"YWH": reference, "DBR": issuer, "SJBSM": source_bsm[source_id]}

    for (_, version_id, bsm, unit, kind, form, certificate, begin, end, reference, issuer, source_id,
         row_source) in rights:
        tables["QL"].append(_row("QL", zone, BSM=bsm, BDCDYH=unit, QLLX=right_codes[kind], GYFS=form_codes[form],
                                 BDCQZH=certificate, DJSJ=begin, ZXSJ=end, QXDM=unit[:6],
                                 **own(reference, issuer, source_id, row_source)))
        for party_id, n, d in holders.get(version_id, []):
            tables["QLRGX"].append(_row("QLRGX", zone, BSM=f"{bsm}/{party_bsm.get(party_id, party_id)}",
                                        QLBSM=bsm, QLRBSM=party_bsm.get(party_id, f"cadastre-{party_id}"),
                                        QLBL=Fraction(n, d) if n is not None and d is not None else None))
    for table, kind in RESTRICTION_TABLES.items():
        status_codes = reverse(STATUSES[kind])
        for (_, bsm, unit, status, party_id, amount, maximum, rank, start, stop, court, document, place, reason,
             begin, last_begin, reference, issuer, source_id, row_source) in restrictions[table]:
            party = party_bsm.get(party_id, f"cadastre-{party_id}") if party_id is not None else None
            ended = last_begin if status in ENDED else None
            common = {"BSM": bsm, "BDCDYH": unit, "DJSJ": begin, "ZT": status_codes[status],
                      **own(reference, issuer, source_id, row_source)}
            if kind == "mortgage":
                row = _row(table, zone, **common, DYQRBSM=party, DYFS=mortgage_codes[maximum],
                           BDBZZQSE=amount, DYSW=rank, ZWLXQSSJ=start, ZWLXJSSJ=stop, ZXSJ=ended)
            elif kind == "seizure":
                row = _row(table, zone, **common, CFJG=court, CFWH=document, CFQSSJ=start, CFJSSJ=stop,
                           LHSX=place, JFSJ=ended)
            elif kind == "objection":
                row = _row(table, zone, **common, SQRBSM=party, YYSX=reason, ZXSJ=ended)
            else:
                row = _row(table, zone, **common, QLRBSM=party, YGDJZL=reason, ZXSJ=ended)
            tables[table].append(row)
    return tables


def checksums(tables: dict[str, Table]) -> dict[str, str]:
    """Per table: SHA-256 of the sorted canonical rows (see the module docstring)."""
    out = {}
    for table in TABLE_ORDER:
        lines = sorted("\x1f".join(row.get(c, "") or "" for c in TABLES[table].codes) for row in tables.get(table, []))
        out[table] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return out


def write_tables(tables: dict[str, Table], path: Path, *, encoding: str = "utf-8") -> None:
    """Write the tables as `<TABLE>.csv` files in the directory `path`, as an .xlsx workbook, or
    as a .gpkg GeoPackage, readable by the owner only (files 0600, a new directory 0700; an
    existing directory keeps its mode). Never writes through a symbolic link: raises
    ExportProblem when `path` (or a file in it) is one, and, before writing anything, for a
    value an .xlsx workbook cannot hold."""
    if path.suffix.lower() == ".gpkg":
        _refuse_link(path)
        _write_geopackage(tables, path)
        return
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        for table in TABLE_ORDER:
            for row in tables.get(table, []):
                for code in TABLES[table].codes:
                    if _ILLEGAL_XLSX.search(row.get(code) or ""):
                        raise ExportProblem(f"{table} {row.get('BSM') or ''}: column {code} holds a control "
                                            "character an XLSX workbook cannot store; correct the register or "
                                            "export as CSV")
                    if len(row.get(code) or "") > XLSX_CELL_LIMIT:
                        raise ExportProblem(f"{table} {row.get('BSM') or ''}: column {code} holds more than "
                                            f"{XLSX_CELL_LIMIT:,} characters, more than an XLSX cell can; export as "
                                            "CSV or GeoPackage")
        book = Workbook(write_only=True)
        for table in TABLE_ORDER:
            sheet = book.create_sheet(table)
            codes = TABLES[table].codes
            sheet.append(list(codes))
            for row in tables.get(table, []):
                sheet.append([_xlsx_cell(sheet, row.get(c)) for c in codes])
        workbook = io.BytesIO()
        book.save(workbook)
        _write_private(path, workbook.getvalue())
        return
    _folder(path)
    for table in TABLE_ORDER:  # every file checked before the first is written
        _refuse_link(path / f"{table}.csv")
    for table in TABLE_ORDER:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(TABLES[table].codes)
        writer.writerows([csv_cell(row.get(c, "") or "") for c in TABLES[table].codes] for row in tables.get(table, []))
        _write_private(path / f"{table}.csv", buffer.getvalue().encode(encoding))


def _write_geopackage(tables: dict[str, Table], path: Path) -> None:
    """A GeoPackage (OGC 12-128r18) with an attribute table per table that has rows; ZDJBXX is a
    feature layer (MultiPolygon, x = easting or longitude) when its parcels share one CRS, which is
    the layer's, and otherwise an attribute table with WKT and EPSG like a CSV file. Written in a
    private directory and moved into place, so it is never readable by others, even briefly."""
    import tempfile

    import numpy as np
    import pandas
    import pyogrio
    import shapely
    from pyogrio.raw import write

    with tempfile.TemporaryDirectory(dir=path.parent) as private:
        scratch = Path(private) / path.name
        for table in TABLE_ORDER:
            rows = tables.get(table, [])
            if not rows:
                continue
            codes = list(TABLES[table].codes)
            crs = {row.get("EPSG") for row in rows} if table == "ZDJBXX" else set()
            if table == "ZDJBXX" and len(crs) == 1:
                shapes = shapely.from_wkt([row["WKT"] for row in rows])
                owners = np.repeat(np.arange(len(rows)), shapely.get_num_geometries(shapes))
                geoms = shapely.multipolygons(shapely.get_parts(shapes), indices=owners)
                fields = [c for c in codes if c not in ("WKT", "EPSG")]
                write(scratch, geometry=np.asarray(shapely.to_wkb(geoms), dtype=object),
                      field_data=[np.asarray([row.get(c) or None for row in rows], dtype=object) for c in fields],
                      fields=fields, layer=table, driver="GPKG", geometry_type="MultiPolygon",
                      crs=f"EPSG:{crs.pop()}", append=scratch.exists())
            else:
                pyogrio.write_dataframe(_frame(pandas, rows, codes), scratch, layer=table, driver="GPKG",
                                        append=scratch.exists())
        if not scratch.exists():  # nothing to write: a GeoPackage of one empty attribute table
            pyogrio.write_dataframe(pandas.DataFrame({c: pandas.Series(dtype=str) for c in TABLES["QLR"].codes}),
                                    scratch, layer="QLR", driver="GPKG")
        scratch.chmod(0o600)
        os.replace(scratch, path)


def _frame(pandas: Any, rows: Table, codes: list[str]) -> Any:
    return pandas.DataFrame({c: [row.get(c) or None for row in rows] for c in codes}, dtype=object)


def _xlsx_cell(sheet: Any, value: str | None) -> Any:
    """A string cell, never a formula: data type `s`, quote-prefixed when it starts like one."""
    from openpyxl.cell import WriteOnlyCell

    if not value:
        return None
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    if value.startswith(_ESCAPED_STARTS):
        cell.quotePrefix = True
    return cell


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise ExportProblem(f"{shown_name(path.name)} is a symbolic link: an export is never written through one; "
                            "give a new path")


def _folder(path: Path) -> None:
    """The export folder: made private (0700) when new; an existing folder (not a symbolic link)
    is used as it is, its mode untouched: each file is private on its own."""
    _refuse_link(path)
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise ExportProblem(f"{shown_name(path.name)} exists and is not a folder") from None


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, mode 0600: into a new file of the same folder (O_EXCL, made by
    `tempfile.mkstemp`) renamed over `path`, so a symbolic link at `path` is replaced, never
    followed, and no one reads a half-written file. A `path` that is a link is refused first."""
    import tempfile

    _refuse_link(path)
    descriptor, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(data)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def template(path: Path) -> None:
    """An empty exchange: every table with its header row (CSV directory or .xlsx workbook)."""
    write_tables({}, path)


def export_register(conn: psycopg.Connection, path: Path, *, zone: dt.tzinfo, actor_user_id: int | None,
                    actor_role: str = "registrar", unmasked: bool = False,
                    keys: IdentityKeys | None = None) -> dict[str, str]:
    """Write the register to `path` and audit it (action `register_export`, with the checksums
    and whether identity numbers left unmasked). Returns the per-table checksums. Raises
    ExportProblem (audited as a failure, no file written) for a value the format cannot hold, a
    stored value the database driver cannot read (psycopg.DataError: a time before year 1) or a
    path that is a symbolic link; an OSError (no room, no permission) is audited as a failure too."""
    try:
        try:
            tables = export_tables(conn, zone, unmasked=unmasked, keys=keys)
        except psycopg.DataError as error:  # a stored value Python cannot hold (a time before year 1)
            raise ExportProblem(f"the register holds a value the export cannot read ({error}); nothing exported: "
                                "correct that value in the register first") from error
        write_tables(tables, path)
    except (ExportProblem, OSError) as problem:  # audited as a failure either way
        conn.rollback()
        record(conn, AuditEntry(action="register_export", actor_user_id=actor_user_id, actor_role=actor_role,
                                subject=shown_name(path.name), purpose="unmasked" if unmasked else "masked",
                                outcome="failure",
                                detail={"unmasked": unmasked, "problem": str(problem)}))
        conn.commit()
        raise
    sums = checksums(tables)
    record(conn, AuditEntry(action="register_export", actor_user_id=actor_user_id, actor_role=actor_role,
                            access="consulted", subject=shown_name(path.name),
                            purpose="unmasked" if unmasked else "masked",
                            detail={"unmasked": unmasked, "checksums": sums, "rows": _counts(tables)}))
    conn.commit()
    return sums


def _counts(tables: dict[str, Table]) -> dict[str, int]:
    return {t: len(rows) for t, rows in tables.items()}
