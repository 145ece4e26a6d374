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

from fastapi import Request

from portal.platform.errors import Forbidden, NotAuthenticated

__all__ = ["Role", "Action", "Principal", "ANONYMOUS", "ALLOWED", "PERSONAL_DATA_ACTIONS", "PERSONAL_DATA_ROLES",
           "CONFIRMED_ROLES", "current_principal", "require", "allowed", "role_label"]


class Role(StrEnum):
    VERIFIED_USER = "verified_user"
    SURVEYOR = "surveyor"
    REGISTRAR = "registrar"
    COURT_CLERK = "court_clerk"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


class Action(StrEnum):
    # The values are stored in audit rows and named in messages: they keep their old words even
    # where the member's name follows docs/glossary.md (a submission, uploaded as a survey file).
    UPLOAD_SURVEY_FILE = "survey.upload"
    SUBMIT_SUBMISSION = "survey.submit"
    REVIEW_SUBMISSION = "survey.review"
    REGISTER_RIGHTS = "registry.register"
    REGISTER_SEIZURE = "registry.seizure"
    VIEW_APPLICATIONS = "registry.view"
    # Restriction checks and their disclosure tiers (see shared docs/domain.md, "Who may see what").
    # Owners are not a role: a verified user sees the full record of units they hold a right on.
    CHECK_RESTRICTIONS = "restrictions.check"
    SEARCH_UNITS = "units.search"
    VIEW_SEIZURE_DETAILS = "restrictions.seizure_details"
    VIEW_FULL_RECORD = "restrictions.full_record"
    VIEW_IDENTITY_NUMBERS = "personal_data.identity_numbers"
    VIEW_ANY_CHECK = "checks.view_any"
    # Accounts and the audit trail.
    VERIFY_IDENTITY_AT_COUNTER = "accounts.verify_at_counter"
    MANAGE_USERS = "accounts.manage"
    READ_AUDIT = "audit.read"
    EXPORT_AUDIT = "audit.export"
    EDIT_GUIDE = "guide.edit"
    # The registration archive: scans attached to source documents (who may see which: portal.archive).
    ATTACH_DOCUMENTS = "archive.attach"
    # The service's own state (the health pages' servers, ports and replica problems).
    VIEW_SERVICE_DETAILS = "service.details"


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

    @property
    def label(self) -> str:
        """How records name the person who acted: name, and institution when there is one."""
        return f"{self.display_name} ({self.institution})" if self.institution else self.display_name

    @property
    def role_names(self) -> str:
        """The roles as the audit trail records them, e.g. ``court_clerk,registrar``."""
        return ",".join(sorted(self.roles)) or "anonymous"

    def may(self, action: Action) -> bool:
        return bool(self.roles & ALLOWED.get(action, frozenset()))


ANONYMOUS = Principal()

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.UPLOAD_SURVEY_FILE: frozenset({Role.SURVEYOR, Role.REGISTRAR}),
    Action.SUBMIT_SUBMISSION: frozenset({Role.SURVEYOR, Role.REGISTRAR}),
    Action.REVIEW_SUBMISSION: frozenset({Role.REGISTRAR}),
    Action.REGISTER_RIGHTS: frozenset({Role.REGISTRAR}),
    Action.REGISTER_SEIZURE: frozenset({Role.COURT_CLERK}),
    Action.VIEW_APPLICATIONS: frozenset({Role.REGISTRAR, Role.COURT_CLERK, Role.AUDITOR}),
    Action.CHECK_RESTRICTIONS: frozenset({Role.VERIFIED_USER, Role.REGISTRAR, Role.COURT_CLERK}),
    Action.SEARCH_UNITS: frozenset({Role.VERIFIED_USER, Role.REGISTRAR, Role.COURT_CLERK}),
    Action.VIEW_SEIZURE_DETAILS: frozenset({Role.COURT_CLERK, Role.REGISTRAR}),
    Action.VIEW_FULL_RECORD: frozenset({Role.REGISTRAR}),
    Action.VIEW_IDENTITY_NUMBERS: frozenset({Role.REGISTRAR}),
    Action.VIEW_ANY_CHECK: frozenset({Role.REGISTRAR, Role.AUDITOR}),
    Action.VERIFY_IDENTITY_AT_COUNTER: frozenset({Role.REGISTRAR}),
    Action.MANAGE_USERS: frozenset({Role.ADMINISTRATOR}),
    Action.READ_AUDIT: frozenset({Role.AUDITOR}),
    Action.EXPORT_AUDIT: frozenset({Role.AUDITOR}),
    Action.EDIT_GUIDE: frozenset({Role.ADMINISTRATOR, Role.REGISTRAR}),
    Action.ATTACH_DOCUMENTS: frozenset({Role.REGISTRAR, Role.COURT_CLERK}),
    Action.VIEW_SERVICE_DETAILS: frozenset({Role.ADMINISTRATOR, Role.AUDITOR}),
}

