"""The submission workflow: a surveyor's upload from draft to the published cadastre.

    draft ──submit──> submitted ──approve──> approved (published, cites a source)
      │                   └──────reject───> rejected (with the registrar's reasons)
      └──withdraw──> withdrawn

The uploaded file is kept as evidence, and every step that can publish reads it again and
validates it against the cadastre as it is at that moment: approval does so under the
publication lock, so a parcel that became current after the upload is never overlapped. A
step that is refused raises and leaves the database as it was. Callers pass a psycopg
connection; this module commits or rolls back itself, one transaction per step.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import shapely
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from portal.audit.trail import committed_as
from portal.platform.errors import CadastreError
from portal.platform.permissions import Action, Principal
from portal.platform.work import UnitOfWork
from portal.settings import SurveySettings
from portal.surveys.cadastre_checks import PURPOSES, assess, lonlat_wkbs
from portal.surveys.publication import Publication, SourceRecord, lock_cadastre, publish
from spatial.errors import ReadError
from spatial.readers import read_parcels
from spatial.report import Issue, IssueCode, ValidationReport

__all__ = [
    "Upload", "SubmissionError", "SubmissionNotFound", "SubmissionConflict", "SubmissionRefused",
    "create", "get", "listing", "submit", "approve", "reject", "withdraw", "preview",
]


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


class SubmissionConflict(SubmissionError):
    """The step does not fit the submission's state or the cadastre as it is now."""

    status = 409
    code = "submission_conflict"

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report

    def fields(self) -> dict[str, Any]:
        return {} if self.report is None else {"report": self.report.to_dict()}


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


def _read(file_name: str, content: bytes, crs: int | None):  # type: ignore[no-untyped-def]
    """Read uploaded bytes through a private temporary copy (readers detect formats by name)."""
    with tempfile.TemporaryDirectory(prefix="cadastre-upload-") as folder:
        path = Path(folder) / _safe_name(file_name)
        path.write_bytes(content)
        return read_parcels(path, crs=crs, filename=_safe_name(file_name))


def _resolve_retired(conn: psycopg.Connection, codes: Sequence[str]) -> tuple[dict[int, str], list[Issue]]:
    wanted = [c.strip().upper() for c in codes if c.strip()]
    found = dict(conn.execute("SELECT parcel_id, parcel_code FROM current_parcels WHERE parcel_code = ANY(%s)",
                              (wanted,)).fetchall())
    issues = [Issue("error", IssueCode.RETIRED_PARCEL_UNKNOWN,
                    f"parcel {code} to be retired is not a current parcel of the cadastre", None, None, None,
                    {"parcel_code": code}) for code in wanted if code not in found.values()]
    return found, issues


def create(conn: psycopg.Connection, upload: Upload, principal: Principal,
           settings: SurveySettings) -> int:
    """Read and validate an upload and keep it as a draft; returns the submission id.

    Raises spatial.errors.SpatialError when the file cannot be read (nothing is stored).
    A readable file with errors is kept as a draft with its report, so the surveyor can see
    the faults on the map; it cannot be submitted until a corrected file is uploaded.
    """
    if upload.purpose not in PURPOSES:
        raise SubmissionConflict(f"purpose {upload.purpose!r} is not one of {', '.join(PURPOSES)}")
    if len(upload.content) > settings.max_upload_bytes:
        raise ReadError(f"is {len(upload.content)} bytes; uploads are limited to {settings.max_upload_bytes} bytes",
                        file=_safe_name(upload.file_name))
    result = _read(upload.file_name, upload.content, upload.crs)
    with committed_as(conn, principal.user_id, principal.role_names):
        retired, unknown = _resolve_retired(conn, upload.retires)
        report = assess(conn, result.parcels, settings, file=result.file, crs=result.crs,
                        read_issues=[*result.issues, *unknown], purpose=upload.purpose,
                        retiring=list(retired))
        submission_id = conn.execute(
            "INSERT INTO submissions (purpose, file_name, file_format, file_sha256, file_content, crs, "
            "description, report, error_count, warning_count, created_by, created_by_name) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING submission_id",
            (upload.purpose, result.file, result.format, hashlib.sha256(upload.content).hexdigest(),
             upload.content, result.crs, upload.description, Jsonb(report.to_dict()), report.error_count,
             report.warning_count, principal.user_id, principal.label)).fetchone()[0]  # type: ignore[index]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO submission_parcels (submission_id, position, place, parcel_code, land_use_code, "
                "name, declared_area, survey_geom, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                "ST_SetSRID(ST_GeomFromWKB(%s), %s), ST_Multi(ST_SetSRID(ST_GeomFromWKB(%s), 4490)))",
                [(submission_id, i, p.where, _code(p.parcel_code), p.land_use_code, p.name,
                  round(p.declared_area, 2) if p.declared_area else None, shapely.to_wkb(p.geometry), p.crs,
                  w) for i, (p, w) in enumerate(zip(result.parcels, lonlat_wkbs(result.parcels), strict=True))])
            cur.executemany("INSERT INTO submission_retirements (submission_id, parcel_id, parcel_code) "
                            "VALUES (%s, %s, %s)", [(submission_id, i, c) for i, c in retired.items()])
    return int(submission_id)


