"""Reader for the boundary-point coordinate exchange file (界址点坐标交换格式, .txt).

The format is simple and written by many tools, each a little differently: GBK or UTF-8,
full-width commas, blank zone numbers, rings that do not repeat their first point, headers
with fields missing. The reader accepts all of that, repairs what it can with a warning,
and stops with a ReadError naming the line and field only where a coordinate is unusable.

Coordinates: X in the file is the northing and Y the easting; parcels come out with
x = easting, y = northing. Areas in the parcel header are hectares; parcels carry m².
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from spatial.codes import CodeError, parse_parcel_code
from spatial.crs import Datum, gauss_kruger_zone, resolve_crs, zone_for_meridian, zone_of_easting
from spatial.errors import CrsError, ReadError
from spatial.model import BoundaryPoint, ReadResult, SurveyedParcel
from spatial.readers._rings import RawRing, assemble_polygon
from spatial.readers._text import decode_text, is_integer, parse_number, split_lines, to_half_width
from spatial.report import Issue, IssueCode

__all__ = ["read_exchange", "looks_like_exchange"]

HECTARE = 10_000.0
_SECTION = re.compile(r"^\[(.*)\]$")
_KINDS = {"点", "线", "面"}
_LAND_USE = re.compile(r"\d{2,4}")
_CODE_LIKE = re.compile(r"\d{6}[0-9A-Za-z]{6,}")


@dataclass(slots=True)
class _Point:
    line: int
    name: str
    ring: int
    x: float  # easting (the file's Y)
    y: float  # northing (the file's X)


@dataclass(slots=True)
class _Header:
    line: int
    fields: list[str]
    points: list[_Point] = field(default_factory=list)


@dataclass(slots=True)
class _Parsed:
    attributes: dict[str, tuple[str, int]]
    headers: list[_Header]
    issues: list[Issue]


def looks_like_exchange(text: str) -> bool:
    """True when the text has the exchange file's section markers."""
    head = to_half_width(text[:4000])
    return "[地块坐标]" in head or "[属性描述]" in head


def read_exchange(
    path: str | Path, *, crs: int | None = None, filename: str | None = None
) -> ReadResult:
    """Read every parcel of an exchange file; `crs` (EPSG) overrides what the header says.

    Raises ReadError for undecodable text, a point line whose coordinates are not numbers,
    or a file without parcels; CrsError when the CRS cannot be told from the header and the
    eastings (and `crs` is not given).
    """
    name = filename or Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReadError(f"cannot be opened: {exc.strerror or exc}", file=name) from exc
    parsed = _parse(decode_text(data, name), name)
    points = [p for h in parsed.headers for p in h.points]
    if not points:
        raise ReadError(
            "holds no parcel: expected a [地块坐标] section with a parcel header line "
            "(point count, area, parcel code, ..., @) followed by point lines (name, ring, X, Y)",
            file=name,
        )
    issues = parsed.issues
    if crs is None:
        epsg = _crs_from_header(parsed.attributes, points, name)
    else:
        resolve_crs(crs)
        epsg = crs
        try:
            declared = _crs_from_header(parsed.attributes, points, name)
        except CrsError:
            declared = None
        if declared is not None and declared != crs:
            issues.append(
                Issue(
                    "warning",
                    IssueCode.CRS_OVERRIDDEN,
                    f"the header describes EPSG:{declared}; EPSG:{crs} was used as requested",
                    details={"declared": declared, "used": crs},
                )
            )
    parcels = [_parcel(h, epsg) for h in parsed.headers if h.points]
    for h in parsed.headers:
        if not h.points:
            issues.append(
                Issue(
                    "warning",
                    IssueCode.EMPTY,
                    "parcel header without any point line; the parcel was skipped",
                    place=f"line {h.line}",
                )
            )
    stated = bool(_attribute(parsed.attributes, "带号")[0])
    return ReadResult(file=name, crs=epsg, parcels=parcels, issues=issues, format="exchange",
                      crs_source="uploader" if crs is not None else "file" if stated else "zone_prefix")


def _parse(text: str, name: str) -> _Parsed:
    attributes: dict[str, tuple[str, int]] = {}
    headers: list[_Header] = []
    issues: list[Issue] = []
    for number, raw in enumerate(split_lines(text), start=1):
        line = to_half_width(raw).strip()
        if not line:
            continue
        if _SECTION.match(line):
            continue
        key, sep, value = line.partition("=")
        if sep and "," not in key:
            attributes[key.strip()] = (value.strip(), number)
            continue
        fields = [f.strip() for f in line.split(",")]
        while fields and not fields[-1]:
            fields.pop()
        kind = _classify(fields)
        if kind == "header":
            if fields[-1].endswith("@"):
                fields[-1] = fields[-1][:-1].strip()
                if not fields[-1]:
                    fields.pop()
            headers.append(_Header(number, fields))
        elif kind == "point":
            if not headers:
                raise ReadError(
                    "point line before any parcel header line "
                    "(point count, area, parcel code, ..., @)",
                    file=name,
                    line=number,
                )
            headers[-1].points.append(_point(fields, number, name))
        else:
            issues.append(
                Issue(
                    "warning",
                    IssueCode.LINE_IGNORED,
                    f"line not understood and ignored: {line[:60]!r}",
                    place=f"line {number}",
                )
            )
    return _Parsed(attributes, headers, issues)


