"""The registration guide: seeded by the migration, public in both languages, edited by staff
(web form behind EDIT_GUIDE, or the command line), and a bad edit changes nothing. (The same
edit in Chromium: test_guide_browser.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from guide_staff import limits as _limits
from guide_staff import staff_app

from portal.cli import main
from portal.guide.model import GuideError, parse_guide
from portal.guide.pages import entries_from_form


@pytest.fixture
def staff_client(guide_database) -> Iterator[TestClient]:
    with TestClient(staff_app(guide_database), follow_redirects=False) as client:
        yield client


def test_migration_seeds_the_published_service_commitments(guide_database) -> None:
    limits = _limits(guide_database)
    assert limits["mortgage"] == 1 and limits["transfer"] == 3 and limits["first_registration"] == 3
    with psycopg.connect(guide_database) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE guide_entries SET steps_zh = '{}' WHERE kind = 'mortgage'")


def test_guide_page_in_chinese_and_english(http) -> None:
    chinese = http.get("/guide", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 200
    assert "抵押权首次登记" in chinese.text and "1 个工作日" in chinese.text and "申请材料" in chinese.text
    english = http.get("/guide", cookies={"lang": "en"})
    assert "Mortgage registration" in english.text and "1 working day<" in english.text
    assert "3 working days" in english.text and "抵押权首次登记" not in english.text
    assert "/guide/edit" not in english.text, "the edit link is for staff only"


def test_only_administrators_and_registrars_may_edit(staff_client) -> None:
    assert staff_client.get("/guide/edit").status_code == 401
    assert staff_client.get("/guide/edit", headers={"x-test-role": "surveyor"}).status_code == 403
    for role in ("registrar", "administrator"):
        page = staff_client.get("/guide/edit", headers={"x-test-role": role})
        assert page.status_code == 200 and 'name="e0.kind" value="first_registration"' in page.text
    assert staff_client.post("/guide/edit", data={}).status_code == 401


def _form_of(client: TestClient) -> dict[str, str]:
    from html.parser import HTMLParser

    fields: dict[str, str] = {}

    class Form(HTMLParser):
        current: str | None = None

        def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
            a = dict(attrs)
            if tag == "input" and a.get("name") and a.get("type") != "checkbox":
                fields[a["name"]] = a.get("value") or ""
            if tag == "textarea":
                self.current = a["name"]
                fields[self.current] = ""

        def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
            if tag == "textarea":
                self.current = None

        def handle_data(self, data):  # type: ignore[no-untyped-def]
            if self.current:
                fields[self.current] += data

    Form().feed(client.get("/guide/edit", headers={"x-test-role": "registrar"}).text)
    return fields


def test_registrar_edits_the_guide_and_a_bad_edit_changes_nothing(staff_client, guide_database) -> None:
    form = _form_of(staff_client)
    mortgage = next(k[:-5] for k, v in form.items() if k.endswith(".kind") and v == "mortgage")
    form[f"{mortgage}.time_limit_days"] = "2"
    form[f"{mortgage}.documents_en"] += "\nWritten consent of the spouse"
    saved = staff_client.post("/guide/edit", data=form, headers={"x-test-role": "registrar"})
    assert saved.status_code == 303 and saved.headers["location"] == "/guide?saved=1"
    assert _limits(guide_database)["mortgage"] == 2
    page = staff_client.get("/guide", cookies={"lang": "en"})
    assert "Written consent of the spouse" in page.text
    with psycopg.connect(guide_database) as conn:
        assert conn.execute("SELECT updated_by FROM guide_entries WHERE kind = 'mortgage'"
                            ).fetchone()[0] == "test registrar"

    before = _limits(guide_database)
    form[f"{mortgage}.time_limit_days"] = "0"
    form[f"{mortgage}.steps_zh"] = "  \n "
    refused = staff_client.post("/guide/edit", data=form, headers={"x-test-role": "registrar"})
    assert refused.status_code == 422
    assert "(mortgage)" in refused.text and "time_limit_days" in refused.text and "steps_zh" in refused.text
    assert _limits(guide_database) == before


def test_form_rows_ticked_for_removal_or_left_blank_are_dropped() -> None:
    form = {"e0.kind": "a_kind", "e0.steps_zh": "one\n\n two \n", "e1.kind": "gone", "e1.remove": "1",
            "e2.kind": "", "e2.title_zh": " "}
    entries = entries_from_form(form)
    assert [e["kind"] for e in entries] == ["a_kind"] and entries[0]["steps_zh"] == ["one", "two"]


def test_duplicate_kinds_are_refused() -> None:
    entry = {"kind": "transfer", "position": 1, "title_zh": "转移", "title_en": "Transfer",
             "steps_zh": ["申请"], "steps_en": ["Apply"], "documents_zh": ["申请书"],
             "documents_en": ["Form"], "fees_zh": "80 元", "fees_en": "80 yuan", "time_limit_days": 3}
    with pytest.raises(GuideError, match="share the kind transfer"):
        parse_guide([entry, {**entry, "position": 2}])
    with pytest.raises(GuideError, match="non-empty list"):
        parse_guide({})


def test_command_line_export_and_import(guide_database, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", guide_database)
    runner = CliRunner()
    exported = runner.invoke(main, ["guide", "export"])
    assert exported.exit_code == 0, exported.output
    entries = json.loads(exported.output)
    for entry in entries:
        if entry["kind"] == "change":
            entry["time_limit_days"] = 5
    good = tmp_path / "guide.json"
    good.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(main, ["guide", "import", str(good), "--editor", "clerk wang"])
    assert result.exit_code == 0 and f"{len(entries)} kinds" in result.output
    assert _limits(guide_database)["change"] == 5

    entries[0]["fees_zh"] = ""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    before = _limits(guide_database)
    refused = runner.invoke(main, ["guide", "import", str(bad)])
    assert refused.exit_code != 0 and "fees_zh" in refused.output and "nothing was changed" in refused.output
    assert _limits(guide_database) == before
