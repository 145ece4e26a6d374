"""The submission workflow: a surveyor's upload from draft to the published cadastre.

    draft ──submit──> submitted ──approve──> approved (published, cites a source)
      │                   └──────reject───> rejected (with the registrar's reasons)
      └──withdraw──> withdrawn

The uploaded file is kept as evidence. It is read once, at upload, and what was read is kept
with the submission (its parcels in their survey CRS and in lon/lat, their attributes, the
reader's warnings); every step that can publish validates those parcels again against the
cadastre as it is at that moment, without reading the file again: approval does so under the
publication lock, so a parcel that became current after the upload is never overlapped. A
step that is refused raises and leaves the database as it was. Callers pass a psycopg
connection; this module commits or rolls back itself, one transaction per step.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psycopg
import shapely
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from portal.audit.trail import committed_as
from portal.platform.errors import CadastreError
from portal.platform.permissions import Action, Principal
from portal.platform.rows import one_row
from portal.platform.slots import UploadsAtOnce
from portal.platform.work import UnitOfWork
from portal.settings import SurveySettings
from portal.surveys import queries
from portal.surveys.cadastre_validation import (
    PURPOSES,
    assess,
    cadastre_rule,
    extent_rule,
    land_use_rule,
    lonlat_wkbs,
    retirement_rule,
    said_once,
    validation_rules,
)
from portal.surveys.publication import Publication, SourceRecord, lock_cadastre, publish
from portal.surveys.reading import read_limits
from spatial.crs import to_cgcs2000_lonlat
from spatial.errors import CrsError, LimitError
from spatial.model import ReadResult, SurveyedParcel
from spatial.readers import ReadLimits
from spatial.readers.isolated import read_isolated
from spatial.report import Issue, IssueCode, ValidationReport
from spatial.validation import validate

__all__ = [
    "Upload", "UploadsAtOnce", "SubmissionError", "SubmissionNotFound", "SubmissionConflict", "SubmissionRefused",
    "OwnSubmission", "ReadUpload", "read_upload", "store", "create", "get", "listing", "submit", "approve", "reject",
    "withdraw", "preview", "REPORT_PAGE",
]

_T = TypeVar("_T")


class SubmissionError(CadastreError):
    """Base: a workflow step that was refused; nothing was changed."""

    status = 409
    code = "submission_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class SubmissionNotFound(SubmissionError):
    """No such submission, or one the principal may not see (we do not say which)."""

    status = 404
    code = "submission_not_found"


class SubmissionRefused(SubmissionError):
    """The principal may see the submission but not take this step on it."""

    status = 403
    code = "submission_refused"


class OwnSubmission(SubmissionRefused):
    """Separation of duties: nobody approves or rejects a submission they uploaded (the
    database refuses it too, migration 0012)."""

    status = 403
    code = "own_submission"


def _not_own(row: dict[str, Any], principal: Principal, step: str) -> None:
    if row["created_by"] is not None and row["created_by"] == principal.user_id:
        raise OwnSubmission(f"submission {row['submission_id']} was uploaded by you; another registrar must "
                            f"{step} it (separation of duties)")


class SubmissionConflict(SubmissionError):
    """The step does not fit the submission's state or the cadastre as it is now."""

    status = 409
    code = "submission_conflict"

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report

    def fields(self) -> dict[str, Any]:
        """The report, its first `REPORT_PAGE` issues (the rest: GET .../report?offset=...)."""
        if self.report is None:
            return {}
        report = self.report.to_dict()
        issues = report["issues"]
        return {"report": {**report, "issues": issues[:REPORT_PAGE], "issues_total": len(issues),
                           "issues_offset": 0, "issues_limit": REPORT_PAGE}}


@dataclass
class Upload:
    file_name: str
    content: bytes
    crs: int | None = None
    purpose: str = "new"
    retires: Sequence[str] = field(default_factory=tuple)
    description: str | None = None


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip() or "upload"
    return base[-120:]


def _read(file_name: str, content: bytes, crs: int | None, limits: ReadLimits | None = None) -> ReadResult:
    """Read uploaded bytes through a private temporary copy, in a worker process with limits
    (`spatial.readers.isolated`): a hostile file costs that worker, never the app."""
    with tempfile.TemporaryDirectory(prefix="cadastre-upload-") as folder:
        path = Path(folder) / _safe_name(file_name)
        path.write_bytes(content)
        return read_isolated(path, crs=crs, filename=_safe_name(file_name), limits=limits)


