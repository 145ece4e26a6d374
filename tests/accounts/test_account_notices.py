"""When a restriction is registered on a unit, its owners find a notice in their account."""

from __future__ import annotations

from account_helpers import form_login, settings_for
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.demo.accounts import demo_owner
from portal.platform.permissions import Principal, Role
from portal.registry import applications as apps


def test_owner_finds_a_notice_after_an_objection_is_registered(writable_database: str) -> None:
    import psycopg

    url = writable_database
    _party, units = demo_owner(url)
    registrar = Principal(21, "王登记", frozenset({Role.REGISTRAR}), "上城区不动产登记中心")
    counter = Principal(23, "孙受理", frozenset({Role.REGISTRAR}), "上城区不动产登记中心")  # receives; another decides
    with psycopg.connect(url) as conn:
        application = apps.receive(conn, counter, kind="objection", unit_number=units[0], applicant="利害关系人",
                                   request={"party": {"name": "利害关系人", "id_document_type": "passport",
                                                      "id_document_number": "E99887766"},
                                            "reason": "认为登记簿记载错误"},
                                   sources=[{"kind": "application", "reference": "异议申请书-1"}])
        apps.start_review(conn, application, registrar)
        apps.register(conn, application, registrar)
    with TestClient(create_app(settings_for(url)), follow_redirects=False) as visitor:
        form_login(visitor, "owner")
        visitor.cookies.set("lang", "en")
        page = visitor.get("/account").text
    assert "Notices" in page and units[0] in page and "异议登记" in page
