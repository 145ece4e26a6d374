"""Account use cases: sign up, log in (throttled), log out, tokens, identity verification.

Each takes plain values and a pool, writes its audit row in the same transaction as its change
(or alone, for refusals), and raises the errors of portal.platform.errors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from portal.accounts import store
from portal.accounts.guards import enforce_limit, seconds_to_window_end
from portal.accounts.identity_numbers import mask_document_number, resident_id_problem
from portal.accounts.principal import Account
from portal.accounts.security import (
    check_password,
    dummy_hash,
    hash_password,
    identity_digest,
    new_token,
    token_digest,
)
from portal.audit.trail import AuditEntry, record_async
from portal.platform.errors import (
    BadInput,
    Conflict,
    Forbidden,
    Limited,
    NotAuthenticated,
    NotFound,
)
from portal.platform.permissions import CONFIRMED_ROLES, Principal, Role, role_label
from portal.settings import AccountSettings

__all__ = ["Issued", "sign_up", "login", "logout", "issue_token", "verify_identity_by_registry",
           "verify_identity_at_counter", "VerificationAtCounter", "claim_digests", "reopen_online_verification",
           "verifications_after_failures", "normalise_name", "USERNAME", "OwnRoles", "SecondAdministrator", "set_roles",
           "confirm_role_grant", "change_password", "logout_everywhere", "revoke_token", "token_lifetime_days"]

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
# Names nobody may sign up with: the staff's role words and the usual administrators' handles,
# alone or followed by more ("registrar2", "admin.wang"). Sign-up answers a reserved name exactly
# as a taken one, so the answer never says whether a staff account of that name exists.
RESERVED = re.compile(r"^(admin|administrator|root|superuser|registrar|registry|clerk|court|auditor|audit|"
                      r"surveyor|staff|support|system|sysadmin|cadastre|official|operator|postgres)"
                      r"([._-]?[a-z0-9._-]*)$")
UNAVAILABLE = "this username is not available: choose another"


@dataclass(frozen=True)
class Issued:
    token: str
    user_id: int
    expires_at: dt.datetime
    csrf_token: str | None = None


def normalise_name(name: str) -> str:
    return re.sub(r"\s+", "", name or "")


def _check_new_account(username: str, display_name: str, password: str) -> None:
    if not USERNAME.match(username):
        raise BadInput("a username is 3-40 characters: lower-case letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit")
    if not display_name.strip() or len(display_name) > 80:
        raise BadInput("a display name is 1-80 characters")
    _check_new_password(password)


def _check_new_password(password: str) -> None:
    if len(password) < 10:
        raise BadInput("a password has at least 10 characters")
    if len(password) > 1024:
        raise BadInput("a password has at most 1024 characters")


async def sign_up(pool: AsyncConnectionPool, settings: AccountSettings, username: str, display_name: str,
                  password: str, client: str | None) -> int:
    """Create an account (sign up; the URL keeps its old name, /register). Returns its user id.

    At most `sign_ups_per_client_per_day` accounts are made from one client address a day
    (counted atomically before the password is hashed; 429 past it), so fresh accounts are not
    free to whoever would spread guesses over many (docs/security.md, "Identity verification").

    A taken name and a reserved one get the same answer (`UNAVAILABLE`, 409), which never says
    whose the name is: the role words are reserved, so "registrar" is unavailable whether or not
    an account of that name exists (docs/security.md, "Log-in limits and usernames").
    """
    username = username.strip().lower()
    _check_new_account(username, display_name, password)
    bucket = [(f"sign-up:{client or '-'}", "1 day", 1)]
    async with pool.connection() as conn:  # counted before the hash: a refused sign-up costs no CPU
        await enforce_limit(conn, [(*bucket[0], settings.sign_ups_per_client_per_day,
                                    "too many accounts were made from this address today: try again tomorrow")])
    try:
        hashed = await run_in_threadpool(hash_password, settings, password)
        if RESERVED.match(username):  # after the hash, as a taken name is: no answer comes sooner
            raise Conflict(UNAVAILABLE)
        async with pool.connection() as conn, conn.transaction():
            if await store.find_user(conn, username):
                raise Conflict(UNAVAILABLE)  # the same words for every taken name, staff or not
            user_id = await store.create_user(conn, username, display_name.strip(), hashed)
            await record_async(conn, AuditEntry("account_created", actor_user_id=user_id, actor_role="user",
                                                subject=f"user:{user_id}", client=client))
    except Conflict:
        async with pool.connection() as conn:  # only accounts made count
            await store.rate_hits(conn, [(b, w, -1) for b, w, _a in bucket])
        raise
    return user_id


async def _open_session(conn: Any, settings: AccountSettings, user_id: int, kind: str,
                        label: str | None = None, days: int | None = None) -> Issued:
    token = new_token()
    csrf = secrets.token_urlsafe(24) if kind == "cookie" else None
    lifetime = dt.timedelta(hours=settings.session_hours) if kind == "cookie" else dt.timedelta(
        days=settings.token_days if days is None else days)
    await store.create_session(conn, token_digest(token), user_id, kind, lifetime, csrf, label)
    return Issued(token, user_id, dt.datetime.now(dt.UTC) + lifetime, csrf)


def _login_buckets(settings: AccountSettings, username: str, client: str | None) -> list[tuple[str, str, int]]:
    """The two counters a log-in attempt goes into: per username and client (the strict limit)
    and per username from anywhere (a much higher one, against guessing from many addresses)."""
    window = f"{settings.login_window_minutes} minutes"
    return [(f"login:{username}:{client or '-'}", window, 1), (f"login:{username}", window, 1)]


async def login(pool: AsyncConnectionPool, settings: AccountSettings, username: str, password: str,
                client: str | None, kind: str = "cookie", label: str | None = None) -> Issued:
    """Check the password (argon2id) and open a session or issue a bearer token.

    Every attempt is counted before the password is checked, in one atomic database statement
    (`rate_hit`), so however many tries arrive at once, no more than `login_failures` passwords
    per username and client address are tested in a window (`login_failures_per_username` from
    all addresses together); past a limit the answer is 429 whether or not the password is
    right. A successful log-in gives its attempt back. The strict limit is per client, so a
    stranger's wrong passwords hold back the stranger, not the account's owner.
    """
    username = (username or "").strip().lower()
    buckets = _login_buckets(settings, username, client)
    async with pool.connection() as conn:
        by_client, by_name = await store.rate_hits(conn, buckets)
        if by_client > settings.login_failures or by_name > settings.login_failures_per_username:
            await record_async(conn, AuditEntry("login", outcome="limited", subject=f"username:{username}",
                                                client=client))
            raise Limited(f"too many failed log-ins for this account: try again in "
                          f"{settings.login_window_minutes} minutes", settings.login_window_minutes * 60)
        user = await store.find_user(conn, username) if USERNAME.match(username) else None
        stored = user["password_hash"] if user and user["disabled_at"] is None else dummy_hash(settings)
        ok = await run_in_threadpool(check_password, settings, stored, password or "")
        if not ok or user is None or user["disabled_at"] is not None:
            await record_async(conn, AuditEntry("login", outcome="failure", subject=f"username:{username}",
                                                client=client, detail={"via": kind}))
            raise NotAuthenticated("wrong username or password")
        await store.rate_hits(conn, [(bucket, window, -1) for bucket, window, _ in buckets])
        async with conn.transaction():
            issued = await _open_session(conn, settings, user["user_id"], kind, label)
            await record_async(conn, AuditEntry(
                "login", actor_user_id=user["user_id"],
                actor_role=",".join(sorted(user["roles"])) or ("verified_user" if user["verified"] else "user"),
                actor_institution=user["institution"], subject=f"user:{user['user_id']}", client=client,
                detail={"via": kind}))
    return issued


def token_lifetime_days(settings: AccountSettings, days: object) -> int | None:
    """The lifetime a user asked for, in whole days from 1 to `token_max_days`; None (not asked)
    means `token_days`. Anything else is a 422 naming the cap."""
    if days is None or days == "":
        return None
    if isinstance(days, str) and days.strip().isascii() and days.strip().isdigit():
        days = int(days.strip())
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= settings.token_max_days:
        raise BadInput(f"days: a token lives 1 to {settings.token_max_days} days (whole days)")
    return days


async def issue_token(pool: AsyncConnectionPool, settings: AccountSettings, account: Account,
                      label: str | None, client: str | None, days: int | None = None) -> Issued:
    """A new bearer token for the account, living `days` (checked by `token_lifetime_days`) or
    `token_days`."""
    async with pool.connection() as conn, conn.transaction():
        issued = await _open_session(conn, settings, int(account.user_id or 0), "bearer", label, days)
        await record_async(conn, AuditEntry(
            "token_issued", actor_user_id=account.user_id, actor_role=role_label(account),
            subject=f"user:{account.user_id}", client=client,
            detail={"label": label, "days": days or settings.token_days}))
    return issued


def _account_entry(action: str, account: Account, client: str | None, outcome: str = "success",
                   **detail: object) -> AuditEntry:
    return AuditEntry(action, outcome=outcome, actor_user_id=account.user_id, actor_role=role_label(account),
                      actor_institution=account.institution, subject=f"user:{account.user_id}", client=client,
                      detail={"via": account.via, **detail})


async def change_password(pool: AsyncConnectionPool, settings: AccountSettings, account: Account, current: str,
                          new: str, presented: str, client: str | None) -> int:
    """Change the account's password (the current one must be given) and end every other session
    and token of the account: whoever else held one is out. The session or token `presented`
    with the request goes on. Returns how many ended.

    Each try counts against `password_changes_per_day` before the current password is checked,
    so a stolen session cannot guess the password."""
    _check_new_password(new or "")
    if new == current:
        raise BadInput("new_password: the new password must differ from the current one")
    user_id = int(account.user_id or 0)
    async with pool.connection() as conn:
        await enforce_limit(conn, [(f"password-change:{user_id}", "1 day", 1, settings.password_changes_per_day,
                                    "too many password changes today: try again tomorrow")])
        user = await store.find_user(conn, account.username)
        assert user is not None  # the account is authenticated
        if not await run_in_threadpool(check_password, settings, user["password_hash"], current or ""):
            await record_async(conn, _account_entry("password_changed", account, client, "failure"))
            raise BadInput("current_password: the current password is wrong")
        hashed = await run_in_threadpool(hash_password, settings, new)
        async with conn.transaction():
            await store.set_password(conn, user_id, hashed)
            revoked = await store.revoke_sessions_except(conn, user_id, token_digest(presented))
            await record_async(conn, _account_entry("password_changed", account, client, sessions_revoked=revoked))
    return revoked


async def logout_everywhere(pool: AsyncConnectionPool, account: Account, client: str | None) -> int:
    """End every session and token of the account, the one asking too. Returns how many ended."""
    async with pool.connection() as conn, conn.transaction():
        revoked = await store.revoke_sessions_except(conn, int(account.user_id or 0), None)
        await record_async(conn, _account_entry("logout_everywhere", account, client, sessions_revoked=revoked))
    return revoked


async def revoke_token(pool: AsyncConnectionPool, account: Account, token_id: str, client: str | None) -> None:
    """Revoke one of the account's own live tokens, named by its id (`store.list_tokens`); any
    other id, another user's too, is 404."""
    if not re.fullmatch(r"[0-9a-f]{24}", token_id or ""):
        raise NotFound("no such token of yours")
    async with pool.connection() as conn, conn.transaction():
        revoked = await store.revoke_token(conn, int(account.user_id or 0), token_id)
        if revoked is None:
            raise NotFound("no such token of yours")
        await record_async(conn, AuditEntry("token_revoked", actor_user_id=account.user_id,
                                            actor_role=role_label(account), actor_institution=account.institution,
                                            subject=f"user:{account.user_id}", client=client,
                                            detail={"label": revoked["label"], "token": token_id}))


