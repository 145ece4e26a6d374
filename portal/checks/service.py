"""The restriction check: limits, flags, the tier each unit is disclosed at, the stored statement,
and the audit rows, all in one transaction of one statement (`restriction_check_flushed()`, migration
0007), so a check costs one round trip and the app sends the server's JSON on unchanged.

Tiers (shared docs/domain.md, "Who may see what"), decided per unit:

- `flags`    verified user: yes/no and counts, never names, amounts or document numbers;
- `court`    court clerk: flags plus the active and queued seizures (court, document number, queue);
- `owner`    a verified user holding a current right on the unit: the full record, history
             included, with other people's identity numbers masked;
- `registry` registrar: the full record of any unit; identity numbers masked as everywhere (the
             register keeps them sealed, migration 0021), each holder with its `party_id` so the
             registrar can reveal a full number through the audited
             `POST /api/registry/parties/{party_id}/identity-number` (docs/security.md).

The statement kept for the certificate and `/verify/{code}` holds the flags only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from portal.accounts.guards import enforce_limit, seconds_to_window_end
from portal.accounts.identity_numbers import mask_document_number
from portal.accounts.principal import Account
from portal.accounts.security import token_digest
from portal.audit.trail import AuditEntry, record_async
from portal.checks import queries
from portal.platform.clock import LIMITS_TIMEZONE
from portal.platform.errors import BadInput, Forbidden, Limited, NotAuthenticated, NotFound
from portal.platform.permissions import ALLOWED, Action, role_label
from portal.settings import AccountSettings
from spatial.codes import CodeError, parse_parcel_code, parse_unit_number

__all__ = ["CheckQuery", "CheckAnswer", "parse_query", "run_check", "TIERS", "search_units"]

TIERS = ("flags", "court", "owner", "registry")
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class CheckQuery:
    kind: str  # unit_number or parcel_code
    value: str


def parse_query(unit_number: str | None = None, parcel_code: str | None = None,
                text: str | None = None) -> CheckQuery:
    """A unit number (28 characters) or a parcel code (19); `text` may be either."""
    try:
        if unit_number:
            return CheckQuery("unit_number", str(parse_unit_number(unit_number)))
        if parcel_code:
            return CheckQuery("parcel_code", str(parse_parcel_code(parcel_code)))
        text = (text or "").strip()
        if not text:
            raise BadInput("give a unit number (28 characters) or a parcel code (19 characters)")
        if len(text) == 19:
            return CheckQuery("parcel_code", str(parse_parcel_code(text)))
        return CheckQuery("unit_number", str(parse_unit_number(text)))
    except CodeError as error:
        raise BadInput(str(error)) from error


def _holder(h: dict[str, Any], unmasked: bool) -> dict[str, Any]:
    share = (f"{h['share_numerator']}/{h['share_denominator']}" if h.get("share_numerator") is not None
             else None)
    # The function returns the register's masked form; masking it again changes nothing.
    holder = {"name": h["name"], "kind": h["kind"], "document_type": h["document_type"],
              "document_number": mask_document_number(h["document_number"]), "share": share}
    if unmasked:  # the registrar's view: the party to reveal the number of (audited)
        holder["party_id"] = h["party_id"]
    return holder


def _iso(value: Any) -> Any:
    """Dates and times as datetime.isoformat() writes them (PostgreSQL's JSON drops trailing
    zeros of the fraction: the same instant, but the API has always said it Python's way)."""
    if isinstance(value, str) and len(value) > 10 and value[10] == "T":
        return dt.datetime.fromisoformat(value).isoformat()
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _record_for(unit_id: int, rights: list[dict[str, Any]], restrictions: list[dict[str, Any]],
                unmasked: bool) -> dict[str, Any]:
    return {
        "rights": [{
            "right_id": r["right_id"], "version": r["version"], "kind": r["kind"],
            "co_ownership": r["co_ownership"], "certificate_number": r["certificate_number"],
            "registered_on": _iso(r["registered_on"]), "current": r["end_lifespan"] is None,
            "from": _iso(r["begin_lifespan"]), "until": _iso(r["end_lifespan"]), "source": r["source"],
            "holders": [_holder(h, unmasked) for h in r["holders"]],
        } for r in rights if r["unit_id"] == unit_id],
        "restrictions": [{
            "restriction_id": x["restriction_id"], "version": x["version"], "kind": x["kind"],
            "status": x["status"], "current": x["end_lifespan"] is None, "party": x["party_name"],
            "secured_amount": str(x["secured_amount"]) if x["secured_amount"] is not None else None,
            "maximum_amount": x["maximum_amount"], "rank": x["rank"], "term_start": _iso(x["term_start"]),
            "term_end": _iso(x["term_end"]), "court": x["court"], "document_number": x["document_number"],
            "queue_position": x["queue_position"], "reason": x["reason"], "from": _iso(x["begin_lifespan"]),
            "until": _iso(x["end_lifespan"]), "source": x["source"],
        } for x in restrictions if x["unit_id"] == unit_id],
    }


def _random_text(alphabet: str, length: int) -> str:
    """`length` characters drawn uniformly from `alphabet` with one call to the system's random
    source (secrets.choice per character made a system call each: 24 per check)."""
    limit = 256 - 256 % len(alphabet)  # bytes at or past it would favour the first characters
    chosen: list[str] = []
    while len(chosen) < length:
        chosen += [alphabet[b % len(alphabet)] for b in secrets.token_bytes(2 * length) if b < limit]
    return "".join(chosen[:length])


def _suffix() -> str:
    """The random part of a reference (CKyyyymmdd-XXXXXXXX; the server adds the date at +08:00, office time)."""
    return _random_text(_REFERENCE_ALPHABET, 8)


def _code() -> str:
    return _random_text(_CODE_ALPHABET, 16)


@dataclass(frozen=True)
class CheckAnswer:
    """A check's answer as the JSON the API sends unchanged; `result()` parses it for pages."""

    body: bytes

    def result(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


# Who may check, and which roles raise the tier: from portal.platform.permissions, the one place for it.
# Sent as array literals ('{a,b}', cast in the SQL): psycopg adapts a str faster than a list.
def _array(action: Action) -> str:
    return "{" + ",".join(sorted(r.value for r in ALLOWED[action])) + "}"


_CHECK_ROLES = _array(Action.CHECK_RESTRICTIONS)
_COURT_ROLES = _array(Action.VIEW_SEIZURE_DETAILS)
_FULL_ROLES = _array(Action.VIEW_FULL_RECORD)


async def run_check(pool: AsyncConnectionPool, settings: AccountSettings, presented: tuple[str, str] | None,
                    query: CheckQuery, purpose: str | None, client: str | None,
                    slots: asyncio.Semaphore | None = None) -> CheckAnswer:
    """Check one unit or all units on a parcel for the holder of the presented (kind, token),
    within the limits, leaving its trace: ONE statement, `restriction_check_flushed()` (migration 0007),
    authenticates, counts, reads, stores the check and appends the audit rows in the server.

    Raises NotAuthenticated (401) or Forbidden (403) for who may not check, Limited (429) past the
    per-minute or daily limit, NotFound when nothing matches (which still counts against the
    limits, so guessing numbers costs as much as hitting them). `slots` bounds the checks
    running at once (settings.checks_at_once, app.state.check_slots).
    """
    if presented is None:
        raise NotAuthenticated(f"log in to {Action.CHECK_RESTRICTIONS.value}")
    kind, token = presented
    purpose = (purpose or "").strip()[:200] or None
    minute = f"too many checks: at most {settings.checks_per_minute} a minute, wait a moment"
    day = (f"daily limit reached: at most {settings.checks_per_day} checks a day; it resets at "
           f"midnight (office time, {LIMITS_TIMEZONE})")
    async with slots or contextlib.nullcontext(), pool.connection() as conn:
        status, body, records = await queries.check(conn, [
            token_digest(token), kind, query.kind, query.value, purpose, client, settings.checks_per_minute,
            settings.checks_per_day, minute, day, _CHECK_ROLES, _COURT_ROLES, _FULL_ROLES,
            _suffix(), _code()])
    if status == 200:
        assert body is not None  # a 200 always carries the answer
        return CheckAnswer(body.encode() if records is None else _with_records(body, records))
    if status == 401:
        raise NotAuthenticated(f"log in to {Action.CHECK_RESTRICTIONS.value}")
    if status == 403:
        raise Forbidden(f"your roles do not allow {Action.CHECK_RESTRICTIONS.value}")
    if status == 429:
        raise Limited(minute if body == "minute" else day, seconds_to_window_end(f"1 {body}"))
    raise NotFound(f"no current unit with the number {query.value}" if query.kind == "unit_number"
                   else f"no current unit on the parcel {query.value}")


def _with_records(body: str, records: dict[str, Any]) -> bytes:
    """Add what the higher tiers see to the server's answer: the full record (owner, registry;
    identity numbers masked for owners) or the seizures (court)."""
    result = json.loads(body)
    for unit_id, item in zip(records["unit_ids"], result["units"], strict=True):
        tier = item["tier"]
        if tier in ("owner", "registry"):
            item["record"] = _record_for(unit_id, records["rights"], records["restrictions"],
                                         unmasked=tier == "registry")
        elif tier == "court":
            item["seizures"] = [{"status": s["status"], "court": s["court"], "document_number": s["document_number"],
                                 "queue_position": s["queue_position"], "term_start": s["term_start"],
                                 "term_end": s["term_end"]}
                                for s in records["seizures"] if s["unit_id"] == unit_id]
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()


async def search_units(pool: AsyncConnectionPool, settings: AccountSettings, account: Account, text: str,
                       client: str | None, limit: int = 20) -> list[dict[str, Any]]:
    """Units by address. Each hit is logged as "listed" (appeared in search results), apart from
    checks, which are "consulted"; searches count against the per-minute limit."""
    text = (text or "").strip()
    if len(text) < 2:
        raise BadInput("give at least two characters of the address")
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    role = role_label(account)
    async with pool.connection() as conn:
        await enforce_limit(conn, [(f"checks-minute:{account.user_id}", "1 minute", 1, settings.checks_per_minute,
                                    f"too many requests: at most {settings.checks_per_minute} a minute")])
        async with conn.transaction():
            hits = await queries.search_units(conn, escaped, limit)
            await record_async(conn, [AuditEntry("unit_search", access="listed", actor_user_id=account.user_id,
                                                 actor_role=role, actor_institution=account.institution,
                                                 subject=h["unit_number"], client=client,
                                                 detail={"search": "address"}) for h in hits] or
                               [AuditEntry("unit_search", outcome="not_found", actor_user_id=account.user_id,
                                           actor_role=role, client=client, detail={"search": "address"})])
    return hits
