"""Verifying a parcel sheet's reference number (`ZDT-<parcel code>-V<version>-<UTC time>`).

A sheet's reference is verified from the versioned parcels alone: no table of issued sheets, so
no migration. The sheet is public and anyone may print one at any moment, so a record of
issued sheets would prove nothing a reader needs: what matters is that this version of this
parcel is what the register held at the printed time, and what that version showed, so the
reader can compare the paper with it. The versioned table answers exactly that (each version
keeps its begin and end of lifespan, never updated). A reference is valid when:

- it has the shape above (at most 64 characters; code per GB/T 37346; version 1 to 999999999;
  time `YYYYMMDDTHHMMSSZ`, UTC, a real calendar moment);
- that parcel has that version;
- the time is not in the future (two minutes of clock difference allowed);
- the version existed at that time: printed no earlier than the second it began, and before it
  ended; or after it ended when the parcel was retired with it (no later version: its sheet
  still prints, marked retired).

Anything else is "not issued / not valid", with the reason (`SheetVerdict.reason`), never an
error from the parser or the database. Times are UTC here; pages show them on the office's clock.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from spatial.codes import CodeError, parse_parcel_code

__all__ = ["MAX_REFERENCE", "SheetVerdict", "parse_reference", "verify_reference"]

MAX_REFERENCE = 64
CLOCK_SKEW = dt.timedelta(minutes=2)
_REFERENCE = re.compile(r"ZDT-(?P<code>[0-9A-Z]{19})-V(?P<version>[1-9][0-9]{0,8})-(?P<time>[0-9]{8}T[0-9]{6}Z)")

Reason = Literal["malformed", "no_such_version", "future", "before_version", "after_version"]


@dataclass(frozen=True)
class SheetVerdict:
    """What a reference proves. `valid` with the version's public facts (`version`: parcel_code,
    version, calculated_area (m², Decimal), land_use_code/_zh/_en, admin_area_code/_name,
    begin_lifespan, end_lifespan (UTC), current (bool)), the `current_version` number of the parcel
    (None when retired) and `retired`; or not valid with a `reason`. `printed_at` is the moment
    the reference names (UTC), when it could be read."""

    valid: bool
    reference: str
    reason: Reason | None = None
    printed_at: dt.datetime | None = None
    version: dict[str, Any] | None = None
    current_version: int | None = None
    retired: bool = False


def parse_reference(reference: str) -> tuple[str, int, dt.datetime] | None:
    """(parcel code, version, printed at (aware, UTC)) of a well-formed reference, else None."""
    text = reference.strip().upper()
    match = _REFERENCE.fullmatch(text) if len(text) <= MAX_REFERENCE else None
    if match is None:
        return None
    try:
        code = parse_parcel_code(match["code"]).code
        printed_at = dt.datetime.strptime(match["time"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except (CodeError, ValueError):
        return None
    return code, int(match["version"]), printed_at


_VERSION_SQL = """
    SELECT p.parcel_id, p.parcel_code, p.version, p.calculated_area, p.land_use_code,
           lu.name_zh AS land_use_zh, lu.name_en AS land_use_en,
           p.admin_area_code, aa.name AS admin_area_name, p.begin_lifespan, p.end_lifespan,
           p.end_lifespan IS NULL AS current,
           (SELECT max(o.version) FROM parcels o WHERE o.parcel_id = p.parcel_id) AS last_version,
           (SELECT o.version FROM parcels o WHERE o.parcel_id = p.parcel_id AND o.end_lifespan IS NULL)
               AS current_version
      FROM parcels p
      JOIN land_uses lu ON lu.code = p.land_use_code
      JOIN admin_areas aa ON aa.code = p.admin_area_code
     WHERE p.parcel_code = %s AND p.version = %s
     ORDER BY p.begin_lifespan DESC
     LIMIT 1"""


async def verify_reference(conn: AsyncConnection, reference: str, now: dt.datetime | None = None) -> SheetVerdict:
    """The verdict on `reference` (any text, of any length: it is checked here) at `now` (aware;
    default: the server's clock). Reads the parcels table only; never raises on bad input."""
    shown = reference.strip()[:MAX_REFERENCE]
    parsed = parse_reference(reference)
    if parsed is None:
        return SheetVerdict(False, shown, "malformed")
    code, version, printed_at = parsed
    shown = f"ZDT-{code}-V{version}-{printed_at:%Y%m%dT%H%M%SZ}"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_VERSION_SQL, (code, version))
        row = await cur.fetchone()
    if row is None:
        return SheetVerdict(False, shown, "no_such_version", printed_at)
    now = now or dt.datetime.now(dt.UTC)
    facts = {k: v for k, v in row.items() if k not in ("parcel_id", "last_version")}
    facts["parcel_code"] = str(facts["parcel_code"]).strip()
    retired = row["current_version"] is None
    if printed_at > now + CLOCK_SKEW:
        return SheetVerdict(False, shown, "future", printed_at)
    if printed_at + dt.timedelta(seconds=1) <= row["begin_lifespan"]:  # the reference keeps whole seconds
        return SheetVerdict(False, shown, "before_version", printed_at, facts, row["current_version"], retired)
    ended = row["end_lifespan"]
    if ended is not None and printed_at >= ended and not (retired and row["version"] == row["last_version"]):
        return SheetVerdict(False, shown, "after_version", printed_at, facts, row["current_version"], retired)
    return SheetVerdict(True, shown, None, printed_at, facts, row["current_version"], retired)
