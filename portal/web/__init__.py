"""Server-rendered pages: one layout, one translation mechanism, static files served by the app.

    templating.py  the Jinja2 environment and `render()`; filters for time (office clock), money, labels
    i18n.py        message catalogs (locales/*.json), zh-CN first
    messages.py    server messages (errors, issues, rules, pydantic) and enumerated values in the page's language
    language.py    the language switch (/lang/{language})
    fonts.py       CJK fonts embedded in PDFs
    errors.py      errors as responses: one JSON body for API clients, the error page for browsers
    static/        scripts, styles and vendored libraries, served at /static
    templates/     the layout (base.html); each room keeps its own pages in its templates/

Every room renders its pages with `render(request, "room/name.html", {...})` so they share the
layout, the language switch and the offline assets under `/static`.
"""

from __future__ import annotations

from pathlib import Path

from portal.web.i18n import LANGUAGES, language_of, translator
from portal.web.templating import render, templates_for

__all__ = ["render", "templates_for", "language_of", "translator", "LANGUAGES", "STATIC_DIR"]

STATIC_DIR = Path(__file__).parent / "static"
