"""Verified restriction checks under concurrent load, each writing its check and its chained
audit row: throughput and p50/p99 over real HTTP, side by side with two peers that show where
the time goes.

    CADASTRE_STATE_DIR=/work/main/.cadastre .venv/bin/python bench/checks.py --seconds 20

Against the 1,000,000-parcel district (`bench_1000000`, schema 0001): the accounts and audit
objects of migration 0003 and the check function of 0007 are created in a separate schema
`bench_accounts` of that database (nothing of the register is touched or copied) and dropped
afterwards; the app reaches them through `search_path`. The server is uvicorn with `--workers`
processes; the load comes from a minimal keep-alive HTTP/1.1 client on uvloop in this process,
on the same cores (its CPU time is printed: it is small). Other sessions share the machine, so
figures vary from run to run.

Peers, measured the same way:
- `GET /api/verify/{code}`: the HTTP stack and one indexed read (an upper bound for any endpoint);
- `GET /api/check`: bearer token lookup, rate counters, flags query, check row, audit row (chained);
- the check at fixed arrival rates (`--rates`, open loop: latency from each request's scheduled
  arrival), the figure to read against "at least 1,000/s with p99 under 25 ms";
- the same check's one statement (`restriction_check_flushed()`, migration 0007) from Python without
  HTTP (psycopg, one connection per worker).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import wait_until_serving  # noqa: E402

from portal.accounts.security import token_digest  # noqa: E402
from portal.platform.db import resolve_url, with_database  # noqa: E402
from portal.settings import DatabaseSettings  # noqa: E402

SCHEMA = "bench_accounts"


def _migration(name: str):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "migrations/versions" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _migration_sql() -> tuple[str, str, str]:
    """Accounts and audit (0003) and the one-statement check (0007)."""
    accounts = _migration("0003_accounts")
    check = _migration("0007_check_speed")
    return accounts.ACCOUNTS, accounts.AUDIT, check.AUDIT_APPEND + check.CHECK_FUNCTION


def prepare(url: str, users: int, sample: int) -> tuple[list[str], list[str]]:
    """Create the accounts schema, `users` verified users with bearer tokens, and sample units."""
    accounts, audit, check = _migration_sql()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        conn.execute(f"SET search_path = {SCHEMA}, public")
        conn.execute(accounts)
        conn.execute(audit)
        conn.execute(check)
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


def _server(url: str, port: int, workers: int, pool_check: bool = True) -> subprocess.Popen[bytes]:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["options"] = f"-c search_path={SCHEMA},public"
    env = {**os.environ, "DATABASE_URL": psycopg.conninfo.make_conninfo(**info),
           "CADASTRE_ACCOUNTS_IDENTITY_KEY": "be7c" * 16, "CADASTRE_ACCOUNTS_CHECKS_PER_MINUTE": "100000000",
           "CADASTRE_ACCOUNTS_CHECKS_PER_DAY": "100000000", "CADASTRE_ACCOUNTS_COOKIE_SECURE": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.main:app" if pool_check else "bench_app:app",
         "--app-dir", str(ROOT / "bench"), "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--no-access-log", "--http", "httptools", "--loop", "uvloop"], cwd=ROOT, env=env)
    wait_until_serving(process, f"http://127.0.0.1:{port}/health", seconds=60)
    return process


def _cpu_seconds(server_pid: int, database: str) -> dict[str, float]:
    """CPU time (user + system) so far of the app's processes, PostgreSQL's, and this process.

    `db` is the part of PostgreSQL's that serves this benchmark: the backends connected to its
    database and the WAL writer; `postgres` counts every PostgreSQL process, other sessions'
    work on the shared cluster included."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = {"app": 0.0, "postgres": 0.0, "db": 0.0, "client": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ppid, seconds = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        if int(entry.name) == os.getpid():
            totals["client"] += seconds
        elif int(entry.name) == server_pid or ppid == server_pid:  # not other sessions' servers
            totals["app"] += seconds
        elif cmd.startswith("postgres"):
            totals["postgres"] += seconds
            if f" {database} " in cmd or "walwriter" in cmd:
                totals["db"] += seconds
    return totals


def _report(name: str, latencies: list[float], errors: int, seconds: float) -> str:
    if not latencies:
        return f"{name:<44} no successful requests ({errors} errors)"
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return (f"{name:<44} {len(latencies) / seconds:8.0f} /s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
            f"   ({len(latencies)} ok, {errors} errors)")


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one keep-alive HTTP/1.1 request and read the response; returns the status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _http_load(base: str, paths: list[str], tokens: list[str], concurrency: int, seconds: float,
                     rate: float | None = None) -> tuple[list[float], int]:
    """`concurrency` keep-alive connections on a minimal HTTP/1.1 client (asyncio streams: httpx
    costs several milliseconds of CPU per request, which on 2 shared cores would measure the
    client rather than the portal).

    Closed loop (`rate` None): each connection sends requests back to back for `seconds`; this
    measures the most the server can take, and each request's latency grows with the requests in
    flight (Little's law). Open loop (`rate` per second): requests arrive evenly spaced whatever
    the answers do, served in order by the connections (a client's pool), and each latency runs
    from the request's scheduled arrival, so a stall counts against every request that arrived
    during it (no coordinated omission, as in wrk2's constant-throughput mode): the figure to
    read against a target of "N per second with p99 under T".
    """
    host, port = base.split("//")[1].split(":")
    latencies: list[float] = []
    errors = 0
    next_index = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter() + 0.2
    total = int(rate * seconds) if rate else 0

    async def worker(k: int) -> None:
        nonlocal errors, next_index
        reader, writer = await asyncio.open_connection(host, int(port))
        auth = f"Authorization: Bearer {tokens[k % len(tokens)]}\r\n" if tokens else ""
        try:
            while (next_index < total) if rate else (time.perf_counter() < deadline):
                i = next_index
                next_index += 1
                if rate:
                    started = start + i / rate
                    if started > time.perf_counter():
                        await asyncio.sleep(started - time.perf_counter())
                else:
                    started = time.perf_counter()
                request = f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()
                if await _request(reader, writer, request) == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies, errors


