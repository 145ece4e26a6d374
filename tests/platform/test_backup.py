"""`cadastre backup` and `cadastre restore`: a restored database holds exactly the same rows."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from portal.cli import main
from portal.platform.backup import fingerprint
from portal.platform.db import with_database


def test_backup_restores_into_a_fresh_database_with_identical_rows(database_url, server_url, tmp_path,
                                                                  monkeypatch) -> None:
    name = "cadastre_restore_" + tmp_path.name[-8:].replace("-", "_").lower()
    target = with_database(server_url, name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    dump = tmp_path / "cadastre.dump"
    try:
        made = CliRunner().invoke(main, ["backup", str(dump)])
        assert made.exit_code == 0, made.output
        restored = CliRunner().invoke(main, ["restore", str(dump), "--into", name])
        assert restored.exit_code == 0, restored.output
        original, copy = fingerprint(database_url), fingerprint(target)
        assert original == copy and original["parcels"][0] > 0 and original["restrictions"][0] > 0
        with psycopg.connect(target) as conn:  # the rules came back with the data
            with pytest.raises(psycopg.errors.RestrictViolation, match="never deleted"):
                conn.execute("DELETE FROM parcels")
        again = CliRunner().invoke(main, ["restore", str(dump), "--into", name])
        assert again.exit_code != 0 and "exists" in again.output
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
