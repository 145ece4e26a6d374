"""All the SQL of OGC publishing: features as GeoJSON and tiles as MVT, made by PostGIS.

Statements are built clause by clause from `layers.catalog` (the whitelist of public
properties) with bound parameters only. Pages are keyset pages (`WHERE id > last id ORDER BY
id LIMIT n + 1`), never a COUNT of the table. Each feature leaves PostGIS as finished GeoJSON
text, which Python only joins, so no geometry is ever parsed in Python.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from psycopg import sql

from layers.catalog import STORAGE_SRID, Collection, Crs
from layers.cql import Params, filter_sql
from layers.query import FeatureQuery

__all__ = [
    "items_statement", "item_statement", "count_statement", "tile_statement", "tile_query",
    "extent_statement", "size_statement",
    "geometry_output", "TileSpec", "tile_bounds",
]

# Below this zoom, tiles drop parcels smaller than a screen pixel and simplify to it.
FULL_DETAIL_ZOOM = 14
# From this zoom on, tiles are cut from longitude/latitude directly (see tile_statement).
LINEAR_ZOOM = 10
SCREEN_TILE_PIXELS = 256
EARTH_CIRCUMFERENCE = 40_075_016.686


def geometry_output(collection: Collection, crs: Crs) -> sql.Composable:
    """The geometry in the requested CRS, axes in that CRS's order (OGC API Part 2).

    Storage is EPSG:4490 with x = longitude, which is CRS84's order; EPSG:4490 itself and
    the Gauss-Krüger zones list northing (latitude) first, so their output is flipped.
    """
    geometry: sql.Composable = sql.SQL(collection.geometry_sql)
    if crs.srid != STORAGE_SRID:
        geometry = sql.SQL("ST_Transform({}, {})").format(geometry, sql.Literal(crs.srid))
    if crs.northing_first:
        geometry = sql.SQL("ST_FlipCoordinates({})").format(geometry)
    return geometry


def _feature_json(collection: Collection, crs: Crs, skip_geometry: bool,
                  selected: tuple[str, ...] | None = None) -> sql.Composable:
    """A feature as GeoJSON text; `selected` names the public properties it carries (all
    when None, in the catalogue's order; names checked by layers.query)."""
    chosen = collection.properties if selected is None else \
        tuple(p for n in selected if (p := collection.prop(n)) is not None)
    properties = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(p.name), sql.SQL(p.sql))
        for p in chosen
    )
    key = sql.SQL(_sql_of(collection, collection.id_property))
    if skip_geometry:
        geometry: sql.Composable = sql.SQL("'null'")
    else:
        geometry = sql.SQL("ST_AsGeoJSON({}, {}, 0)").format(
            geometry_output(collection, crs), sql.Literal(crs.digits))
    return sql.SQL(
        "'{{\"type\":\"Feature\",\"id\":' || to_json({key})::text"
        " || ',\"geometry\":' || {geometry}"
        " || ',\"properties\":' || json_build_object({properties})::text || '}}'"
    ).format(key=key, geometry=geometry, properties=properties)


def _lifespan(collection: Collection, when: object, params: Params) -> sql.Composable:
    if not collection.versioned:
        return sql.SQL("TRUE")
    a = collection.alias
    if when is None:
        return sql.SQL(f"{a}.end_lifespan IS NULL")
    if isinstance(when, dt.datetime):
        t = params.add(when)
        return sql.SQL(f"{a}.begin_lifespan <= {{t}} AND ({a}.end_lifespan IS NULL "
                       f"OR {a}.end_lifespan > {{t}})").format(t=t)
    assert isinstance(when, tuple)
    start: dt.datetime | None = when[0]
    end: dt.datetime | None = when[1]
    parts: list[sql.Composable] = []
    if end is not None:
        parts.append(sql.SQL(f"{a}.begin_lifespan <= {{}}").format(params.add(end)))
    if start is not None:
        parts.append(sql.SQL(f"({a}.end_lifespan IS NULL OR {a}.end_lifespan > {{}})")
                     .format(params.add(start)))
    return sql.SQL(" AND ").join(parts)


