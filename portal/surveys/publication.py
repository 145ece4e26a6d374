"""Publishing surveyed parcels into the cadastre: one transaction, all of it or none of it.

Both ways in use it: `cadastre import` (registry staff's bulk loads) and the approval of a
surveyor's submission. The caller holds the lock from `lock_cadastre` and has validated again
inside it, so nothing that became current after the first validation can be overlapped.

A new parcel whose code is the code of a parcel it retires becomes the next version of that
parcel (its units stay on it); every other retired parcel ends, and lineage links each retired
parcel to each new one it shares area with.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import psycopg
import shapely

from portal.platform.rows import one_row
from portal.platform.versioning import retire, supersede
from portal.surveys import queries
from portal.surveys.cadastre_validation import lonlat_wkbs, normal_code
from spatial.crs import CGCS2000, transformer
from spatial.model import SurveyedParcel

__all__ = ["SourceRecord", "Publication", "lock_cadastre", "publish"]


@dataclass(frozen=True)
class SourceRecord:
    """The survey report a publication cites (LA_Source)."""

    reference: str
    issuer: str | None = None
    description: str | None = None
    issued_on: dt.date = field(default_factory=dt.date.today)


_Box = tuple[float, float, float, float]
"""lon/lat bounds: west, south, east, north."""


@dataclass
class Publication:
    source_id: int
    parcel_ids: list[int]
    parcel_codes: list[str]
    retired_ids: list[int]
    lineage: list[tuple[int, int]]
    bounds: _Box | None
    """lon/lat extent of everything the publication touched (old and new geometry)."""


def lock_cadastre(conn: psycopg.Connection) -> None:
    """Keep other publishers out until commit; readers (the map, the API) are not blocked."""
    conn.execute(queries.LOCK_CADASTRE)


COPY_BATCH = 5000


def _area(parcel: SurveyedParcel) -> Decimal | None:
    return Decimal(f"{parcel.declared_area:.2f}") if parcel.declared_area else None


def _ewkb(parcels: Sequence[SurveyedParcel]) -> list[bytes]:
    """Each parcel's geometry as EWKB in its delivered CRS, in one vectorised call."""
    geoms = np.empty(len(parcels), dtype=object)
    geoms[:] = [p.geometry for p in parcels]
    srids = np.fromiter((p.crs for p in parcels), dtype=np.int32, count=len(parcels))
    return list(shapely.to_wkb(shapely.set_srid(geoms, srids), include_srid=True))


