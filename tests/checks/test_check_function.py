"""The restriction check as one database call (migration 0007): the function refuses, limits,
audits and stores exactly as the app did in several statements, under the least-privilege role
too; its answers follow the documented schema; the chain stays whole under concurrent checks;
and the app's pool still replaces connections the server dropped."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading

import psycopg
import pytest
from account_helpers import bearer, new_username, settings_for, sign_up
from app_role import app_role_url
from fastapi.testclient import TestClient

from portal.accounts.security import token_digest
from portal.audit.trail import verify_chain
from portal.checks import queries
from portal.checks.schemas import CheckOut
from portal.checks.service import (
    _CHECK_ROLES,
    _CODE_ALPHABET,
    _COURT_ROLES,
    _FULL_ROLES,
    _code,
    _random_text,
    _suffix,
)
from portal.platform.db import open_pool
from portal.settings import DatabaseSettings


def _call(url: str, digest: bytes, value: str, *, kind: str = "unit_number", per_minute: int = 10_000,
          per_day: int = 100_000, purpose: str | None = None) -> tuple[int, str | None, object]:
    """CALL the check as the app does (autocommit: the procedure commits)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(queries.CHECK, [
            digest, "bearer", kind, value, purpose, "192.0.2.7", per_minute, per_day, "minute message",
            "day message", _CHECK_ROLES, _COURT_ROLES, _FULL_ROLES, _suffix(), _code()]).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def _token(client: TestClient, username: str) -> bytes:
    return token_digest(bearer(client, username)["Authorization"].split(" ", 1)[1])


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM checks)").fetchone()


