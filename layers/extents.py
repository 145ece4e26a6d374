"""The collections' extents as the collection documents publish them, kept current.

They are read when the application starts and then follow the publications: the tile
invalidation listener (layers.tiles) reports every recorded change, with its extent, and
`Extents.changed` applies it to the live pygeoapi configuration, so `/ogc/collections` shows
it at once without a restart. Parcels grow the extent by the changed extent (a full
ST_Extent of a million parcels costs seconds; a publication can only move the edge outwards
by what it recorded, while a retirement at the edge leaves the extent a little too large
until the next start, which the spec allows: an extent must contain the data). The few
administrative areas are measured again exactly.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from layers.catalog import COLLECTIONS, Collection
from layers.sql import extent_statement

__all__ = ["Extents", "Box"]

LOG = logging.getLogger(__name__)
Box = tuple[float, float, float, float]


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class Extents:
    """Per collection: the bbox (x = longitude) and the start of its time span."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.boxes: dict[str, Box | None] = {}
        self.begins: dict[str, str | None] = {}
        self._resources: dict[str, Any] | None = None

    async def load(self) -> dict[str, tuple[Box | None, str | None]]:
        for c in COLLECTIONS.values():
            await self._measure(c)
        return {c: (self.boxes[c], self.begins[c]) for c in COLLECTIONS}

    async def _measure(self, c: Collection) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(extent_statement(c))
            row = await cur.fetchone()
        self.boxes[c.id] = tuple(row[:4]) if row and row[0] is not None else None
        self.begins[c.id] = row[4].isoformat() if row and row[4] is not None else None

    def attach(self, resources: dict[str, Any]) -> None:
        """The `resources` of the pygeoapi configuration that serves the extents."""
        self._resources = resources

    async def changed(self, layer: str, bounds: Box) -> None:
        """A publication changed `layer` inside `bounds` (called by the listener)."""
        for c in COLLECTIONS.values():
            if c.tile_layer != layer:
                continue
            if c.versioned:
                self.boxes[c.id] = _union(self.boxes.get(c.id), bounds)
            else:
                await self._measure(c)
            self._publish(c)

    def _publish(self, c: Collection) -> None:
        box = self.boxes.get(c.id)
        if self._resources is None or box is None or c.id not in self._resources:
            return
        spatial = self._resources[c.id].setdefault("extents", {}).setdefault("spatial", {})
        spatial["bbox"] = list(box)
        LOG.debug("extent of %s is now %s", c.id, box)
