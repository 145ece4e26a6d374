"""Identity numbers in the register (issue 20, issue 15): parties keep a keyed digest, a masked
form and the number sealed under a key outside the database (migration 0021). A dump shows no
number; registrars see a full number only through an audited reveal; exports are masked unless
`--unmasked` (audited); the migration goes down to the plain column and up again with the data."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.sql
import pytest
from account_helpers import bearer, settings_for
from click.testing import CliRunner
from fastapi.testclient import TestClient
from identities import document_digest, opened

from portal.accounts.identity_numbers import mask_document_number
from portal.accounts.security import (
    IdentityKeys,
    SealBroken,
    identity_seal_key,
    party_identity,
    unseal_identity,
)
from portal.app import create_app
from portal.cli import main
from portal.platform import migrate
from portal.settings import AccountSettings, DatabaseSettings


def _numbers(url: str) -> dict[int, str]:
    """Every party version's number, opened from its sealed form."""
    with psycopg.connect(url) as conn:
        return {v: opened(d, s) for v, d, s in conn.execute(
            "SELECT version_id, id_document_digest, id_document_sealed FROM parties")}


def test_a_dump_of_parties_holds_no_identity_number(database_url: str) -> None:
    numbers = set(_numbers(database_url).values())
    assert len(numbers) > 100
    with psycopg.connect(database_url) as conn:  # the superuser, every column of every version
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'parties'")]
        cells = [str(v) for row in conn.execute("SELECT * FROM parties") for v in row]
        text = "\n".join(r[0] for r in conn.execute("SELECT row_to_json(p)::text FROM parties p"))
    assert "id_document_number" not in columns
    assert not [n for n in numbers if n in text or n in cells]
    assert not [n for n in numbers if n.encode() in text.encode("latin-1", "ignore")]


def test_no_table_holds_an_identity_number_of_the_register(database_url: str) -> None:
    """Not the register, the applications, the audit trail nor the accounts: every text and JSON
    column of every table, read as the superuser."""
    numbers = set(_numbers(database_url).values())
    found: dict[str, int] = {}
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t "
            "USING (table_schema, table_name) WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "AND c.data_type IN ('text', 'jsonb', 'json', 'character varying', 'character')").fetchall()
        for table, column in columns:
            name, of = psycopg.sql.Identifier(column), psycopg.sql.Identifier(table)
            query = psycopg.sql.SQL("SELECT DISTINCT {}::text FROM {} WHERE {} IS NOT NULL").format(name, of, name)
            for (value,) in conn.execute(query):
                hits = [n for n in numbers if n in value]
                if hits:
                    found[f"{table}.{column}"] = found.get(f"{table}.{column}", 0) + len(hits)
    assert not found, found


def test_the_database_keeps_one_current_party_per_digest(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT kind, name, id_document_type, id_document_digest, id_document_masked, "
                       "id_document_sealed FROM current_parties LIMIT 1").fetchone()
    with pytest.raises(psycopg.errors.UniqueViolation, match="parties_current_document"):
        with conn.transaction():
            conn.execute("INSERT INTO parties (kind, name, id_document_type, id_document_digest, "
                         "id_document_masked, id_document_sealed) VALUES (%s, %s, %s, %s, %s, %s)", row)


def test_masks_digests_and_seals_agree(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT id_document_type, id_document_digest, id_document_masked, id_document_sealed "
                            "FROM current_parties").fetchall()
    for doc_type, digest, masked, sealed in rows:
        number = opened(digest, sealed)
        assert masked == mask_document_number(number) and "*" in masked
        assert bytes(digest) == document_digest(number, doc_type)