async def logout(pool: AsyncConnectionPool, account: Account, token: str, client: str | None) -> None:
    async with pool.connection() as conn, conn.transaction():
        await store.revoke_session(conn, token_digest(token))
        await record_async(conn, AuditEntry("logout", actor_user_id=account.user_id,
                                            actor_role=role_label(account), subject=f"user:{account.user_id}",
                                            client=client, detail={"via": account.via}))


def _checked_number(number: str) -> str:
    number = (number or "").strip().upper()
    problem = resident_id_problem(number)
    if problem:
        raise BadInput(f"identity number: {problem}")
    return number


MISMATCH = ("the name and identity number do not match a person in the registry. If you hold no "
            "registered property, or the registry is wrong, a registrar can verify you at the counter")
AT_COUNTER = "bring your identity card to a registrar's counter: the registrar verifies you in person"


class VerificationAtCounter(Limited):
    """Online identity verification is closed past a limit (per claimed identity, client address
    or account): the person is verified at the counter. 429 with Retry-After: when online
    verification opens again by itself."""

    code = "verification_at_counter"


def claim_digests(key: bytes, name: str, number: str) -> list[bytes]:
    """The keys under which failures count against a claimed identity, whichever account or
    address tries: the name with the region and birth date (positions 1-14, all a guesser of
    the sequence number knows), and the whole number (for a guesser of the name). Keyed digests
    (HMAC-SHA256 under the identity key), never the name or number in clear."""
    person = hmac.new(key, f"claim:{normalise_name(name)}|{number[:14]}".encode(), hashlib.sha256).digest()
    return [person, identity_digest(key, "resident_id", number)]


