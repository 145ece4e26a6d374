"""Who is behind a request: a bearer token (API) or a session cookie (pages), else anonymous.

`resolve_principal` is what `portal.platform.permissions.current_principal` calls (it is installed as
`app.state.principal_resolver`). The verified_user role is not stored: it is given while the
user has a current identity verification.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from portal.accounts.security import token_digest
from portal.accounts.store import PRINCIPAL_BY_TOKEN
from portal.platform.permissions import ANONYMOUS, Principal, Role

__all__ = ["Account", "SESSION_COOKIE", "CSRF_COOKIE", "resolve_principal", "presented_token"]

SESSION_COOKIE = "cadastre_session"
CSRF_COOKIE = "cadastre_csrf"


@dataclass(frozen=True)
class Account(Principal):
    """An authenticated principal with what the accounts module knows about it."""

    username: str = ""
    party_id: int | None = None
    verified: bool = False
    via: str = "cookie"  # how the request authenticated: "cookie" or "bearer"
    csrf_token: str | None = None


def presented_token(request: Request) -> tuple[str, str] | None:
    """(kind, token) from the Authorization header, else from the session cookie."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return "bearer", header[7:].strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return "cookie", cookie
    return None


async def resolve_principal(request: Request) -> Principal:
    presented = presented_token(request)
    if presented is None:
        return ANONYMOUS
    kind, token = presented
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(PRINCIPAL_BY_TOKEN, (token_digest(token), kind))
        row = await cur.fetchone()
    if row is None:
        return ANONYMOUS
    user_id, username, display_name, roles, institution, kind, csrf, _expires, party_id, verified = row
    granted = {Role(r) for r in roles}
    if verified:
        granted.add(Role.VERIFIED_USER)
    return Account(user_id=user_id, display_name=display_name, roles=frozenset(granted),
                   institution=institution, username=username, party_id=party_id, verified=bool(verified),
                   via=kind, csrf_token=csrf)
