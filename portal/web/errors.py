"""Errors as responses: one body shape for API clients, one error page for browsers.

Every handler ends in `error_response(request, status, code, message, ...)`, and `wants_json`
alone decides between the two: the page `error.html` for a browser (off /api/, Accept naming
HTML), JSON for everyone else. The JSON body is always

    {"detail": {"code": "<snake_case>", "message": "<safe to show>", ...particulars,
                "language": "zh-CN", "localized_message": "<the message in that language>"}}

`message` stays the English text API clients have always had; `localized_message` says it in
the language of the request (the `lang` cookie, else Accept-Language, else Chinese), from the
catalogue of `portal.web.messages`; the page shows the localized one.

(`portal.platform.errors` draws the tree of domain errors and their codes). `create_app`
registers the handlers below once; the OGC layer answers its own errors in OGC's shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from portal.platform.deps import LoginRedirect
from portal.platform.errors import CadastreError
from portal.platform.middleware import AnswerExceptions
from portal.platform.permissions import current_principal
from portal.platform.requests import here_of, next_query
from portal.web.i18n import language_of
from portal.web.messages import localize_error, localize_place, localize_pydantic, translate
from portal.web.templating import render
from spatial.errors import CrsError, LimitError, SpatialError, UnsupportedFormatError
from spatial.georeference import GeoreferenceError
from spatial.warp import WarpError

__all__ = ["HANDLERS", "HTTP_CODES", "SPATIAL_CODES", "CatchUnexpected", "error_response", "wants_json", "http_code",
           "known_caller"]

log = logging.getLogger(__name__)

# The code of an HTTPException (raised by FastAPI, Starlette or a route) follows from its status.
HTTP_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "body_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited", 500: "internal_error",
    503: "unavailable",
}
SPATIAL_CODES: dict[type[SpatialError], str] = {
    LimitError: "upload_limit", UnsupportedFormatError: "unsupported_format", CrsError: "unusable_crs",
    GeoreferenceError: "georeference_failed", WarpError: "warp_failed", SpatialError: "unreadable_file"}
UNAVAILABLE = "the cadastre database is unavailable for a moment; try again shortly"
BUSY = "the server is busy with other requests; try again in a few seconds"
INTERNAL = "something went wrong on our side; the error was logged"
UNSTORABLE = "a value in the request cannot be stored (for example a control character in a text field)"


def http_code(status: int) -> str:
    """`HTTP_CODES`, or the status's own name in snake case (`418` -> `im_a_teapot`)."""
    if status in HTTP_CODES:
        return HTTP_CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("'", "").replace("-", "_")
    except ValueError:
        return "error"


def wants_json(request: Request) -> bool:
    """Browsers get a page, everyone else JSON: a page only off /api/ and when the Accept header
    names HTML before or without JSON (a browser's navigation does; `fetch`, curl and API clients,
    which send */* or application/json, do not)."""
    accept = request.headers.get("accept", "")
    if request.url.path.startswith("/api/") or "text/html" not in accept:
        return True
    return "json" in accept.split("text/html", 1)[0]


async def known_caller(request: Request) -> None:
    """Who is asking, found before an error page is rendered, so its header shows their own
    links and account; never a reason for the error page to fail."""
    if wants_json(request) or hasattr(request.state, "principal") or _layer_answer(request, 500, "") is not None:
        return
    try:
        await current_principal(request)
    except Exception:  # noqa: BLE001 - the database may be the very error being answered
        request.state.principal = None


def _layer_answer(request: Request, status: int, message: str, localized: str | None = None,
                  language: str | None = None) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
    """The answer of the layer that owns the request's path (/ogc: OGC's JSON exception with
    CORS, `app.state.layer_refusal`; the message in the request's language beside the English
    one), as (headers, body); None elsewhere."""
    layer_refusal = getattr(request.app.state, "layer_refusal", None)
    if layer_refusal is None:
        return None
    return layer_refusal(request.scope, status, message, localized=localized,  # type: ignore[no-any-return]
                         language=language)


def error_response(request: Request, status: int, code: str, message: str, fields: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None, localized: str | None = None) -> Response:
    """The response for one refusal, as JSON or as the error page (see `wants_json`); `localized`
    is the message in the request's language when the caller composed it (else the catalogue's).
    Under /ogc, OGC's JSON exception with the CORS headers (the app's `layer_refusal`,
    layers.ogc.OgcLayer.refusal), so a map on another site can read why (e.g. 503, Retry-After)."""
    language = language_of(request)
    if localized is None:
        try:
            localized = localize_error(code, message, fields, language)
        except Exception:  # noqa: BLE001 - a translation must not fail the refusal; say it in English
            log.exception("the message of %s could not be translated", code)
            localized = message
    own = _layer_answer(request, status, message, localized, language)
    if own is not None:
        raw, content = own
        ogc_answer = Response(content, status_code=status, headers=headers)
        ogc_answer.raw_headers += raw
        return ogc_answer
    if wants_json(request):
        body = {"detail": {"code": code, "message": message, **(fields or {}), "language": language,
                           "localized_message": localized}}
        return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)
    try:
        response: Response = render(request, "error.html", {"status": status, "code": code, "message": localized},
                                    status_code=status)
    except Exception:  # noqa: BLE001 - the page must not fail the error; say it plainly
        log.exception("the error page could not be rendered")
        return Response(f"{status} {code}: {message}", status_code=status, headers=headers, media_type="text/plain")
    response.headers.update(headers or {})
    return response