def _bbox(query: FeatureQuery, params: Params) -> sql.Composable:
    assert query.bbox is not None
    x1, y1, x2, y2 = query.bbox
    crs = query.bbox_crs
    if crs.northing_first:
        x1, y1, x2, y2 = y1, x1, y2, x2
    corners = [params.add(v) for v in (x1, y1, x2, y2)]
    envelope = sql.SQL("ST_MakeEnvelope({}, {}, {}, {}, {})").format(
        *corners, sql.Literal(crs.srid))
    if crs.srid != STORAGE_SRID:
        # Densify so that the edges follow the curve they become in longitude/latitude.
        # (A degenerate box, zero wide and high, is segmentized by a tiny positive length.)
        envelope = sql.SQL("ST_Transform(ST_Segmentize({e}, greatest({w}, {h}, 1e-9) / 32.0), "
                           "{s})") \
            .format(e=envelope, w=sql.SQL("abs({} - {})").format(corners[2], corners[0]),
                    h=sql.SQL("abs({} - {})").format(corners[3], corners[1]),
                    s=sql.Literal(STORAGE_SRID))
    return sql.SQL("ST_Intersects({}, {})").format(sql.SQL(query.collection.geometry_sql), envelope)


def _sql_of(collection: Collection, name: str) -> str:
    prop = collection.prop(name)
    assert prop is not None, name
    return prop.sql


def _key(collection: Collection) -> sql.Composable:
    return sql.SQL(_sql_of(collection, collection.id_property))


def _order(query: FeatureQuery) -> sql.Composable:
    """ORDER BY of a page: the `sortby` keys (public properties only, checked by layers.query),
    then the id, which breaks ties so that offset pages neither repeat nor skip a feature."""
    c = query.collection
    keys: list[sql.Composable] = [
        sql.SQL("{} {}").format(sql.SQL(_sql_of(c, name)), sql.SQL("DESC" if descending else "ASC"))
        for name, descending in query.sortby]
    if c.id_property not in {name for name, _ in query.sortby}:
        keys.append(_key(c))
    return sql.SQL(", ").join(keys)


def items_statement(query: FeatureQuery) -> tuple[sql.Composed, dict[str, object]]:
    """One page of features: rows of (id, feature GeoJSON text), one more than the limit.

    The extra row tells the caller whether a next page exists, without counting. Features
    come in id order (keyset pages by `after`) or in `sortby` order, the id breaking ties;
    they carry the `properties` selected (all by default).
    """
    c = query.collection
    params = Params()
    where = [_lifespan(c, query.datetime, params)]
    if query.bbox is not None:
        where.append(_bbox(query, params))
    where += _property_conditions(query, params)
    if query.after is not None:
        where.append(sql.SQL("{} > {}").format(_key(c), params.add(query.after)))
    statement = sql.SQL(
        "SELECT {key}, {feature} FROM {table} {alias} {joins} WHERE {where} "
        "ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    ).format(
        key=_key(c), order=_order(query),
        feature=_feature_json(c, query.crs, query.skip_geometry, query.properties),
        table=sql.Identifier(c.table), alias=sql.SQL(c.alias), joins=sql.SQL(c.joins),
        where=sql.SQL(" AND ").join(where), limit=params.add(query.limit + 1),
        offset=params.add(query.offset),
    )
    return statement, params.values


