"""HTTP API of registry applications and the office's public statistics.

Who may receive, review, register or reject is decided by `portal.platform.permissions` (seizures are
the court clerks'); the workflow and the rules are in `portal.registry`. What each answer may
carry is the schema of the reader's audience (`portal.registry.schemas`: registrar, court clerk,
auditor), and every answer that shows an application or a unit record leaves one audit row
"consulted" (`applications.consulted`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Request, Response
from psycopg import Connection
from pydantic import BaseModel, Field

from portal.accounts.guards import seconds_to_window_end
from portal.platform.deps import CurrentPrincipal, ReadConnection
from portal.platform.errors import Limited
from portal.platform.permissions import Action, Principal, require
from portal.platform.requests import client_of
from portal.platform.rows import one_row
from portal.platform.work import UnitOfWork, in_worker
from portal.registry import applications as apps
from portal.registry import parties, queries, statistics
from portal.registry.errors import ApplicationNotFound
from portal.registry.schemas import (
    ApplicationSummary,
    ApplicationView,
    MonthOut,
    RegisteredView,
    UnitSummary,
    UnitView,
    application_for,
    registered_for,
    unit_for,
)

__all__ = ["router", "unit_register"]

router = APIRouter(tags=["registry"])
Staff = Annotated[Principal, Depends(require(Action.VIEW_APPLICATIONS))]
Revealer = Annotated[Principal, Depends(require(Action.VIEW_IDENTITY_NUMBERS))]


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


class RevealIn(BaseModel):
    purpose: str = Field(min_length=1, max_length=500, description="why the full number is needed (audited)",
                         examples=["printing certificate 浙(2026)杭州市不动产权第0001234号"])


class RevealedOut(BaseModel):
    party_id: int
    id_document_type: str = Field(examples=["resident_id"])
    id_document_masked: str = Field(examples=["330*************34"])
    id_document_number: str = Field(description="in full: the look is an audit row 'identity number revealed'")




# One schema per audience: the answer is the reader's view (registrar, court clerk, auditor), and
# the OpenAPI document lists the views it may be.
_ONE: dict[int | str, dict[str, Any]] = {200: {"model": ApplicationView, "description": "the reader's view"}}
_REGISTERED: dict[int | str, dict[str, Any]] = {200: {"model": RegisteredView, "description": "the reader's view"}}


@router.post("/api/applications", status_code=201, response_model=None,
             responses={201: {"model": ApplicationView, "description": "the reader's view"}})
async def receive(request: Request, body: ApplicationIn, principal: Staff) -> ApplicationSummary:
    """Receive an application at the counter (registrar) or from a court (court clerk)."""
    client = client_of(request)

    def receive_then_get(conn: Connection[Any]) -> dict[str, Any]:
        application_id = apps.receive(conn, principal, kind=body.kind, unit_number=body.unit_number,
                                      applicant=body.applicant, request=body.request,
                                      sources=[s.model_dump() for s in body.sources],
                                      zone=request.app.state.settings.portal.office_timezone)
        return apps.seen(conn, application_id, principal, client)

    return application_for(principal, await in_worker(request, receive_then_get))


def _then_get(conn: Connection[Any], step: Callable[..., Any], application_id: int, principal: Principal,
              client: str | None, *args: Any) -> tuple[Any, dict[str, Any]]:
    """A workflow step, then the application as it now stands (the look logged), on one
    connection in one worker hop."""
    done = step(conn, application_id, principal, *args)
    return done, apps.seen(conn, application_id, principal, client)


@router.get("/api/applications", response_model=None,
            responses={200: {"model": list[ApplicationView], "description": "the reader's view of each"}})
async def queue(request: Request, principal: Staff) -> list[ApplicationSummary]:
    """Open applications sorted by deadline, with `warning` due_soon or overdue."""
    rows = await in_worker(request, apps.queue_seen, principal, client_of(request))
    return [application_for(principal, row) for row in rows]


@router.get("/api/applications/{application_id}", response_model=None, responses=_ONE)
async def detail(request: Request, application_id: int, principal: Staff) -> ApplicationSummary:
    return application_for(principal, await in_worker(request, apps.seen, application_id, principal,
                                                      client_of(request)))


@router.post("/api/applications/{application_id}/review", response_model=None, responses=_ONE)
async def review(request: Request, application_id: int, principal: Staff) -> ApplicationSummary:
    _, found = await in_worker(request, _then_get, apps.start_review, application_id, principal, client_of(request))
    return application_for(principal, found)


@router.post("/api/applications/{application_id}/register", response_model=None, responses=_REGISTERED)
async def register(request: Request, application_id: int, principal: Staff) -> BaseModel:
    """Apply the application's changes in one transaction, or say which rule and record block it."""
    outcome, found = await in_worker(request, _then_get, apps.register, application_id, principal,
                                     client_of(request))
    return registered_for(principal, found, outcome["changed"])


