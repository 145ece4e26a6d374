"""What reading one upload may cost: `spatial.readers.ReadLimits` from the survey settings.

Uploads are read by `spatial.readers.isolated.read_isolated`, in a worker process of their own
with these limits, so a hostile file costs that worker, never the app.
"""

from __future__ import annotations

from portal.settings import SurveySettings
from spatial.readers import ReadLimits

__all__ = ["read_limits"]


def read_limits(settings: SurveySettings) -> ReadLimits:
    return ReadLimits(max_unpacked_bytes=settings.max_unpacked_bytes, max_members=settings.max_archive_members,
                      max_features=settings.max_features, cpu_seconds=settings.read_cpu_seconds,
                      memory_bytes=settings.read_memory_bytes, wall_seconds=settings.read_wall_seconds)
