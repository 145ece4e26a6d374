"""The audit chain anchored outside the database (portal/audit/anchors.py): the owner of the
database can rewrite a row, recompute every later hash and move the chain head, and the chain
alone is whole again, but `cadastre audit verify` names the first signed anchor that no longer
matches; `cadastre audit anchor` refuses to sign over a broken chain; the anchor file cannot be edited
without the key."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from psycopg.rows import dict_row

from portal.audit.trail import AuditEntry, canonical, record, verify_chain
from portal.cli import main

TRIGGERED = ("audit_log", "audit_chain")


@pytest.fixture
def audited(writable_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test's own demo cadastre with 10 more audit rows; the anchor file and key in tmp_path."""
    monkeypatch.setenv("DATABASE_URL", writable_database)
    monkeypatch.setenv("CADASTRE_AUDIT_ANCHOR_FILE", str(tmp_path / "audit-anchors.log"))
    monkeypatch.setenv("CADASTRE_AUDIT_SIGNING_KEY_FILE", str(tmp_path / "keys" / "audit-signing.key"))
    _append(writable_database, 10)
    return writable_database


def _append(url: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        record(conn, [AuditEntry("restriction_check", actor_user_id=i, actor_role="verified_user",
                                 access="consulted", subject=f"330102001001GB{i:05d}F00010101", purpose="购房")
                      for i in range(1, n + 1)])


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["audit", *args])


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT seq FROM audit_chain").fetchone()[0])


