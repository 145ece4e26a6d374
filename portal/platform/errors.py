"""Errors of accounts and checks: each carries its HTTP status and a message with no personal data.

    AccountError
     ├── BadInput          422  the request names the problem (never echoes an identity number)
     ├── NotAuthenticated  401
     ├── Forbidden         403  (also: CSRF token missing or wrong)
     ├── NotFound          404
     ├── Conflict          409
     └── Limited           429  carries retry_after seconds
"""

from __future__ import annotations

__all__ = ["AccountError", "BadInput", "NotAuthenticated", "Forbidden", "NotFound", "Conflict", "Limited"]


class AccountError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(AccountError):
    status = 422


class NotAuthenticated(AccountError):
    status = 401


class Forbidden(AccountError):
    status = 403


class NotFound(AccountError):
    status = 404


class Conflict(AccountError):
    status = 409


class Limited(AccountError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
