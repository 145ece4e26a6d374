"""The ASGI entry point for servers: `uvicorn portal.main:app --no-proxy-headers`.

Without `--no-proxy-headers` uvicorn rewrites the client from `X-Forwarded-For` when the peer is
127.0.0.1, before the app sees it; the app decides that itself, from the trusted_proxies setting
(`portal.platform.requests.client_of`). `cadastre serve` does this already.
"""

from portal.app import create_app

app = create_app()
