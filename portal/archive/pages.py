"""The page viewer of an archived file: its facts, thumbnails of its pages, one page at a time.

The images come from the JSON API (`/api/archive/{sha256}/pages/{n}.png`), so every page and
thumbnail a person sees is checked against the tiers and audited there; opening the viewer is
audited as a look at the file's facts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from portal.archive import service
from portal.archive.errors import ArchiveNotFound
from portal.platform.deps import PageUser
from portal.platform.requests import client_of
from portal.platform.work import in_worker
from portal.web.templating import render

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False)

THUMBNAILS_AT_ONCE = 48


@router.get("/archive/{sha256}")
async def viewer(request: Request, sha256: str, principal: PageUser,
                 page: Annotated[int, Query(ge=1)] = 1) -> Response:
    try:
        found = await in_worker(request, service.describe, principal, sha256, client_of(request))
    except ArchiveNotFound:
        return render(request, "archive/missing.html", status_code=404)
    page = min(page, found["pages"])
    first = max(1, min(page - THUMBNAILS_AT_ONCE // 2, found["pages"] - THUMBNAILS_AT_ONCE + 1))
    pages = range(first, min(found["pages"], first + THUMBNAILS_AT_ONCE - 1) + 1)
    return render(request, "archive/file.html", {"f": found, "page": page, "pages": pages})