def _resolve_retired(conn: psycopg.Connection, codes: Sequence[str]) -> tuple[dict[int, str], list[Issue]]:
    wanted = [c.strip().upper() for c in codes if c.strip()]
    found: dict[int, str] = dict(conn.execute(queries.RETIRED_CODES, (wanted,)).fetchall())
    issues = [Issue("error", IssueCode.RETIRED_PARCEL_UNKNOWN,
                    f"parcel {code} to be retired is not a current parcel of the cadastre", None, None, None,
                    {"parcel_code": code}) for code in wanted if code not in found.values()]
    return found, issues


@dataclass(frozen=True)
class ReadUpload:
    """An upload as read and checked on its own, before any database connection: the reader's
    result, the parcels' lon/lat WKB (`lonlat_wkbs`, None where none could be made), and the
    report of every rule that needs no cadastre (geometry, areas, codes, topology)."""

    upload: Upload
    result: ReadResult
    lonlat: list[bytes | None]
    checked: ValidationReport


def read_upload(upload: Upload, settings: SurveySettings) -> ReadUpload:
    """Read one upload in a sandboxed worker process and check it on its own, holding no
    database connection: a slow, large or hostile file costs that worker and this thread's
    time, never a connection of the pools.

    Raises SubmissionConflict for an unknown purpose, spatial.errors.LimitError (413) past the
    upload size or a reading limit (unpacked bytes, archive members, features per upload,
    processor time, memory; the message names it), spatial.errors.SpatialError when the file
    cannot be read."""
    if upload.purpose not in PURPOSES:
        raise SubmissionConflict(f"purpose {upload.purpose!r} is not one of {', '.join(PURPOSES)}")
    if len(upload.content) > settings.max_upload_bytes:
        raise LimitError(f"is {len(upload.content):,} bytes; uploads are limited to {settings.max_upload_bytes:,} "
                         "bytes (max upload bytes)", file=_safe_name(upload.file_name))
    result = _read(upload.file_name, upload.content, upload.crs, read_limits(settings))
    checked = validate(result.parcels, validation_rules(settings), file=result.file, crs=result.crs,
                       read_issues=result.issues, crs_source=result.crs_source)
    return ReadUpload(upload, result, lonlat_wkbs(result.parcels), checked)


def _issue_order(issue: Issue) -> tuple[bool, int]:
    return issue.parcel_index is not None, issue.parcel_index or 0  # as spatial.validation.validate sorts


def _against_cadastre(conn: psycopg.Connection, read: ReadUpload, settings: SurveySettings,
                      retiring: Sequence[int], unknown: Sequence[Issue]) -> ValidationReport:
    """`read.checked` completed by the rules that need the cadastre, run in `conn`'s transaction:
    the same report, in the same order, as `assess` gives for the upload in one go."""
    checked, parcels = read.checked, read.result.parcels
    # The reader's file-level issues lead the report (validate keeps their order); the unknown
    # retired parcels follow them, as they follow them in `assess`'s read_issues.
    first = sum(1 for i in read.result.issues if i.parcel_index is None) if parcels else len(read.result.issues)
    issues = [*checked.issues[:first], *unknown, *checked.issues[first:]]
    if parcels:
        rules = validation_rules(settings)
        for rule in (cadastre_rule(conn, retiring=retiring, lonlat=read.lonlat),
                     extent_rule(conn, lambda: read.lonlat), land_use_rule(conn),
                     retirement_rule(conn, read.upload.purpose, retiring, settings.coverage_tolerance_m2,
                                     lonlat=lambda: read.lonlat)):
            issues.extend(rule(parcels, rules))
        issues.sort(key=_issue_order)
    return ValidationReport(file=checked.file, crs=checked.crs, parcel_count=checked.parcel_count,
                            issues=said_once(issues), crs_source=checked.crs_source, crs_name=checked.crs_name)


