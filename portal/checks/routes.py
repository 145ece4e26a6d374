"""HTTP for restriction checks: the /check page, the JSON API (map clicks use it), certificates,
and the public /verify/{code} page."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from portal.accounts.guards import check_csrf, csrf_for_form, set_csrf_cookie
from portal.accounts.principal import Account, presented_token
from portal.audit.consultations import consultation
from portal.audit.trail import record_async
from portal.checks import queries
from portal.checks.certificates import certificate_pdf
from portal.checks.schemas import CHECK_REQUEST_BODY, CheckOut
from portal.checks.service import CheckAnswer, parse_query, run_check, search_units
from portal.platform.clock import office_zone
from portal.platform.errors import BadInput, Forbidden, NotFound
from portal.platform.permissions import Action, allowed, current_principal
from portal.platform.requests import client_of, json_object
from portal.web import render

__all__ = ["router"]

router = APIRouter(tags=["checks"])


def _certificate_verify_url(request: Request, code: str) -> str:
    """Under the configured public URL (`PortalSettings.base_url`), never the request's Host header."""
    return f"{request.app.state.settings.portal.base_url}/verify/{code}"


def _slots(request: Request) -> asyncio.Semaphore | None:
    return getattr(request.app.state, "check_slots", None)


async def _checker(request: Request) -> Account:
    principal = await allowed(request, Action.CHECK_RESTRICTIONS)
    assert isinstance(principal, Account)
    return principal


# -- pages ---------------------------------------------------------------------------------

@router.get("/check", response_class=HTMLResponse, include_in_schema=False)
async def check_page(request: Request, q: str = "", parcel: str = "") -> Response:
    """The check form, filled in with `q` or `parcel` (the map panel's "check restrictions"
    sends `?parcel=CODE`); a stranger's log-in link comes back here with it."""
    principal = await current_principal(request)
    cookies: dict[str, str] = {}
    csrf = csrf_for_form(request, cookies)
    query = (q or parcel).strip()[:28]
    here = "/check" + (f"?parcel={quote(query)}" if query else "")
    response = render(request, "checks/check.html", {
        "can_check": principal.may(Action.CHECK_RESTRICTIONS), "csrf": csrf, "query": query, "result": None,
        "here": here})
    set_csrf_cookie(response, cookies, request.app.state.settings.accounts.cookie_secure)
    return response


@router.post("/check", response_class=HTMLResponse, include_in_schema=False)
async def check_form(request: Request) -> Response:
    account = await _checker(request)
    form = await request.form()
    check_csrf(request, account, form)
    query = parse_query(text=str(form.get("query", "")))
    answer = await run_check(request.app.state.pool, request.app.state.settings.accounts, presented_token(request),
                             query, str(form.get("purpose", "")), client_of(request), _slots(request))
    return render(request, "checks/check.html", {"can_check": True, "csrf": account.csrf_token,
                                                 "query": query.value, "result": answer.result()})


@router.get("/verify/{code}", response_class=HTMLResponse, include_in_schema=False)
async def verify_certificate_page(request: Request, code: str) -> Response:
    statement = await verify_certificate(request, code)
    return render(request, "checks/verify.html", {"statement": statement, "code": code.upper()})


async def verify_certificate(request: Request, code: str) -> dict[str, Any]:
    """Certificate verification: what the certificate with this verification code stated, else 404."""
    code = code.strip().upper()
    check = None
    if len(code) == 16 and code.isalnum():
        async with request.app.state.pool.connection() as conn:
            check = await queries.find_check_by_code(conn, code)
    if check is None:
        raise NotFound("no certificate has this verification code")
    statement: dict[str, Any] = check["statement"]
    return statement


async def _own_check(request: Request, reference: str, action: str) -> dict[str, Any]:
    """The check with this reference, if it is the caller's or the caller may see any check
    (registrars, auditors); someone else's check leaves an audit row "consulted" (`action`)."""
    principal = await current_principal(request)
    if not principal.authenticated:
        from portal.platform.errors import NotAuthenticated

        raise NotAuthenticated("log in to see your checks")
    async with request.app.state.pool.connection() as conn:
        check = await queries.find_check(conn, reference.strip().upper())
    if check is None:
        raise NotFound(f"no check with the reference {reference}")
    if check["user_id"] != principal.user_id:
        if not principal.may(Action.VIEW_ANY_CHECK):
            raise Forbidden("this check was made by someone else")
        async with request.app.state.pool.connection() as conn, conn.transaction():
            await record_async(conn, consultation(principal, action, check["unit_numbers"] or [],
                                                  client=client_of(request), reference=check["reference"]))
    return check


