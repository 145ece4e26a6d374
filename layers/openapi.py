"""The OpenAPI 3.0 document of /ogc: every path and parameter we serve, nothing else.

Built from the catalogue (layers.catalog) and the settings when the application starts, not
taken from pygeoapi (whose document lists parameters we refuse, OPTIONS and /jobs operations,
and points at schemas on other hosts). Every schema is inline, so the document is whole
offline; `tests/layers/test_ogc_openapi.py` checks that it validates, names no other host,
and that each path and parameter answers as documented.
Standards: OpenAPI 3.0.3; OGC API Features Parts 1-3 (17-069r4, 18-058r1, 19-079r2), the
`properties` and `sortby` parameters of Parts 6 and 8 (drafts, as in OGC API Records), OGC API
Tiles Part 1 (20-057) and TileJSON 3.0.0.
"""

from __future__ import annotations

from typing import Any

from layers.catalog import COLLECTIONS, Collection
from layers.query import describe_crs
from layers.tilejson import MAX_ZOOM, MIN_ZOOM

__all__ = ["openapi_document"]

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
MVT = "application/vnd.mapbox-vector-tile"

_OBJECT: dict[str, Any] = {"type": "object"}
_LINK = {"type": "object", "required": ["href"],
         "properties": {"href": {"type": "string"}, "rel": {"type": "string"},
                        "type": {"type": "string"}, "title": {"type": "string"}}}
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/link"}}
_EXCEPTION = {"type": "object", "required": ["code"],
              "properties": {"code": {"type": "string"}, "type": {"type": "string"},
                             "description": {"type": "string"}}}
