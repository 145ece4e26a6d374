"""HTTP API of registry applications and the office's public statistics.

Who may receive, review, register or reject is decided by `portal.platform.permissions` (seizures are
the court clerks'); the workflow and the rules are in `portal.registry`.
"""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from portal.platform.permissions import Action, Principal, current_principal, require
from portal.platform.work import in_worker
from portal.registry import applications as apps
from portal.registry import queries, statistics
from portal.registry.errors import (
    ApplicationConflict,
    ApplicationInvalid,
    ApplicationNotFound,
    ApplicationRefused,
    RegistryError,
    RuleViolation,
)

__all__ = ["router", "EXCEPTION_HANDLERS", "unit_register"]

router = APIRouter(tags=["registry"])
Staff = Annotated[Principal, Depends(require(Action.VIEW_APPLICATIONS))]
Anyone = Annotated[Principal, Depends(current_principal)]


class SourceIn(BaseModel):
    kind: str = Field(examples=["contract", "court_order", "loan_agreement"])
    reference: str
    issued_on: str | None = None
    issuer: str | None = None
    description: str | None = None


class ApplicationIn(BaseModel):
    kind: str = Field(examples=["mortgage"])
    unit_number: str = Field(min_length=28, max_length=28)
    applicant: str
    request: dict[str, Any] = Field(default_factory=dict, description="what to register; depends on the kind")
    sources: list[SourceIn] = Field(min_length=1)


class Rejection(BaseModel):
    reasons: list[str] = Field(min_length=1)




@router.post("/api/applications", status_code=201)
async def receive(request: Request, body: ApplicationIn, principal: Staff) -> dict[str, Any]:
    """Receive an application at the counter (registrar) or from a court (court clerk)."""
    application_id = await in_worker(request, apps.receive, principal, kind=body.kind, unit_number=body.unit_number,
                                 applicant=body.applicant, request=body.request,
                                 sources=[s.model_dump() for s in body.sources])
    return await in_worker(request, apps.get, application_id, principal)


@router.get("/api/applications")
async def queue(request: Request, principal: Staff) -> list[dict[str, Any]]:
    """Open applications sorted by deadline, with `warning` due_soon or overdue."""
    return await in_worker(request, apps.queue, principal)


@router.get("/api/applications/{application_id}")
async def detail(request: Request, application_id: int, principal: Staff) -> dict[str, Any]:
    return await in_worker(request, apps.get, application_id, principal)


@router.post("/api/applications/{application_id}/review")
async def review(request: Request, application_id: int, principal: Staff) -> dict[str, Any]:
    await in_worker(request, apps.start_review, application_id, principal)
    return await in_worker(request, apps.get, application_id, principal)


@router.post("/api/applications/{application_id}/register")
async def register(request: Request, application_id: int, principal: Staff) -> dict[str, Any]:
    """Apply the application's changes in one transaction, or say which rule and record block it."""
    outcome = await in_worker(request, apps.register, application_id, principal)
    found = await in_worker(request, apps.get, application_id, principal)
    found["changed"] = outcome["changed"]
    return found


@router.post("/api/applications/{application_id}/reject")
async def reject(request: Request, application_id: int, body: Rejection, principal: Staff) -> dict[str, Any]:
    await in_worker(request, apps.reject, application_id, principal, body.reasons)
    return await in_worker(request, apps.get, application_id, principal)


def unit_register(conn: psycopg.Connection, unit_number: str) -> dict[str, Any]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries.UNIT_RECORD, (unit_number.strip().upper(),)).fetchone()
    conn.rollback()
    if row is None:
        raise ApplicationNotFound(f"unit {unit_number} is not in the register")
    row["restrictions"] = row["restrictions"] or []
    record: dict[str, Any] = row
    return record


@router.get("/api/registry/units/{unit_number}")
async def unit(request: Request, unit_number: str, principal: Staff) -> dict[str, Any]:
    """The unit's ownership and open restrictions, for staff preparing an application."""
    return await in_worker(request, unit_register, unit_number)


@router.get("/api/statistics")
async def office_statistics(request: Request, principal: Anyone) -> list[dict[str, Any]]:
    """Public: per kind and month, completed applications, median working days, share within the limit."""
    async with request.app.state.reads.connection() as conn:
        return await statistics.monthly_from(conn)


STATUS = {ApplicationNotFound: 404, ApplicationRefused: 403, ApplicationInvalid: 422, ApplicationConflict: 409,
          RuleViolation: 409}


def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    return JSONResponse(status_code=STATUS.get(type(exc), 400), content={"detail": exc.to_dict()})


EXCEPTION_HANDLERS = {RegistryError: _registry_error}
