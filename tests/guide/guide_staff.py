"""Helpers of the guide tests: the guide's time limits as stored, and the app with a stand-in
for the accounts module (the X-Test-Role header names the role)."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI

from portal.app import create_app
from portal.platform.permissions import Principal, Role
from portal.settings import DatabaseSettings, Settings


def limits(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT kind, time_limit_days FROM guide_entries").fetchall())


def staff_app(url: str) -> FastAPI:
    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=url)))

    async def resolver(request) -> Principal:  # type: ignore[no-untyped-def]
        role = request.headers.get("x-test-role")
        if not role:
            return Principal()
        return Principal(user_id=1, display_name=f"test {role}", roles=frozenset({Role(role)}))

    app.state.principal_resolver = resolver
    return app
