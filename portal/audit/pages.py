"""The auditors' view of the audit trail: search in the portal and export as CSV.

Searching and exporting are themselves audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from psycopg import AsyncConnection

from portal.audit.trail import AuditEntry, record_async, search_async, to_csv
from portal.platform.deps import Connection
from portal.platform.errors import BadInput
from portal.platform.permissions import Action, Principal, require, role_label
from portal.platform.requests import client_of
from portal.web import render

__all__ = ["router"]

router = APIRouter(tags=["audit"])
FILTERS = ("actor_user_id", "actor_role", "action", "access", "outcome", "subject", "reference", "since", "until")
EXPORT_LIMIT = 100_000
Auditor = Annotated[Principal, Depends(require(Action.READ_AUDIT))]
Exporter = Annotated[Principal, Depends(require(Action.EXPORT_AUDIT))]


def _filters(request: Request) -> dict[str, Any]:
    values: dict[str, Any] = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    if values["actor_user_id"]:
        if not (values["actor_user_id"].isascii() and values["actor_user_id"].isdigit()):
            raise BadInput("actor_user_id is a number")
        values["actor_user_id"] = int(values["actor_user_id"])
    for key in ("since", "until"):
        if values[key]:
            try:
                values[key] = dt.datetime.fromisoformat(values[key])
            except ValueError as error:
                raise BadInput(f"{key} is a date or date and time (2026-11-23 or 2026-11-23T09:00)") from error
    return {k: v for k, v in values.items() if v not in ("", None)}


async def _audited(conn: AsyncConnection[Any], request: Request, principal: Principal, action: str,
                   filters: dict[str, Any], rows: int) -> None:
    """Searching the trail is itself recorded, in the same transaction as the search."""
    await record_async(conn, AuditEntry(action, actor_user_id=principal.user_id, actor_role=role_label(principal),
                                            actor_institution=principal.institution, client=client_of(request),
                                            detail={"filters": {k: str(v) for k, v in filters.items()}, "rows": rows}))


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
async def audit_page(request: Request, principal: Auditor, conn: Connection) -> Response:
    filters = _filters(request)
    rows = await search_async(conn, filters, limit=200)
    await _audited(conn, request, principal, "audit_search", filters, len(rows))
    return render(request, "audit/audit.html", {"rows": rows, "filters": {k: request.query_params.get(k, "")
                                                                         for k in FILTERS},
                                                "query": request.url.query})


@router.get("/api/audit")
async def audit_api(request: Request, principal: Auditor, conn: Connection, limit: int = 200) -> dict[str, Any]:
    filters = _filters(request)
    rows = await search_async(conn, filters, limit=max(1, min(limit, 1000)))
    await _audited(conn, request, principal, "audit_search", filters, len(rows))
    return {"rows": [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()} for r in rows],
            "count": len(rows)}


@router.get("/audit/export.csv", include_in_schema=False)
async def audit_export(request: Request, principal: Exporter, conn: Connection) -> Response:
    filters = _filters(request)
    rows = await search_async(conn, filters, limit=EXPORT_LIMIT)
    await _audited(conn, request, principal, "audit_export", filters, len(rows))
    return Response(to_csv(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="audit.csv"', "Cache-Control": "no-store"})
