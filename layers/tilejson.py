"""TileJSON 3.0.0 of a collection's vector tiles (https://github.com/mapbox/tilejson-spec).

MapLibre, OpenLayers and QGIS read it to find the tile template, the zooms, the extent and
the layers with their fields; it is built from the catalog (layers.catalog) and the
collection's live extent, so it says exactly what `layers.routes` serves.
"""

from __future__ import annotations

from typing import Any

from layers.catalog import Collection

__all__ = ["tilejson", "MIN_ZOOM", "MAX_ZOOM"]

MIN_ZOOM = 0
MAX_ZOOM = 22
_FIELD_TYPES = {"string": "String", "number": "Number", "integer": "Number", "boolean": "Boolean"}


def tilejson(collection: Collection, ogc_url: str, bounds: list[float] | None,
             title: str, description: str, attribution: str = "") -> dict[str, Any]:
    """The TileJSON of `collection`'s WebMercatorQuad tiles under `ogc_url` (…/ogc);
    `bounds` is its extent in longitude/latitude (west, south, east, north)."""
    west, south, east, north = bounds or (-180.0, -85.0511287798066, 180.0, 85.0511287798066)
    fields = {}
    for name in collection.tile_properties:
        prop = collection.prop(name)
        assert prop is not None, name
        fields[name] = _FIELD_TYPES.get(prop.type, "String")
    template = (f"{ogc_url}/collections/{collection.id}/tiles/WebMercatorQuad/"
                "{z}/{y}/{x}?f=mvt")
    return {
        "tilejson": "3.0.0",
        "name": title,
        "description": description,
        "attribution": attribution,
        "scheme": "xyz",
        "tiles": [template],
        "minzoom": MIN_ZOOM,
        "maxzoom": MAX_ZOOM,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, 15],
        "vector_layers": [{
            "id": collection.tile_layer,
            "description": title,
            "minzoom": MIN_ZOOM,
            "maxzoom": MAX_ZOOM,
            "fields": fields,
        }],
    }
