"""HTTP around /ogc: CORS for the public read-only routes, and 405 for any other method.

Everything under /ogc is public and read-only, so map pages on other origins (MapLibre,
OpenLayers) may read it: `Cors` gives the `Access-Control-*` headers for the configured
origins (`LayersSettings.cors_origins`, `*` by default); with `*` they are constant bytes,
so the hot paths pay nothing per request. `ReadOnly` wraps pygeoapi's mount: it answers
preflight requests and refuses any method but GET, HEAD and OPTIONS with 405 and `Allow`, and
answers a path that nothing under it serves with OGC's 404 exception (with CORS).
The portal's own routes (personal data) are outside /ogc and never get these headers.

Conditional requests: `not_modified` reads If-None-Match (RFC 9110 §13.1.2, entity tags per
§8.8.3) for every route that answers 304, the portal's included (its digitisation tiles) and both
static mounts (`StaticFiles`). It lives here because the portal may import layers but layers may
never import the portal (pyproject's import contracts), and spatial is geometry only.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles as _StarletteStaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Cors", "ReadOnly", "ALLOW", "EXPOSED", "control_character", "CONTROL_REFUSAL", "entity_tags",
           "if_none_match_of", "IF_NONE_MATCH_MAX_CHARS", "not_modified", "StaticFiles"]

ALLOW = b"GET, HEAD, OPTIONS"
# What a page on another origin may read besides the simple headers: the CRS of the
# coordinates, the paging links and the tile cache state.
EXPOSED = b"Content-Crs, Link, X-Tile-Cache, Content-Language, Retry-After"
_ALLOW_HEADERS = b"Accept, Accept-Language, Content-Language, Content-Type, Range"
_MAX_AGE = b"86400"


# C0 controls but tab and line breaks (a CQL2 filter may span lines), and DEL: PostgreSQL cannot
# store a NUL in text, and none of them belongs in an id, a CRS URI, a date or a number.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A query string of bare names and values (no `%` escape, no `+`): it holds no control
# character, and is read as it is (the usual `f=mvt` of a tile, say).
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9=&._,:-]*")
CONTROL_REFUSAL = ("holds a control character (U+0000-U+001F or U+007F, but tab and line "
                   "breaks), which no OGC path or parameter may contain")


def control_character(scope: Scope) -> str | None:
    """Where the request holds a control character: "the path" or "parameter 'name'" (the
    first found), or None. The path is checked as decoded (`scope["path"]`), the query string
    after percent-decoding, names and values. Raises nothing."""
    if _CONTROL.search(scope["path"]):
        return "the path"
    raw: bytes = scope.get("query_string", b"")
    if not raw or _PLAIN_QUERY.fullmatch(raw):  # no escape: nothing to decode, no control
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                                 errors="replace"):
        if _CONTROL.search(name):
            return "a parameter name"
        if _CONTROL.search(value):
            return f"parameter {name!r}"
    return None


class Cors:
    """The CORS headers of /ogc's responses for the configured origins."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any = "*" in origins
        self.origins = frozenset(o.rstrip("/") for o in origins)
        self.static: list[tuple[bytes, bytes]] = [
            (b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", EXPOSED),
        ] if self.any else []

    def headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """The headers for a request from `origin` (the Origin header's bytes, if any)."""
        if self.any:
            return self.static
        if origin is None or origin.decode("latin-1") not in self.origins:
            return [(b"vary", b"Origin")] if self.origins else []
        return [(b"access-control-allow-origin", origin), (b"access-control-expose-headers", EXPOSED),
                (b"vary", b"Origin")]

    def of_scope(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        if self.any:
            return self.static
        return self.headers(_header(scope, b"origin"))

    def text(self, origin: str | None) -> dict[str, str]:
        """`headers` as a dict for a Starlette Response."""
        found = self.headers(origin.encode("latin-1") if origin is not None else None)
        return {k.decode(): v.decode("latin-1") for k, v in found}


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class ReadOnly:
    """ASGI wrapper of /ogc's documents: CORS headers on every answer, preflight answered,
    405 with `Allow` for any method that would change something, and the HTTPException of a
    path nothing serves (Starlette's router or static files: 404) as OGC's JSON exception."""

    def __init__(self, app: ASGIApp, cors: Cors) -> None:
        self.app = app
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cors = self.cors.of_scope(scope)
        method = scope["method"]
        if method == "OPTIONS":
            headers = [(b"allow", ALLOW), *cors]
            if cors and _header(scope, b"access-control-request-method") is not None:
                headers += [(b"access-control-allow-methods", ALLOW),
                            (b"access-control-allow-headers",
                             _header(scope, b"access-control-request-headers") or _ALLOW_HEADERS),
                            (b"access-control-max-age", _MAX_AGE)]
            await _answer(send, 204, headers)
            return
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, [(b"allow", ALLOW), (b"content-type", b"application/json"),
                                      *cors],
                          b'{"code": "InvalidRequest", "type": "InvalidRequest", '
                          b'"description": "the OGC API is read-only: use GET or HEAD"}')
            return
        where = control_character(scope)
        if where is not None:
            body = json.dumps({"code": "InvalidParameterValue", "type": "InvalidParameterValue",
                               "description": f"{where} {CONTROL_REFUSAL}"}).encode()
            await _answer(send, 400, [(b"content-type", b"application/json"), (b"vary", b"Accept"),
                                      *cors], body)
            return
        started = False

        async def with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if cors:
                    message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        try:
            await self.app(scope, receive, with_cors)
        except HTTPException as error:
            # A path nothing under /ogc serves (the router's 404, a static file's): OGC's
            # exception document with CORS, never the portal's error page.
            if started:
                raise
            code = "NotFound" if error.status_code == 404 else "InvalidRequest"
            description = ("nothing is served at this path of the OGC API; the landing page "
                           "lists what is" if error.status_code == 404 else str(error.detail))
            body = json.dumps({"code": code, "type": code, "description": description}).encode()
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (error.headers or {}).items()]
            await _answer(send, error.status_code, [(b"content-type", b"application/json"),
                                                    (b"vary", b"Accept"), *extra, *cors], body)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                  body: bytes = b"") -> None:
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# One element of an entity-tag list (RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE,
# etagc = %x21 / %x23-7E / obs-text), with the optional whitespace around it and the comma or end
# after it; an empty element (`"a", , "b"`) is allowed, as §5.6.1 asks of recipients.
_LIST_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(,|\Z)')


