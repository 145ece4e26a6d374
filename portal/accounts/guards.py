"""Request guards shared by the account, check and audit routes: login, CSRF, limits, client.

CSRF: a form posted with a session cookie must carry the session's CSRF token (field `csrf` or
header `X-CSRF-Token`); before login, forms carry the value of a `cadastre_csrf` cookie set
when the form was served (double submit). Requests authenticated by a bearer token carry no
ambient credential, so they need no token.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

import psycopg
from fastapi import Request, Response

from portal.accounts.principal import CSRF_COOKIE, Account
from portal.accounts.security import same_secret
from portal.accounts.store import forget_old_counters, rate_hits
from portal.platform.clock import LIMITS_TIMEZONE, office_now
from portal.platform.errors import Forbidden, Limited, NotAuthenticated
from portal.platform.permissions import Principal, current_principal

__all__ = ["login_required", "csrf_for_form", "set_csrf_cookie", "check_csrf", "seconds_to_window_end", "enforce_limit",
           ]


async def login_required(request: Request) -> Account:
    principal = await current_principal(request)
    if not isinstance(principal, Account):
        raise NotAuthenticated("log in first")
    return principal



def csrf_for_form(request: Request, response_cookies: dict[str, str]) -> str:
    """The token a page's forms must carry: the session's, or a fresh double-submit cookie."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Account) and principal.via == "cookie" and principal.csrf_token:
        return principal.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response_cookies[CSRF_COOKIE] = token
    return token


def set_csrf_cookie(response: Response, cookies: Mapping[str, str], secure: bool) -> None:
    for name, value in cookies.items():
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure, path="/")


def check_csrf(request: Request, principal: Principal, form: Mapping[str, Any] | None) -> None:
    """Refuse (403) a state-changing request that a third-party page could have forged."""
    presented = (form or {}).get("csrf") or request.headers.get("x-csrf-token")
    if isinstance(principal, Account):
        if principal.via == "bearer":
            return
        if same_secret(str(presented) if presented else None, principal.csrf_token):
            return
        raise Forbidden("the form's security token is missing or out of date: reload the page and try again")
    if same_secret(str(presented) if presented else None, request.cookies.get(CSRF_COOKIE)):
        return
    raise Forbidden("the form's security token is missing or out of date: reload the page and try again")




def seconds_to_window_end(window: str) -> int:
    """Seconds until the database's limit window ends (days end at midnight, LIMITS_TIMEZONE)."""
    now = office_now(LIMITS_TIMEZONE)
    if window == "1 minute":
        return 60 - now.second
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


async def enforce_limit(conn: psycopg.AsyncConnection, buckets: list[tuple[str, str, int, int, str]]) -> None:
    """Count one hit in each (bucket, window, amount, limit, message) and raise Limited past a limit."""
    totals = await rate_hits(conn, [(b, w, a) for b, w, a, _l, _m in buckets])
    if secrets.randbelow(1000) == 0:  # now and then, forget windows that ended (no scheduler needed)
        await forget_old_counters(conn)
    for (_bucket, window, _amount, limit, message), total in zip(buckets, totals, strict=True):
        if total > limit:
            raise Limited(message, seconds_to_window_end(window))
