"""SQL of the guide: its entries and when they last changed. Column names are composed as
identifiers; every value is bound."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

__all__ = ["COLUMNS", "entries", "replace_entries", "last_update"]

COLUMNS = ("kind", "position", "title_zh", "title_en", "summary_zh", "summary_en", "steps_zh",
           "steps_en", "documents_zh", "documents_en", "fees_zh", "fees_en", "time_limit_days")

_SELECT = sql.SQL("SELECT {} FROM guide_entries ORDER BY position").format(
    sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))
_INSERT = sql.SQL("INSERT INTO guide_entries ({}, updated_by) VALUES ({}, %s)").format(
    sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)))


async def entries(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every entry's COLUMNS, in guide order."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT)
        return await cur.fetchall()


async def replace_entries(conn: AsyncConnection, rows: Iterable[Sequence[Any]], editor: str) -> None:
    """Delete every entry and insert `rows` (values in COLUMNS order) in one transaction."""
    async with conn.transaction():
        await conn.execute("DELETE FROM guide_entries")
        async with conn.cursor() as cur:
            await cur.executemany(_INSERT, [(*row, editor) for row in rows])


async def last_update(conn: AsyncConnection) -> dt.datetime | None:
    cur = await conn.execute("SELECT max(updated_at) FROM guide_entries")
    row = await cur.fetchone()
    return row[0] if row else None
