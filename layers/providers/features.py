"""pygeoapi feature providers for `parcels` and `admin-areas`, on `layers.sql`.

pygeoapi calls these for the requests it serves itself (HTML pages of items, and any client
that reaches its item routes); the GeoJSON hot paths are served by `layers.routes` with the
same SQL. The configuration gives the true `storage_crs`, EPSG:4490, whose axis order is
latitude first: so pygeoapi hands over the bbox (transformed from `bbox-crs`) latitude first,
and these providers say so to layers.sql, which stores x = longitude. The CQL2 filter is never
pygeoapi's (which reads ECQL): layers.routes parses it as the GeoJSON route does, and layers.ogc
hands it to pygeoapi as a `ParsedFilter` (with its `filter-crs`), which `query` applies as it
is. Output CRSs are applied by PostGIS (`crs_transform_spec` only tells which; none means the
storage CRS itself).
"""

from __future__ import annotations

import datetime as dt
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pyproj
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)

from layers.catalog import COLLECTIONS, STORAGE_CRS, Collection, Crs, parse_crs
from layers.errors import LayerError
from layers.pool import pool_for
from layers.query import FeatureQuery, parse_datetime
from layers.sql import item_statement, items_statement

__all__ = ["FeatureProvider", "schema_fields", "KeysetPage", "PAGE_AFTER", "ITEM_AS_OF", "ParsedFilter",
           "ITEMS_FILTER"]



@dataclass(frozen=True)
class KeysetPage:
    """The keyset paging of the items page pygeoapi is drawing: its cursor (`after`) and the
    page's URL without one, for the `next` link. pygeoapi knows neither (it pages by
    offset), so layers.ogc sets it for the request; the thread pool copies the context."""

    after: str | None
    url: str


PAGE_AFTER: ContextVar[KeysetPage | None] = ContextVar("PAGE_AFTER", default=None)
# The instant the item page pygeoapi is drawing is asked as of (`datetime` of one item, which
# pygeoapi does not pass to `get`); None for the current feature. Set by layers.ogc.
ITEM_AS_OF: ContextVar[dt.datetime | None] = ContextVar("ITEM_AS_OF", default=None)


@dataclass(frozen=True)
class ParsedFilter:
    """The CQL2 text filter of the items page pygeoapi is drawing, as layers.query parsed it
    for the GeoJSON route (a pygeofilter tree of public properties only), and its `filter-crs`.
    pygeoapi's own ECQL parser never reads it: layers.ogc gives pygeoapi this instead."""

    node: Any
    crs: Crs


# The filter of the items page pygeoapi is drawing (None without one); set by layers.ogc.
ITEMS_FILTER: ContextVar[ParsedFilter | None] = ContextVar("ITEMS_FILTER", default=None)


def schema_fields(collection: Collection) -> dict[str, dict[str, str]]:
    """The public properties as pygeoapi fields (queryables and schema come from these)."""
    fields = {}
    for p in collection.properties:
        entry = {"type": p.type, "title": p.title}
        if p.format:
            entry["format"] = p.format
        fields[p.name] = entry
    return fields


def _target_crs(spec: Any) -> Crs:
    if spec is None:  # the client asked for the storage CRS
        return parse_crs(STORAGE_CRS)
    target = pyproj.CRS.from_wkt(spec.target_crs_wkt)
    epsg = target.to_epsg()
    if epsg in (None, 4326) and "CRS84" in target.to_string().upper().replace(" ", ""):
        return parse_crs(None)
    return parse_crs(f"EPSG:{epsg}" if epsg else None, strict=False)


class FeatureProvider(BaseProvider):  # type: ignore[misc]  # pygeoapi has no types: its base class is Any
    """Features of one collection (provider option `collection`) read with layers.sql."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.collection = COLLECTIONS[provider_def["collection"]]
        self.id_field = self.collection.id_property
        self._fields = schema_fields(self.collection)
        self._pool_max_size = int((provider_def.get("options") or {}).get("pool_max_size", 8))

    def get_fields(self) -> dict[str, dict[str, str]]:
        return self._fields

    def _rows(self, statement: Any, params: dict[str, object]) -> list[tuple[str, str]]:
        try:
            with pool_for(self.data, self._pool_max_size).connection() as conn:
                return conn.execute(statement, params, prepare=True).fetchall()
        except Exception as error:
            raise ProviderQueryError("query failed (see the server log)",
                                     user_msg="query failed") from error

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list[float] | None = None, datetime_: str | None = None,
              properties: list[tuple[str, str]] | None = None, sortby: Any = None,
              select_properties: Any = None, skip_geometry: bool = False, q: Any = None,
              filterq: Any = None, crs_transform_spec: Any = None,
              **kwargs: Any) -> dict[str, Any]:
        try:
            query = FeatureQuery(collection=self.collection, limit=limit, offset=offset,
                                 datetime=parse_datetime(datetime_),
                                 crs=_target_crs(crs_transform_spec),
                                 skip_geometry=skip_geometry)
        except LayerError as error:
            raise ProviderInvalidQueryError(error.message, user_msg=error.message) from None
        if filterq is not None:
            if not isinstance(filterq, ParsedFilter):  # a filter layers.query did not read
                raise ProviderInvalidQueryError("filter is not CQL2 text",
                                                user_msg="filter is not CQL2 text")
            query.filter, query.filter_crs = filterq.node, filterq.crs
        keyset = PAGE_AFTER.get() if offset == 0 and not sortby else None
        if keyset is not None:
            query.after = keyset.after
        if bbox:  # pygeoapi transformed it into the storage CRS: latitude first
            query.bbox = (bbox[0], bbox[1], bbox[2], bbox[3])
            query.bbox_crs = parse_crs(STORAGE_CRS)
        for name, value in properties or []:
            query.equals[name] = value
        # pygeoapi checked both against the fields: [{"property": name, "order": "+"|"-"}]
        # ("A"|"D" in older versions) and [name, ...]; an empty selection is all properties,
        # as on the GeoJSON route.
        query.sortby = tuple((s["property"], s.get("order") in ("-", "D")) for s in sortby or [])
        query.properties = tuple(select_properties) if select_properties else None
        try:
            statement, params = items_statement(query)
        except LayerError as error:
            raise ProviderInvalidQueryError(error.message, user_msg=error.message) from None
        rows = self._rows(statement, params)
        more = len(rows) > limit
        rows = rows[:limit]
        features = [json.loads(text) for _, text in rows]
        result: dict[str, Any] = {"type": "FeatureCollection", "features": features,
                                  "numberReturned": len(features)}
        if keyset is not None:  # the next page by its cursor, as the JSON route links it
            result["links"] = [] if not more else [{
                "rel": "next", "type": "text/html", "title": "Items (next)",
                "href": f"{keyset.url}{'' if keyset.url.endswith('?') else '&'}"
                        f"{urlencode({'after': str(rows[-1][0]).strip()})}"}]
        return result

    def get(self, identifier: str, crs_transform_spec: Any = None, **kwargs: Any) -> dict[str, Any]:
        statement, params = item_statement(self.collection, str(identifier),
                                           _target_crs(crs_transform_spec), ITEM_AS_OF.get())
        rows = self._rows(statement, params)
        if not rows:
            raise ProviderItemNotFoundError(f"no {self.collection.id} feature {identifier!r}",
                                            user_msg="feature not found")
        feature: dict[str, Any] = json.loads(rows[0][1])
        return feature

    def __repr__(self) -> str:
        return f"<FeatureProvider {self.collection.id}>"
