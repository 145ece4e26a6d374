"""Load test of a realistic mix on loopback: public tiles, features, search and parcel facts,
verified restriction checks, and surveyors' uploads, against a copy of a demo district.

    .venv/bin/python bench/load.py --template bench_1000000 --users 40 --seconds 60
    .venv/bin/python bench/load.py --template bench_100000  --users 40 --seconds 60

Per kind of request: throughput, p50 and p99 (locust, headless), with the app served by
uvicorn with 2 workers on this 2-core machine. The template database is copied (never changed),
migrated to head and given the demo accounts; the check limits are raised for the run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
from database_copies import copy_database
from serving import wait_until_serving

from portal.demo.accounts import add_demo_accounts
from portal.platform import migrate
from portal.platform.db import resolve_url, with_database
from portal.settings import DatabaseSettings, Settings

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
UPLOAD = """[属性描述]
坐标系=2000国家大地坐标系
几度分带=3
带号=40
[地块坐标]
5,0.0100,330102099001GB00001,负载测试,面,H51G093001,住宅用地,0701,@
J1,1,3345400.000,40515000.000
J2,1,3345400.000,40515010.000
J3,1,3345410.000,40515010.000
J4,1,3345410.000,40515000.000
J1,1,3345400.000,40515000.000
"""


def sample(url: str, base: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT parcel_code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                            "FROM parcels TABLESAMPLE SYSTEM (1) WHERE end_lifespan IS NULL LIMIT 2000").fetchall()
        units = [r[0] for r in conn.execute("SELECT unit_number FROM units TABLESAMPLE SYSTEM (1) "
                                                   "WHERE end_lifespan IS NULL LIMIT 2000")]
    tokens = {}
    for user in ("citizen", "surveyor"):
        response = httpx.post(f"{base}/api/tokens", json={"username": user, "password": f"demo-{user}-2025"})
        response.raise_for_status()
        tokens[user] = response.json()["token"]
    return {"codes": [r[0] for r in rows], "points": [[r[1], r[2]] for r in rows], "units": units,
            "tokens": tokens, "upload": UPLOAD}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="bench_1000000")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    server = with_database(resolve_url(DatabaseSettings()), "postgres")
    name = f"load_{args.template}"
    url = copy_database(server, args.template, name)
    migrate.upgrade(url)
    # The app refuses a DATABASE_URL without an identity key; the demo accounts use the same one.
    os.environ.setdefault("CADASTRE_ACCOUNTS_IDENTITY_KEY", "be7c" * 16)
    add_demo_accounts(url, Settings())
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "CADASTRE_ACCOUNTS_CHECKS_PER_MINUTE": "1000000",
           "CADASTRE_ACCOUNTS_CHECKS_PER_DAY": "100000000", "CADASTRE_ACCOUNTS_COOKIE_SECURE": "false"}
    app = subprocess.Popen([sys.executable, "-m", "uvicorn", "portal.main:app", "--port", str(port),
                            "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(app, f"{base}/health", seconds=60)
        sample_file = RESULTS / f"load_sample_{args.template}.json"
        sample_file.write_text(json.dumps(sample(url, base), ensure_ascii=False))
        with psycopg.connect(url) as conn:
            parcels = conn.execute("SELECT count(*) FROM current_parcels").fetchone()[0]  # type: ignore[index]
        prefix = RESULTS / f"load_{args.template}"
        subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless",
                        "-u", str(args.users), "-r", str(max(1, args.users // 5)), "-t", f"{args.seconds}s",
                        "--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
                       env={**env, "CADASTRE_LOAD_SAMPLE": str(sample_file)}, check=False)
        with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
            stats = list(csv.DictReader(handle))
        print(f"\nload mix on {parcels:,} current parcels, {args.users} users, {args.seconds} s, "
              f"uvicorn x{args.workers}, 2 cores shared with PostgreSQL\n")
        print(f"{'request':32} {'count':>8} {'fail':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for row in stats:
            print(f"{row['Name']:32} {row['Request Count']:>8} {row['Failure Count']:>6} "
                  f"{float(row['Requests/s']):8.1f} {row['50%']:>8} {row['99%']:>8}")
    finally:
        app.terminate()
        app.wait(30)
        if not args.keep:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    random.seed(1)
    main()
