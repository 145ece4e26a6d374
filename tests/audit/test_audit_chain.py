"""The audit log is append-only and hash-chained; `cadastre audit verify` finds altered, removed
and inserted rows even when the tampering was done as superuser with triggers switched off."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator

import psycopg
import pytest
from app_role import app_role_url
from click.testing import CliRunner
from psycopg import sql

from portal.audit.trail import AuditEntry, canonical, record, verify_chain
from portal.platform import migrate
from portal.platform.db import with_database


@pytest.fixture(scope="module")
def template(fresh_database) -> str:
    url = fresh_database()
    migrate.upgrade(url)
    return url


@pytest.fixture
def audit_url(server_url: str, template: str) -> Iterator[str]:
    """A fresh migrated database with 10 audit rows, copied from the module's template."""
    name = f"cadastre_audit_{secrets.token_hex(4)}"
    template_name = psycopg.conninfo.conninfo_to_dict(template)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                      sql.Identifier(template_name)))
    url = with_database(server_url, name)
    with psycopg.connect(url) as conn:
        record(conn, [AuditEntry("restriction_check", actor_user_id=i, actor_role="verified_user",
                                 access="consulted", subject=f"330102001001GB{i:05d}F00010101",
                                 purpose="购房", detail={"n": i}) for i in range(1, 11)])
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _tamper(url: str, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    """Run statements as the superuser with every trigger switched off."""
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement, params in statements:
            conn.execute(statement, params)


def _report(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        return [(p.kind, p.seq) for p in verify_chain(conn).problems]


def _row(url: str, seq: int) -> dict[str, object]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM audit_log WHERE seq = %s", (seq,)).fetchone()


def test_rows_are_numbered_and_chained(audit_url: str) -> None:
    with psycopg.connect(audit_url) as conn:
        rows = conn.execute("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
        assert verify_chain(conn).intact
    assert [r[0] for r in rows] == list(range(1, 11))
    assert all(bytes(rows[i][1]) == bytes(rows[i - 1][2]) for i in range(1, 10))
    row = _row(audit_url, 3)
    assert hashlib.sha256(bytes(row["prev_hash"]) + canonical(row)).digest() == bytes(row["hash"])


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET outcome = 'failure' WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 2",
    "TRUNCATE audit_log",
    "UPDATE audit_chain SET seq = 0",
    "DELETE FROM audit_chain",
])
def test_the_owner_cannot_change_or_remove_audit_rows(audit_url: str, statement: str) -> None:
    with psycopg.connect(audit_url) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)


