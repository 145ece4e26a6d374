"""Blocking database work (reading uploads, registry transactions) from async routes, and the
unit of work every workflow step runs in.

`in_worker` runs a step in a worker thread on a connection of the app's small blocking pool, so
a large drawing or a long registration never stalls the event loop. `UnitOfWork` is the one
transaction boundary (cosmicpython's): what a step does is kept only if it commits, and rolled
back otherwise (an error, a read, a forgotten commit)::

    with UnitOfWork(conn) as uow:
        conn.execute("UPDATE submissions SET status = 'submitted' WHERE submission_id = %s", (1,))
        uow.commit()
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from fastapi import Request
from fastapi.concurrency import run_in_threadpool

__all__ = ["UnitOfWork", "in_worker"]

T = TypeVar("T")


class UnitOfWork:
    """A transaction on `conn` that rolls back at the end of the block unless committed.

    Reads need no commit: leaving the block ends their transaction (and its snapshot and locks).
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def __enter__(self) -> UnitOfWork:
        return self

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if not self.conn.closed:
            self.conn.rollback()  # after a commit there is nothing left to undo


async def in_worker(http: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(conn, *args, **kwargs)` in a worker thread with a pooled blocking connection; whatever
    `fn` left uncommitted is rolled back."""

    def run() -> T:
        with http.app.state.work_pool.connection() as conn, UnitOfWork(conn):
            return fn(conn, *args, **kwargs)

    return await run_in_threadpool(run)
