"""Assemble a parcel's public facts from the public queries (used by the JSON API and the sheet)."""

from __future__ import annotations

from fastapi import HTTPException
from psycopg import AsyncConnection

from portal.public import queries
from portal.public.schemas import (
    AdminArea,
    LandUse,
    LineageLink,
    ParcelPublic,
    ParcelVersion,
    UnitPublic,
)
from spatial.codes import CodeError, parse_parcel_code

__all__ = ["checked_parcel_code", "public_parcel", "parcel_from_row"]


def checked_parcel_code(text: str) -> str:
    """The normalised code, or a 422 naming what is wrong with it."""
    try:
        return parse_parcel_code(text).code
    except CodeError as error:
        raise HTTPException(422, f"not a parcel code: {error}") from error


async def parcel_from_row(conn: AsyncConnection, row: queries.Row) -> ParcelPublic:
    parcel_id = row["parcel_id"]
    units = await queries.parcel_units(conn, parcel_id) if row["end_lifespan"] is None else []
    history = await queries.parcel_history(conn, parcel_id)
    lineage = await queries.parcel_lineage(conn, parcel_id)
    return ParcelPublic(
        parcel_code=row["parcel_code"].strip(),
        current=row["end_lifespan"] is None,
        version=row["version"],
        area=row["calculated_area"],
        declared_area=row["declared_area"],
        land_use=LandUse(code=row["land_use_code"], name_zh=row["land_use_zh"],
                         name_en=row["land_use_en"]),
        admin_area=AdminArea(code=row["admin_area_code"], name=row["admin_area_name"]),
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        begin_lifespan=row["begin_lifespan"],
        end_lifespan=row["end_lifespan"],
        units=[UnitPublic(unit_number=u["unit_number"], location=u["location"]) for u in units],
        history=[ParcelVersion(
            version=h["version"],
            land_use=LandUse(code=h["land_use_code"], name_zh=h["land_use_zh"],
                             name_en=h["land_use_en"]),
            area=h["calculated_area"], begin_lifespan=h["begin_lifespan"],
            end_lifespan=h["end_lifespan"]) for h in history],
        lineage=[LineageLink(relation=link["relation"], event=link["event"],
                             parcel_code=link["parcel_code"].strip(),
                             recorded_at=link["recorded_at"]) for link in lineage],
        bbox=row["bbox"],
        centroid=row["centroid"],
        geometry=row["geometry"],
    )


async def public_parcel(conn: AsyncConnection,
                        parcel_code: str) -> tuple[ParcelPublic, queries.Row]:
    """The parcel by code (current, else its last version), or 404."""
    row = await queries.parcel_by_code(conn, parcel_code)
    if row is None:
        raise HTTPException(404, f"no parcel has the code {parcel_code}")
    return await parcel_from_row(conn, row), row
