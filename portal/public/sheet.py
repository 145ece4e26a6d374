"""The printable parcel sheet (宗地图): a one-or-more-page A4 PDF made with reportlab.

It carries the map extract (the parcel and its neighbours drawn from PostGIS geometry in the
survey CRS, so the scale bar is true), the boundary points table (界址点, northing X and easting
Y as the exchange format writes them, with edge lengths), the public attributes, the date and a
reference number with a QR code of its verification address (`/verify/sheet/<reference>`, see
`portal.public.sheet_verify`). Only public facts go on it, as on the map.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import shapely
import shapely.geometry
from reportlab.graphics.shapes import Drawing, Group, Line, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from portal.platform.clock import office_zone
from portal.public.schemas import ParcelPublic
from portal.public.sheet_verify import issue_reference
from portal.web.fonts import cjk_font_for
from portal.web.messages import district
from portal.web.templating import day, when
from spatial.crs import gauss_kruger_zone, is_projected, metres_per_unit
from spatial.errors import CrsError

__all__ = ["SheetData", "SheetPoint", "sheet_points", "sheet_srid", "reference_number", "render_sheet"]

MAP_WIDTH = 174 * mm
MAP_HEIGHT = 112 * mm


@dataclass(frozen=True)
class SheetPoint:
    """A boundary point as the sheet prints it: the surveyors' X = northing, Y = easting (the
    opposite of `spatial.model.BoundaryPoint`, whose x is the easting), hence named fields."""

    name: str
    ring: int
    northing: float  # printed as X
    easting: float  # printed as Y
    edge: float  # distance to the next point of the ring, metres


@dataclass(frozen=True)
class SheetData:
    parcel: ParcelPublic
    srid: int
    crs_name: str
    geometry: dict[str, Any]
    neighbours: list[dict[str, Any]]
    points: list[SheetPoint]
    printed_at: dt.datetime
    reference: str
    digitised_rms: float | None = None  # metres, when the parcel was digitised from a scanned drawing
    verify_url: str | None = None  # the reference's /verify/sheet/ address: printed, and as a QR code


def sheet_points(dumped: Iterable[list[Any]]) -> list[SheetPoint]:
    """ST_DumpPoints rows ([path], northing, easting) to named points J1, J2 ... without each
    ring's closing repeat, with the length of the edge to the next point."""
    rings: dict[tuple[int, ...], list[tuple[float, float]]] = {}
    for path, northing, easting in dumped:
        rings.setdefault(tuple(path[:-1]), []).append((float(northing), float(easting)))
    points: list[SheetPoint] = []
    for ring_number, key in enumerate(sorted(rings), start=1):
        ring = rings[key]
        if len(ring) > 1 and ring[0] == ring[-1]:
            ring = ring[:-1]
        for i, (northing, easting) in enumerate(ring):
            next_northing, next_easting = ring[(i + 1) % len(ring)]
            points.append(SheetPoint(f"J{len(points) + 1}", ring_number, northing, easting,
                                     math.hypot(next_northing - northing, next_easting - easting)))
    return points


def sheet_srid(survey_srid: int, lon: float) -> int:
    """The CRS a parcel's sheet is drawn and its boundary points listed in: always metres.

    The survey CRS when it is projected in metres (the surveyor's own coordinates); otherwise
    (a lon/lat upload) the CGCS2000 3-degree Gauss-Krüger zone, with zone prefix (EPSG:4513-4533),
    of the parcel's centroid at longitude `lon` (degrees east).
    """
    try:
        if is_projected(survey_srid) and metres_per_unit(survey_srid) == 1.0:
            return survey_srid
    except CrsError:
        pass  # a CRS PROJ does not know: fall back to the zone
    zone = min(max(round(lon / 3), 25), 45)  # zones covering China
    return gauss_kruger_zone(zone, width=3, prefixed=True).epsg


def reference_number(parcel: ParcelPublic, printed_at: dt.datetime, key: bytes) -> str:
    """ZDT-<parcel code>-V<version>-<UTC time>-<MAC>: names the parcel version and the moment
    printed, authenticated under the sheet `key` (`portal.public.sheet_verify.issue_reference`)."""
    return issue_reference(key, parcel.parcel_code, parcel.version, printed_at)


def crs_name(srtext: str | None, srid: int) -> str:
    match = re.match(r'\s*\w+\["([^"]+)"', srtext or "")
    return f"EPSG:{srid} {match.group(1)}" if match else f"EPSG:{srid}"


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


def _nice_length(target: float) -> float:
    exponent: float = 10 ** math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * exponent <= target:
            return step * exponent
    return exponent