def _code(code: str | None) -> str | None:
    return code if code and len(code) == 19 else None


SUMMARY_SQL = """
SELECT s.submission_id AS id, s.status, s.purpose, s.file_name, s.file_format, s.file_sha256,
       octet_length(s.file_content) AS file_size, s.crs, s.description, s.error_count, s.warning_count,
       s.created_by, s.created_by_name, s.created_at, s.submitted_at, s.decided_at, s.decided_by_name,
       s.reasons, s.source_id{extra},
       (SELECT count(*) FROM submission_parcels p WHERE p.submission_id = s.submission_id) AS parcel_count,
       ARRAY(SELECT parcel_code FROM submission_retirements r WHERE r.submission_id = s.submission_id
             ORDER BY parcel_code) AS retires
  FROM submissions s
"""


def _visible(principal: Principal, row: dict[str, Any]) -> bool:
    return principal.may(Action.REVIEW_SUBMISSION) or (
        principal.user_id is not None and row["created_by"] == principal.user_id)


def get(conn: psycopg.Connection, submission_id: int, principal: Principal, *,
        with_report: bool = True) -> dict[str, Any]:
    """The submission with its parcels and report, as the principal may see it."""
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:  # a read: never committed
        summary = SUMMARY_SQL.format(extra=", s.report" if with_report else "")
        row = cur.execute(summary + " WHERE s.submission_id = %s", (submission_id,)).fetchone()
        if row is None or not _visible(principal, row):
            raise SubmissionNotFound(f"submission {submission_id} does not exist or is not yours")
        row["retires"] = [c.strip() for c in row["retires"]]
        if with_report:
            row["parcels"] = cur.execute(
                "SELECT position, place, parcel_code, land_use_code, name, declared_area::float8, "
                "round(ST_Area(geom::geography)::numeric, 2)::float8 AS computed_area "
                "FROM submission_parcels WHERE submission_id = %s ORDER BY position", (submission_id,)).fetchall()
    return row


def listing(conn: psycopg.Connection, principal: Principal, *, status: str | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    """Registrars see every submission (the review queue); others see their own."""
    where, values = [], []
    if not principal.may(Action.REVIEW_SUBMISSION):
        where.append("s.created_by = %s")
        values.append(principal.user_id)
    if status:
        where.append("s.status = %s")
        values.append(status)
    sql = SUMMARY_SQL.format(extra="") + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY s.submitted_at NULLS LAST, s.created_at DESC LIMIT %s"
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, [*values, limit]).fetchall()
    for row in rows:
        row["retires"] = [c.strip() for c in row["retires"]]
    return rows


def _lock(conn: psycopg.Connection, submission_id: int, principal: Principal) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT submission_id, status, purpose, file_name, file_content, crs, created_by "
                          "FROM submissions WHERE submission_id = %s FOR UPDATE", (submission_id,)).fetchone()
        if row is None or not _visible(principal, row):
            raise SubmissionNotFound(f"submission {submission_id} does not exist or is not yours")
        row["retiring"] = [r["parcel_id"] for r in cur.execute(
            "SELECT parcel_id FROM submission_retirements WHERE submission_id = %s ORDER BY parcel_id",
            (submission_id,))]
    return row


def _expect(row: dict[str, Any], status: str, step: str) -> None:
    if row["status"] != status:
        raise SubmissionConflict(f"submission {row['submission_id']} is {row['status']}; only a {status} "
                                 f"submission can be {step}")


def _reassess(conn: psycopg.Connection, row: dict[str, Any], settings: SurveySettings):  # type: ignore[no-untyped-def]
    result = _read(row["file_name"], bytes(row["file_content"]), row["crs"])
    report = assess(conn, result.parcels, settings, file=result.file, crs=result.crs,
                    read_issues=result.issues, purpose=row["purpose"], retiring=row["retiring"])
    return result, report


def _step(conn: psycopg.Connection, fn, principal: Principal):  # type: ignore[no-untyped-def]
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
        conn.execute("UPDATE submissions SET status = 'submitted', submitted_at = now(), report = %s, "
                     "warning_count = %s WHERE submission_id = %s",
                     (Jsonb(report.to_dict()), report.warning_count, submission_id))
        return report

    return _step(conn, step, principal)  # type: ignore[no-any-return]


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
        _expect(row, "submitted", "approved")
        lock_cadastre(conn)
        result, report = _reassess(conn, row, settings)
        if report.blocks_publication:
            raise SubmissionConflict(
                f"submission {submission_id} no longer fits the cadastre ({report.error_count} error(s)); "
                "reject it with the report as the reason, or ask for a new survey", report)
        publication = publish(conn, result.parcels, SourceRecord(
            reference=f"submission {submission_id}: {row['file_name']}",
            issuer=None, description=f"{row['purpose']} approved by {principal.label}"),
            event=row["purpose"], retiring=row["retiring"], lineage_tolerance_m2=settings.coverage_tolerance_m2)
        conn.execute("UPDATE submissions SET status = 'approved', decided_at = now(), decided_by = %s, "
                     "decided_by_name = %s, source_id = %s, report = %s, warning_count = %s "
                     "WHERE submission_id = %s",
                     (principal.user_id, principal.label, publication.source_id, Jsonb(report.to_dict()),
                      report.warning_count, submission_id))
        return publication

    return _step(conn, step, principal)  # type: ignore[no-any-return]


