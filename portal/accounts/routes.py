"""HTTP for accounts: log-in pages and API tokens, the account page, identity verification
(online by registry match, at the counter by a registrar) and user administration."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from portal.accounts import service, store
from portal.accounts.guards import check_csrf, csrf_for_form, login_required, set_csrf_cookie
from portal.accounts.principal import SESSION_COOKIE, Account, presented_token
from portal.audit.consultations import consultation
from portal.audit.trail import record_async
from portal.platform.deps import Connection
from portal.platform.errors import BadInput, Conflict, Forbidden, Limited, NotAuthenticated
from portal.platform.permissions import Action, Principal, Role, allowed, current_principal, require
from portal.platform.requests import client_of, json_object, local_path
from portal.web import render

__all__ = ["router"]

router = APIRouter(tags=["accounts"])
# Pages that only read; the forms that change something check their CSRF token against the form.
AtCounter = Annotated[Principal, Depends(require(Action.VERIFY_IDENTITY_AT_COUNTER))]
UserManager = Annotated[Principal, Depends(require(Action.MANAGE_USERS))]


def _settings(request: Request) -> Any:
    return request.app.state.settings.accounts


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    cookies: dict[str, str] = {}
    context = {"csrf": csrf_for_form(request, cookies), **context}
    response = render(request, name, context, status_code=status_code)
    set_csrf_cookie(response, cookies, _settings(request).cookie_secure)
    return response


def _start_session(request: Request, issued: service.Issued, target: str = "/account") -> Response:
    response = RedirectResponse(target, status_code=303)
    settings = _settings(request)
    response.set_cookie(SESSION_COOKIE, issued.token, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="lax", secure=settings.cookie_secure, path="/")
    return response


# -- log in, sign up (at /register), log out -------------------------------------------------
# Both forms carry `next`, the page to return to (only a path of this site: `local_path`), and a
# refused form comes back filled in, its fault named beside the field (`errors`: field -> key of
# the catalog), with the status of the refusal; the API answers the same faults as JSON.

def _form_page(request: Request, name: str, next_path: str, values: dict[str, str],
               errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    return _page(request, name, {"next": next_path, "values": values, "errors": errors or {}, "error": None,
                                 "rules": {"username_min": 3, "username_max": 40, "password_min": 10}},
                 status_code=status_code)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, next: str = "") -> Response:
    await current_principal(request)
    return _form_page(request, "accounts/login.html", local_path(next, "/account"), {})


@router.post("/login", include_in_schema=False)
async def login_form(request: Request) -> Response:
    principal = await current_principal(request)
    form = await request.form()
    check_csrf(request, principal, form)
    target = local_path(str(form.get("next", "")), "/account")
    username = str(form.get("username", ""))
    try:
        issued = await service.login(request.app.state.pool, _settings(request), username,
                                     str(form.get("password", "")), client_of(request))
    except (NotAuthenticated, Limited) as refused:
        key = "accounts.error.login_failed" if isinstance(refused, NotAuthenticated) else "accounts.error.limited"
        return _form_page(request, "accounts/login.html", target, {"username": username[:40]},
                          {"password": key}, status_code=refused.status)
    return _start_session(request, issued, target)


def _sign_up_faults(username: str, display_name: str, password: str, again: str) -> dict[str, str]:
    """The sign-up form's faults by field (the service checks the same rules again)."""
    faults: dict[str, str] = {}
    if not service.USERNAME.match(username):
        faults["username"] = "accounts.rule.username"
    if not display_name.strip() or len(display_name) > 80:
        faults["display_name"] = "accounts.rule.display_name"
    if not 10 <= len(password) <= 1024:
        faults["password"] = "accounts.rule.password"
    elif password != again:
        faults["password_again"] = "accounts.error.passwords_differ"
    return faults


@router.get("/register", response_class=HTMLResponse, include_in_schema=False)
async def sign_up_page(request: Request, next: str = "") -> Response:
    await current_principal(request)
    return _form_page(request, "accounts/sign_up.html", local_path(next, "/account"), {})


