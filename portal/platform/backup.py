"""Backup and restore of the whole cadastre database (register, submissions, applications,
accounts and the audit trail) with PostgreSQL's own tools, in pg_dump's custom format.

A restore goes into a new, empty database, never over a live one: the operator then points
DATABASE_URL (or CADASTRE_DATABASE) at it, so a bad backup can never destroy the register.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg

from portal.platform import queries
from portal.platform.db import with_database

__all__ = ["BackupError", "backup", "restore", "fingerprint"]


class BackupError(RuntimeError):
    pass


def _tool(name: str) -> str:
    from portal.platform.cluster import ClusterError, find_binaries

    try:
        path = find_binaries().bindir / name
        if path.exists():
            return str(path)
    except ClusterError:
        pass
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client-15)")
    return found


def _env(url: str) -> tuple[list[str], dict[str, str]]:
    info = psycopg.conninfo.conninfo_to_dict(url)
    env = {**os.environ}
    if info.get("password"):
        env["PGPASSWORD"] = str(info["password"])
    args = [f"--host={info.get('host', 'localhost')}", f"--port={info.get('port', 5432)}",
            f"--username={info.get('user', 'postgres')}"]
    return args, env


def backup(url: str, path: Path) -> int:
    """Dump the database at `url` into `path`, readable by its owner only (mode 0600: it holds
    names, identity digests and sealed numbers, password hashes); returns the file's size in
    bytes. A symbolic link at `path` is refused (BackupError), never followed."""
    args, env = _env(url)
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    try:  # made private before pg_dump writes into it (pg_dump keeps the file's mode)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise BackupError(f"cannot write the backup to {path}: {error.strerror}"
                          f"{' (a symbolic link is not followed)' if path.is_symlink() else ''}") from None
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps no wider mode
    finally:
        os.close(fd)
    done = subprocess.run([_tool("pg_dump"), *args, "--format=custom", "--no-owner", f"--file={path}",
                           str(database)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    return path.stat().st_size


def restore(server_url: str, path: Path, database: str) -> str:
    """Create `database` and restore `path` into it in one transaction; returns its URL.
    Refuses an existing database."""
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        if queries.database_exists(conn, database):
            raise BackupError(f"database {database!r} exists: restore into a new one")
        queries.create_database(conn, database)
    url = with_database(server_url, database)
    args, env = _env(url)
    done = subprocess.run([_tool("pg_restore"), *args, "--no-owner", "--single-transaction", "--exit-on-error",
                           f"--dbname={database}", str(path)], env=env, capture_output=True, text=True)
    if done.returncode:
        with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
            queries.drop_database(conn, database)
        raise BackupError(f"pg_restore failed (nothing was restored): {done.stderr.strip()}")
    return url


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row, per table of the public schema: two databases with
    the same fingerprint hold the same data."""
    with psycopg.connect(url) as conn:
        return {table: queries.table_fingerprint(conn, table) for table in queries.public_tables(conn)}
