"""SQL of the restriction check: the check itself (one function call), stored checks, unit search."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

__all__ = ["CHECK", "check", "find_check", "find_check_by_code", "search_units"]

# One check in one statement: migration 0007 has the SQL (token, limits, flags, tiers, check row,
# audit rows, and a commit that holds the audit chain's lock for no disk flush). Prepared once
# per connection by psycopg after a few calls, like any statement. The connection must be in
# autocommit mode (the procedure commits).
CHECK = ("CALL restriction_check_flushed("
         "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::text[], %s::text[], %s::text[], %s, %s, NULL, NULL, NULL)")


async def check(conn: psycopg.AsyncConnection, params: list[Any]) -> tuple[int, str | None, dict[str, Any] | None]:
    """Run a check: (http_status, body, records) as migration 0007 documents them."""
    cur = await conn.execute(CHECK, params)
    row = await cur.fetchone()
    assert row is not None
    return row[0], row[1], row[2]


_CHECK = sql.SQL("SELECT {} FROM checks WHERE ").format(sql.SQL(", ").join(map(sql.Identifier, (
    "reference", "verification_code", "user_id", "checker_role", "checker_institution", "tier", "query_kind",
    "query_value", "purpose", "unit_numbers", "statement", "checked_at"))))


async def find_check(conn: psycopg.AsyncConnection, reference: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CHECK + sql.SQL("reference = %s"), (reference,))
        return await cur.fetchone()


async def find_check_by_code(conn: psycopg.AsyncConnection, code: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CHECK + sql.SQL("verification_code = %s"), (code,))
        return await cur.fetchone()


async def search_units(conn: psycopg.AsyncConnection, text: str, limit: int) -> list[dict[str, Any]]:
    """Current units whose address contains `text` (trigram index): unit number and address only."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT unit_number, location FROM units WHERE end_lifespan IS NULL AND location LIKE %s "
            "ORDER BY unit_number LIMIT %s", (f"%{text}%", limit))
        return await cur.fetchall()
