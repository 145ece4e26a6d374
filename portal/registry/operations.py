"""What registering each kind of application changes, as new versions of rights, restrictions
and units. Each function runs inside the registration's transaction, with the unit locked, and
raises a RegistryError (nothing is kept) when the request or a rule does not allow it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import psycopg
from psycopg.rows import dict_row

from portal.platform.rows import one_row
from portal.platform.versioning import supersede
from portal.registry import queries
from portal.registry.errors import ApplicationInvalid, ApplicationRefused, RuleViolation
from portal.registry.parties import resolve_party
from portal.registry.seizures import next_position, renumber_queue

__all__ = ["Context", "OPERATIONS", "RESTRICTING_KINDS"]

RESTRICTING_KINDS = {"mortgage", "seizure", "objection", "advance_notice"}


@dataclass
class Context:
    conn: psycopg.Connection
    application_id: int
    unit_id: int | None
    unit_number: str
    request: dict[str, Any]
    source_id: int
    today: dt.date
    may_lift_seizures: bool
    changed: dict[str, list[int]] = field(default_factory=dict)

    @property
    def existing_unit_id(self) -> int:
        """The unit's id, for every kind but first registration (which creates the unit): those
        are received only for a unit in the register."""
        assert self.unit_id is not None, f"unit {self.unit_number} is not in the register"
        return self.unit_id

    def note(self, what: str, key: int) -> None:
        self.changed.setdefault(what, []).append(key)


def _date(value: Any, name: str, *, required: bool = True) -> dt.date | None:
    if value in (None, ""):
        if required:
            raise ApplicationInvalid(f"{name} is missing", name)
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ApplicationInvalid(f"{name}: {value!r} is not a date (YYYY-MM-DD)", name) from None


def _current_restriction(ctx: Context, kind: str, name: str = "restriction_id") -> dict[str, Any]:
    key = ctx.request.get(name)
    with ctx.conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries.CURRENT_RESTRICTION, (key,)).fetchone()
    if row is None or row["unit_id"] != ctx.unit_id or row["kind"] != kind:
        raise ApplicationInvalid(f"{name}: {key!r} is not a {kind.replace('_', ' ')} on unit {ctx.unit_number}", name)
    return row


def _holders(ctx: Context) -> tuple[str, list[tuple[int, int | None, int | None]]]:
    form = ctx.request.get("co_ownership", "sole")
    given = ctx.request.get("holders") or []
    if form not in ("sole", "joint", "by_portions", "other"):
        raise ApplicationInvalid(f"co_ownership {form!r} is not sole, joint, by_portions or other", "co_ownership")
    if not given:
        raise ApplicationInvalid("holders: at least one holder is needed", "holders")
    holders: list[tuple[int, int | None, int | None]] = []
    shares: list[Fraction] = []
    for i, holder in enumerate(given):
        party = resolve_party(ctx.conn, holder, f"holders[{i}]")
        share = holder.get("share") if isinstance(holder, dict) else None
        if form == "by_portions":
            try:
                fraction = Fraction(str(share))
            except (ValueError, ZeroDivisionError):
                raise ApplicationInvalid(f"holders[{i}].share: {share!r} is not a fraction such as 1/2",
                                         f"holders[{i}].share") from None
            holders.append((party, fraction.numerator, fraction.denominator))
            shares.append(fraction)
        else:
            holders.append((party, None, None))
    if form == "by_portions" and sum(shares) != 1:
        raise RuleViolation("shares_add_up_to_one", "shares of co-ownership by portions must add up to exactly one "
                            f"(they add up to {sum(shares)})")
    if form == "joint" and len(holders) < 2:
        raise RuleViolation("joint_needs_two_holders", "joint ownership (共同共有) needs at least two holders")
    if form == "sole" and len(holders) != 1:
        raise RuleViolation("sole_has_one_holder", "sole ownership (单独所有) has exactly one holder")
    return form, holders


def _write_holders(ctx: Context, right_version: int, holders: list[tuple[int, int | None, int | None]]) -> None:
    with ctx.conn.cursor() as cur:
        cur.executemany(queries.INSERT_RIGHT_HOLDERS, [(right_version, p, n, d) for p, n, d in holders])


def _lift(ctx: Context) -> None:
    """Restrictions the same application lifts (a transfer or mortgage that ends a seizure)."""
    for key in ctx.request.get("lifts") or []:
        with ctx.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(queries.RESTRICTION_ON_UNIT, (key, ctx.unit_id)).fetchone()
        if row is None:
            raise ApplicationInvalid(f"lifts: restriction {key!r} is not on unit {ctx.unit_number}", "lifts")
        if row["kind"] == "seizure":
            if not ctx.may_lift_seizures:
                raise ApplicationRefused("only a court clerk lifts a seizure")
            _end(ctx, row["restriction_id"], "released")
            renumber_queue(ctx.conn, ctx.existing_unit_id, ctx.today)
        elif row["kind"] == "mortgage":
            _end(ctx, row["restriction_id"], "discharged")
        else:
            _end(ctx, row["restriction_id"], "cancelled")


def _end(ctx: Context, restriction_id: int, status: str) -> None:
    supersede(ctx.conn, "restrictions", restriction_id, {"status": status, "source_id": ctx.source_id})
    ctx.note(f"restrictions_{status}", restriction_id)


def first_registration(ctx: Context) -> None:
    unit = ctx.request.get("unit") or {}
    parcel = ctx.conn.execute(queries.PARCEL_BY_CODE, (ctx.unit_number[:19],)).fetchone()
    if parcel is None:
        raise ApplicationInvalid(f"unit number {ctx.unit_number}: parcel {ctx.unit_number[:19]} is not a current "
                                 "parcel", "unit_number")
    if not str(unit.get("location") or "").strip():
        raise ApplicationInvalid("unit.location (坐落) is missing", "unit.location")
    unit_id = one_row(ctx.conn.execute(
        queries.INSERT_UNIT, (ctx.unit_number, parcel[0], unit["location"], unit.get("floor_area"),
                              unit.get("use", "residential"))).fetchone())[0]
    ctx.unit_id = unit_id
    form, holders = _holders(ctx)
    version = one_row(ctx.conn.execute(
        queries.INSERT_OWNERSHIP,
        (unit_id, form, ctx.request.get("certificate_number"), ctx.today, ctx.source_id)).fetchone())[0]
    _write_holders(ctx, version, holders)
    ctx.note("units", unit_id)


def transfer(ctx: Context) -> None:
    _lift(ctx)
    row = ctx.conn.execute(queries.OWNERSHIP_OF_UNIT, (ctx.unit_id,)).fetchone()
    if row is None:
        raise ApplicationInvalid(f"unit {ctx.unit_number} has no registered ownership to transfer", "unit_number")
    form, holders = _holders(ctx)
    version = supersede(ctx.conn, "rights", row[0], {
        "co_ownership": form, "certificate_number": ctx.request.get("certificate_number"),
        "registered_on": ctx.today, "source_id": ctx.source_id})
    _write_holders(ctx, version, holders)
    ctx.note("rights", row[0])


def mortgage(ctx: Context) -> None:
    _lift(ctx)
    request = ctx.request
    mortgagee = resolve_party(ctx.conn, request.get("mortgagee"), "mortgagee")
    try:
        amount = float(request["secured_amount"])
        rank = int(request.get("rank") or 1)
    except (KeyError, TypeError, ValueError):
        raise ApplicationInvalid("secured_amount (a number of yuan) and rank (1, 2 ...) are needed",
                                 "secured_amount") from None
    with ctx.conn.cursor(row_factory=dict_row) as cur:
        same = cur.execute(queries.ACTIVE_MORTGAGE_OF_RANK, (ctx.unit_id, rank)).fetchone()
    if same:
        raise RuleViolation("mortgage_rank_unique", f"unit {ctx.unit_number} already has an active mortgage of "
                            f"rank {rank} (restriction {same['restriction_id']}); give the next free rank",
                            {"restriction_id": same["restriction_id"], "kind": "mortgage", "rank": rank})
    start = _date(request.get("term_start") or ctx.today.isoformat(), "term_start")
    restriction_id = one_row(ctx.conn.execute(
        queries.INSERT_MORTGAGE,
        (ctx.unit_id, mortgagee, amount, bool(request.get("maximum_amount")), rank, start,
         _date(request.get("term_end"), "term_end", required=False), ctx.source_id)).fetchone())[0]
    ctx.note("restrictions", restriction_id)


def mortgage_discharge(ctx: Context) -> None:
    row = _current_restriction(ctx, "mortgage")
    if row["status"] != "active":
        raise RuleViolation("ended_restriction_stays_ended", f"mortgage {row['restriction_id']} is already "
                            f"{row['status']}", {"restriction_id": row["restriction_id"], "status": row["status"]})
    _end(ctx, row["restriction_id"], "discharged")


def seizure(ctx: Context) -> None:
    request = ctx.request
    for name in ("court", "document_number"):
        if not str(request.get(name) or "").strip():
            raise ApplicationInvalid(f"{name} of the court order is missing", name)
    start = _date(request.get("term_start") or ctx.today.isoformat(), "term_start")
    end = _date(request.get("term_end"), "term_end", required=False) or (start.replace(year=start.year + 3)
                                                                        if start else None)
    position = next_position(ctx.conn, ctx.existing_unit_id)
    restriction_id = one_row(ctx.conn.execute(
        queries.INSERT_SEIZURE,
        (ctx.unit_id, "active" if position == 1 else "queued", request["court"], request["document_number"],
         start, end, position, request.get("reason"), ctx.source_id)).fetchone())[0]
    ctx.note("restrictions", restriction_id)
    ctx.note("queue_position", position)


def seizure_release(ctx: Context) -> None:
    row = _current_restriction(ctx, "seizure")
    if row["status"] not in ("active", "queued"):
        raise RuleViolation("ended_restriction_stays_ended", f"seizure {row['restriction_id']} is already "
                            f"{row['status']}", {"restriction_id": row["restriction_id"], "status": row["status"]})
    _end(ctx, row["restriction_id"], "released")
    for key in renumber_queue(ctx.conn, ctx.existing_unit_id, ctx.today):
        ctx.note("seizures_took_effect", key)


def _party_restriction(ctx: Context, kind: str) -> None:
    party = resolve_party(ctx.conn, ctx.request.get("party"), "party")
    start = ctx.today
    end = _date(ctx.request.get("term_end"), "term_end", required=False)
    if kind == "objection" and end is None:
        end = start + dt.timedelta(days=15)  # an objection lapses after 15 days without a lawsuit
    restriction_id = one_row(ctx.conn.execute(
        queries.INSERT_PARTY_RESTRICTION,
        (ctx.unit_id, kind, party, start, end, ctx.request.get("reason"), ctx.source_id)).fetchone())[0]
    ctx.note("restrictions", restriction_id)


def objection(ctx: Context) -> None:
    _party_restriction(ctx, "objection")


def advance_notice(ctx: Context) -> None:
    _party_restriction(ctx, "advance_notice")


def objection_cancellation(ctx: Context) -> None:
    row = _current_restriction(ctx, "objection")
    if row["status"] != "active":
        raise RuleViolation("ended_restriction_stays_ended", f"objection {row['restriction_id']} is already "
                            f"{row['status']}", {"restriction_id": row["restriction_id"], "status": row["status"]})
    _end(ctx, row["restriction_id"], "cancelled")


def correction(ctx: Context) -> None:
    changes = {k: v for k, v in (ctx.request.get("unit") or {}).items() if k in ("location", "floor_area", "use")}
    if not changes:
        raise ApplicationInvalid("unit: name what to correct (location, floor_area or use)", "unit")
    supersede(ctx.conn, "units", ctx.existing_unit_id, changes)
    ctx.note("units", ctx.existing_unit_id)


OPERATIONS: dict[str, Callable[[Context], None]] = {
    "first_registration": first_registration, "transfer": transfer, "mortgage": mortgage,
    "mortgage_discharge": mortgage_discharge, "seizure": seizure, "seizure_release": seizure_release,
    "objection": objection, "objection_cancellation": objection_cancellation,
    "advance_notice": advance_notice, "correction": correction,
}
