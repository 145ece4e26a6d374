"""How much one upload may cost the server to read: unpacked bytes, archive members, features,
CPU seconds and memory. The portal sets them from its settings; the defaults suit a survey."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReadLimits"]


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Limits of one read. `max_ratio` applies to archive members of more than `ratio_from` bytes
    (real shapefiles and GeoPackages compress 3-20 times; decompression bombs a thousand)."""

    max_unpacked_bytes: int = 512 * 1024**2
    max_members: int = 1_000
    max_ratio: int = 100
    ratio_from: int = 10 * 1024**2
    max_features: int = 200_000
    cpu_seconds: int = 120
    memory_bytes: int = 2 * 1024**3
    wall_seconds: int = 300
