"""Accounts, identity verification, restriction checks and the audit trail, mounted as one feature.

`mount_accounts(app, settings)` installs the principal resolver that portal.permissions asks,
the routes of accounts (portal.accounts.routes), checks (portal.checks.routes) and the audit
view (portal.accounts.audit_routes), and one handler that turns AccountError into a response
(JSON under /api, a page elsewhere), with Retry-After on 429.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.routing import Route
from fastapi.responses import JSONResponse, Response

from portal.settings import Settings

__all__ = ["mount_accounts"]


def mount_accounts(app: FastAPI, settings: Settings) -> None:
    from portal.accounts.audit_routes import router as audit_router
    from portal.accounts.errors import AccountError, Limited
    from portal.accounts.principal import resolve_principal
    from portal.accounts.routes import router as accounts_router
    from portal.accounts.security import identity_key
    from portal.checks.routes import api_check_get_fast
    from portal.checks.routes import router as checks_router
    from portal.web import render

    app.state.principal_resolver = resolve_principal
    app.state.csrf_guard = _csrf_guard
    app.state.identity_key = identity_key(settings.accounts, settings.database)

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, AccountError)
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Limited) else {}
        if error.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        wants_json = request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")
        if wants_json:
            return JSONResponse({"detail": error.message}, status_code=error.status, headers=headers)
        response = render(request, "accounts/message.html", {"status": error.status, "message": error.message},
                          status_code=error.status)
        response.headers.update(headers)
        return response

    app.add_exception_handler(AccountError, handle)
    app.include_router(accounts_router)
    app.include_router(checks_router)
    app.include_router(audit_router)
    # The restriction check is the API under the heaviest load: its GET is matched first, not
    # after every page and API route mounted before it (matching those cost a seventh of the
    # check's CPU in the app), by a plain endpoint. The documented route is in the checks router.
    fast = Route("/api/check", api_check_get_fast, methods=["GET"])
    fast.methods = {"GET"}  # not HEAD, which Starlette adds: a HEAD must not make a check
    app.router.routes.insert(0, fast)


def _csrf_guard(request: Request, principal: object) -> None:
    """For `portal.permissions.require`: a state-changing call made with a session cookie must
    carry the session's token in `X-CSRF-Token` (pages put it in <meta name="csrf-token">)."""
    from portal.accounts.guards import check_csrf
    from portal.accounts.principal import Account

    if isinstance(principal, Account) and principal.via == "cookie":
        check_csrf(request, principal, None)