@router.get("/check/{reference}/certificate.pdf", include_in_schema=False)
async def certificate(request: Request, reference: str) -> Response:
    check = await _own_check(request, reference, "certificate_view")
    pdf = await run_in_threadpool(certificate_pdf, check["statement"],
                                  _certificate_verify_url(request, check["verification_code"]),
                                  office_zone(request.app.state.settings.portal.office_timezone))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{check["reference"]}.pdf"', "Cache-Control": "no-store"})


# -- JSON API ------------------------------------------------------------------------------

_CHECK_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": CheckOut, "description": "the check's answer"}}


COOKIE_GET = ("with the session cookie, make a check with POST and the page's CSRF token (X-CSRF-Token); "
              "GET /api/check is for bearer tokens")


def _answer(answer: CheckAnswer) -> Response:
    """The server's JSON as it is: no parsing or re-serialising on the hot path."""
    return Response(answer.body, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/api/check", response_class=Response, responses=_CHECK_RESPONSES)
async def api_check_get(request: Request, unit_number: str | None = None, parcel_code: str | None = None,
                        purpose: str | None = None) -> Response:
    """Check a unit (`unit_number`) or every unit on a parcel (`parcel_code`) with a bearer token.

    The token is checked by the same database statement that does the check: one round trip.
    With the session cookie a check is a POST with the page's CSRF token (403 here): a link on
    another site can make the browser send a GET with the cookie, and a check spends the user's
    daily limit and is logged in their name."""
    return await _check_get(request, unit_number, parcel_code, purpose)


async def api_check_get_fast(request: Request) -> Response:
    """The same GET as a plain Starlette endpoint, which `portal.app` puts before every
    other route: FastAPI's parameter handling cost an eighth of the check's CPU in the app. The
    route above documents the API (and serves it where this one is not mounted)."""
    params = request.query_params
    return await _check_get(request, params.get("unit_number"), params.get("parcel_code"), params.get("purpose"))


async def _check_get(request: Request, unit_number: str | None, parcel_code: str | None,
                     purpose: str | None) -> Response:
    presented = presented_token(request)
    if presented is not None and presented[0] == "cookie":
        raise Forbidden(COOKIE_GET)
    try:
        query = parse_query(unit_number=unit_number, parcel_code=parcel_code)
    except BadInput:
        await _checker(request)  # who may not check hears 401/403 before any word on the input
        raise
    return _answer(await run_check(request.app.state.pool, request.app.state.settings.accounts, presented, query,
                                   purpose, client_of(request), _slots(request)))


@router.post("/api/check", response_class=Response, responses=_CHECK_RESPONSES, openapi_extra=CHECK_REQUEST_BODY)
async def api_check_post(request: Request) -> Response:
    """The same as GET, with a JSON body {unit_number | parcel_code | query, purpose}."""
    account = await _checker(request)
    check_csrf(request, account, None)
    body = await json_object(request, "unit_number or parcel_code",
                             text_fields=("unit_number", "parcel_code", "query", "purpose"))
    query = parse_query(unit_number=body.get("unit_number"), parcel_code=body.get("parcel_code"),
                        text=body.get("query"))
    return _answer(await run_check(request.app.state.pool, request.app.state.settings.accounts,
                                   presented_token(request), query, body.get("purpose"), client_of(request),
                                   _slots(request)))


@router.get("/api/checks/{reference}")
async def api_check_statement(request: Request, reference: str) -> dict[str, Any]:
    check = await _own_check(request, reference, "check_view")
    return {"reference": check["reference"], "verification_code": check["verification_code"],
            "tier": check["tier"], "statement": check["statement"]}


@router.get("/api/verify/{code}")
async def api_verify_certificate(request: Request, code: str) -> dict[str, Any]:
    """What a certificate stated and when, for anyone holding its code: no personal data."""
    return await verify_certificate(request, code)


@router.get("/api/units/search")
async def api_unit_search(request: Request, q: str = "") -> dict[str, Any]:
    principal = await allowed(request, Action.SEARCH_UNITS)
    assert isinstance(principal, Account)
    hits = await search_units(request.app.state.pool, request.app.state.settings.accounts, principal, q,
                              client_of(request))
    return {"units": hits, "count": len(hits)}
