"""Module-level connection pools for the pygeoapi provider plugins.

pygeoapi builds a new provider object for every request, so a pool made in the provider's
constructor would be a new pool per request. The pools live here instead, one per database
URL, made on first use and closed by `close_pools()` when the application stops.
"""

from __future__ import annotations

import threading
from typing import Any

from psycopg_pool import ConnectionPool

__all__ = ["pool_for", "close_pools"]

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def _configure(conn: Any) -> None:
    from layers.routes import SESSION_SETTINGS

    conn.execute(SESSION_SETTINGS)


def pool_for(url: str, max_size: int = 8) -> ConnectionPool:
    """The shared synchronous pool for `url` (autocommit connections, opened on first use with
    `max_size` connections at most: the provider option `pool_max_size`)."""
    pool = _pools.get(url)
    if pool is not None:
        return pool
    with _lock:
        pool = _pools.get(url)
        if pool is None:
            pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=30,
                                  kwargs={"autocommit": True}, name="ogc-providers",
                                  configure=_configure)
            _pools[url] = pool
    return pool


def close_pools() -> None:
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()