def test_the_seal_key_is_made_once_private_and_a_sealed_number_opens_only_in_its_own_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY")
    accounts, database = AccountSettings(), DatabaseSettings(CADASTRE_STATE_DIR=tmp_path / "state")
    assert accounts.identity_seal_key is None
    key = identity_seal_key(accounts, database)
    path = tmp_path / "state" / "identity-seal.key"
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert identity_seal_key(accounts, database) == key  # kept, not made again
    keys = IdentityKeys(b"digest key", key)
    one, other = party_identity(keys, "resident_id", "110101199003077777"), party_identity(
        keys, "passport", "E12345678")
    assert unseal_identity(key, one.digest, one.sealed) == "110101199003077777"
    assert one.masked == "110*************77" and other.masked == "E12****78"
    with pytest.raises(SealBroken):  # moved onto another party's row
        unseal_identity(key, other.digest, one.sealed)
    with pytest.raises(SealBroken):  # another installation's key
        unseal_identity(bytes(32), one.digest, one.sealed)
    with pytest.raises(ValueError, match="64 hex digits"):
        identity_seal_key(AccountSettings(identity_seal_key="not hex"), database)


def test_applications_keep_numbers_sealed_and_registration_opens_them(writable_database: str) -> None:
    from portal.platform.permissions import Principal, Role
    from portal.registry import applications as apps

    counter = Principal(123, "受理窗口", frozenset({Role.REGISTRAR}))
    registrar = Principal(124, "王登记", frozenset({Role.REGISTRAR}))
    number = "G31415926"
    holder = {"name": "封存测试", "id_document_type": "passport", "id_document_number": number}
    with psycopg.connect(writable_database) as conn:
        unit = conn.execute(
            "SELECT u.unit_number FROM current_units u JOIN current_rights r ON r.unit_id = u.unit_id "
            "WHERE r.co_ownership = 'sole' AND NOT EXISTS (SELECT 1 FROM current_restrictions x "
            "WHERE x.unit_id = u.unit_id AND x.status IN ('active', 'queued')) ORDER BY u.unit_id LIMIT 1"
        ).fetchone()[0]
        conn.rollback()
        application_id = apps.receive(conn, counter, kind="transfer", unit_number=unit, applicant="申请人",
                                      request={"co_ownership": "sole", "holders": [holder]},
                                      sources=[{"kind": "contract", "reference": "杭房买卖(2026)7777号"}])
        stored = conn.execute("SELECT request::text FROM applications WHERE application_id = %s",
                              (application_id,)).fetchone()[0]
        conn.rollback()
        assert number not in stored and "G31****26" in stored, stored
        apps.start_review(conn, application_id, registrar)
        apps.register(conn, application_id, registrar)
        party = conn.execute("SELECT name, id_document_masked FROM current_parties WHERE id_document_digest = %s",
                             (document_digest(number, "passport"),)).fetchone()
    assert party == ("封存测试", "G31****26")


# -- the registrar's reveal ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(module_database: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(module_database)), follow_redirects=False) as client:
        yield client


def _a_party(url: str) -> tuple[int, str, str]:
    with psycopg.connect(url) as conn:
        party_id, masked, digest, sealed = conn.execute(
            "SELECT party_id, id_document_masked, id_document_digest, id_document_sealed FROM current_parties "
            "WHERE id_document_type = 'resident_id' ORDER BY party_id LIMIT 1").fetchone()
    return party_id, masked, opened(digest, sealed)


def test_a_registrar_reveals_a_number_and_the_look_is_audited(app: TestClient, module_database: str) -> None:
    party_id, masked, number = _a_party(module_database)
    headers = bearer(app, "registrar")
    purpose = "打印不动产权证书 浙(2026)杭州市不动产权第0000001号"
    response = app.post(f"/api/registry/parties/{party_id}/identity-number", json={"purpose": purpose},
                        headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"party_id": party_id, "id_document_type": "resident_id",
                               "id_document_masked": masked, "id_document_number": number}
    assert response.headers["cache-control"].startswith("no-store")
    with psycopg.connect(module_database) as conn:
        row = conn.execute("SELECT actor_role, access, subject, purpose, detail::text FROM audit_log "
                           "WHERE action = 'identity_number_revealed' ORDER BY seq DESC LIMIT 1").fetchone()
    assert row[:4] == ("registrar", "consulted", f"party:{party_id}", purpose)
    assert masked in row[4] and number not in row[4]


