"""A scan is checked, rendered and tiled with no database connection held (issue 15 §8, the
class review 1 found in the tiles): starting a digitisation and attaching a file to a source
hold a work-pool connection only for their short record. Each test watches the work pool from
inside the slow step itself (the sandboxed inspection, the full-page render): on the old code
both ran inside `in_worker`, holding one of the pool's connections for seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from drawn_scans import KnownParcel, draw_scan
from fastapi.testclient import TestClient
from harness import header_principal

from portal.app import create_app
from portal.archive import service as archive_service
from portal.settings import ArchiveSettings, DatabaseSettings, Settings

E, N = 40_515_100.0, 3_345_465.0
POINTS = {"J1": (E, N), "J2": (E + 40, N), "J3": (E + 40, N + 25), "J4": (E, N + 25)}


def _in_use(app: Any) -> int:
    stats = app.state.work_pool.get_stats()
    return int(stats.get("pool_size", 0) - stats.get("pool_available", 0))


def _watching(app: Any, real: Callable[..., Any], seen: list[int]) -> Callable[..., Any]:
    """`real`, noting how many work-pool connections are out while it runs."""
    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(_in_use(app))
        return real(*args, **kwargs)
    return watched


@pytest.fixture
def app(module_database: str, tmp_path: Path) -> Any:
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=module_database, work_pool_size=2),
                              archive=ArchiveSettings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache")))
    app.state.principal_resolver = header_principal
    return app


def test_starting_a_digitisation_renders_the_scan_with_no_connection(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    monkeypatch.setattr(archive_service, "full_page", _watching(app, archive_service.full_page, seen))
    monkeypatch.setattr(archive_service, "_inspect", _watching(app, archive_service._inspect, seen))
    scan = draw_scan(POINTS, [KnownParcel("330102001001GB09712", "0701", ("J1", "J2", "J3", "J4"))])
    with TestClient(app) as client:
        answer = client.post("/api/digitisations", files={"file": ("zongditu.png", scan.png)},
                             headers={"x-test-person": "surveyor"})
    assert answer.status_code == 201, answer.text
    assert len(seen) == 2 and seen == [0, 0], f"work-pool connections out while the scan was read: {seen}"


def test_attaching_a_file_inspects_it_with_no_connection(app, module_database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    monkeypatch.setattr(archive_service, "_inspect", _watching(app, archive_service._inspect, seen))
    with psycopg.connect(module_database) as conn:
        (source_id,) = conn.execute("SELECT min(source_id) FROM sources").fetchone() or (None,)
    scan = draw_scan(POINTS, [])
    with TestClient(app) as client:
        answer = client.post(f"/api/sources/{source_id}/files", files={"file": ("deed.png", scan.png)},
                             headers={"x-test-person": "registrar"})
    assert answer.status_code == 201, answer.text
    assert seen == [0], f"work-pool connections out while the file was inspected: {seen}"
