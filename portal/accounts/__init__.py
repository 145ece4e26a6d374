"""Accounts: log-in, sessions and API tokens, identity verification, and who is behind a request.

    principal.py         who is asking: a bearer token, a session cookie, or anonymous
    guards.py            request guards of accounts and checks: login, CSRF, rate limits
    security.py          password hashes, tokens, identity digests
    identity_numbers.py  resident identity numbers (GB 11643) and credit codes (GB 32100)
    service.py           use cases: sign up, log in, tokens, identity verification
    store.py             the SQL of accounts
    routes.py            pages and JSON API of accounts
    machine_clients.py   other departments' systems: tokens, scopes, limits, audited calls
    clients_api.py       JSON API for administrators: create, list, revoke machine clients
    templates/accounts/  the log-in, sign-up, account, counter and users pages

Its errors are the shared ones of `portal.platform.errors` (BadInput, NotAuthenticated, ...).

`portal.app` installs `resolve_principal` (asked by `portal.platform.permissions`) and
`csrf_guard`, and mounts `routes.router`.
"""

from __future__ import annotations

from fastapi import Request

from portal.accounts.principal import SESSION_COOKIE, resolve_principal

__all__ = ["resolve_principal", "csrf_guard", "SESSION_COOKIE"]


def csrf_guard(request: Request, principal: object) -> None:
    """For `portal.platform.permissions.require`: a state-changing call made with a session cookie
    must carry the session's token in `X-CSRF-Token` (pages put it in <meta name="csrf-token">)."""
    from portal.accounts.guards import check_csrf
    from portal.accounts.principal import Account

    if isinstance(principal, Account) and principal.via == "cookie":
        check_csrf(request, principal, None)
