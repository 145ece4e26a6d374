"""The restriction check: limits, flags, the tier each unit is disclosed at, the stored statement,
and the audit rows, all in one transaction.

Tiers (docs/domain.md, "Who may see what"), decided per unit:

- `flags`    verified user: yes/no and counts, never names, amounts or document numbers;
- `court`    court clerk: flags plus the active and queued seizures (court, document number, queue);
- `owner`    a verified user holding a current right on the unit: the full record, history
             included, with other people's identity numbers masked;
- `registry` registrar: the full record of any unit, identity numbers unmasked.

The statement kept for the certificate and `/verify/{code}` holds the flags only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from portal.accounts.errors import AccountError, BadInput, Limited, NotFound
from portal.accounts.guards import enforce_limit
from portal.accounts.principal import Account, role_label
from portal.audit import AuditEntry, record_async
from portal.checks import queries
from portal.identity import mask_document_number
from portal.permissions import Action
from portal.settings import AccountSettings
from spatial.codes import CodeError, parse_parcel_code, parse_unit_number

__all__ = ["CheckQuery", "parse_query", "run_check", "flags_of", "TIERS", "search_units"]

TIERS = ("flags", "court", "owner", "registry")
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
BEIJING = dt.timezone(dt.timedelta(hours=8))


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


def flags_of(row: dict[str, Any]) -> dict[str, Any]:
    co_owned = row["holders"] > 1 or row["co_ownership"] in ("joint", "by_portions")
    return {
        "co_owned": co_owned, "holders": row["holders"],
        "mortgaged": row["mortgages"] > 0, "mortgages": row["mortgages"],
        "seized": row["seizures_active"] > 0, "seizures_active": row["seizures_active"],
        "seizures_queued": row["seizures_queued"],
        "under_objection": row["objections"] > 0, "objections": row["objections"],
        "advance_notice": row["advance_notices"] > 0, "advance_notices": row["advance_notices"],
    }


def _tier(account: Account, owned: bool) -> str:
    if account.may(Action.VIEW_FULL_RECORD):
        return "registry"
    if owned:
        return "owner"
    if account.may(Action.VIEW_SEIZURE_DETAILS):
        return "court"
    return "flags"


def _holder(h: dict[str, Any], unmasked: bool) -> dict[str, Any]:
    share = (f"{h['share_numerator']}/{h['share_denominator']}" if h.get("share_numerator") is not None
             else None)
    number = h["document_number"]
    return {"name": h["name"], "kind": h["kind"], "document_type": h["document_type"],
            "document_number": number if unmasked else mask_document_number(number), "share": share}


def _iso(value: Any) -> Any:
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


def _reference(now: dt.datetime) -> str:
    return f"CK{now.astimezone(BEIJING):%Y%m%d}-" + "".join(secrets.choice(_ALPHABET[:10] + "ABCDEFGHJKMNPQRSTVWXYZ")
                                                         for _ in range(8))


def _code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))


async def run_check(pool: AsyncConnectionPool, settings: AccountSettings, account: Account, query: CheckQuery,
                    purpose: str | None, client: str | None) -> dict[str, Any]:
    """Check one unit or all units on a parcel, within the limits, leaving its trace.

    Raises Limited (429) past the per-minute or daily limit, NotFound when nothing matches
    (which still counts against the limits, so guessing numbers costs as much as hitting them).
    """
    purpose = (purpose or "").strip()[:200] or None
    role = role_label(account)
    base = dict(actor_user_id=account.user_id, actor_role=role, actor_institution=account.institution,
                subject=query.value, purpose=purpose, client=client)
    limits = [
        (f"checks-minute:{account.user_id}", "1 minute", 1, settings.checks_per_minute,
         f"too many checks: at most {settings.checks_per_minute} a minute, wait a moment"),
        (f"checks-day:{account.user_id}", "1 day", 1, settings.checks_per_day,
         f"daily limit reached: at most {settings.checks_per_day} checks a day; it resets at "
         f"midnight (Beijing time)"),
    ]
    disclosed = None
    async with pool.connection() as conn:
        # Counters and reads in one transaction; the writes (the check and its audit rows, or a
        # refusal's audit row) after it in ONE autocommit statement, so the audit chain's lock is
        # held only inside the server, never across a round trip to this process.
        async with conn.transaction():
            try:
                await enforce_limit(conn, limits)
            except Limited as limited:
                refusal: AccountError = limited
                entry = AuditEntry("restriction_check", outcome="limited", **base, detail={"message": limited.message})
            else:
                units = await queries.unit_flags(
                    conn, unit_number=query.value if query.kind == "unit_number" else None,
                    parcel_code=query.value if query.kind == "parcel_code" else None, party_id=account.party_id)
                if units:
                    disclosed = await _disclose(conn, account, query, units, purpose, base)
                else:
                    refusal = NotFound(f"no current unit with the number {query.value}"
                                       if query.kind == "unit_number" else f"no current unit on the parcel {query.value}")
                    entry = AuditEntry("restriction_check", outcome="not_found", access="consulted", **base)
        if disclosed is None:
            await record_async(conn, entry)
            raise refusal
        result, check, entries = disclosed
        await queries.insert_check(conn, check, audit=entries)
    return result


async def _disclose(conn: Any, account: Account, query: CheckQuery, units: list[dict[str, Any]],
                    purpose: str | None, base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any],
                                                                         list[AuditEntry]]:
    """The answer at each unit's tier, the check row to store, and the audit rows to write."""
    now: dt.datetime = units[0]["as_of"]
    tiers = {u["unit_id"]: _tier(account, u["owned"]) for u in units}
    full_ids = [uid for uid, t in tiers.items() if t in ("owner", "registry")]
    court_ids = [uid for uid, t in tiers.items() if t == "court"]
    rights, restrictions = await queries.full_record(conn, full_ids) if full_ids else ([], [])
    seizures = await queries.seizures(conn, court_ids) if court_ids else []
    statement_units = []
    disclosed = []
    for u in units:
        public = {"unit_number": u["unit_number"], "location": u["location"], "use": u["use"], **flags_of(u)}
        statement_units.append(public)
        tier = tiers[u["unit_id"]]
        item: dict[str, Any] = {**public, "tier": tier}
        if tier in ("owner", "registry"):
            item["record"] = _record_for(u["unit_id"], rights, restrictions, unmasked=tier == "registry")
        elif tier == "court":
            item["seizures"] = [{"status": s["status"], "court": s["court"], "document_number": s["document_number"],
                                 "queue_position": s["queue_position"], "term_start": _iso(s["term_start"]),
                                 "term_end": _iso(s["term_end"])}
                                for s in seizures if s["unit_id"] == u["unit_id"]]
        disclosed.append(item)
    top = max(tiers.values(), key=TIERS.index)
    reference, code = _reference(now), _code()
    numbers = [u["unit_number"] for u in units]
    statement = {"reference": reference, "as_of": now.isoformat(),
                 "query": {"kind": query.kind, "value": query.value}, "units": statement_units}
    entries = [AuditEntry("restriction_check", access="consulted", reference=reference, **base,
                          detail={"tier": top, "units": numbers})]
    entries += [AuditEntry("view_personal_data", access="consulted", reference=reference,
                           **{**base, "subject": u["unit_number"]}, detail={"tier": tiers[u["unit_id"]]})
                for u in units if tiers[u["unit_id"]] != "flags"]
    check = {"reference": reference, "verification_code": code, "user_id": account.user_id,
             "checker_role": base["actor_role"], "checker_institution": account.institution, "tier": top,
             "query_kind": query.kind, "query_value": query.value, "purpose": purpose, "unit_numbers": numbers,
             "statement": statement, "checked_at": now}
    result = {"reference": reference, "verification_code": code, "as_of": now.isoformat(),
              "query": {"kind": query.kind, "value": query.value}, "tier": top, "units": disclosed,
              "certificate_url": f"/check/{reference}/certificate.pdf", "verify_url": f"/verify/{code}"}
    return result, check, entries


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
