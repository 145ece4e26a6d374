"""Registry operations against real PostGIS: every rule the register enforces, the seizure
queue after release and expiry, deadlines in working days, and two registrars at once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import psycopg
import pytest

from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.platform.permissions import Principal, Role
from portal.registry import applications as apps
from portal.registry.errors import (
    ApplicationConflict,
    ApplicationInvalid,
    ApplicationRefused,
    OwnApplication,
    RuleViolation,
)
from portal.registry.seizures import expire_seizures
from portal.settings import Settings

REGISTRAR = Principal(21, "王登记", frozenset({Role.REGISTRAR}), "上城区不动产登记中心")
REGISTRAR_2 = Principal(22, "陈登记", frozenset({Role.REGISTRAR}))
RECEIVER = Principal(23, "孙受理", frozenset({Role.REGISTRAR}), "上城区不动产登记中心")  # the counter
CLERK = Principal(41, "刘书记员", frozenset({Role.COURT_CLERK}), "杭州市上城区人民法院")
DEED = [{"kind": "contract", "reference": "杭房买卖(2026)0001号", "issued_on": "2026-11-20"}]
COURT_ORDER = [{"kind": "court_order", "reference": "(2026)浙0102执1234号", "issuer": "杭州市上城区人民法院"}]
BANK = {"name": "中国工商银行股份有限公司杭州分行", "id_document_type": "unified_social_credit_code",
        "id_document_number": "91330100704326045P"}
BUYER = {"co_ownership": "sole", "holders": [{"name": "买受人", "id_document_type": "passport",
                                              "id_document_number": "E12345678"}]}


@pytest.fixture(scope="module")
def registry_db(fresh_database) -> str:  # type: ignore[no-untyped-def]
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=80, seed=4)
    return url


@pytest.fixture
def db(registry_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(registry_db) as conn:
        yield conn


_taken: set[str] = set()


def free_unit(conn: psycopg.Connection) -> str:
    """A residential unit with a sole owner and no restriction, not used by another test."""
    rows = conn.execute(
        "SELECT u.unit_number FROM current_units u JOIN current_rights r ON r.unit_id = u.unit_id "
        "WHERE u.use = 'residential' AND r.co_ownership = 'sole' AND NOT EXISTS (SELECT 1 FROM current_restrictions s "
        "WHERE s.unit_id = u.unit_id AND s.status IN ('active', 'queued')) ORDER BY u.unit_id").fetchall()
    conn.rollback()
    for (number,) in rows:
        if number not in _taken:
            _taken.add(number)
            return number
    raise AssertionError("the demo district ran out of free units")


def run(conn, principal, kind: str, unit: str, request: dict, sources=DEED) -> dict:  # type: ignore[no-untyped-def]
    """Receive (a colleague at the counter: nobody decides an application they received), review
    and register one application."""
    counter = Principal((principal.user_id or 0) + 100, "受理窗口", principal.roles, principal.institution)
    application_id = apps.receive(conn, counter, kind=kind, unit_number=unit, applicant="申请人",
                                  request=request, sources=sources)
    apps.start_review(conn, application_id, principal)
    return apps.register(conn, application_id, principal)


def seize(conn, unit: str, number: int) -> dict:  # type: ignore[no-untyped-def]
    return run(conn, CLERK, "seizure", unit, {"court": "杭州市上城区人民法院",
                                              "document_number": f"(2026)浙0102执{number}号",
                                              "term_start": "2026-01-01", "term_end": "2028-12-31"}, COURT_ORDER)


def restrictions(conn, unit: str, kind: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    rows = conn.execute("SELECT restriction_id, status, queue_position, rank FROM current_restrictions s "
                        "JOIN current_units u USING (unit_id) WHERE u.unit_number = %s AND s.kind = %s "
                        "ORDER BY restriction_id", (unit, kind)).fetchall()
    conn.rollback()
    return rows


def test_mortgage_ranks_are_unique_and_owners_are_notified(db) -> None:
    unit = free_unit(db)
    first = run(db, REGISTRAR, "mortgage", unit, {"mortgagee": BANK, "secured_amount": 1_200_000, "rank": 1,
                                                  "term_end": "2046-11-20"})
    [(restriction_id, status, _, rank)] = restrictions(db, unit, "mortgage")
    assert status == "active" and rank == 1 and first["changed"]["restrictions"] == [restriction_id]
    with pytest.raises(RuleViolation) as refused:
        run(db, REGISTRAR, "mortgage", unit, {"mortgagee": BANK, "secured_amount": 300_000, "rank": 1})
    assert refused.value.rule == "mortgage_rank_unique" and refused.value.blocking["restriction_id"] == restriction_id
    run(db, REGISTRAR, "mortgage", unit, {"mortgagee": BANK, "secured_amount": 300_000, "rank": 2})
    assert [r[3] for r in restrictions(db, unit, "mortgage")] == [1, 2]
    notices = db.execute("SELECT n.kind, n.message FROM notices n JOIN current_units u USING (unit_id) "
                         "WHERE u.unit_number = %s", (unit,)).fetchall()
    assert len(notices) == 2 and all(kind == "mortgage" and unit in message for kind, message in notices)


def test_only_a_court_clerk_seizes_and_a_second_seizure_is_queued(db) -> None:
    unit = free_unit(db)
    with pytest.raises(ApplicationRefused, match="court clerk"):
        apps.receive(db, REGISTRAR, kind="seizure", unit_number=unit, applicant="法院", request={},
                     sources=COURT_ORDER)
    seize(db, unit, 1001)
    seize(db, unit, 1002)
    seize(db, unit, 1003)
    assert [(s, q) for _, s, q, _ in restrictions(db, unit, "seizure")] == [("active", 1), ("queued", 2), ("queued", 3)]


def test_no_transfer_and_no_mortgage_under_seizure(db) -> None:
    unit = free_unit(db)
    seize(db, unit, 2001)
    [(seizure_id, *_)] = restrictions(db, unit, "seizure")
    before = db.execute("SELECT count(*) FROM rights").fetchone()
    db.rollback()
    for kind, request in (("transfer", {"co_ownership": "sole", "holders": [
            {"name": "买受人", "id_document_type": "passport", "id_document_number": "E12345678"}]}),
            ("mortgage", {"mortgagee": BANK, "secured_amount": 500_000, "rank": 1})):
        with pytest.raises(RuleViolation) as refused:
            run(db, REGISTRAR, kind, unit, request)
        assert refused.value.rule == "no_dealing_under_seizure"
        assert refused.value.blocking == {"restriction_id": seizure_id}
        assert "(2026)浙0102执2001号" in str(refused.value)
    assert db.execute("SELECT count(*) FROM rights").fetchone() == before
    assert restrictions(db, unit, "mortgage") == []
    with pytest.raises(ApplicationRefused, match="court clerk"):  # a registrar cannot lift it himself
        run(db, REGISTRAR, "transfer", unit, {"holders": [{"name": "买受人", "id_document_type": "passport",
                                                         "id_document_number": "E12345678"}], "lifts": [seizure_id]})
    # A judicial sale: the court's transfer lifts the seizure in the same application.
    clerk_and_registrar = Principal(42, "赵书记员", frozenset({Role.COURT_CLERK, Role.REGISTRAR}))
    run(db, clerk_and_registrar, "transfer", unit, {"holders": [{"name": "买受人", "id_document_type": "passport",
                                                                "id_document_number": "E12345678"}],
                                                    "lifts": [seizure_id]})
    assert restrictions(db, unit, "seizure")[0][1] == "released"


def test_release_lets_the_queued_seizure_take_effect_and_cannot_repeat(db) -> None:
    unit = free_unit(db)
    seize(db, unit, 3001)
    seize(db, unit, 3002)
    seize(db, unit, 3003)
    first, second, third = [r[0] for r in restrictions(db, unit, "seizure")]
    outcome = run(db, CLERK, "seizure_release", unit, {"restriction_id": first}, COURT_ORDER)
    assert outcome["changed"]["seizures_took_effect"] == [second]
    assert [(r[0], r[1], r[2]) for r in restrictions(db, unit, "seizure")] == [
        (first, "released", 1), (second, "active", 1), (third, "queued", 2)]
    term = db.execute("SELECT term_start FROM current_restrictions WHERE restriction_id = %s", (second,)).fetchone()
    assert term[0] == dt.date.today()
    with pytest.raises((RuleViolation, ApplicationInvalid)) as again:
        run(db, CLERK, "seizure_release", unit, {"restriction_id": first}, COURT_ORDER)
    assert "already released" in str(again.value)
    # The database itself refuses to revive an ended restriction, whoever writes.
    from portal.platform.versioning import supersede

    with pytest.raises(psycopg.errors.RestrictViolation, match="ended_restriction_stays_ended"):
        supersede(db, "restrictions", first, {"status": "active"})
    db.rollback()


def test_expiry_lets_the_queued_seizure_take_effect_in_order(db) -> None:
    unit = free_unit(db)
    run(db, CLERK, "seizure", unit, {"court": "杭州市上城区人民法院", "document_number": "(2023)浙0102执4001号",
                                     "term_start": "2023-01-01", "term_end": "2026-01-01"}, COURT_ORDER)
    seize(db, unit, 4002)
    seize(db, unit, 4003)
    first, second, third = [r[0] for r in restrictions(db, unit, "seizure")]
    outcome = expire_seizures(db, dt.date.today())
    db.commit()
    assert first in outcome["expired"] and second in outcome["took_effect"]
    assert [(r[0], r[1], r[2]) for r in restrictions(db, unit, "seizure")] == [
        (first, "expired", 1), (second, "active", 1), (third, "queued", 2)]
    assert expire_seizures(db, dt.date.today())["expired"] == []  # idempotent
    db.rollback()


def test_shares_and_holders_follow_the_form_of_co_ownership(db) -> None:
    unit = free_unit(db)
    people = [{"name": n, "id_document_type": "passport", "id_document_number": d}
              for n, d in (("甲", "E00000001"), ("乙", "E00000002"))]
    with pytest.raises(RuleViolation) as shares:
        run(db, REGISTRAR, "transfer", unit, {"co_ownership": "by_portions",
                                              "holders": [{**people[0], "share": "1/2"},
                                                          {**people[1], "share": "1/3"}]})
    assert shares.value.rule == "shares_add_up_to_one" and "5/6" in str(shares.value)
    with pytest.raises(RuleViolation) as joint:
        run(db, REGISTRAR, "transfer", unit, {"co_ownership": "joint", "holders": people[:1]})
    assert joint.value.rule == "joint_needs_two_holders"
    run(db, REGISTRAR, "transfer", unit, {"co_ownership": "by_portions",
                                          "holders": [{**people[0], "share": "2/3"}, {**people[1], "share": "1/3"}]})
    shares_now = db.execute(
        "SELECT h.share_numerator, h.share_denominator FROM current_rights r JOIN right_holders h "
        "ON h.right_version_id = r.version_id JOIN current_units u USING (unit_id) WHERE u.unit_number = %s "
        "ORDER BY 1", (unit,)).fetchall()
    assert shares_now == [(1, 3), (2, 3)]


def test_identity_numbers_are_checked_and_never_echoed(db) -> None:
    unit = free_unit(db)
    with pytest.raises(ApplicationInvalid) as bad:
        run(db, REGISTRAR, "transfer", unit, {"holders": [{"name": "某人", "id_document_type": "resident_id",
                                                         "id_document_number": "330102199001011235"}]})
    assert bad.value.field == "holders[0].id_document_number" and "330102199001011235" not in str(bad.value)


def test_a_unit_locked_by_another_registration_gives_a_clear_conflict(db, registry_db) -> None:
    unit = free_unit(db)
    application_id = apps.receive(db, RECEIVER, kind="mortgage", unit_number=unit, applicant="申请人",
                                  request={"mortgagee": BANK, "secured_amount": 100_000, "rank": 1}, sources=DEED)
    apps.start_review(db, application_id, REGISTRAR)
    with psycopg.connect(registry_db) as other:
        other.execute("SELECT 1 FROM units WHERE unit_number = %s AND end_lifespan IS NULL FOR UPDATE", (unit,))
        with pytest.raises(ApplicationConflict, match="being changed by another registration"):
            apps.register(db, application_id, REGISTRAR)
    assert apps.register(db, application_id, REGISTRAR)["changed"]["restrictions"]


def test_two_registrars_at_once_exactly_one_succeeds(db, registry_db) -> None:
    unit = free_unit(db)
    ids = []
    for amount in (100_000, 200_000):
        application_id = apps.receive(db, RECEIVER, kind="mortgage", unit_number=unit, applicant="申请人",
                                      request={"mortgagee": BANK, "secured_amount": amount, "rank": 1}, sources=DEED)
        apps.start_review(db, application_id, REGISTRAR)
        ids.append(application_id)
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def act(application_id: int, who: Principal) -> None:
        with psycopg.connect(registry_db) as conn:
            barrier.wait()
            try:
                outcomes.append(apps.register(conn, application_id, who))
            except (ApplicationConflict, RuleViolation) as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=act, args=(i, p)) for i, p in zip(ids, (REGISTRAR, REGISTRAR_2), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert sum(isinstance(o, (ApplicationConflict, RuleViolation)) for o in outcomes) == 1
    assert [r[3] for r in restrictions(db, unit, "mortgage")] == [1]
    statuses = db.execute("SELECT status FROM applications WHERE application_id = ANY(%s) ORDER BY status",
                          (ids,)).fetchall()
    assert statuses == [("registered",), ("under_review",)]  # the loser can be retried or rejected


def test_deadlines_count_working_days_with_holidays(db) -> None:
    friday = dt.datetime(2026, 10, 30, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    due = db.execute("SELECT add_working_days(%s, 1) AT TIME ZONE 'Asia/Shanghai'", (friday,)).fetchone()[0]
    assert due.date() == dt.date(2026, 11, 2)  # Monday
    db.execute("INSERT INTO calendar_days VALUES ('2026-11-02', false, '测试假日'), ('2026-10-31', true, '调休')")
    due = db.execute("SELECT add_working_days(%s, 1) AT TIME ZONE 'Asia/Shanghai', "
                     "add_working_days(%s, 3) AT TIME ZONE 'Asia/Shanghai'", (friday, friday)).fetchone()
    assert due[0].date() == dt.date(2026, 10, 31) and due[1].date() == dt.date(2026, 11, 4)
    db.rollback()
    unit = free_unit(db)
    mortgage = apps.receive(db, REGISTRAR, kind="mortgage", unit_number=unit, applicant="申请人",
                            request={"mortgagee": BANK, "secured_amount": 100_000, "rank": 1}, sources=DEED,
                            received_at=friday)
    transfer = apps.receive(db, REGISTRAR, kind="transfer", unit_number=unit, applicant="申请人",
                            request=BUYER, sources=DEED, received_at=friday)
    got = {a["id"]: a for a in apps.queue(db, REGISTRAR)}
    assert got[mortgage]["due_at"].astimezone(friday.tzinfo).date() == dt.date(2026, 11, 2)
    assert got[transfer]["due_at"].astimezone(friday.tzinfo).date() == dt.date(2026, 11, 4)
    assert got[mortgage]["warning"] == "overdue"


def test_the_database_keeps_applications_in_order(db) -> None:
    unit = free_unit(db)
    application_id = apps.receive(db, RECEIVER, kind="objection", unit_number=unit, applicant="利害关系人",
                                  request={"party": BUYER["holders"][0], "reason": "买卖合同纠纷"}, sources=DEED)
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="cannot move from received to registered"):
        db.execute("UPDATE applications SET status = 'registered', decided_at = now() WHERE application_id = %s",
                   (application_id,))
    db.rollback()
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="never deleted"):
        db.execute("DELETE FROM applications WHERE application_id = %s", (application_id,))
    db.rollback()
    apps.reject(db, application_id, REGISTRAR, ["材料不全"])
    with pytest.raises(ApplicationConflict, match="already rejected"):
        apps.reject(db, application_id, REGISTRAR, ["again"])


def test_http_api_maps_each_refusal_to_its_status(registry_db, db) -> None:
    from fastapi.testclient import TestClient
    from harness import header_principal

    from portal.app import create_app
    from portal.settings import DatabaseSettings, Settings

    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=registry_db)))
    app.state.principal_resolver = header_principal
    unit = free_unit(db)
    seizure = {"kind": "seizure", "unit_number": unit, "applicant": "杭州市上城区人民法院",
               "request": {"court": "杭州市上城区人民法院", "document_number": "(2026)浙0102执8001号"},
               "sources": COURT_ORDER}
    with TestClient(app) as client:
        assert client.get("/api/applications").status_code == 401
        assert client.get("/api/applications", headers={"x-test-person": "citizen"}).status_code == 403
        assert client.post("/api/applications", json=seizure, headers={"x-test-person": "registrar"}).status_code == 403
        made = client.post("/api/applications", json=seizure, headers={"x-test-person": "clerk"})
        assert made.status_code == 201 and made.json()["status"] == "received" and made.json()["time_limit_days"] == 1
        sid = made.json()["id"]
        client.post(f"/api/applications/{sid}/review", headers={"x-test-person": "clerk"}).raise_for_status()
        assert client.post(f"/api/applications/{sid}/register", headers={"x-test-person": "clerk-2"}).status_code == 200
        transfer = {"kind": "transfer", "unit_number": unit, "applicant": "买受人", "sources": DEED,
                    "request": {"holders": [{"name": "买受人", "id_document_type": "passport",
                                             "id_document_number": "E7654321"}]}}
        tid = client.post("/api/applications", json=transfer, headers={"x-test-person": "registrar"}).json()["id"]
        client.post(f"/api/applications/{tid}/review", headers={"x-test-person": "registrar"}).raise_for_status()
        refused = client.post(f"/api/applications/{tid}/register", headers={"x-test-person": "registrar-2"})
        assert refused.status_code == 409
        assert refused.json()["detail"]["rule"] == "no_dealing_under_seizure"
        assert refused.json()["detail"]["blocking"]["restriction_id"] > 0
        bad = client.post("/api/applications", json={**transfer, "unit_number": "X" * 28},
                          headers={"x-test-person": "registrar"})
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "unit_number"
        stats = client.get("/api/statistics")
        assert stats.status_code == 200 and {"kind", "month", "completed", "median_working_days",
                                             "within_limit_percent"} <= set(stats.json()[0])


def test_cli_expires_seizures(registry_db, db, monkeypatch) -> None:
    from click.testing import CliRunner

    from portal.cli import main

    unit = free_unit(db)
    run(db, CLERK, "seizure", unit, {"court": "杭州市上城区人民法院", "document_number": "(2023)浙0102执9001号",
                                     "term_start": "2023-01-01", "term_end": "2025-06-30"}, COURT_ORDER)
    monkeypatch.setenv("DATABASE_URL", registry_db)
    result = CliRunner().invoke(main, ["registry", "expire"])
    assert result.exit_code == 0, result.output
    assert "expired" in result.output and restrictions(db, unit, "seizure")[0][1] == "expired"


def test_nobody_decides_an_application_they_received(db, registry_db) -> None:
    """Separation of duties (issue 15, section 7): whoever received an application neither
    registers nor rejects it, in code (403 own_application) and in the database (migration 0012)."""
    unit = free_unit(db)
    application_id = apps.receive(db, REGISTRAR, kind="mortgage", unit_number=unit, applicant="申请人",
                                  request={"mortgagee": BANK, "secured_amount": 300_000, "rank": 1}, sources=DEED)
    apps.start_review(db, application_id, REGISTRAR)
    for decide in (lambda: apps.register(db, application_id, REGISTRAR),
                   lambda: apps.reject(db, application_id, REGISTRAR, ["自审"])):
        with pytest.raises(OwnApplication, match="received by you") as own:
            decide()
        assert (own.value.status, own.value.code) == (403, "own_application")
    assert restrictions(db, unit, "mortgage") == []
    with pytest.raises(psycopg.errors.CheckViolation, match="application_not_decided_by_its_receiver"):
        db.execute("UPDATE applications SET status = 'rejected', decided_at = now(), decided_by = received_by, "
                   "decided_by_name = 'x', reasons = '{自审}' WHERE application_id = %s", (application_id,))
    db.rollback()
    from fastapi.testclient import TestClient
    from harness import header_principal

    from portal.app import create_app
    from portal.settings import DatabaseSettings, Settings

    app = create_app(Settings(database=DatabaseSettings(DATABASE_URL=registry_db)))
    app.state.principal_resolver = header_principal
    mortgage = {"kind": "mortgage", "unit_number": unit, "applicant": "申请人", "sources": DEED,
                "request": {"mortgagee": BANK, "secured_amount": 400_000, "rank": 2}}
    with TestClient(app) as client:
        made = client.post("/api/applications", json=mortgage, headers={"x-test-person": "registrar"}).json()["id"]
        client.post(f"/api/applications/{made}/review", headers={"x-test-person": "registrar"}).raise_for_status()
        refused = client.post(f"/api/applications/{made}/register", headers={"x-test-person": "registrar"})
        assert refused.status_code == 403 and refused.json()["detail"]["code"] == "own_application"
        assert client.get(f"/api/applications/{made}", headers={"x-test-person": "registrar"}).json()["status"] \
            == "under_review"
        assert restrictions(db, unit, "mortgage") == []
        done = client.post(f"/api/applications/{made}/register", headers={"x-test-person": "registrar-2"})
        assert done.status_code == 200, done.text
    assert apps.register(db, application_id, REGISTRAR_2)["changed"]["restrictions"]


def test_a_request_that_could_never_be_registered_is_refused_at_receipt_and_nothing_is_kept(db) -> None:
    """Issue 17 §3: a mortgagee's credit code with a wrong check character is refused when the
    application is received, naming the field; no application waits under review for it."""
    unit = free_unit(db)
    before = db.execute("SELECT count(*) FROM applications").fetchone()
    db.rollback()
    wrong = {**BANK, "id_document_number": BANK["id_document_number"][:-1] + "Q"}
    with pytest.raises(ApplicationInvalid) as refused:
        apps.receive(db, RECEIVER, kind="mortgage", unit_number=unit, applicant="申请人",
                     request={"mortgagee": wrong, "secured_amount": 100_000, "rank": 1}, sources=DEED)
    db.rollback()
    assert refused.value.field == "mortgagee.id_document_number"
    assert db.execute("SELECT count(*) FROM applications").fetchone() == before
    db.rollback()
    # a request the register's rules may refuse later is received: the rules are judged at registration
    seize(db, unit, 5001)
    received = apps.receive(db, RECEIVER, kind="mortgage", unit_number=unit, applicant="申请人",
                            request={"mortgagee": BANK, "secured_amount": 100_000, "rank": 1}, sources=DEED)
    assert apps.get(db, received, RECEIVER)["status"] == "received"
    assert restrictions(db, unit, "mortgage") == []
