"""Facts of an HTTP request that every room reads the same way: the client, a JSON body."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from portal.platform.errors import BadInput

__all__ = ["client_of", "json_object"]


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


async def json_object(request: Request, wanted: str) -> dict[str, Any]:
    """The request's JSON body, which must be an object; else 400 saying what to send."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadInput(f"send a JSON object with {wanted}")
    return body