@router.post("/register", include_in_schema=False)
async def sign_up_form(request: Request) -> Response:
    principal = await current_principal(request)
    form = await request.form()
    check_csrf(request, principal, form)
    target = local_path(str(form.get("next", "")), "/account")
    password = str(form.get("password", ""))
    username = str(form.get("username", "")).strip().lower()
    display_name = str(form.get("display_name", ""))
    kept = {"username": username[:40], "display_name": display_name[:80]}
    faults = _sign_up_faults(username, display_name, password, str(form.get("password_again", "")))
    if faults:
        return _form_page(request, "accounts/sign_up.html", target, kept, faults, status_code=422)
    pool, settings = request.app.state.pool, _settings(request)
    try:
        await service.sign_up(pool, settings, username, display_name, password, client_of(request))
    except Conflict:
        return _form_page(request, "accounts/sign_up.html", target, kept,
                          {"username": "accounts.error.username_unavailable"}, status_code=409)
    issued = await service.login(pool, settings, username, password, client_of(request))
    return _start_session(request, issued, target)


@router.post("/logout", include_in_schema=False)
async def logout_form(request: Request) -> Response:
    account = await login_required(request)
    form = await request.form()
    check_csrf(request, account, form)
    presented = presented_token(request)
    assert presented is not None
    await service.logout(request.app.state.pool, account, presented[1], client_of(request))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the account page --------------------------------------------------------------------------

async def _account_context(request: Request, account: Account) -> dict[str, Any]:
    async with request.app.state.pool.connection() as conn:
        verification = await store.current_identity_verification(conn, int(account.user_id or 0))
        units = await store.owned_units(conn, account.party_id)
        checks = await store.checks_of_units(conn, [u["unit_number"] for u in units],
                                             owner_user_id=account.user_id)
        tokens = await store.list_tokens(conn, int(account.user_id or 0))
        notices = await store.notices_of(conn, account.party_id)
        account_notices = await store.account_notices_of(conn, int(account.user_id or 0))
    if verification:
        verification.pop("document_digest", None)
    settings = _settings(request)
    return {"account": account, "verification": verification, "units": units, "checks": checks,
            "tokens": tokens, "notices": notices, "account_notices": account_notices,
            "roles": sorted(r.value for r in account.roles),
            "token_days": int(settings.token_days), "token_max_days": settings.token_max_days}


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
async def account_page(request: Request) -> Response:
    principal = await current_principal(request)
    if not isinstance(principal, Account):
        return RedirectResponse("/login", status_code=303)
    return _page(request, "accounts/account.html", {**await _account_context(request, principal),
                                                    "message": None, "new_token": None})


