"""Verified restriction checks under concurrent load, each writing its check and its chained
audit row: throughput and p50/p99 over real HTTP, side by side with two peers that show where
the time goes.

    CADASTRE_STATE_DIR=/work/main/.cadastre .venv/bin/python bench/checks.py --seconds 20

Against the 1,000,000-parcel district (`bench_1000000`, schema 0001): the accounts and audit
objects of migration 0003 are created in a separate schema `bench_accounts` of that database
(nothing of the register is touched or copied) and dropped afterwards; the app reaches them
through `search_path`. The server is uvicorn with `--workers` processes; the load comes from
asyncio + httpx in this process, on the same 2 cores (so the figures include the client's cost).

Peers, measured the same way:
- `GET /health`: the HTTP stack and one trivial query (an upper bound for any endpoint);
- `GET /api/check`: bearer token lookup, rate counters, flags query, check row, audit row (chained);
- the same check's SQL from Python without HTTP (psycopg, one connection per worker).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.accounts.security import token_digest  # noqa: E402
from portal.db import resolve_url, with_database  # noqa: E402
from portal.settings import DatabaseSettings  # noqa: E402

SCHEMA = "bench_accounts"


def _migration_sql() -> tuple[str, str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("m0003", ROOT / "migrations/versions/0003_accounts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ACCOUNTS, module.AUDIT


def prepare(url: str, users: int, sample: int) -> tuple[list[str], list[str]]:
    """Create the accounts schema, `users` verified users with bearer tokens, and sample units."""
    accounts, audit = _migration_sql()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        conn.execute(f"SET search_path = {SCHEMA}, public")
        conn.execute(accounts)
        conn.execute(audit)
        tokens = []
        registrar = conn.execute(
            "INSERT INTO users (username, display_name, password_hash) VALUES ('bench-registrar', 'r', "
            "'$argon2id$x') RETURNING user_id").fetchone()[0]
        for i in range(users):
            user_id = conn.execute(
                "INSERT INTO users (username, display_name, password_hash) VALUES (%s, %s, '$argon2id$x') "
                "RETURNING user_id", (f"bench{i:04d}", f"bench {i}")).fetchone()[0]
            conn.execute(
                "INSERT INTO identity_verifications (user_id, method, verified_name, document_digest, "
                "document_masked, verified_by) VALUES (%s, 'counter', 'bench', %s, '110*************12', %s)",
                (user_id, secrets.token_bytes(32), registrar))
            token = secrets.token_urlsafe(32)
            conn.execute("INSERT INTO sessions (token_digest, user_id, kind, expires_at) "
                         "VALUES (%s, %s, 'bearer', now() + interval '1 day')", (token_digest(token), user_id))
            tokens.append(token)
        units = [r[0] for r in conn.execute(
            "SELECT unit_number FROM units TABLESAMPLE SYSTEM (2) WHERE end_lifespan IS NULL LIMIT %s", (sample,))]
        conn.execute("ANALYZE users; ANALYZE sessions; ANALYZE identity_verifications")
    return tokens, units


def _server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["options"] = f"-c search_path={SCHEMA},public"
    env = {**os.environ, "DATABASE_URL": psycopg.conninfo.make_conninfo(**info),
           "CADASTRE_ACCOUNTS_IDENTITY_KEY": "bench", "CADASTRE_ACCOUNTS_CHECKS_PER_MINUTE": "100000000",
           "CADASTRE_ACCOUNTS_CHECKS_PER_DAY": "100000000", "CADASTRE_ACCOUNTS_COOKIE_SECURE": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.main:app", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("the server did not start")


def _report(name: str, latencies: list[float], errors: int, seconds: float) -> str:
    if not latencies:
        return f"{name:<44} no successful requests ({errors} errors)"
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return (f"{name:<44} {len(latencies) / seconds:8.0f} /s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
            f"   ({len(latencies)} ok, {errors} errors)")


async def _http_load(base: str, paths: list[str], tokens: list[str], concurrency: int,
                     seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker(k: int) -> None:
            nonlocal errors
            headers = {"Authorization": f"Bearer {tokens[k % len(tokens)]}"} if tokens else {}
            i = k
            while time.perf_counter() < deadline:
                path = paths[i % len(paths)]
                i += concurrency
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies, errors


async def _sql_load(url: str, units: list[str], concurrency: int, seconds: float) -> tuple[list[float], int]:
    """The check's statements without HTTP: counters, flags, check row and audit row in one transaction."""
    from portal.audit import AuditEntry, record_async
    from portal.checks import queries

    info = psycopg.conninfo.conninfo_to_dict(url)
    info["options"] = f"-c search_path={SCHEMA},public"
    dsn = psycopg.conninfo.make_conninfo(**info)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            user_id = (await (await conn.execute("SELECT min(user_id) + %s FROM users", (k,))).fetchone())[0]
            i = k
            while time.perf_counter() < deadline:
                unit = units[i % len(units)]
                i += concurrency
                started = time.perf_counter()
                await conn.execute("SELECT rate_hit(%s, '1 minute', 1), rate_hit(%s, '1 day', 1)",
                                   (f"m:{user_id}", f"d:{user_id}"))
                async with conn.transaction():
                    rows = await queries.unit_flags(conn, unit_number=unit, parcel_code=None, party_id=None)
                    reference = "CK20260101-" + secrets.token_hex(4).upper()
                    await queries.insert_check(conn, {
                        "reference": reference, "verification_code": secrets.token_hex(8).upper(),
                        "user_id": user_id, "checker_role": "verified_user", "checker_institution": None,
                        "tier": "flags", "query_kind": "unit_number", "query_value": unit, "purpose": None,
                        "unit_numbers": [r["unit_number"] for r in rows], "statement": {"units": len(rows)},
                        "checked_at": dt.datetime.now(dt.timezone.utc)})
                    await record_async(conn, AuditEntry("restriction_check", actor_user_id=user_id,
                                                        access="consulted", subject=unit, reference=reference))
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies, 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="bench_1000000")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--keep", action="store_true", help="keep the bench_accounts schema afterwards")
    args = parser.parse_args()

    url = with_database(resolve_url(DatabaseSettings()), args.database)
    with psycopg.connect(url) as conn:
        parcels = conn.execute("SELECT count(*) FROM parcels WHERE end_lifespan IS NULL").fetchone()[0]
    tokens, units = prepare(url, args.users, 20_000)
    print(f"database {args.database}: {parcels} current parcels; {len(units)} sampled units; "
          f"{len(tokens)} verified users; concurrency {args.concurrency}; uvicorn workers {args.workers}; "
          f"{os.cpu_count()} CPUs", flush=True)
    server = _server(url, args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        lines = []
        asyncio.run(_http_load(base, ["/health"], [], 4, 2))  # warm up
        result = asyncio.run(_http_load(base, ["/health"], [], args.concurrency, args.seconds))
        lines.append(_report("GET /health (HTTP stack + 1 query)", *result, args.seconds))
        print(lines[-1], flush=True)
        check_paths = [f"/api/check?unit_number={u}" for u in units]
        asyncio.run(_http_load(base, check_paths[:200], tokens, 4, 2))
        result = asyncio.run(_http_load(base, check_paths, tokens, args.concurrency, args.seconds))
        lines.append(_report("GET /api/check (check + chained audit row)", *result, args.seconds))
        print(lines[-1], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = asyncio.run(_sql_load(url, units, args.concurrency, args.seconds))
    lines.append(_report("same SQL from Python, no HTTP", *result, args.seconds))
    print(lines[-1], flush=True)
    with psycopg.connect(url) as conn:
        conn.execute(f"SET search_path = {SCHEMA}, public")
        rows, head = conn.execute("SELECT count(*), (SELECT seq FROM audit_chain) FROM audit_log").fetchone()
        print(f"audit rows written: {rows} (chain head {head})")
        if not args.keep:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))
            conn.commit()


if __name__ == "__main__":
    main()
