"""Mount the public portal: the map page, its JSON API, the parcel sheet and the guide."""

from __future__ import annotations

from fastapi import FastAPI

from portal.settings import Settings

__all__ = ["mount_public"]


def mount_public(app: FastAPI, settings: Settings) -> None:
    from portal.web import api, guide_pages, pages, sheet_route

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(sheet_route.router)
    app.include_router(guide_pages.router)
