"""The guide tests rewrite the guide: each gets an empty migrated cadastre of its own, copied
from one migrated template per module."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from databases import copy_database, drop_database

from portal.platform import migrate


@pytest.fixture(scope="module")
def guide_template(fresh_database: Callable[[], str]) -> str:
    url = fresh_database()
    migrate.upgrade(url)
    return url


@pytest.fixture
def guide_database(server_url: str, guide_template: str) -> Iterator[str]:
    """An empty migrated cadastre (the guide as the migration seeds it), this test's own."""
    url = copy_database(server_url, guide_template)
    yield url
    drop_database(server_url, url)
