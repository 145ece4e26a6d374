"""A real uvicorn server of the portal for the OGC API clients (tests/support/ogc_server)."""

from ogc_server import ogc_server, writable_server  # noqa: F401
