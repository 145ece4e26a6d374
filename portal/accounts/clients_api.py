"""JSON API for administrators: create, list and revoke machine clients (machine_clients.py).

    POST   /api/admin/machine-clients                {"name", "department", "scopes", "per_minute"} -> 201,
                                                      token once; pending when a scope shows personal data
    POST   /api/admin/machine-clients/{name}/confirm  a second administrator confirms a pending client
    GET    /api/admin/machine-clients                the clients, revoked ones included
    DELETE /api/admin/machine-clients/{name}         revoke: the token stops working at once
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from portal.accounts import machine_clients as clients
from portal.platform.permissions import Action, Principal, require
from portal.platform.requests import json_object
from portal.platform.work import in_worker

__all__ = ["router"]

router = APIRouter(tags=["machine clients"])
Administrator = Annotated[Principal, Depends(require(Action.MANAGE_USERS))]


class ClientIn(BaseModel):
    name: str = Field(examples=["tax-bureau"], description="3-64 lowercase letters, digits, dots, dashes, underscores")
    department: str = Field(examples=["市税务局 municipal tax bureau"])
    scopes: list[str] = Field(examples=[["ownership_for_tax"]],
                              description="restriction_flags, ownership_for_tax, seizures_for_courts")
    per_minute: int = Field(60, examples=[60], description="calls a minute before 429 (at most "
                            "accounts.machine_client_max_per_minute, 600 by default)")


class ClientOut(BaseModel):
    name: str
    department: str
    scopes: list[str]
    per_minute: int
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    pending: bool = Field(False, description="waits for a second administrator's confirmation (personal-data scope)")


class CreatedOut(ClientOut):
    token: str = Field(description="shown once: the portal keeps only its SHA-256 digest",
                       examples=["mc_Jx7...kQ"])


def _create(conn: psycopg.Connection, body: dict[str, Any], admin: Principal,
            max_per_minute: int) -> tuple[clients.Client, str]:
    per_minute = body.get("per_minute", 60)
    scopes = body.get("scopes")
    if not isinstance(per_minute, int) or isinstance(per_minute, bool):
        per_minute = 0  # refused with the range below
    made = clients.create_client(conn, name=str(body.get("name") or ""), department=str(body.get("department") or ""),
                                 scopes=[str(s) for s in scopes] if isinstance(scopes, list) else [],
                                 per_minute=per_minute, created_by=admin.user_id, max_per_minute=max_per_minute)
    clients.audit_admin(conn, "machine_client_created", made[0].name, admin.user_id,
                        {"scopes": made[0].scopes, "per_minute": made[0].per_minute, "pending": made[0].pending})
    conn.commit()
    return made


def _confirm(conn: psycopg.Connection, name: str, admin: Principal) -> clients.Client:
    try:
        confirmed = clients.confirm_client(conn, name, confirmed_by=admin.user_id or 0)
    except clients.SecondAdministrator:
        conn.rollback()
        clients.audit_admin(conn, "machine_client_confirmed", name, admin.user_id,
                            {"rule": "second_administrator"}, outcome="refused")
        conn.commit()
        raise
    clients.audit_admin(conn, "machine_client_confirmed", name, admin.user_id, {"scopes": confirmed.scopes})
    conn.commit()
    return confirmed


def _revoke(conn: psycopg.Connection, name: str, admin: Principal) -> None:
    clients.revoke_client(conn, name, revoked_by=admin.user_id)
    clients.audit_admin(conn, "machine_client_revoked", name, admin.user_id)
    conn.commit()


@router.post("/api/admin/machine-clients", status_code=201, response_model=CreatedOut,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": ClientIn.model_json_schema(), "example": {
                     "name": "tax-bureau", "department": "市税务局", "scopes": ["ownership_for_tax"],
                     "per_minute": 60}}}}})
async def create(request: Request, admin: Administrator) -> dict[str, Any]:
    """Create a machine client for another department's system; its token is in this answer only."""
    body = await json_object(request, "name, department, scopes and per_minute", text_fields=("name", "department"))
    ceiling = request.app.state.settings.accounts.machine_client_max_per_minute
    client, token = await in_worker(request, _create, body, admin, ceiling)
    return {"name": client.name, "department": client.department, "scopes": client.scopes,
            "per_minute": client.per_minute, "created_at": client.created_at, "pending": client.pending,
            "token": token}


@router.post("/api/admin/machine-clients/{name}/confirm", response_model=ClientOut)
async def confirm(request: Request, name: str, admin: Administrator) -> dict[str, Any]:
    """A second administrator confirms a client that sees personal data: its token works from now
    on (403 second_administrator for the one who created it, 404 none active, 409 not pending)."""
    made = await in_worker(request, _confirm, name[:64], admin)
    return {"name": made.name, "department": made.department, "scopes": made.scopes,
            "per_minute": made.per_minute, "created_at": made.created_at, "pending": False}


@router.get("/api/admin/machine-clients", response_model=list[ClientOut])
async def listing(request: Request, admin: Administrator) -> list[dict[str, Any]]:
    """Every machine client, revoked ones with the time they were revoked."""
    return await in_worker(request, clients.list_clients)


@router.delete("/api/admin/machine-clients/{name}", status_code=204)
async def revoke(request: Request, name: str, admin: Administrator) -> Response:
    """Revoke a machine client: its token is refused from now on (404 if none is active by that name)."""
    await in_worker(request, _revoke, name[:64], admin)
    return Response(status_code=204)
