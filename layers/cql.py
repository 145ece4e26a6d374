"""CQL2 text filters (OGC API Features Part 3) turned into SQL with bound parameters.

pygeofilter parses the text; this module walks the tree and accepts only the public
properties of the collection (`layers.catalog`), so a filter can neither name a column we
do not publish nor smuggle SQL: every literal becomes a bound parameter.

Supported: comparisons, LIKE (and CASEI-free ILIKE), IN, BETWEEN, IS NULL, AND/OR/NOT,
the spatial predicates S_INTERSECTS/S_WITHIN/S_CONTAINS/S_DISJOINT/S_EQUALS/S_TOUCHES/
S_OVERLAPS/S_CROSSES on `geometry` with WKT or BBOX(...) literals in `filter-crs`.

A filter is bounded before it is translated (`check_size`): at most MAX_TERMS nodes, and at
most MAX_DEPTH levels of nesting where a chain of one operator (a AND b AND c ...) counts as
one level, so neither the translation nor psycopg's composition of it can recurse without end.
Geometries must lie where their CRS is defined.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from psycopg import sql
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from layers.catalog import STORAGE_SRID, Collection, Crs, parse_crs
from layers.errors import BadFilter, InvalidParameter

__all__ = ["Params", "parse_filter", "filter_sql", "check_size", "MAX_TERMS", "MAX_DEPTH"]

MAX_TERMS = 400  # nodes of the parsed filter: predicates, properties and values
MAX_DEPTH = 24  # nesting of different operators (a chain of ANDs is one level)

GEOMETRY_NAMES = ("geometry", "geom", "the_geom")
_COMPARISON = {
    ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=",
    ast.GreaterThan: ">", ast.GreaterEqual: ">=",
}
_SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects", ast.GeometryWithin: "ST_Within",
    ast.GeometryContains: "ST_Contains", ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryEquals: "ST_Equals", ast.GeometryTouches: "ST_Touches",
    ast.GeometryOverlaps: "ST_Overlaps", ast.GeometryCrosses: "ST_Crosses",
}


class Params:
    """Named bound parameters: `add(value)` gives the placeholder to put in the SQL."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def add(self, value: object) -> sql.Composable:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def parse_filter(text: str) -> ast.Node:
    """Parse CQL2 text; BadFilter says what is wrong without echoing a stack trace."""
    try:
        node = parse_cql2_text(text)
    except RecursionError:
        raise BadFilter(f"filter is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except Exception as error:  # lark raises many kinds
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise BadFilter(f"filter is not valid CQL2 text: {first_line[:200]}") from None
    check_size(node)
    return node


def _children(node: Any) -> list[Any]:
    if isinstance(node, ast.Node):
        return list(node.get_sub_nodes())
    if isinstance(node, list | tuple):
        return list(node)
    return []


def check_size(node: Any) -> None:
    """BadFilter if the filter has more than MAX_TERMS nodes or MAX_DEPTH levels (walked
    without recursion, so any parsed tree can be measured)."""
    terms = 0
    stack: list[tuple[Any, type | None, int]] = [(node, None, 1)]
    while stack:
        current, parent, depth = stack.pop()
        terms += 1
        if terms > MAX_TERMS:
            raise BadFilter(f"filter has more than {MAX_TERMS} terms; split the request or use "
                            "IN (...) or BETWEEN")
        if depth > MAX_DEPTH:
            raise BadFilter(f"filter is nested too deeply (at most {MAX_DEPTH} levels)")
        kind = type(current)
        for child in _children(current):
            chained = kind in (ast.And, ast.Or) and type(child) is kind
            stack.append((child, kind, depth if chained else depth + 1))


def filter_sql(node: ast.Node, collection: Collection, params: Params, crs: Crs) -> sql.Composable:
    """The SQL condition for a parsed filter on `collection`, literals bound in `params`."""
    check_size(node)
    return _Translator(collection, params, crs).condition(node)


def _chain(node: Any, kind: Any) -> list[Any]:
    """The operands of a chain of one operator (a AND b AND c), in order, without recursion."""
    operands: list[Any] = []
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if type(current) is kind:
            stack += [current.rhs, current.lhs]
        else:
            operands.append(current)
    return operands


class _Translator:
    def __init__(self, collection: Collection, params: Params, crs: Crs) -> None:
        self.collection = collection
        self.params = params
        self.crs = crs

    def condition(self, node: Any) -> sql.Composable:
        if isinstance(node, ast.And | ast.Or):
            word = " AND " if isinstance(node, ast.And) else " OR "
            return sql.SQL("({})").format(sql.SQL(word).join(
                self.condition(operand) for operand in _chain(node, type(node))))
        if isinstance(node, ast.Not):
            return sql.SQL("(NOT {})").format(self.condition(node.sub_node))
        for kind, op in _COMPARISON.items():
            if type(node) is kind:
                return sql.SQL("({} {} {})").format(
                    self.expression(node.lhs), sql.SQL(op), self.expression(node.rhs))
        if isinstance(node, ast.Like):
            op = "ILIKE" if node.nocase else "LIKE"
            pattern = self._like_pattern(node)
            return sql.SQL("({} {}{} {})").format(
                self.expression(node.lhs), sql.SQL("NOT " if node.not_ else ""), sql.SQL(op),
                self.params.add(pattern))
        if isinstance(node, ast.In):
            items = [self.expression(v) for v in node.sub_nodes]
            return sql.SQL("({} {}IN ({}))").format(
                self.expression(node.lhs), sql.SQL("NOT " if node.not_ else ""),
                sql.SQL(", ").join(items))
        if isinstance(node, ast.Between):
            return sql.SQL("({} {}BETWEEN {} AND {})").format(
                self.expression(node.lhs), sql.SQL("NOT " if node.not_ else ""),
                self.expression(node.low), self.expression(node.high))
        if isinstance(node, ast.IsNull):
            return sql.SQL("({} IS {}NULL)").format(
                self.expression(node.lhs), sql.SQL("NOT " if node.not_ else ""))
        if type(node) in _SPATIAL:
            return sql.SQL("{}({}, {})").format(
                sql.SQL(_SPATIAL[type(node)]), self.spatial(node.lhs), self.spatial(node.rhs))
        if isinstance(node, ast.BBox):
            envelope = self._envelope([node.minx, node.miny, node.maxx, node.maxy])
            return sql.SQL("ST_Intersects({}, {})").format(self.spatial(node.lhs), envelope)
        if isinstance(node, ast.Include):
            return sql.SQL("FALSE" if node.not_ else "TRUE")
        name = type(node).__name__
        raise BadFilter(f"filter uses {name}, which this server does not support; supported: "
                        "comparisons, LIKE, IN, BETWEEN, IS NULL, AND/OR/NOT, S_INTERSECTS and "
                        "the other S_ spatial predicates")

    def expression(self, node: Any) -> sql.Composable:
        if isinstance(node, ast.Attribute):
            prop = self.collection.prop(node.name)
            if prop is None:
                raise BadFilter(f"filter names {node.name!r}, which is not a queryable of "
                                f"{self.collection.id}; queryables: "
                                + ", ".join((*self.collection.names, "geometry")))
            return sql.SQL(prop.sql)
        if isinstance(node, bool | int | float | str | dt.date | dt.datetime):
            return self.params.add(node)
        if isinstance(node, ast.Node):
            raise BadFilter(f"filter uses {type(node).__name__} where a property or a value "
                            "is expected")
        raise BadFilter(f"filter uses a value of type {type(node).__name__} that this server "
                        "cannot compare")

    def spatial(self, node: Any) -> sql.Composable:
        if isinstance(node, ast.Attribute):
            if node.name not in GEOMETRY_NAMES:
                raise BadFilter(f"spatial predicates apply to 'geometry', not {node.name!r}")
            return sql.SQL(self.collection.geometry_sql)
        if isinstance(node, values.Geometry):
            crs = self._crs_of(node.geometry)
            _check_coordinates(node.geometry, crs)
            geometry = _axis_order(node.geometry, crs)
            text = self.params.add(json.dumps(geometry))
            return self._to_storage(sql.SQL("ST_GeomFromGeoJSON({})").format(text), crs)
        if isinstance(node, values.Envelope):
            return self._envelope([node.x1, node.y1, node.x2, node.y2])
        if isinstance(node, ast.Function) and node.name.lower() == "bbox":
            return self._envelope(list(node.arguments))
        raise BadFilter("spatial predicates compare 'geometry' with a WKT geometry or BBOX(...)")

    def _envelope(self, coordinates: list[Any]) -> sql.Composable:
        if len(coordinates) != 4 or not all(isinstance(c, int | float) for c in coordinates):
            raise BadFilter("BBOX in a filter takes four numbers")
        x1, y1, x2, y2 = (float(c) for c in coordinates)
        self.crs.check_within([x1, x2], [y1, y2], "a BBOX in the filter")
        if self.crs.northing_first:
            x1, y1, x2, y2 = y1, x1, y2, x2
        envelope = sql.SQL("ST_MakeEnvelope({}, {}, {}, {})").format(
            *(self.params.add(v) for v in (x1, y1, x2, y2)))
        return self._to_storage(envelope, self.crs)

    def _crs_of(self, geometry: dict[str, Any]) -> Crs:
        """A geometry's own CRS (EWKT `SRID=n;`, or the one pygeoapi marks after transforming
        it into the storage CRS), else `filter-crs`."""
        name = geometry.get("crs", {}).get("properties", {}).get("name")
        return self.crs if not name else parse_crs(name, "filter geometry CRS", strict=False)

    def _to_storage(self, geometry: sql.Composable, crs: Crs) -> sql.Composable:
        srid = crs.srid
        with_srid = sql.SQL("ST_SetSRID({}, {})").format(geometry, sql.Literal(srid))
        if srid == STORAGE_SRID:
            return with_srid
        return sql.SQL("ST_Transform({}, {})").format(with_srid, sql.Literal(STORAGE_SRID))

    @staticmethod
    def _like_pattern(node: ast.Like) -> str:
        """CQL2 LIKE has SQL's own wildcards (% and _) and backslash escape: pass it through."""
        return str(node.pattern)


def _check_coordinates(geometry: dict[str, Any], crs: Crs) -> None:
    """BadFilter unless every position of the geometry is finite and where `crs` is defined."""
    xs: list[float] = []
    ys: list[float] = []
    stack = [geometry.get("coordinates")]
    if geometry.get("type") == "GeometryCollection":
        stack = [g.get("coordinates") for g in geometry.get("geometries", [])]
    while stack:
        coords = stack.pop()
        if isinstance(coords, list | tuple) and coords and isinstance(coords[0], int | float):
            xs.append(float(coords[0]))
            ys.append(float(coords[1]) if len(coords) > 1 else float("nan"))
        elif isinstance(coords, list | tuple):
            stack.extend(coords)
    if not xs:
        raise BadFilter("a geometry in the filter has no coordinates")
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        raise BadFilter("a geometry in the filter has coordinates that are not finite numbers")
    try:
        crs.check_within(xs, ys, "a geometry in the filter")
    except InvalidParameter as error:
        raise BadFilter(error.message) from None


def _axis_order(geometry: dict[str, Any], crs: Crs) -> dict[str, Any]:
    """GeoJSON in PostGIS order (x = easting/longitude) from WKT in the CRS's axis order."""
    if not crs.northing_first:
        return geometry

    def flip(coords: Any) -> Any:
        if coords and isinstance(coords[0], int | float):
            return [coords[1], coords[0], *coords[2:]]
        return [flip(c) for c in coords]

    return {**geometry, "coordinates": flip(geometry["coordinates"])}
