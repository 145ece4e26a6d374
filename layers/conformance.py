"""The conformance classes /ogc declares: exactly what is implemented, each backed by a test
(tests/layers/test_ogc_conformance.py checks every class listed here, and that nothing else
is listed).

pygeoapi's own list would add Features Part 4 (create, replace, delete) and the Part 5
drafts, which we do not serve, and leave out Part 3's filter classes, which we do; its
`conformance` also appends to a module-level list on every request.
"""

from __future__ import annotations

__all__ = ["CONFORMANCE"]

_COMMON = "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/"
_FEATURES = "http://www.opengis.net/spec/ogcapi-features-{}/1.0/conf/"
_TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"

CONFORMANCE: tuple[str, ...] = (
    *(_COMMON + c for c in ("core", "landing-page", "json", "html", "oas30")),
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    *(_FEATURES.format(1) + c for c in ("core", "geojson", "html", "oas30")),
    _FEATURES.format(2) + "crs",
    *(_FEATURES.format(3) + c for c in ("filter", "features-filter", "queryables",
                                        "queryables-query-parameters")),
    *(_CQL2 + c for c in ("cql2-text", "basic-cql2", "advanced-comparison-operators",
                          "basic-spatial-functions", "basic-spatial-functions-plus",
                          "spatial-functions", "property-property")),
    *(_TILES + c for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt")),
)
