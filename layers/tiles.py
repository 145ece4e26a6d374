"""The tile cache, and how a publication invalidates exactly the tiles it touches.

Invalidation API (for the publication code):

    layers.tiles.invalidate(conn, (xmin, ymin, xmax, ymax), layer="parcels")

records the extent (EPSG:4490, x = longitude) in `tile_invalidations` inside the caller's
transaction and notifies channel `tile_invalidation`; PostgreSQL delivers the notification
only if that transaction commits. Inserting or retiring parcel versions (and changing
administrative areas) does the same by itself, through statement triggers (migration 0006),
so the call is needed only for changes the triggers cannot see.

Each web process keeps an in-memory LRU of tiles (`TileCache`) and a listener
(`InvalidationListener`) that drops the cached tiles whose envelope (with the tile buffer)
meets a recorded extent, at every zoom level. If the listener loses its connection it clears
the whole cache, since it may have missed an invalidation. A tile computed while an
invalidation arrived is not stored (the generation check), so a tile read from the snapshot
before a commit can never outlive that commit in the cache.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

__all__ = ["TileCache", "InvalidationListener", "invalidate", "invalidate_async", "tile_range"]

LOG = logging.getLogger(__name__)
CHANNEL = "tile_invalidation"
Bounds = tuple[float, float, float, float]
Key = tuple[str, int, int, int]
_INVALIDATE_SQL = ("SELECT tile_invalidate(%s, ST_MakeBox2D(ST_Point(%s, %s), ST_Point(%s, %s)))")
# Rows older than the retention that this listener has applied; every process's listener
# reads new rows within a second of their commit, and one that lost its connection clears
# its whole cache when it is back, so old rows are never needed again.
_PRUNE_SQL = ("DELETE FROM tile_invalidations WHERE invalidation_id <= %s "
              "AND recorded_at < now() - make_interval(secs => %s)")
Observer = Callable[[str, tuple[float, float, float, float]], Awaitable[None]]


def _check_bounds(bounds: Bounds) -> None:
    xmin, ymin, xmax, ymax = bounds
    if not all(math.isfinite(v) for v in bounds) or xmin > xmax or ymin > ymax:
        raise ValueError(f"bounds {bounds!r} must be finite (xmin, ymin, xmax, ymax), "
                         "longitude first")


def invalidate(conn: psycopg.Connection[Any], bounds: Bounds, layer: str = "parcels") -> int:
    """Record that the map of `layer` changed inside `bounds`; returns the invalidation id.

    Runs in the caller's transaction: nothing is invalidated if it rolls back.
    Raises ValueError for bounds that are not finite or not ordered.
    """
    _check_bounds(bounds)
    row = conn.execute(_INVALIDATE_SQL, (layer, *bounds)).fetchone()
    assert row is not None
    return int(row[0])


async def invalidate_async(conn: psycopg.AsyncConnection[Any], bounds: Bounds,
                           layer: str = "parcels") -> int:
    """`invalidate` for an async connection."""
    _check_bounds(bounds)
    cur = await conn.execute(_INVALIDATE_SQL, (layer, *bounds))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _lon_to_x(lon: float, n: int) -> float:
    return (lon + 180.0) / 360.0 * n


def _lat_to_y(lat: float, n: int) -> float:
    lat = max(min(lat, 85.0511287798), -85.0511287798)
    rad = math.radians(lat)
    return (1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n


def tile_range(bounds: Bounds, z: int, margin: float) -> tuple[int, int, int, int]:
    """Columns and rows (x0, y0, x1, y1) of the WebMercatorQuad tiles at zoom `z` whose
    envelope, grown by `margin` (a fraction of a tile, the MVT buffer), meets `bounds`."""
    n = 2**z
    xmin, ymin, xmax, ymax = bounds
    x0 = math.floor(_lon_to_x(xmin, n) - margin)
    x1 = math.floor(_lon_to_x(xmax, n) + margin)
    y0 = math.floor(_lat_to_y(ymax, n) - margin)
    y1 = math.floor(_lat_to_y(ymin, n) + margin)
    return max(x0, 0), max(y0, 0), min(x1, n - 1), min(y1, n - 1)


class TileCache:
    """An LRU of encoded tiles keyed by (layer, z, x, y), bounded to `size` tiles."""

    def __init__(self, size: int, margin: float) -> None:
        self.size = size
        self.margin = margin
        self.generation = 0
        self.invalidated_at = 0.0  # time.monotonic() of the last invalidation
        self._tiles: OrderedDict[Key, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tiles)

    def get(self, key: Key) -> bytes | None:
        tile = self._tiles.get(key)
        if tile is not None:
            self._tiles.move_to_end(key)
        return tile

    def put(self, key: Key, tile: bytes, generation: int) -> None:
        """Store a tile computed when the cache was at `generation` (else drop it)."""
        if self.size <= 0 or generation != self.generation:
            return
        self._tiles[key] = tile
        self._tiles.move_to_end(key)
        while len(self._tiles) > self.size:
            self._tiles.popitem(last=False)

    def invalidate(self, layer: str, bounds: Bounds) -> int:
        """Drop the cached tiles of `layer` that `bounds` touches; returns how many."""
        self.generation += 1
        self.invalidated_at = time.monotonic()
        ranges: dict[int, tuple[int, int, int, int]] = {}
        stale = []
        for key in self._tiles:
            name, z, x, y = key
            if name != layer:
                continue
            if z not in ranges:
                ranges[z] = tile_range(bounds, z, self.margin)
            x0, y0, x1, y1 = ranges[z]
            if x0 <= x <= x1 and y0 <= y <= y1:
                stale.append(key)
        for key in stale:
            del self._tiles[key]
        return len(stale)

    def clear(self) -> None:
        self.generation += 1
        self.invalidated_at = time.monotonic()
        self._tiles.clear()


class InvalidationListener:
    """LISTENs on `tile_invalidation` and applies each recorded extent to the cache (and to
    the `observers`, e.g. the published extents); every `prune_seconds` it deletes the
    recorded extents older than `keep_seconds`, so `tile_invalidations` stays small."""

    def __init__(self, url: str, cache: TileCache, *, keep_seconds: float = 3600.0,
                 prune_seconds: float = 300.0) -> None:
        self.url = url
        self.cache = cache
        self.keep_seconds = keep_seconds
        self.prune_seconds = prune_seconds
        self.observers: list[Observer] = []
        self.applied = 0  # invalidations applied (for tests and the health of the cache)
        self.pruned = 0  # rows of tile_invalidations deleted
        self._last_id = 0
        self._pruned_at = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tile-invalidation-listener")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=30)
        except TimeoutError:
            LOG.warning("tile invalidation listener is not connected yet; tiles are not cached")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    @property
    def listening(self) -> bool:
        return self._ready.is_set()

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    cur = await conn.execute(
                        "SELECT coalesce(max(invalidation_id), 0) FROM tile_invalidations")
                    row = await cur.fetchone()
                    self._last_id = int(row[0]) if row else 0
                    self.cache.clear()  # whatever happened while we were not listening
                    self._ready.set()
                    while True:
                        # psycopg cannot run a query while notifies() waits on the same
                        # connection: wait for one notification (or a second), then read
                        # every extent recorded since the last one applied, so a notification
                        # that arrived in between is never lost.
                        async for _ in conn.notifies(timeout=1.0, stop_after=1):
                            pass
                        await self._apply(conn)
                        if time.monotonic() - self._pruned_at >= self.prune_seconds:
                            await self._prune(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                LOG.exception("tile invalidation listener lost its connection; retrying")
            self._ready.clear()
            self.cache.clear()
            await asyncio.sleep(1.0)

    async def _apply(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute(
            "SELECT invalidation_id, layer, ST_XMin(bounds), ST_YMin(bounds), ST_XMax(bounds), "
            "ST_YMax(bounds) FROM tile_invalidations WHERE invalidation_id > %s "
            "ORDER BY invalidation_id", (self._last_id,))
        for ident, layer, xmin, ymin, xmax, ymax in await cur.fetchall():
            dropped = self.cache.invalidate(layer, (xmin, ymin, xmax, ymax))
            LOG.debug("invalidation %s: %s tiles of %s dropped", ident, dropped, layer)
            self._last_id = max(self._last_id, ident)
            self.applied += 1
            for observer in self.observers:
                try:
                    await observer(layer, (xmin, ymin, xmax, ymax))
                except Exception:  # noqa: BLE001 - the cache must stay right whatever fails
                    LOG.exception("observer of tile invalidation %s failed", ident)

    async def _prune(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._pruned_at = time.monotonic()
        cur = await conn.execute(_PRUNE_SQL, (self._last_id, self.keep_seconds))
        self.pruned += cur.rowcount
        if cur.rowcount:
            LOG.info("pruned %s recorded tile invalidations", cur.rowcount)
