"""Accounts fixtures (for accounts, checks and audit): the app over real HTTP (TestClient) on the
module's own copy of the demo cadastre (log-ins, checks and audit rows are written there), and the
demo district's landmarks (the owner's units, a mortgaged unit of someone else, a seized unit),
read from the shared read-only copy (every copy holds the same district)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from account_helpers import settings_for
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.demo.accounts import demo_owner


@pytest.fixture(scope="module")
def client(module_database: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(module_database)), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def visitor(module_database: str) -> Iterator[TestClient]:
    """A client with its own cookie jar (another person's browser), on the module's database."""
    with TestClient(create_app(settings_for(module_database)), follow_redirects=False) as test_client:
        yield test_client


@dataclass(frozen=True)
class Demo:
    owner_party: int
    owner_units: list[str]
    other_unit: str           # a unit the owner holds no right on, with a mortgage
    seized_unit: str          # a unit with an active seizure
    parcel_code: str          # a parcel with several units


@pytest.fixture(scope="session")
def demo(database_url: str) -> Demo:
    owner = demo_owner(database_url)
    assert owner, "the demo has an owner account"
    party, units = owner
    with psycopg.connect(database_url) as conn:
        other = conn.execute(
            "SELECT u.unit_number FROM current_units u JOIN current_restrictions x ON x.unit_id = u.unit_id "
            "AND x.kind = 'mortgage' AND x.status = 'active' WHERE u.unit_number <> ALL(%s) "
            "ORDER BY u.unit_number LIMIT 1", (units,)).fetchone()[0]
        seized = conn.execute(
            "SELECT u.unit_number FROM current_units u JOIN current_restrictions x ON x.unit_id = u.unit_id "
            "AND x.kind = 'seizure' AND x.status = 'active' ORDER BY 1 LIMIT 1").fetchone()[0]
        parcel = conn.execute(
            "SELECT left(unit_number, 19) FROM current_units GROUP BY 1 HAVING count(*) >= 2 ORDER BY 1 LIMIT 1"
        ).fetchone()[0]
    return Demo(party, units, other, seized, parcel)
