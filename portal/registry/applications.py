"""Applications: received -> under review -> registered | rejected (with reasons).

Registering applies every change of the application in one transaction, as new versions,
with the unit locked: two registrars acting on the same unit at the same moment cannot both
proceed — the second is told at once that the unit is busy — and a registrar who acts after
another sees the register as the other left it, so no update is lost. The register's rules run
in the database at commit as well (see migration 0004), and their refusals come back as
RuleViolation naming the rule and the blocking record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from portal.audit.consultations import consultation
from portal.audit.trail import committed_as, record
from portal.platform.clock import DEFAULT_OFFICE_TIMEZONE
from portal.platform.permissions import Action, Principal
from portal.platform.rows import one_row
from portal.platform.work import UnitOfWork
from portal.registry import queries
from portal.registry.errors import (
    ApplicationConflict,
    ApplicationInvalid,
    ApplicationNotFound,
    ApplicationRefused,
    OwnApplication,
    RuleViolation,
)
from portal.registry.operations import OPERATIONS, RESTRICTING_KINDS, Context
from portal.registry.parties import sealed_request
from portal.registry.schemas import audience

__all__ = ["KINDS", "required_action", "receive", "start_review", "register", "reject", "get", "queue",
           "received_it", "consulted", "seen", "queue_seen"]

_T = TypeVar("_T")

KINDS = tuple(OPERATIONS)
SOURCE_KINDS = {"deed", "contract", "court_order", "survey_report", "application", "certificate",
                "loan_agreement", "identity_document", "other"}


def required_action(kind: str) -> Action:
    """Seizures are the courts' business: only a court clerk registers or releases one."""
    return Action.REGISTER_SEIZURE if kind in ("seizure", "seizure_release") else Action.REGISTER_RIGHTS


def _require(principal: Principal, kind: str) -> None:
    if not principal.may(required_action(kind)):
        raise ApplicationRefused("only a court clerk registers or releases a seizure" if kind.startswith("seizure")
                                 else "only a registrar registers this kind of application")


def receive(conn: psycopg.Connection, principal: Principal, *, kind: str, unit_number: str, applicant: str,
            request: dict[str, Any], sources: Sequence[dict[str, Any]], received_at: dt.datetime | None = None,
            zone: str = DEFAULT_OFFICE_TIMEZONE) -> int:
    """Record an application with the documents it cites; its deadline follows from the kind's
    time limit in working days (in office time, `zone`). Returns the application id."""
    if kind not in KINDS:
        raise ApplicationInvalid(f"kind {kind!r} is not one of {', '.join(KINDS)}", "kind")
    _require(principal, kind)
    unit_number = (unit_number or "").strip().upper()
    if not re.fullmatch(r"[1-9]\d{11}[GJZ][ABSXCDEFHGWY]\d{5}([FLQ]\d{8}|W00000000)", unit_number):
        raise ApplicationInvalid(f"unit number {unit_number!r} is not a 28-character GB/T 37346 unit number",
                                 "unit_number")
    if not sources:
        raise ApplicationInvalid("an application cites at least one source document", "sources")
    if not str(applicant or "").strip():
        raise ApplicationInvalid("the applicant is missing", "applicant")
    with committed_as(conn, principal.user_id, principal.role_names):
        row = conn.execute(queries.UNIT_ID, (unit_number,)).fetchone()
        if kind == "first_registration" and row is not None:
            raise ApplicationInvalid(f"unit {unit_number} is already registered", "unit_number")
        if kind != "first_registration" and row is None:
            raise ApplicationInvalid(f"unit {unit_number} is not in the register", "unit_number")
        when = received_at or one_row(conn.execute(queries.NOW).fetchone())[0]
        reference = one_row(conn.execute(queries.NEXT_REFERENCE, {"when": when, "zone": zone}).fetchone())[0]
        application_id = one_row(conn.execute(
            queries.INSERT_APPLICATION,
            (reference, kind, row[0] if row else None, unit_number, Jsonb(sealed_request(request)), applicant.strip(),
             when, principal.user_id, principal.label, when, kind, zone)).fetchone())[0]
        for i, source in enumerate(sources):
            if source.get("kind") not in SOURCE_KINDS or not str(source.get("reference") or "").strip():
                raise ApplicationInvalid(f"sources[{i}]: give its kind ({', '.join(sorted(SOURCE_KINDS))}) "
                                         "and reference", f"sources[{i}]")
            source_id = one_row(conn.execute(
                queries.INSERT_SOURCE, (source["kind"], source["reference"], source.get("issued_on"),
                                        source.get("issuer"), source.get("description"))).fetchone())[0]
            conn.execute(queries.INSERT_APPLICATION_SOURCE, (application_id, source_id))
        _rehearse(conn, principal, kind, int(application_id), row[0] if row else None, unit_number, request,
                  int(source_id))
    return int(application_id)