def _rewrite(url: str, seq: int, purpose: str) -> None:
    """The attack, as the superuser: switch the audit triggers off, rewrite row `seq`, recompute
    every later row's links and hashes, move the chain head, switch the triggers back on."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for table in TRIGGERED:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        conn.execute("UPDATE audit_log SET purpose = %s WHERE seq = %s", (purpose, seq))
        rows = conn.execute("SELECT * FROM audit_log WHERE seq >= %s ORDER BY seq", (seq,)).fetchall()
        previous = bytes(rows[0]["prev_hash"])
        for row in rows:
            digest = hashlib.sha256(previous + canonical(row)).digest()
            conn.execute("UPDATE audit_log SET prev_hash = %s, hash = %s WHERE seq = %s",
                         (previous, digest, row["seq"]))
            previous = digest
        conn.execute("UPDATE audit_chain SET seq = %s, hash = %s", (rows[-1]["seq"], previous))
        for table in TRIGGERED:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_a_clean_chain_with_anchors_passes(audited: str, tmp_path: Path) -> None:
    first = _cli("anchor")
    assert first.exit_code == 0, first.output
    _append(audited, 3)
    second = _cli("anchor")
    assert second.exit_code == 0, second.output
    assert f"anchored row {_head(audited)}" in second.output
    lines = (tmp_path / "audit-anchors.log").read_text().splitlines()
    assert len(lines) == 2 and [int(line.split()[0]) for line in lines] == [_head(audited) - 3, _head(audited)]
    ok = _cli("verify")
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact" in ok.output and "2 anchor(s) match" in ok.output


def test_a_rewrite_with_every_later_hash_recomputed_is_caught_by_the_anchors(audited: str) -> None:
    assert _cli("anchor").exit_code == 0
    anchored = _head(audited)
    _append(audited, 5)
    assert _cli("anchor").exit_code == 0
    victim = anchored - 4
    _rewrite(audited, victim, "调查")
    with psycopg.connect(audited) as conn:
        assert verify_chain(conn).intact  # the chain alone is fooled: that is the hole
        assert conn.execute("SELECT purpose FROM audit_log WHERE seq = %s", (victim,)).fetchone()[0] == "调查"
    broken = _cli("verify")
    assert broken.exit_code == 1
    assert f"anchor on line 1 (row {anchored}," in broken.output
    assert f"a row after row 0 and up to row {anchored} was rewritten" in broken.output
    assert "1 later anchor(s) no longer match either" in broken.output


def test_a_rewrite_after_the_last_anchor_is_named_by_the_next_one(audited: str) -> None:
    assert _cli("anchor").exit_code == 0
    anchored = _head(audited)
    _append(audited, 5)
    assert _cli("anchor").exit_code == 0
    _rewrite(audited, anchored + 2, "调查")
    broken = _cli("verify")
    assert broken.exit_code == 1
    assert f"anchor on line 2 (row {anchored + 5}," in broken.output
    assert f"a row after row {anchored} and up to row {anchored + 5} was rewritten" in broken.output


def test_anchor_refuses_to_sign_over_a_broken_chain(audited: str, tmp_path: Path) -> None:
    """Rows after the last anchor are checked before the head is signed (a rewrite there with every
    later hash recomputed is the window between two anchors: anchor often); the anchored row and
    what comes before it are held by the anchor."""
    assert _cli("anchor").exit_code == 0
    anchored = _head(audited)
    _append(audited, 4)
    with psycopg.connect(audited) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE audit_log SET outcome = 'failure' WHERE seq = %s", (anchored + 2,))
    refused = _cli("anchor")
    assert refused.exit_code == 1
    assert f"row {anchored + 2} was altered" in refused.output and "nothing anchored" in refused.output
    assert len((tmp_path / "audit-anchors.log").read_text().splitlines()) == 1
    _rewrite(audited, anchored, "调查")  # the anchored row itself, every later hash recomputed
    refused = _cli("anchor")
    assert refused.exit_code == 1 and f"anchor on line 1 (row {anchored}," in refused.output
    assert len((tmp_path / "audit-anchors.log").read_text().splitlines()) == 1


def test_an_edited_anchor_file_is_caught(audited: str, tmp_path: Path) -> None:
    assert _cli("anchor").exit_code == 0
    _append(audited, 2)
    assert _cli("anchor").exit_code == 0
    path = tmp_path / "audit-anchors.log"
    first, second = path.read_text().splitlines()
    seq, _, at, signature = second.split()
    path.write_text(f"{first}\n{int(seq) - 1} {'00' * 32} {at} {signature}\n")
    broken = _cli("verify")
    assert broken.exit_code == 1 and "anchor on line 2" in broken.output and "bad signature" in broken.output
    path.write_text(f"{first}\nnot an anchor\n")
    broken = _cli("verify")
    assert broken.exit_code == 1 and "line 2 is not an anchor" in broken.output


def test_the_key_is_private_and_its_public_half_verifies(audited: str, tmp_path: Path) -> None:
    assert _cli("anchor").exit_code == 0
    key = tmp_path / "keys" / "audit-signing.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    printed = _cli("public-key")
    assert printed.exit_code == 0 and printed.output.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "auditor.pem").write_text(printed.output)
    assert _cli("verify", "--public-key", str(tmp_path / "auditor.pem")).exit_code == 0
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "other.pem").write_bytes(other)
    wrong = _cli("verify", "--public-key", str(tmp_path / "other.pem"))
    assert wrong.exit_code == 1 and "bad signature" in wrong.output


def test_a_lost_signing_key_is_not_replaced_beside_its_anchors(audited: str, tmp_path: Path) -> None:
    """Like the identity keys (portal.accounts.key_check): a new key beside anchors signed with a lost
    one would leave them unverifiable, so none is made; a malformed key is one line, no traceback."""
    assert _cli("anchor").exit_code == 0
    key = tmp_path / "keys" / "audit-signing.key"
    key.rename(tmp_path / "aside.key")
    for command in ("anchor", "public-key"):
        refused = _cli(command)
        assert refused.exit_code == 1 and "is missing" in refused.output and "Traceback" not in refused.output
    assert not key.exists()
    key.write_text("not a key")
    refused = _cli("anchor")
    assert refused.exit_code == 1 and "not a PEM Ed25519 private key" in refused.output, refused.output
    assert refused.output.count("\n") == 1
    (tmp_path / "aside.key").replace(key)
    assert _cli("anchor").exit_code == 0
