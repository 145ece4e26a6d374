"""A parcel sheet's reference number is verifiable (issue 17 §6): the sheet prints its
/verify/sheet/<reference> address and a QR code of it; the page says, in the reader's language
and on the office's clock, what that parcel version showed and whether it is still current; a
forged reference (other time, unknown version, garbage, very long) gets a 404 page saying why."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re

import httpx
import psycopg
import pytest
from pypdf import PdfReader

from portal.platform.versioning import supersede
from portal.public.sheet_verify import parse_reference, verify_reference


def _sheet(http: httpx.Client, code: str) -> tuple[str, str]:
    response = http.get(f"/parcels/{code}/sheet.pdf")
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    return response.headers["x-reference"], re.sub(r"\s+", "", text)


def test_the_sheet_prints_its_verification_address(http: httpx.Client, sample) -> None:
    reference, text = _sheet(http, sample["parcel_code"])
    assert f"/verify/sheet/{reference}" in text
    assert "扫码核验" in text


def test_the_qr_code_holds_the_address() -> None:
    from portal.public.sheet import QR_SIZE, _verification_qr

    url = "https://cadastre.example.cn/verify/sheet/ZDT-330102001001GB00001-V1-20261206T103000Z"
    drawing = _verification_qr(url)
    assert drawing.contents[0].value == url and drawing.width == QR_SIZE


def test_a_printed_reference_verifies_in_both_languages(http: httpx.Client, sample) -> None:
    reference, _ = _sheet(http, sample["parcel_code"])
    page = http.get(f"/verify/sheet/{reference}", headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert page.status_code == 200, page.text
    assert 'data-valid="true"' in page.text
    assert sample["parcel_code"] in page.text and f"{sample['area']:,}" in page.text
    assert "是，仍为现势版本" in page.text and "北京时间" in page.text
    english = http.get(f"/verify/sheet/{reference}", headers={"Accept": "text/html", "Accept-Language": "en"})
    assert english.status_code == 200 and "Yes, still current" in english.text and "UTC+8" in english.text
    lower = http.get(f"/verify/sheet/{reference.lower()}", headers={"Accept": "text/html"})
    assert lower.status_code == 200, "a reference typed in lower case is the same reference"


@pytest.mark.parametrize("forged", [
    "ZDT-{code}-V1-20000101T000000Z",    # before the version existed
    "ZDT-{code}-V1-29991231T235959Z",    # in the future
    "ZDT-{code}-V7-20251206T100000Z",    # a version the parcel never had
    "ZDT-{code}-V1-20261399T256161Z",    # no such calendar moment
    "ZDT-330102001001GB99999-V1-20251206T100000Z",  # no such parcel
    "ZDT-{code}-V0-20251206T100000Z", "ZDT-{code}-V1-20251206T100000", "ZDT-{code}",
    "garbage", "ZDT-" + "9" * 5000, "<img src=x onerror=alert(1)>", "ZDT-{code}-V1-2025١٢06T100000Z",
    "%00", "ZDT-{code}-V99999999999999999999-20251206T100000Z", "' OR 1=1 --",
])
def test_a_forged_reference_is_not_valid(http: httpx.Client, sample, forged: str) -> None:
    for language, word in (("zh-CN", "参考号无效"), ("en", "Reference not valid")):
        page = http.get(f"/verify/sheet/{forged.format(code=sample['parcel_code'])}",
                        headers={"Accept": "text/html", "Accept-Language": language})
        assert page.status_code == 404, (forged, page.status_code)
        assert word in page.text and 'data-valid="false"' in page.text
        assert "<img src=x" not in page.text


def test_a_replaced_version_verifies_as_no_longer_current(writable_database: str) -> None:
    """A sheet printed before the change still verifies (what it showed, and that it is no longer
    current); one naming the old version after the change does not."""
    with psycopg.connect(writable_database) as conn:
        parcel_id, code = conn.execute(
            "SELECT parcel_id, parcel_code FROM current_parcels ORDER BY parcel_code LIMIT 1").fetchone()
        changed_at = conn.execute("SELECT now()").fetchone()[0]
        supersede(conn, "parcels", parcel_id, {"land_use_code": "0702"})
        conn.commit()
    code = code.strip()
    before = f"ZDT-{code}-V1-{changed_at - dt.timedelta(minutes=5):%Y%m%dT%H%M%SZ}"
    after = f"ZDT-{code}-V1-{changed_at + dt.timedelta(seconds=30):%Y%m%dT%H%M%SZ}"
    new = f"ZDT-{code}-V2-{changed_at + dt.timedelta(seconds=30):%Y%m%dT%H%M%SZ}"

    async def verdicts() -> list:
        async with await psycopg.AsyncConnection.connect(writable_database) as conn:
            return [await verify_reference(conn, r, now=changed_at + dt.timedelta(minutes=1))
                    for r in (before, after, new)]

    old, late, current = asyncio.run(verdicts())
    assert old.valid and old.version is not None and not old.version["current"] and old.current_version == 2
    assert not late.valid and late.reason == "after_version"
    assert current.valid and current.version is not None and current.version["current"]
    assert current.version["land_use_code"] == "0702"


def test_a_retired_parcels_sheet_verifies_after_retirement(http: httpx.Client, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        code, version, ended = conn.execute("""
            SELECT p.parcel_code, p.version, p.end_lifespan FROM parcels p
             WHERE p.end_lifespan IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM parcels o WHERE o.parcel_id = p.parcel_id AND o.end_lifespan IS NULL)
             ORDER BY p.parcel_code LIMIT 1""").fetchone()
    reference, _ = _sheet(http, code.strip())
    assert f"-V{version}-" in reference
    page = http.get(f"/verify/sheet/{reference}", headers={"Accept": "text/html", "Accept-Language": "en"})
    assert page.status_code == 200 and "No: the parcel has been retired" in page.text
    assert ended < dt.datetime.now(dt.UTC)


def test_parsing_is_strict() -> None:
    assert parse_reference("ZDT-330102001001GB00001-V3-20261206T103000Z") == (
        "330102001001GB00001", 3, dt.datetime(2026, 12, 6, 10, 30, tzinfo=dt.UTC))
    assert parse_reference(" zdt-330102001001gb00001-v3-20261206t103000z\n") is not None, "as copied from paper"
    assert parse_reference("ZDT-330102001001GB00001-V3-20261206T103000Z" + "0" * 30) is None
    assert parse_reference("ZDT-330102001001GB00001-V03-20261206T103000Z") is None
