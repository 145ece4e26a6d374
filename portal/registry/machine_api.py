"""What other departments' systems may ask, one scope each (portal.accounts.machine_clients):

    GET /api/machine/restriction-flags?unit_number=...   scope restriction_flags
    GET /api/machine/ownership?unit_number=...           scope ownership_for_tax
    GET /api/machine/seizures?unit_number=...            scope seizures_for_courts

Each call presents `Authorization: Bearer mc_...`, is counted against the client's per-minute
limit and leaves one audit row in the client's name (outcome success, or not_found for a unit
that does not exist); a call without the scope is refused (403). Calls without a valid token are
limited per client address (429), without an audit row for each.
Answers are as of the call, from the current versions of the register.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from portal.accounts.machine_clients import Client, Scope, authorize, record_call
from portal.platform.deps import Connection
from portal.platform.errors import BadInput, NotFound
from portal.platform.requests import client_of
from spatial.codes import unit_number_problem

__all__ = ["router"]

router = APIRouter(tags=["machine clients"])
_UNIT = Query(..., min_length=1, max_length=40, description="28-character unit number (GB/T 37346)",
              examples=["110101001001GB00001F00010001"])
_AUTH = Header(None, description="Bearer mc_... (the machine client's token)")

_FLAGS = """
SELECT u.unit_id, u.unit_number,
       coalesce((SELECT r.co_ownership <> 'sole' FROM rights r WHERE r.unit_id = u.unit_id AND r.end_lifespan IS NULL
                  AND r.kind = 'ownership' LIMIT 1), false) AS co_owned,
       count(*) FILTER (WHERE x.kind = 'mortgage' AND x.status = 'active') AS mortgages,
       count(*) FILTER (WHERE x.kind = 'seizure' AND x.status = 'active') AS seizures_active,
       count(*) FILTER (WHERE x.kind = 'seizure' AND x.status = 'queued') AS seizures_queued,
       count(*) FILTER (WHERE x.kind = 'objection' AND x.status = 'active') AS objections,
       count(*) FILTER (WHERE x.kind = 'advance_notice' AND x.status = 'active') AS advance_notices
  FROM units u LEFT JOIN restrictions x ON x.unit_id = u.unit_id AND x.end_lifespan IS NULL
 WHERE u.unit_number = %s AND u.end_lifespan IS NULL
 GROUP BY u.unit_id, u.unit_number
"""
_OWNERS = """
SELECT r.certificate_number, r.registered_on, r.co_ownership, u.floor_area, u.use, p.name, p.kind,
       p.id_document_type, p.id_document_masked, h.share_numerator, h.share_denominator
  FROM units u
  JOIN rights r ON r.unit_id = u.unit_id AND r.end_lifespan IS NULL AND r.kind = 'ownership'
  JOIN right_holders h ON h.right_version_id = r.version_id
  JOIN parties p ON p.party_id = h.party_id AND p.end_lifespan IS NULL
 WHERE u.unit_number = %s AND u.end_lifespan IS NULL
 ORDER BY p.name
"""
_SEIZURES = """
SELECT x.status, x.queue_position, x.court, x.document_number, x.term_start, x.term_end
  FROM units u JOIN restrictions x ON x.unit_id = u.unit_id AND x.end_lifespan IS NULL AND x.kind = 'seizure'
       AND x.status IN ('active', 'queued')
 WHERE u.unit_number = %s AND u.end_lifespan IS NULL
 ORDER BY x.queue_position