async def _sql_load(url: str, units: list[str], tokens: list[str], concurrency: int,
                    seconds: float) -> tuple[list[float], int]:
    """The check's one statement without HTTP, as the app sends it (portal.checks.service)."""
    from portal.checks import queries
    from portal.checks.service import _CHECK_ROLES, _COURT_ROLES, _FULL_ROLES, _code, _suffix

    info = psycopg.conninfo.conninfo_to_dict(url)
    info["options"] = f"-c search_path={SCHEMA},public"
    dsn = psycopg.conninfo.make_conninfo(**info)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal errors
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            digest = token_digest(tokens[k % len(tokens)])
            i = k
            while time.perf_counter() < deadline:
                unit = units[i % len(units)]
                i += concurrency
                started = time.perf_counter()
                status, _body, _records = await queries.check(conn, [
                    digest, "bearer", "unit_number", unit, None, "127.0.0.1", 100_000_000, 100_000_000,
                    "minute", "day", _CHECK_ROLES, _COURT_ROLES, _FULL_ROLES, _suffix(), _code()])
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return latencies, errors


def _run(coroutine):  # type: ignore[no-untyped-def]
    import uvloop

    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="bench_1000000")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--rates", default="1000,1200",
                        help="comma-separated arrival rates per second for the open-loop runs ('' to skip)")
    parser.add_argument("--keep", action="store_true", help="keep the bench_accounts schema afterwards")
    parser.add_argument("--no-pool-check", action="store_true",
                        help="serve with the pool's per-checkout health check off (bench/bench_app.py)")
    args = parser.parse_args()

    url = with_database(resolve_url(DatabaseSettings()), args.database)
    with psycopg.connect(url) as conn:
        parcels = conn.execute("SELECT count(*) FROM parcels WHERE end_lifespan IS NULL").fetchone()[0]
    tokens, units = prepare(url, args.users, 20_000)
    print(f"pool check per checkout: {'off' if args.no_pool_check else 'on'}; "
          f"database {args.database}: {parcels} current parcels; {len(units)} sampled units; "
          f"{len(tokens)} verified users; concurrency {args.concurrency}; uvicorn workers {args.workers}; "
          f"{os.cpu_count()} CPUs", flush=True)
    server = _server(url, args.port, args.workers, pool_check=not args.no_pool_check)
    base = f"http://127.0.0.1:{args.port}"
    try:
        lines = []
        check_paths = [f"/api/check?unit_number={u}" for u in units]
        _run(_http_load(base, check_paths[:200], tokens, 4, 2))  # warm up (and make a certificate)
        with psycopg.connect(url) as conn:
            conn.execute(f"SET search_path = {SCHEMA}, public")
            code = conn.execute("SELECT verification_code FROM checks LIMIT 1").fetchone()[0]
        verify = [f"/api/verify/{code}"]
        cpu = _cpu_seconds(server.pid, args.database)
        result = _run(_http_load(base, verify, [], args.concurrency, args.seconds))
        used = {k: _cpu_seconds(server.pid, args.database)[k] - cpu[k] for k in cpu}
        lines.append(_report("GET /api/verify/{code} (HTTP + 1 indexed read)", *result, args.seconds))
        print(lines[-1], flush=True)
        reads = max(1, len(result[0]))
        print(f"  CPU per request: app {used['app'] / reads * 1000:.2f} ms, "
              f"database {used['db'] / reads * 1000:.2f} ms", flush=True)
        cpu = _cpu_seconds(server.pid, args.database)
        result = _run(_http_load(base, check_paths, tokens, args.concurrency, args.seconds))
        used = {k: _cpu_seconds(server.pid, args.database)[k] - cpu[k] for k in cpu}
        lines.append(_report("GET /api/check (check + chained audit row)", *result, args.seconds))
        print(lines[-1], flush=True)
        checks = max(1, len(result[0]))
        print(f"  CPU seconds during the check run: app {used['app']:.1f}, postgres {used['postgres']:.1f} "
              f"(of which this database's backends and the WAL writer {used['db']:.1f}), load generator "
              f"{used['client']:.1f} (of {2 * args.seconds:.0f} available); per check: app "
              f"{used['app'] / checks * 1000:.2f} ms, database {used['db'] / checks * 1000:.2f} ms", flush=True)
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            result = _run(_http_load(base, check_paths, tokens, args.concurrency, args.seconds, rate))
            lines.append(_report(f"GET /api/check arriving at {rate:.0f}/s (open loop)", *result, args.seconds))
            print(lines[-1], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = _run(_sql_load(url, units, tokens, args.concurrency, args.seconds))
    lines.append(_report("same call from Python, no HTTP", *result, args.seconds))
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
