"""SQL for accounts: users, sessions and tokens, identity verifications, rate counters.

All statements sit here with bound parameters; callers pass a psycopg (async) connection.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row

__all__ = [
    "PRINCIPAL_BY_TOKEN", "find_user", "create_user", "create_session", "revoke_session",
    "revoke_user_sessions", "revoke_sessions_except", "revoke_token", "set_password",
    "list_tokens", "current_identity_verification", "party_by_document",
    "digest_taken", "insert_identity_verification", "rate_hits", "forget_old_counters", "set_roles", "list_users",
    "owned_units", "checks_of_units", "act_as", "request_grants", "withdraw_grants", "pending_grants", "lock_grant",
    "confirm_grant", "claim_hits", "reopen_claims", "accounts_of_identity", "add_account_notices",
    "account_notices_of", "verifications_after_failures",
]

PRINCIPAL_BY_TOKEN = """
SELECT u.user_id, u.username, u.display_name, u.roles, u.institution,
       s.kind, s.csrf_token, s.expires_at, v.party_id, v.verification_id IS NOT NULL AS verified
  FROM sessions s
  JOIN users u ON u.user_id = s.user_id
  LEFT JOIN identity_verifications v ON v.user_id = u.user_id AND v.revoked_at IS NULL
 WHERE s.token_digest = %s AND s.kind = %s AND s.revoked_at IS NULL AND s.expires_at > now()
   AND u.disabled_at IS NULL
"""


async def find_user(conn: psycopg.AsyncConnection, username: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT user_id, username, display_name, password_hash, roles, institution, disabled_at, "
            "EXISTS (SELECT 1 FROM identity_verifications v WHERE v.user_id = u.user_id "
            "AND v.revoked_at IS NULL) AS verified FROM users u WHERE username = %s", (username,))
        return await cur.fetchone()


async def create_user(conn: psycopg.AsyncConnection, username: str, display_name: str, password_hash: str,
                      roles: list[str] | None = None, institution: str | None = None) -> int:
    cur = await conn.execute(
        "INSERT INTO users (username, display_name, password_hash, roles, institution) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING user_id",
        (username, display_name, password_hash, roles or [], institution))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def create_session(conn: psycopg.AsyncConnection, digest: bytes, user_id: int, kind: str,
                         lifetime: dt.timedelta, csrf_token: str | None = None, label: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO sessions (token_digest, user_id, kind, csrf_token, label, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, now() + %s)",
        (digest, user_id, kind, csrf_token, label, lifetime))


async def revoke_session(conn: psycopg.AsyncConnection, digest: bytes) -> None:
    await conn.execute("UPDATE sessions SET revoked_at = now() WHERE token_digest = %s AND revoked_at IS NULL",
                       (digest,))


async def revoke_user_sessions(conn: psycopg.AsyncConnection, user_id: int) -> None:
    await conn.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
                       (user_id,))


async def revoke_sessions_except(conn: psycopg.AsyncConnection, user_id: int, keep: bytes | None) -> int:
    """End every live session and token of the user but the one whose digest is `keep` (None: all);
    returns how many ended."""
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL AND expires_at > now() "
        "AND token_digest IS DISTINCT FROM %s", (user_id, keep))
    return cur.rowcount


# A token is named by the first 12 bytes of the SHA-256 of its stored digest, in hex: enough to
# tell a user's tokens apart, and neither the secret nor what the database looks it up by.

async def list_tokens(conn: psycopg.AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT encode(substr(sha256(token_digest), 1, 12), 'hex') AS token_id, label, created_at, expires_at "
            "FROM sessions WHERE user_id = %s AND kind = 'bearer' AND revoked_at IS NULL AND expires_at > now() "
            "ORDER BY created_at DESC", (user_id,))
        return await cur.fetchall()


async def revoke_token(conn: psycopg.AsyncConnection, user_id: int, token_id: str) -> dict[str, Any] | None:
    """Revoke the user's live token of this id; returns its label, or None when there is none."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND kind = 'bearer' AND revoked_at IS NULL "
            "AND expires_at > now() AND encode(substr(sha256(token_digest), 1, 12), 'hex') = %s RETURNING label",
            (user_id, token_id))
        return await cur.fetchone()


