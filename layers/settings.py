"""What the OGC layer needs to know, built by the application (`portal.app.layers_settings`).

The layer reads no environment and imports nothing of the portal: the composition root hands
it this small, frozen record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["LayersSettings"]


@dataclass(frozen=True)
class LayersSettings:
    """Publishing settings.

    `base_url` is where the portal is reached (no trailing slash, without `/ogc`);
    `generated_dir` is where pygeoapi's offline templates are written; tile sizes are in tile
    units (`tile_extent` per side, `tile_buffer` beyond each edge); times are in seconds;
    `pool_max_size` bounds the OGC routes' pool, `provider_pool_max_size` pygeoapi's providers' pool.
    """

    base_url: str
    title: str = "Cadastre"
    host: str = "127.0.0.1"
    port: int = 8000
    basemap_url: str | None = None
    generated_dir: Path = Path(".cadastre/generated")
    pool_max_size: int = 16
    provider_pool_max_size: int = 8
    default_limit: int = 10
    max_limit: int = 10_000
    count_limit: int = 10_000
    tile_extent: int = 4096
    tile_buffer: int = 64
    tile_max_features: int = 20_000
    tile_cache_size: int = 20_000
    invalidation_keep_seconds: float = 3600.0
    invalidation_prune_seconds: float = 300.0
    # Origins whose pages may read /ogc (CORS); `*` for any, since everything there is public.
    cors_origins: tuple[str, ...] = ("*",)
    # Freeze the objects alive after start-up out of the garbage collector's view (gc.freeze),
    # so that full collections do not stall requests (layers.ogc); process-wide.
    freeze_startup_objects: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.default_limit <= self.max_limit:
            raise ValueError(f"default_limit {self.default_limit} must be between 1 and max_limit {self.max_limit}")
        if not 0 <= self.tile_buffer < self.tile_extent:
            raise ValueError(f"tile_buffer {self.tile_buffer} must be below tile_extent {self.tile_extent}")
