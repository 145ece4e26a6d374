"""Time the demo district load at a given size and report the database size.

    .venv/bin/python bench/demo_load.py --parcels 1000000
"""

from __future__ import annotations

import argparse
import time

import psycopg

from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.platform.db import resolve_url, with_database
from portal.settings import DatabaseSettings, Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parcels", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--database", default=None, help="default: bench_<parcels>")
    args = parser.parse_args()
    name = args.database or f"bench_{args.parcels}"
    server = with_database(resolve_url(DatabaseSettings()), "postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    migrate.upgrade(url)
    started = time.perf_counter()
    summary = load_demo(url, settings=Settings(), parcels=args.parcels, seed=args.seed,
                        progress=lambda m: print(f"{time.perf_counter() - started:8.1f} s  {m}", flush=True))
    with psycopg.connect(url) as conn:
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    for key, value in summary.counts.items():
        print(f"{key:>22}: {value}")
    print(f"demo load, {args.parcels} parcels: {summary.seconds:.1f} s; database size {size}")


if __name__ == "__main__":
    main()
