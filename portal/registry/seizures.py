"""The seizure queue of a unit (轮候查封): one active seizure at position 1, queued ones behind it.

When the active seizure is released or expires, the next one takes effect: it becomes active
at position 1 and its term starts that day, keeping the length the court ordered. Every change
is a new version of the seizure (the history shows when each took effect).
"""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg.rows import dict_row

from portal.platform.versioning import supersede
from portal.registry import queries

__all__ = ["renumber_queue", "expire_seizures", "next_position"]


def next_position(conn: psycopg.Connection, unit_id: int) -> int:
    row = conn.execute(queries.LAST_QUEUE_POSITION, (unit_id,)).fetchone()
    return int(row[0] or 0) + 1  # type: ignore[index]


def renumber_queue(conn: psycopg.Connection, unit_id: int, today: dt.date) -> list[int]:
    """Close the gaps in the unit's queue; returns the seizures that took effect."""
    conn.execute(queries.SEIZURE_QUEUE_DEFERRED)
    with conn.cursor(row_factory=dict_row) as cur:
        queue = cur.execute(queries.SEIZURE_QUEUE, (unit_id,)).fetchall()
    took_effect = []
    for position, seizure in enumerate(queue, 1):
        status = "active" if position == 1 else "queued"
        if seizure["queue_position"] == position and seizure["status"] == status:
            continue
        changes: dict[str, object] = {"queue_position": position, "status": status}
        if status == "active" and seizure["status"] == "queued":
            length = (seizure["term_end"] - seizure["term_start"]) if seizure["term_end"] else None
            changes.update(term_start=today, term_end=today + length if length else None)
            took_effect.append(seizure["restriction_id"])
        supersede(conn, "restrictions", seizure["restriction_id"], changes)
    return took_effect


def expire_seizures(conn: psycopg.Connection, today: dt.date) -> dict[str, list[int]]:
    """Seizures whose term ended before `today` expire; the queues behind them move up.
    Run daily (`cadastre registry expire`); idempotent. Does not commit."""
    due = conn.execute(queries.SEIZURES_DUE, (today,)).fetchall()
    for restriction_id, _unit in due:
        supersede(conn, "restrictions", restriction_id, {"status": "expired"})
    expired = [restriction_id for restriction_id, _unit in due]
    units = {unit for _restriction, unit in due}
    took_effect: list[int] = []
    for unit_id in sorted(units):
        took_effect += renumber_queue(conn, unit_id, today)
    return {"expired": expired, "took_effect": took_effect}
