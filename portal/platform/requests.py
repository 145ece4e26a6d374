"""Facts of an HTTP request that every room reads the same way: the client, a JSON body."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from portal.platform.errors import BadInput

__all__ = ["client_of", "json_object"]


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


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