async def set_password(conn: psycopg.AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = %s WHERE user_id = %s", (password_hash, user_id))


async def current_identity_verification(conn: psycopg.AsyncConnection, user_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT v.verification_id, v.method, v.verified_name, v.document_masked, v.party_id, "
            "       v.verified_at, r.username AS verified_by, v.document_digest "
            "FROM identity_verifications v LEFT JOIN users r ON r.user_id = v.verified_by "
            "WHERE v.user_id = %s AND v.revoked_at IS NULL", (user_id,))
        return await cur.fetchone()


async def party_by_document(conn: psycopg.AsyncConnection, digest: bytes) -> dict[str, Any] | None:
    """The current party whose identity document has this digest (`identity_digest` of a resident
    id: the register keeps the number only as digest, masked form and sealed number)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT party_id, name FROM parties WHERE end_lifespan IS NULL AND id_document_digest = %s", (digest,))
        return await cur.fetchone()


async def digest_taken(conn: psycopg.AsyncConnection, digest: bytes) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM identity_verifications WHERE document_digest = %s AND revoked_at IS NULL)",
        (digest,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def insert_identity_verification(conn: psycopg.AsyncConnection, *, user_id: int, method: str, name: str,
                                       digest: bytes, masked: str, party_id: int | None,
                                       verified_by: int | None = None, note: str | None = None,
                                       failures_before: int = 0, client: str | None = None) -> int:
    cur = await conn.execute(
        "INSERT INTO identity_verifications (user_id, method, verified_name, document_digest, document_masked, "
        "party_id, verified_by, note, failures_before, client) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "RETURNING verification_id",
        (user_id, method, name, digest, masked, party_id, verified_by, note, failures_before, client))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


# -- online verification: failures per claimed identity, notices, the registrar's list ----------

CLAIM_HIT = """
INSERT INTO verification_claims AS c (claim_digest, window_start, failures)
VALUES (%(claim)s, now(), greatest(%(amount)s, 0))
ON CONFLICT (claim_digest) DO UPDATE SET
    window_start = CASE WHEN c.window_start <= now() - %(window)s THEN now() ELSE c.window_start END,
    failures = greatest(0, CASE WHEN c.window_start <= now() - %(window)s THEN 0 ELSE c.failures END
                           + %(amount)s)
RETURNING failures, window_start + %(window)s
"""


async def claim_hits(conn: psycopg.AsyncConnection, claims: list[bytes], window: dt.timedelta,
                     amount: int) -> list[tuple[int, dt.datetime]]:
    """Add `amount` to each claimed identity's count (a window starts at its first failure and
    lasts `window`) and return (count, window end) of each. Each row is counted under its lock,
    so parallel requests get distinct totals."""
    totals = []
    for claim in claims:
        cur = await conn.execute(CLAIM_HIT, {"claim": claim, "window": window, "amount": amount})
        row = await cur.fetchone()
        assert row is not None
        totals.append((int(row[0]), row[1]))
    return totals


async def reopen_claims(conn: psycopg.AsyncConnection, claims: list[bytes]) -> int:
    """Forget the failures of these claimed identities (a registrar reopens online verification)."""
    cur = await conn.execute("DELETE FROM verification_claims WHERE claim_digest = ANY(%s) AND failures > 0",
                             (claims,))
    return cur.rowcount


async def accounts_of_identity(conn: psycopg.AsyncConnection, digest: bytes, party_id: int | None,
                               but: int) -> list[int]:
    """Accounts other than `but` that are or were verified as this identity (its number's digest,
    or the registry party)."""
    cur = await conn.execute(
        "SELECT DISTINCT user_id FROM identity_verifications WHERE user_id <> %s "
        "AND (document_digest = %s OR party_id = %s) ORDER BY user_id", (but, digest, party_id))
    return [int(r[0]) for r in await cur.fetchall()]


async def add_account_notices(conn: psycopg.AsyncConnection, user_ids: list[int], kind: str,
                              client: str | None) -> None:
    async with conn.cursor() as cur:
        await cur.executemany("INSERT INTO account_notices (user_id, kind, client) VALUES (%s, %s, %s)",
                              [(user_id, kind, client) for user_id in user_ids])


async def account_notices_of(conn: psycopg.AsyncConnection, user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Notices to this account, newest first: kind and time (the other account is the registrar's
    to know)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT kind, created_at FROM account_notices WHERE user_id = %s "
                          "ORDER BY created_at DESC, notice_id DESC LIMIT %s", (user_id, limit))
        return await cur.fetchall()


async def verifications_after_failures(conn: psycopg.AsyncConnection, limit: int = 200) -> list[dict[str, Any]]:
    """Online verifications that followed failed tries on the same claimed identity, newest first:
    the account, the party, the failures before, when, and from which client."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT v.verification_id, u.username, v.party_id, p.name AS party_name, v.document_masked, "
            "       v.failures_before, v.verified_at, v.client, v.revoked_at "
            "FROM identity_verifications v JOIN users u ON u.user_id = v.user_id "
            "LEFT JOIN parties p ON p.party_id = v.party_id AND p.end_lifespan IS NULL "
            "WHERE v.failures_before > 0 ORDER BY v.verified_at DESC, v.verification_id DESC LIMIT %s", (limit,))
        return await cur.fetchall()


