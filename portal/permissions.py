"""Who may do what: the one place every route asks.

Routes declare the action they perform (`Depends(require(Action.REVIEW_SUBMISSION))`) and never
look at roles themselves, so the rules live here and nowhere else. The accounts module supplies
the principal behind a request by setting `app.state.principal_resolver`; until one is set every
request is anonymous, and anonymous requests may do only public things.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from fastapi import HTTPException, Request, status

__all__ = ["Role", "Action", "Principal", "ANONYMOUS", "ALLOWED", "current_principal", "require"]


class Role(StrEnum):
    VERIFIED_USER = "verified_user"
    SURVEYOR = "surveyor"
    REGISTRAR = "registrar"
    COURT_CLERK = "court_clerk"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


class Action(StrEnum):
    UPLOAD_SURVEY = "survey.upload"
    SUBMIT_SURVEY = "survey.submit"
    REVIEW_SUBMISSION = "survey.review"
    EDIT_GUIDE = "guide.edit"


@dataclass(frozen=True)
class Principal:
    """Who is asking. `user_id` is None for anonymous requests."""

    user_id: int | None = None
    display_name: str = "anonymous"
    roles: frozenset[Role] = field(default_factory=frozenset)
    institution: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def may(self, action: Action) -> bool:
        return bool(self.roles & ALLOWED.get(action, frozenset()))


ANONYMOUS = Principal()

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.UPLOAD_SURVEY: frozenset({Role.SURVEYOR, Role.REGISTRAR}),
    Action.SUBMIT_SURVEY: frozenset({Role.SURVEYOR, Role.REGISTRAR}),
    Action.REVIEW_SUBMISSION: frozenset({Role.REGISTRAR}),
    Action.EDIT_GUIDE: frozenset({Role.ADMINISTRATOR, Role.REGISTRAR}),
}

PrincipalResolver = Callable[[Request], Awaitable[Principal]]


async def current_principal(request: Request) -> Principal:
    """The principal of this request, as the accounts module resolves it (cached per request)."""
    if hasattr(request.state, "principal"):
        return request.state.principal  # type: ignore[no-any-return]
    resolver: PrincipalResolver | None = getattr(request.app.state, "principal_resolver", None)
    principal = await resolver(request) if resolver else ANONYMOUS
    request.state.principal = principal
    return principal


def require(action: Action) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that returns the principal if it may perform `action`, else 401/403."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.may(action):
            return principal
        if not principal.authenticated:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"log in to {action.value}",
                                headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"your roles do not allow {action.value}")

    return dependency
