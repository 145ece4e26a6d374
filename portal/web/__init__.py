"""Server-rendered pages: one layout, one translation mechanism, static files served by the app.

Every feature renders its pages with `render(request, "name.html", {...})` so they share the
layout, the language switch and the offline assets under `/static`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from portal.settings import Settings
from portal.web.i18n import LANGUAGES, language_of, translator
from portal.web.templating import render, templates_for

__all__ = ["mount_web", "render", "language_of", "translator", "LANGUAGES", "STATIC_DIR"]

STATIC_DIR = Path(__file__).parent / "static"


def mount_web(app: FastAPI, settings: Settings) -> None:
    """Static files, the template environment and the language switch."""
    from fastapi.staticfiles import StaticFiles

    from portal.web import registry, routes, surveys

    app.state.templates = templates_for(settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes.router)
    app.include_router(surveys.router)
    app.include_router(registry.router)
