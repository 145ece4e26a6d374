"""The check certificate carries a QR code of its /verify/ address (issue 17 §6)."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from portal.checks.certificates import certificate_pdf

STATEMENT = {"reference": "CK20261206000001", "as_of": "2026-12-06T10:00:00+00:00", "tier": "public",
             "query": {"kind": "unit_number", "value": "330102001001GB00001F00010101"}, "units": []}


def test_the_certificate_has_a_qr_code_of_its_verify_address() -> None:
    zone = dt.timezone(dt.timedelta(hours=8))
    url = "https://cadastre.example/verify/ABCD1234EFGH5678"
    pdf = certificate_pdf(STATEMENT, url, zone)
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    content = page.get_contents().get_data().decode("latin-1")
    assert content.count(" re") > 200, "the code's modules are drawn as filled squares"
    text = page.extract_text()
    assert "ABCD1234EFGH5678" in text and url in text.replace("\n", "")
    from reportlab.graphics.barcode.qr import QrCodeWidget

    assert QrCodeWidget(url, barLevel="M").value == url
