"""`cadastre db start|status|stop` manage a real cluster in a folder of the project's own."""

from __future__ import annotations

import secrets
import shutil

import psycopg
import pytest
from click.testing import CliRunner

from portal.cli import main
from portal.platform.cluster import Cluster
from portal.settings import project_root


@pytest.fixture
def state_dir(monkeypatch):  # type: ignore[no-untyped-def]
    # Inside the project: the unprivileged `postgres` account cannot reach pytest's tmp folders.
    path = project_root() / ".cadastre" / f"test-cluster-{secrets.token_hex(3)}"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CADASTRE_STATE_DIR", str(path))
    yield path
    Cluster(path).destroy()
    shutil.rmtree(path, ignore_errors=True)


def test_start_status_stop(state_dir) -> None:
    runner = CliRunner()
    started = runner.invoke(main, ["db", "start"])
    assert started.exit_code == 0, started.output
    assert "running on 127.0.0.1:" in started.output
    cluster = Cluster(state_dir)
    status = cluster.status()
    assert status.running and status.port
    assert (state_dir / "pgdata" / "PG_VERSION").read_text().strip() == "15"
    with psycopg.connect(cluster.url("cadastre")) as conn:
        assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3.")
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    again = runner.invoke(main, ["db", "start"])  # idempotent
    assert again.exit_code == 0 and cluster.status().port == status.port
    assert runner.invoke(main, ["db", "status"]).exit_code == 0
    assert runner.invoke(main, ["db", "stop"]).exit_code == 0
    stopped = runner.invoke(main, ["db", "status"])
    assert stopped.exit_code == 3 and "not running" in stopped.output


def test_wrong_password_is_refused(state_dir) -> None:
    cluster = Cluster(state_dir)
    cluster.ensure_database("cadastre")
    url = cluster.url("cadastre").replace("cadastre:", "cadastre:x", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url)


def test_database_url_means_nothing_is_managed(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://somebody@db.example/cadastre")
    result = CliRunner().invoke(main, ["db", "start"])
    assert result.exit_code != 0 and "DATABASE_URL is set" in result.output


def test_reset_quotes_a_hostile_database_name(state_dir, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    name = 'x"; DROP TABLE parcels; --'
    monkeypatch.setenv("CADASTRE_DATABASE", name)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "start"]).exit_code == 0
    cluster = Cluster(state_dir)
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert name in names
    with psycopg.connect(cluster.url(name)) as conn:
        conn.execute("CREATE TABLE marker (n int)")
        conn.commit()
    reset = runner.invoke(main, ["db", "reset", "--yes"])
    assert reset.exit_code == 0, reset.output
    assert "empty database created" in reset.output
    with psycopg.connect(cluster.url(name)) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == name
        assert conn.execute("SELECT to_regclass('marker')").fetchone()[0] is None