def test_who_may_not_check_is_refused_without_a_trace(client: TestClient, module_database: str, demo) -> None:
    username = new_username("n")
    sign_up(client, username)  # registered, not verified: no role that may check
    unverified = client.post("/api/tokens", json={"username": username, "password": "correct horse battery"})
    digest = token_digest(unverified.json()["token"])
    before = _counts(module_database)
    assert _call(module_database, secrets.token_bytes(32), demo.other_unit)[0] == 401
    assert _call(module_database, digest, demo.other_unit)[0] == 403
    assert _counts(module_database) == before
    # The app says the same as before the check became one call.
    response = client.get("/api/check", params={"unit_number": demo.other_unit},
                          headers={"Authorization": f"Bearer {unverified.json()['token']}"})
    assert response.status_code == 403
    assert response.json()["detail"]["message"] == "your roles do not allow restrictions.check"
    response = client.get("/api/check", params={"unit_number": demo.other_unit},
                          headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    # Who may not check hears so before any word on a malformed number.
    assert client.get("/api/check", params={"unit_number": "x"}).status_code == 403  # the unverified cookie
    assert TestClient(client.app).get("/api/check", params={"unit_number": "x"}).status_code == 401
    assert _counts(module_database) == before


def test_revoked_and_expired_tokens_are_refused(client: TestClient, module_database: str, demo) -> None:
    revoked, expired = _token(client, "citizen"), _token(client, "citizen")
    with psycopg.connect(module_database) as conn:
        conn.execute("UPDATE sessions SET revoked_at = now() WHERE token_digest = %s", (revoked,))
        conn.execute("UPDATE sessions SET created_at = now() - interval '2 days', expires_at = now() - interval "
                     "'1 day' WHERE token_digest = %s", (expired,))
    assert _call(module_database, revoked, demo.other_unit)[0] == 401
    assert _call(module_database, expired, demo.other_unit)[0] == 401


def test_limits_and_unknown_numbers_are_audited_and_counted(client: TestClient, module_database: str, demo) -> None:
    digest = _token(client, "citizen")
    with psycopg.connect(module_database) as conn:
        user_id = conn.execute("SELECT user_id FROM users WHERE username = 'citizen'").fetchone()[0]
        minute = conn.execute("SELECT coalesce(max(hits), 0) FROM rate_counters WHERE bucket = %s AND window_start = "
                              "date_bin('1 minute', now(), timestamptz '2000-01-01 00:00:00+08')",
                              (f"checks-minute:{user_id}",)).fetchone()[0]
    unknown = "330102999999GB99999F00010101"
    assert _call(module_database, digest, unknown, per_minute=minute + 1, purpose="猜号")[0] == 404
    status, body, _ = _call(module_database, digest, demo.other_unit, per_minute=minute + 1)
    assert (status, body) == (429, "minute")
    status, body, _ = _call(module_database, digest, demo.other_unit, per_day=0)
    assert (status, body) == (429, "day")
    with psycopg.connect(module_database) as conn:
        rows = conn.execute(
            "SELECT outcome, access, subject, purpose, actor_role, client, detail FROM audit_log "
            "WHERE actor_user_id = %s AND action = 'restriction_check' ORDER BY seq DESC LIMIT 3",
            (user_id,)).fetchall()
        hits = conn.execute("SELECT hits FROM rate_counters WHERE bucket = %s AND window_start = "
                            "date_bin('1 minute', now(), timestamptz '2000-01-01 00:00:00+08')",
                            (f"checks-minute:{user_id}",)).fetchone()[0]
        assert verify_chain(conn).intact
    assert rows == [
        ("limited", None, demo.other_unit, None, "verified_user", "192.0.2.7",
         json.dumps({"message": "day message"}, ensure_ascii=False, sort_keys=True)),
        ("limited", None, demo.other_unit, None, "verified_user", "192.0.2.7",
         json.dumps({"message": "minute message"}, ensure_ascii=False, sort_keys=True)),
        ("not_found", "consulted", unknown, "猜号", "verified_user", "192.0.2.7", None)]
    assert hits >= minute + 3  # the unknown number and both refusals counted


@pytest.mark.parametrize(("username", "tier"), [("citizen", "flags"), ("clerk", "court"), ("registrar", "registry")])
def test_answers_follow_the_schema_and_the_rows_the_app_wrote(client: TestClient, module_database: str, demo,
                                                              username: str, tier: str) -> None:
    unit = demo.seized_unit
    response = client.get("/api/check", params={"unit_number": unit, "purpose": "核查"},
                          headers=bearer(client, username))
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    answer = CheckOut.model_validate(response.json())
    assert answer.tier == tier and [u.tier for u in answer.units] == [tier]
    assert (answer.units[0].seizures is not None) == (tier == "court")
    assert (answer.units[0].record is not None) == (tier == "registry")
    with psycopg.connect(module_database) as conn:
        check = conn.execute("SELECT checker_role, tier, unit_numbers, statement, checked_at FROM checks "
                             "WHERE reference = %s", (answer.reference,)).fetchone()
        audit = conn.execute("SELECT action, subject, detail, purpose FROM audit_log WHERE reference = %s ORDER BY seq",
                             (answer.reference,)).fetchall()
    role, stored_tier, numbers, statement, checked_at = check
    assert role == {"citizen": "verified_user", "clerk": "court_clerk", "registrar": "registrar"}[username]
    assert stored_tier == tier and numbers == [unit] and checked_at.isoformat() == answer.as_of
    flags = {k: v for k, v in response.json()["units"][0].items() if k not in ("tier", "record", "seizures")}
    assert statement == {"reference": answer.reference, "as_of": answer.as_of,
                         "query": {"kind": "unit_number", "value": unit}, "units": [flags]}
    expected = [("restriction_check", unit, json.dumps({"tier": tier, "units": [unit]}, sort_keys=True), "核查")]
    if tier != "flags":
        expected.append(("view_personal_data", unit, json.dumps({"tier": tier}), "核查"))
    assert audit == expected


def test_the_owner_tier_masks_co_owners_numbers(client: TestClient, demo) -> None:
    body = client.get("/api/check", params={"unit_number": demo.owner_units[0]}, headers=bearer(client, "owner")).json()
    answer = CheckOut.model_validate(body)
    holders = [h for r in answer.units[0].record["rights"] for h in r["holders"]]
    assert answer.tier == "owner" and holders and all("*" in h["document_number"] for h in holders)


def test_the_trigger_hashes_the_same_text_as_audit_canonical(client: TestClient, module_database: str, demo) -> None:
    client.get("/api/check", params={"unit_number": demo.other_unit}, headers=bearer(client, "citizen"))
    with psycopg.connect(module_database) as conn:
        mismatched = conn.execute(
            "SELECT count(*) FROM audit_log a WHERE hash <> sha256(prev_hash || convert_to(audit_canonical(a), 'UTF8'))"
        ).fetchone()[0]
    assert mismatched == 0


def test_concurrent_checks_keep_the_chain_whole(client: TestClient, module_database: str, demo) -> None:
    digests = [_token(client, name) for name in ("citizen", "owner", "clerk", "registrar")]
    before = _counts(module_database)
    statuses: list[int] = []

    def checker(digest: bytes) -> None:
        for _ in range(10):
            statuses.append(_call(module_database, digest, demo.other_unit)[0])

    threads = [threading.Thread(target=checker, args=(d,)) for d in digests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = _counts(module_database)
    assert statuses == [200] * 40
    assert after[1] - before[1] == 40 and after[0] - before[0] >= 40  # registrar and clerk add personal-data rows
    with psycopg.connect(module_database) as conn:
        assert verify_chain(conn).intact


def test_the_least_privilege_role_can_check_but_not_change_the_log(client: TestClient, module_database: str,
                                                                   demo) -> None:
    with app_role_url(module_database) as app_url:
        status, body, _ = _call(app_url, _token(client, "citizen"), demo.other_unit)
        assert status == 200 and json.loads(body)["tier"] == "flags"
        with psycopg.connect(app_url, autocommit=True) as app:
            for statement in ("UPDATE audit_log SET outcome = 'failure'", "DELETE FROM audit_log",
                              "DELETE FROM checks"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute(statement)


def test_random_codes_use_the_whole_alphabet() -> None:
    drawn = "".join(_random_text(_CODE_ALPHABET, 16) for _ in range(400))
    assert len(drawn) == 6400 and set(drawn) == set(_CODE_ALPHABET)
    assert len({_code() for _ in range(1000)}) == 1000


def test_the_pool_replaces_a_connection_dropped_while_idle(module_database: str) -> None:
    """Connections handed out less than `pool_check_idle_seconds` ago go out again unprobed; older
    ones are probed, so one the server dropped is replaced instead of failing a request."""

    async def scenario() -> tuple[int, int]:
        settings = DatabaseSettings(DATABASE_URL=module_database, pool_min_size=1, pool_max_size=1,
                                    pool_check_idle_seconds=0.3)
        pool = open_pool(module_database, settings)
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                first = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
            with psycopg.connect(module_database, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            await asyncio.sleep(0.5)
            async with pool.connection() as conn:
                second = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
        finally:
            await pool.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert first != second


def test_checks_wait_their_turn_and_release_it(module_database: str, demo) -> None:
    """With one check at a time per process, concurrent checks all get their answer."""
    from portal.app import create_app

    with TestClient(create_app(settings_for(module_database, checks_at_once=1)), follow_redirects=False) as app:
        headers = bearer(app, "citizen")
        statuses: list[int] = []

        def check() -> None:
            for _ in range(3):
                statuses.append(app.get("/api/check", params={"unit_number": demo.other_unit},
                                        headers=headers).status_code)

        threads = [threading.Thread(target=check) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert statuses == [200] * 12
