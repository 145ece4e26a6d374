"""Named dependencies, so a route's signature reads as a sentence (`SessionDep`, `CurrentUser` of
full-stack-fastapi-template)::

    @router.get("/registry")
    async def queue(request: Request, principal: PageUser, conn: Connection) -> Response: ...

    Connection        a connection of the app's pool (the primary), returned when the request ends
    ReadConnection    a connection for public reads: a healthy replica, else the primary
    CurrentPrincipal  who is asking (anonymous allowed)
    allowed_to(X)     the principal if it may do X, else 401/403 (`Reviewer = allowed_to(Action.REVIEW_SUBMISSION)`)
    PageUser          a signed-in principal, else a redirect to /login and back (`LoginRedirect`)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection

from portal.platform.permissions import Action, Principal, current_principal, require

__all__ = ["Connection", "ReadConnection", "CurrentPrincipal", "PageUser", "LoginRedirect", "allowed_to"]


class LoginRedirect(Exception):
    """A page for signed-in users was asked for by a stranger: send them to log in and come back
    (`portal.web.errors` answers it with a 303 to /login?next=...)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def _connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    async with request.app.state.pool.connection() as conn:
        yield conn


async def _read_connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    async with request.app.state.reads.connection() as conn:
        yield conn


async def _page_user(request: Request) -> Principal:
    principal = await current_principal(request)
    if not principal.authenticated:
        raise LoginRedirect(request.url.path)
    return principal


Connection = Annotated[AsyncConnection[Any], Depends(_connection)]
ReadConnection = Annotated[AsyncConnection[Any], Depends(_read_connection)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PageUser = Annotated[Principal, Depends(_page_user)]


def allowed_to(action: Action) -> Any:
    """`Annotated[Principal, Depends(require(action))]`: the principal if it may perform `action`."""
    return Annotated[Principal, Depends(require(action))]