def store(conn: psycopg.Connection, read: ReadUpload, principal: Principal, settings: SurveySettings) -> int:
    """Validate what was read against the cadastre as it is now and keep it as a draft, in one
    short unit of work (the comparison runs in PostgreSQL; the file's own checks were done
    without a connection, by `read_upload`); returns the submission id."""
    upload, result, lonlat = read.upload, read.result, read.lonlat
    with committed_as(conn, principal.user_id, principal.role_names):
        retired, unknown = _resolve_retired(conn, upload.retires)
        report = _against_cadastre(conn, read, settings, list(retired), unknown)
        submission_id = one_row(conn.execute(queries.INSERT_SUBMISSION, (
            upload.purpose, result.file, result.format, hashlib.sha256(upload.content).hexdigest(),
            upload.content, result.crs, upload.description, Jsonb(report.to_dict()), report.error_count,
            report.warning_count, principal.user_id, principal.label,
            Jsonb([i.to_dict() for i in result.issues]))).fetchone())[0]
        with conn.cursor() as cur:
            cur.executemany(queries.INSERT_PARCELS, [
                (submission_id, i, p.place, _code(p.parcel_code), p.land_use_code, p.name,
                 round(p.declared_area, 2) if p.declared_area else None, shapely.to_wkb(p.geometry), p.crs,
                 w, Jsonb(_as_read(p))) for i, (p, w) in enumerate(zip(result.parcels, lonlat, strict=True))])
            cur.executemany(queries.INSERT_RETIREMENTS, [(submission_id, i, c) for i, c in retired.items()])
    return int(submission_id)


def create(conn: psycopg.Connection, upload: Upload, principal: Principal,
           settings: SurveySettings) -> int:
    """Read and validate an upload and keep it as a draft; returns the submission id
    (`read_upload`, then `store`). The HTTP API calls the two apart, so that no connection is
    held while the file is read; this is for callers that hold one anyway (the CLI, benches).

    Raises spatial.errors.SpatialError when the file cannot be read (nothing is stored).
    A readable file with errors is kept as a draft with its report, so the surveyor can see
    the faults on the map; it cannot be submitted until a corrected file is uploaded.
    """
    return store(conn, read_upload(upload, settings), principal, settings)


def _as_read(parcel: SurveyedParcel) -> dict[str, Any]:
    """What validation needs of a parcel beyond the columns of `submission_parcels`.

    Boundary point names are not kept: neither validation nor publication uses them (the
    published geometry is the survey geometry, kept whole)."""
    return {"parcel_code": parcel.parcel_code, "declared_area": parcel.declared_area,
            "warnings": [w.to_dict() for w in parcel.warnings]}


def _code(code: str | None) -> str | None:
    return code if code and len(code) == 19 else None


def _visible(principal: Principal, row: dict[str, Any]) -> bool:
    return principal.may(Action.REVIEW_SUBMISSION) or (
        principal.user_id is not None and row["created_by"] == principal.user_id)


REPORT_PAGE = 500  # issues in one answer unless asked otherwise (SurveySettings.report_page_size)


def get(conn: psycopg.Connection, submission_id: int, principal: Principal, *,
        with_report: bool = True, issues_offset: int = 0, issues_limit: int = REPORT_PAGE) -> dict[str, Any]:
    """The submission with its parcels and one page of its report, as the principal may see it.

    The report holds issues [issues_offset, issues_offset + issues_limit) in file order, and
    `issues_total`, `issues_offset`, `issues_limit` to ask for the next page. Each parcel's
    `calculated_area` is the area publication will store for it (see `queries.PUBLISHED_AREA`)."""
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:  # a read: never committed
        row = cur.execute(queries.submission(with_report=False), (submission_id,)).fetchone()
        if row is None or not _visible(principal, row):
            raise SubmissionNotFound(f"submission {submission_id} does not exist or is not yours")
        row["retires"] = [c.strip() for c in row["retires"]]
        if with_report:
            page = cur.execute(queries.REPORT_PAGE, {"id": submission_id, "offset": max(issues_offset, 0),
                                                     "limit": max(issues_limit, 0)}).fetchone()
            assert page is not None  # the submission was just read
            row["report"] = {**page["report"], "issues": page["issues"], "issues_total": page["total"],
                             "issues_offset": max(issues_offset, 0), "issues_limit": max(issues_limit, 0)}
            row["parcels"] = cur.execute(queries.SUBMISSION_PARCELS, (submission_id,)).fetchall()
    return row