async def rate_hits(conn: psycopg.AsyncConnection, buckets: list[tuple[str, str, int]]) -> list[int]:
    """Count hits in each (bucket, window, amount) and return the totals, in one round trip."""
    selects = ", ".join("rate_hit(%s, %s::interval, %s)" for _ in buckets)
    params = [v for bucket in buckets for v in bucket]
    cur = await conn.execute(f"SELECT {selects}", params)
    row = await cur.fetchone()
    assert row is not None
    return [int(v) for v in row]


async def forget_old_counters(conn: psycopg.AsyncConnection) -> None:
    """Delete rate counters of windows that ended more than two days ago."""
    await conn.execute("DELETE FROM rate_counters WHERE window_start < now() - interval '2 days'")


async def set_roles(conn: psycopg.AsyncConnection, username: str, roles: list[str],
                    institution: str | None) -> bool:
    cur = await conn.execute("UPDATE users SET roles = %s, institution = %s WHERE username = %s",
                             (roles, institution, username))
    return cur.rowcount == 1


async def act_as(conn: psycopg.AsyncConnection, user_id: int) -> None:
    """Name the acting account for this transaction: migration 0012's guard on `users.roles`
    refuses, for it, a change of its own roles and a role no second administrator confirmed."""
    await conn.execute("SELECT set_config('cadastre.actor_user_id', %s, true)", (str(user_id),))


async def request_grants(conn: psycopg.AsyncConnection, user_id: int, roles: list[str], institution: str | None,
                         requested_by: int) -> None:
    """Pending grants of `roles` (one per user and role: a pending one is kept as it is)."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO role_grants (user_id, role, institution, requested_by) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (user_id, role) WHERE confirmed_at IS NULL AND withdrawn_at IS NULL DO NOTHING",
            [(user_id, role, institution, requested_by) for role in roles])


async def withdraw_grants(conn: psycopg.AsyncConnection, user_id: int, keep: list[str]) -> list[str]:
    """Withdraw the user's pending grants of roles not in `keep`; returns the roles withdrawn."""
    cur = await conn.execute(
        "UPDATE role_grants SET withdrawn_at = now() WHERE user_id = %s AND confirmed_at IS NULL "
        "AND withdrawn_at IS NULL AND NOT role = ANY(%s) RETURNING role", (user_id, keep))
    return [r[0] for r in await cur.fetchall()]