def _property_conditions(query: FeatureQuery, params: Params) -> list[sql.Composable]:
    """The query's property equalities and its CQL2 filter (not the lifespan or bbox)."""
    c = query.collection
    conditions: list[sql.Composable] = []
    for name, value in query.equals.items():
        prop = c.prop(name)
        assert prop is not None
        # Compared in the property's own type (layers.query checked the value against it):
        # area=12.5 matches 12.50.
        cast = {"number": "::numeric", "integer": "::numeric"}.get(prop.type, "")
        if prop.format == "date":
            cast = "::date"
        conditions.append(sql.SQL("{} = {}{}").format(sql.SQL(prop.sql), params.add(value),
                                                      sql.SQL(cast)))
    if query.filter is not None:
        conditions.append(filter_sql(query.filter, c, params, query.filter_crs))
    return conditions


def count_statement(query: FeatureQuery, examine: int) -> tuple[sql.Composed, dict[str, object]]:
    """numberMatched of a query, if it can be had cheaply: a row of (matched, examined).

    Only the rows that the indexes select (the lifespan and the bbox) are examined, at most
    `examine` + 1 of them; the property conditions and the CQL2 filter are counted over those.
    When `examined` is at most `examine`, `matched` is exact; otherwise the caller leaves
    numberMatched out, so a count never costs more than `examine` rows, however rare the
    filter. Paging (`after`, `offset`, `limit`) does not change numberMatched.
    """
    c = query.collection
    params = Params()
    where = [_lifespan(c, query.datetime, params)]
    if query.bbox is not None:
        where.append(_bbox(query, params))
    matched = _property_conditions(query, params)
    condition = sql.SQL(" AND ").join(matched) if matched else sql.SQL("TRUE")
    # The joins only supply names; a count that does not test them does without (half the
    # cost of counting a bbox page).
    joined = {p.sql.split(".")[0] for p in c.properties} - {c.alias}
    needs_joins = bool(joined) and re.search(
        r"\b(" + "|".join(map(re.escape, sorted(joined))) + r")\.",
        condition.as_string(None)) is not None
    statement = sql.SQL(
        "SELECT count(*) FILTER (WHERE m), count(*) FROM (SELECT {matched} AS m "
        "FROM {table} {alias} {joins} WHERE {where} LIMIT {examine}) s"
    ).format(
        matched=condition, table=sql.Identifier(c.table), alias=sql.SQL(c.alias),
        joins=sql.SQL(c.joins if needs_joins else ""),
        where=sql.SQL(" AND ").join(where), examine=params.add(examine + 1),
    )
    return statement, params.values


# The text of an item statement per (collection, CRS, whether a time is given): composing it
# took longer than running it (bench/ogc.py, item by id), so it is made once.
_ITEM_QUERIES: dict[tuple[str, Crs, bool], sql.SQL] = {}


def item_statement(collection: Collection, identifier: str, crs: Crs,
                   when: object = None) -> tuple[sql.Composable, dict[str, object]]:
    """One feature by id (current, or as it was at `when`, an instant or an interval): a row
    of (id, GeoJSON text), coordinates in `crs` and its axis order. The statement text depends
    on the collection, the CRS and whether `when` is an instant, never on the values, which
    are bound (`p0` the id, `p1` the instant), so one prepared statement serves every id."""
    params = Params()
    placeholder = params.add(identifier)
    instant = isinstance(when, dt.datetime)
    cached = when is None or instant
    key = (collection.id, crs, instant)
    statement = _ITEM_QUERIES.get(key) if cached else None
    life = _lifespan(collection, when, params)
    if statement is None:
        composed = sql.SQL(
            "SELECT {key}, {feature} FROM {table} {alias} {joins} WHERE {key} = {id} AND {life} "
            "LIMIT 1"
        ).format(
            key=_key(collection), feature=_feature_json(collection, crs, False),
            table=sql.Identifier(collection.table), alias=sql.SQL(collection.alias),
            joins=sql.SQL(collection.joins), id=placeholder, life=life,
        )
        if not cached:
            return composed, params.values
        statement = _ITEM_QUERIES[key] = sql.SQL(composed.as_string(None))
    return statement, params.values


