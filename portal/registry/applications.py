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
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from portal.audit.trail import committed_as
from portal.platform.permissions import Action, Principal
from portal.platform.work import UnitOfWork
from portal.registry.errors import (
    ApplicationConflict,
    ApplicationInvalid,
    ApplicationNotFound,
    ApplicationRefused,
    RuleViolation,
)
from portal.registry.operations import OPERATIONS, RESTRICTING_KINDS, Context

__all__ = ["KINDS", "required_action", "receive", "start_review", "register", "reject", "get", "queue"]

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
            request: dict[str, Any], sources: Sequence[dict[str, Any]], received_at: dt.datetime | None = None) -> int:
    """Record an application with the documents it cites; its deadline follows from the kind's
    time limit in working days. Returns the application id."""
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
        row = conn.execute("SELECT unit_id FROM current_units WHERE unit_number = %s", (unit_number,)).fetchone()
        if kind == "first_registration" and row is not None:
            raise ApplicationInvalid(f"unit {unit_number} is already registered", "unit_number")
        if kind != "first_registration" and row is None:
            raise ApplicationInvalid(f"unit {unit_number} is not in the register", "unit_number")
        when = received_at or conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        reference = conn.execute(
            "SELECT to_char(%s::timestamptz AT TIME ZONE 'Asia/Shanghai', 'YYYY') || '-' || "
            "lpad(nextval('application_reference_seq')::text, 7, '0')", (when,)).fetchone()[0]  # type: ignore[index]
        application_id = conn.execute(
            "INSERT INTO applications (reference, kind, unit_id, unit_number, request, applicant, received_at, "
            "received_by, received_by_name, due_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "add_working_days(%s, (SELECT working_days FROM time_limits WHERE kind = %s))) "
            "RETURNING application_id",
            (reference, kind, row[0] if row else None, unit_number, Jsonb(request), applicant.strip(), when,
             principal.user_id, principal.label, when, kind)).fetchone()[0]  # type: ignore[index]
        for i, source in enumerate(sources):
            if source.get("kind") not in SOURCE_KINDS or not str(source.get("reference") or "").strip():
                raise ApplicationInvalid(f"sources[{i}]: give its kind ({', '.join(sorted(SOURCE_KINDS))}) "
                                         "and reference", f"sources[{i}]")
            source_id = conn.execute(
                "INSERT INTO sources (kind, reference, issued_on, issuer, description) VALUES (%s, %s, %s, %s, %s) "
                "RETURNING source_id", (source["kind"], source["reference"], source.get("issued_on"),
                                        source.get("issuer"), source.get("description"))).fetchone()[0]  # type: ignore[index]
            conn.execute("INSERT INTO application_sources VALUES (%s, %s)", (application_id, source_id))
    return int(application_id)


def _lock(conn: psycopg.Connection, application_id: int) -> dict[str, Any]:
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM applications WHERE application_id = %s FOR UPDATE NOWAIT",
                              (application_id,)).fetchone()
    except psycopg.errors.LockNotAvailable:
        raise ApplicationConflict(f"application {application_id} is being acted on by someone else; "
                                  "reload it in a moment") from None
    if row is None:
        raise ApplicationNotFound(f"application {application_id} does not exist")
    return row


def _step(conn: psycopg.Connection, fn, principal: Principal):  # type: ignore[no-untyped-def]
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


def start_review(conn: psycopg.Connection, application_id: int, principal: Principal) -> None:
    def step() -> None:
        row = _lock(conn, application_id)
        _require(principal, row["kind"])
        if row["status"] != "received":
            raise ApplicationConflict(f"application {row['reference']} is {row['status']}, not received")
        conn.execute("UPDATE applications SET status = 'under_review', review_started_at = greatest(now(), "
                     "received_at) WHERE application_id = %s", (application_id,))

    _step(conn, step, principal)