async def pending_grants(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT g.grant_id, g.role, g.institution, g.requested_at, g.user_id, u.username, "
            "       g.requested_by, r.username AS requested_by_username "
            "FROM role_grants g JOIN users u ON u.user_id = g.user_id JOIN users r ON r.user_id = g.requested_by "
            "WHERE g.confirmed_at IS NULL AND g.withdrawn_at IS NULL ORDER BY g.grant_id")
        return await cur.fetchall()


async def lock_grant(conn: psycopg.AsyncConnection, grant_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT g.*, u.username FROM role_grants g JOIN users u ON u.user_id = g.user_id "
            "WHERE g.grant_id = %s FOR UPDATE OF g", (grant_id,))
        return await cur.fetchone()


async def confirm_grant(conn: psycopg.AsyncConnection, grant: dict[str, Any], confirmed_by: int) -> None:
    """Confirm the grant and give the role (the institution, if the grant names one)."""
    await conn.execute("UPDATE role_grants SET confirmed_by = %s, confirmed_at = now() WHERE grant_id = %s",
                       (confirmed_by, grant["grant_id"]))
    await conn.execute(
        "UPDATE users SET roles = ARRAY(SELECT DISTINCT r FROM unnest(roles || %s::text) AS r ORDER BY r), "
        "institution = coalesce(%s, institution) WHERE user_id = %s",
        (grant["role"], grant["institution"], grant["user_id"]))


async def list_users(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT u.user_id, u.username, u.display_name, u.roles, u.institution, u.created_at, "
            "       v.method, v.document_masked, v.verified_at "
            "FROM users u LEFT JOIN identity_verifications v ON v.user_id = u.user_id AND v.revoked_at IS NULL "
            "ORDER BY u.user_id")
        return await cur.fetchall()


OWNED_UNITS = """
SELECT DISTINCT u.unit_number, u.location
  FROM right_holders h
  JOIN rights r ON r.version_id = h.right_version_id AND r.end_lifespan IS NULL
  JOIN units u ON u.unit_id = r.unit_id AND u.end_lifespan IS NULL
 WHERE h.party_id = %s
 ORDER BY u.unit_number
"""


async def notices_of(conn: psycopg.AsyncConnection, party_id: int | None, limit: int = 50) -> list[dict[str, Any]]:
    """Notices to the party: restrictions registered on units it holds (newest first)."""
    if party_id is None:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT n.kind, n.message, n.created_at, u.unit_number FROM notices n "
                          "JOIN units u ON u.unit_id = n.unit_id AND u.end_lifespan IS NULL "
                          "WHERE n.party_id = %s ORDER BY n.created_at DESC LIMIT %s", (party_id, limit))
        return await cur.fetchall()


async def owned_units(conn: psycopg.AsyncConnection, party_id: int | None) -> list[dict[str, Any]]:
    if party_id is None:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(OWNED_UNITS, (party_id,))
        return await cur.fetchall()


async def checks_of_units(conn: psycopg.AsyncConnection, unit_numbers: list[str], limit: int = 100,
                          owner_user_id: int | None = None) -> list[dict[str, Any]]:
    """Who checked these units: role, institution, time and the purpose they gave, never the
    person; `own` is true for the owner's own checks (`owner_user_id`), so they are told apart."""
    if not unit_numbers:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT checked_at, checker_role, checker_institution, tier, purpose, "
            "       coalesce(user_id = %s, false) AS own, "
            "       (SELECT array_agg(n ORDER BY n) FROM unnest(unit_numbers) n WHERE n = ANY(%s)) AS units "
            "FROM checks WHERE unit_numbers && %s::text[] ORDER BY checked_at DESC LIMIT %s",
            (owner_user_id, unit_numbers, unit_numbers, limit))
        return await cur.fetchall()