def listing(conn: psycopg.Connection, principal: Principal, *, status: str | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    """Registrars see every submission (the review queue); others see their own."""
    mine = not principal.may(Action.REVIEW_SUBMISSION)
    values = [*([principal.user_id] if mine else []), *([status] if status else []), limit]
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(queries.listing(mine=mine, status=bool(status)), values).fetchall()
    for row in rows:
        row["retires"] = [c.strip() for c in row["retires"]]
    return rows


def _lock(conn: psycopg.Connection, submission_id: int, principal: Principal) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries.LOCK_SUBMISSION, (submission_id,)).fetchone()
        if row is None or not _visible(principal, row):
            raise SubmissionNotFound(f"submission {submission_id} does not exist or is not yours")
        row["retiring"] = [r["parcel_id"] for r in cur.execute(queries.RETIRING, (submission_id,))]
    return row


def _expect(row: dict[str, Any], status: str, step: str) -> None:
    if row["status"] != status:
        raise SubmissionConflict(f"submission {row['submission_id']} is {row['status']}; only a {status} "
                                 f"submission can be {step}")


@dataclass
class _AsRead:
    """The parcels of a submission as read at upload, their lon/lat WKB (None where none could
    be made) and the reader's file-level issues."""

    file: str
    crs: int
    parcels: list[SurveyedParcel]
    lonlat: list[bytes | None]
    issues: list[Issue]


def _stored(conn: psycopg.Connection, row: dict[str, Any]) -> _AsRead:
    """The submission's parcels as they were read at upload, from its rows.

    A submission uploaded before its rows kept what was read (migration 0010: `read_issues` is
    NULL) has only its file: that one is read again, the only case where a later step reads it.
    """
    if row["read_issues"] is None:
        content = one_row(conn.execute(queries.FILE_CONTENT, (row["submission_id"],)).fetchone())[0]
        result = _read(row["file_name"], bytes(content), row["crs"])
        return _AsRead(result.file, result.crs, result.parcels, lonlat_wkbs(result.parcels), result.issues)
    rows = conn.execute(queries.AS_READ, (row["submission_id"],), binary=True).fetchall()
    survey = np.empty(len(rows), dtype=object)
    survey[:] = [r[0] for r in rows]
    geoms = shapely.from_wkb(survey)
    parcels = [SurveyedParcel(geometry=geom, crs=crs, place=place, parcel_code=code, declared_area=declared,
                              land_use_code=land_use_code, name=name, warnings=[Issue(**w) for w in warnings or ()])
               for geom, (_, crs, _, place, land_use_code, name, code, declared, warnings)
               in zip(geoms, rows, strict=True)]
    return _AsRead(row["file_name"], row["crs"], parcels, [r[2] for r in rows],
                   [Issue(**i) for i in row["read_issues"]])


def _reassess(conn: psycopg.Connection, row: dict[str, Any],
              settings: SurveySettings) -> tuple[_AsRead, ValidationReport]:
    read = _stored(conn, row)
    report = assess(conn, read.parcels, settings, file=read.file, crs=read.crs, read_issues=read.issues,
                    purpose=row["purpose"], retiring=row["retiring"], lonlat=read.lonlat,
                    crs_source=row.get("crs_source"))
    return read, report


def _step(conn: psycopg.Connection, fn: Callable[[], _T], principal: Principal) -> _T:
    with committed_as(conn, principal.user_id, principal.role_names):
        return fn()


def submit(conn: psycopg.Connection, submission_id: int, principal: Principal,
           settings: SurveySettings) -> ValidationReport:
    """Send a clean draft to the registrars, after validating it against today's cadastre."""

    def step() -> ValidationReport:
        row = _lock(conn, submission_id, principal)
        if row["created_by"] != principal.user_id:
            raise SubmissionRefused(f"submission {submission_id} belongs to another surveyor")
        _expect(row, "draft", "submitted")
        _, report = _reassess(conn, row, settings)
        if report.blocks_publication:
            raise SubmissionConflict(
                f"submission {submission_id} has {report.error_count} error(s) against the cadastre as it is "
                "now; upload a corrected file", report)
        conn.execute(queries.SUBMITTED, (Jsonb(report.to_dict()), report.warning_count, submission_id))
        return report

    return _step(conn, step, principal)