def test_forged_hashes_on_insert_are_replaced(audit_url: str) -> None:
    with psycopg.connect(audit_url) as conn:
        conn.execute("INSERT INTO audit_log (seq, at, action, outcome, prev_hash, hash) "
                     "VALUES (999, '2000-01-01', 'login', 'success', '\\x00', '\\x00')")
        conn.commit()
        seq, at = conn.execute("SELECT seq, at FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        assert seq == 11 and at.year > 2000
        assert verify_chain(conn).intact


def test_altered_row_is_named(audit_url: str) -> None:
    _tamper(audit_url, [("UPDATE audit_log SET purpose = '调查' WHERE seq = 4", ())])
    assert _report(audit_url) == [("altered", 4)]


def test_altered_row_with_recomputed_hash_breaks_the_next_link(audit_url: str) -> None:
    row = _row(audit_url, 6)
    row["outcome"] = "failure"
    forged = hashlib.sha256(bytes(row["prev_hash"]) + canonical(row)).digest()
    _tamper(audit_url, [("UPDATE audit_log SET outcome = 'failure', hash = %s WHERE seq = 6", (forged,))])
    assert _report(audit_url) == [("altered", 6)]


def test_removed_row_is_named(audit_url: str) -> None:
    _tamper(audit_url, [("DELETE FROM audit_log WHERE seq = 5", ())])
    problems = _report(audit_url)
    assert problems == [("removed", 5)]


def test_removed_last_rows_are_found_against_the_chain_head(audit_url: str) -> None:
    _tamper(audit_url, [("DELETE FROM audit_log WHERE seq >= 9", ())])
    assert _report(audit_url) == [("removed", 9)]


def test_inserted_row_is_named(audit_url: str) -> None:
    """A row slipped in after row 3, the later rows renumbered to make room, hash made valid."""
    row3 = _row(audit_url, 3)
    fake = dict(row3, actor_user_id=77, subject="330102001001GB00077F00010101", detail=None)
    fake_hash = hashlib.sha256(bytes(row3["hash"]) + canonical(fake)).digest()
    _tamper(audit_url, [
        ("UPDATE audit_log SET seq = -seq WHERE seq > 3", ()),
        ("UPDATE audit_log SET seq = -seq + 1 WHERE seq < 0", ()),
        ("INSERT INTO audit_log (seq, at, actor_user_id, actor_role, action, access, subject, purpose, outcome, "
         "prev_hash, hash) VALUES (4, %s, 77, 'verified_user', 'restriction_check', 'consulted', "
         "'330102001001GB00077F00010101', '购房', 'success', %s, %s)", (row3["at"], row3["hash"], fake_hash)),
    ])
    assert _report(audit_url) == [("inserted", 4)]


def test_rows_appended_behind_the_triggers_back_are_found(audit_url: str) -> None:
    row10 = _row(audit_url, 10)
    fake = dict(row10, actor_user_id=88)
    fake_hash = hashlib.sha256(bytes(row10["hash"]) + canonical(fake)).digest()
    _tamper(audit_url, [
        ("INSERT INTO audit_log (seq, at, actor_user_id, actor_role, action, access, subject, purpose, outcome, "
         "detail, prev_hash, hash) SELECT 11, at, 88, actor_role, action, access, subject, purpose, outcome, detail, "
         "%s, %s FROM audit_log WHERE seq = 10", (row10["hash"], fake_hash))])
    assert _report(audit_url) == [("inserted", 11)]


def test_cli_verify_exit_status(audit_url: str, monkeypatch) -> None:
    from portal.cli import main

    monkeypatch.setenv("DATABASE_URL", audit_url)
    ok = CliRunner().invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 10 rows" in ok.output
    _tamper(audit_url, [("UPDATE audit_log SET actor_role = 'registrar' WHERE seq = 2", ()),
                        ("DELETE FROM audit_log WHERE seq = 7", ())])
    broken = CliRunner().invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "row 2 was altered" in broken.output and "row(s) 7 removed" in broken.output


def test_concurrent_writers_do_not_fork_the_chain(audit_url: str) -> None:
    def write(worker: int) -> None:
        with psycopg.connect(audit_url, autocommit=True) as conn:
            for i in range(40):
                record(conn, AuditEntry("login", actor_user_id=worker, detail={"i": i}))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(audit_url) as conn:
        report = verify_chain(conn)
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit_log ORDER BY seq")]
    assert report.intact and report.rows == 250 and seqs == list(range(1, 251))


def test_registry_changes_are_audited_with_the_actor(audit_url: str) -> None:
    with psycopg.connect(audit_url) as conn:
        conn.execute("SET LOCAL cadastre.actor_user_id = '42'")
        conn.execute("SET LOCAL cadastre.actor_role = 'registrar'")
        conn.execute("INSERT INTO sources (kind, reference) VALUES ('deed', 'A-1'), ('deed', 'A-2')")
        conn.commit()
        conn.execute("INSERT INTO sources (kind, reference) VALUES ('deed', 'A-3')")
        conn.commit()
        rows = conn.execute("SELECT actor_user_id, actor_role, action, subject, detail::jsonb->>'rows' "
                            "FROM audit_log WHERE action = 'registry_change' ORDER BY seq").fetchall()
        assert verify_chain(conn).intact
    assert rows == [(42, "registrar", "registry_change", "sources", "2"),
                    (None, "database:cadastre", "registry_change", "sources", "1")]


def test_least_privilege_role_can_append_but_not_change(audit_url: str) -> None:
    with app_role_url(audit_url) as app_url:
        with psycopg.connect(app_url, autocommit=True) as app:
            record(app, AuditEntry("login", actor_user_id=1))
            assert app.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 11
            for statement in ("UPDATE audit_log SET outcome = 'failure'", "DELETE FROM audit_log",
                              "TRUNCATE audit_log", "UPDATE audit_chain SET seq = 0", "DELETE FROM checks"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute(statement)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("SET session_replication_role = replica")
        with psycopg.connect(audit_url) as conn:
            assert verify_chain(conn).intact


def test_an_open_registry_transaction_does_not_hold_the_chain(audit_url: str) -> None:
    """Registry changes are chained at COMMIT: a long import does not stop every check meanwhile."""
    with psycopg.connect(audit_url) as registry, psycopg.connect(audit_url, autocommit=True) as portal:
        registry.execute("INSERT INTO sources (kind, reference) VALUES ('deed', 'B-1')")
        portal.execute("SET lock_timeout = '2s'")
        record(portal, AuditEntry("login", actor_user_id=5))  # would time out if the chain were locked
        assert registry.execute("SELECT count(*) FROM audit_staged").fetchone()[0] == 1
        registry.commit()
    with psycopg.connect(audit_url) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE seq > 10 ORDER BY seq")]
        assert actions == ["login", "registry_change"]
        assert conn.execute("SELECT count(*) FROM audit_staged").fetchone()[0] == 0
        assert verify_chain(conn).intact


def test_staged_rows_cannot_be_withdrawn(audit_url: str) -> None:
    with psycopg.connect(audit_url) as conn:
        conn.execute("INSERT INTO sources (kind, reference) VALUES ('deed', 'C-1')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("DELETE FROM audit_staged")