def reject(conn: psycopg.Connection, submission_id: int, principal: Principal, reasons: Sequence[str]) -> None:
    """Send a submission back with the registrar's reasons (at least one)."""
    reasons = [r.strip() for r in reasons if r and r.strip()]

    def step() -> None:
        if not principal.may(Action.REVIEW_SUBMISSION):
            raise SubmissionRefused("only a registrar rejects submissions")
        if not reasons:
            raise SubmissionConflict("a rejection needs at least one reason the surveyor can act on")
        row = _lock(conn, submission_id, principal)
        _expect(row, "submitted", "rejected")
        conn.execute("UPDATE submissions SET status = 'rejected', decided_at = now(), decided_by = %s, "
                     "decided_by_name = %s, reasons = %s WHERE submission_id = %s",
                     (principal.user_id, principal.label, reasons, submission_id))

    _step(conn, step, principal)


def withdraw(conn: psycopg.Connection, submission_id: int, principal: Principal) -> None:
    """The surveyor drops a draft (it stays on record as withdrawn)."""

    def step() -> None:
        row = _lock(conn, submission_id, principal)
        if row["created_by"] != principal.user_id:
            raise SubmissionRefused(f"submission {submission_id} belongs to another surveyor")
        _expect(row, "draft", "withdrawn")
        conn.execute("UPDATE submissions SET status = 'withdrawn' WHERE submission_id = %s", (submission_id,))

    _step(conn, step, principal)


PREVIEW_SQL = """
WITH s AS (SELECT submission_id, crs, report FROM submissions WHERE submission_id = %(id)s),
upload AS (
    SELECT 'upload' AS layer, p.position AS parcel_index, p.parcel_code, p.place, p.geom
      FROM submission_parcels p WHERE p.submission_id = %(id)s AND p.geom IS NOT NULL
),
extent AS (SELECT ST_Expand(ST_Extent(geom), 0.002) AS box FROM upload),
retired AS (
    SELECT DISTINCT ON (p.parcel_id) 'retired' AS layer, NULL::int AS parcel_index, p.parcel_code, NULL AS place,
           p.geom
      FROM submission_retirements r JOIN parcels p ON p.parcel_id = r.parcel_id
     WHERE r.submission_id = %(id)s ORDER BY p.parcel_id, p.version DESC
),
cadastre AS (
    SELECT 'cadastre' AS layer, NULL::int, c.parcel_code, NULL, c.geom
      FROM current_parcels c, extent
     WHERE c.geom && extent.box
       AND c.parcel_id NOT IN (SELECT parcel_id FROM submission_retirements WHERE submission_id = %(id)s)
     LIMIT 2000
),
issues AS (
    SELECT 'issue' AS layer, (i ->> 'parcel_index')::int, i ->> 'code', i ->> 'message',
           ST_Transform(ST_SetSRID(ST_GeomFromText(i ->> 'location'), s.crs), 4490) AS geom,
           i ->> 'severity' AS severity
      FROM s, jsonb_array_elements(s.report -> 'issues') AS i
     WHERE i ->> 'location' IS NOT NULL
)
SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(f), '[]'::json))
  FROM (
    SELECT json_build_object('type', 'Feature', 'geometry', ST_AsGeoJSON(geom, 7)::json,
           'properties', json_build_object('layer', layer, 'parcel_index', parcel_index,
                                           'parcel_code', parcel_code, 'place', place)) AS f
      FROM (SELECT * FROM upload UNION ALL SELECT * FROM retired UNION ALL SELECT * FROM cadastre) g
    UNION ALL
    SELECT json_build_object('type', 'Feature', 'geometry', ST_AsGeoJSON(geom, 7)::json,
           'properties', json_build_object('layer', layer, 'parcel_index', parcel_index, 'code', code,
                                           'message', message, 'severity', severity))
      FROM issues AS i(layer, parcel_index, code, message, geom, severity)
  ) features
"""


def preview(conn: psycopg.Connection, submission_id: int, principal: Principal) -> dict[str, Any]:
    """GeoJSON (lon/lat, CGCS2000) of the uploaded parcels, the parcels they retire, the current
    cadastre around them, and the located faults (overlaps, self-intersections...)."""
    get(conn, submission_id, principal, with_report=False)
    with UnitOfWork(conn):
        row = conn.execute(PREVIEW_SQL, {"id": submission_id}).fetchone()
    return row[0]  # type: ignore[index,no-any-return]
