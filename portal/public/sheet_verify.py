"""Parcel sheet references (`ZDT-<parcel code>-V<version>-<UTC time>-<MAC>`): issuing and verifying.

A reference is authenticated, not inferred: the portal appends a keyed MAC when it prints the
sheet, HMAC-SHA256 over `ZDT-<code>-V<version>-<time>` under a key kept outside the database
(`CADASTRE_SHEET_KEY`, else `<state_dir>/sheet.key`; `portal.accounts.security.sheet_key`),
base32 (RFC 4648) and cut to its first 12 characters (60 bits). No table of issued sheets, so
no migration. Verifying checks, in this order:

- the shape (at most 64 characters; code per GB/T 37346; version 1 to 999999999; time
  `YYYYMMDDTHHMMSSZ`, UTC, a real calendar moment; the MAC; case and surrounding blanks ignored);
- the MAC, in constant time (`hmac.compare_digest`): a reference without the right MAC was not
  issued by this portal, whatever its parts name ("not_issued");
- that the register still holds that version ("no_such_version": only after a key was reused
  across databases, or a restore).

An authentic reference proves that this portal printed a sheet of that version at that time:
the page shows what the version records and whether it has since been replaced or retired. No
test of lifespans decides authenticity: a sheet printed while a change was being saved (the old
version still visible to the printing transaction, its end time earlier than the printed time)
is authentic, and says "replaced since". Anything else is "not issued / not valid", with the
reason (`SheetVerdict.reason`), never an error from the parser or the database. Times are UTC
here; pages show them on the office's clock.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from spatial.codes import CodeError, parse_parcel_code

__all__ = ["MAX_REFERENCE", "MAC_LENGTH", "SheetVerdict", "issue_reference", "parse_reference", "shown_input",
           "verify_reference"]

MAX_REFERENCE = 64
MAC_LENGTH = 12
SHOWN_INPUT = 80
_REFERENCE = re.compile(r"ZDT-(?P<code>[0-9A-Z]{19})-V(?P<version>[1-9][0-9]{0,8})-(?P<time>[0-9]{8}T[0-9]{6}Z)"
                        rf"-(?P<mac>[A-Z2-7]{{{MAC_LENGTH}}})")

Reason = Literal["malformed", "not_issued", "no_such_version"]


def shown_input(text: str, limit: int = SHOWN_INPUT) -> str:
    """`text` as echoed back to a person: at most `limit` characters, an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def _stamp(moment: dt.datetime) -> str:
    """`YYYYMMDDTHHMMSSZ` of an aware moment, in UTC; the year always four digits (`%Y` is not,
    before 1000)."""
    moment = moment.astimezone(dt.UTC)
    return f"{moment.year:04d}{moment:%m%dT%H%M%S}Z"


def _body(code: str, version: int, printed_at: dt.datetime) -> str:
    return f"ZDT-{code}-V{version}-{_stamp(printed_at)}"


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:MAC_LENGTH]


def issue_reference(key: bytes, code: str, version: int, printed_at: dt.datetime) -> str:
    """The reference of a sheet of parcel `code` (GB/T 37346), `version`, printed at `printed_at`
    (aware; kept to the whole second, UTC): `ZDT-<code>-V<version>-<YYYYMMDDTHHMMSSZ>-<MAC>`, at
    most 64 ASCII characters. `key`: `portal.accounts.security.sheet_key`."""
    body = _body(code, version, printed_at)
    return f"{body}-{_mac(key, body)}"


@dataclass(frozen=True)
class SheetVerdict:
    """What a reference proves. `valid` (authentic, and the version is in the register) with the
    version's public facts (`version`: parcel_code, version, calculated_area (m², Decimal),
    land_use_code/_zh/_en, admin_area_code/_name, begin_lifespan, end_lifespan (UTC), current
    (bool)), the `current_version` number of the parcel (None when retired) and `retired`; or not
    valid with a `reason`. `printed_at` is the moment the reference names (UTC), when it could be
    read."""

    valid: bool
    reference: str
    reason: Reason | None = None
    printed_at: dt.datetime | None = None
    version: dict[str, Any] | None = None
    current_version: int | None = None
    retired: bool = False


def parse_reference(reference: str) -> tuple[str, int, dt.datetime, str] | None:
    """(parcel code, version, printed at (aware, UTC), MAC) of a well-formed reference (case and
    surrounding blanks ignored), else None. Says nothing of authenticity: see `verify_reference`."""
    text = reference.strip().upper()
    match = _REFERENCE.fullmatch(text) if len(text) <= MAX_REFERENCE else None
    if match is None:
        return None
    try:
        code = parse_parcel_code(match["code"]).code
        printed_at = dt.datetime.strptime(match["time"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except (CodeError, ValueError):
        return None
    return code, int(match["version"]), printed_at, match["mac"]


_VERSION_SQL = """
    SELECT p.parcel_id, p.parcel_code, p.version, p.calculated_area, p.land_use_code,
           lu.name_zh AS land_use_zh, lu.name_en AS land_use_en,
           p.admin_area_code, aa.name AS admin_area_name, p.begin_lifespan, p.end_lifespan,
           p.end_lifespan IS NULL AS current,
           (SELECT o.version FROM parcels o WHERE o.parcel_id = p.parcel_id AND o.end_lifespan IS NULL)
               AS current_version
      FROM parcels p
      JOIN land_uses lu ON lu.code = p.land_use_code
      JOIN admin_areas aa ON aa.code = p.admin_area_code
     WHERE p.parcel_code = %s AND p.version = %s
     ORDER BY p.begin_lifespan DESC
     LIMIT 1"""


async def verify_reference(conn: AsyncConnection, reference: str, key: bytes) -> SheetVerdict:
    """The verdict on `reference` (any text, of any length: it is checked here) under the sheet
    `key`. The MAC is checked (constant time) before the database is read; then the parcels table
    only. Never raises on bad input."""
    shown = shown_input(reference.strip())
    parsed = parse_reference(reference)
    if parsed is None:
        return SheetVerdict(False, shown, "malformed")
    code, version, printed_at, mac = parsed
    body = _body(code, version, printed_at)
    shown = f"{body}-{mac}"
    if not hmac.compare_digest(_mac(key, body), mac):
        return SheetVerdict(False, shown, "not_issued")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_VERSION_SQL, (code, version))
        row = await cur.fetchone()
    if row is None:
        return SheetVerdict(False, shown, "no_such_version", printed_at)
    facts = {k: v for k, v in row.items() if k != "parcel_id"}
    facts["parcel_code"] = str(facts["parcel_code"]).strip()
    return SheetVerdict(True, shown, None, printed_at, facts, row["current_version"], row["current_version"] is None)
