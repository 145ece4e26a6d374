"""Errors of the registry workflow. Each names what blocked the step; nothing was changed.

    RegistryError
    ├── ApplicationNotFound   no such application
    ├── ApplicationRefused    the principal's role may not take this step (HTTP 403)
    ├── ApplicationInvalid    the request is incomplete or malformed (HTTP 422)
    ├── ApplicationConflict   the state does not allow it now: wrong status, unit busy (HTTP 409)
    └── RuleViolation         a rule of the register forbids it (HTTP 409), with `rule` and `blocking`
"""

from __future__ import annotations

from typing import Any

__all__ = ["RegistryError", "ApplicationNotFound", "ApplicationRefused", "ApplicationInvalid",
           "ApplicationConflict", "RuleViolation"]


class RegistryError(Exception):
    def to_dict(self) -> dict[str, Any]:
        return {"message": str(self)}


class ApplicationNotFound(RegistryError):
    pass


class ApplicationRefused(RegistryError):
    pass


class ApplicationInvalid(RegistryError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        return {"message": str(self), "field": self.field}


class ApplicationConflict(RegistryError):
    pass


class RuleViolation(RegistryError):
    """`rule` is a stable name (clients and translations key on it); `blocking` identifies the
    record that blocks, e.g. {"restriction_id": 12, "kind": "seizure", "document_number": ...}."""

    def __init__(self, rule: str, message: str, blocking: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.blocking = blocking or {}

    def to_dict(self) -> dict[str, Any]:
        return {"message": str(self), "rule": self.rule, "blocking": self.blocking}