_GEOMETRY = {"type": "object", "nullable": True, "required": ["type"],
             "properties": {"type": {"type": "string", "enum": [
                 "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                 "MultiPolygon", "GeometryCollection"]}}}


def _query(name: str, description: str, schema: dict[str, Any], *,
           explode: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, "style": "form", "explode": explode}


def _path(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _param(name: str) -> dict[str, Any]:
    """A shared parameter, written out in full where it is used: clients (GDAL's OAPIF driver
    among them) read the items parameters without resolving references."""
    return dict(_PARAMETERS[name])


def _formats(*names: str) -> dict[str, Any]:
    return _query("f", "The format of the answer (instead of the Accept header).",
                  {"type": "string", "enum": list(names)})


def _parameters() -> dict[str, Any]:
    crs = {"type": "string", "enum": describe_crs()}
    return {
        "lang": _query("lang", "The language of the titles and pages (zh or en).",
                       {"type": "string", "enum": ["zh", "en"]}),
        "bbox": _query(
            "bbox", "Only features whose geometry intersects the box: lower corner, upper "
            "corner (four numbers, or six with heights, which are ignored), in `bbox-crs` "
            "(CRS84 longitude/latitude by default).",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}),
        "bbox-crs": _query("bbox-crs", "The CRS of `bbox` (OGC API Features Part 2).", crs),
        "crs": _query("crs", "The CRS of the geometries returned, in that CRS's axis order "
                      "(OGC API Features Part 2).", crs),
        "offset": _query("offset", "Skip this many features (the `after` cursor of the next "
                         "link costs the same on every page; offset grows with depth).",
                         {"type": "integer", "minimum": 0, "default": 0}),
        "after": _query("after", "Keyset paging: only features whose id comes after this "
                        "one, in id order; the `next` link of a page carries it. Not with "
                        "`sortby`.", {"type": "string"}),
        "datetime": _query(
            "datetime", "Features valid at this instant, or during this interval (RFC 3339 "
            "date or date-time; `start/end` with `..` for an open end). Without it, the "
            "current features.", {"type": "string"}),
        "filter": _query("filter", "A CQL2 text filter (OGC API Features Part 3) on the "
                         "queryables: comparison, LIKE, IN, BETWEEN, IS NULL, AND/OR/NOT and "
                         "spatial predicates on `geometry`.", {"type": "string"}),
        "filter-lang": _query("filter-lang", "The language of `filter`.",
                              {"type": "string", "enum": ["cql2-text"]}),
        "filter-crs": _query("filter-crs", "The CRS of the geometries in `filter`.", crs),
        "skipGeometry": _query("skipGeometry", "Leave the geometries out (`null`).",
                               {"type": "boolean", "default": False}),
        "featureId": _path("featureId", "The feature's id (the parcel code or the "
                           "administrative area code).", {"type": "string"}),
        "tileMatrixSetId": _path("tileMatrixSetId", "The tile matrix set.",
                                 {"type": "string", "enum": ["WebMercatorQuad"]}),
        # The definitions served at /tileMatrixSets (the collections' tiles use only the first).
        "anyTileMatrixSetId": _path("tileMatrixSetId", "The tile matrix set (OGC 17-083r4).",
                                    {"type": "string", "enum": ["WebMercatorQuad", "WorldCRS84Quad"]}),
        "tileMatrix": _path("tileMatrix", "The zoom level.",
                            {"type": "integer", "minimum": 0, "maximum": 24}),
        "tileRow": _path("tileRow", "The row, from the top (below 2^tileMatrix).",
                         {"type": "integer", "minimum": 0}),
        "tileCol": _path("tileCol", "The column, from the left (below 2^tileMatrix).",
                         {"type": "integer", "minimum": 0}),
    }


_PARAMETERS = _parameters()


def _response(description: str, content: dict[str, dict[str, Any]] | None = None,
              headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if content:
        response["content"] = {media: {"schema": schema} for media, schema in content.items()}
    if headers:
        response["headers"] = headers
    return response


_ERRORS = {"400": _ref("responses", "InvalidParameter"), "404": _ref("responses", "NotFound"),
           "500": _ref("responses", "ServerError")}


def _document_get(operation_id: str, summary: str, tag: str, json_schema: dict[str, Any],
                  formats: tuple[str, ...] = ("json", "html"),
                  json_type: str = JSON, extra: list[dict[str, Any]] | None = None,
                  ) -> dict[str, Any]:
    content: dict[str, dict[str, Any]] = {json_type: json_schema, HTML: {"type": "string"}}
    if "jsonld" in formats:
        content["application/ld+json"] = _OBJECT
    return {"get": {
        "operationId": operation_id, "summary": summary, "tags": [tag],
        "parameters": [_formats(*formats), _param("lang"), *(extra or [])],
        "responses": {"200": _response(summary, content), **_ERRORS},
    }}


def _property_schema(collection: Collection) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for p in collection.properties:
        schema: dict[str, Any] = {"type": p.type, "title": p.title, "nullable": True}
        if p.format:
            schema["format"] = p.format
        properties[p.name] = schema
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _collection_paths(c: Collection, max_limit: int, default_limit: int) -> dict[str, Any]:
    base = f"/collections/{c.id}"
    tag = c.id
    feature = {"type": "object", "required": ["type", "geometry", "properties"],
               "properties": {"type": {"type": "string", "enum": ["Feature"]},
                              "id": {"type": "string"},
                              "geometry": _ref("schemas", "geometry"),
                              "properties": _property_schema(c),
                              "links": _LINKS}}
    collection_of = {"type": "object", "required": ["type", "features"],
                     "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                                    "features": {"type": "array", "items": feature},
                                    "numberMatched": {"type": "integer", "minimum": 0},
                                    "numberReturned": {"type": "integer", "minimum": 0},
                                    "timeStamp": {"type": "string", "format": "date-time"},
                                    "links": _LINKS}}
    names = list(c.names)
    sort_keys = [f"{sign}{n}" for n in names for sign in ("", "-", "+")]
    queryables = [_query(p.name, f"{p.title}: features whose {p.name} equals this value.",
                         {"type": p.type, **({"format": p.format} if p.format else {})})
                  for p in c.properties]
    crs_header = {"Content-Crs": {"description": "The CRS of the geometries, as <URI>.",
                                  "schema": {"type": "string"}}}
    items_params: list[dict[str, Any]] = [
        _formats("json", "html", "jsonld"), _param("lang"),
        _param("bbox"), _param("bbox-crs"), _param("crs"),
        _query("limit", f"Features per page (default {default_limit}; more than {max_limit} "
               f"gives {max_limit}).", {"type": "integer", "minimum": 1, "default": default_limit}),
        _param("offset"), _param("after"),
        _param("datetime"), _param("filter"),
        _param("filter-lang"), _param("filter-crs"),
        _param("skipGeometry"),
        _query("properties", "Only these public properties, in this order (comma-separated); "
               "all by default.", {"type": "array", "items": {"type": "string", "enum": names}}),
        _query("sortby", "Sort by these public properties (comma-separated), each ascending "
               "or, with a `-` prefix, descending; the id breaks ties. Pages of a sorted list "
               "go by `offset`.",
               {"type": "array", "items": {"type": "string", "enum": sort_keys}}),
        *queryables,
    ]
    html_or_ld = {HTML: {"type": "string"}, "application/ld+json": _OBJECT}
    paths: dict[str, Any] = {
        base: _document_get(f"describe-{c.id}", f"{c.title}: the collection", tag,
                            _ref("schemas", "collection"), ("json", "html", "jsonld")),
        f"{base}/queryables": _document_get(
            f"queryables-{c.id}", f"{c.title}: the properties a filter may test", tag,
            _OBJECT, json_type="application/schema+json"),
        f"{base}/schema": _document_get(
            f"schema-{c.id}", f"{c.title}: the schema of its features", tag, _OBJECT,
            json_type="application/schema+json"),
        f"{base}/items": {"get": {
            "operationId": f"items-{c.id}", "summary": f"{c.title}: a page of features",
            "tags": [tag], "parameters": items_params,
            "responses": {"200": _response("A page of features", {
                GEOJSON: collection_of, **html_or_ld}, crs_header), **_ERRORS},
        }},
        f"{base}/items/{{featureId}}": {"get": {
            "operationId": f"item-{c.id}", "summary": f"{c.title}: one feature",
            "tags": [tag],
            "parameters": [_param("featureId"), _formats("json", "html", "jsonld"),
                           _param("lang"), _param("crs"),
                           _query("datetime", "The feature as it was at this instant "
                                  "(RFC 3339); the current one by default.",
                                  {"type": "string"})],
            "responses": {"200": _response("The feature", {GEOJSON: feature, **html_or_ld},
                                           crs_header), **_ERRORS},
        }},
        f"{base}/tiles": _document_get(f"tilesets-{c.id}", f"{c.title}: its tile sets",
                                       tag, _ref("schemas", "tilesets")),
        f"{base}/tiles/{{tileMatrixSetId}}": _document_get(
            f"tileset-{c.id}", f"{c.title}: the tile set's metadata", tag, _OBJECT,
            extra=[_param("tileMatrixSetId")]),
        f"{base}/tiles/{{tileMatrixSetId}}/metadata": {"get": {
            "operationId": f"tilejson-{c.id}", "summary": f"{c.title}: the tile set as TileJSON",
            "tags": [tag],
            "parameters": [_param("tileMatrixSetId"),
                           _formats("tilejson", "json", "html"), _param("lang")],
            "responses": {"200": _response("TileJSON 3.0.0", {
                JSON: _ref("schemas", "tilejson"), HTML: {"type": "string"}}), **_ERRORS},
        }},
        f"{base}/tiles/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}": {"get": {
            "operationId": f"tile-{c.id}", "summary": f"{c.title}: one Mapbox vector tile",
            "tags": [tag],
            "parameters": [_param("tileMatrixSetId"), _param("tileMatrix"),
                           _param("tileRow"), _param("tileCol"),
                           _formats("mvt")],
            "responses": {
                "200": _response(f"The tile (layer `{c.tile_layer}`)",
                                 {MVT: {"type": "string", "format": "binary"}}),
                "204": _response("The tile holds no feature"), **_ERRORS},
        }},
    }
    return paths


def openapi_document(ogc_url: str, title: str, description: str, *, max_limit: int,
                     default_limit: int) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of the OGC API at `ogc_url` (…/ogc, no trailing slash)."""
    paths: dict[str, Any] = {
        "/": _document_get("landing-page", "The landing page", "server",
                           _ref("schemas", "landingPage"), ("json", "html", "jsonld")),
        "/openapi": {"get": {
            "operationId": "openapi", "summary": "This document (or its HTML viewer)",
            "tags": ["server"],
            "parameters": [_formats("json", "html"), _param("lang"),
                           _query("ui", "The HTML viewer.",
                                  {"type": "string", "enum": ["swagger", "redoc"]})],
            "responses": {"200": _response("The OpenAPI document", {
                "application/vnd.oai.openapi+json;version=3.0": _OBJECT,
                HTML: {"type": "string"}}), **_ERRORS},
        }},
        "/conformance": _document_get("conformance", "The conformance classes implemented",
                                      "server", _ref("schemas", "conformance")),
        "/collections": _document_get("collections", "The collections", "server",
                                      {"type": "object", "required": ["collections"],
                                       "properties": {"collections": {
                                           "type": "array",
                                           "items": _ref("schemas", "collection")},
                                           "links": _LINKS}},
                                      ("json", "html", "jsonld")),
        "/tileMatrixSets": _document_get("tile-matrix-sets", "The tile matrix sets", "server",
                                         _OBJECT),
        "/tileMatrixSets/{tileMatrixSetId}": _document_get(
            "tile-matrix-set", "One tile matrix set", "server", _OBJECT,
            extra=[_param("anyTileMatrixSetId")]),
    }
    for c in COLLECTIONS.values():
        paths.update(_collection_paths(c, max_limit, default_limit))
    # pygeoapi labels its errors in the format asked for (f=jsonld: application/ld+json).
    exception_content = {JSON: _ref("schemas", "exception"), HTML: {"type": "string"},
                         "application/ld+json": _ref("schemas", "exception")}
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "description": description, "version": "1.0.0"},
        "servers": [{"url": ogc_url}],
        "tags": [{"name": "server"}, *({"name": c.id, "description": c.title}
                                      for c in COLLECTIONS.values())],
        "paths": paths,
        "components": {
            "responses": {
                "InvalidParameter": _response("A parameter is malformed or not offered",
                                              exception_content),
                "NotFound": _response("No such resource", exception_content),
                "ServerError": _response("The server failed", exception_content),
            },
            "schemas": {
                "link": _LINK,
                "exception": _EXCEPTION,
                "geometry": _GEOMETRY,
                "landingPage": {"type": "object", "required": ["links"],
                                "properties": {"title": {"type": "string"},
                                               "description": {"type": "string"},
                                               "links": _LINKS}},
                "conformance": {"type": "object", "required": ["conformsTo"],
                                "properties": {"conformsTo": {"type": "array",
                                                              "items": {"type": "string"}}}},
                "collection": {"type": "object", "required": ["id", "links"],
                               "properties": {"id": {"type": "string"},
                                              "title": {"type": "string"},
                                              "links": _LINKS,
                                              "crs": {"type": "array",
                                                      "items": {"type": "string"}}}},
                "tilesets": {"type": "object", "required": ["tilesets"],
                             "properties": {"tilesets": {"type": "array", "items": _OBJECT},
                                            "links": _LINKS}},
                "tilejson": {"type": "object", "required": ["tilejson", "tiles"],
                             "properties": {
                                 "tilejson": {"type": "string", "enum": ["3.0.0"]},
                                 "tiles": {"type": "array", "minItems": 1,
                                           "items": {"type": "string"}},
                                 "minzoom": {"type": "integer", "minimum": MIN_ZOOM},
                                 "maxzoom": {"type": "integer", "maximum": MAX_ZOOM},
                                 "bounds": {"type": "array", "minItems": 4, "maxItems": 4,
                                            "items": {"type": "number"}},
                                 "vector_layers": {"type": "array", "items": _OBJECT}}},
            },
        },
    }
