"""Blocking database work (reading uploads, registry transactions) from async routes.

It runs in a worker thread on a connection of the app's small blocking pool, so a large drawing
or a long registration never stalls the event loop; the work commits or rolls back itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

__all__ = ["in_worker"]

T = TypeVar("T")


async def in_worker(http: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(conn, *args, **kwargs)` in a worker thread with a pooled blocking connection."""

    def run() -> T:
        with http.app.state.work_pool.connection() as conn:
            return fn(conn, *args, **kwargs)

    return await run_in_threadpool(run)
