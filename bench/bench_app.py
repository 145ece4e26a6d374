"""The portal as `portal.main` builds it, but with the pool's per-checkout health check switched
off, to measure what that check costs (`bench/checks.py --no-pool-check`)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

import portal.app
import portal.platform.db
from portal.settings import DatabaseSettings


def _open_pool(url: str, settings: DatabaseSettings) -> AsyncConnectionPool:
    return AsyncConnectionPool(url, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
                               open=False, kwargs={"autocommit": True})


portal.app.open_pool = _open_pool  # type: ignore[attr-defined]
app = portal.app.create_app()
