"""What an uploaded scan is, decided from its bytes, and its pages rendered: both run in the
limited worker process of `spatial.readers.isolated.run_isolated`, never in the app.

`inspect_file(path, max_pixels, max_pages)` returns `Facts` for an accepted file or a `Refusal`
with a stable reason (translated as `archive.refusal.<reason>` in the catalogues):

    executable          a program (Windows PE "MZ", ELF, Mach-O, a script "#!"), whatever its name
    unsupported_type    not a PDF, TIFF, JPEG or PNG
    unreadable          the format's own parser (Pillow, pypdf, PDFium) cannot read it
    pixel_limit         a page has more pixels than allowed (decompression bombs)
    page_limit          more pages than allowed
    pdf_encrypted       an encrypted PDF (its content cannot be checked or kept readable)
    pdf_javascript      a PDF with JavaScript (/JavaScript, /JS)
    pdf_launch_action   a PDF that launches programs or opens other files (/Launch, /GoToE, /ImportData...)
    pdf_embedded_file   a PDF carrying embedded files (/EmbeddedFile, /EmbeddedFiles, /RichMedia)
    pdf_action          a PDF with an action but an internal go-to (/GoToR, /URI, /Rendition, /Movie, /Sound...)
    pdf_xfa             a PDF with an XFA form (/XFA: its own scripting)
    pdf_header          a PDF whose header (%PDF-) is not at the start (HTML or a script before it)

Actions are looked for wherever they are (/OpenAction, /AA, a link's /A, /Next); /GoToR to a UNC
path leaks the reader's Windows credentials. HTML before the header runs in a browser that sniffs.

Messages never hold a server path (the worker's temporary file is named "the file").

`render_page(path, media_type, page, max_side)` gives one page (1-based) as PNG bytes whose
longer side is at most `max_side` pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

__all__ = ["Facts", "Refusal", "MEDIA_TYPES", "inspect_file", "render_page", "render_full", "sniff"]

MEDIA_TYPES = ("application/pdf", "image/tiff", "image/jpeg", "image/png")

_EXECUTABLES = (
    (b"MZ", "a Windows program (MZ/PE)"),
    (b"\x7fELF", "a Linux program (ELF)"),
    (b"\xcf\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java program"),
    (b"#!", "a script"),
)
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
_PDF_FORBIDDEN = {
    "/JavaScript": "pdf_javascript", "/JS": "pdf_javascript",
    "/Launch": "pdf_launch_action", "/GoToE": "pdf_launch_action", "/ImportData": "pdf_launch_action",
    "/SubmitForm": "pdf_launch_action",
    "/EmbeddedFile": "pdf_embedded_file", "/EmbeddedFiles": "pdf_embedded_file", "/RichMedia": "pdf_embedded_file",
    "/XFA": "pdf_xfa",
}
# Actions (ISO 32000-1 12.6.4): only these move within the document; every other type is refused.
_PDF_SAFE_ACTIONS = frozenset({"/GoTo", "/Named"})
_PDF_ACTIONS = frozenset({
    "/GoTo", "/GoToR", "/GoToE", "/GoToDp", "/Launch", "/Thread", "/URI", "/Sound", "/Movie", "/Hide", "/Named",
    "/SubmitForm", "/ResetForm", "/ImportData", "/JavaScript", "/SetOCGState", "/Rendition", "/Trans",
    "/GoTo3DView", "/RichMediaExecute"})
_PDF_ACTION_REASONS = {"/JavaScript": "pdf_javascript", "/Launch": "pdf_launch_action",
                       "/GoToE": "pdf_launch_action", "/ImportData": "pdf_launch_action",
                       "/SubmitForm": "pdf_launch_action"}
# Keys whose value is an action (or, /AA, a dictionary of actions; /Next, one or an array of them).
_PDF_ACTION_KEYS = frozenset({"/A", "/OpenAction", "/Next", "/PA"})
_PDF_LEADING = b" \t\r\n\f\x00"
_PDF_MAX_OBJECTS = 500_000


@dataclass(frozen=True)
class Facts:
    """An accepted file: media type, page count, first page's size (pixels; PDF: points)."""

    media_type: str
    pages: int
    width: int
    height: int


