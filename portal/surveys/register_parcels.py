"""New parcels of a register import (the exchange's ZDJBXX table, docs/register-exchange.md)
enter the cadastre as a survey publication does: the same validation (`assess`: geometry, CRS
and axis order, overlaps with current parcels and among themselves, administrative area,
land-use code) and the same publication (`publish`), citing one survey-report source.

The register room does not import this room: the composition root hands `register_publisher`
to `portal.registry.exchange.importing.import_register` (as `ParcelPublishing.publish`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import psycopg

from portal.settings import SurveySettings
from portal.surveys.cadastre_validation import assess
from portal.surveys.publication import SourceRecord, lock_cadastre, publish
from spatial.model import SurveyedParcel
from spatial.report import Issue

__all__ = ["register_publisher"]

Publisher = Callable[[psycopg.Connection, Sequence[SurveyedParcel], str], tuple[list[Issue], list[int]]]


def register_publisher(settings: SurveySettings | None = None) -> Publisher:
    """A function `(conn, parcels, reference) -> (errors, parcel ids)`: in `conn`'s transaction
    (not committed here), lock the cadastre against other publishers, validate `parcels` as a
    new-parcel publication with the office's tolerances, and publish them only when no parcel
    has an error, citing a survey-report source whose reference is `reference`. Errors are
    `spatial.report.Issue`s (`parcel_index` into `parcels`, None for the whole); ids are the new
    parcels', in order (empty when refused)."""
    settings = settings or SurveySettings()

    def publish_parcels(conn: psycopg.Connection, parcels: Sequence[SurveyedParcel],
                        reference: str) -> tuple[list[Issue], list[int]]:
        lock_cadastre(conn)
        report = assess(conn, parcels, settings, purpose="new")
        errors = [issue for issue in report.issues if issue.is_error]
        if errors:
            return errors, []
        publication = publish(conn, parcels, SourceRecord(
            reference=reference[:200], description=f"register import of {len(parcels)} parcel(s) (ZDJBXX)"))
        return [], publication.parcel_ids

    return publish_parcels
