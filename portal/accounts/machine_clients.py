"""Machine clients: another department's system with its own credential and named scopes.

An administrator creates a client (name, department, scopes, calls per minute, at most
`accounts.machine_client_max_per_minute`) and is shown its token once; the portal keeps only the
token's SHA-256 digest (migration 0019). A client with a scope that shows personal data
(`PERSONAL_SCOPES`) is created pending and works only once a second, different administrator
confirms it (`confirm_client`; migration 0020, as role grants in migration 0012); one with only
`restriction_flags` works at once. A client calls with `Authorization: Bearer <token>`;
`authorize` finds it, refuses a revoked, pending or unknown token (401) or a missing scope (403),
counts the call against the client's per-minute limit (429), and writes one audit row per call
in the client's name (action `machine_call`, the scope as purpose, the unit as subject), refused
calls included; `record_call` writes the answered call's row (outcome success or not_found).
Calls without a valid token are counted per client address: past
`accounts.machine_refusals_per_minute` in a minute they get 429, and only the first refusal and
the first 429 of each minute and address are audited (a flood writes no audit row per request).

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
from portal.accounts.service import SecondAdministrator
from portal.audit.trail import AuditEntry, record, record_async
from portal.platform.errors import AccountError, BadInput, Conflict, Forbidden, Limited, NotAuthenticated, NotFound

__all__ = ["Scope", "Client", "create_client", "confirm_client", "list_clients", "revoke_client", "authorize",
           "record_call", "audit_admin", "TOKEN_PREFIX", "PERSONAL_SCOPES", "SecondAdministrator"]

TOKEN_PREFIX = "mc_"


class Scope(StrEnum):
    RESTRICTION_FLAGS = "restriction_flags"
    OWNERSHIP_FOR_TAX = "ownership_for_tax"
    SEIZURES_FOR_COURTS = "seizures_for_courts"


# Scopes that show personal data: a client holding one needs a second administrator (migration 0020).
PERSONAL_SCOPES = frozenset({Scope.OWNERSHIP_FOR_TAX.value, Scope.SEIZURES_FOR_COURTS.value})


@dataclass(frozen=True)
class Client:
    client_id: int
    name: str
    department: str
    scopes: list[str]
    per_minute: int
    created_at: dt.datetime | None = None
    pending: bool = False


def _scopes(scopes: list[str]) -> list[str]:
    chosen = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in chosen if s not in Scope.__members__.values()]
    if not chosen or unknown:
        raise BadInput(f"scopes: give one or more of {', '.join(Scope)}"
                       + (f" ({unknown[0]!r} is not one)" if unknown else ""))
    return chosen


def create_client(conn: psycopg.Connection, *, name: str, department: str, scopes: list[str], per_minute: int = 60,
                  created_by: int | None = None, max_per_minute: int = 600) -> tuple[Client, str]:
    """Create a client; returns it and its token (shown once, stored only as a digest). A client
    with a scope of `PERSONAL_SCOPES` is pending until `confirm_client` (and needs `created_by`).
    Raises BadInput for a bad name, department, scope or limit (1 to `max_per_minute` calls a
    minute), Conflict for a name in use."""
    name = name.strip().lower()
    if not (3 <= len(name) <= 64) or not name.replace(".", "").replace("_", "").replace("-", "").isalnum() \
            or not name.isascii() or not name[0].isalnum():
        raise BadInput("name: 3-64 lowercase letters, digits, dots, dashes or underscores")
    if not department.strip() or len(department) > 200:
        raise BadInput("department: say which department's system this is (at most 200 characters)")
    if not 1 <= per_minute <= max_per_minute:
        raise BadInput(f"per_minute: from 1 to {max_per_minute} calls a minute")
    chosen = _scopes(scopes)
    pending = bool(PERSONAL_SCOPES & set(chosen))
    if pending and created_by is None:
        raise BadInput("a client that sees personal data is created in an administrator's name "
                       "(cadastre client add --as ADMINISTRATOR)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO machine_clients (name, department, scopes, token_digest, per_minute, created_by, "
                "confirmed_at) VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN NULL ELSE now() END) "
                "RETURNING client_id, created_at",
                (name, department.strip(), chosen, token_digest(token), per_minute, created_by, pending)).fetchone()
    except psycopg.errors.UniqueViolation as error:
        raise Conflict(f"a machine client named {name!r} exists already") from error
    assert row is not None
    return Client(int(row[0]), name, department.strip(), chosen, per_minute, row[1], pending), token


def confirm_client(conn: psycopg.Connection, name: str, *, confirmed_by: int) -> Client:
    """A second administrator confirms a pending client: its token works from now on.
    Raises NotFound for no such active client, Conflict when it is not pending, and
    SecondAdministrator (403) when `confirmed_by` created it."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT client_id, name, department, scopes, per_minute, created_at, created_by, "
                          "confirmed_at FROM machine_clients WHERE name = %s AND revoked_at IS NULL FOR UPDATE",
                          (name,)).fetchone()
    if row is None:
        raise NotFound(f"no active machine client named {name!r}")
    if row["confirmed_at"] is not None:
        raise Conflict(f"machine client {name} is not waiting for a confirmation")
    if row["created_by"] == confirmed_by:
        raise SecondAdministrator(f"machine client {name} sees personal data: an administrator other than the one "
                                  "who created it confirms it (separation of duties)")
    conn.execute("UPDATE machine_clients SET confirmed_by = %s, confirmed_at = now() WHERE client_id = %s",
                 (confirmed_by, row["client_id"]))
    return Client(row["client_id"], row["name"], row["department"], row["scopes"], row["per_minute"],
                  row["created_at"], False)