def _classify(fields: list[str]) -> str:
    if not fields:
        return "other"
    if fields[-1].endswith("@") or len(fields) >= 5:
        return "header"
    if len(fields) == 4:
        c0, c1, c2, c3 = fields
        looks_header = (
            is_integer(c0)
            and parse_number(c1) is not None
            and not is_integer(c1)
            and not (parse_number(c2) is not None and parse_number(c3) is not None)
        )
        return "header" if looks_header else "point"
    if len(fields) in (2, 3) and is_integer(fields[0]):
        return "header"
    return "other"


def _point(fields: list[str], number: int, name: str) -> _Point:
    point_name, ring_text, x_text, y_text = fields
    if not is_integer(ring_text):
        raise ReadError(
            f"{ring_text!r} is not a ring number (1 = outer boundary)",
            file=name,
            line=number,
            field="ring",
        )
    northing = parse_number(x_text)
    if northing is None:
        raise ReadError(f"{x_text!r} is not a number", file=name, line=number, field="X")
    easting = parse_number(y_text)
    if easting is None:
        raise ReadError(f"{y_text!r} is not a number", file=name, line=number, field="Y")
    return _Point(number, point_name, int(ring_text), easting, northing)


@dataclass(slots=True)
class _HeaderValues:
    count: int | None = None
    area: float | None = None
    code: str | None = None
    name: str | None = None
    kind: str | None = None
    land_use: str | None = None
    issues: list[Issue] = field(default_factory=list)


def _header_values(header: _Header) -> _HeaderValues:
    """Read header fields by content, so that a missing or shifted field does not shift the rest."""
    out = _HeaderValues()
    rest = list(header.fields)
    place = f"line {header.line}"
    if rest and is_integer(rest[0]):
        out.count = int(rest.pop(0))
    elif rest and not rest[0]:
        rest.pop(0)
    if rest and parse_number(rest[0]) is not None:
        out.area = round(float(rest.pop(0)) * HECTARE, 6)
    elif rest and not rest[0]:
        rest.pop(0)
    elif len(rest) >= 2 and _is_code(rest[1]) and not _is_code(rest[0]):
        bad = rest.pop(0)
        out.issues.append(
            Issue(
                "error",
                IssueCode.BAD_VALUE,
                f"field area: {bad!r} is not a number (hectares)",
                place=place,
                details={"field": "area", "value": bad},
            )
        )
    code_at = next((i for i, f in enumerate(rest) if _is_code(f)), None)
    if code_at is None:
        code_at = next((i for i, f in enumerate(rest) if _CODE_LIKE.fullmatch(f)), None)
    if code_at is None and rest and rest[0] and rest[0] not in _KINDS:
        code_at = 0
    if code_at is not None:
        out.code = rest[code_at] or None
        after = rest[code_at + 1 :]
    else:
        after = rest
    for value in after:
        if value in _KINDS:
            out.kind = value
    if (
        code_at is not None
        and after
        and after[0]
        and after[0] not in _KINDS
        and not _LAND_USE.fullmatch(after[0])
    ):
        out.name = after[0]
    land_use = [v for v in after if _LAND_USE.fullmatch(v)]
    if land_use:
        out.land_use = land_use[-1]
    return out


def _is_code(text: str) -> bool:
    try:
        parse_parcel_code(text)
    except CodeError:
        return False
    return True


def _rings(points: list[_Point]) -> list[list[_Point]]:
    """Runs of one ring number; a run that returns to its start and goes on starts a new ring."""
    rings: list[list[_Point]] = []
    for p in points:
        current = rings[-1] if rings else None
        if current is None or current[-1].ring != p.ring:
            rings.append([p])
            continue
        first = current[0]
        closed = len(current) >= 4 and (current[-1].x, current[-1].y) == (first.x, first.y)
        if closed:
            rings.append([p])
        else:
            current.append(p)
    return rings