class TileSpec:
    """How tiles are cut: extent, buffer and the cap on features per tile (TileSettings)."""

    def __init__(self, extent: int, buffer: int, max_features: int) -> None:
        self.extent = extent
        self.buffer = buffer
        self.max_features = max_features


def tile_bounds(z: int, x: int, y: int, margin: float = 0.0) -> tuple[float, float, float, float]:
    """Longitude/latitude bounds of WebMercatorQuad tile z/x/y, grown by `margin` tiles."""
    n = 2**z

    def lon(col: float) -> float:
        return float(col / n * 360.0 - 180.0)

    def lat(row: float) -> float:
        return float(math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n)))))

    return (lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin))


def _tile_shape(collection: Collection, spec: TileSpec, detailed: bool,
                linear: bool) -> sql.Composed:
    """The text of a tile query: it depends on the zoom only through `detailed` (z at or
    above FULL_DETAIL_ZOOM) and `linear` (the linear cut), so there are few shapes; the tile
    itself arrives in the named parameters of `_tile_values`."""
    a = collection.alias
    geometry: sql.Composable = sql.SQL(collection.geometry_sql)
    conditions: list[sql.Composable] = [sql.SQL(
        "{} && ST_MakeEnvelope(%(sx0)s, %(sy0)s, %(sx1)s, %(sy1)s, {})").format(
        geometry, sql.Literal(STORAGE_SRID))]
    if collection.versioned:
        conditions.append(sql.SQL(f"{a}.end_lifespan IS NULL"))
    if not detailed:
        geometry = sql.SQL("ST_Simplify({}, %(tolerance)s)").format(geometry)
        if collection.versioned:  # parcels: the area is stored, so this costs nothing
            conditions.append(sql.SQL(f"{a}.calculated_area >= %(min_area)s"))
    elif not collection.versioned:
        geometry = sql.SQL("ST_Simplify({}, %(tolerance)s)").format(geometry)
    if linear:
        bounds: sql.Composable = sql.SQL(
            "ST_MakeEnvelope(%(bx0)s, %(by0)s, %(bx1)s, %(by1)s, {})").format(
            sql.Literal(STORAGE_SRID))
    else:
        geometry = sql.SQL("ST_Transform({}, 3857)").format(geometry)
        bounds = sql.SQL("ST_TileEnvelope(%(z)s, %(x)s, %(y)s)")
    properties = sql.SQL(", ").join([
        sql.SQL("{} AS {}").format(sql.SQL(_sql_of(collection, n)), sql.Identifier(n))
        for n in collection.tile_properties
    ])
    return sql.SQL(
        "SELECT ST_AsMVT(t, {layer}, {extent}, 'geom') FROM ("
        "SELECT ST_AsMVTGeom({geometry}, {bounds}, {extent}, {buffer}, true) AS geom, "
        "{properties} FROM {table} {alias} WHERE {where} LIMIT {cap}) t"
    ).format(
        layer=sql.Literal(collection.tile_layer), extent=sql.Literal(spec.extent),
        buffer=sql.Literal(spec.buffer), geometry=geometry, bounds=bounds,
        properties=properties, table=sql.Identifier(collection.table), alias=sql.SQL(a),
        where=sql.SQL(" AND ").join(conditions), cap=sql.Literal(spec.max_features),
    )


def _tile_values(collection: Collection, z: int, x: int, y: int, spec: TileSpec,
                 detailed: bool, linear: bool) -> dict[str, object]:
    values: dict[str, object] = dict(zip(("sx0", "sy0", "sx1", "sy1"),
                                         tile_bounds(z, x, y, spec.buffer / spec.extent), strict=True))
    pixel_degrees = 360.0 / (2**z) / SCREEN_TILE_PIXELS
    if not detailed:
        values["tolerance"] = pixel_degrees / 2
        if collection.versioned:
            pixel_metres = EARTH_CIRCUMFERENCE / (2**z) / SCREEN_TILE_PIXELS
            values["min_area"] = pixel_metres * pixel_metres * 0.75
    elif not collection.versioned:
        values["tolerance"] = pixel_degrees / 8
    if linear:
        values.update(zip(("bx0", "by0", "bx1", "by1"), tile_bounds(z, x, y), strict=True))
    else:
        values.update(z=z, x=x, y=y)
    return values


