"""SQL of the restriction check: flags per unit, the full record of units, and stored checks."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = ["unit_flags", "full_record", "insert_check", "find_check", "find_check_by_code", "search_units"]

# Flags and ownership of every current unit named by a unit number or on a parcel code.
FLAGS = """
WITH target AS (
    SELECT u.unit_id, u.unit_number, u.location, u.use
      FROM units u
     WHERE u.end_lifespan IS NULL AND u.unit_number = %(unit_number)s
    UNION ALL
    SELECT u.unit_id, u.unit_number, u.location, u.use
      FROM parcels p
      JOIN units u ON u.parcel_id = p.parcel_id AND u.end_lifespan IS NULL
     WHERE p.end_lifespan IS NULL AND p.parcel_code = %(parcel_code)s
)
SELECT now() AS as_of, t.unit_id, t.unit_number, t.location, t.use, r.co_ownership, coalesce(h.holders, 0) AS holders,
       coalesce(o.owned, false) AS owned,
       coalesce(x.mortgages, 0) AS mortgages, coalesce(x.seizures_active, 0) AS seizures_active,
       coalesce(x.seizures_queued, 0) AS seizures_queued, coalesce(x.objections, 0) AS objections,
       coalesce(x.advance_notices, 0) AS advance_notices
  FROM target t
  LEFT JOIN rights r ON r.unit_id = t.unit_id AND r.end_lifespan IS NULL AND r.kind = 'ownership'
  LEFT JOIN LATERAL (
      SELECT count(*) AS holders FROM right_holders WHERE right_version_id = r.version_id) h ON true
  LEFT JOIN LATERAL (
      SELECT true AS owned
        FROM rights r2 JOIN right_holders h2 ON h2.right_version_id = r2.version_id
       WHERE r2.unit_id = t.unit_id AND r2.end_lifespan IS NULL AND h2.party_id = %(party_id)s
       LIMIT 1) o ON true
  LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE kind = 'mortgage' AND status = 'active') AS mortgages,
             count(*) FILTER (WHERE kind = 'seizure' AND status = 'active') AS seizures_active,
             count(*) FILTER (WHERE kind = 'seizure' AND status = 'queued') AS seizures_queued,
             count(*) FILTER (WHERE kind = 'objection' AND status = 'active') AS objections,
             count(*) FILTER (WHERE kind = 'advance_notice' AND status = 'active') AS advance_notices
        FROM restrictions WHERE unit_id = t.unit_id AND end_lifespan IS NULL) x ON true
 ORDER BY t.unit_number
"""

RIGHTS = """
SELECT r.unit_id, r.right_id, r.version, r.kind, r.co_ownership, r.certificate_number, r.registered_on,
       r.begin_lifespan, r.end_lifespan, s.reference AS source,
       jsonb_agg(jsonb_build_object(
           'party_id', p.party_id, 'name', p.name, 'kind', p.kind, 'document_type', p.id_document_type,
           'document_number', p.id_document_number, 'share_numerator', h.share_numerator,
           'share_denominator', h.share_denominator) ORDER BY p.party_id) AS holders
  FROM rights r
  JOIN right_holders h ON h.right_version_id = r.version_id
  JOIN parties p ON p.party_id = h.party_id AND p.end_lifespan IS NULL
  LEFT JOIN sources s ON s.source_id = r.source_id
 WHERE r.unit_id = ANY(%(unit_ids)s)
 GROUP BY r.version_id, s.reference
 ORDER BY r.unit_id, r.right_id, r.version
"""

RESTRICTIONS = """
SELECT x.unit_id, x.restriction_id, x.version, x.kind, x.status, p.name AS party_name,
       x.secured_amount, x.maximum_amount, x.rank, x.term_start, x.term_end, x.court, x.document_number,
       x.queue_position, x.reason, x.begin_lifespan, x.end_lifespan, s.reference AS source
  FROM restrictions x
  LEFT JOIN parties p ON p.party_id = x.party_id AND p.end_lifespan IS NULL
  LEFT JOIN sources s ON s.source_id = x.source_id
 WHERE x.unit_id = ANY(%(unit_ids)s)
 ORDER BY x.unit_id, x.kind, x.restriction_id, x.version
"""

SEIZURES = """
SELECT x.unit_id, x.restriction_id, x.status, x.court, x.document_number, x.queue_position,
       x.term_start, x.term_end, x.begin_lifespan
  FROM restrictions x
 WHERE x.unit_id = ANY(%(unit_ids)s) AND x.kind = 'seizure' AND x.end_lifespan IS NULL
   AND x.status IN ('active', 'queued')
 ORDER BY x.unit_id, x.queue_position
"""


async def unit_flags(conn: psycopg.AsyncConnection, *, unit_number: str | None, parcel_code: str | None,
                     party_id: int | None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(FLAGS, {"unit_number": unit_number, "parcel_code": parcel_code,
                                  "party_id": party_id if party_id is not None else -1})
        return await cur.fetchall()


async def full_record(conn: psycopg.AsyncConnection, unit_ids: list[int]) -> tuple[list[dict[str, Any]],
                                                                                      list[dict[str, Any]]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(RIGHTS, {"unit_ids": unit_ids})
        rights = await cur.fetchall()
        await cur.execute(RESTRICTIONS, {"unit_ids": unit_ids})
        restrictions = await cur.fetchall()
    return rights, restrictions


async def seizures(conn: psycopg.AsyncConnection, unit_ids: list[int]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SEIZURES, {"unit_ids": unit_ids})
        return await cur.fetchall()


_CHECK_INSERT = (
    "INSERT INTO checks (reference, verification_code, user_id, checker_role, checker_institution, tier, "
    "query_kind, query_value, purpose, unit_numbers, statement, checked_at) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
_CHECK_FIELDS = ("reference", "verification_code", "user_id", "checker_role", "checker_institution", "tier",
                 "query_kind", "query_value", "purpose", "unit_numbers", "statement", "checked_at")


def _check_params(row: dict[str, Any]) -> list[Any]:
    return [Jsonb(row[k]) if k == "statement" else row[k] for k in _CHECK_FIELDS]


async def insert_check(conn: psycopg.AsyncConnection, row: dict[str, Any],
                       audit: list[Any] | None = None) -> None:
    """Store a check and, in the same statement (one round trip), its audit rows."""
    if not audit:
        await conn.execute(_CHECK_INSERT, _check_params(row))
        return
    from portal.audit import insert_statement

    statement, params = insert_statement(audit)
    await conn.execute(f"WITH stored AS ({_CHECK_INSERT}) {statement}", _check_params(row) + params)


_CHECK_COLUMNS = ("reference, verification_code, user_id, checker_role, checker_institution, tier, query_kind, "
                  "query_value, purpose, unit_numbers, statement, checked_at")


async def find_check(conn: psycopg.AsyncConnection, reference: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_CHECK_COLUMNS} FROM checks WHERE reference = %s", (reference,))
        return await cur.fetchone()


async def find_check_by_code(conn: psycopg.AsyncConnection, code: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_CHECK_COLUMNS} FROM checks WHERE verification_code = %s", (code,))
        return await cur.fetchone()


async def search_units(conn: psycopg.AsyncConnection, text: str, limit: int) -> list[dict[str, Any]]:
    """Current units whose address contains `text` (trigram index): unit number and address only."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT unit_number, location FROM units WHERE end_lifespan IS NULL AND location LIKE %s "
            "ORDER BY unit_number LIMIT %s", (f"%{text}%", limit))
        return await cur.fetchall()