def _parcel(header: _Header, epsg: int) -> SurveyedParcel:
    values = _header_values(header)
    place = f"line {header.line}"
    issues = list(values.issues)
    runs = _rings(header.points)
    raw = [RawRing([(p.x, p.y) for p in run], run[0].ring, f"line {run[0].line}") for run in runs]
    geometry, ring_issues = assemble_polygon(raw)
    issues.extend(ring_issues)
    if values.kind in ("点", "线"):
        issues.append(
            Issue(
                "warning",
                IssueCode.NOT_POLYGON,
                f"geometry kind is {values.kind!r}, not '面' (polygon); "
                "the points were read as a polygon",
                place=place,
                details={"field": "kind", "value": values.kind},
            )
        )
    boundary_points: list[BoundaryPoint] = []
    for run in runs:
        body = run[:-1] if len(run) > 1 and (run[-1].x, run[-1].y) == (run[0].x, run[0].y) else run
        boundary_points.extend(BoundaryPoint(p.name, p.x, p.y, p.ring) for p in body)
    listed = len(header.points)
    unique = len(boundary_points)
    if values.count is not None and values.count not in (listed, unique, unique + len(runs)):
        issues.append(
            Issue(
                "warning",
                IssueCode.POINT_COUNT_MISMATCH,
                f"field point count: the header says {values.count} points, "
                f"{listed} point lines follow",
                place=place,
                details={"field": "point count", "declared": values.count, "listed": listed},
            )
        )
    return SurveyedParcel(
        geometry=geometry,
        crs=epsg,
        place=place,
        parcel_code=values.code,
        declared_area=values.area,
        land_use_code=values.land_use,
        name=values.name,
        boundary_points=boundary_points,
        warnings=issues,
    )


# --- coordinate reference system -------------------------------------------------------


def _attribute(attributes: dict[str, tuple[str, int]], *keys: str) -> tuple[str, int | None]:
    for key in keys:
        if key in attributes:
            return attributes[key]
    return "", None


def _datum(text: str, line: int | None, name: str) -> Datum:
    compact = text.replace(" ", "").upper()
    if not compact or "2000" in compact or "CGCS" in compact:
        return "CGCS2000"
    if "80" in compact or "西安" in compact or "XIAN" in compact:
        return "Xian1980"
    if "54" in compact or "北京" in compact or "BEIJING" in compact:
        return "Beijing1954"
    raise CrsError(
        f"{text!r} is not a coordinate system the portal can place "
        "(2000国家大地坐标系, 1980西安坐标系 or 1954北京坐标系); "
        "state the EPSG code when uploading",
        file=name,
        line=line,
        field="坐标系",
    )


def _crs_from_header(
    attributes: dict[str, tuple[str, int]], points: list[_Point], name: str
) -> int:
    """EPSG code from 坐标系 / 几度分带 / 带号 and the eastings' zone prefix."""
    system, system_line = _attribute(attributes, "坐标系", "坐标系统")
    width_text, width_line = _attribute(attributes, "几度分带", "分带")
    zone_text, zone_line = _attribute(attributes, "带号")
    unit, unit_line = _attribute(attributes, "计量单位", "单位")
    if unit and unit.lower() not in ("米", "m", "metre", "meter", "metres", "meters"):
        raise CrsError(
            f"coordinates in {unit!r} are not supported; the exchange file must be in metres (米)",
            file=name,
            line=unit_line,
            field="计量单位",
        )
    datum = _datum(system, system_line, name)
    width: int | None = None
    if width_text:
        digits = re.sub(r"[^0-9]", "", width_text)
        if digits not in ("3", "6"):
            raise CrsError(
                f"{width_text!r} is not 3 or 6 (degrees per zone)",
                file=name,
                line=width_line,
                field="几度分带",
            )
        width = int(digits)
    zone: int | None = None
    if zone_text:
        if not is_integer(zone_text):
            raise CrsError(
                f"{zone_text!r} is not a zone number", file=name, line=zone_line, field="带号"
            )
        zone = int(zone_text)
    prefixes = {zone_of_easting(p.x) for p in points}
    first = points[0]
    if len(prefixes) > 1:
        odd = next(p for p in points if zone_of_easting(p.x) != zone_of_easting(first.x))
        raise CrsError(
            f"easting {odd.x!r} is not in the zone of the first point's easting {first.x!r} "
            "(the zone number prefix differs)",
            file=name,
            line=odd.line,
            field="Y",
        )
    prefix = prefixes.pop()
    if prefix is not None and zone is not None and prefix != zone:
        raise CrsError(
            f"带号 says zone {zone} but the eastings carry the zone prefix {prefix} "
            f"(line {first.line})",
            file=name,
            line=zone_line,
            field="带号",
        )
    if prefix is None:
        if first.x >= 1_000_000 or first.x < 0:
            raise CrsError(
                f"easting {first.x!r} is neither a zone-prefixed easting nor one of a single zone",
                file=name,
                line=first.line,
                field="Y",
            )
        if zone is None:
            raise CrsError(
                "带号 (zone number) is blank and the eastings carry no zone prefix, so the zone "
                "cannot be told: fill in 带号 or state the EPSG code when uploading",
                file=name,
                line=zone_line,
                field="带号",
            )
    try:
        if prefix is None and zone is not None and 75 <= zone <= 135:
            # Some tools write the central meridian (120) where the zone number (40) belongs.
            gk = zone_for_meridian(zone, width=width or 3, prefixed=False, datum=datum)
        else:
            number = prefix if prefix is not None else zone or 0
            gk = gauss_kruger_zone(number, width=width, prefixed=prefix is not None, datum=datum)
    except CrsError as exc:
        raise CrsError(exc.message, file=name, line=zone_line or width_line, field="带号") from exc
    return gk.epsg
