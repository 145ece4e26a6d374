"""The printable certificate of a restriction check (PDF), in Chinese and English.

reportlab embeds TrueType outlines only, and Debian's Noto Sans CJK (fonts-noto-cjk) has
PostScript (CFF) outlines. So for each certificate the font is cut down with fontTools to the
characters the certificate uses and its outlines converted to TrueType quadratics; reportlab
then embeds that small font, and the text stays extractable (a ToUnicode map is written).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from portal.web.messages import label

__all__ = ["certificate_pdf"]

FLAG_ROWS = (
    ("co_owned", "holders", "共有", "co-owned"),
    ("mortgaged", "mortgages", "抵押", "mortgaged"),
    ("seized", "seizures_active", "查封", "seized"),
    (None, "seizures_queued", "轮候查封", "queued seizures"),
    ("under_objection", "objections", "异议", "objection"),
    ("advance_notice", "advance_notices", "预告登记", "advance notice"),
)


def _font_for(characters: str) -> str:
    """The one Chinese-font helper of the portal (portal.web.fonts), shared with the parcel sheet."""
    from portal.web.fonts import cjk_font_for

    return cjk_font_for(characters)


def _yes(value: bool) -> str:
    return "有 yes" if value else "无 no"


def _office_time(iso: str, zone: dt.tzinfo) -> str:
    """The moment in office time, with its offset as people write it (UTC+8)."""
    moment = dt.datetime.fromisoformat(iso).astimezone(zone)
    offset = moment.utcoffset() or dt.timedelta()
    hours, minutes = divmod(abs(int(offset.total_seconds())) // 60, 60)
    sign = "-" if offset < dt.timedelta() else "+"
    return f"{moment:%Y-%m-%d %H:%M:%S} (UTC{sign}{hours}{f':{minutes:02d}' if minutes else ''})"


def _lines(statement: dict[str, Any], verify_url: str, zone: dt.tzinfo) -> list[tuple[str, int]]:
    """(text, size) lines of the certificate: what the check stated, flags only."""
    lines: list[tuple[str, int]] = [
        ("不动产登记限制状况查询证明", 18),
        ("Certificate of restriction check (real estate register)", 11),
        ("", 8),
        (f"查询编号 Reference: {statement['reference']}", 11),
        (f"查询时间 As of: {_office_time(statement['as_of'], zone)}", 11),
        (f"查询对象 Query: {label('query_kind', statement['query']['kind'], 'zh-CN')} "
         f"{label('query_kind', statement['query']['kind'], 'en')} {statement['query']['value']}", 11),
        ("", 8),
    ]
    for unit in statement["units"]:
        lines.append((f"不动产单元号 Unit {unit['unit_number']}", 12))
        lines.append((f"  坐落 Location: {unit['location']}", 10))
        for flag, count, zh, en in FLAG_ROWS:
            value = unit[count] > 0 if flag is None else unit[flag]
            lines.append((f"  {zh} {en}: {_yes(value)} ({unit[count]})", 10))
        lines.append(("", 6))
    lines += [
        ("", 8),
        (f"验证码 Verification code: {verify_url.rsplit('/', 1)[-1]}", 11),
        (f"核验 Verify at: {verify_url}", 10),
        ("本证明仅反映查询时刻登记簿的记载。 This certificate states the register at the time of the check.", 9),
    ]
    return lines


def _wrap(text: str, font: str, size: int, width: float) -> Iterable[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    line = ""
    for char in text:
        if stringWidth(line + char, font, size) > width:
            yield line
            line = "    " + char
        else:
            line += char
    yield line


_QR_SIZE = 96  # points (34 mm): a phone reads it from arm's length


def _verification_qr(pdf: Any, verify_url: str, right: float, top: float) -> float:
    """Draw the QR code of the certificate's /verify/ address (ISO/IEC 18004, error correction
    M, by reportlab's own encoder) with its top-right corner at (`right`, `top`) in points;
    returns the y of its bottom edge."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing

    code = QrCodeWidget(verify_url, barLevel="M")
    x0, y0, x1, y1 = code.getBounds()
    drawing = Drawing(_QR_SIZE, _QR_SIZE, transform=[_QR_SIZE / (x1 - x0), 0, 0, _QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(code)
    renderPDF.draw(drawing, pdf, right - _QR_SIZE, top - _QR_SIZE)
    return top - _QR_SIZE


def certificate_pdf(statement: dict[str, Any], verify_url: str, zone: dt.tzinfo) -> bytes:
    """The certificate as PDF bytes (A4), times in office time (`zone`). CPU-bound: call it from a thread."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    lines = _lines(statement, verify_url, zone)
    characters = "".join(sorted(set("".join(t for t, _ in lines)) | set("0123456789 -:./()")))
    font = _font_for(characters)
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"Restriction check {statement['reference']}")
    width, height = A4
    margin = 56
    qr_bottom = _verification_qr(pdf, verify_url, width - margin, height - margin)
    y = height - margin
    for text, size in lines:
        beside_qr = y > qr_bottom - 6  # lines level with the code leave room for it
        usable = width - 2 * margin - (_QR_SIZE + 12 if beside_qr else 0)
        for part in _wrap(text, font, size, usable) if text else [""]:
            if y < margin:
                pdf.showPage()
                y = height - margin
            pdf.setFont(font, size)
            pdf.drawString(margin, y, part)
            y -= size * 1.5
    pdf.showPage()
    pdf.save()
    return out.getvalue()
