"""Test harness of the portal tests: who is asking (principals behind an `x-test-person`
header, standing in for the accounts module at the one boundary it fills), a browser page that
sends it, and a real uvicorn server in a thread."""

from __future__ import annotations

import socket
import threading
import time

from chromium import SCREENSHOTS

from portal.platform.permissions import Principal, Role

__all__ = ["PEOPLE", "SCREENSHOTS", "header_principal", "open_page", "serve"]
PEOPLE = {
    "surveyor": Principal(11, "张测绘", frozenset({Role.SURVEYOR}), "测试测绘院"),
    "other-surveyor": Principal(12, "李测绘", frozenset({Role.SURVEYOR})),
    "registrar": Principal(21, "王登记", frozenset({Role.REGISTRAR}), "上城区不动产登记中心"),
    "registrar-2": Principal(22, "陈登记", frozenset({Role.REGISTRAR})),
    "clerk": Principal(41, "刘书记员", frozenset({Role.COURT_CLERK}), "杭州市上城区人民法院"),
    "clerk-2": Principal(44, "周书记员", frozenset({Role.COURT_CLERK}), "杭州市上城区人民法院"),
    "citizen": Principal(31, "赵公民", frozenset({Role.VERIFIED_USER})),
}


async def header_principal(request):  # type: ignore[no-untyped-def]
    """The test person the header names; without the header, whoever the accounts module says
    (a session cookie or bearer token of a real account), so both kinds of test share a server."""
    person = request.headers.get("x-test-person")
    if person is not None:
        return PEOPLE.get(person, Principal())
    from portal.accounts.principal import resolve_principal

    return await resolve_principal(request)


def open_page(browser, person: str, language: str = "zh-CN", *, bypass_csp: bool = True):  # type: ignore[no-untyped-def]
    """A page whose every request says who is asking. Playwright's own waiting helpers evaluate
    strings, which our Content-Security-Policy forbids, so the test context may bypass it;
    `csp_violations` collects what the page itself would have been refused."""
    context = browser.new_context(extra_http_headers={"x-test-person": person}, locale=language,
                                  viewport={"width": 1200, "height": 900}, bypass_csp=bypass_csp)
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda m: page.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    """Run `app` under a real uvicorn server in a thread; returns (base URL, server)."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    server.thread = thread  # type: ignore[attr-defined]
    return f"http://127.0.0.1:{port}", server
