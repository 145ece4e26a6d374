"""Chinese text in PDFs, embedded: a TrueType subset of Noto Sans CJK SC for each document.

Debian's fonts-noto-cjk ships Noto Sans CJK as OpenType with PostScript (CFF) outlines, and
reportlab embeds only TrueType outlines. So we cut the font down to the characters a document
uses (fontTools' subsetter) and convert those outlines to quadratic TrueType curves (cu2qu):
a few hundred glyphs take about a second, and the PDF carries its own font, so it prints
the same everywhere, without relying on the reader's fonts.
"""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont as ReportlabTTFont

from portal.platform.errors import CadastreError

__all__ = ["CJK_FONT_PATHS", "FontMissing", "cjk_font_for"]

CJK_FONT_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
)
_SC_INDEX = 2  # within the collection: JP, KR, SC, TC, HK
_lock = threading.Lock()
_registered: set[str] = set()


class FontMissing(CadastreError, RuntimeError):
    """No Chinese font is installed (Debian package fonts-noto-cjk): the PDF cannot be made now.

    The person asking hears that much; the log names the package to install."""

    status = 503
    code = "font_missing"
    default_message = "the PDF cannot be made at the moment: a font is missing on the server"

    def __init__(self, log_message: str) -> None:
        super().__init__(log_message=log_message)


def _font_path() -> Path:
    for path in CJK_FONT_PATHS:
        if path.exists():
            return path
    raise FontMissing("Noto Sans CJK is not installed: install the Debian package fonts-noto-cjk "
                      "(scripts/setup does)")


def _truetype_subset(text: str) -> bytes:
    font = TTFont(_font_path(), fontNumber=_SC_INDEX, lazy=True)
    options = subset.Options()
    options.desubroutinize = True
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text + " ")
    subsetter.subset(font)

    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for attr in ("maxZones",):
        setattr(maxp, attr, 1)
    for attr in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                 "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, attr, 0)
    font["maxp"] = maxp
    font["head"].indexToLocFormat = 0
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 2.0
    font["post"].extraNames = []
    font["post"].mapping = {}
    font.sfntVersion = "\x00\x01\x00\x00"
    # Each subset gets its own face name: reportlab recognises embedded fonts by face name, so
    # two subsets both called NotoSansCJKsc-Regular would share one glyph table and the second
    # would print as blanks.
    unique = "NotoSansSC-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
    for record in font["name"].names:
        if record.nameID in (1, 3, 4, 6):
            record.string = unique
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def cjk_font_for(text: str) -> str:
    """Register (once per set of characters) a font that can draw `text`; return its name.

    Raises FontMissing when Noto Sans CJK is not installed.
    """
    characters = "".join(sorted(set(text)))
    name = "NotoSansSC-" + hashlib.sha1(characters.encode("utf-8")).hexdigest()[:12]
    with _lock:
        if name not in _registered:
            pdfmetrics.registerFont(ReportlabTTFont(name, io.BytesIO(_truetype_subset(characters))))
            _registered.add(name)
    return name
