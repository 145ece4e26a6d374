"""The register import against COPY of the same rows into the same guarded tables, side by side.

    .venv/bin/python bench/register_import.py --units 100000

A demo district of `--parcels` parcels is loaded once into the template `bench_register_<parcels>`
(this worktree's own cluster). The generated register (tests/support/register_exchange.py:
persons and banks, every kind of right and restriction, history) is written as UTF-8 CSV. Then,
each on a fresh copy of the template:

- ours: `import_register` on the CSV directory: reading, every check, the writes, commit;
- COPY: the rows that import wrote (sources, parties, units, rights, holders, restrictions, the
  old-id mapping), read back from the first copy, loaded with COPY into the same tables (their
  triggers and constraints run), in one transaction with the commit (the deferred rules run there).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from database_copies import copy_database  # noqa: E402
from register_exchange import generate_register  # noqa: E402

from portal.demo.loader import load_demo  # noqa: E402
from portal.platform import migrate  # noqa: E402
from portal.platform.clock import office_zone  # noqa: E402
from portal.platform.db import resolve_url, with_database  # noqa: E402
from portal.registry.exchange.exporting import write_tables  # noqa: E402
from portal.registry.exchange.importing import import_register  # noqa: E402
from portal.settings import DatabaseSettings, Settings  # noqa: E402

# What the import writes, table by table: (table, columns, the key whose new values it wrote).
WRITTEN = (
    ("sources", "source_id, kind, reference, issued_on, issuer", "source_id"),
    ("parties", "party_id, kind, name, id_document_type, id_document_digest, id_document_masked, id_document_sealed",
     "party_id"),
    ("units", "unit_id, unit_number, parcel_id, location, floor_area, use, begin_lifespan", "unit_id"),
    ("rights", "version_id, right_id, unit_id, kind, co_ownership, certificate_number, registered_on, source_id, "
               "begin_lifespan, end_lifespan", "version_id"),
    ("right_holders", "right_version_id, party_id, share_numerator, share_denominator", "right_version_id"),
    ("restrictions", "restriction_id, version, status, unit_id, kind, party_id, secured_amount, maximum_amount, rank, "
                     "term_start, term_end, court, document_number, queue_position, reason, source_id, "
                     "begin_lifespan, end_lifespan", "restriction_id"),
    ("exchange_ids", "exchange_table, old_id, object_id, row_digest", None),
)
MAX_KEY = {"source_id": "sources", "party_id": "parties", "unit_id": "units", "version_id": "rights",
           "right_version_id": "rights", "restriction_id": "restrictions"}


def backend_cpu(conn: psycopg.Connection) -> float:
    """CPU seconds the connection's PostgreSQL backend has used (Linux /proc, a local cluster):
    on a shared machine, CPU time says what the work costs where wall time says who else ran."""
    try:
        fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def template(server: str, parcels: int) -> str:
    name = f"bench_register_{parcels}"
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    if not exists:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        migrate.upgrade(url)
        load_demo(url, settings=Settings(), parcels=parcels, seed=2025)
    else:
        migrate.upgrade(url)
    return name


def maxima(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        out = {}
        for key, table in MAX_KEY.items():
            column = "version_id" if key == "right_version_id" else key
            out[key] = conn.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()[0]  # noqa: S608
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--parcels", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating which goes first")
    args = parser.parse_args()
    server = with_database(resolve_url(DatabaseSettings()), "postgres")
    started = time.perf_counter()
    name = template(server, args.parcels)
    print(f"template {name} ready in {time.perf_counter() - started:.1f} s", flush=True)
    base = with_database(server, name)
    with psycopg.connect(base) as conn:
        codes = [c for (c,) in conn.execute("SELECT parcel_code FROM current_parcels ORDER BY parcel_code")]
    before = maxima(base)
    tables = generate_register(codes, units=args.units, seed=11)
    rows = {t: len(r) for t, r in tables.items()}
    print("rows: " + ", ".join(f"{t} {n}" for t, n in rows.items()), flush=True)
    ours_times: list[float] = []
    ours_cpu: list[float] = []
    ours_server: list[float] = []
    copy_times: list[float] = []
    copy_server: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "register"
        write_tables(tables, path)
        dumps: dict[str, bytes] = {}
        for run in range(args.repeat):
            # Alternate which goes first, so neither always meets a cold cache or a checkpoint.
            order = ("ours", "copy") if run % 2 == 0 else ("copy", "ours")
            if not dumps:
                order = ("ours", "copy")
            for what in order:
                url = copy_database(server, name, f"bench_register_{what}")
                if what == "ours":
                    with psycopg.connect(url) as conn:
                        t0, c0, s0 = time.perf_counter(), time.process_time(), backend_cpu(conn)
                        outcome = import_register(conn, path, zone=office_zone(), actor_user_id=None)
                        ours_times.append(time.perf_counter() - t0)
                        ours_cpu.append(time.process_time() - c0)
                        ours_server.append(backend_cpu(conn) - s0)
                    assert outcome.committed and not outcome.problems, [str(p) for p in outcome.problems[:3]]
                    if not dumps:
                        dumps = written(url, before)
                else:
                    with psycopg.connect(url) as conn:
                        t0, s0 = time.perf_counter(), backend_cpu(conn)
                        for table, columns, _ in WRITTEN:
                            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as into:
                                into.write(dumps[table])
                        conn.commit()
                        copy_times.append(time.perf_counter() - t0)
                        copy_server.append(backend_cpu(conn) - s0)
            print(f"  run {run + 1}: ours {ours_times[-1]:.1f} s (Python CPU {ours_cpu[-1]:.1f} s, PostgreSQL CPU "
                  f"{ours_server[-1]:.1f} s), COPY {copy_times[-1]:.1f} s (PostgreSQL CPU {copy_server[-1]:.1f} s), "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    with psycopg.connect(server, autocommit=True) as conn:
        for db in ("bench_register_ours", "bench_register_copy"):
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    best_ours, best_copy = min(ours_times), min(copy_times)
    print(f"{args.units} units into a district of {args.parcels} parcels, best of {args.repeat}:")
    print(f"  ours (read CSV, check, write, commit): {best_ours:7.1f} s  (median {statistics.median(ours_times):.1f})")
    print(f"  COPY of the same rows, same tables:    {best_copy:7.1f} s  (median {statistics.median(copy_times):.1f})")
    print(f"  ratio ours / COPY (best):              {best_ours / best_copy:7.2f}x")
    print(f"  CPU, best: ours Python {min(ours_cpu):.1f} s + PostgreSQL {min(ours_server):.1f} s; "
          f"COPY PostgreSQL {min(copy_server):.1f} s")


def written(url: str, before: dict[str, int]) -> dict[str, bytes]:
    """The rows the import wrote, as COPY text, table by table."""
    dumps = {}
    with psycopg.connect(url) as conn:
        for table, columns, key in WRITTEN:
            where = f" WHERE {key} > {before[key]}" if key else ""
            buffer = io.BytesIO()
            with conn.cursor().copy(f"COPY (SELECT {columns} FROM {table}{where}) TO STDOUT") as out:  # noqa: S608
                for data in out:
                    buffer.write(data)
            dumps[table] = buffer.getvalue()
    return dumps

if __name__ == "__main__":
    main()