@pytest.mark.parametrize("username", ["clerk", "auditor", "surveyor", "admin", "owner", "citizen"])
def test_only_registrars_reveal(app: TestClient, module_database: str, username: str) -> None:
    party_id, _masked, number = _a_party(module_database)
    response = app.post(f"/api/registry/parties/{party_id}/identity-number", json={"purpose": "好奇"},
                        headers=bearer(app, username))
    assert response.status_code == 403 and number not in response.text


def test_a_reveal_without_purpose_or_of_no_party_is_refused(app: TestClient, module_database: str) -> None:
    headers = bearer(app, "registrar")
    party_id, _masked, number = _a_party(module_database)
    for body in ({}, {"purpose": ""}, {"purpose": "   "}, {"purpose": ["x"]}):
        response = app.post(f"/api/registry/parties/{party_id}/identity-number", json=body, headers=headers)
        assert response.status_code == 422 and number not in response.text, (body, response.text)
    for party in ("999999999", "0", "99999999999999999999999", "abc"):
        response = app.post(f"/api/registry/parties/{party}/identity-number", json={"purpose": "证书"},
                            headers=headers)
        assert response.status_code in (404, 422), (party, response.text)
    assert app.post("/api/registry/parties/999999999/identity-number", json={"purpose": "证书"},
                    headers=headers).json()["detail"]["code"] == "party_not_found"


def test_the_refusal_is_translated(app: TestClient) -> None:
    headers = {**bearer(app, "registrar"), "Accept-Language": "zh-CN"}
    response = app.post("/api/registry/parties/999999999/identity-number", json={"purpose": "证书"},
                        headers=headers)
    assert response.status_code == 404 and "当事人" in response.text, response.text


# -- exports: masked by default, unmasked audited ------------------------------------------------

def _zjh(folder: Path) -> list[str]:
    with (folder / "QLR.csv").open(encoding="utf-8-sig") as handle:
        return [row["ZJH"] for row in csv.DictReader(handle)]


