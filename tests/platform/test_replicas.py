"""Scale-out: public reads from a real streaming replica (pg_basebackup on loopback), and back
to the primary when the replica dies; writes always on the primary."""

from __future__ import annotations

import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.platform import migrate
from portal.platform.cluster import Cluster
from portal.platform.permissions import Principal, Role
from portal.settings import DatabaseSettings, Settings


@pytest.fixture(scope="module")
def primary_and_replica(scratch_cluster) -> tuple[Cluster, Cluster]:  # type: ignore[no-untyped-def]
    primary, replica = scratch_cluster("primary"), scratch_cluster("replica")
    primary.ensure_database("cadastre")
    migrate.upgrade(primary.url("cadastre"))
    replica.init_replica(primary)
    replica.start()
    return primary, replica


def _wait(predicate, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_reads_go_to_the_replica_and_fail_over_to_the_primary(primary_and_replica) -> None:
    primary, replica = primary_and_replica
    settings = Settings(database=DatabaseSettings(DATABASE_URL=primary.url("cadastre"),
                                                  DATABASE_REPLICA_URLS=replica.url("cadastre"),
                                                  replica_check_seconds=0.5))
    app = create_app(settings)

    async def operator(request: object) -> Principal:  # the health pages name servers to operators only
        return Principal(1, "运维", frozenset({Role.ADMINISTRATOR}))

    app.state.principal_resolver = operator
    with TestClient(app) as client:
        served = client.get("/health/reads").json()
        assert served["replica"] is True and served["port"] == replica.status().port
        assert served["replicas"][0]["healthy"] is True
        # A write on the primary streams to the replica; the replica refuses writes itself.
        with psycopg.connect(primary.url("cadastre"), autocommit=True) as conn:
            conn.execute("INSERT INTO calendar_days VALUES ('2030-01-01', false, '元旦')")
        with psycopg.connect(replica.url("cadastre"), autocommit=True) as conn:
            _wait(lambda: conn.execute("SELECT count(*) FROM calendar_days WHERE day = '2030-01-01'").fetchone()[0])
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("INSERT INTO calendar_days VALUES ('2030-01-02', false, 'x')")
        assert client.get("/api/statistics").status_code == 200
        # Public features, tiles and search read from the replica too.
        ogc_reads = client.app.state.ogc.reads
        assert client.get("/ogc/collections/parcels/items?f=json&limit=5").status_code == 200
        assert client.get("/api/search", params={"q": "330102"}).status_code == 200
        assert ogc_reads.status()[0]["reads_served"] >= 1
        before = ogc_reads.status()[0]["reads_served"]  # one item by id too, not on the item pool
        assert client.get("/ogc/collections/parcels/items/none-such").status_code == 404
        assert ogc_reads.status()[0]["reads_served"] > before
        replica.stop()
        for _ in range(5):  # no request fails while the replica is down
            after = client.get("/health/reads")
            assert after.status_code == 200 and after.json()["replica"] is False
        assert client.get("/api/statistics").status_code == 200
        assert client.get("/ogc/collections/parcels/items?f=json&limit=5").status_code == 200
        _wait(lambda: client.get("/health").json()["replicas"][0]["healthy"] is False)
        replica.start()
        _wait(lambda: client.get("/health/reads").json()["replica"] is True)