class _Rehearsed(Exception):
    """Ends a rehearsal: its savepoint is rolled back, whatever it did."""


def _rehearse(conn: psycopg.Connection, principal: Principal, kind: str, application_id: int, unit_id: int | None,
              unit_number: str, request: dict[str, Any], source_id: int) -> None:
    """Run the registration's changes once at receipt, in a savepoint always rolled back, so a
    request that could never be registered (a missing field, an identity document with a wrong
    check character, a restriction not on the unit) is refused now, naming the field, and nothing
    of it is kept: it never waits in the queue under review for a colleague to meet the error.
    The register's rules (a seizure, a later rank) are not decided here but at registration,
    against the register as it then stands."""
    ctx = Context(conn, application_id, unit_id, unit_number, request, source_id, dt.date.today(),
                  principal.may(Action.REGISTER_SEIZURE))
    try:
        with conn.transaction():
            OPERATIONS[kind](ctx)
            raise _Rehearsed
    except (_Rehearsed, RuleViolation, ApplicationRefused, psycopg.errors.IntegrityError,
            psycopg.errors.RaiseException, psycopg.errors.LockNotAvailable):
        pass  # rules and the register's state are for the registration to judge


def _lock(conn: psycopg.Connection, application_id: int) -> dict[str, Any]:
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(queries.LOCK_APPLICATION, (application_id,)).fetchone()
    except psycopg.errors.LockNotAvailable:
        raise ApplicationConflict(f"application {application_id} is being acted on by someone else; "
                                  "reload it in a moment") from None
    if row is None:
        raise ApplicationNotFound(f"application {application_id} does not exist")
    return row


def _step(conn: psycopg.Connection, fn: Callable[[], _T], principal: Principal) -> _T:
    try:
        with committed_as(conn, principal.user_id, principal.role_names):
            return fn()
    except psycopg.errors.RestrictViolation as exc:
        raise _rule_from_database(exc) from None
    except (psycopg.errors.UniqueViolation, psycopg.errors.ExclusionViolation) as exc:
        raise ApplicationConflict(f"the register changed meanwhile: {exc.diag.message_primary}") from None


def _rule_from_database(exc: psycopg.Error) -> RuleViolation:
    detail = (exc.diag.message_detail or "")
    fields = dict(part.split("=", 1) for part in detail.split() if "=" in part)
    blocking = {"restriction_id": int(fields["blocking_restriction"])} if "blocking_restriction" in fields else {}
    return RuleViolation(fields.get("rule", "register_rule"), exc.diag.message_primary or str(exc), blocking)


def _not_own(row: dict[str, Any], principal: Principal, step: str) -> None:
    if row["received_by"] is not None and row["received_by"] == principal.user_id:
        raise OwnApplication(f"application {row['reference']} was received by you; another colleague must {step} it "
                             "(separation of duties)")


def start_review(conn: psycopg.Connection, application_id: int, principal: Principal) -> None:
    def step() -> None:
        row = _lock(conn, application_id)
        _require(principal, row["kind"])
        if row["status"] != "received":
            raise ApplicationConflict(f"application {row['reference']} is {row['status']}, not received")
        conn.execute(queries.REVIEW_STARTED, (application_id,))

    _step(conn, step, principal)


def register(conn: psycopg.Connection, application_id: int, principal: Principal, *,
             today: dt.date | None = None) -> dict[str, Any]:
    """Apply the application's changes in one transaction; returns what changed."""

    def step() -> dict[str, Any]:
        row = _lock(conn, application_id)
        _require(principal, row["kind"])
        _not_own(row, principal, "register")
        if row["status"] != "under_review":
            raise ApplicationConflict(f"application {row['reference']} is {row['status']}; only an application "
                                      "under review can be registered")
        if row["unit_id"] is not None:
            try:
                conn.execute(queries.LOCK_UNIT, (row["unit_id"],))
            except psycopg.errors.LockNotAvailable:
                raise ApplicationConflict(f"unit {row['unit_number']} is being changed by another registration "
                                          "right now; try again when it is done") from None
        source_id = one_row(conn.execute(queries.FIRST_SOURCE, (application_id,)).fetchone())[0]
        ctx = Context(conn, application_id, row["unit_id"], row["unit_number"], row["request"], source_id,
                      today or dt.date.today(), principal.may(Action.REGISTER_SEIZURE))
        OPERATIONS[row["kind"]](ctx)
        if row["kind"] in RESTRICTING_KINDS:
            _notify_holders(conn, ctx, row)
        conn.execute(queries.ALL_CONSTRAINTS_IMMEDIATE)  # the register's rules answer here, not at commit
        conn.execute(queries.REGISTERED,
                     (principal.user_id, principal.label, Jsonb(ctx.changed), ctx.unit_id, application_id))
        return {"reference": row["reference"], "changed": ctx.changed}

    return _step(conn, step, principal)


