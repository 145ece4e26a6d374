"""Bulk import of surveyors' files by registry staff: read, validate, and publish all or nothing.

Publication runs in one transaction that locks the parcels table against other writers and
validates against the cadastre again inside the lock, so a parcel that became current after
the dry run can never be overlapped.

Writing 100,000 parcels into the versioned table (its constraints, indexes and triggers) takes
longer than validating them, and uses one core of PostgreSQL. So the import writes while it
validates: the publishing transaction takes the lock and starts writing, a second connection
compares the upload with the cadastre as committed (which the lock keeps still), and this
process checks geometry and topology. The transaction commits only if the report is clean;
otherwise it is rolled back and nothing has changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

from portal.audit.trail import act_as
from portal.platform.work import UnitOfWork
from portal.settings import SurveySettings
from portal.surveys.cadastre_validation import assess
from portal.surveys.publication import SourceRecord, lock_cadastre, publish
from portal.surveys.reading import read_limits
from spatial.readers.isolated import read_isolated
from spatial.report import ValidationReport

__all__ = ["ImportOutcome", "import_file"]


@dataclass
class ImportOutcome:
    report: ValidationReport
    published: int = 0
    source_id: int | None = None


def import_file(url: str, path: Path, *, crs: int | None = None, dry_run: bool = False,
                settings: SurveySettings | None = None,
                progress: Callable[[int, int], None] | None = None) -> ImportOutcome:
    """Validate `path` against the cadastre and, unless `dry_run` or the report has errors,
    publish its parcels as new current parcels. Raises spatial.errors.SpatialError when the
    file cannot be read; the database is unchanged unless every parcel was published.
    """
    settings = settings or SurveySettings()
    result = read_isolated(path, crs=crs, limits=read_limits(settings))

    def check(conn: psycopg.Connection) -> ValidationReport:
        return assess(conn, result.parcels, settings, file=result.file, crs=result.crs,
                      read_issues=result.issues, crs_source=result.crs_source)

    if dry_run:
        with psycopg.connect(url) as conn:
            return ImportOutcome(check(conn))
    source = SourceRecord(reference=path.name, description=f"bulk import of {len(result.parcels)} parcels")
    with psycopg.connect(url) as conn, UnitOfWork(conn) as uow:
        act_as(conn, None, "cli:import")
        # Validate inside the lock that publication needs anyway: nothing can become current
        # between the check and the commit. Readers are not blocked.
        lock_cadastre(conn)
        with ThreadPoolExecutor(1, thread_name_prefix="publish") as writer:
            writing = threading.Event()

            def report(done: int, total: int) -> None:
                writing.set()
                if progress:
                    progress(done, total)

            written = writer.submit(publish, conn, result.parcels, source, progress=report)
            written.add_done_callback(lambda _: writing.set())  # also when it wrote nothing or failed
            # The writes are the longer path: let their COPY start before validation competes
            # with its preparation (EWKB, row encoding) for this process's GIL.
            writing.wait()
            try:
                with psycopg.connect(url) as reader:
                    outcome = ImportOutcome(check(reader))
            finally:
                failure = written.exception()  # waits for the writes
        if outcome.report.blocks_publication:
            return outcome  # not committed: the writes of a refused file, or their failure, are discarded
        if failure is not None:
            raise failure  # a rule of the database that validation did not foresee
        publication = written.result()
        uow.commit()
        outcome.published = len(publication.parcel_ids)
        outcome.source_id = publication.source_id
        return outcome
