"""Text helpers shared by readers: decoding UTF-8/GBK survey files and full-width punctuation.

Chinese survey software writes GBK as often as UTF-8, and text typed with a Chinese input
method has full-width commas and equals signs (，＝) that look right and split wrong.
"""

from __future__ import annotations

import re

from spatial.errors import ReadError

__all__ = ["decode_text", "to_half_width", "split_lines", "parse_number", "is_integer"]

_HALF_WIDTH: dict[int, int | None] = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_HALF_WIDTH.update(
    {
        0x3000: 0x20,  # ideographic space
        0x00A0: 0x20,  # no-break space
        0x3010: ord("["),  # 【
        0x3011: ord("]"),  # 】
        0x3001: ord(","),  # 、 (ideographic comma, used as a separator by some tools)
        0x200B: None,  # zero-width space
        0xFEFF: None,  # stray byte order marks inside the text
    }
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def decode_text(data: bytes, file: str) -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 with BOM, or GBK (read as GB18030).

    Raises ReadError naming the line of the first byte that fits none of them.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ReadError("the file starts as UTF-16 but is not valid UTF-16", file=file) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        # The encoding that read further is the one the file was meant to be in.
        worst = max(utf8_error, exc, key=lambda e: e.start)
        meant = "UTF-8" if worst is utf8_error else "GBK"
        line = data[: worst.start].count(b"\n") + 1
        raise ReadError(
            f"byte {worst.start + 1} cannot be read as {meant} text (nor as UTF-8 or GBK): "
            "save the file as UTF-8",
            file=file,
            line=line,
        ) from exc


def to_half_width(text: str) -> str:
    """Full-width ASCII (，＝１２), ideographic spaces and 【】 turned into their ASCII forms."""
    return text.translate(_HALF_WIDTH)


def split_lines(text: str) -> list[str]:
    """Lines split on CRLF, CR or LF only, so that line numbers match what an editor shows."""
    return _LINE_BREAK.split(text)


def parse_number(text: str) -> float | None:
    """A finite decimal number, or None (``nan``, ``inf``, ``1,5`` and ``4O4`` are refused)."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def is_integer(text: str) -> bool:
    return bool(_INTEGER.fullmatch(text.strip()))
