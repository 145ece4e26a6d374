"""Named dependencies, so a route's signature reads as a sentence (`SessionDep`, `CurrentUser` of
full-stack-fastapi-template)::

    @router.get("/registry")
    async def queue(request: Request, principal: PageUser, conn: Connection) -> Response: ...

    Connection        a connection of the app's pool (the primary): committed when the route returns
                      normally, rolled back when it raises, and back in the pool before the response is sent
    ReadConnection    the same for public reads: a healthy replica, else the primary
    CurrentPrincipal  who is asking (anonymous allowed)
    PageUser          a signed-in principal, else a redirect to /login and back (`LoginRedirect`)

"Allowed to do X" is named where it is used, one alias per action, e.g. in the surveys room
`Reviewer = Annotated[Principal, Depends(require(Action.REVIEW_SUBMISSION))]` (401 for strangers,
403 for the wrong role, CSRF checked on changes). The fast routes (`/api/check`, the OGC tiles and
items) are plain Starlette endpoints and take none of these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection

from portal.platform.permissions import Principal, current_principal
from portal.platform.requests import here_of

__all__ = ["Connection", "ReadConnection", "CurrentPrincipal", "PageUser", "LoginRedirect"]


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
        raise LoginRedirect(here_of(request))
    return principal


Connection = Annotated[AsyncConnection[Any], Depends(_connection, scope="function")]
ReadConnection = Annotated[AsyncConnection[Any], Depends(_read_connection, scope="function")]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PageUser = Annotated[Principal, Depends(_page_user)]