"""


class FlagsOut(BaseModel):
    unit_number: str = Field(examples=["110101001001GB00001F00010001"])
    co_owned: bool
    mortgaged: bool
    mortgages: int
    seized: bool
    seizures_active: int
    seizures_queued: int
    under_objection: bool
    objections: int
    advance_notice: bool
    advance_notices: int


class OwnerOut(BaseModel):
    name: str = Field(examples=["王伟"])
    kind: str = Field(examples=["natural_person"])
    id_document_type: str = Field(examples=["resident_id"])
    id_document_number: str = Field(description="masked: first 3 and last 2 characters",
                                    examples=["110*************12"])
    share: str | None = Field(None, description="n/d for co-ownership by portions", examples=["1/2"])


class OwnershipOut(BaseModel):
    unit_number: str
    certificate_number: str | None = Field(None, examples=["京(2016)东城区不动产权第0000001号"])
    registered_on: dt.date | None = None
    co_ownership: str | None = Field(None, examples=["sole"])
    floor_area: float | None = Field(None, description="m²")
    use: str | None = None
    owners: list[OwnerOut]


class SeizureOut(BaseModel):
    status: str = Field(examples=["active"])
    queue_position: int = Field(examples=[1])
    court: str = Field(examples=["北京市东城区人民法院"])
    document_number: str = Field(examples=["(2020)京0101执1号"])
    term_start: dt.date
    term_end: dt.date | None = None


class SeizuresOut(BaseModel):
    unit_number: str
    seizures: list[SeizureOut]


def _unit(number: str) -> str:
    number = number.strip().upper()
    problem = unit_number_problem(number)
    if problem:
        raise BadInput(f"unit_number: {problem}")
    return number


async def _allowed(request: Request, conn: Connection, authorization: str | None, scope: Scope,
                   unit_number: str) -> tuple[Client, str]:
    """The authorized client and the unit number asked for; a malformed number is audited as not_found."""
    limit = request.app.state.settings.accounts.machine_refusals_per_minute
    client = await authorize(conn, authorization, scope, unit_number[:40], client_of(request),
                             refusals_per_minute=limit)
    try:
        return client, _unit(unit_number)
    except BadInput:
        await record_call(conn, client, scope, unit_number[:40], client_of(request), found=False)
        raise


async def _one(conn: Connection, query: str, number: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(query, (number,))).fetchall()


@router.get("/api/machine/restriction-flags", response_model=FlagsOut,
            responses={401: {"description": "no valid machine client token"},
                       403: {"description": "the client has no scope restriction_flags"},
                       429: {"description": "the client's calls a minute are used up"}})
async def restriction_flags(request: Request, conn: Connection, unit_number: str = _UNIT,
                            authorization: str | None = _AUTH) -> dict[str, Any]:
    """Scope `restriction_flags`: whether a unit is co-owned, mortgaged, seized, under objection or
    under advance notice, with counts; never names, amounts or document numbers."""
    client, number = await _allowed(request, conn, authorization, Scope.RESTRICTION_FLAGS, unit_number)
    rows = await _one(conn, _FLAGS, number)
    await record_call(conn, client, Scope.RESTRICTION_FLAGS, number, client_of(request), found=bool(rows))
    if not rows:
        raise NotFound(f"no current unit {number}")
    r = rows[0]
    return {"unit_number": r["unit_number"], "co_owned": r["co_owned"], "mortgaged": r["mortgages"] > 0,
            "mortgages": r["mortgages"], "seized": r["seizures_active"] > 0, "seizures_active": r["seizures_active"],
            "seizures_queued": r["seizures_queued"], "under_objection": r["objections"] > 0,
            "objections": r["objections"], "advance_notice": r["advance_notices"] > 0,
            "advance_notices": r["advance_notices"]}


@router.get("/api/machine/ownership", response_model=OwnershipOut,
            responses={401: {"description": "no valid machine client token"},
                       403: {"description": "the client has no scope ownership_for_tax"},
                       429: {"description": "the client's calls a minute are used up"}})
async def ownership(request: Request, conn: Connection, unit_number: str = _UNIT,
                    authorization: str | None = _AUTH) -> dict[str, Any]:
    """Scope `ownership_for_tax`: the unit's current owners and shares, with the certificate;
    identity numbers masked."""
    client, number = await _allowed(request, conn, authorization, Scope.OWNERSHIP_FOR_TAX, unit_number)
    rows = await _one(conn, _OWNERS, number)
    found = bool(rows) or bool(await _one(conn, _FLAGS, number))
    await record_call(conn, client, Scope.OWNERSHIP_FOR_TAX, number, client_of(request), found=found)
    if not found:
        raise NotFound(f"no current unit {number}")
    first = rows[0] if rows else {}
    return {"unit_number": number, "certificate_number": first.get("certificate_number"),
            "registered_on": first.get("registered_on"), "co_ownership": first.get("co_ownership"),
            "floor_area": first.get("floor_area"), "use": first.get("use"),
            "owners": [{"name": r["name"], "kind": r["kind"], "id_document_type": r["id_document_type"],
                        "id_document_number": r["id_document_masked"],
                        "share": f"{r['share_numerator']}/{r['share_denominator']}"
                        if r["share_numerator"] is not None else None} for r in rows]}


@router.get("/api/machine/seizures", response_model=SeizuresOut,
            responses={401: {"description": "no valid machine client token"},
                       403: {"description": "the client has no scope seizures_for_courts"},
                       429: {"description": "the client's calls a minute are used up"}})
async def seizures(request: Request, conn: Connection, unit_number: str = _UNIT,
                   authorization: str | None = _AUTH) -> dict[str, Any]:
    """Scope `seizures_for_courts`: the unit's seizure in effect and those queued behind it."""
    client, number = await _allowed(request, conn, authorization, Scope.SEIZURES_FOR_COURTS, unit_number)
    rows = await _one(conn, _SEIZURES, number)
    found = bool(rows) or bool(await _one(conn, _FLAGS, number))
    await record_call(conn, client, Scope.SEIZURES_FOR_COURTS, number, client_of(request), found=found)
    if not found:
        raise NotFound(f"no current unit {number}")
    return {"unit_number": number, "seizures": rows}
