"""The API's documents in the browser, served whole by the app: Swagger UI at /docs and ReDoc at
/redoc, both from the vendored copies in static/vendor (no CDN: the portal works offline) and
started by a script file of ours, so the Content-Security-Policy needs no exception.

`create_app` builds FastAPI with `docs_url=None, redoc_url=None` (FastAPI's own pages load their
scripts from a CDN and start them inline) and includes this router instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from portal.web.i18n import language_of

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False)
VENDOR = "/static/vendor"
PAGE = """<!doctype html>
<html lang="{lang}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  {head}
</head>
<body>
  {body}
</body>
</html>
"""


def _page(request: Request, title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(PAGE.format(lang=language_of(request), title=title, head=head, body=body))


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json (try the API from the page)."""
    return _page(request, f"{request.app.title} · API",
                 f'<link rel="stylesheet" href="{VENDOR}/swagger-ui-dist/swagger-ui.css">\n'
                 f'  <link rel="icon" href="{VENDOR}/swagger-ui-dist/favicon-32x32.png">',
                 '<main id="swagger-ui" data-spec="/openapi.json"></main>\n'
                 f'  <script src="{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js"></script>\n'
                 '  <script src="/static/js/apidocs.js"></script>')


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc over /openapi.json (the API read as a document)."""
    return _page(request, f"{request.app.title} · API",
                 '<link rel="icon" href="data:,">',
                 '<main id="redoc" data-spec="/openapi.json"></main>\n'
                 f'  <script src="{VENDOR}/redoc/redoc.standalone.js"></script>\n'
                 '  <script src="/static/js/apidocs.js"></script>')