async def _cadastre_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CadastreError)
    await known_caller(request)
    if exc.status == 401 and request.method == "GET" and not wants_json(request):
        # a page for signed-in users opened by a stranger: log in, then back to it
        return await _to_login(request, LoginRedirect(here_of(request)))
    if exc.status >= 500:
        log.error("%s %s: %s (%s)", request.method, request.url.path, exc.log_message, exc.code)
    elif exc.log_message != exc.message:
        log.info("%s %s: %s (%s)", request.method, request.url.path, exc.log_message, exc.code)
    return error_response(request, exc.status, exc.code, exc.message, exc.fields(), exc.headers())


async def _spatial_error(request: Request, exc: Exception) -> Response:
    """An unreadable upload: the place in the file at fault, so the surveyor can fix it; 413 when
    reading it would exceed a limit of the server (size, unpacked bytes, features, time, memory),
    the message naming the limit."""
    assert isinstance(exc, SpatialError)
    await known_caller(request)
    code = next(c for kind, c in SPATIAL_CODES.items() if isinstance(exc, kind))
    fields = {"problem": exc.message, "file": exc.file, "line": exc.line, "feature": exc.feature, "field": exc.field}
    language = language_of(request)
    problem = translate(exc.message, language) or localize_error(code, exc.message, fields, language)
    prefix = "，".join(p for p in (exc.file, localize_place(exc.place, language)) if p)
    localized = (f"{prefix}：{problem}" if prefix else problem) if language != "en" else str(exc)
    return error_response(request, 413 if isinstance(exc, LimitError) else 422, code, str(exc), fields,
                          localized=localized)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    await known_caller(request)
    fields: dict[str, Any] = {}
    if isinstance(exc.detail, dict):
        fields = {k: v for k, v in exc.detail.items() if k not in ("code", "message")}
        message = str(exc.detail.get("message", HTTPStatus(exc.status_code).phrase))
    else:
        message = str(exc.detail)
    return error_response(request, exc.status_code, http_code(exc.status_code), message, fields, exc.headers)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """A request FastAPI could not parse: pydantic's list of errors, without echoing the input."""
    assert isinstance(exc, RequestValidationError)
    await known_caller(request)
    language = language_of(request)
    errors = [{k: v for k, v in error.items() if k not in ("input", "url")} for error in exc.errors()]
    for error in errors:
        error["localized_msg"] = localize_pydantic(error, language)
    where = ", ".join(".".join(map(str, error.get("loc", ()))) for error in errors[:3])
    localized = "；".join(error["localized_msg"] for error in errors[:3]) if language != "en" else None
    return error_response(request, 422, "invalid_request", f"the request is not valid: {where}",
                          {"errors": errors}, localized=localized)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is restarting or unreachable: say so (503) instead of a 500; the pools
    reconnect by themselves, so the next request after it is back succeeds."""
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    return error_response(request, 503, "database_unavailable", UNAVAILABLE, headers={"Retry-After": "5"})


def _pools_busy(request: Request) -> bool:
    """Whether a pool of the app has every connection it may open handed out: a wait for one
    that timed out then means the server is busy, not that the database is down (a pool that
    cannot reach the database holds fewer connections than its maximum, usually none)."""
    for name in ("work_pool", "pool"):
        pool = getattr(request.app.state, name, None)
        if pool is None:
            continue
        stats = pool.get_stats()
        if stats.get("pool_size", 0) >= pool.max_size and stats.get("pool_available", 0) == 0:
            return True
    return False


async def _pool_timeout(request: Request, exc: Exception) -> Response:
    """No pooled connection came within the pool's timeout: 503 server_busy when every
    connection is in use (the database is fine, other requests hold them), else the database
    is unreachable (`_database_unavailable`)."""
    if not _pools_busy(request):
        return await _database_unavailable(request, exc)
    log.warning("%s %s: no pooled connection free in time: %s", request.method, request.url.path, exc)
    return error_response(request, 503, "server_busy", BUSY, headers={"Retry-After": "2"})


async def _unstorable_value(request: Request, exc: Exception) -> Response:
    """A value the database refuses as data (a NUL in text, a number out of range, a malformed
    date) that no check before it caught: the client's input, so 422, never a 500. The
    database's text stays in the log."""
    log.warning("%s %s: value refused by the database: %s", request.method, request.url.path, exc)
    await known_caller(request)
    return error_response(request, 422, "invalid_input", UNSTORABLE)


async def _to_login(request: Request, exc: Exception) -> Response:
    """A page for signed-in users asked for by a stranger: log in, then come back."""
    assert isinstance(exc, LoginRedirect)
    return RedirectResponse(f"/login{next_query(exc.next_path)}", status_code=303)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug: a generic 500, the traceback to the log and nothing of it to the client."""
    log.error("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal_error", INTERNAL)


class CatchUnexpected(AnswerExceptions):
    """The innermost middleware: a bug becomes the one 500 answer here, so it passes through the
    other middleware on its way out (security headers, timing) like any response, and is logged
    once. Starlette's own last resort (ServerErrorMiddleware) sits outside every middleware and
    would send a bare 500 without them."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, {Exception: _unexpected})


HANDLERS = {
    CadastreError: _cadastre_error,
    SpatialError: _spatial_error,
    HTTPException: _http_error,
    RequestValidationError: _invalid_request,
    psycopg.OperationalError: _database_unavailable,
    psycopg.DataError: _unstorable_value,
    PoolTimeout: _pool_timeout,
    LoginRedirect: _to_login,
    Exception: _unexpected,
}
"""Every error handler of the app, registered once by `create_app`."""
