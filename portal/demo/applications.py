"""A year of the demo office's applications, so the queue and the statistics page show
something real: registered ones with realistic processing times (a few late), some rejected,
and the last fortnight's still open (some due soon, some overdue).

They are the office's records of work, not changes to the register: the demo register's own
history was written by the loader.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg

from portal.platform.clock import office_zone

__all__ = ["load_applications", "KIND_SHARES"]

KIND_SHARES = {"transfer": 0.30, "mortgage": 0.28, "mortgage_discharge": 0.18, "first_registration": 0.06,
               "advance_notice": 0.06, "correction": 0.04, "seizure": 0.03, "seizure_release": 0.02,
               "objection": 0.02, "objection_cancellation": 0.01}
REASONS = ["申请材料不齐全", "申请人与登记簿记载不一致", "未缴纳税费", "界址存在争议"]
STAFF = ["王登记", "陈登记", "李登记"]


def load_applications(conn: psycopg.Connection, *, seed: int, until: dt.date, zone: str) -> int:
    """Insert about one application per two units over the year before `until`. Does not commit."""
    units = conn.execute("SELECT unit_id, unit_number FROM current_units ORDER BY unit_id").fetchall()
    if not units:
        return 0
    rng = np.random.default_rng(seed + 7)
    count = int(min(max(len(units) // 2, 200), 25_000))
    shares = np.array(list(KIND_SHARES.values()))
    kinds = rng.choice(list(KIND_SHARES), size=count, p=shares / shares.sum())
    picks = rng.integers(0, len(units), size=count)
    start = dt.datetime.combine(until - dt.timedelta(days=365), dt.time(9), office_zone(zone))
    rows = []
    for i in range(count):
        day = start + dt.timedelta(days=int(rng.integers(0, 365)))
        if day.weekday() >= 5:
            day += dt.timedelta(days=7 - day.weekday())
        received = day + dt.timedelta(minutes=int(rng.integers(0, 8 * 60)))
        quick = kinds[i] in ("mortgage", "mortgage_discharge", "seizure", "seizure_release", "objection",
                             "objection_cancellation")
        hours = float(rng.lognormal(np.log(5 if quick else 30), 0.6))
        if rng.random() < 0.06:
            hours *= 4  # the late ones
        decided = received + dt.timedelta(hours=hours)
        unit_id, unit_number = units[int(picks[i])]
        open_ = decided.date() > until
        status = ("under_review" if rng.random() < 0.6 else "received") if open_ else (
            "rejected" if rng.random() < 0.04 else "registered")
        rows.append((f"{received.year}-D{i + 1:06d}", str(kinds[i]), status,
                     None if kinds[i] == "first_registration" and status != "registered" else unit_id,
                     unit_number, "演示申请人", received,
                     received + dt.timedelta(minutes=30) if status != "received" else None,
                     None if open_ else decided, None if open_ else STAFF[i % 3],
                     [REASONS[i % len(REASONS)]] if status == "rejected" else None))
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE demo_applications (reference text, kind text, status text, unit_id bigint, "
                    "unit_number text, applicant text, received_at timestamptz, review_started_at timestamptz, "
                    "decided_at timestamptz, decided_by_name text, reasons text[]) ON COMMIT DROP")
        with cur.copy("COPY demo_applications FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            "INSERT INTO applications (reference, kind, status, unit_id, unit_number, applicant, received_at, "
            "received_by_name, due_at, review_started_at, decided_at, decided_by_name, reasons) "
            "SELECT d.reference, d.kind, d.status, d.unit_id, d.unit_number, d.applicant, d.received_at, '受理窗口', "
            "add_working_days(d.received_at, t.working_days), d.review_started_at, d.decided_at, d.decided_by_name, "
            "d.reasons FROM demo_applications d JOIN time_limits t USING (kind)")
    return count
