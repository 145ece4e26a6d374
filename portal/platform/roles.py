"""Database roles: the least-privilege role the web application connects as.

The superuser (or the database's owner) runs migrations and the admin command line; the app
connects as a role that may read and write the portal's tables but is neither superuser nor
owner, so it cannot switch triggers off (`ALTER TABLE ... DISABLE TRIGGER`,
`session_replication_role`), and it may only append to the audit tables and the check log, never
UPDATE, DELETE or TRUNCATE them. `cadastre audit grant-app-role NAME` grants this to a role of
one's own (for DATABASE_URL); the managed cluster creates and grants `cadastre_app` itself
(portal/platform/cluster.py).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

__all__ = ["APP_ROLE", "APPEND_ONLY_TABLES", "role_exists", "create_login_role", "set_password", "grant_app_role"]

APP_ROLE = "cadastre_app"
# Rows the app appends and nobody changes (the triggers of migration 0003 refuse it to the owner too).
APPEND_ONLY_TABLES = ("audit_log", "audit_staged", "checks")
# Tables the app reads and never writes: the chain head (moved only by the SECURITY DEFINER
# trigger), the schema revision and PostGIS's reference systems.
READ_ONLY_TABLES = ("audit_chain", "alembic_version", "spatial_ref_sys")


def role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def create_login_role(conn: psycopg.Connection, role: str, password: str) -> None:
    """CREATE ROLE with LOGIN (and no other attribute: not superuser, no CREATEDB, CREATEROLE,
    REPLICATION or BYPASSRLS); the name is quoted as an identifier and the password as a literal
    (a utility statement takes no bound parameters)."""
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def set_password(conn: psycopg.Connection, role: str, password: str) -> None:
    conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def grant_app_role(conn: psycopg.Connection, role: str) -> None:
    """Give `role` what the portal needs on the connected database's tables as they are now (run
    again after a migration adds tables): read and write the portal's tables, append to the audit
    log and the check log, never UPDATE, DELETE or TRUNCATE them, never write the chain head."""
    ident = sql.Identifier(role)
    existing = {name for (name,) in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v')").fetchall()}
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(ident))
    conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident))
    conn.execute(sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {}").format(ident))
    append_only = [t for t in APPEND_ONLY_TABLES if t in existing]
    if append_only:
        conn.execute(sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, append_only)), ident))
    read_only = [t for t in READ_ONLY_TABLES if t in existing]
    if read_only:
        conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, read_only)), ident))
