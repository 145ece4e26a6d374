"""The audit trail (查询留痕): write rows, search them, export them, and verify the hash chain.

Rows are appended through `record()` (or by the registry triggers); the database numbers each
row, links it to the previous row's hash and hashes it (migration 0003, `audit_append`), and
refuses UPDATE, DELETE and TRUNCATE. `verify_chain()` recomputes every hash here, in Python,
from the stored fields, so a change made with triggers switched off is found and named:

- altered: a row's fields no longer give its stored hash, or its hash was rewritten so the next
  row no longer links to it;
- removed: a number is missing from the sequence, or a link skips a row, or the log ends before
  the chain head;
- inserted: a row that the next row does not link to, while the next row links to the row
  before it (a row slipped in between), or rows beyond the recorded chain head.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from portal.platform.roles import create_login_role, grant_app_role, role_exists
from portal.platform.work import UnitOfWork

__all__ = [
    "AuditEntry", "ChainProblem", "ChainReport", "record", "record_async", "insert_statement", "canonical",
    "verify_chain", "verify_since", "search", "search_async", "to_csv", "grant_app_role", "role_exists",
    "create_login_role", "act_as", "SEARCH_COLUMNS",
]

GENESIS = hashlib.sha256(b"cadastre audit genesis").digest()
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SEARCH_COLUMNS = ("seq", "at", "actor_user_id", "actor_role", "actor_institution", "action", "access",
                  "subject", "purpose", "outcome", "reference", "client", "detail")

_COLUMNS = ("actor_user_id", "actor_role", "actor_institution", "action", "access", "subject", "purpose",
            "outcome", "reference", "client", "detail")
_ROW = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)))
_INSERT = sql.SQL("INSERT INTO audit_log ({}) VALUES ").format(sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))


@dataclass(frozen=True)
class AuditEntry:
    """One event: who (user, role, institution), what (action, subject, access), why, outcome."""

    action: str
    outcome: str = "success"
    actor_user_id: int | None = None
    actor_role: str | None = None
    actor_institution: str | None = None
    access: str | None = None  # "consulted" or "listed" (appeared in search results)
    subject: str | None = None
    purpose: str | None = None
    reference: str | None = None
    client: str | None = None
    detail: Mapping[str, Any] | None = None

    def params(self) -> list[Any]:
        detail = (json.dumps(self.detail, ensure_ascii=False, sort_keys=True, default=str)
                  if self.detail is not None else None)
        return [getattr(self, k) for k in _COLUMNS[:-1]] + [detail]


def insert_statement(entries: AuditEntry | Iterable[AuditEntry]) -> tuple[sql.Composed, list[Any]]:
    """One INSERT of all entries (one round trip), with its parameters."""
    batch = [entries] if isinstance(entries, AuditEntry) else list(entries)
    statement = _INSERT + sql.SQL(", ").join([_ROW] * len(batch))
    return statement, [v for e in batch for v in e.params()]


def record(conn: psycopg.Connection, entries: AuditEntry | Iterable[AuditEntry]) -> None:
    """Append entries in the caller's transaction (they commit or vanish with it)."""
    statement, params = insert_statement(entries)
    conn.execute(statement, params)


async def record_async(conn: psycopg.AsyncConnection, entries: AuditEntry | Iterable[AuditEntry]) -> None:
    statement, params = insert_statement(entries)
    await conn.execute(statement, params)


def act_as(conn: psycopg.Connection, user_id: int | None, role: str) -> None:
    """Name who makes the registry changes of the current transaction: the registry audit
    triggers (migration 0003) record this actor instead of the database role."""
    conn.execute("SELECT set_config('cadastre.actor_user_id', %s, true), set_config('cadastre.actor_role', %s, true)",
                 ("" if user_id is None else str(user_id), role))


@contextmanager
def committed_as(conn: psycopg.Connection, user_id: int | None, role: str) -> Iterator[None]:
    """One registry step in its own transaction, in the name of its actor: committed when the
    block ends, rolled back on any error, so a refused step leaves the register as it was."""
    with UnitOfWork(conn) as uow:
        act_as(conn, user_id, role)
        yield
        uow.commit()