async def _count_verification(conn: Any, settings: AccountSettings, account: Account, claims: list[bytes],
                              client: str | None, amount: int) -> tuple[int, VerificationAtCounter | None]:
    """Count one try (amount 1, before the comparison) or give it back (-1, after a success) in
    every bucket: the account's and the client's day (`rate_counters`), and each claimed
    identity's window (`verification_claims`). Returns the claimed identity's failures before
    this try and the refusal if a limit is passed."""
    user_id = int(account.user_id or 0)
    by_account, by_client = await store.rate_hits(conn, [(f"verify:{user_id}", "1 day", amount),
                                                         (f"verify-client:{client or '-'}", "1 day", amount)])
    if amount > 0 and by_account > settings.verification_attempts_per_day:
        return 0, VerificationAtCounter("too many verification attempts from this account today: online "
                                        "verification is closed for it until tomorrow; " + AT_COUNTER,
                                        seconds_to_window_end("1 day"))
    if amount > 0 and by_client > settings.verification_failures_per_client:
        return 0, VerificationAtCounter("too many failed verifications from this address today: online "
                                        "verification is closed for it until tomorrow; " + AT_COUNTER,
                                        seconds_to_window_end("1 day"))
    window = dt.timedelta(days=settings.verification_identity_window_days)
    totals = await store.claim_hits(conn, claims, window, amount)
    failures = max(total for total, _end in totals)
    if amount > 0 and failures > settings.verification_failures_per_identity:
        reopens = max(end for _total, end in totals)
        seconds = max(1, int((reopens - dt.datetime.now(dt.UTC)).total_seconds()))
        return failures - 1, VerificationAtCounter(
            "too many failed attempts to verify as this identity: online verification of it is closed; "
            + AT_COUNTER, seconds)
    return failures - max(amount, 0), None


