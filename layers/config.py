"""The pygeoapi configuration and OpenAPI document, generated from the `LayersSettings`.

Nothing here is hand-edited YAML: `build_config(settings, url, extents)` returns the dict
pygeoapi would read from its YAML file, naming our providers by dotted path; it runs when the
application starts (the database URL and the extents are known only then). The OpenAPI
document is ours (layers.openapi), not pygeoapi's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from layers.catalog import COLLECTIONS, CRS84, STORAGE_CRS
from layers.query import describe_crs
from layers.settings import LayersSettings
from layers.templates import local_templates
from layers.tilejson import MAX_ZOOM, MIN_ZOOM

__all__ = ["build_config", "OGC_PREFIX"]

OGC_PREFIX = "/ogc"


def _extent(box: tuple[float, float, float, float] | None, begin: str | None) -> dict[str, Any]:
    extent: dict[str, Any] = {
        "spatial": {"bbox": list(box or (73.0, 3.0, 136.0, 54.0)), "crs": CRS84},
    }
    if begin is not None:
        # A datetime, as pygeoapi's YAML loader would give: pygeoapi checks a `datetime`
        # parameter against it, and failed on a string (every HTML page with one was a 400).
        extent["temporal"] = {"begin": dt.datetime.fromisoformat(begin), "end": None}
    return extent


def build_config(settings: LayersSettings, database_url: str,
                 extents: dict[str, tuple[tuple[float, float, float, float] | None, str | None]]
                 ) -> dict[str, Any]:
    """pygeoapi's configuration for the cadastre's public collections."""
    base = settings.base_url
    resources: dict[str, Any] = {}
    for collection in COLLECTIONS.values():
        box, begin = extents.get(collection.id, (None, None))
        resources[collection.id] = {
            "type": "collection",
            "title": collection.title,
            "description": collection.description,
            "keywords": ["cadastre", "地籍", collection.id],
            "extents": _extent(box, begin),
            "providers": [
                {
                    "type": "feature",
                    "name": "layers.providers.features.FeatureProvider",
                    "collection": collection.id,
                    "data": database_url,
                    "id_field": collection.id_property,
                    "geom_field": "geometry",
                    "crs": describe_crs(),
                    # The true storage CRS (OGC API Features Part 2 `storageCrs`). pygeoapi then
                    # hands bbox and filter geometries to the provider in EPSG:4490's own axis
                    # order (latitude first), which the provider says (layers.providers).
                    # CGCS2000 is a static reference frame (not dynamic), so there is no
                    # storageCrsCoordinateEpoch to give.
                    "storage_crs": STORAGE_CRS,
                    "title_field": collection.id_property,
                    "options": {"pool_max_size": settings.provider_pool_max_size},
                },
                {
                    "type": "tile",
                    "name": "layers.providers.tiles.TileProvider",
                    "collection": collection.id,
                    "data": database_url,
                    "options": {
                        "zoom": {"min": MIN_ZOOM, "max": MAX_ZOOM},
                        "schemes": ["WebMercatorQuad"],
                        "extent": settings.tile_extent,
                        "buffer": settings.tile_buffer,
                        "max_features": settings.tile_max_features,
                        "pool_max_size": settings.provider_pool_max_size,
                    },
                    "format": {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"},
                },
            ],
        }
    return {
        "server": {
            "bind": {"host": settings.host, "port": settings.port},
            "url": base + OGC_PREFIX,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            # Languages without a territory: pygeoapi builds `Locale(language, territory)`,
            # which babel refuses for zh + CN (it knows zh_Hans_CN), and falls back to the
            # first language for any other request (`lang=fr`, `Accept-Language: fr`).
            "languages": ["zh", "en"],
            "pretty_print": False,
            "limits": {"default_items": settings.default_limit,
                       "max_items": settings.max_limit, "on_exceed": "throttle"},
            "map": {"url": settings.basemap_url or "", "attribution": ""},
            # pygeoapi's pages with every script and style sheet served by the portal itself.
            "templates": {"path": str(local_templates(settings.generated_dir))},
            "admin": False,
        },
        "logging": {"level": "WARNING"},
        "metadata": {
            "identification": {
                "title": f"{settings.title} OGC API",
                "description": "Public cadastral map: parcels and administrative areas",
                "keywords": ["cadastre", "parcels", "地籍"],
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": base,
            },
            "license": {"name": "public disclosure", "url": base},
            "provider": {"name": settings.title, "url": base},
            "contact": {"name": settings.title, "url": base},
        },
        "resources": resources,
    }
