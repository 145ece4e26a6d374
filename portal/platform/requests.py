"""Facts of an HTTP request that every room reads the same way: the client, a JSON body."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import Request

from portal.platform.errors import BadInput

__all__ = ["client_of", "json_object", "local_path", "here_of", "next_query", "NEXT_MAX_CHARS"]


Networks = Sequence[IPv4Network | IPv6Network]


def client_of(request: Request) -> str | None:
    """The client's address, as audit rows and per-client limits record it.

    The peer that connected, unless it is one of the trusted proxies (`app.state.trusted_proxies`,
    from `SecuritySettings.trusted_proxies`, none by default): then the right-most address of
    `X-Forwarded-For` that is not itself a trusted proxy. Everything left of that was written by
    the client and is never believed; an entry that is no address ends the walk at the last
    trusted hop. `cadastre serve` keeps uvicorn from rewriting the peer from these headers.
    """
    peer = request.client.host if request.client else None
    trusted: Networks = getattr(request.app.state, "trusted_proxies", ())
    if peer is None or not trusted or not _within(_address(peer), trusted):
        return peer
    client = peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = str(address)
        if not _within(address, trusted):
            break
    return client


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def _within(address: IPv4Address | IPv6Address | None, networks: Networks) -> bool:
    return address is not None and any(address in network for network in networks)


_CONTROL = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"} | {"\x7f"}


async def json_object(request: Request, wanted: str, *, text_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON body, which must be an object (else 422 saying what to send).

    Each of `text_fields` that is present and not null must be a string without control
    characters (a NUL cannot even be stored): else 422 naming the field, never a 500.
    """
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadInput(f"send a JSON object with {wanted}")
    for name in text_fields:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadInput(f"{name} must be text, not {type(value).__name__}")
        if not _CONTROL.isdisjoint(value):
            raise BadInput(f"{name} contains control characters")
    return body


# The longest page a `next=` may return to, counted in its percent-encoded form (what is echoed:
# `next_query`'s `quote(target, safe="/")`, each CJK character 9 characters): longer ones are
# dropped for the default page, never echoed into a page's links or a redirect. Every page of the
# site fits; a 10,000-character sheet reference in an address, or 2,000 CJK characters (18,000
# once encoded), do not come back.
NEXT_MAX_CHARS = 2000


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path of this site (`/check?parcel=...`) of at most NEXT_MAX_CHARS
    characters once percent-encoded (`quote(target, safe="/")`: the form `next_query` echoes,
    longer than any other form it is sent in), else `default`.

    Where a page sends the user next (`next=` of the log-in, the sign-up and the language switch,
    and the log-in redirect of a page for signed-in users) must never leave the site, or others
    could borrow our address for theirs (an open redirect): only a single leading slash, no
    scheme or host, no backslash (browsers read `/\\evil` as `//evil`) and no control characters,
    in the value and in its percent-decoded form (`/%2F%2Fevil`, `/%5Cevil`)."""
    if not target or len(target) > NEXT_MAX_CHARS or len(quote(target, safe="/")) > NEXT_MAX_CHARS:
        return default
    for form in (target, unquote(target)):
        if not form.startswith("/") or form.startswith("//"):
            return default
        if "\\" in form or any(ord(c) < 32 or ord(c) == 127 for c in form):
            return default
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return default
    return target


def here_of(request: Request) -> str:
    """The page `request` asked for: its path and, when there is one, its query."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def next_query(target: str | None) -> str:
    """The query `?next=<target percent-encoded>` that returns to `target` after the log-in or the
    language switch, or "" when there is nowhere to return to: the home page, or a target
    `local_path` refuses (another site, longer than NEXT_MAX_CHARS). Every link and redirect
    that carries a `next=` is made here."""
    safe = local_path(target, "/")
    return "" if safe == "/" else f"?next={quote(safe, safe='/')}"