def test_exports_are_masked_unless_unmasked_which_is_audited(writable_database: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", writable_database)
    with psycopg.connect(writable_database) as conn:
        current = {opened(d, s): m for d, s, m in conn.execute(
            "SELECT id_document_digest, id_document_sealed, id_document_masked FROM current_parties")}
    runner = CliRunner()
    assert runner.invoke(main, ["register", "export", str(tmp_path / "masked"), "--as", "registrar"]).exit_code == 0
    done = runner.invoke(main, ["register", "export", str(tmp_path / "full"), "--as", "registrar", "--unmasked"])
    assert done.exit_code == 0, done.output
    assert sorted(_zjh(tmp_path / "masked")) == sorted(current.values())
    assert sorted(_zjh(tmp_path / "full")) == sorted(current)
    with psycopg.connect(writable_database) as conn:
        purposes = [r[0] for r in conn.execute(
            "SELECT purpose FROM audit_log WHERE action = 'register_export' ORDER BY seq")]
    assert purposes[-2:] == ["masked", "unmasked"]


def test_an_unmasked_export_under_another_seal_key_says_so(writable_database: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", writable_database)
    monkeypatch.setenv("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY", "00ff" * 16)  # the CLI reads its settings afresh
    done = CliRunner().invoke(main, ["register", "export", str(tmp_path / "full"), "--as", "registrar", "--unmasked"])
    assert done.exit_code == 1 and "seal key" in done.output and "Traceback" not in done.output, done.output
    assert not (tmp_path / "full").exists()
    with psycopg.connect(writable_database) as conn:
        row = conn.execute("SELECT outcome, purpose FROM audit_log WHERE action = 'register_export' "
                           "ORDER BY seq DESC LIMIT 1").fetchone()
    assert row == ("failure", "unmasked")


# -- backup: the keys are not in it ------------------------------------------------------------

def test_backup_says_the_keys_are_not_in_it_and_restore_checks_them(database_url: str, server_url: str,
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    name = "cadastre_restore_keys_" + tmp_path.name[-8:].replace("-", "_").lower()
    monkeypatch.setenv("DATABASE_URL", database_url)
    dump = tmp_path / "cadastre.dump"
    try:
        made = CliRunner().invoke(main, ["backup", str(dump)])
        assert made.exit_code == 0, made.output
        assert "NOT in the backup" in made.output and "IDENTITY_SEAL_KEY" in made.output
        assert "sheet.key" in made.output or "CADASTRE_SHEET_KEY" in made.output, "the sheet key, too"
        numbers = set(_numbers(database_url).values())
        assert not [n for n in list(numbers)[:200] if n.encode() in dump.read_bytes()]
        restored = CliRunner().invoke(main, ["restore", str(dump), "--into", name])
        assert restored.exit_code == 0, restored.output
        assert "identity keys here open" in restored.output, restored.output
        monkeypatch.setenv("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY", "00ff" * 16)  # another installation's key
        elsewhere = CliRunner().invoke(main, ["restore", str(dump), "--into", name + "_b"])
        assert elsewhere.exit_code == 0 and "warning" in elsewhere.output, elsewhere.output
        assert "IDENTITY_SEAL_KEY" in elsewhere.output and "not those" in elsewhere.output
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            for database in (name, name + "_b"):
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# -- the migration, with data ------------------------------------------------------------------

def _request(url: str, application_id: int) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT request::text FROM applications WHERE application_id = %s",
                            (application_id,)).fetchone()[0]


def test_the_migration_goes_down_to_plain_numbers_and_up_again(writable_database: str) -> None:
    from portal.platform.permissions import Principal, Role
    from portal.registry import applications as apps

    number = "H27182818"
    with psycopg.connect(writable_database) as conn:  # an application naming a new party by number
        unit = conn.execute("SELECT unit_number FROM current_units ORDER BY unit_id LIMIT 1").fetchone()[0]
        conn.rollback()
        application_id = apps.receive(
            conn, Principal(123, "受理窗口", frozenset({Role.REGISTRAR})), kind="objection", unit_number=unit,
            applicant="利害关系人", request={"party": {"name": "迁移测试", "id_document_type": "passport",
                                                     "id_document_number": number}, "reason": "异议"},
            sources=[{"kind": "contract", "reference": "异议(2026)1号"}])
    before = _numbers(writable_database)
    with psycopg.connect(writable_database) as conn:
        masks = dict(conn.execute("SELECT version_id, id_document_masked FROM parties").fetchall())
    migrate.downgrade(writable_database, "0020")
    with psycopg.connect(writable_database) as conn:
        plain = dict(conn.execute("SELECT version_id, id_document_number FROM parties").fetchall())
        check = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'restriction_check'").fetchone()[0]
    assert plain == before and "p.id_document_number" in check
    assert number in _request(writable_database, application_id)
    migrate.upgrade(writable_database)
    assert _numbers(writable_database) == before
    assert number not in _request(writable_database, application_id)
    with psycopg.connect(writable_database) as conn:
        assert dict(conn.execute("SELECT version_id, id_document_masked FROM parties").fetchall()) == masks
        enabled = conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'parties_versioned'").fetchone()[0]
        check = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'restriction_check'").fetchone()[0]
    assert enabled == "O" and "p.id_document_masked" in check and "id_document_number" not in check
    assert os.environ["CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY"]  # the session's key, not a file in the worktree


def test_the_schema_goes_down_to_base_and_up_again_with_the_register_in_it(writable_database: str) -> None:
    migrate.downgrade(writable_database, "base")
    migrate.upgrade(writable_database)
    with psycopg.connect(writable_database) as conn:
        assert conn.execute("SELECT count(*) FROM parties").fetchone()[0] == 0