def _map_extract(data: SheetData, font: str) -> Drawing:
    """Parcel (bold, its points named) and neighbours (grey, sequence numbers), north up."""
    own = _rings(data.geometry)
    xs = [p[0] for ring in own for p in ring]
    ys = [p[1] for ring in own for p in ring]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    # The parcel fills about 60% of the box; neighbours show around it.
    scale = min(MAP_WIDTH, MAP_HEIGHT) * 0.6 / span  # points per metre
    half_w, half_h = MAP_WIDTH / 2 / scale, MAP_HEIGHT / 2 / scale

    def to_page(e: float, n: float) -> tuple[float, float]:
        return MAP_WIDTH / 2 + (e - cx) * scale, MAP_HEIGHT / 2 + (n - cy) * scale

    drawing = Drawing(MAP_WIDTH, MAP_HEIGHT)
    drawing.add(Rect(0, 0, MAP_WIDTH, MAP_HEIGHT, strokeColor=colors.black, fillColor=None,
                     strokeWidth=0.6))
    shapes = Group()
    view = shapely.box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    for neighbour in data.neighbours:
        clipped = shapely.geometry.shape(neighbour["geometry"]).intersection(view)
        for polygon in getattr(clipped, "geoms", [clipped]):
            if polygon.geom_type != "Polygon" or polygon.is_empty:
                continue
            for ring in [polygon.exterior, *polygon.interiors]:
                flat = [c for e, n in ring.coords for c in to_page(e, n)]
                shapes.add(Polygon(flat, strokeColor=colors.HexColor("#8a8a8a"), strokeWidth=0.4,
                                   fillColor=colors.HexColor("#f2f2f2")))
            label = polygon.representative_point()
            if polygon.area * scale * scale > 120:  # room for a label (in square points)
                px, py = to_page(label.x, label.y)
                shapes.add(String(px, py - 2, neighbour["parcel_code"][-5:], fontName=font,
                                  fontSize=6.5, fillColor=colors.HexColor("#555555"),
                                  textAnchor="middle"))
    for ring in own:
        flat = [c for e, n in ring for c in to_page(e, n)]
        shapes.add(Polygon(flat, strokeColor=colors.HexColor("#b3261e"), strokeWidth=1.6,
                           fillColor=colors.HexColor("#fde9e7")))
    px, py = to_page(cx, cy)
    shapes.add(String(px, py, data.parcel.parcel_code[-5:], fontName=font, fontSize=9,
                      fillColor=colors.HexColor("#b3261e"), textAnchor="middle"))
    for point in data.points:
        qx, qy = to_page(point.easting, point.northing)
        shapes.add(Rect(qx - 1.2, qy - 1.2, 2.4, 2.4, fillColor=colors.black, strokeColor=None))
        shapes.add(String(qx + 2.5, qy + 2.5, point.name, fontName=font, fontSize=6.5))
    drawing.add(shapes)
    # North arrow and scale bar.
    nx, ny = MAP_WIDTH - 10 * mm, MAP_HEIGHT - 16 * mm
    drawing.add(Polygon([nx, ny + 10 * mm, nx - 2.5 * mm, ny, nx + 2.5 * mm, ny],
                        fillColor=colors.black, strokeColor=None))
    drawing.add(String(nx, ny + 11.5 * mm, "N", fontName=font, fontSize=9, textAnchor="middle"))
    metres = _nice_length(MAP_WIDTH * 0.25 / scale)
    bar = metres * scale
    drawing.add(Line(6 * mm, 5 * mm, 6 * mm + bar, 5 * mm, strokeWidth=1.5))
    for x in (6 * mm, 6 * mm + bar):
        drawing.add(Line(x, 4 * mm, x, 6 * mm, strokeWidth=1))
    ratio = round(1 / (scale / mm * 0.001) / 10) * 10  # metres on the ground per metre on paper
    drawing.add(String(6 * mm, 7 * mm, f"{metres:g} m   1:{ratio:,}", fontName=font, fontSize=7))
    return drawing


QR_SIZE = 24 * mm  # a phone reads it from reading distance


def _verification_qr(verify_url: str) -> Drawing:
    """The QR code (ISO/IEC 18004, error correction M, reportlab's own encoder, as the check
    certificate's) of the sheet's verification address, QR_SIZE square."""
    from reportlab.graphics.barcode.qr import QrCodeWidget

    code = QrCodeWidget(verify_url, barLevel="M")
    x0, y0, x1, y1 = code.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(code)
    return drawing


def _labels(language: str) -> dict[str, str]:
    zh = {"title": "宗地图", "code": "宗地代码", "area": "宗地面积", "land_use": "土地用途",
          "admin": "行政区", "registered": "登记日期", "version": "版本", "units": "不动产单元",
          "crs": "坐标系", "printed": "打印日期", "reference": "参考号", "points": "界址点坐标表",
          "point": "点号", "ring": "环", "x": "X（北坐标）/米", "y": "Y（东坐标）/米",
          "edge": "边长/米", "map": "宗地示意图（相邻宗地以灰色表示）", "sqm": "平方米",
          "retired": "该宗地已注销", "digitised": "由扫描图数字化，配准中误差 {rms:.3f} 米",
          "verify": "核验网址", "scan": "扫码核验",
          "notice": "本图仅公开宗地几何、代码、面积、用途、行政区与日期，不含权利人及限制信息。"}
    en = {"title": "Parcel sheet", "code": "Parcel code", "area": "Area", "land_use": "Land use",
          "admin": "Administrative area", "registered": "Registered on", "version": "Version",
          "units": "Units", "crs": "Coordinate system", "printed": "Printed",
          "reference": "Reference", "points": "Boundary points", "point": "Point", "ring": "Ring",
          "x": "X (northing) m", "y": "Y (easting) m", "edge": "Edge m",
          "map": "Map extract (neighbouring parcels in grey)", "sqm": "m²",
          "retired": "This parcel is retired", "digitised": "Digitised from a scan; georeferencing RMS {rms:.3f} m",
          "verify": "Verify at", "scan": "Scan to verify",
          "notice": "Public facts only: geometry, code, area, land use, administrative area and "
                    "dates; no right holders or restrictions."}
    return en if language == "en" else zh


