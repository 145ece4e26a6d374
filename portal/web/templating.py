"""The Jinja2 environment and `render()`, which gives every template its language and `_()`."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from portal.platform.clock import office_zone
from portal.settings import Settings
from portal.web.i18n import LANGUAGES, language_of, translator
from portal.web.navigation import current_link, navigation

__all__ = ["templates_for", "render"]

_TEMPLATES = Path(__file__).parent / "templates"


def templates_for(settings: Settings, extra_dirs: tuple[Path, ...] = ()) -> Jinja2Templates:
    templates = Jinja2Templates(directory=[_TEMPLATES, *extra_dirs])
    templates.env.globals["site_title"] = settings.portal.title
    templates.env.globals["languages"] = LANGUAGES
    templates.env.globals["navigation"] = navigation
    templates.env.globals["current_link"] = current_link
    templates.env.filters["when"] = partial(when, zone=office_zone(settings.portal.office_timezone))
    return templates


def when(moment: dt.datetime | None, pattern: str = "%Y-%m-%d %H:%M", *, zone: dt.tzinfo) -> str:
    """A timestamp as the office's clock shows it (office time), whatever the server's zone."""
    return moment.astimezone(zone).strftime(pattern) if moment else ""


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    language = language_of(request)
    values = {"lang": language, "_": translator(language), **(context or {})}
    principal = getattr(request.state, "principal", None)
    values.setdefault("principal", principal)
    values.setdefault("csp_nonce", getattr(request.state, "csp_nonce", ""))
    if getattr(principal, "via", None) == "cookie":  # scripts send it back in X-CSRF-Token
        values.setdefault("csrf_token", getattr(principal, "csrf_token", None))
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, values, status_code=status_code)