def tile_statement(collection: Collection, z: int, x: int, y: int, spec: TileSpec,
                   linear_from: int = LINEAR_ZOOM) -> tuple[sql.Composed, dict[str, object]]:
    """One Mapbox vector tile of the collection (WebMercatorQuad z/x/y): a row with bytea.

    From LINEAR_ZOOM on, geometries are not reprojected vertex by vertex: the tile is cut
    from longitude/latitude directly, which treats Web Mercator as linear in latitude inside
    one tile. Its error, at most tan(lat) * tile height in radians / 8 * extent, is under
    0.4 tile units at z12 and 0.1 at z14 at the district's latitude: below the integer
    grid MVT snaps to anyway, and it spares PROJ (the bulk of the cost of a tile).
    Below FULL_DETAIL_ZOOM the geometry is simplified to a screen pixel and parcels smaller
    than one are left out; every tile holds at most `spec.max_features` features.
    `linear_from` moves the zoom where the linear cut starts (the tests compare both cuts).
    """
    detailed, linear = z >= FULL_DETAIL_ZOOM, z >= linear_from
    return (_tile_shape(collection, spec, detailed, linear),
            _tile_values(collection, z, x, y, spec, detailed, linear))


# Rendered tile statements by (collection id, extent, buffer, max_features, detailed,
# linear): a handful per collection. Keyed by the id, not the Collection itself, whose hash
# (every field, again on each call) was a measurable share of a cold tile's Python time.
_TILE_TEXTS: dict[tuple[str, int, int, int, bool, bool], str] = {}


def tile_query(collection: Collection, z: int, x: int, y: int,
               spec: TileSpec) -> tuple[str, dict[str, object]]:
    """`tile_statement` for the hot path: the same SQL, but its text rendered once per shape
    (a handful per collection) instead of composed again for every tile."""
    detailed, linear = z >= FULL_DETAIL_ZOOM, z >= LINEAR_ZOOM
    key = (collection.id, spec.extent, spec.buffer, spec.max_features, detailed, linear)
    text = _TILE_TEXTS.get(key)
    if text is None:
        text = _TILE_TEXTS[key] = _tile_shape(collection, spec, detailed, linear).as_string(None)
    return text, _tile_values(collection, z, x, y, spec, detailed, linear)


def extent_statement(collection: Collection) -> sql.Composed:
    """The collection's extent in storage order (x = longitude), and its time span."""
    a = collection.alias
    if collection.versioned:
        return sql.SQL(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), t0 FROM "
            "(SELECT coalesce(ST_EstimatedExtent('public', {table}, 'geom')::geometry, "
            "(SELECT ST_Extent(geom)::geometry FROM {ident} WHERE end_lifespan IS NULL)) AS e, "
            "(SELECT min(begin_lifespan) FROM {ident}) AS t0) s"
        ).format(table=sql.Literal(collection.table), ident=sql.Identifier(collection.table))
    return sql.SQL(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), NULL FROM "
        "(SELECT ST_Extent({g})::geometry AS e FROM {t} {a}) s"
    ).format(g=sql.SQL(collection.geometry_sql), a=sql.SQL(a), t=sql.Identifier(collection.table))


def size_statement(collection: Collection, examine: int) -> sql.Composed:
    """How many current rows the collection has, counted up to `examine` + 1 only."""
    where = sql.SQL(f"WHERE {collection.alias}.end_lifespan IS NULL" if collection.versioned
                    else "")
    return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {t} {a} {w} LIMIT {n}) s").format(
        t=sql.Identifier(collection.table), a=sql.SQL(collection.alias), w=where,
        n=sql.Literal(examine + 1))
