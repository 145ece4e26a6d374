"""Machine clients: another department's system with its own credential and named scopes.

An administrator creates a client (name, department, scopes, calls per minute) and is shown its
token once; the portal keeps only the token's SHA-256 digest (migration 0019). A client calls
with `Authorization: Bearer <token>`; `authorize` finds it, refuses a revoked or unknown token
(401) or a missing scope (403), counts the call against the client's per-minute limit (429),
and writes one audit row per call in the client's name (action `machine_call`, the scope as
purpose, the unit as subject), refused calls included.

The scopes follow the disclosure table (shared docs/domain.md, "Who may see what"):

    restriction_flags     for any unit: co-owned, mortgaged, seized, under objection, advance
                          notice (yes/no and counts), never names, amounts or numbers
    ownership_for_tax     a unit's current owners, their shares, the certificate number and date,
                          identity numbers masked (first 3 and last 2 characters)
    seizures_for_courts   a unit's active and queued seizures: court, document number, place in
                          the queue, term
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row

from portal.accounts.security import token_digest
from portal.audit.trail import AuditEntry, record, record_async
from portal.platform.errors import AccountError, BadInput, Conflict, Forbidden, Limited, NotAuthenticated, NotFound

__all__ = ["Scope", "Client", "create_client", "list_clients", "revoke_client", "authorize", "audit_admin",
           "TOKEN_PREFIX"]

TOKEN_PREFIX = "mc_"


class Scope(StrEnum):
    RESTRICTION_FLAGS = "restriction_flags"
    OWNERSHIP_FOR_TAX = "ownership_for_tax"
    SEIZURES_FOR_COURTS = "seizures_for_courts"


@dataclass(frozen=True)
class Client:
    client_id: int
    name: str
    department: str
    scopes: list[str]
    per_minute: int


def _scopes(scopes: list[str]) -> list[str]:
    chosen = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in chosen if s not in Scope.__members__.values()]
    if not chosen or unknown:
        raise BadInput(f"scopes: give one or more of {', '.join(Scope)}"
                       + (f" ({unknown[0]!r} is not one)" if unknown else ""))
    return chosen


def create_client(conn: psycopg.Connection, *, name: str, department: str, scopes: list[str], per_minute: int = 60,
                  created_by: int | None = None) -> tuple[Client, str]:
    """Create a client; returns it and its token (shown once, stored only as a digest).
    Raises BadInput for a bad name, department, scope or limit, Conflict for a name in use."""
    name = name.strip().lower()
    if not (3 <= len(name) <= 64) or not name.replace(".", "").replace("_", "").replace("-", "").isalnum() \
            or not name.isascii() or not name[0].isalnum():
        raise BadInput("name: 3-64 lowercase letters, digits, dots, dashes or underscores")
    if not department.strip() or len(department) > 200:
        raise BadInput("department: say which department's system this is (at most 200 characters)")
    if not 1 <= per_minute <= 100_000:
        raise BadInput("per_minute: from 1 to 100000 calls a minute")
    chosen = _scopes(scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO machine_clients (name, department, scopes, token_digest, per_minute, created_by) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING client_id",
                (name, department.strip(), chosen, token_digest(token), per_minute, created_by)).fetchone()
    except psycopg.errors.UniqueViolation as error:
        raise Conflict(f"a machine client named {name!r} exists already") from error
    assert row is not None
    return Client(int(row[0]), name, department.strip(), chosen, per_minute), token


def list_clients(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT name, department, scopes, per_minute, created_at, revoked_at FROM machine_clients "
                           "ORDER BY name").fetchall()


def revoke_client(conn: psycopg.Connection, name: str, *, revoked_by: int | None = None) -> None:
    """Revoke a client: its token stops working at once. Raises NotFound for an unknown or
    already revoked client."""
    row = conn.execute("UPDATE machine_clients SET revoked_at = now(), revoked_by = %s "
                       "WHERE name = %s AND revoked_at IS NULL RETURNING client_id", (revoked_by, name)).fetchone()
    if row is None:
        raise NotFound(f"no active machine client named {name!r}")


async def authorize(conn: psycopg.AsyncConnection, authorization: str | None, scope: Scope, subject: str,
                    client_address: str | None) -> Client:
    """The client behind the request, allowed `scope` and within its limit; audited either way.
    Raises NotAuthenticated (401), Forbidden (403) or Limited (429) after committing the audit row."""
    token = ""
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    client: Client | None = None
    if token.startswith(TOKEN_PREFIX) and len(token) < 200:
        cur = conn.cursor(row_factory=dict_row)
        row = await (await cur.execute(
            "SELECT client_id, name, department, scopes, per_minute FROM machine_clients "
            "WHERE token_digest = %s AND revoked_at IS NULL", (token_digest(token),))).fetchone()
        if row is not None:
            client = Client(**row)
    outcome = "success"
    error_: AccountError | None = None
    if client is None:
        outcome, error_ = "refused", NotAuthenticated("present a machine client's token: Authorization: Bearer mc_...")
    elif scope.value not in client.scopes:
        outcome, error_ = "refused", Forbidden(f"machine client {client.name} has no scope {scope.value}")
    else:
        hits = await (await conn.execute("SELECT rate_hit(%s, interval '1 minute', 1)",
                                         (f"machine-client-minute:{client.client_id}",))).fetchone()
        if hits is not None and hits[0] > client.per_minute:
            seconds = 60 - dt.datetime.now(dt.UTC).second
            outcome, error_ = "limited", Limited(f"machine client {client.name}: at most {client.per_minute} calls "
                                                 "a minute; wait for the next minute", seconds)
    # In the client's name: the role machine_client and the client's name as the institution.
    await record_async(conn, AuditEntry(
        action="machine_call", actor_role="machine_client", actor_institution=client.name if client else None,
        access="consulted" if outcome == "success" else None, subject=subject, purpose=scope.value, outcome=outcome,
        client=client_address, detail={"department": client.department} if client else None))
    if error_ is not None:
        await conn.commit()  # the refusal stays in the audit trail
        raise error_
    assert client is not None
    return client


def audit_admin(conn: psycopg.Connection, action: str, name: str, actor_user_id: int | None) -> None:
    record(conn, AuditEntry(action=action, actor_user_id=actor_user_id, actor_role="administrator", subject=name))
