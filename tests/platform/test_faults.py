"""Faults: PostgreSQL restarts under load, and the process dies in the middle of a publication.

Every request during the restart either succeeds or gets a clear 503; the app recovers by
itself; every change it confirmed is still there afterwards and no change is half applied."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pyogrio
import pytest
import shapely
from harness import serve

from portal.app import create_app
from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.settings import DatabaseSettings, Settings


@pytest.mark.slow
def test_database_restart_under_load(scratch_cluster) -> None:
    from harness import header_principal

    cluster = scratch_cluster("faults")
    url = cluster.ensure_database("cadastre")
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=20, seed=9)
    with psycopg.connect(url) as conn:
        unit = conn.execute("SELECT unit_number FROM current_units ORDER BY unit_id LIMIT 1").fetchone()[0]
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url, pool_timeout=2.0)))
    app.state.principal_resolver = header_principal
    base, server = serve(app)
    statuses: list[int] = []
    confirmed: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                statuses.append(client.get("/api/statistics").status_code)

    def writer() -> None:
        with httpx.Client(base_url=base, timeout=30, headers={"x-test-person": "registrar"}) as client:
            k = 0
            while not stop.is_set():
                k += 1
                response = client.post("/api/applications", json={
                    "kind": "objection", "unit_number": unit, "applicant": "利害关系人",
                    "request": {"party": {"name": "利害关系人", "id_document_type": "passport",
                                          "id_document_number": "E12345678"}, "reason": "异议"},
                    "sources": [{"kind": "application", "reference": f"异议申请-{k}"}]})
                statuses.append(response.status_code)
                if response.status_code == 201:
                    confirmed.append(response.json()["id"])

    workers = [threading.Thread(target=reader), threading.Thread(target=reader), threading.Thread(target=writer)]
    def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
        """Until `condition` holds (or `seconds` pass): on a loaded machine fixed sleeps raced."""
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)

    for w in workers:
        w.start()
    wait_for(lambda: len(confirmed) > 0)  # serving and writing before the outage
    cluster.stop()
    wait_for(lambda: 503 in statuses, 30)
    cluster.start()
    after = len(statuses), len(confirmed)
    wait_for(lambda: len(confirmed) > after[1] and 200 in statuses[after[0]:])  # both recovered
    stop.set()
    for w in workers:
        w.join(60)
    server.should_exit = True
    assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
    assert 503 in statuses and statuses[-1] in (200, 201)
    with psycopg.connect(url) as conn:
        stored = {r[0] for r in conn.execute("SELECT application_id FROM applications WHERE applicant = '利害关系人'")}
        orphans = conn.execute("SELECT count(*) FROM applications a WHERE applicant = '利害关系人' AND NOT EXISTS "
                               "(SELECT 1 FROM application_sources s WHERE s.application_id = a.application_id)"
                               ).fetchone()[0]
    assert set(confirmed) <= stored and len(confirmed) > 0
    assert orphans == 0  # no application without the sources it was received with


def _gpkg(path: Path, count: int) -> None:
    import geopandas

    columns = int(np.ceil(np.sqrt(count)))
    i = np.arange(count)
    x0 = 40_514_965.0 + (i % columns) * 0.5
    y0 = 3_345_462.0 - (i // columns) * 0.5
    codes = [f"330102097{1 + k // 99_999:03d}GB{k % 99_999 + 1:05d}" for k in range(count)]
    pyogrio.write_dataframe(geopandas.GeoDataFrame(
        {"parcel_code": codes, "land_use_code": ["0701"] * count},
        geometry=shapely.box(x0, y0, x0 + 0.4, y0 + 0.4), crs="EPSG:4528"), path, driver="GPKG")


@pytest.mark.slow
def test_killing_the_process_in_the_middle_of_a_publication_changes_nothing(fresh_database, tmp_path) -> None:
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=20, seed=9)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE admin_areas SET boundary = ST_Multi(ST_Union(boundary, ST_Transform("
                     "ST_MakeEnvelope(40514900, 3345300, 40515100, 3345470, 4528), 4490)))")
        conn.commit()
        before = conn.execute("SELECT count(*) FROM parcels").fetchone()[0]
    upload = tmp_path / "many.gpkg"
    _gpkg(upload, 20_000)
    env = {**os.environ, "DATABASE_URL": url}
    process = subprocess.Popen([sys.executable, "-m", "portal.cli", "import", str(upload)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "writing" not in seen:  # said once the first rows have gone to the database
        line = process.stderr.readline()  # type: ignore[union-attr]
        assert line or process.poll() is None, (seen, process.stdout.read())  # type: ignore[union-attr]
        seen += line
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(0.5)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM parcels").fetchone()[0] == before
    done = subprocess.run([sys.executable, "-m", "portal.cli", "import", str(upload)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM parcels").fetchone()[0] == before + 20_000
