"""Reading a drawing's printed boundary-point table (界址点成果表) by OCR, as suggestions.

`read_point_table(image)` runs Debian's `tesseract` (a subprocess with a time limit, on the page
image the portal rendered itself) and keeps the lines that look like a table row: a point label
(J1, J12, 1, K3...) followed by two coordinates. Chinese tables print X (northing) before Y
(easting); a first number that is an easting with its zone prefix (eight digits before the
point) while the second is not is taken as printed the other way round. The rows are offered to
the person for confirmation, never written as control points by themselves.

Raises OcrUnavailable when tesseract is not installed (apt-get install tesseract-ocr).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from portal.platform.errors import CadastreError

__all__ = ["OcrUnavailable", "TableRow", "read_point_table", "parse_rows"]

# A label, then two coordinates, at the end of a line (drawing text read on the same line before
# the table is left out); a dash read before a number is a table rule.
_ROW = re.compile(r"(?:^|\s)(?P<label>[A-Za-z]{0,2}\d{1,4})[\s,;:|\u2014\u2013-]+(?P<a>\d{6,8}[.,]\d{1,4})"
                  r"[\s,;:|\u2014\u2013-]+(?P<b>\d{6,8}[.,]\d{1,4})\s*$")


class OcrUnavailable(CadastreError):
    status = 503
    code = "ocr_unavailable"
    default_message = "reading printed tables needs tesseract on the server (apt-get install tesseract-ocr)"


@dataclass(frozen=True)
class TableRow:
    """One row read: point label, northing (X) and easting (Y) in metres, and the text read."""

    label: str
    northing: float
    easting: float
    text: str


def parse_rows(text: str) -> list[TableRow]:
    """The table rows in OCR text (see the module docstring for the order of X and Y)."""
    rows = []
    for line in text.splitlines():
        match = _ROW.search(line)
        if not match:
            continue
        a = float(match["a"].replace(",", "."))
        b = float(match["b"].replace(",", "."))
        if a >= 1e7 > b:  # printed Y, X
            a, b = b, a
        rows.append(TableRow(match["label"].upper(), a, b, line.strip()))
    return rows


def read_point_table(image: Path, *, timeout: float = 60.0) -> list[TableRow]:
    """The boundary-point table rows tesseract reads in the image (PNG), in reading order."""
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise OcrUnavailable()
    try:
        done = subprocess.run([tesseract, str(image), "stdout", "--psm", "6", "-l", "eng"], capture_output=True,
                              text=True, timeout=timeout, env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired as error:
        raise OcrUnavailable(f"reading the table took more than {timeout:.0f} s and was stopped") from error
    if done.returncode:
        raise OcrUnavailable("tesseract could not read the page", log_message=done.stderr[-500:])
    return parse_rows(done.stdout)