def register(conn: psycopg.Connection, application_id: int, principal: Principal, *,
             today: dt.date | None = None) -> dict[str, Any]:
    """Apply the application's changes in one transaction; returns what changed."""

    def step() -> dict[str, Any]:
        row = _lock(conn, application_id)
        _require(principal, row["kind"])
        if row["status"] != "under_review":
            raise ApplicationConflict(f"application {row['reference']} is {row['status']}; only an application "
                                      "under review can be registered")
        if row["unit_id"] is not None:
            try:
                conn.execute("SELECT 1 FROM units WHERE unit_id = %s AND end_lifespan IS NULL FOR UPDATE NOWAIT",
                             (row["unit_id"],))
            except psycopg.errors.LockNotAvailable:
                raise ApplicationConflict(f"unit {row['unit_number']} is being changed by another registration "
                                          "right now; try again when it is done") from None
        source_id = conn.execute("SELECT min(source_id) FROM application_sources WHERE application_id = %s",
                                 (application_id,)).fetchone()[0]  # type: ignore[index]
        ctx = Context(conn, application_id, row["unit_id"], row["unit_number"], row["request"], source_id,
                      today or dt.date.today(), principal.may(Action.REGISTER_SEIZURE))
        OPERATIONS[row["kind"]](ctx)
        if row["kind"] in RESTRICTING_KINDS:
            _notify_holders(conn, ctx, row)
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the register's rules answer here, not at commit
        conn.execute("UPDATE applications SET status = 'registered', decided_at = greatest(now(), received_at), "
                     "decided_by = %s, decided_by_name = %s, outcome = %s, unit_id = %s WHERE application_id = %s",
                     (principal.user_id, principal.label, Jsonb(ctx.changed), ctx.unit_id, application_id))
        return {"reference": row["reference"], "changed": ctx.changed}

    return _step(conn, step, principal)  # type: ignore[no-any-return]


def _notify_holders(conn: psycopg.Connection, ctx: Context, row: dict[str, Any]) -> None:
    """Owners find a notice in their account when a restriction is registered on their unit."""
    what = {"mortgage": "抵押登记 mortgage", "seizure": "查封登记 seizure", "objection": "异议登记 objection",
            "advance_notice": "预告登记 advance notice"}[row["kind"]]
    conn.execute(
        "INSERT INTO notices (party_id, unit_id, application_id, kind, message) "
        "SELECT h.party_id, r.unit_id, %s, %s, %s FROM current_rights r "
        "JOIN right_holders h ON h.right_version_id = r.version_id "
        "WHERE r.unit_id = %s AND r.kind = 'ownership'",
        (ctx.application_id, row["kind"], f"{what}: {row['unit_number']} ({row['reference']})", ctx.unit_id))


def reject(conn: psycopg.Connection, application_id: int, principal: Principal, reasons: Sequence[str]) -> None:
    reasons = [r.strip() for r in reasons if r and r.strip()]

    def step() -> None:
        row = _lock(conn, application_id)
        _require(principal, row["kind"])
        if not reasons:
            raise ApplicationInvalid("a rejection needs at least one reason", "reasons")
        if row["status"] not in ("received", "under_review"):
            raise ApplicationConflict(f"application {row['reference']} is already {row['status']}")
        conn.execute("UPDATE applications SET status = 'rejected', decided_at = greatest(now(), received_at), "
                     "decided_by = %s, decided_by_name = %s, reasons = %s WHERE application_id = %s",
                     (principal.user_id, principal.label, reasons, application_id))

    _step(conn, step, principal)


VIEW_SQL = """
SELECT a.application_id AS id, a.reference, a.kind, a.status, a.unit_number, a.applicant, a.received_at,
       a.received_by_name, a.due_at, a.review_started_at, a.decided_at, a.decided_by_name, a.reasons, a.outcome,
       a.request, t.working_days AS time_limit_days,
       CASE WHEN a.status IN ('registered', 'rejected') THEN NULL
            WHEN now() > a.due_at THEN 'overdue'
            WHEN a.due_at - now() < interval '1 day' THEN 'due_soon' END AS warning
  FROM applications a JOIN time_limits t USING (kind)
"""


def get(conn: psycopg.Connection, application_id: int, principal: Principal) -> dict[str, Any]:
    if not principal.may(Action.VIEW_APPLICATIONS):
        raise ApplicationRefused("only registry staff see applications")
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:  # a read: never committed
        row = cur.execute(VIEW_SQL + " WHERE a.application_id = %s", (application_id,)).fetchone()
    if row is None:
        raise ApplicationNotFound(f"application {application_id} does not exist")
    return row


def queue(conn: psycopg.Connection, principal: Principal, *, limit: int = 200) -> list[dict[str, Any]]:
    """Open applications, the one due soonest first, with warnings for due-soon and overdue ones."""
    if not principal.may(Action.VIEW_APPLICATIONS):
        raise ApplicationRefused("only registry staff see the queue")
    with UnitOfWork(conn), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(VIEW_SQL + " WHERE a.status IN ('received', 'under_review') ORDER BY a.due_at LIMIT %s",
                           (limit,)).fetchall()
    return rows