def _notify_holders(conn: psycopg.Connection, ctx: Context, row: dict[str, Any]) -> None:
    """Owners find a notice in their account when a restriction is registered on their unit."""
    what = {"mortgage": "抵押登记 mortgage", "seizure": "查封登记 seizure", "objection": "异议登记 objection",
            "advance_notice": "预告登记 advance notice"}[row["kind"]]
    conn.execute(
        queries.NOTIFY_HOLDERS,
        (ctx.application_id, row["kind"], f"{what}: {row['unit_number']} ({row['reference']})", ctx.unit_id))


def reject(conn: psycopg.Connection, application_id: int, principal: Principal, reasons: Sequence[str]) -> None:
    reasons = [r.strip() for r in reasons if r and r.strip()]

    def step() -> None:
        row = _lock(conn, application_id)
        _require(principal, row["kind"])
        _not_own(row, principal, "reject")
        if not reasons:
            raise ApplicationInvalid("a rejection needs at least one reason", "reasons")
        if row["status"] not in ("received", "under_review"):
            raise ApplicationConflict(f"application {row['reference']} is already {row['status']}")
        conn.execute(queries.REJECTED,
                     (principal.user_id, principal.label, reasons, application_id))

    _step(conn, step, principal)


def get(conn: psycopg.Connection, application_id: int, principal: Principal) -> dict[str, Any]:
    if not principal.may(Action.VIEW_APPLICATIONS):
        raise ApplicationRefused("only registry staff see applications")
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:  # a read: never committed
        row = cur.execute(queries.APPLICATION, (application_id,)).fetchone()
    if row is None:
        raise ApplicationNotFound(f"application {application_id} does not exist")
    return row


def received_it(conn: psycopg.Connection, application_id: int, principal: Principal) -> bool:
    """Whether the principal received the application, and so may not decide it (the page
    offers them no register or reject button; the steps refuse it whatever the page shows)."""
    with UnitOfWork(conn):
        row = conn.execute(queries.RECEIVED_BY, (application_id,)).fetchone()
    return row is not None and row[0] is not None and row[0] == principal.user_id


def queue(conn: psycopg.Connection, principal: Principal, *, limit: int = 200) -> list[dict[str, Any]]:
    """Open applications, the one due soonest first, with warnings for due-soon and overdue ones."""
    if not principal.may(Action.VIEW_APPLICATIONS):
        raise ApplicationRefused("only registry staff see the queue")
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(queries.OPEN_APPLICATIONS, (limit,)).fetchall()
    return rows


def consulted(conn: psycopg.Connection, principal: Principal, action: str, subjects: Sequence[str], *,
              client: str | None, reference: str | None = None) -> None:
    """Leave the trace of a look at the register's records: one audit row "consulted", committed
    before the answer leaves (a look that cannot be logged is not answered)."""
    unique = list(dict.fromkeys(subjects))
    if not unique:
        return  # nothing shown, nothing consulted
    with UnitOfWork(conn) as uow:
        record(conn, consultation(principal, action, unique, client=client, reference=reference,
                                  view=audience(principal)))
        uow.commit()


def seen(conn: psycopg.Connection, application_id: int, principal: Principal, client: str | None) -> dict[str, Any]:
    """`get`, with the look logged (ApplicationNotFound and ApplicationRefused as `get`)."""
    row = get(conn, application_id, principal)
    consulted(conn, principal, "application_view", [row["unit_number"]], client=client, reference=row["reference"])
    return row


def queue_seen(conn: psycopg.Connection, principal: Principal, client: str | None, *,
               limit: int = 200) -> list[dict[str, Any]]:
    """`queue`, with the look logged: one row listing the units of the applications shown."""
    rows = queue(conn, principal, limit=limit)
    consulted(conn, principal, "application_queue", [r["unit_number"] for r in rows], client=client)
    return rows