def approve(conn: psycopg.Connection, submission_id: int, principal: Principal,
            settings: SurveySettings) -> Publication:
    """Publish a submitted submission: all its parcels and retirements, or nothing.

    Validation runs again under the publication lock; if the cadastre changed so that the
    submission no longer fits, SubmissionConflict carries the new report and nothing changes.
    """

    def step() -> Publication:
        if not principal.may(Action.REVIEW_SUBMISSION):
            raise SubmissionRefused("only a registrar approves submissions")
        row = _lock(conn, submission_id, principal)
        _not_own(row, principal, "approve")
        _expect(row, "submitted", "approved")
        lock_cadastre(conn)
        read, report = _reassess(conn, row, settings)
        if report.blocks_publication:
            raise SubmissionConflict(
                f"submission {submission_id} no longer fits the cadastre ({report.error_count} error(s)); "
                "reject it with the report as the reason, or ask for a new survey", report)
        publication = publish(conn, read.parcels, SourceRecord(
            reference=f"submission {submission_id}: {row['file_name']}",
            issuer=None, description=f"{row['purpose']} approved by {principal.label}"),
            event=row["purpose"], retiring=row["retiring"], lineage_tolerance_m2=settings.coverage_tolerance_m2,
            lonlat=read.lonlat)
        conn.execute(queries.APPROVED, (principal.user_id, principal.label, publication.source_id,
                                        Jsonb(report.to_dict()), report.warning_count, submission_id))
        return publication

    return _step(conn, step, principal)


def reject(conn: psycopg.Connection, submission_id: int, principal: Principal, reasons: Sequence[str]) -> None:
    """Send a submission back with the registrar's reasons (at least one)."""
    reasons = [r.strip() for r in reasons if r and r.strip()]

    def step() -> None:
        if not principal.may(Action.REVIEW_SUBMISSION):
            raise SubmissionRefused("only a registrar rejects submissions")
        if not reasons:
            raise SubmissionConflict("a rejection needs at least one reason the surveyor can act on")
        row = _lock(conn, submission_id, principal)
        _not_own(row, principal, "reject")
        _expect(row, "submitted", "rejected")
        conn.execute(queries.REJECTED, (principal.user_id, principal.label, reasons, submission_id))

    _step(conn, step, principal)


def withdraw(conn: psycopg.Connection, submission_id: int, principal: Principal) -> None:
    """The surveyor drops a draft (it stays on record as withdrawn)."""

    def step() -> None:
        row = _lock(conn, submission_id, principal)
        if row["created_by"] != principal.user_id:
            raise SubmissionRefused(f"submission {submission_id} belongs to another surveyor")
        _expect(row, "draft", "withdrawn")
        conn.execute(queries.WITHDRAWN, (submission_id,))

    _step(conn, step, principal)


def preview(conn: psycopg.Connection, submission_id: int, principal: Principal) -> dict[str, Any]:
    """GeoJSON (lon/lat, CGCS2000) of the uploaded parcels, the parcels they retire, the current
    cadastre around them, and the located faults (overlaps, self-intersections...)."""
    get(conn, submission_id, principal, with_report=False)
    with UnitOfWork(conn):
        row = one_row(conn.execute(queries.PREVIEW, {"id": submission_id}).fetchone())
        faults = conn.execute(queries.PREVIEW_ISSUES, {"id": submission_id}).fetchall()
    collection: dict[str, Any] = row[0]
    collection["features"].extend(_located_faults(faults))
    return collection


def _located_faults(faults: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Features of the report's located faults in CGCS2000 lon/lat; a location that cannot be
    transformed (coordinates outside the file's CRS, which the report already says) is left off."""
    features = []
    for crs, parcel_index, code, message, location, severity in faults:
        try:
            moved = to_cgcs2000_lonlat(shapely.from_wkt(location), int(crs))
        except (shapely.errors.ShapelyError, CrsError, ValueError, TypeError):
            continue
        if moved.is_empty or not np.isfinite(shapely.get_coordinates(moved)).all():
            continue
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(shapely.set_precision(moved, 1e-7)),
                         "properties": {"layer": "issue", "parcel_index": parcel_index, "code": code,
                                        "message": message, "severity": severity}})
    return features
