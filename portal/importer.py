"""Bulk import of surveyors' files by registry staff: read, validate, and publish all or nothing.

Publication runs in one transaction that locks the parcels table against other writers and
validates against the cadastre again inside the lock, so a parcel that became current after
the dry run can never be overlapped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import shapely

from portal.survey_checks import cadastre_checks
from spatial.readers import read_parcels
from spatial.report import Issue, ValidationReport
from spatial.validation import ValidationRules, validate_result

__all__ = ["ImportOutcome", "import_file"]


@dataclass
class ImportOutcome:
    report: ValidationReport
    published: int = 0
    source_id: int | None = None


def _land_use_issues(conn: psycopg.Connection, report: ValidationReport, parcels) -> None:  # type: ignore[no-untyped-def]
    uses = {r[0] for r in conn.execute("SELECT code FROM land_uses")}
    for index, parcel in enumerate(parcels):
        if parcel.land_use_code not in uses:
            report.issues.append(Issue("error", "land_use_unknown",
                                       f"land-use code {parcel.land_use_code!r} is not a GB/T 21010 class",
                                       index, parcel.where, None, {"field": "land_use_code"}))


def import_file(url: str, path: Path, *, crs: int | None = None, dry_run: bool = False,
                rules: ValidationRules | None = None,
                progress: Callable[[int], None] | None = None) -> ImportOutcome:
    """Validate `path` against the cadastre and, unless `dry_run` or the report has errors,
    publish its parcels as new current parcels. Raises spatial.errors.SpatialError when the
    file cannot be read; the database is unchanged unless every parcel was published.
    """
    result = read_parcels(path, crs=crs)
    # Publication needs every parcel's code: the spatial validator makes a missing one an error.
    rules = rules or ValidationRules(require_parcel_code=True)
    with psycopg.connect(url) as conn:
        report = validate_result(result, rules, extra_checks=[cadastre_checks(conn)])
        _land_use_issues(conn, report, result.parcels)
        outcome = ImportOutcome(report)
        if dry_run or report.blocks_publication:
            conn.rollback()
            return outcome
        conn.execute("LOCK TABLE parcels IN SHARE ROW EXCLUSIVE MODE")
        recheck = validate_result(result, rules, extra_checks=[cadastre_checks(conn)])
        if recheck.blocks_publication:
            conn.rollback()
            outcome.report = recheck
            return outcome
        today = dt.date.today()
        source_id = conn.execute(
            "INSERT INTO sources (kind, reference, issued_on, description) "
            "VALUES ('survey_report', %s, %s, %s) RETURNING source_id",
            (path.name, today, f"bulk import of {len(result.parcels)} parcels")).fetchone()[0]  # type: ignore[index]
        with conn.cursor() as cur:
            for index, parcel in enumerate(result.parcels):
                cur.execute(
                    "INSERT INTO parcels (parcel_code, admin_area_code, land_use_code, survey_geom, "
                    "survey_area, valid_from, source_id) "
                    "VALUES (%s, %s, %s, ST_SetSRID(ST_GeomFromWKB(%s), %s), %s, %s, %s)",
                    (parcel.parcel_code, parcel.parcel_code[:6], parcel.land_use_code,  # type: ignore[index]
                     shapely.to_wkb(parcel.geometry), parcel.crs,
                     round(parcel.declared_area, 2) if parcel.declared_area else None, today, source_id))
                if progress:
                    progress(index + 1)
        conn.commit()
        outcome.published = len(result.parcels)
        outcome.source_id = source_id
        return outcome
