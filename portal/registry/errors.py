"""Errors of the registry workflow. Each names what blocked the step; nothing was changed.
They are `CadastreError`s (see `portal.platform.errors` for the whole tree and the body shape).

    RegistryError             400 registry_error
    ├── ApplicationNotFound   404 application_not_found   no such application
    ├── PartyNotFound         404 party_not_found         no such current party
    ├── ApplicationRefused    403 application_refused     the principal's role may not take this step
    │   └── OwnApplication    403 own_application         the principal received it: another decides it
    ├── ApplicationInvalid    422 application_invalid     the request is incomplete or malformed, `field`
    ├── ApplicationConflict   409 application_conflict    the state does not allow it now: wrong status, unit busy
    └── RuleViolation         409 rule_violation          a rule of the register forbids it, `rule` and `blocking`
"""

from __future__ import annotations

from typing import Any

from portal.platform.errors import CadastreError

__all__ = ["RegistryError", "ApplicationNotFound", "PartyNotFound", "ApplicationRefused", "OwnApplication",
           "ApplicationInvalid", "ApplicationConflict", "RuleViolation"]


class RegistryError(CadastreError):
    status = 400
    code = "registry_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ApplicationNotFound(RegistryError):
    status = 404
    code = "application_not_found"


class PartyNotFound(RegistryError):
    status = 404
    code = "party_not_found"


class ApplicationRefused(RegistryError):
    status = 403
    code = "application_refused"


class OwnApplication(ApplicationRefused):
    """Separation of duties: whoever received an application does not register or reject it
    (the database refuses it too, migration 0012)."""

    status = 403
    code = "own_application"


class ApplicationInvalid(RegistryError):
    status = 422
    code = "application_invalid"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def fields(self) -> dict[str, Any]:
        return {"field": self.field}


class ApplicationConflict(RegistryError):
    status = 409
    code = "application_conflict"


class RuleViolation(RegistryError):
    """`rule` is a stable name (clients and translations key on it); `blocking` identifies the
    record that blocks, e.g. {"restriction_id": 12, "kind": "seizure", "document_number": ...}."""

    status = 409
    code = "rule_violation"

    def __init__(self, rule: str, message: str, blocking: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.blocking = blocking or {}

    def fields(self) -> dict[str, Any]:
        return {"rule": self.rule, "blocking": self.blocking}