async def verify_identity_by_registry(pool: AsyncConnectionPool, settings: AccountSettings, key: bytes,
                                      account: Account, name: str, number: str, client: str | None) -> int:
    """Verify the account holder by matching a current natural-person party (name and number).

    A wrong name and an unknown number get the same answer, so the form is no oracle of who is
    in the registry. Every try that reaches the comparison is first counted, atomically, per
    account (`verification_attempts_per_day`), per client address (`verification_failures_per_client`
    a day) and per claimed identity across all accounts and addresses
    (`verification_failures_per_identity` per `verification_identity_window_days`, see
    `claim_digests`); past any limit the answer is 429 `verification_at_counter`, the same
    whether or not the identity exists, and nothing is compared. A success gives its try back
    and records how many failures the identity had before it (`failures_before`, the
    registrar's list). Whoever is or was verified as the identity (another account) gets a notice
    when someone verifies as it, or matches it while it is taken (409).

    Raises BadInput (422: malformed number, or no match), Conflict (409: this account is
    verified already, or the identity is verified for another account), VerificationAtCounter (429).
    """
    name = normalise_name(name)
    if not name:
        raise BadInput("give your name as on your identity card")
    number = _checked_number(number)
    masked = mask_document_number(number)
    user_id = int(account.user_id or 0)
    claims = claim_digests(key, name, number)
    digest = claims[1]
    taken_by: list[int] = []
    async with pool.connection() as conn:
        if await store.current_identity_verification(conn, user_id):
            raise Conflict("this account is already verified")
        failures_before, refused = await _count_verification(conn, settings, account, claims, client, 1)
        if refused is not None:
            await record_async(conn, AuditEntry("identity_verification", outcome="limited", actor_user_id=user_id,
                                                actor_role=role_label(account), subject=f"user:{user_id}",
                                                client=client, detail={"method": "registry_match",
                                                                       "document": masked}))
            raise refused
        party = await store.party_by_document(conn, digest)
        outcome_ok = party is not None and normalise_name(party["name"]) == name
        verification = 0
        if outcome_ok:
            assert party is not None
            try:
                async with conn.transaction():
                    taken_by = await store.accounts_of_identity(conn, digest, party["party_id"], user_id)
                    if not await store.digest_taken(conn, digest):
                        verification = await store.insert_identity_verification(
                            conn, user_id=user_id, method="registry_match", name=name, digest=digest,
                            masked=masked, party_id=party["party_id"], failures_before=failures_before,
                            client=client)
                    await store.add_account_notices(
                        conn, taken_by, "identity_claimed" if verification else "identity_claim_refused", client)
                    await record_async(conn, AuditEntry(
                        "identity_verification", outcome="success" if verification else "refused",
                        actor_user_id=user_id, actor_role=role_label(account), subject=f"user:{user_id}",
                        client=client, detail={"method": "registry_match", "document": masked,
                                               "failures_before": failures_before, "notified": taken_by,
                                               **({} if verification else {"rule": "identity_taken"})}))
            except psycopg.errors.UniqueViolation:  # verified for another account a moment ago
                verification = 0
                await record_async(conn, AuditEntry(
                    "identity_verification", outcome="refused", actor_user_id=user_id,
                    actor_role=role_label(account), subject=f"user:{user_id}", client=client,
                    detail={"method": "registry_match", "document": masked, "rule": "identity_taken"}))
        if verification:
            await _count_verification(conn, settings, account, claims, client, -1)
        else:
            if not outcome_ok:  # a refusal is recorded outside the transaction
                await record_async(conn, AuditEntry(
                    "identity_verification", outcome="failure", actor_user_id=user_id,
                    actor_role=role_label(account), subject=f"user:{user_id}", client=client,
                    detail={"method": "registry_match", "document": masked}))
    if outcome_ok and not verification:
        raise Conflict("this identity is already verified for another account; a registrar can move it at the "
                       "counter")
    if not outcome_ok:
        raise BadInput(MISMATCH)
    return verification


