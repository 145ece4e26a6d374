"""One error model: every refusal the portal makes is a `CadastreError`, carrying its HTTP status,
a stable snake_case `code`, a message safe to show (never personal data) and a message for the
log, kept apart (pygeoapi's `GenericError(msg, user_msg)`). The handlers in `portal.web.errors`
turn any of them into one response shape, a page for browsers and JSON for API clients::

    {"detail": {"code": "rule_violation", "message": "...", "rule": "...", "blocking": {...}}}

Translations key on the code: `error.<code>` in `portal/web/locales/*.json` says in Chinese and
English what kind of refusal it is; `message` adds the particulars in English, and
`portal.web.messages` renders it in the request's language (`localized_message`) from a template
keyed by the English text: a new message needs its Chinese template (tests/web/test_messages.py).

    CadastreError                          500 internal_error
     ├── AccountError                      400 bad_request          (this module)
     │    ├── BadInput                     422 invalid_input        names the field (never an identity number)
     │    ├── NotAuthenticated             401 not_authenticated    WWW-Authenticate: Bearer
     │    ├── Forbidden                    403 forbidden            (also: CSRF token missing or wrong)
     │    ├── NotFound                     404 not_found
     │    ├── Conflict                     409 conflict
     │    └── Limited                      429 rate_limited         Retry-After, `retry_after`
     ├── VersionError                      409 no_current_version   (portal.platform.versioning)
     ├── FontMissing                       503 font_missing         (portal.web.fonts)
     ├── GuideError                        422 invalid_guide        (portal.guide.model)
     ├── RegistryError                     400 registry_error       (portal.registry.errors)
     │    ├── ApplicationNotFound          404 application_not_found
     │    ├── ApplicationRefused           403 application_refused
     │    ├── ApplicationInvalid           422 application_invalid  `field`
     │    ├── ApplicationConflict          409 application_conflict
     │    └── RuleViolation                409 rule_violation       `rule`, `blocking`
     └── SubmissionError                   409 submission_error     (portal.surveys.workflow)
          ├── SubmissionNotFound           404 submission_not_found
          ├── SubmissionRefused            403 submission_refused
          └── SubmissionConflict           409 submission_conflict  `report`

Mapped where they are handled, not subclasses: `spatial.errors.SpatialError` (422
unreadable_file, with `file`, `line`, `feature`, `field`; `spatial` imports nothing of ours),
FastAPI's `HTTPException` (the code from the status) and `RequestValidationError` (422
invalid_request, pydantic's list under `errors`), and the database being unreachable (503
database_unavailable). Anything else is a 500 internal_error with a generic message; the log
gets the traceback. The OGC layer (`layers/`) keeps its own OGC exception bodies.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["CadastreError", "AccountError", "BadInput", "NotAuthenticated", "Forbidden", "NotFound", "Conflict",
           "Limited"]


class CadastreError(Exception):
    """Base of every domain error: `status`, `code`, `message` (for people) and `log_message`.

    `message` must be safe to show to whoever made the request; `log_message` (default: the
    message) may say more for the operator. `fields()` adds the particulars to the JSON body,
    `headers()` the HTTP headers the status calls for.

    >>> error = CadastreError("the register is closed", log_message="maintenance window 02:00-03:00")
    >>> (error.status, error.code, str(error))
    (500, 'internal_error', 'the register is closed')
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "the request could not be completed"

    def __init__(self, message: str | None = None, *, log_message: str | None = None) -> None:
        text = message or self.default_message
        super().__init__(text)
        self.message = text
        self.log_message = log_message or text

    def fields(self) -> dict[str, Any]:
        """What the JSON body carries beside `code` and `message` (e.g. `rule`, `field`)."""
        return {}

    def headers(self) -> dict[str, str]:
        return {}


class AccountError(CadastreError):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, log_message: str | None = None) -> None:
        super().__init__(message, log_message=log_message)


class BadInput(AccountError):
    status = 422
    code = "invalid_input"


class NotAuthenticated(AccountError):
    status = 401
    code = "not_authenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(AccountError):
    status = 403
    code = "forbidden"


class NotFound(AccountError):
    status = 404
    code = "not_found"


class Conflict(AccountError):
    status = 409
    code = "conflict"


class Limited(AccountError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def fields(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
