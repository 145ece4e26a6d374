"""The ASGI entry point for servers: `uvicorn portal.main:app --no-proxy-headers`.

Without `--no-proxy-headers` uvicorn rewrites the client from `X-Forwarded-For` when the peer is
127.0.0.1, before the app sees it; the app decides that itself, from the trusted_proxies setting
(`portal.platform.requests.client_of`). `cadastre serve` does this already.

Settings refused (a malformed key, a bad number) end the server with one line naming each
setting, never its value (`portal.settings.refusal`), as the `cadastre` commands do.
"""

import sys

from pydantic import ValidationError

from portal.app import create_app
from portal.settings import refusal

try:
    app = create_app()
except ValidationError as error:
    sys.exit(refusal(error))