async def reopen_online_verification(pool: AsyncConnectionPool, key: bytes, registrar: Account, name: str,
                                     number: str, client: str | None) -> bool:
    """A registrar, with the person's identity card in hand, forgets the failed online tries
    against that identity, so the person can verify online again at once (instead of waiting
    for the window to end). Returns whether online verification was closed or counting."""
    name = normalise_name(name)
    if not name:
        raise BadInput("give the name as on the identity card")
    number = _checked_number(number)
    async with pool.connection() as conn, conn.transaction():
        reopened = await store.reopen_claims(conn, claim_digests(key, name, number)) > 0
        await record_async(conn, AuditEntry(
            "identity_verification_reopened", actor_user_id=registrar.user_id, actor_role=role_label(registrar),
            actor_institution=registrar.institution, subject="identity", client=client,
            detail={"document": mask_document_number(number), "had_failures": reopened}))
    return reopened


async def verifications_after_failures(pool: AsyncConnectionPool, registrar: Principal,
                                       client: str | None) -> list[dict[str, Any]]:
    """The online verifications that followed failed tries on the same identity (newest first),
    for a registrar to review; the look is an audit row ("consulted")."""
    async with pool.connection() as conn:
        rows = await store.verifications_after_failures(conn)
        await record_async(conn, AuditEntry(
            "verifications_after_failures", access="consulted", actor_user_id=registrar.user_id,
            actor_role=role_label(registrar), actor_institution=registrar.institution,
            subject="identity_verifications", client=client,
            detail={"verifications": [r["verification_id"] for r in rows]}))
    return rows