def publish(conn: psycopg.Connection, parcels: Sequence[SurveyedParcel], source: SourceRecord, *,
            event: str = "new", retiring: Sequence[int] = (), lineage_tolerance_m2: float = 1.0,
            progress: Callable[[int, int], None] | None = None,
            lonlat: Sequence[bytes | None] | None = None) -> Publication:
    """Write `parcels` as current parcels citing `source`, retiring `retiring` (parcel ids).
    `lonlat` is the parcels' `lonlat_wkbs` when the caller has them (lineage needs them).

    Does not commit: the caller's transaction decides. The database's own rules (valid
    geometry, code format, one current parcel per code) still apply and raise on violation.
    """
    today = source.issued_on
    source_id = one_row(conn.execute(queries.INSERT_SOURCE, (
        source.reference, today, source.issuer, source.description)).fetchone())[0]
    codes: list[str] = []
    for parcel in parcels:
        code = normal_code(parcel.parcel_code)
        assert code is not None, "validation requires a code of every parcel it passes"
        codes.append(code)
    retiring = list(retiring)
    pairs: list[tuple[int, int]] = []
    bounds: _Box | None = None
    if retiring:
        wkb = list(lonlat) if lonlat is not None else lonlat_wkbs(parcels)
        pairs = [(parent, int(i) - 1) for parent, i in conn.execute(queries.LINEAGE, {
            "wkb": wkb, "retiring": retiring, "tolerance": lineage_tolerance_m2})]
        bounds = _extent(conn, retiring)
    retired_codes: dict[str, int] = dict(conn.execute(queries.CURRENT_CODES, (retiring,)).fetchall())
    kept = set(codes) & set(retired_codes)
    for code, parcel_id in retired_codes.items():
        if code not in kept:
            retire(conn, "parcels", parcel_id)
    ids: list[int | None] = [None] * len(parcels)
    for index, parcel in enumerate(parcels):
        if codes[index] in kept:
            parcel_id = retired_codes[codes[index]]
            supersede(conn, "parcels", parcel_id, {
                "survey_geom": _ewkb([parcel])[0], "declared_area": _area(parcel),
                "land_use_code": parcel.land_use_code, "valid_from": today, "source_id": source_id})
            ids[index] = parcel_id
    fresh = [(i, p) for i, p in enumerate(parcels) if codes[i] not in kept]
    # The new parcels' ids are drawn first, so nothing has to be read back after the COPY.
    new_ids = [row[0] for row in conn.execute(queries.NEXT_PARCEL_IDS, (len(fresh),))]
    # COPY, not one INSERT per parcel: a bulk import of 100,000 parcels is one round trip.
    # The geometry is encoded a batch at a time, so the first rows go out at once.
    with conn.cursor() as cur, cur.copy(queries.COPY_PARCELS) as copy:
        copy.set_types(queries.COPY_TYPES)
        for start in range(0, len(fresh), COPY_BATCH):
            batch = fresh[start:start + COPY_BATCH]
            ewkb = _ewkb([parcel for _, parcel in batch])
            for k, (index, parcel) in enumerate(batch):
                new_id = ids[index] = new_ids[start + k]
                copy.write_row((new_id, codes[index], codes[index][:6],
                                parcel.land_use_code, ewkb[k], _area(parcel), today, source_id))
                done = start + k + 1
                if progress and (done % 1000 == 0 or done == len(fresh)):
                    progress(done, len(fresh))
    parcel_ids: list[int] = []
    for maybe_id in ids:
        assert maybe_id is not None  # each parcel was either kept above or drew a new id
        parcel_ids.append(maybe_id)
    lineage = [(parent, parcel_ids[i]) for parent, i in pairs if parent != parcel_ids[i]]
    if lineage:
        with conn.cursor() as cur:
            cur.executemany(queries.INSERT_LINEAGE, [(p, c, event, source_id) for p, c in lineage])
    new_bounds = _lonlat_bounds(parcels)
    return Publication(source_id, parcel_ids, codes,
                       [i for c, i in retired_codes.items() if c not in kept], lineage,
                       _union(bounds, new_bounds))


def _extent(conn: psycopg.Connection, parcel_ids: Sequence[int | None]) -> _Box | None:
    """lon/lat bounds of the current parcels `parcel_ids` (None when there are none)."""
    row = conn.execute(queries.EXTENT, (list(parcel_ids),)).fetchone()
    if row is None or row[0] is None:
        return None
    x0, y0, x1, y1 = row
    return (x0, y0, x1, y1)


def _lonlat_bounds(parcels: Sequence[SurveyedParcel]) -> _Box | None:
    """lon/lat bounds of `parcels`, from their survey coordinates: each CRS's bounding box is
    transformed with its edges densified, so the result covers the parcels (PostGIS and pyproj
    share PROJ). Reading 100,000 new parcels back to ask PostGIS took half a second."""
    by_crs: dict[int, list[object]] = defaultdict(list)
    for parcel in parcels:
        by_crs[parcel.crs].append(parcel.geometry)
    boxes: list[_Box] = []
    for crs, geoms in by_crs.items():
        x0, y0, x1, y1 = shapely.total_bounds(np.array(geoms, dtype=object))
        if crs != CGCS2000:
            x0, y0, x1, y1 = transformer(crs, CGCS2000).transform_bounds(x0, y0, x1, y1, densify_pts=21)
        boxes.append((x0, y0, x1, y1))
    return _union(*boxes) if boxes else None


def _union(*boxes: _Box | None) -> _Box | None:
    """The box covering `boxes` (None ones skipped), or None when there are none."""
    present = [box for box in boxes if box is not None]
    if not present:
        return None
    return (min(x[0] for x in present), min(x[1] for x in present),
            max(x[2] for x in present), max(x[3] for x in present))
