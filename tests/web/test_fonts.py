"""The Chinese font subsets: two documents with different characters in one process both print
their text (reportlab matches embedded fonts by face name, so every subset needs its own)."""

from __future__ import annotations

import io

from pypdf import PdfReader
from reportlab.pdfgen import canvas

from portal.web.fonts import cjk_font_for


def _printed(text: str) -> str:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.setFont(cjk_font_for(text), 12)
    page.drawString(50, 700, text)
    page.save()
    return PdfReader(io.BytesIO(buffer.getvalue())).pages[0].extract_text()


def test_successive_subsets_each_print_their_own_text() -> None:
    first, second = "不动产登记信息查询证明 ABC 123", "宗地图 界址点 ZDT-330102 XYZ"
    assert _printed(first).strip() == first
    assert _printed(second).strip() == second
