"""Protections every response and request gets, whatever route serves it.

- Security headers: a Content-Security-Policy that allows only this site's own scripts and
  the inline scripts the page itself marked with this response's nonce (folium writes the map
  set-up inline), from no other host, so an injected `<script>` cannot run and a page cannot
  leak to a CDN; no framing (clickjacking), no MIME sniffing, a same-origin referrer, and HSTS when
  the deployment says it is served over HTTPS.
- A request body limit enforced while the body streams in, so an oversized upload is refused
  with 413 before it fills memory or disk.
- A cap on the request's header fields together (`HeaderLimit`, 431): the server in front
  (uvicorn with httptools) reads headers of any size, and a Cookie or Accept-Language of 8 MB
  of separators is split and walked element by element on the event loop.
- HEAD wherever GET is allowed (`HeadAsGet`, RFC 9110 §9.3.2): FastAPI's GET routes answer
  HEAD with 405; there the GET is served with its body dropped.
- No session on what another site makes the browser send (`CrossSite`): a change is refused
  with 403, a read is served as to an anonymous visitor.
- An exception answered by the handler for it (`AnswerExceptions`), inside the other
  middlewares, so the answer gets their headers too.
- `Cache-Control: no-store` on every response that may carry personal data, so neither a
  browser's cache nor a proxy keeps it: every response that sets no Cache-Control of its own,
  except the public data (`PUBLIC_PATHS`: the map, parcel pages and sheets, public search, the
  guide, static files, OGC API, health), whose own caching is kept. A public page asked for
  with a credential (a session cookie or an Authorization header) names the person and carries
  their CSRF token, so it is not stored either; static files and the OGC API never are.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.settings import Settings

__all__ = ["AnswerExceptions",
           "SecurityHeaders", "BodyLimit", "HeaderLimit", "HEADER_MAX_BYTES", "HeadAsGet", "NO_HEAD_PATHS", "CrossSite",
           "NoStore", "PUBLIC_PATHS", "content_security_policy"]


def content_security_policy(settings: Settings, nonce: str = "", *, inline_scripts: bool = False) -> str:
    images = ["'self'", "data:", "blob:"]
    if settings.portal.basemap_url:
        parts = urlsplit(settings.portal.basemap_url.replace("{s}", "a"))
        host = parts.netloc.replace("a.", "*.", 1) if parts.netloc.startswith("a.") else parts.netloc
        images.append(f"{parts.scheme}://{host}")
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'" if inline_scripts else
        f"script-src 'self' 'nonce-{nonce}'" if nonce else "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {' '.join(images)}", "font-src 'self' data:", "connect-src 'self'", "object-src 'none'",
        "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'"])


class SecurityHeaders:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        # Built once: per response only the nonce changes (tiles are on this path too).
        self.nonce_policy = content_security_policy(settings, "NONCE").split("NONCE")
        self.ogc_policy = (b"content-security-policy",
                           content_security_policy(settings, inline_scripts=True).encode())
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
        ]
        if settings.security.hsts_seconds:
            self.headers.append((b"strict-transport-security",
                                 f"max-age={settings.security.hsts_seconds}; includeSubDomains".encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # pygeoapi's HTML (under /ogc) writes its maps in inline scripts it cannot mark with our
        # nonce; those pages show public data only, and still load nothing from another host.
        # They read no nonce, so none is made for them (tiles are there: one per request adds up).
        # Only /ogc itself and what lies under /ogc/ (not /ogcx, /ogc-help: the portal's pages).
        path = get_route_path(scope)  # without a root path (uvicorn --root-path), as the routes see it
        if path == "/ogc" or path.startswith("/ogc/"):
            policy = self.ogc_policy
        else:
            # A fresh nonce per response: pages read it as request.state.csp_nonce.
            nonce = secrets.token_urlsafe(16)
            scope.setdefault("state", {})["csp_nonce"] = nonce
            policy = (b"content-security-policy", nonce.join(self.nonce_policy).encode())

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in (policy, *self.headers) if k not in present]]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# An answer another part of the app gives to one of these early refusals in its own format:
# (scope, status, message) -> (headers, body), or None for the portal's (layers.ogc.OgcLayer.refusal:
# OGC's JSON exception with CORS under /ogc).
Refusal = Callable[[Scope, int, str], "tuple[list[tuple[bytes, bytes]], bytes] | None"]


async def _send_refusal(send: Send, scope: Scope, status: int, code: str, message: str, max_bytes: int,
                        refusal: Refusal | None) -> None:
    """The refusal `refusal` gives for `scope`, else the one error body shape (see
    portal.platform.errors), written out: no app runs here."""
    own = refusal(scope, status, message) if refusal is not None else None
    if own is not None:
        headers, body = own
    else:
        body = json.dumps({"detail": {"code": code, "message": message, "max_bytes": max_bytes}}).encode()
        headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, refusal: Refusal | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        exceeded = started = False

        async def counting_receive() -> Message:
            # Past the limit the app is told the client went away, so whatever is reading the
            # body (a form parser, a stream) stops at once; the 413 is sent below.
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await _send_refusal(send, scope, 413, "body_too_large",
                            f"the request body is larger than the {self.max_bytes} bytes accepted",
                            self.max_bytes, self.refusal)



# The request's header fields together (names and values, bytes): what a browser sends, cookies
# included, stays under 8 KiB; nginx refuses more than 4 x 8 KiB by default.
HEADER_MAX_BYTES = 32768


class HeaderLimit:
    """431 Request Header Fields Too Large (RFC 6585 §5) when the request's header names and
    values together exceed `max_bytes` (HEADER_MAX_BYTES), before any route, middleware or
    library parses one (Starlette's cookie parser walks `;` by `;` in Python: 8 MB of them held
    the event loop for most of a second). Counting costs one length per header."""

    def __init__(self, app: ASGIApp, max_bytes: int = HEADER_MAX_BYTES, refusal: Refusal | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and sum(len(name) + len(value)
                                           for name, value in scope.get("headers", ())) > self.max_bytes:
            await _send_refusal(send, scope, 431, "headers_too_large", f"the request's header fields are larger "
                                f"than the {self.max_bytes} bytes accepted", self.max_bytes, self.refusal)
            return
        await self.app(scope, receive, send)


# GET routes whose answer is work done for the asker and counted (a restriction check): a HEAD is
# refused there (405 with Allow: GET), never turned into the work (portal.app's fast routes).
NO_HEAD_PATHS = frozenset({"/api/check"})


class HeadAsGet:
    """HEAD wherever GET is allowed (RFC 9110 §9.3.2: a server that answers GET answers HEAD with
    the same header fields and no content). Routes that know HEAD (Starlette's: static files, the
    OGC API) answer it themselves; when the app answers a HEAD with 405 whose Allow names GET (a
    FastAPI GET route), the request is served again as a GET and only its status and headers are
    sent (Content-Length as the GET's). Not on NO_HEAD_PATHS, whose 405 is kept."""

    def __init__(self, app: ASGIApp, no_head: frozenset[str] = NO_HEAD_PATHS) -> None:
        self.app = app
        self.no_head = no_head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or get_route_path(scope) in self.no_head:
            await self.app(scope, receive, send)
            return
        refused = False

        async def unless_get_allowed(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = dict(message.get("headers", [])).get(b"allow", b"")
                refused = b"GET" in [method.strip() for method in allow.upper().split(b",")]
            if not refused:
                await send(message)

        await self.app(scope, receive, unless_get_allowed)
        if not refused:
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FOREIGN_FETCH = frozenset({b"cross-site", b"same-site"})


class CrossSite:
    """What another site makes the browser send carries no session, whatever the route.

    SameSite=Lax still sends the session cookie with a top-level GET from another site (a link,
    a redirect, `window.location`), and older browsers send it with more. A request is foreign
    when the browser says so (`Sec-Fetch-Site: cross-site` or `same-site`) or, from a browser
    that sends no `Sec-Fetch-Site`, when its `Origin` is not this site's (the `Host` it came to,
    or the configured public URL): then, if it carries
    the session cookie and no bearer token,

    - a change (any method but GET, HEAD, OPTIONS) is refused with 403 `cross_site_request`,
      before any route runs (the CSRF token is the second lock, not the only one);
    - a read goes on without the session cookie, as from an anonymous visitor: a link from
      elsewhere still opens public pages, but no audited read, look-up, limit or export runs
      in the user's name unless the user navigated to it on this site.

    Requests with a bearer token (which no browser adds by itself) and requests without the
    headers (API clients, `curl`; a browser's own navigation sends `none` or `same-origin`)
    pass untouched. Cost on every other request: one pass over the headers.
    """

    def __init__(self, app: ASGIApp, session_cookie: str, public_url: str | None = None,
                 refusal: Refusal | None = None) -> None:
        self.app = app
        self.cookie = session_cookie.encode() + b"="
        self.public_host = urlsplit(public_url).netloc.encode() if public_url else None
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fetch_site = origin = host = cookie = None
        for name, value in scope["headers"]:
            if name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"origin":
                origin = value
            elif name == b"host":
                host = value
            elif name == b"cookie":
                cookie = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                await self.app(scope, receive, send)  # no ambient credential: nothing to forge
                return
        if cookie is None or self.cookie not in cookie or not self._foreign(fetch_site, origin, host):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in _SAFE_METHODS:
            await self._refuse(scope, send)
            return
        headers = [(n, self._without_session(v) if n == b"cookie" else v) for n, v in scope["headers"]]
        await self.app({**scope, "headers": headers}, receive, send)

    def _foreign(self, fetch_site: bytes | None, origin: bytes | None, host: bytes | None) -> bool:
        if fetch_site is not None:  # the browser's own word, when it gives one (a proxy may rewrite Host)
            return fetch_site in _FOREIGN_FETCH
        if origin is None:
            return False
        netloc = origin.partition(b"://")[2]  # "null" (a sandboxed or opaque origin) has none
        return not netloc or (netloc != host and netloc != self.public_host)

    def _without_session(self, cookie: bytes) -> bytes:
        return b"; ".join(part for part in (p.strip() for p in cookie.split(b";")) if not part.startswith(self.cookie))

    async def _refuse(self, scope: Scope, send: Send) -> None:
        message = ("another site sent this request in your name: it was refused. Open the page on this site "
                   "and try again")
        own = self.refusal(scope, 403, message) if self.refusal is not None else None
        if own is not None:
            headers, body = own
        else:
            body = json.dumps({"detail": {"code": "cross_site_request", "message": message}}).encode()
            headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 403,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# Public data whatever the request carries (assets, OGC API and tiles, the public JSON).
ALWAYS_PUBLIC = re.compile(r"^/(static/|ogc(/|$)|api/parcels(/|$)|api/search$)")
# Public pages and health, unless asked for with a credential (then they show whose they are).
PUBLIC_PATHS = re.compile(r"^/($|parcels/|guide$|health(/|$)|static/|ogc(/|$)|api/parcels(/|$)|api/search$)")
_NO_STORE = (b"cache-control", b"no-store")


class NoStore:
    """`Cache-Control: no-store` on every response outside the public paths that does not set
    its own Cache-Control (documented in docs/security.md)."""

    def __init__(self, app: ASGIApp, session_cookie: str) -> None:
        self.app = app
        self.session_cookie = session_cookie.encode()

    def _credentialed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization" or (name == b"cookie" and self.session_cookie + b"=" in value):
                return True
        return False

    def _public(self, scope: Scope) -> bool:
        path = get_route_path(scope)
        if ALWAYS_PUBLIC.match(path):
            return True
        return bool(PUBLIC_PATHS.match(path)) and not self._credentialed(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._public(scope):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    message["headers"] = [*headers, _NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)


def relative_slash_redirects(router: Router) -> None:
    """Starlette's trailing-slash redirect (`/about/` to `/about`, and back) with a relative
    `Location` (RFC 9110 §10.2.2): Starlette's own is an absolute URL built from the Host header,
    which the client chooses (`Host: evil.example` was sent to `http://evil.example/about`); the
    configured public URL is the rule for absolute URLs. A path that would start with `//` (a
    protocol-relative URL, another site) is never a redirect: the router's 404 answers it."""
    router.redirect_slashes = False
    not_found = router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] == "http" and path != "/":
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            redirect = {**scope, "path": other}
            if other.startswith("/") and not other.startswith("//") and any(
                    route.matches(redirect)[0] != Match.NONE for route in router.routes):
                query = scope.get("query_string", b"").decode("latin-1")
                await RedirectResponse(other + (f"?{query}" if query else ""))(scope, receive, send)
                return
        await not_found(scope, receive, send)

    router.default = default


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class AnswerExceptions:
    """An exception raised under it answered by `handlers` (class -> async handler(request,
    exc) -> Response, the handler of the exception's nearest class, as Starlette's
    `ExceptionMiddleware` looks one up); the Request is made only then. An exception no handler
    takes, or one raised after the response started, is raised on (the server ends the
    connection). Not for lifespan or websocket scopes, which pass through."""

    def __init__(self, app: ASGIApp, handlers: Mapping[type[Exception], ExceptionHandler]) -> None:
        self.app = app
        self.handlers = dict(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            handler = next((self.handlers[c] for c in type(exc).__mro__ if c in self.handlers), None)
            if handler is None or started:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
