"""The office's published performance: per kind of application and month, how many were
completed, the median processing time in working days, and the share finished within the
time limit (ordinary registration 3 working days, mortgage 1, as `time_limits` says)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from portal.platform.work import UnitOfWork

__all__ = ["monthly", "monthly_from", "STATISTICS_SQL"]

STATISTICS_SQL = """
SELECT a.kind, to_char(a.decided_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
       count(*) AS completed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY working_days_between(a.received_at, a.decided_at))
           AS median_working_days,
       round(avg((a.decided_at <= a.due_at)::int) * 100, 1)::float8 AS within_limit_percent,
       max(t.working_days) AS time_limit_days
  FROM applications a JOIN time_limits t USING (kind)
 WHERE a.status = 'registered' AND a.decided_at >= now() - interval '13 months'
 GROUP BY 1, 2
 ORDER BY 2, 1
"""


def monthly(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(STATISTICS_SQL).fetchall()
    return rows


async def monthly_from(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    """The same figures over an async connection: public reads may come from a replica."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(STATISTICS_SQL)
        return await cur.fetchall()
