"""HTTP API of registry applications and the office's public statistics.

Who may receive, review, register or reject is decided by `portal.platform.permissions` (seizures are
the court clerks'); the workflow and the rules are in `portal.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from psycopg import Connection
from pydantic import BaseModel, Field

from portal.platform.deps import CurrentPrincipal, ReadConnection
from portal.platform.permissions import Action, Principal, require
from portal.platform.work import UnitOfWork, in_worker
from portal.registry import applications as apps
from portal.registry import queries, statistics
from portal.registry.errors import ApplicationNotFound
from portal.registry.schemas import ApplicationOut, MonthOut, RegisteredOut, UnitOut

__all__ = ["router", "unit_register"]

router = APIRouter(tags=["registry"])
Staff = Annotated[Principal, Depends(require(Action.VIEW_APPLICATIONS))]


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
async def receive(request: Request, body: ApplicationIn, principal: Staff) -> ApplicationOut:
    """Receive an application at the counter (registrar) or from a court (court clerk)."""

    def receive_then_get(conn: Connection[Any]) -> dict[str, Any]:
        application_id = apps.receive(conn, principal, kind=body.kind, unit_number=body.unit_number,
                                      applicant=body.applicant, request=body.request,
                                      sources=[s.model_dump() for s in body.sources],
                                      zone=request.app.state.settings.portal.office_timezone)
        return apps.get(conn, application_id, principal)

    return ApplicationOut.model_validate(await in_worker(request, receive_then_get))


def _then_get(conn: Connection[Any], step: Callable[..., Any], application_id: int, principal: Principal,
              *args: Any) -> tuple[Any, dict[str, Any]]:
    """A workflow step, then the application as it now stands, on one connection in one worker hop."""
    done = step(conn, application_id, principal, *args)
    return done, apps.get(conn, application_id, principal)


@router.get("/api/applications")
async def queue(request: Request, principal: Staff) -> list[ApplicationOut]:
    """Open applications sorted by deadline, with `warning` due_soon or overdue."""
    return [ApplicationOut.model_validate(row) for row in await in_worker(request, apps.queue, principal)]


@router.get("/api/applications/{application_id}")
async def detail(request: Request, application_id: int, principal: Staff) -> ApplicationOut:
    return ApplicationOut.model_validate(await in_worker(request, apps.get, application_id, principal))


@router.post("/api/applications/{application_id}/review")
async def review(request: Request, application_id: int, principal: Staff) -> ApplicationOut:
    _, found = await in_worker(request, _then_get, apps.start_review, application_id, principal)
    return ApplicationOut.model_validate(found)


@router.post("/api/applications/{application_id}/register")
async def register(request: Request, application_id: int, principal: Staff) -> RegisteredOut:
    """Apply the application's changes in one transaction, or say which rule and record block it."""
    outcome, found = await in_worker(request, _then_get, apps.register, application_id, principal)
    return RegisteredOut.model_validate({**found, "changed": outcome["changed"]})


@router.post("/api/applications/{application_id}/reject")
async def reject(request: Request, application_id: int, body: Rejection, principal: Staff) -> ApplicationOut:
    _, found = await in_worker(request, _then_get, apps.reject, application_id, principal, body.reasons)
    return ApplicationOut.model_validate(found)


def unit_register(conn: psycopg.Connection, unit_number: str) -> dict[str, Any]:
    from psycopg.rows import dict_row

    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries.UNIT_RECORD, (unit_number.strip().upper(),)).fetchone()
    if row is None:
        raise ApplicationNotFound(f"unit {unit_number} is not in the register")
    row["restrictions"] = row["restrictions"] or []
    record: dict[str, Any] = row
    return record


@router.get("/api/registry/units/{unit_number}")
async def unit(request: Request, unit_number: str, principal: Staff) -> UnitOut:
    """The unit's ownership and open restrictions, for staff preparing an application."""
    return UnitOut.model_validate(await in_worker(request, unit_register, unit_number))


@router.get("/api/statistics")
async def office_statistics(request: Request, principal: CurrentPrincipal, conn: ReadConnection) -> list[MonthOut]:
    """Public: per kind and month, completed applications, median working days, share within the limit."""
    return [MonthOut.model_validate(row) for row in await statistics.monthly_from(
        conn, request.app.state.settings.portal.office_timezone)]


@router.get("/api/registry/exchange-template.xlsx", response_class=Response,
            responses={200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
async def exchange_template() -> Response:
    """The register exchange layout (docs/register-exchange.md) as an empty workbook: one sheet
    per table, its column codes in the first row."""
    import tempfile
    from pathlib import Path

    from portal.registry.exchange.exporting import template

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "register-exchange-template.xlsx"
        template(path)
        data = path.read_bytes()
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="register-exchange-template.xlsx"'})