@dataclass(frozen=True)
class Refusal:
    """A refused file: `reason` is stable (see the module docstring), `message` says why in English."""

    reason: str
    message: str


def sniff(head: bytes) -> tuple[str | None, str | None]:
    """(media type, None) from the first bytes, or (None, what program it is), or (None, None)."""
    for magic, what in _EXECUTABLES:
        if head.startswith(magic):
            return None, what
    for magic, media_type in _SIGNATURES:
        if head.startswith(magic):
            return media_type, None
    return None, None


def _pdf_header_later(head: bytes) -> bool:
    """Whether `head` holds a PDF header after other content (PDF readers allow 1024 bytes of junk
    before it; the archive allows only whitespace or a UTF-8 byte-order mark)."""
    return b"%PDF-" in head[:1024] and not head.removeprefix(b"\xef\xbb\xbf").lstrip(_PDF_LEADING).startswith(b"%PDF-")


def _plain(error: BaseException, path: str) -> str:
    """The parser's words about `error` without the server path of the file."""
    return str(error).replace(path, "the file")


def inspect_file(path: str, max_pixels: int, max_pages: int) -> Facts | Refusal:
    """The facts of the file at `path`, or why it is refused (see the module docstring)."""
    with open(path, "rb") as f:
        head = f.read(1024)
    media_type, program = sniff(head)
    if media_type is None and not program:
        if _pdf_header_later(head):
            return Refusal("pdf_header", "the PDF header (%PDF-) is not at the start of the file: save the PDF "
                                         "again without what comes before it")
        if head.removeprefix(b"\xef\xbb\xbf").lstrip(_PDF_LEADING).startswith(b"%PDF-"):
            media_type = "application/pdf"
    if program:
        return Refusal("executable", f"the file is {program}, not a scan: only PDF, TIFF, JPEG and PNG are kept")
    if media_type is None:
        return Refusal("unsupported_type", "the file is not a PDF, TIFF, JPEG or PNG (decided from its content, "
                                           "not its name)")
    if media_type == "application/pdf":
        return _inspect_pdf(path, max_pages)
    return _inspect_image(path, media_type, max_pixels, max_pages)


def _inspect_image(path: str, media_type: str, max_pixels: int, max_pages: int) -> Facts | Refusal:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow raises DecompressionBombError at twice this
    try:
        with Image.open(path) as image:
            if Image.MIME.get(image.format or "") != media_type:
                return Refusal("unreadable", f"the file starts like {media_type} but Pillow reads it as "
                                             f"{image.format}")
            width, height = image.size
            pages = int(getattr(image, "n_frames", 1))
            if pages > max_pages:
                return Refusal("page_limit", f"the file has {pages} pages; at most {max_pages} are allowed")
            for frame in range(pages):
                image.seek(frame)
                w, h = image.size
                if w * h > max_pixels:
                    return Refusal("pixel_limit", f"page {frame + 1} has {w} x {h} = {w * h:,} pixels; at most "
                                                  f"{max_pixels:,} are allowed (decompression bomb limit)")
            image.seek(0)
            image.verify()
    except Image.DecompressionBombError:
        return Refusal("pixel_limit", f"the image has more pixels than the {max_pixels:,} allowed (decompression "
                                      "bomb limit)")
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        return Refusal("unreadable", f"the image cannot be read: {_plain(error, path)}")
    return Facts(media_type, pages, width, height)


