"""The language switch: remembers the choice in a cookie and returns to the page it came from."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse

from portal.platform.requests import local_path
from portal.web.i18n import LANGUAGES

__all__ = ["router"]

router = APIRouter(tags=["pages"])


@router.get("/lang/{language}", include_in_schema=False)
async def switch_language(language: str, next: str = "/") -> RedirectResponse:
    if language not in LANGUAGES:
        raise HTTPException(404, f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    # Only same-site paths: an open redirect would let others borrow our domain.
    target = local_path(next, "/")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie("lang", language, max_age=365 * 86400, samesite="lax", httponly=True)
    return response