def list_clients(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT name, department, scopes, per_minute, created_at, revoked_at, "
                           "confirmed_at IS NULL AND revoked_at IS NULL AS pending, confirmed_at FROM machine_clients "
                           "ORDER BY name").fetchall()


def revoke_client(conn: psycopg.Connection, name: str, *, revoked_by: int | None = None) -> None:
    """Revoke a client: its token stops working at once. Raises NotFound for an unknown or
    already revoked client."""
    row = conn.execute("UPDATE machine_clients SET revoked_at = now(), revoked_by = %s "
                       "WHERE name = %s AND revoked_at IS NULL RETURNING client_id", (revoked_by, name)).fetchone()
    if row is None:
        raise NotFound(f"no active machine client named {name!r}")


async def authorize(conn: psycopg.AsyncConnection, authorization: str | None, scope: Scope, subject: str,
                    client_address: str | None, *, refusals_per_minute: int = 10) -> Client:
    """The client behind the request, allowed `scope` and within its limit. A refusal is audited
    and committed before it is raised: NotAuthenticated (401), Forbidden (403) or Limited (429,
    also for an address past `refusals_per_minute` calls without a valid token in a minute, of
    which only the first refusal and the first 429 are audited). An allowed call is audited by
    `record_call` once its answer is known."""
    token = ""
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    client: Client | None = None
    if token.startswith(TOKEN_PREFIX) and len(token) < 200:
        cur = conn.cursor(row_factory=dict_row)
        row = await (await cur.execute(
            "SELECT client_id, name, department, scopes, per_minute, created_at FROM machine_clients "
            "WHERE token_digest = %s AND revoked_at IS NULL AND confirmed_at IS NOT NULL",
            (token_digest(token),))).fetchone()
        if row is not None:
            client = Client(**row)
    outcome = "success"
    error_: AccountError | None = None
    audited = True
    if client is None:
        hits = await (await conn.execute("SELECT rate_hit(%s, interval '1 minute', 1)",
                                         (f"machine-refused-minute:{client_address or '-'}",))).fetchone()
        count = hits[0] if hits is not None else 1
        if count > refusals_per_minute:
            outcome, error_ = "limited", Limited("too many calls without a valid machine client token from this "
                                                 "address; wait for the next minute", _to_next_minute())
            audited = count == refusals_per_minute + 1
        else:
            outcome, error_ = "refused", NotAuthenticated("present a machine client's token: Authorization: "
                                                          "Bearer mc_...")
            audited = count == 1
    elif scope.value not in client.scopes:
        outcome, error_ = "refused", Forbidden(f"machine client {client.name} has no scope {scope.value}")
    else:
        hits = await (await conn.execute("SELECT rate_hit(%s, interval '1 minute', 1)",
                                         (f"machine-client-minute:{client.client_id}",))).fetchone()
        if hits is not None and hits[0] > client.per_minute:
            outcome, error_ = "limited", Limited(f"machine client {client.name}: at most {client.per_minute} calls "
                                                 "a minute; wait for the next minute", _to_next_minute())
    if error_ is None:
        assert client is not None
        return client
    if audited:
        await _record(conn, client, scope, subject, client_address, outcome)
    await conn.commit()  # the refusal (and the counted call) stays
    raise error_


async def record_call(conn: psycopg.AsyncConnection, client: Client, scope: Scope, subject: str,
                      client_address: str | None, *, found: bool) -> None:
    """The audit row of an answered call: outcome success, or not_found (committed at once) when
    the unit asked for does not exist."""
    await _record(conn, client, scope, subject, client_address, "success" if found else "not_found")
    if not found:
        await conn.commit()


def _to_next_minute() -> int:
    return 60 - dt.datetime.now(dt.UTC).second


async def _record(conn: psycopg.AsyncConnection, client: Client | None, scope: Scope, subject: str,
                  client_address: str | None, outcome: str) -> None:
    # In the client's name: the role machine_client and the client's name as the institution.
    await record_async(conn, AuditEntry(
        action="machine_call", actor_role="machine_client", actor_institution=client.name if client else None,
        access="consulted" if outcome == "success" else None, subject=subject, purpose=scope.value, outcome=outcome,
        client=client_address, detail={"department": client.department} if client else None))


def audit_admin(conn: psycopg.Connection, action: str, name: str, actor_user_id: int | None,
                detail: dict[str, Any] | None = None, *, outcome: str = "success") -> None:
    record(conn, AuditEntry(action=action, actor_user_id=actor_user_id, actor_role="administrator", subject=name,
                            detail=detail, outcome=outcome))
