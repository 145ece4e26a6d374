"""Public reads (tiles, features, search, statistics) from streaming replicas; everything else
from the primary.

A replica is used while it answers, is in recovery (really a standby), and has replayed the
primary's WAL to within `max_replica_lag_bytes`; a background check every
`replica_check_seconds` decides. A replica that lags, dies or refuses a connection is skipped
at once and the read goes to the primary, so a reader never waits for a sick replica and
never sees data much older than the primary's. Writes and the audit trail never come here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from portal.platform import queries
from portal.platform.rows import one_row
from portal.settings import DatabaseSettings

__all__ = ["ReadRouter", "ReplicaState"]

log = logging.getLogger(__name__)


@dataclass
class ReplicaState:
    url: str
    pool: AsyncConnectionPool
    healthy: bool = False
    lag_bytes: int | None = None
    problem: str | None = "not checked yet"
    served: int = field(default=0)

    @property
    def name(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        return f"{info.get('host')}:{info.get('port')}"


class ReadRouter:
    def __init__(self, primary: AsyncConnectionPool, settings: DatabaseSettings, *,
                 configure: Callable[[psycopg.AsyncConnection], Awaitable[None]] | None = None) -> None:
        self.primary = primary
        self.settings = settings
        self.replicas = [ReplicaState(url, AsyncConnectionPool(
            url, min_size=0, max_size=settings.replica_pool_max_size, open=False, kwargs={"autocommit": True},
            timeout=2, check=AsyncConnectionPool.check_connection, configure=configure))
            for url in settings.replica_urls]
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self.served_by_primary = 0

    async def open(self) -> None:
        for replica in self.replicas:
            await replica.pool.open(wait=False)
        if self.replicas:
            await self.check()
            self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        for replica in self.replicas:
            await replica.pool.close()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.replica_check_seconds)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one failed check
                log.exception("replica check failed")

    async def check(self) -> None:
        """Measure every replica's replay lag against the primary's current WAL position."""
        async with self.primary.connection() as conn:
            primary_lsn = one_row(await (await conn.execute(queries.PRIMARY_WAL_LSN)).fetchone())[0]
        for replica in self.replicas:
            try:
                conn = await replica.pool.getconn(timeout=2)
            except (PoolTimeout, psycopg.OperationalError) as exc:
                replica.healthy, replica.problem = False, f"unreachable: {exc}"
                continue
            try:
                row = await (await conn.execute(queries.REPLICA_LAG, (primary_lsn,))).fetchone()
                standby, lag = one_row(row)
                replica.lag_bytes = max(int(lag or 0), 0)
                if not standby:
                    replica.healthy, replica.problem = False, "not a standby (promoted?)"
                elif replica.lag_bytes > self.settings.max_replica_lag_bytes:
                    replica.healthy, replica.problem = False, f"lags {replica.lag_bytes} bytes behind"
                else:
                    replica.healthy, replica.problem = True, None
            except psycopg.Error as exc:
                replica.healthy, replica.problem = False, str(exc)
            finally:
                await replica.pool.putconn(conn)

    @asynccontextmanager
    async def connection(self, *, primary: bool = False) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection for a public read: a healthy replica in turn, else (or when `primary`
        is asked for) the primary."""
        healthy = [] if primary else [r for r in self.replicas if r.healthy]
        start = next(self._turn)
        for k in range(len(healthy)):
            replica = healthy[(start + k) % len(healthy)]
            try:
                conn = await replica.pool.getconn(timeout=0.5)
            except (PoolTimeout, psycopg.OperationalError) as exc:
                replica.healthy, replica.problem = False, f"unreachable: {exc}"
                continue
            replica.served += 1
            try:
                yield conn
            finally:
                await replica.pool.putconn(conn)
            return
        self.served_by_primary += 1
        async with self.primary.connection() as conn:
            yield conn

    def status(self) -> list[dict[str, object]]:
        return [{"replica": r.name, "healthy": r.healthy, "lag_bytes": r.lag_bytes, "problem": r.problem,
                 "reads_served": r.served} for r in self.replicas]
