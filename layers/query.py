"""Query parameters of OGC API Features, read and checked once into a typed `FeatureQuery`.

Both entry points (our FastAPI routes and the pygeoapi provider plugins) build a
FeatureQuery, and `layers.sql` turns it into SQL; so the rules for limit, bbox, bbox-crs,
crs, datetime and filter live in one place.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layers.catalog import CRS84, Collection, Crs, parse_crs
from layers.cql import parse_filter
from layers.errors import BadFilter, InvalidParameter

__all__ = ["FeatureQuery", "Instant", "Interval", "parse_datetime", "parse_bbox", "from_params",
           "parse_properties", "parse_sortby"]

Instant = dt.datetime
Interval = tuple[dt.datetime | None, dt.datetime | None]

# Parameters of Features Part 1-3 and ours (`after`, the keyset cursor); anything else that
# is not a queryable is refused, so a typo does not silently return everything.
RESERVED = {"f", "limit", "offset", "after", "bbox", "bbox-crs", "crs", "datetime", "filter",
            "filter-lang", "filter-crs", "properties", "skipGeometry", "sortby", "lang"}


@dataclass
class FeatureQuery:
    collection: Collection
    limit: int = 10
    offset: int = 0
    after: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: Crs = field(default_factory=lambda: parse_crs(None))
    crs: Crs = field(default_factory=lambda: parse_crs(None))
    datetime: Instant | Interval | None = None
    filter: Any = None
    filter_crs: Crs = field(default_factory=lambda: parse_crs(None))
    equals: dict[str, str] = field(default_factory=dict)
    skip_geometry: bool = False
    # `properties`: the public properties to return (None: all of them), in the given order.
    properties: tuple[str, ...] | None = None
    # `sortby`: (property, descending) keys; the id always breaks ties, so paging is stable.
    sortby: tuple[tuple[str, bool], ...] = ()


def _timestamp(text: str, parameter: str) -> dt.datetime:
    value = text.strip()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        stamp = dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(
            f"{parameter}={text!r} is not an RFC 3339 date or date-time "
            "(e.g. 2026-03-01 or 2026-03-01T09:00:00Z)") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def parse_datetime(text: str | None) -> Instant | Interval | None:
    """`datetime`: an instant, or an interval `a/b` with `..` (or empty) for an open end."""
    if text is None or text.strip() == "":
        return None
    if "/" not in text:
        return _timestamp(text, "datetime")
    start_text, _, end_text = text.partition("/")
    start = None if start_text in ("", "..") else _timestamp(start_text, "datetime")
    end = None if end_text in ("", "..") else _timestamp(end_text, "datetime")
    if start is None and end is None:
        raise InvalidParameter("datetime=../.. is not an interval; give at least one end")
    if start and end and end < start:
        raise InvalidParameter(f"datetime={text!r} ends before it starts")
    return (start, end)


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """`bbox`: four numbers (six with heights, which are ignored), lower corner first."""
    if text is None or text.strip() == "":
        return None
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidParameter(f"bbox={text!r} must be comma-separated numbers") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise InvalidParameter(f"bbox={text!r} must have four numbers (or six with heights)")
    x1, y1, x2, y2 = numbers
    if y2 < y1:
        raise InvalidParameter(f"bbox={text!r}: the upper corner is below the lower one")
    return (x1, y1, x2, y2)


def _names(collection: Collection, text: str, parameter: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    for name in names:
        if collection.prop(name) is None:
            raise InvalidParameter(f"{parameter}: {name!r} is not a property of {collection.id}; "
                                   "properties: " + ", ".join(collection.names))
    return names


def parse_properties(collection: Collection, text: str | None) -> tuple[str, ...] | None:
    """`properties` (OGC API Features Part 6 draft, Records): a comma-separated list of public
    property names to return; None (absent or empty) returns all of them."""
    if text is None or text.strip() == "":
        return None
    names = _names(collection, text, "properties")
    return tuple(dict.fromkeys(names))  # each once, in the order given


def parse_sortby(collection: Collection, text: str | None) -> tuple[tuple[str, bool], ...]:
    """`sortby` (OGC API Features Part 8 draft, Records): comma-separated public property
    names, each with an optional `+` (ascending, the default) or `-` (descending) prefix;
    returns (name, descending) pairs. Raises InvalidParameter for any other name."""
    if text is None or text.strip() == "":
        return ()
    keys: list[tuple[str, bool]] = []
    for raw in text.split(","):
        key = raw.strip()
        descending = key.startswith("-")
        # A `+` in a query string arrives as a space unless it is encoded as %2B.
        key = key[1:] if key[:1] in ("+", "-", " ") else key
        keys.append((key.strip(), descending))
    _names(collection, ",".join(k for k, _ in keys), "sortby")
    if len({k for k, _ in keys}) != len(keys):
        raise InvalidParameter(f"sortby={text!r} names a property twice")
    return tuple(keys)


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(f"{name}={text!r} must be an integer") from None
    if value < low:
        raise InvalidParameter(f"{name}={value} must be at least {low}")
    return min(value, high)


def from_params(collection: Collection, params: Mapping[str, str], *,
                default_limit: int, max_limit: int) -> FeatureQuery:
    """A FeatureQuery from the query string of an items request; InvalidParameter if bad.
    An empty parameter is an absent one (`filter=` is no filter), but for `crs`, `bbox-crs`
    and `filter-crs`, whose values are the listed URIs only (Features Part 2)."""
    query = FeatureQuery(collection=collection)
    query.limit = _int(params, "limit", default_limit, 1, max_limit)
    query.offset = _int(params, "offset", 0, 0, 10**9)
    query.after = params.get("after") or None
    query.bbox = parse_bbox(params.get("bbox"))
    if params.get("bbox-crs") and query.bbox is None:
        raise InvalidParameter("bbox-crs is given without bbox")
    query.bbox_crs = parse_crs(params.get("bbox-crs"), "bbox-crs")
    if query.bbox is not None:
        x1, y1, x2, y2 = query.bbox
        query.bbox_crs.check_within([x1, x2], [y1, y2], "bbox")
    query.crs = parse_crs(params.get("crs"), "crs")
    query.datetime = parse_datetime(params.get("datetime"))
    lang = params.get("filter-lang")
    if lang not in (None, "", "cql2-text"):
        raise BadFilter(f"filter-lang={lang!r} is not supported; use cql2-text")
    query.filter_crs = parse_crs(params.get("filter-crs"), "filter-crs")
    if params.get("filter"):
        query.filter = parse_filter(params["filter"])
    skip = (params.get("skipGeometry") or "false").lower()
    if skip not in ("true", "false"):
        raise InvalidParameter("skipGeometry must be true or false")
    query.skip_geometry = skip == "true"
    query.properties = parse_properties(collection, params.get("properties"))
    query.sortby = parse_sortby(collection, params.get("sortby"))
    if query.sortby and query.after is not None:
        raise InvalidParameter("after (keyset paging by id) cannot be combined with sortby; "
                               "page a sorted list with offset")
    for name, value in params.items():
        if name in RESERVED:
            continue
        if collection.prop(name) is None:
            raise InvalidParameter(
                f"unknown parameter {name!r}; queryables of {collection.id}: "
                + ", ".join(collection.names))
        query.equals[name] = _queryable_value(collection, name, value)
    return query


def _queryable_value(collection: Collection, name: str, value: str) -> str:
    """A property equality's value, checked against the queryable's type (Features Part 3,
    /req/queryables-query-parameters: a value the schema refuses is a 400)."""
    prop = collection.prop(name)
    assert prop is not None
    try:
        if prop.type in ("number", "integer"):
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
        elif prop.format == "date":
            dt.date.fromisoformat(value)
    except ValueError:
        kind = "a date (YYYY-MM-DD)" if prop.format == "date" else "a number"
        raise InvalidParameter(f"{name}={value!r}: {name} is {kind}") from None
    return value


def describe_crs() -> list[str]:
    """The `crs` list a collection advertises (CRS84 first, as Part 2 asks)."""
    from layers.catalog import SUPPORTED_SRIDS, crs_uri

    return [CRS84, *(crs_uri(s) for s in SUPPORTED_SRIDS)]