# Actions whose answers carry personal data (names, identity numbers, prices, mortgages, seizures,
# who checked what). A staff role allowed any of them sees personal data, and so does the
# administrator, who gives roles: giving either in the portal takes a second administrator
# (`portal.accounts.service.set_roles`, migration 0012 keeps the same list).
PERSONAL_DATA_ACTIONS = frozenset({
    Action.VIEW_APPLICATIONS, Action.VIEW_SEIZURE_DETAILS, Action.VIEW_FULL_RECORD, Action.VIEW_IDENTITY_NUMBERS,
    Action.VIEW_ANY_CHECK, Action.READ_AUDIT, Action.EXPORT_AUDIT, Action.VERIFY_IDENTITY_AT_COUNTER,
})
PERSONAL_DATA_ROLES: frozenset[Role] = (
    frozenset[Role]().union(*(ALLOWED[a] for a in PERSONAL_DATA_ACTIONS)) - {Role.VERIFIED_USER})
CONFIRMED_ROLES: frozenset[Role] = PERSONAL_DATA_ROLES | {Role.ADMINISTRATOR}

PrincipalResolver = Callable[[Request], Awaitable[Principal]]


async def current_principal(request: Request) -> Principal:
    """The principal of this request, as the accounts module resolves it (cached per request)."""
    if hasattr(request.state, "principal"):
        cached: Principal = request.state.principal
        return cached
    resolver: PrincipalResolver | None = getattr(request.app.state, "principal_resolver", None)
    principal = await resolver(request) if resolver else ANONYMOUS
    request.state.principal = principal
    return principal


def require(action: Action) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that returns the principal if it may perform `action`, else 401/403."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.may(action):
            guard = getattr(request.app.state, "csrf_guard", None)
            if guard and request.method not in ("GET", "HEAD", "OPTIONS"):
                guard(request, principal)  # a forged cross-site request is refused here
            return principal
        if not principal.authenticated:
            raise NotAuthenticated(f"log in to {action.value}")
        raise Forbidden(f"your roles do not allow {action.value}")

    return dependency


async def allowed(request: Request, action: Action) -> Principal:
    """The principal if it may perform `action`; 401 when anonymous, 403 otherwise."""
    principal = await current_principal(request)
    if principal.may(action):
        return principal
    if not principal.authenticated:
        raise NotAuthenticated(f"log in to {action.value}")
    raise Forbidden(f"your roles do not allow {action.value}")


def role_label(principal: Principal) -> str:
    """The roles as recorded in the audit log and shown to owners ("registrar", "verified_user")."""
    staff = sorted(r.value for r in principal.roles if r is not Role.VERIFIED_USER)
    if staff:
        return ",".join(staff)
    return Role.VERIFIED_USER.value if Role.VERIFIED_USER in principal.roles else (
        "user" if principal.authenticated else "anonymous")