@router.post("/account/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_identity_form(request: Request) -> Response:
    account = await login_required(request)
    form = await request.form()
    check_csrf(request, account, form)
    await service.verify_identity_by_registry(request.app.state.pool, _settings(request),
                                              request.app.state.identity_key, account, str(form.get("name", "")),
                                              str(form.get("id_number", "")), client_of(request))
    return RedirectResponse("/account", status_code=303)


@router.post("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
async def token_form(request: Request) -> Response:
    account = await login_required(request)
    _no_token_minting(account)
    form = await request.form()
    check_csrf(request, account, form)
    days = service.token_lifetime_days(_settings(request), form.get("days"))
    issued = await service.issue_token(request.app.state.pool, _settings(request), account,
                                       str(form.get("label", "")).strip()[:80] or None, client_of(request), days)
    return _page(request, "accounts/account.html", {**await _account_context(request, account),
                                                    "message": None, "new_token": issued.token})


# -- securing one's account: password, sessions, tokens (pages) -------------------------------

def _no_token_minting(account: Account) -> None:
    """A token cannot create tokens, or a stolen one could renew itself for ever."""
    if account.via == "bearer":
        raise Forbidden("a token cannot create tokens: log in, or exchange your password at /api/tokens")


async def _presented_secret(request: Request) -> str:
    presented = presented_token(request)
    assert presented is not None  # the request is authenticated
    return presented[1]


def _logged_out_everywhere(target: str, status_code: int) -> Response:
    response: Response = RedirectResponse(target, status_code=status_code) if status_code == 303 else Response(
        status_code=status_code)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/account/password", response_class=HTMLResponse, include_in_schema=False)
async def password_form(request: Request) -> Response:
    """Change the password; every other session and token of the account ends."""
    account = await login_required(request)
    form = await request.form()
    check_csrf(request, account, form)
    new = str(form.get("new_password", ""))
    if new != str(form.get("new_password_again", "")):
        raise BadInput("the two new passwords differ")
    await service.change_password(request.app.state.pool, _settings(request), account,
                                  str(form.get("current_password", "")), new, await _presented_secret(request),
                                  client_of(request))
    return _page(request, "accounts/account.html", {**await _account_context(request, account),
                                                    "message": "accounts.password_changed", "new_token": None})


@router.post("/account/logout-everywhere", include_in_schema=False)
async def logout_everywhere_form(request: Request) -> Response:
    account = await login_required(request)
    form = await request.form()
    check_csrf(request, account, form)
    await service.logout_everywhere(request.app.state.pool, account, client_of(request))
    return _logged_out_everywhere("/login", 303)


@router.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse, include_in_schema=False)
async def revoke_token_form(request: Request, token_id: str) -> Response:
    account = await login_required(request)
    form = await request.form()
    check_csrf(request, account, form)
    await service.revoke_token(request.app.state.pool, account, token_id, client_of(request))
    return _page(request, "accounts/account.html", {**await _account_context(request, account),
                                                    "message": "accounts.token_revoked", "new_token": None})


# -- the counter (registrars) and user administration ------------------------------------------

async def _counter_page(request: Request, registrar: Principal, **context: Any) -> Response:
    """The counter: verify in person, reopen online verification, and the online verifications
    that followed failed tries (a look at personal data: an audit row)."""
    after_failures = await service.verifications_after_failures(request.app.state.pool, registrar,
                                                                client_of(request))
    return _page(request, "accounts/counter.html",
                 {"done": None, "reopened": None, "after_failures": after_failures, **context})


@router.get("/counter", response_class=HTMLResponse, include_in_schema=False)
async def counter_page(request: Request, registrar: AtCounter) -> Response:
    return await _counter_page(request, registrar)


async def _counter_form(request: Request) -> tuple[Account, Any]:
    """The registrar and the form of a counter action: allowed, CSRF-checked, and the identity
    card confirmed as seen (BadInput otherwise)."""
    registrar = await allowed(request, Action.VERIFY_IDENTITY_AT_COUNTER)
    assert isinstance(registrar, Account)
    form = await request.form()
    check_csrf(request, registrar, form)
    if form.get("document_seen") != "yes":
        raise BadInput("confirm that you have seen the identity card")
    return registrar, form


@router.post("/counter/reopen", response_class=HTMLResponse, include_in_schema=False)
async def reopen_verification_form(request: Request) -> Response:
    """A registrar, with the person's identity card seen, reopens online verification of that
    identity closed by failed tries (someone else's, as a rule)."""
    registrar, form = await _counter_form(request)
    reopened = await service.reopen_online_verification(request.app.state.pool, request.app.state.identity_key,
                                                        registrar, str(form.get("name", "")),
                                                        str(form.get("id_number", "")), client_of(request))
    return await _counter_page(request, registrar, reopened="yes" if reopened else "no")


@router.post("/counter/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_identity_at_counter_form(request: Request) -> Response:
    registrar, form = await _counter_form(request)
    done = await service.verify_identity_at_counter(request.app.state.pool, request.app.state.identity_key,
                                                    registrar, str(form.get("username", "")),
                                                    str(form.get("name", "")), str(form.get("id_number", "")),
                                                    str(form.get("note", "")) or None, client_of(request))
    return await _counter_page(request, registrar, done=done)


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
async def users_page(request: Request, admin: UserManager, conn: Connection) -> Response:
    users = await store.list_users(conn)
    grants = await store.pending_grants(conn)
    # Names and masked identity numbers of every user: the look is logged (committed with the route).
    await record_async(conn, consultation(admin, "user_list", [str(u["user_id"]) for u in users],
                                          client=client_of(request)))
    staff_roles = [r.value for r in Role if r is not Role.VERIFIED_USER]
    return _page(request, "accounts/users.html",
                 {"users": users, "grants": grants, "me": admin.user_id, "staff_roles": staff_roles})


@router.post("/admin/users/roles", include_in_schema=False)
async def set_roles(request: Request) -> Response:
    """Roles that see personal data (and the administrator role) wait for a second administrator."""
    admin = await allowed(request, Action.MANAGE_USERS)
    form = await request.form()
    check_csrf(request, admin, form)
    await service.set_roles(request.app.state.pool, admin, str(form.get("username", "")).strip().lower(),
                            sorted({str(r) for r in form.getlist("roles")}),
                            str(form.get("institution", "")).strip() or None, client_of(request))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/grants/confirm", include_in_schema=False)
async def confirm_grant(request: Request) -> Response:
    """A second administrator confirms a pending role grant."""
    admin = await allowed(request, Action.MANAGE_USERS)
    form = await request.form()
    check_csrf(request, admin, form)
    grant = str(form.get("grant_id", "")).strip()
    if not (grant.isascii() and grant.isdigit()) or len(grant) > 18:
        raise BadInput("grant_id: give the number of a pending role grant")
    await service.confirm_role_grant(request.app.state.pool, admin, int(grant), client_of(request))
    return RedirectResponse("/admin/users", status_code=303)


# -- JSON API ----------------------------------------------------------------------------------
# The JSON bodies are read by `json_object` (a NUL, a control character or a wrong type in a text
# field is a 422 naming the field, never a 500), so FastAPI does not see them: each route
# describes its body in the OpenAPI here, for clients and for the fuzzer (schemathesis).

def _json_body(required: tuple[str, ...], **properties: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` describing a JSON object body with these properties."""
    schema = {"type": "object", "required": list(required), "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_TEXT = {"type": "string", "maxLength": 1024}


class VerificationAfterFailures(BaseModel):
    """An online verification that followed failed tries on the same identity."""

    verification_id: int
    username: str
    party_id: int | None
    party_name: str | None
    document_masked: str
    failures_before: int
    verified_at: dt.datetime
    client: str | None
    revoked_at: dt.datetime | None


@router.get("/api/counter/verifications-after-failures")
async def api_verifications_after_failures(request: Request,
                                           registrar: AtCounter) -> list[VerificationAfterFailures]:
    """For registrars: the online verifications that followed failed tries on the same identity,
    newest first (the account, the party, the failures before, when, the client). Each look is an
    audit row."""
    rows = await service.verifications_after_failures(request.app.state.pool, registrar, client_of(request))
    return [VerificationAfterFailures(**row) for row in rows]


@router.post("/api/tokens", status_code=201, openapi_extra=_json_body(
    ("username", "password"), username=_TEXT, password=_TEXT, label={"type": "string", "maxLength": 80}))
async def api_token(request: Request) -> dict[str, Any]:
    """Exchange a username and password for a bearer token: {"username", "password", "label"}."""
    body = await json_object(request, "username and password", text_fields=("username", "password", "label"))
    issued = await service.login(request.app.state.pool, _settings(request), str(body.get("username", "")),
                                 str(body.get("password", "")), client_of(request), kind="bearer",
                                 label=str(body.get("label") or "")[:80] or None)
    return {"token": issued.token, "token_type": "bearer", "expires_at": issued.expires_at.isoformat()}


@router.delete("/api/tokens/current", status_code=204)
async def api_revoke(request: Request) -> Response:
    account = await login_required(request)
    if account.via != "bearer":
        raise NotAuthenticated("send the bearer token to revoke")
    presented = presented_token(request)
    assert presented is not None
    await service.logout(request.app.state.pool, account, presented[1], client_of(request))
    return Response(status_code=204)


@router.get("/api/me")
async def api_me(request: Request) -> dict[str, Any]:
    account = await login_required(request)
    context = await _account_context(request, account)
    verification = context["verification"]
    return {
        "username": account.username, "display_name": account.display_name, "roles": context["roles"],
        "institution": account.institution, "verified": account.verified,
        "verification": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in verification.items()
                         if k in ("method", "verified_name", "document_masked", "verified_at")}
        if verification else None,
        "units": context["units"],
        "notices": [{"kind": n["kind"], "created_at": n["created_at"].isoformat()} for n in context["account_notices"]],
        "checks_of_my_units": [{"checked_at": c["checked_at"].isoformat(), "role": c["checker_role"],
                                "institution": c["checker_institution"], "units": c["units"]}
                               for c in context["checks"]],
    }


@router.post("/api/me/verification", status_code=201, openapi_extra=_json_body(
    ("name", "id_number"), name={**_TEXT, "description": "as on the identity card"},
    id_number={"type": "string", "maxLength": 40, "description": "18-character resident identity number (GB 11643)"}))
async def api_verify_identity(request: Request) -> dict[str, Any]:
    """Verify by registry match: {"name", "id_number"} in the body, never in the URL. Past a limit
    (failures per claimed identity, per client address, tries per account) the answer is 429
    `verification_at_counter`: a registrar verifies at the counter."""
    account = await login_required(request)
    check_csrf(request, account, None)
    body = await json_object(request, "name and id_number", text_fields=("name", "id_number"))
    await service.verify_identity_by_registry(request.app.state.pool, _settings(request),
                                              request.app.state.identity_key, account, str(body.get("name", "")),
                                              str(body.get("id_number", "")), client_of(request))
    return {"verified": True, "method": "registry_match"}


# -- securing one's account: password, sessions, tokens (JSON) --------------------------------
# With a session cookie each takes the session's CSRF token in X-CSRF-Token.

class PasswordChanged(BaseModel):
    changed: bool
    sessions_revoked: int


class MyToken(BaseModel):
    """One of one's live API tokens; never its secret."""

    id: str
    label: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


class NewToken(BaseModel):
    token: str
    token_type: str
    expires_at: dt.datetime

@router.post("/api/me/password", openapi_extra=_json_body(
    ("current_password", "new_password"), current_password=_TEXT, new_password=_TEXT))
async def api_change_password(request: Request) -> PasswordChanged:
    """Change the password: {"current_password", "new_password"}. Every other session and token
    of the account ends; the one that asked goes on."""
    account = await login_required(request)
    check_csrf(request, account, None)
    body = await json_object(request, "current_password and new_password",
                             text_fields=("current_password", "new_password"))
    if not body.get("current_password") or not body.get("new_password"):
        raise BadInput("send current_password and new_password")
    revoked = await service.change_password(request.app.state.pool, _settings(request), account,
                                            str(body["current_password"]), str(body["new_password"]),
                                            await _presented_secret(request), client_of(request))
    return PasswordChanged(changed=True, sessions_revoked=revoked)


@router.post("/api/me/logout-everywhere", status_code=204)
async def api_logout_everywhere(request: Request) -> Response:
    """End every session and token of the account, this one too."""
    account = await login_required(request)
    check_csrf(request, account, None)
    await service.logout_everywhere(request.app.state.pool, account, client_of(request))
    return _logged_out_everywhere("", 204)


@router.get("/api/me/tokens")
async def api_my_tokens(request: Request) -> list[MyToken]:
    """One's live API tokens: id (to revoke it), label, created and expires; never the secret."""
    account = await login_required(request)
    async with request.app.state.pool.connection() as conn:
        tokens = await store.list_tokens(conn, int(account.user_id or 0))
    return [MyToken(id=t["token_id"], label=t["label"], created_at=t["created_at"], expires_at=t["expires_at"])
            for t in tokens]


@router.post("/api/me/tokens", status_code=201, openapi_extra=_json_body(
    (), label={"type": "string", "maxLength": 80}, days={"type": "integer", "minimum": 1}))
async def api_new_token(request: Request) -> NewToken:
    """A new token from a log-in session: {"label", "days"} (1 to token_max_days; default
    token_days). A token cannot mint tokens, or a stolen one would live for ever."""
    account = await login_required(request)
    _no_token_minting(account)
    check_csrf(request, account, None)
    body = await json_object(request, "label and days", text_fields=("label",))
    days = service.token_lifetime_days(_settings(request), body.get("days"))
    issued = await service.issue_token(request.app.state.pool, _settings(request), account,
                                       str(body.get("label") or "")[:80] or None, client_of(request), days)
    return NewToken(token=issued.token, token_type="bearer", expires_at=issued.expires_at)


@router.delete("/api/me/tokens/{token_id}", status_code=204)
async def api_revoke_token(request: Request, token_id: str) -> Response:
    """Revoke one of one's tokens by its id (GET /api/me/tokens)."""
    account = await login_required(request)
    check_csrf(request, account, None)
    await service.revoke_token(request.app.state.pool, account, token_id, client_of(request))
    return Response(status_code=204)