def _inspect_pdf(path: str, max_pages: int) -> Facts | Refusal:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            return Refusal("pdf_encrypted", "the PDF is encrypted: give the office an unprotected copy")
        found = _forbidden_in(reader.trailer)
        if found:
            reason, name = found
            if reason == "pdf_action":
                return Refusal(reason, f"the PDF contains a {name} action (only moving within the document is "
                                       "accepted in the archive)")
            return Refusal(reason, f"the PDF contains {name}, which is not accepted in the archive")
        pages = len(reader.pages)
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        return Refusal("unreadable", f"the PDF cannot be read: {_plain(error, path)}")
    if pages < 1:
        return Refusal("unreadable", "the PDF has no pages")
    if pages > max_pages:
        return Refusal("page_limit", f"the PDF has {pages} pages; at most {max_pages} are allowed")
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(path)
        try:
            if len(document) != pages:
                return Refusal("unreadable", f"the PDF's page count is ambiguous ({pages} or {len(document)})")
            width, height = document[0].get_size()
        finally:
            document.close()
    except pdfium.PdfiumError as error:
        return Refusal("unreadable", f"the PDF cannot be read: {_plain(error, path)}")
    return Facts("application/pdf", pages, max(1, round(width)), max(1, round(height)))


def _forbidden_in(root: Any) -> tuple[str, str] | None:
    """(reason, name) of the first forbidden name (as key or value) or action (a dictionary whose /S
    is an action type other than /GoTo or /Named, or any /S where an action belongs) in every
    object reachable from `root`."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    visited = 0
    while stack:
        node, is_action = stack.pop()
        visited += 1
        if visited > _PDF_MAX_OBJECTS:
            raise ValueError(f"more than {_PDF_MAX_OBJECTS:,} objects")
        if isinstance(node, IndirectObject):
            key = (node.idnum, node.generation)
            if key in seen:
                continue
            seen.add(key)
            node = node.get_object()
        if isinstance(node, NameObject):
            if node in _PDF_FORBIDDEN:
                return _PDF_FORBIDDEN[node], str(node)
        elif isinstance(node, DictionaryObject):
            kind = node.get("/S")
            if isinstance(kind, IndirectObject):
                kind = kind.get_object()
            if "/S" in node and (is_action or kind in _PDF_ACTIONS or node.get("/Type") == "/Action") \
                    and kind not in _PDF_SAFE_ACTIONS:
                return _PDF_ACTION_REASONS.get(str(kind), "pdf_action"), str(kind)
            for name, value in node.items():
                if name in _PDF_FORBIDDEN:
                    return _PDF_FORBIDDEN[name], str(name)
                stack.append((value, name in _PDF_ACTION_KEYS))
                if name == "/AA":
                    aa = value.get_object() if isinstance(value, IndirectObject) else value
                    if isinstance(aa, DictionaryObject):
                        stack.extend((trigger, True) for trigger in aa.values())
        elif isinstance(node, ArrayObject):
            stack.extend((item, is_action) for item in node)
    return None


def render_page(path: str, media_type: str, page: int, max_side: int) -> bytes:
    """Page `page` (1-based) of an accepted file as PNG, its longer side at most `max_side` px."""
    from PIL import Image

    if media_type == "application/pdf":
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(path)
        try:
            sheet = document[page - 1]
            width, height = sheet.get_size()
            scale = max_side / max(width, height, 1.0)
            image = sheet.render(scale=scale).to_pil()
        finally:
            document.close()
    else:
        Image.MAX_IMAGE_PIXELS = None  # accepted at intake under the pixel limit
        with Image.open(path) as source:
            source.seek(page - 1)
            source.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
            image = source.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "L", "RGBA", "LA", "P", "1"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()



def render_full(path: str, media_type: str, page: int, dpi: int, out: str) -> tuple[int, int]:
    """Page `page` (1-based) at full size (images: their own pixels; PDF: at `dpi`) written as
    PNG to `out`, for digitising; returns its (width, height) in pixels."""
    from PIL import Image

    if media_type == "application/pdf":
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(path)
        try:
            image = document[page - 1].render(scale=dpi / 72.0).to_pil()
        finally:
            document.close()
    else:
        Image.MAX_IMAGE_PIXELS = None  # accepted at intake under the pixel limit
        with Image.open(path) as source:
            source.seek(page - 1)
            source.load()
            image = source.copy()
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(out, "PNG", compress_level=1)
    width, height = image.size
    return int(width), int(height)
