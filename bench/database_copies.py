"""Throwaway copies of a benchmark's template database, so a run never changes the template."""

from __future__ import annotations

import time

import psycopg

from portal.platform.db import with_database


def copy_database(server: str, template: str, name: str, wait_s: float = 900) -> str:
    """`name` made afresh from `template`; returns its URL. CREATE DATABASE ... TEMPLATE needs
    the template idle, so this waits (up to `wait_s`) for other users to leave it."""
    deadline = time.monotonic() + wait_s
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        while True:
            try:
                # FILE_COPY: copying gigabytes through the WAL would leave them to be written
                # back while the benchmark is timing.
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY = FILE_COPY')
                break
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
    return with_database(server, name)
