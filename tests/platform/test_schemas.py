"""The typed response schemas are the whitelist of what leaves the server, and they must send
exactly what the untyped read models sent before them: same fields, same values, same text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from survey_files import FREE_NORTHING, block, exchange

from portal.demo.loader import load_demo
from portal.platform import migrate
from portal.platform.permissions import Principal, Role
from portal.registry import applications as apps
from portal.registry import statistics
from portal.registry.api import unit_register
from portal.registry.schemas import ApplicationOut, MonthOut, RegisteredOut, UnitOut
from portal.settings import Settings, SurveySettings
from portal.surveys import workflow as submissions
from portal.surveys.schemas import ReportOut, SubmissionOut, SubmissionSummary

SURVEYOR = Principal(11, "张测绘", frozenset({Role.SURVEYOR}), "测试测绘院")
REGISTRAR = Principal(21, "王登记", frozenset({Role.REGISTRAR}), "上城区不动产登记中心")
CLERK = Principal(41, "刘书记员", frozenset({Role.COURT_CLERK}), "杭州市上城区人民法院")
# Nobody decides an application they received: CLERK receives, CLERK_2 registers.
CLERK_2 = Principal(44, "周书记员", frozenset({Role.COURT_CLERK}), "杭州市上城区人民法院")
COURT_ORDER = [{"kind": "court_order", "reference": "(2026)浙0102执9901号", "issuer": "杭州市上城区人民法院"}]


@pytest.fixture(scope="module")
def conn(fresh_database) -> Iterator[psycopg.Connection]:  # type: ignore[no-untyped-def]
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=40, seed=5)
    with psycopg.connect(url) as connection:
        yield connection


def same(schema: type[BaseModel], row: dict[str, Any], *, exclude_unset: bool = False) -> None:
    sent = schema.model_validate(row).model_dump(mode="json", exclude_unset=exclude_unset)
    assert sent == jsonable_encoder(row)


def test_submissions_send_what_they_sent(conn: psycopg.Connection) -> None:
    upload = submissions.Upload("survey.txt", exchange(block("330102001001GB09901", 40_515_100.0, FREE_NORTHING, 20)))
    submission_id = submissions.create(conn, upload, SURVEYOR, SurveySettings())
    found = submissions.get(conn, submission_id, SURVEYOR)
    assert found["parcels"] and found["report"]
    same(SubmissionOut, found)
    same(ReportOut, found["report"])
    submissions.withdraw(conn, submission_id, SURVEYOR)
    decided = submissions.get(conn, submission_id, SURVEYOR, with_report=False)
    assert "report" not in decided
    same(SubmissionOut, decided, exclude_unset=True)
    for row in submissions.listing(conn, REGISTRAR):
        same(SubmissionSummary, row)


def test_applications_send_what_they_sent(conn: psycopg.Connection) -> None:
    unit = conn.execute("SELECT unit_number FROM current_units ORDER BY unit_id LIMIT 1").fetchone()[0]  # type: ignore[index]
    conn.rollback()
    application_id = apps.receive(conn, CLERK, kind="seizure", unit_number=unit, applicant="杭州市上城区人民法院",
                                  request={"court": "杭州市上城区人民法院", "document_number": "(2026)浙0102执9901号",
                                           "term_start": "2026-01-01", "term_end": "2028-12-31"},
                                  sources=COURT_ORDER)
    same(ApplicationOut, apps.get(conn, application_id, CLERK))
    apps.start_review(conn, application_id, CLERK)
    for row in apps.queue(conn, REGISTRAR):
        same(ApplicationOut, row)
    outcome = apps.register(conn, application_id, CLERK_2)
    same(RegisteredOut, {**apps.get(conn, application_id, CLERK), "changed": outcome["changed"]})
    held = unit_register(conn, unit)
    assert held["restrictions"] and held["ownership"]
    same(UnitOut, held)
    months = statistics.monthly(conn)
    assert months
    for row in months:
        same(MonthOut, row)