# -- the chain ---------------------------------------------------------------------------

def _field(value: object) -> str:
    if value is None:
        return "-"
    text = str(value)
    return f"{len(text)}:{text}"


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash covers (the same text as SQL `audit_canonical`)."""
    at: dt.datetime = row["at"]
    micros = (at - EPOCH) // dt.timedelta(microseconds=1)
    parts = [str(micros)] + [_field(row[k]) for k in (
        "actor_user_id", "actor_role", "actor_institution", "action", "access", "subject", "purpose",
        "outcome", "reference", "client", "detail")]
    return "|".join(parts).encode("utf-8")


@dataclass(frozen=True)
class ChainProblem:
    kind: str  # altered, removed, inserted
    seq: int
    message: str


@dataclass
class ChainReport:
    rows: int = 0
    head_seq: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _rows(conn: psycopg.Connection) -> Iterator[dict[str, Any]]:
    """Every row in order, each with the chain head, read in one statement (one snapshot)."""
    columns = sql.SQL(", ").join(sql.Identifier("a", c) for c in SEARCH_COLUMNS)
    with conn.cursor(name="audit_verify", row_factory=dict_row) as cur:
        cur.itersize = 5000
        cur.execute(sql.SQL("SELECT {}, a.prev_hash, a.hash, h.seq AS head_seq, h.hash AS head_hash "
                            "FROM audit_chain h LEFT JOIN audit_log a ON true ORDER BY a.seq").format(columns))
        yield from cur


def verify_chain(conn: psycopg.Connection) -> ChainReport:
    """Recompute the chain from the genesis hash and say which rows were altered, removed or inserted."""
    report = ChainReport()
    problems = report.problems
    expected_seq = 1
    last_hash = GENESIS          # stored hash of the previous row
    before_last = None           # stored hash of the row before that
    last_seq = 0
    inserted = 0
    head_hash = GENESIS
    with conn.transaction():
        for row in _rows(conn):
            report.head_seq, head_hash = row["head_seq"], bytes(row["head_hash"])
            if row["seq"] is None:
                break
            report.rows += 1
            seq = row["seq"]
            prev_hash, stored = bytes(row["prev_hash"]), bytes(row["hash"])
            if hashlib.sha256(prev_hash + canonical(row)).digest() != stored:
                problems.append(ChainProblem("altered", seq, f"row {seq} was altered: its fields do not "
                                                             f"give its recorded hash"))
            if seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
                problems.append(ChainProblem("removed", expected_seq, f"row(s) {missing} removed "
                                                                       f"(between rows {last_seq} and {seq})"))
            elif prev_hash != last_hash:
                if before_last is not None and prev_hash == before_last:
                    inserted += 1
                    problems.append(ChainProblem("inserted", last_seq, f"row {last_seq} was inserted: row {seq} "
                                                                       f"links to row {last_seq - 1}"))
                else:
                    problems.append(ChainProblem("altered", last_seq, f"the chain breaks between rows {last_seq} "
                                                                      f"and {seq}: row {last_seq} was rewritten "
                                                                      f"or a row between them removed"))
            before_last, last_hash, last_seq = last_hash, stored, seq
            expected_seq = seq + 1
    last_seq -= inserted
    if last_seq < report.head_seq:
        problems.append(ChainProblem("removed", last_seq + 1, f"row(s) {last_seq + 1}-{report.head_seq} removed "
                                     f"from the end (the chain head is row {report.head_seq})"))
    elif last_seq > report.head_seq:
        problems.append(ChainProblem("inserted", report.head_seq + 1, f"row(s) {report.head_seq + 1}-{last_seq} "
                                                                      f"inserted after the chain head"))
    elif last_seq and not inserted and head_hash != last_hash:
        problems.append(ChainProblem("altered", last_seq, f"row {last_seq} differs from the chain head"))
    return report


def verify_since(conn: psycopg.Connection, seq: int, digest: bytes) -> tuple[int, bytes, list[ChainProblem]]:
    """The chain head, and what is wrong with the rows after row `seq` (whose hash is `digest`):
    each must follow on by number, link to the row before and give its own hash, and the last
    must be the head. Reads only those rows, in one snapshot (`cadastre audit anchor`)."""
    columns = sql.SQL(", ").join(sql.Identifier("a", c) for c in SEARCH_COLUMNS)
    problems: list[ChainProblem] = []
    head_seq, head_hash = seq, digest
    last_seq, last_hash = seq, digest
    with conn.transaction(), conn.cursor(name="audit_since", row_factory=dict_row) as cur:
        cur.itersize = 5000
        cur.execute(sql.SQL("SELECT {}, a.prev_hash, a.hash, h.seq AS head_seq, h.hash AS head_hash "
                            "FROM audit_chain h LEFT JOIN audit_log a ON a.seq > %s ORDER BY a.seq").format(columns),
                    (seq,))
        for row in cur:
            head_seq, head_hash = row["head_seq"], bytes(row["head_hash"])
            if row["seq"] is None:
                break
            stored = bytes(row["hash"])
            if row["seq"] != last_seq + 1 or bytes(row["prev_hash"]) != last_hash:
                problems.append(ChainProblem("altered", row["seq"], f"row {row['seq']} does not follow on from "
                                                                    f"row {last_seq}"))
            elif hashlib.sha256(last_hash + canonical(row)).digest() != stored:
                problems.append(ChainProblem("altered", row["seq"], f"row {row['seq']} was altered: its fields do "
                                                                    f"not give its recorded hash"))
            last_seq, last_hash = row["seq"], stored
            if problems:
                break
    if not problems and (last_seq, last_hash) != (head_seq, head_hash):
        problems.append(ChainProblem("altered", head_seq, f"the chain head (row {head_seq}) is not the last row "
                                                          f"({last_seq})"))
    return head_seq, head_hash, problems


# -- search and export -------------------------------------------------------------------

def _where(filters: Mapping[str, Any]) -> tuple[sql.Composable, dict[str, Any]]:
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for key in ("actor_user_id", "action", "access", "outcome", "reference"):
        if filters.get(key) not in (None, ""):
            clauses.append(sql.SQL("{} = {}").format(sql.Identifier(key), sql.Placeholder(key)))
            params[key] = filters[key]
    if filters.get("actor_role"):
        clauses.append(sql.SQL("actor_role LIKE {}").format(sql.Placeholder("actor_role")))
        params["actor_role"] = f"%{filters['actor_role']}%"
    if filters.get("subject"):
        clauses.append(sql.SQL("subject LIKE {}").format(sql.Placeholder("subject")))
        params["subject"] = f"{filters['subject']}%"
    if filters.get("since"):
        clauses.append(sql.SQL("at >= {}").format(sql.Placeholder("since")))
        params["since"] = filters["since"]
    if filters.get("until"):
        clauses.append(sql.SQL("at < {}").format(sql.Placeholder("until")))
        params["until"] = filters["until"]
    where = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("true")
    return where, params


def _search_query(filters: Mapping[str, Any], limit: int | None) -> tuple[sql.Composed, dict[str, Any]]:
    where, params = _where(filters)
    query = sql.SQL("SELECT {} FROM audit_log WHERE {} ORDER BY seq DESC").format(
        sql.SQL(", ").join(map(sql.Identifier, SEARCH_COLUMNS)), where)
    if limit is not None:
        query = query + sql.SQL(" LIMIT {}").format(sql.Literal(int(limit)))
    return query, params


def search(conn: psycopg.Connection, filters: Mapping[str, Any], limit: int | None = 200) -> list[dict[str, Any]]:
    query, params = _search_query(filters, limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


async def search_async(conn: psycopg.AsyncConnection, filters: Mapping[str, Any],
                       limit: int | None = 200) -> list[dict[str, Any]]:
    query, params = _search_query(filters, limit)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SEARCH_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else (row[c].isoformat() if isinstance(row[c], dt.datetime)
                                                    else row[c]) for c in SEARCH_COLUMNS])
    return out.getvalue()


# -- least privilege ---------------------------------------------------------------------

# The role's grants live with the other database roles (portal/platform/roles.py), where the
# managed cluster grants them too; the names stay importable from here.
