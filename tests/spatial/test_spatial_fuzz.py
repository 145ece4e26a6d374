"""Malformed and random input thrown at every reader and at validation.

The contract: a ReadResult, or a SpatialError that names the file; never another exception
type and never the reader's internal-error fallback (which would mean a bug we hide).
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import ezdxf
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon
from spatial_factories import CODE1, CODE2, E0, N0, exchange_text, parcel_block, square

from spatial.errors import SpatialError
from spatial.model import SurveyedParcel
from spatial.readers import read_parcels
from spatial.validation import validate, validate_result

# A fixed, short run in CI; bench/fuzz_readers.py runs the same properties far longer.
FUZZ = settings(
    max_examples=int(os.environ.get("CADASTRE_FUZZ_EXAMPLES", "40")), deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def check_contract(data: bytes, filename: str, **kwargs: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.bin"
        path.write_bytes(data)
        try:
            result = read_parcels(path, filename=filename, **kwargs)
        except SpatialError as exc:
            assert exc.file == filename, str(exc)
            assert str(exc).startswith(filename), str(exc)
            assert "internal error" not in str(exc), str(exc)
            return
    assert result.file.startswith(filename)
    report = validate_result(result)
    json.dumps(report.to_dict())


NAMES = st.sampled_from(
    [
        "parcels.txt",
        "drawing.dxf",
        "parcels.geojson",
        "data.json",
        "cp.gml",
        "shp.zip",
        "db.gpkg",
        "upload",
    ]
)


@FUZZ
@given(data=st.binary(max_size=2000), filename=NAMES)
def test_random_bytes(data: bytes, filename: str) -> None:
    check_contract(data, filename)


@FUZZ
@given(
    prefix=st.sampled_from(
        [
            b"PK\x03\x04",
            b"SQLite format 3\x00",
            b"BZh91AY&SY",
            b"\x1f\x8b\x08",
            b"AutoCAD Binary DXF\r\n\x1a\x00",
            b"<",
            b"{",
        ]
    ),
    data=st.binary(max_size=1000),
)
def test_random_bytes_behind_magic_numbers(prefix: bytes, data: bytes) -> None:
    check_contract(prefix + data, "upload")


BASE_EXCHANGE = exchange_text(
    parcel_block(CODE1, [square(E0, N0, 30), square(E0 + 10, N0 + 10, 5)]),
    parcel_block(CODE2, [square(E0 + 30, N0, 30)], close=False),
)
PIECES = [
    ",",
    "\n",
    "\r\n",
    "@",
    "=",
    "[",
    "]",
    "1",
    "0",
    ".",
    "-",
    "J",
    "，",
    "＝",
    " ",
    "4",
    "e",
    "nan",
    "带号=",
    "2",
]


@st.composite
def mutated_exchange(draw: st.DrawFn) -> bytes:
    text = BASE_EXCHANGE
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "cut-line"]))
        piece = draw(st.sampled_from(PIECES))
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif op == "replace":
            text = text[:at] + piece + text[at + 1 :]
        else:
            lines = text.split("\n")
            del lines[min(at, len(lines) - 1)]
            text = "\n".join(lines)
    encoding = draw(st.sampled_from(["utf-8", "gbk", "utf-8-sig"]))
    return text.encode(encoding, "replace")


@FUZZ
@given(data=mutated_exchange(), crs=st.sampled_from([None, None, 4528]))
def test_mutated_exchange_files(data: bytes, crs: int | None) -> None:
    check_contract(data, "parcels.txt", crs=crs)


DXF_CODES = [
    0,
    2,
    5,
    8,
    10,
    20,
    30,
    11,
    21,
    1,
    40,
    42,
    43,
    66,
    70,
    72,
    73,
    90,
    91,
    92,
    93,
    100,
    330,
]
DXF_WORDS = [
    "SECTION",
    "ENTITIES",
    "ENDSEC",
    "EOF",
    "LWPOLYLINE",
    "POLYLINE",
    "VERTEX",
    "SEQEND",
    "HATCH",
    "TEXT",
    "MTEXT",
    "INSERT",
    "ATTRIB",
    "POINT",
    "AcDbPolyline",
    "0",
    "1",
    "ZD",
    CODE1,
]


@st.composite
def dxf_like(draw: st.DrawFn) -> bytes:
    lines = ["0", "SECTION", "2", "ENTITIES"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 40))):
        lines.append(str(draw(st.sampled_from(DXF_CODES))))
        value = draw(
            st.one_of(
                st.sampled_from(DXF_WORDS),
                st.floats(allow_nan=True, allow_infinity=True).map(repr),
                st.integers(-5, 40438700).map(str),
                st.text(max_size=8),
            )
        )
        lines.append(value.replace("\n", " ").replace("\r", " "))
    if draw(st.booleans()):
        lines += ["0", "ENDSEC", "0", "EOF"]
    return "\n".join(lines).encode("utf-8", "replace")


@FUZZ
@given(data=dxf_like(), crs=st.sampled_from([None, 4528]))
def test_dxf_like_text(data: bytes, crs: int | None) -> None:
    check_contract(data, "drawing.dxf", crs=crs)


COORD = st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 2))


@st.composite
def drawn_then_damaged(draw: st.DrawFn) -> bytes:
    """A drawing made with ezdxf from random shapes, then a few of its lines damaged."""
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    for _ in range(draw(st.integers(1, 4))):
        points = draw(
            st.lists(
                st.tuples(COORD, COORD, st.sampled_from([0.0, 0.0, 0.5, -1.0])),
                min_size=1,
                max_size=6,
            )
        )
        shifted = [(E0 + x, N0 + y, 0, 0, b) for x, y, b in points]
        kind = draw(st.sampled_from(["lwpolyline", "hatch", "polyline"]))
        closed = draw(st.booleans())
        if kind == "lwpolyline":
            msp.add_lwpolyline(shifted, format="xyseb", close=closed)
        elif kind == "polyline":
            msp.add_polyline2d([(x, y) for x, y, *_ in shifted], close=closed)
        else:
            msp.add_hatch().paths.add_polyline_path(
                [(x, y, b) for x, y, _, _, b in shifted], is_closed=closed
            )
    for _ in range(draw(st.integers(0, 3))):
        msp.add_text(
            draw(st.sampled_from([CODE1, CODE2, "J1", "某宗地", "", "12.5"])),
            dxfattribs={"insert": (E0 + draw(COORD), N0 + draw(COORD))},
        )
    for _ in range(draw(st.integers(0, 2))):
        msp.add_point((E0 + draw(COORD), N0 + draw(COORD)))
    stream = io.StringIO()
    doc.write(stream)
    lines = stream.getvalue().split("\n")
    entities = lines.index("ENTITIES") if "ENTITIES" in lines else 0
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(entities, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "replace", "duplicate"]))
        if op == "delete":
            del lines[at]
        elif op == "replace":
            lines[at] = draw(st.sampled_from(DXF_WORDS + ["nan", "inf", "-1e308", "1e308", "x"]))
        else:
            lines.insert(at, lines[at])
    return "\n".join(lines).encode("utf-8")


@FUZZ
@given(
    data=drawn_then_damaged(),
    crs=st.sampled_from([None, 4528]),
    layers=st.sampled_from([None, ["0"], ["ZD"]]),
)
def test_damaged_drawings(data: bytes, crs: int | None, layers: list[str] | None) -> None:
    check_contract(data, "drawing.dxf", crs=crs, layers=layers)


GEOJSON_KEYS = [
    "type",
    "features",
    "geometry",
    "coordinates",
    "properties",
    "crs",
    "name",
    "geometries",
    "ZDDM",
    "MJ",
    "area",
]
GEOJSON_WORDS = [
    "Feature",
    "FeatureCollection",
    "Polygon",
    "MultiPolygon",
    "Point",
    "LineString",
    "GeometryCollection",
    "EPSG:4528",
    "urn:ogc:def:crs:EPSG::4490",
    CODE1,
]
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(GEOJSON_WORDS),
    st.text(max_size=6),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(GEOJSON_KEYS), children, max_size=5)
    ),
    max_leaves=30,
)


@st.composite
def geojson_like(draw: st.DrawFn) -> bytes:
    coords = draw(
        st.lists(
            st.tuples(
                st.floats(allow_nan=False, allow_infinity=False, width=32),
                st.floats(allow_nan=False, allow_infinity=False, width=32),
            ),
            max_size=8,
        )
    )
    geometry: Any = draw(
        st.one_of(
            JSON_VALUES,
            st.just(
                {
                    "type": draw(st.sampled_from(["Polygon", "MultiPolygon", "Point"])),
                    "coordinates": [coords],
                }
            ),
        )
    )
    feature = {
        "type": "Feature",
        "properties": draw(st.dictionaries(st.sampled_from(GEOJSON_KEYS), JSON_LEAVES, max_size=3)),
        "geometry": geometry,
    }
    rings = draw(
        st.lists(st.lists(st.tuples(COORD, COORD), min_size=2, max_size=7), min_size=1, max_size=3)
    )
    polygon = {
        "type": draw(st.sampled_from(["Polygon", "MultiPolygon"])),
        "coordinates": [[[E0 + x, N0 + y] for x, y in ring] for ring in rings],
    }
    if polygon["type"] == "MultiPolygon":
        polygon["coordinates"] = [polygon["coordinates"]]
    parcel = {
        "type": "Feature",
        "properties": {
            "ZDDM": draw(st.sampled_from([CODE1, "x", None, 5])),
            "MJ": draw(JSON_LEAVES),
        },
        "geometry": polygon,
    }
    doc: Any = draw(
        st.one_of(
            st.just({"type": "FeatureCollection", "features": [feature]}),
            st.just(
                {
                    "type": "FeatureCollection",
                    "features": [parcel, feature],
                    "crs": {"type": "name", "properties": {"name": "EPSG:4528"}},
                }
            ),
            JSON_VALUES,
        )
    )
    return json.dumps(doc).encode()


@FUZZ
@given(data=geojson_like(), crs=st.sampled_from([None, 4528]))
def test_geojson_like_text(data: bytes, crs: int | None) -> None:
    check_contract(data, "parcels.geojson", crs=crs)


@FUZZ
@given(
    rings=st.lists(
        st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=4, max_size=9),
        min_size=1,
        max_size=6,
    ),
    areas=st.lists(st.one_of(st.none(), st.floats(0, 1000)), min_size=6, max_size=6),
)
def test_validation_never_raises_on_random_polygons(
    rings: list[list[tuple[int, int]]], areas: list[float | None]
) -> None:
    parcels = []
    for k, ring in enumerate(rings):
        shifted = [(E0 + x, N0 + y) for x, y in ring]
        parcels.append(
            SurveyedParcel(
                Polygon(shifted),
                4528,
                f"feature {k + 1}",
                parcel_code=CODE1,
                declared_area=areas[k],
            )
        )
    report = validate(parcels)
    json.dumps(report.to_dict())
    for issue in report.issues:
        if issue.location:
            assert not math.isnan(shapely.from_wkt(issue.location).bounds[0])