async def verify_identity_at_counter(pool: AsyncConnectionPool, key: bytes, registrar: Account, username: str,
                                     name: str, number: str, note: str | None, client: str | None) -> dict[str, Any]:
    """A registrar verifies a user in person. If the registry knows the number, the names must
    agree and the user is linked to that party (and so becomes owner of its units)."""
    name = normalise_name(name)
    if not name:
        raise BadInput("give the name as on the identity card")
    number = _checked_number(number)
    masked = mask_document_number(number)
    async with pool.connection() as conn, conn.transaction():
        user = await store.find_user(conn, (username or "").strip().lower())
        if user is None:
            raise NotFound(f"no account named {username!r}")
        if user["user_id"] == registrar.user_id:
            raise Forbidden("a registrar cannot verify their own account")
        if await store.current_identity_verification(conn, user["user_id"]):
            raise Conflict(f"{username} is already verified")
        digest = identity_digest(key, "resident_id", number)
        if await store.digest_taken(conn, digest):
            raise Conflict("this identity is already verified for another account")
        party = await store.party_by_document(conn, digest)
        if party is not None and normalise_name(party["name"]) != name:
            raise BadInput("the registry records another name for this identity number: correct the "
                           "registry (or the name) first")
        await store.insert_identity_verification(
            conn, user_id=user["user_id"], method="counter", name=name, digest=digest, masked=masked,
            party_id=party["party_id"] if party else None, verified_by=registrar.user_id, note=note or None)
        await record_async(conn, AuditEntry(
            "identity_verification", actor_user_id=registrar.user_id, actor_role=role_label(registrar),
            actor_institution=registrar.institution, subject=f"user:{user['user_id']}", client=client,
            detail={"method": "counter", "document": masked, "party_linked": party is not None}))
    return {"username": user["username"], "party_linked": party is not None, "document": masked}


# -- user administration: separation of duties (issue 15, section 7) ----------------------------

class OwnRoles(Forbidden):
    """Nobody changes their own roles, or confirms a grant to themselves."""

    code = "own_roles"


class SecondAdministrator(Forbidden):
    """A grant that needs a second administrator (a role that sees personal data, a machine
    client's personal-data scope) cannot be confirmed by the one who asked."""

    code = "second_administrator"


