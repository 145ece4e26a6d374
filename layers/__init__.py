"""OGC API publishing of the public cadastre (parcels, administrative areas) under /ogc.

Entry point: `layers.ogc.OgcLayer(LayersSettings(...))`, built and started by the application's
composition root (`portal.app`); the layer imports nothing of the portal.
For publication code: `layers.tiles.invalidate(conn, (xmin, ymin, xmax, ymax))` marks the
map tiles of an extent stale inside the caller's transaction (parcel inserts and retirements
already do so through triggers, migration 0006).
"""