def render_sheet(data: SheetData, language: str, zone: dt.tzinfo | None = None) -> bytes:
    """The PDF bytes, dates and the printing time on the office's clock (`zone`, default
    Asia/Shanghai), labelled with it. Raises fonts.FontMissing when no Chinese font is installed."""
    t = _labels(language)
    zone = zone or office_zone()
    p = data.parcel
    land_use = f"{p.land_use.code} {p.land_use.name_en if language == 'en' else p.land_use.name_zh}"
    area = district(p.admin_area.code, p.admin_area.name, language)
    attributes = [
        (t["code"], p.parcel_code), (t["area"], f"{p.area:,.2f} {t['sqm']}"),
        (t["land_use"], land_use), (t["admin"], f"{area} ({p.admin_area.code})"),
        (t["registered"], day(p.valid_from, language, zone)),
        (t["version"], f"{p.version} ({day(p.begin_lifespan, language, zone)})"),
        (t["units"], str(len(p.units))), (t["crs"], data.crs_name),
        (t["printed"], when(data.printed_at, language, zone, zone=True)), (t["reference"], data.reference),
    ]
    point_rows = [[pt.name, str(pt.ring), f"{pt.northing:.3f}", f"{pt.easting:.3f}", f"{pt.edge:.3f}"]
                  for pt in data.points]
    text = "".join([*(str(v) for pair in attributes for v in pair), *t.values(),
                    *("".join(r) for r in point_rows), *(n["parcel_code"] for n in data.neighbours),
                    data.verify_url or "",
                    string.printable, "·×²"])
    font = cjk_font_for(text)

    title = ParagraphStyle("title", fontName=font, fontSize=17, leading=22, spaceAfter=2)
    small = ParagraphStyle("small", fontName=font, fontSize=8, leading=11,
                           textColor=colors.HexColor("#555555"))
    heading = ParagraphStyle("heading", fontName=font, fontSize=11, leading=15, spaceBefore=6,
                             spaceAfter=3)
    cell = ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11)

    heading_lines: list[Any] = [
        Paragraph(f"{t['title']} · {p.parcel_code}", title),
        Paragraph(f"{t['reference']}: {data.reference} · {t['printed']}: "
                  f"{day(data.printed_at, language, zone)}", small),
    ]
    story: list[Any]
    if data.verify_url:
        heading_lines.append(Paragraph(f"{t['verify']}: {escape(data.verify_url)}", small))
        caption = ParagraphStyle("caption", parent=small, alignment=1, fontSize=6.5, leading=8)
        top = Table([[heading_lines, [_verification_qr(data.verify_url), Paragraph(t["scan"], caption)]]],
                    colWidths=[MAP_WIDTH - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm])
        top.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                 ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 0)]))
        story = [top]
    else:
        story = heading_lines
    if not p.current:
        story.append(Paragraph(t["retired"], small))
    if data.digitised_rms is not None:
        story.append(Paragraph(t["digitised"].format(rms=data.digitised_rms), small))
    story += [Spacer(1, 3 * mm), Paragraph(t["map"], heading), _map_extract(data, font),
              Spacer(1, 3 * mm)]
    attr_table = Table([[Paragraph(escape(k), cell), Paragraph(escape(v), cell)]
                        for k, v in attributes], colWidths=[38 * mm, 136 * mm])
    attr_table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f3f6")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story.append(attr_table)
    story.append(Paragraph(t["points"] + f" ({data.crs_name})", heading))
    header = [t["point"], t["ring"], t["x"], t["y"], t["edge"]]
    points_table = Table([header] + point_rows, repeatRows=1,
                         colWidths=[20 * mm, 14 * mm, 50 * mm, 50 * mm, 40 * mm])
    points_table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), font, 8.5),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f3f6")),
        ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
    ]))
    story += [points_table, Spacer(1, 4 * mm), Paragraph(t["notice"], small)]

    out = io.BytesIO()

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.drawString(18 * mm, 10 * mm, f"{data.reference}")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"{doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            topMargin=14 * mm, bottomMargin=16 * mm,
                            title=f"{t['title']} {p.parcel_code}", author="Cadastre",
                            subject=data.reference)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