async def set_roles(pool: AsyncConnectionPool, admin: Principal, username: str, roles: list[str],
                    institution: str | None, client: str | None) -> dict[str, Any]:
    """Set a user's staff roles. Roles taken away and roles that see no personal data change at
    once; each added role of `CONFIRMED_ROLES` becomes a pending grant that another administrator
    confirms (`confirm_role_grant`). Returns the roles now held and the roles pending."""
    valid = {r.value for r in Role if r is not Role.VERIFIED_USER}
    if not set(roles) <= valid:
        raise BadInput(f"unknown role: choose among {', '.join(sorted(valid))}")
    async with pool.connection() as conn:
        async with conn.transaction():
            user = await store.find_user(conn, username)
            if user is None:
                raise BadInput(f"no account named {username!r}")
            own = user["user_id"] == admin.user_id
            if not own:
                wanted, current = set(roles), set(user["roles"])
                pending = sorted((wanted - current) & {r.value for r in CONFIRMED_ROLES})
                now = sorted(wanted - set(pending))
                await store.act_as(conn, admin.user_id or 0)
                withdrawn = await store.withdraw_grants(conn, user["user_id"], pending)
                await store.request_grants(conn, user["user_id"], pending, institution, admin.user_id or 0)
                await store.set_roles(conn, username, now, institution)
                await record_async(conn, AuditEntry(
                    "roles_changed", actor_user_id=admin.user_id, actor_role=role_label(admin),
                    subject=f"username:{username}", client=client,
                    detail={"roles": now, "pending": pending, "withdrawn": withdrawn, "institution": institution}))
                return {"roles": now, "pending": pending}
        async with conn.transaction():  # the refusal is on record
            await record_async(conn, AuditEntry(
                "roles_changed", outcome="refused", actor_user_id=admin.user_id, actor_role=role_label(admin),
                subject=f"username:{username}", client=client, detail={"roles": sorted(roles), "rule": "own_roles"}))
    raise OwnRoles("an administrator cannot change their own roles; ask another administrator (separation of duties)")


async def confirm_role_grant(pool: AsyncConnectionPool, admin: Principal, grant_id: int,
                             client: str | None) -> dict[str, Any]:
    """A second administrator confirms a pending grant: the role takes effect now."""
    refused: Forbidden | None = None
    async with pool.connection() as conn:
        async with conn.transaction():
            grant = await store.lock_grant(conn, grant_id)
            if grant is None:
                raise NotFound(f"no role grant {grant_id}")
            if grant["confirmed_at"] is not None or grant["withdrawn_at"] is not None:
                raise Conflict(f"role grant {grant_id} is no longer pending")
            if grant["user_id"] == admin.user_id:
                refused = OwnRoles("nobody confirms a role granted to themselves (separation of duties)")
            elif grant["requested_by"] == admin.user_id:
                refused = SecondAdministrator(f"the grant of {grant['role']} to {grant['username']} needs a "
                                              "second administrator: another administrator confirms it")
            else:
                await store.act_as(conn, admin.user_id or 0)
                await store.confirm_grant(conn, grant, admin.user_id or 0)
                await record_async(conn, AuditEntry(
                    "role_grant_confirmed", actor_user_id=admin.user_id, actor_role=role_label(admin),
                    subject=f"username:{grant['username']}", client=client,
                    detail={"grant": grant_id, "role": grant["role"], "requested_by": grant["requested_by"]}))
                return {"username": grant["username"], "role": grant["role"]}
        async with conn.transaction():
            await record_async(conn, AuditEntry(
                "role_grant_confirmed", outcome="refused", actor_user_id=admin.user_id, actor_role=role_label(admin),
                subject=f"username:{grant['username']}", client=client,
                detail={"grant": grant_id, "role": grant["role"], "rule": refused.code}))
    raise refused
