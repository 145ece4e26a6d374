"""A parcel sheet's reference number is verifiable (issue 17 §6): the sheet prints its
/verify/sheet/<reference> address and a QR code of it; the page says, in the reader's language
and on the office's clock, what that parcel version showed and whether it is still current. The
reference carries a keyed MAC (review finding F1): a reference the portal did not print (other
time, unknown version, garbage, very long, a genuine one altered) gets a 404 page saying why; a
genuine one printed while a change was being saved verifies as "replaced since" (F2)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re

import httpx
import psycopg
import pytest
from pypdf import PdfReader

from portal.accounts.security import sheet_key
from portal.platform.versioning import supersede
from portal.public.sheet_verify import issue_reference, parse_reference, verify_reference
from portal.settings import DatabaseSettings, PortalSettings


@pytest.fixture(scope="module")
def key(database_url: str) -> bytes:
    """The key the test portal signs with (its state directory's sheet.key, as in production)."""
    return sheet_key(PortalSettings().sheet_key, DatabaseSettings(DATABASE_URL=database_url))


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

    url = "https://cadastre.example.cn/verify/sheet/ZDT-330102001001GB00001-V1-20261206T103000Z-ABCDEFGH2345"
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
    assert "由本系统出具" in page.text and "was issued by this portal" in english.text


def test_the_sheet_carries_the_mac_everywhere(http: httpx.Client, sample, key: bytes) -> None:
    """The reference in the X-Reference header, printed, in the verification address and the QR
    code is the one with its MAC, and the MAC is the key's."""
    response = http.get(f"/parcels/{sample['parcel_code']}/sheet.pdf")
    reference = response.headers["x-reference"]
    code, version, printed_at, _mac = parse_reference(reference) or pytest.fail(reference)
    assert reference == issue_reference(key, code, version, printed_at) and len(reference) <= 64
    text = re.sub(r"\s+", "", "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages))
    assert text.count(reference) >= 2 and f"/verify/sheet/{reference}" in text


@pytest.mark.parametrize("forged", [
    # the reviewer's forgeries (F1): well-formed, a real version, inside its lifespan, no MAC
    "ZDT-{code}-V1-20150101T000000Z", "ZDT-{code}-V1-19990101T000000Z", "zdt-{code}-v1-20150101t000000z",
    "ZDT-{code}-V1-20150101T000000Z%0A",
    # the same with a MAC of the right shape that the key did not make
    "ZDT-{code}-V1-20150101T000000Z-ABCDEFGH2345", "ZDT-{code}-V1-20000101T000000Z-AAAAAAAAAAAA",
    "ZDT-{code}-V1-29991231T235959Z-AAAAAAAAAAAA",  # in the future
    "ZDT-{code}-V7-20251206T100000Z-AAAAAAAAAAAA",  # a version the parcel never had
    "ZDT-{code}-V1-20251206T100000Z-AAAAAAAAAAA",  # a MAC too short
    "ZDT-{code}-V1-20251206T100000Z-AAAAAAAAAAA1",  # not base32
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
        assert "本系统出具（" not in page.text and "was issued by" not in page.text


def test_an_altered_genuine_reference_is_not_issued(http: httpx.Client, sample) -> None:
    """Each part of a printed reference changed (the time a second, the version, the parcel, the
    MAC's last character) leaves a reference the portal did not issue."""
    reference, _ = _sheet(http, sample["parcel_code"])
    code, version, printed_at, mac = parse_reference(reference) or pytest.fail(reference)
    other_code = code[:-1] + ("2" if code[-1] != "2" else "3")
    stamp = f"{printed_at:%Y%m%dT%H%M%SZ}"
    later = f"{printed_at + dt.timedelta(seconds=1):%Y%m%dT%H%M%SZ}"
    for altered in (f"ZDT-{code}-V{version}-{later}-{mac}", f"ZDT-{code}-V{version + 1}-{stamp}-{mac}",
                    f"ZDT-{other_code}-V{version}-{stamp}-{mac}",
                    f"ZDT-{code}-V{version}-{stamp}-{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"):
        page = http.get(f"/verify/sheet/{altered}", headers={"Accept": "text/html", "Accept-Language": "en"})
        assert page.status_code == 404 and 'data-valid="false"' in page.text, altered
        assert "check code does not match" in page.text or "does not have the form" in page.text, altered


def test_a_long_reference_is_echoed_cut_short(http: httpx.Client) -> None:
    """Review finding F9d: a 10,000-character reference is echoed as its first 80 characters."""
    page = http.get("/verify/sheet/" + "Z" * 10_000, headers={"Accept": "text/html", "Accept-Language": "en"})
    message = re.search(r'<p class="invalid">(.*?)</p>', page.text, re.S)
    assert page.status_code == 404 and message, page.text
    assert "Z" * 80 + "…" in message.group(1) and "Z" * 81 not in message.group(1)


def test_the_year_keeps_four_digits(key: bytes) -> None:
    """Review finding F9a: year 1 is written 0001 (strftime's %Y is not padded on glibc), and reads back."""
    early = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    reference = issue_reference(key, "330102001001GB00001", 1, early)
    assert "-00010101T000000Z-" in reference
    assert parse_reference(reference) == ("330102001001GB00001", 1, early, reference[-12:])


def test_a_hostile_host_header_stays_off_the_sheet(http: httpx.Client, sample) -> None:
    """Review finding F9b: the printed and QR address is the configured one, never the Host header."""
    response = http.get(f"/parcels/{sample['parcel_code']}/sheet.pdf",
                        headers={"Host": "verify-cadastre.evil.example"})
    assert response.status_code == 200
    assert b"evil.example" not in response.content
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "evil.example" not in text and "http://127.0.0.1:8000/verify/sheet/" in re.sub(r"\s+", "", text)


def test_a_replaced_version_verifies_as_no_longer_current(writable_database: str, key: bytes) -> None:
    """A sheet printed before the change still verifies (what it showed, and that it was replaced
    since); so does one printed while the change was being saved (review finding F2: the old
    version is still visible to the printing transaction, its end time, the start of the
    changing transaction, earlier than the printed time). Authenticity is the MAC's alone."""
    with psycopg.connect(writable_database) as conn:
        parcel_id, code = conn.execute(
            "SELECT parcel_id, parcel_code FROM current_parcels ORDER BY parcel_code LIMIT 1").fetchone()
        changed_at = conn.execute("SELECT now()").fetchone()[0]
        supersede(conn, "parcels", parcel_id, {"land_use_code": "0702"})
        conn.commit()
    code = code.strip()
    before = issue_reference(key, code, 1, changed_at - dt.timedelta(minutes=5))
    during = issue_reference(key, code, 1, changed_at + dt.timedelta(seconds=30))
    new = issue_reference(key, code, 2, changed_at + dt.timedelta(seconds=30))

    async def verdicts() -> list:
        async with await psycopg.AsyncConnection.connect(writable_database) as conn:
            forged = before[:-1] + ("3" if before.endswith("2") else "2")  # another last MAC character
            return [await verify_reference(conn, r, key) for r in (before, during, new, forged)]

    old, late, current, forged = asyncio.run(verdicts())
    assert old.valid and old.version is not None and not old.version["current"] and old.current_version == 2
    assert late.valid and late.version is not None and not late.version["current"] and late.current_version == 2
    assert current.valid and current.version is not None and current.version["current"]
    assert current.version["land_use_code"] == "0702"
    assert not forged.valid and forged.reason == "not_issued"


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
    assert parse_reference("ZDT-330102001001GB00001-V3-20261206T103000Z-ABCDEFGH2345") == (
        "330102001001GB00001", 3, dt.datetime(2026, 12, 6, 10, 30, tzinfo=dt.UTC), "ABCDEFGH2345")
    assert parse_reference(" zdt-330102001001gb00001-v3-20261206t103000z-abcdefgh2345\n") is not None, \
        "as copied from paper"
    assert parse_reference("ZDT-330102001001GB00001-V3-20261206T103000Z") is None, "no MAC"
    assert parse_reference("ZDT-330102001001GB00001-V3-20261206T103000Z-ABCDEFGH2345" + "0" * 30) is None
    assert parse_reference("ZDT-330102001001GB00001-V03-20261206T103000Z-ABCDEFGH2345") is None


@pytest.mark.parametrize("path", ["/parcels/{x}", "/api/parcels/{x}", "/parcels/{x}/sheet.pdf",
                                  "/parcels/{x}/geometry.kml", "/parcels/330102001001GB00001/geometry.{x}",
                                  "/verify/sheet/{x}", "/verify/{x}", "/api/verify/{x}"])
def test_error_messages_echo_no_more_than_80_characters(http: httpx.Client, path: str) -> None:
    """Review finding F9d, wherever a code or reference is echoed: 10,000 characters of input
    come back as at most their first 80 (the log-in and language links keep the page's path)."""
    for accept in ("text/html", "application/json"):
        response = http.get(path.format(x="9" * 10_000), headers={"Accept": accept})
        assert 400 <= response.status_code < 500, (path, response.status_code)
        body = re.sub(r'href="[^"]*"', "", response.text)
        assert "9" * 81 not in body, (path, accept, body[:300])


def test_the_sheet_key_lives_outside_the_database(tmp_path) -> None:
    """Made on first use in the state directory (mode 0600), the same ever after; the setting wins.
    The verification address never comes from a request: the public URL, else host and port."""
    database = DatabaseSettings(DATABASE_URL="postgresql://nowhere/none", CADASTRE_STATE_DIR=str(tmp_path))
    first = sheet_key(None, database)
    assert (tmp_path / "sheet.key").stat().st_mode & 0o777 == 0o600 and len(first) == 64
    assert sheet_key(None, database) == first and sheet_key("c0" * 32, database) == b"c0" * 32
    assert PortalSettings(public_url="https://cadastre.example.cn/").base_url == "https://cadastre.example.cn"
    assert PortalSettings(public_url=None, host="::1", port=8080).base_url == "http://[::1]:8080"