@router.post("/api/applications/{application_id}/reject", response_model=None, responses=_ONE)
async def reject(request: Request, application_id: int, body: Rejection, principal: Staff) -> ApplicationSummary:
    _, found = await in_worker(request, _then_get, apps.reject, application_id, principal, client_of(request),
                               body.reasons)
    return application_for(principal, found)


def unit_register(conn: psycopg.Connection, unit_number: str) -> dict[str, Any]:
    from psycopg.rows import dict_row

    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries.UNIT_RECORD, (unit_number.strip().upper(),)).fetchone()
    if row is None:
        raise ApplicationNotFound(f"unit {unit_number} is not in the register")
    row["restrictions"] = row["restrictions"] or []
    record: dict[str, Any] = row
    return record


def _count_look(conn: psycopg.Connection, principal: Principal, per_minute: int, per_day: int) -> None:
    """Count a look at a unit's record as a restriction check (the same buckets and limits,
    `checks_per_minute`, `checks_per_day`: it shows what a registry-tier check shows), committed
    before the record is read, so unknown unit numbers count too. Raises Limited (429)."""
    with UnitOfWork(conn) as uow:
        minute, day = one_row(conn.execute("SELECT rate_hit(%s, interval '1 minute', 1), rate_hit(%s, interval "
                                           "'1 day', 1)", (f"checks-minute:{principal.user_id}",
                                                           f"checks-day:{principal.user_id}")).fetchone())
        uow.commit()
    if day > per_day:
        raise Limited(f"too many unit records viewed: at most {per_day} a day, checks included; the limit resets "
                      "at midnight (office time)", seconds_to_window_end("1 day"))
    if minute > per_minute:
        raise Limited(f"too many unit records viewed: at most {per_minute} a minute, checks included; wait a moment",
                      seconds_to_window_end("1 minute"))


def _unit_seen(conn: psycopg.Connection, unit_number: str, principal: Principal, client: str | None,
               limits: tuple[int, int] = (30, 200)) -> dict[str, Any]:
    _count_look(conn, principal, *limits)
    record = unit_register(conn, unit_number)
    apps.consulted(conn, principal, "unit_record", [record["unit_number"]], client=client)
    return record


@router.get("/api/registry/units/{unit_number}", response_model=None,
            responses={200: {"model": UnitView, "description": "the reader's view"}})
async def unit(request: Request, unit_number: str, principal: Staff) -> UnitSummary:
    """The unit's ownership and open restrictions, for staff preparing an application: amounts
    for registrars, seizures' courts and document numbers for registrars and court clerks. Each
    look counts as a restriction check against the checks' limits (429 past them)."""
    accounts = request.app.state.settings.accounts
    return unit_for(principal, await in_worker(request, _unit_seen, unit_number, principal, client_of(request),
                                               (accounts.checks_per_minute, accounts.checks_per_day)))


@router.post("/api/registry/parties/{party_id}/identity-number")
async def reveal_identity_number(request: Request, party_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: RevealIn,
                                 principal: Revealer) -> RevealedOut:
    """Registrars only: a party's full identity document number, for a certificate or a document
    that must carry it. The register shows the masked form everywhere else; each reveal is an
    audit row (`identity_number_revealed`, with the purpose) committed before the answer.
    Each registrar reveals at most `CADASTRE_ACCOUNTS_REVEALS_PER_MINUTE` numbers a minute and
    `_PER_DAY` a day (tries with a valid purpose count, found or not); the auditors are flagged
    at `_FLAGGED_AT` a day. Only parties of a current right or restriction, or named in an open
    application, are revealed.
    Errors: 403 (not a registrar), 404 party_not_found (no such party, or none the register works
    with), 422 (no purpose, or a purpose not in words), 429 rate_limited (Retry-After), 409 (the
    seal key of this installation does not open the number)."""
    keys = request.app.state.identity_keys
    accounts = request.app.state.settings.accounts
    limits = parties.RevealLimits(accounts.reveals_per_minute, accounts.reveals_per_day, accounts.reveals_flagged_at)
    return RevealedOut.model_validate(await in_worker(request, parties.reveal_identity_number, party_id, principal,
                                                      body.purpose, client_of(request), keys, limits))


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