def entity_tags(header: str) -> list[tuple[bool, str]] | None:
    """The entity tags of an If-None-Match / If-Match value (RFC 9110 §13.1.1-2: `#entity-tag`),
    each as (weak, opaque tag without its quotes), in order; None when the value is not such a
    list (`"e""e"`, `abc`, `"ab`, `*` too: callers test `*` first). Raises nothing."""
    tags: list[tuple[bool, str]] = []
    position = 0
    while True:
        element = _LIST_ELEMENT.match(header, position)
        if element is None:
            return None
        if element.group(2) is not None:
            tags.append((element.group(1) is not None, element.group(2)))
        if not element.group(3):
            return tags
        position = element.end()


# The longest If-None-Match value (all its header lines joined) that is read at all: a longer one
# names nothing (the full answer), before any parsing, so 8 MB of commas cannot hold the event loop
# while the list is walked element by element. A browser's value is one or a few 30-character tags.
IF_NONE_MATCH_MAX_CHARS = 8192


def if_none_match_of(headers: Headers) -> str | None:
    """A request's If-None-Match value: all its header lines joined with ", " (RFC 9110 §5.3: a
    field sent on several lines is one comma-separated list), or None without one."""
    lines = headers.getlist("if-none-match")
    return ", ".join(lines) if lines else None


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether a request's If-None-Match value (`if_none_match_of`: every line of the header)
    names the representation whose ETag is `etag` (RFC 9110 §13.1.2), so the answer is 304: `*`
    names any current representation; else a comma-separated list of entity tags compared weakly
    (§8.8.3.2: `W/"a"` and `"a"` both name `"a"` and `W/"a"`). A missing, empty or malformed
    value, or one longer than IF_NONE_MATCH_MAX_CHARS, names nothing: the full answer."""
    if not if_none_match or len(if_none_match) > IF_NONE_MATCH_MAX_CHARS:
        return False
    if if_none_match.strip(" \t") == "*":
        return True
    current = entity_tags(etag)
    tags = entity_tags(if_none_match)
    if not current or len(current) != 1 or tags is None:
        return False
    opaque = current[0][1]
    return any(tag == opaque for _, tag in tags)


class StaticFiles(_StarletteStaticFiles):
    """Starlette's static files, whose 304 follows `not_modified` (Starlette's own splits the
    header at commas and strips `W/`, so a malformed list could match)."""

    def is_not_modified(self, response_headers: Headers, request_headers: Headers) -> bool:
        if "if-none-match" in request_headers:  # §13.1.3: If-Modified-Since is then ignored
            return not_modified(if_none_match_of(request_headers), response_headers["etag"])
        return super().is_not_modified(response_headers, request_headers)
