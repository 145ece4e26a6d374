"""The office's published performance: per kind of application and month, how many were
completed, the median processing time in working days, and the share finished within the
time limit (ordinary registration 3 working days, mortgage 1, as `time_limits` says)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from portal.platform.clock import DEFAULT_OFFICE_TIMEZONE
from portal.platform.work import UnitOfWork
from portal.registry import queries

__all__ = ["monthly", "monthly_from"]


def monthly(conn: psycopg.Connection, zone: str = DEFAULT_OFFICE_TIMEZONE) -> list[dict[str, Any]]:
    """The figures, months cut in office time (`zone`)."""
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(queries.STATISTICS, {"zone": zone}).fetchall()
    return rows


async def monthly_from(conn: psycopg.AsyncConnection, zone: str = DEFAULT_OFFICE_TIMEZONE) -> list[dict[str, Any]]:
    """The same figures over an async connection: public reads may come from a replica."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.STATISTICS, {"zone": zone})
        return await cur.fetchall()
