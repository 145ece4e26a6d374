"""The web app connects as a least-privilege role, on the managed cluster too: `cadastre_app`,
created with a generated password kept in cluster.json and granted on the database after the
migrations; the superuser is for migrations and the admin command line only. The app role may
append audit rows but never change them, nor switch the audit triggers off."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest
from account_fixtures import demo  # noqa: F401
from account_helpers import bearer
from databases import name_of
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.audit.trail import AuditEntry, record, verify_chain
from portal.platform.cluster import Cluster
from portal.platform.db import resolve_app_url, resolve_url
from portal.platform.roles import APP_ROLE
from portal.settings import AccountSettings, DatabaseSettings, Settings

pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="the managed cluster's path")


def _managed(url: str) -> DatabaseSettings:
    """The managed cluster's settings (no DATABASE_URL), naming the test's own database."""
    return DatabaseSettings(DATABASE_URL="", CADASTRE_DATABASE=name_of(url))


def _user(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["user"])


def test_the_app_on_the_managed_cluster_connects_as_its_own_role(writable_database: str, demo) -> None:  # noqa: F811
    settings = Settings(database=_managed(writable_database),
                        accounts=AccountSettings(checks_per_minute=10_000, checks_per_day=100_000))
    with psycopg.connect(writable_database) as conn:
        before = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    with TestClient(create_app(settings), follow_redirects=False) as client:
        headers = bearer(client, "citizen")  # a session row and a login audit row
        checked = client.get("/api/check", params={"unit_number": demo.other_unit}, headers=headers)
        assert checked.status_code == 200, checked.text
        with psycopg.connect(writable_database) as conn:
            users = {r[0] for r in conn.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")}
    assert users == {APP_ROLE}
    with psycopg.connect(writable_database) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] >= before + 2
        assert verify_chain(conn).intact
    config = Cluster(settings.database.state_dir).config_file
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and '"app_password"' in config.read_text()


def test_the_app_role_cannot_change_the_audit_log_or_switch_triggers_off(writable_database: str) -> None:
    settings = _managed(writable_database)
    app_url = resolve_app_url(settings)
    assert _user(app_url) == APP_ROLE and _user(resolve_url(settings)) == "cadastre"  # admin: the superuser
    with psycopg.connect(app_url, autocommit=True) as app:
        assert app.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
                           "WHERE rolname = current_user").fetchone() == (False, False, False, False)
        record(app, AuditEntry("login", actor_user_id=1))
        for statement in ("UPDATE audit_log SET outcome = 'failure'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                          "UPDATE audit_chain SET seq = 0", "INSERT INTO audit_chain VALUES (true, 0, '')",
                          "DELETE FROM checks", "UPDATE audit_staged SET detail = NULL",
                          "ALTER TABLE audit_log DISABLE TRIGGER USER", "ALTER TABLE audit_log DISABLE TRIGGER ALL",
                          "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_guard",
                          "SET session_replication_role = replica", "DROP TRIGGER audit_log_immutable ON audit_log",
                          "UPDATE alembic_version SET version_num = '0001'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
    with psycopg.connect(writable_database) as conn:
        assert verify_chain(conn).intact


def test_migrate_on_the_managed_cluster_grants_the_app_role_the_new_tables(
        writable_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from portal.cli import main

    with psycopg.connect(writable_database) as conn:  # as a migration would, as the superuser
        conn.execute("CREATE TABLE added_by_a_migration (id int)")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CADASTRE_DATABASE", name_of(writable_database))
    migrated = CliRunner().invoke(main, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    settings = _managed(writable_database)
    app_url = Cluster(settings.state_dir).url(settings.database_name, app=True)  # no grant of its own
    with psycopg.connect(app_url, autocommit=True) as app:
        app.execute("INSERT INTO added_by_a_migration VALUES (1)")
        assert app.execute("SELECT current_user").fetchone()[0] == APP_ROLE
