"""Online identity verification cannot be guessed (issue 15 section 2).

The finding (commit 92536e5): knowing a person's name, region and birth date, an attacker
guessed the 3-digit sequence of their identity number (the check digit is computable) by signing
up fresh accounts and trying 5 numbers with each; the 15th try made the attacker's account the
owner tier of the person's unit, and the real person could no longer verify online.

Failures now count per claimed identity (across every account and address), per client address
and per account, atomically before the comparison, and accounts made per client address are
limited; past a limit the answer is 429 `verification_at_counter`. The app runs behind a trusted
proxy here (127.0.0.1), so each request names its client in `X-Forwarded-For`: real HTTP
through `create_app`, on the module's own copy of the demo cadastre.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from account_helpers import bearer, csrf_of, form_login, new_username, settings_for
from fastapi.testclient import TestClient
from identities import document_digest, opened

from portal.accounts.identity_numbers import resident_id_check_digit
from portal.accounts.service import claim_digests
from portal.app import create_app
from portal.settings import SecuritySettings

PASSWORD = "correct horse battery"
_used: set[str] = set()
_addresses = iter(range(1, 60_000))


def _app_client(module_database: str, **limits: object) -> TestClient:
    settings = settings_for(module_database, **limits)
    settings = settings.model_copy(update={"security": SecuritySettings(trusted_proxies=["127.0.0.1/32"])})
    return TestClient(create_app(settings), follow_redirects=False, client=("127.0.0.1", 50000))


@pytest.fixture
def app(module_database: str) -> Iterator[TestClient]:
    with _app_client(module_database) as client:
        yield client


def _address() -> dict[str, str]:
    """A client address of its own (forwarded by the trusted proxy)."""
    n = next(_addresses)
    return {"X-Forwarded-For": f"198.18.{n // 250}.{n % 250 + 1}"}


def _sign_up(client: TestClient, address: dict[str, str]) -> dict[str, str]:
    """A fresh account made from `address`; returns its bearer headers, from the same address."""
    username = new_username("g")
    page = client.get("/register", headers=address)
    response = client.post("/register", headers=address, data={
        "username": username, "display_name": "测试", "password": PASSWORD, "password_again": PASSWORD,
        "csrf": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    client.cookies.clear()
    token = client.post("/api/tokens", json={"username": username, "password": PASSWORD}, headers=address)
    assert token.status_code == 201, token.text
    return {**address, "Authorization": f"Bearer {token.json()['token']}"}


def _person(module_database: str) -> tuple[str, str]:
    """A current natural person of the register that no account is verified as, used once per module."""
    with psycopg.connect(module_database) as conn:
        rows = [(name, opened(digest, sealed)) for name, digest, sealed in conn.execute(
            "SELECT name, id_document_digest, id_document_sealed FROM current_parties p "
            "WHERE id_document_type = 'resident_id' "
            "AND NOT EXISTS (SELECT 1 FROM identity_verifications v WHERE v.party_id = p.party_id) "
            "ORDER BY party_id").fetchall()]
    name, number = next((n, d) for n, d in rows if d[:14] not in _used)
    _used.add(number[:14])
    return name, number


def _guesses(number: str, count: int, right_at: int | None = None) -> list[str]:
    """`count` numbers an attacker who knows positions 1-14 tries: sequence numbers with their
    computed check digit; the right one at index `right_at`."""
    wrong = (f"{number[:14]}{seq:03d}" for seq in range(1000) if f"{seq:03d}" != number[14:17])
    tries = [first17 + resident_id_check_digit(first17) for first17 in (next(wrong) for _ in range(count))]
    if right_at is not None:
        tries[right_at] = number
    return tries


def _username(client: TestClient, headers: dict[str, str]) -> str:
    return str(client.get("/api/me", headers=headers).json()["username"])


def _verify(client: TestClient, headers: dict[str, str], name: str, number: str) -> tuple[int, str]:
    response = client.post("/api/me/verification", json={"name": name, "id_number": number}, headers=headers)
    body = response.json()
    return response.status_code, body.get("detail", {}).get("code", "") if response.status_code != 201 else "ok"


def _attack(client: TestClient, name: str, number: str, accounts: int = 3) -> list[tuple[int, str]]:
    """The reported attack: fresh accounts, each from an address of its own, 5 tries each; the
    right number is the 15th try."""
    guesses = iter(_guesses(number, accounts * 5, right_at=14))
    outcomes = []
    for _ in range(accounts):
        headers = _sign_up(client, _address())
        outcomes += [_verify(client, headers, name, next(guesses)) for _ in range(5)]
    return outcomes


def _compared(module_database: str, since: dt.datetime) -> int:
    """Online verifications whose name and number were compared (success or failure) since."""
    with psycopg.connect(module_database) as conn:
        row = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'identity_verification' "
                           "AND outcome IN ('success', 'failure') AND at >= %s", (since,)).fetchone()
    return int(row[0])


def _now(module_database: str) -> dt.datetime:
    with psycopg.connect(module_database) as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def test_the_reported_attack_succeeds_without_the_identity_limit(module_database: str) -> None:
    """The attack as reported, with the identity and client limits out of the way (as on
    92536e5, where only the account's 5 a day existed): the 15th try verifies the attacker."""
    name, number = _person(module_database)
    with _app_client(module_database, verification_failures_per_identity=1000,
                     verification_failures_per_client=1000) as client:
        outcomes = _attack(client, name, number)
    assert outcomes[:14] == [(422, "invalid_input")] * 14 and outcomes[14] == (201, "ok")


def test_guessing_a_known_persons_sequence_number_is_refused(app: TestClient, module_database: str) -> None:
    """The same attack with the limits: after 5 failures against the person, from whichever
    accounts and addresses, online verification as them is refused (429, counter only), the right
    number included, and nothing more is compared."""
    name, number = _person(module_database)
    since = _now(module_database)
    outcomes = _attack(app, name, number)
    assert outcomes[:5] == [(422, "invalid_input")] * 5
    assert outcomes[5:] == [(429, "verification_at_counter")] * 10, outcomes
    assert _compared(module_database, since) == 5
    with psycopg.connect(module_database) as conn:
        assert conn.execute("SELECT count(*) FROM identity_verifications v JOIN parties p USING (party_id) "
                            "WHERE p.id_document_digest = %s", (document_digest(number),)).fetchone()[0] == 0
    # The real person, from their own address and account, is told to come to the counter ...
    real = _sign_up(app, _address())
    response = app.post("/api/me/verification", json={"name": name, "id_number": number}, headers=real)
    assert response.status_code == 429 and response.json()["detail"]["code"] == "verification_at_counter"
    assert "counter" in response.json()["detail"]["message"] and int(response.headers["retry-after"]) > 86_400
    # ... where a registrar verifies them in person, whatever the online failures.
    username = _username(app, real)
    csrf = form_login(app, "registrar")
    done = app.post("/counter/verify", data={"username": username, "name": name, "id_number": number,
                                             "document_seen": "yes", "csrf": csrf})
    assert done.status_code == 200, done.text
    app.cookies.clear()
    assert app.get("/api/me", headers=real).json()["verified"] is True


def test_the_identity_limit_holds_when_the_name_is_guessed(app: TestClient, module_database: str) -> None:
    """Failures count against the number too: whoever knows the number and guesses the name
    gets 5 tries, then the right name is refused as well."""
    name, number = _person(module_database)
    outcomes = []
    for n in range(2):
        headers = _sign_up(app, _address())
        outcomes += [_verify(app, headers, f"{name}{'甲乙丙丁戊'[i]}{n}", number) for i in range(3)]
    outcomes.append(_verify(app, _sign_up(app, _address()), name, number))
    assert outcomes == [(422, "invalid_input")] * 5 + [(429, "verification_at_counter")] * 2


def test_the_refusal_does_not_tell_whether_the_person_exists(app: TestClient, module_database: str) -> None:
    name, number = _person(module_database)
    first17 = "11010119800101" + "777"
    nobody = first17 + resident_id_check_digit(first17)
    answers = []
    for claimed_name, claimed in ((name, number), ("无此人", nobody)):
        guesses = _guesses(claimed, 5)
        for i in range(5):
            assert _verify(app, _sign_up(app, _address()), claimed_name, guesses[i])[0] == 422
        response = app.post("/api/me/verification", json={"name": claimed_name, "id_number": claimed},
                            headers=_sign_up(app, _address()))
        detail = response.json()["detail"]
        about_30_days = abs(detail["retry_after"] - 30 * 86_400) < 120
        answers.append((response.status_code, detail["code"], detail["message"], about_30_days))
    assert answers[0] == answers[1] == (429, "verification_at_counter", answers[0][2], True)


def test_the_client_limit(module_database: str) -> None:
    """One address gets 10 failed verifications a day, whichever accounts and identities it
    tries; another address is not held back."""
    with _app_client(module_database) as client:
        address = _address()
        outcomes = []
        for _ in range(3):
            headers = _sign_up(client, address)
            for _ in range(4):
                born = dt.date(1960, 1, 1) + dt.timedelta(days=next(_addresses))
                first17 = f"330102{born:%Y%m%d}123"
                outcomes.append(_verify(client, headers, "某某", first17 + resident_id_check_digit(first17)))
        assert outcomes[:10] == [(422, "invalid_input")] * 10
        assert outcomes[10:] == [(429, "verification_at_counter")] * 2
        elsewhere = _sign_up(client, _address())
        first17 = "33010219901231456"
        assert _verify(client, elsewhere, "某某", first17 + resident_id_check_digit(first17))[0] == 422


def test_the_account_limit(app: TestClient) -> None:
    """One account gets 5 tries a day, each on another identity and the address's limit aside."""
    headers = _sign_up(app, _address())
    outcomes = []
    for day in range(1, 7):
        first17 = f"330102198001{day:02d}555"
        outcomes.append(_verify(app, headers, "某某", first17 + resident_id_check_digit(first17)))
    assert outcomes == [(422, "invalid_input")] * 5 + [(429, "verification_at_counter")]


def test_accounts_made_per_client_are_limited(module_database: str) -> None:
    with _app_client(module_database, sign_ups_per_client_per_day=3) as client:
        address = _address()
        for _ in range(3):
            _sign_up(client, address)
        page = client.get("/register", headers=address)
        form = {"username": new_username("x"), "display_name": "x", "password": PASSWORD,
                "password_again": PASSWORD, "csrf": csrf_of(page.text)}
        refused = client.post("/register", data=form, headers=address)
        assert refused.status_code == 429 and "address" in refused.text
        with psycopg.connect(module_database) as conn:
            made = conn.execute("SELECT count(*) FROM users WHERE username = %s", (form["username"],)).fetchone()[0]
        assert made == 0
        _sign_up(client, _address())  # another address may
    with _app_client(module_database, sign_ups_per_client_per_day=2) as client:
        address = _address()
        _sign_up(client, address)
        page = client.get("/register", headers=address)
        taken = client.post("/register", headers=address, data={
            "username": "registrar", "display_name": "x", "password": PASSWORD, "password_again": PASSWORD,
            "csrf": csrf_of(page.text)})
        assert taken.status_code == 409
        _sign_up(client, address)  # a refused sign-up made no account and does not count


def test_parallel_tries_do_not_pass_the_identity_limit(module_database: str) -> None:
    """40 tries at once on one person, from 8 accounts on 8 addresses: 5 are compared, the rest refused."""
    name, number = _person(module_database)
    with _app_client(module_database) as client:
        accounts = [_sign_up(client, _address()) for _ in range(8)]
        guesses = _guesses(number, 40)
        since = _now(module_database)

        def attempt(i: int) -> tuple[int, str]:
            return _verify(client, accounts[i % 8], name, guesses[i])

        with ThreadPoolExecutor(max_workers=40) as pool:
            outcomes = list(pool.map(attempt, range(40)))
    assert outcomes.count((422, "invalid_input")) == 5, outcomes
    assert outcomes.count((429, "verification_at_counter")) == 35
    assert _compared(module_database, since) == 5


def test_the_real_person_is_not_locked_out_for_ever(app: TestClient, module_database: str) -> None:
    """Online verification closed by someone else's failures opens again when a registrar, with
    the identity card seen, reopens it, or by itself when the window ends."""
    for reopen in ("registrar", "window"):
        name, number = _person(module_database)
        guesses = _guesses(number, 5)
        attacker = _sign_up(app, _address())
        assert [_verify(app, attacker, name, g)[0] for g in guesses] == [422] * 5
        real = _sign_up(app, _address())
        assert _verify(app, real, name, number) == (429, "verification_at_counter")
        if reopen == "registrar":
            csrf = form_login(app, "registrar")
            form = {"name": name, "id_number": number, "csrf": csrf}
            assert app.post("/counter/reopen", data=form).status_code == 422  # the card must be seen
            page = app.post("/counter/reopen", data={**form, "document_seen": "yes"})
            assert page.status_code == 200, page.text
            app.cookies.clear()
        else:
            digests = claim_digests(app.app.state.identity_key, name, number)  # type: ignore[attr-defined]
            with psycopg.connect(module_database) as conn:
                conn.execute("UPDATE verification_claims SET window_start = window_start - interval '30 days' "
                             "WHERE claim_digest = ANY(%s)", (digests,))
        assert _verify(app, real, name, number) == (201, "ok"), reopen
    with psycopg.connect(module_database) as conn:
        reopened = conn.execute("SELECT actor_role, detail FROM audit_log WHERE action = "
                                "'identity_verification_reopened' ORDER BY seq DESC LIMIT 1").fetchone()
    assert reopened[0] == "registrar" and number not in str(reopened[1])


def test_the_refusal_is_translated(app: TestClient, module_database: str) -> None:
    name, number = _person(module_database)
    for guess in _guesses(number, 5):
        _verify(app, _sign_up(app, _address()), name, guess)
    address = _address()
    page = app.get("/register", headers=address)
    signed_up = app.post("/register", headers=address, data={
        "username": new_username("t"), "display_name": "x", "password": PASSWORD, "password_again": PASSWORD,
        "csrf": csrf_of(page.text)})
    assert signed_up.status_code == 303  # the browser now holds the new account's session
    csrf = csrf_of(app.get("/account", headers=address).text)
    texts = {}
    for language in ("zh-CN", "en"):
        app.cookies.set("lang", language)
        response = app.post("/account/verify", data={"name": name, "id_number": number, "csrf": csrf},
                            headers={**address, "Accept": "text/html"})
        assert response.status_code == 429
        texts[language] = response.text
    app.cookies.clear()
    assert "登记窗口" in texts["zh-CN"] and "counter" in texts["en"]


def test_the_persons_account_is_told_when_someone_verifies_as_them(app: TestClient, module_database: str) -> None:
    name, number = _person(module_database)
    holder = _sign_up(app, _address())
    assert _verify(app, holder, name, number) == (201, "ok")
    other = _sign_up(app, _address())
    assert _verify(app, other, name, number) == (409, "conflict")
    notices = app.get("/api/me", headers=holder).json()["notices"]
    assert [n["kind"] for n in notices] == ["identity_claim_refused"]
    assert app.get("/api/me", headers=other).json()["notices"] == []
    # The holder's verification ends (a registrar moved it); someone else verifies as them.
    with psycopg.connect(module_database) as conn:
        conn.execute("UPDATE identity_verifications SET revoked_at = now() WHERE user_id = "
                     "(SELECT user_id FROM users WHERE username = %s)", (_username(app, holder),))
    third = _sign_up(app, _address())
    assert _verify(app, third, name, number) == (201, "ok")
    notices = app.get("/api/me", headers=holder).json()["notices"]
    assert [n["kind"] for n in notices] == ["identity_claimed", "identity_claim_refused"]
    form_login(app, _username(app, holder), PASSWORD)
    app.cookies.set("lang", "en")
    page = app.get("/account").text
    app.cookies.clear()
    assert "Security notices" in page and "Another account was verified as your identity" in page


def test_a_registrar_sees_verifications_that_followed_failures(app: TestClient, module_database: str) -> None:
    name, number = _person(module_database)
    guesser = _sign_up(app, _address())
    assert [_verify(app, guesser, name, g)[0] for g in _guesses(number, 3)] == [422] * 3
    address = _address()
    winner = _sign_up(app, address)
    assert _verify(app, winner, name, number) == (201, "ok")
    clean_name, clean_number = _person(module_database)
    clean = _sign_up(app, _address())
    assert _verify(app, clean, clean_name, clean_number) == (201, "ok")

    headers = bearer(app, "registrar")
    listed = app.get("/api/counter/verifications-after-failures", headers=headers)
    assert listed.status_code == 200, listed.text
    rows = {row["username"]: row for row in listed.json()}
    row = rows[_username(app, winner)]
    with psycopg.connect(module_database) as conn:
        party = conn.execute("SELECT party_id FROM current_parties WHERE id_document_digest = %s",
                             (document_digest(number),)).fetchone()[0]
        consulted = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'verifications_after_failures' "
                                 "AND access = 'consulted' AND actor_role = 'registrar'").fetchone()[0]
    assert (row["party_id"], row["party_name"], row["failures_before"], row["client"]) == (
        party, name, 3, address["X-Forwarded-For"])
    assert dt.datetime.fromisoformat(row["verified_at"]) and number not in listed.text
    assert _username(app, clean) not in rows and consulted >= 1
    form_login(app, "registrar")
    page = app.get("/counter")
    app.cookies.clear()
    assert _username(app, winner) in page.text and address["X-Forwarded-For"] in page.text
    for who in ("citizen", "owner", "clerk", "auditor", "surveyor", "admin"):
        assert app.get("/api/counter/verifications-after-failures", headers=bearer(app, who)).status_code == 403
    assert app.get("/api/counter/verifications-after-failures").status_code == 401


def test_the_json_bodies_are_described_in_the_openapi_and_hostile_input_is_still_422(app: TestClient) -> None:
    paths = app.get("/openapi.json").json()["paths"]
    for path, fields in (("/api/me/verification", {"name", "id_number"}), ("/api/tokens", {"username", "password"}),
                         ("/api/me/password", {"current_password", "new_password"}), ("/api/me/tokens", set())):
        schema = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["type"] == "object" and set(schema["required"]) == fields, path
    headers = _sign_up(app, _address())
    for body in ({"name": 7, "id_number": "x"}, {"name": "张\x00三", "id_number": "1"}, ["name"], "text",
                 {"name": "张三", "id_number": ["110101198001019993"]}):
        response = app.post("/api/me/verification", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
    for body in ({"username": 1, "password": "x"}, {"username": "a\x00", "password": "x"}, [1]):
        assert app.post("/api/tokens", json=body).status_code == 422, body


def test_parallel_verifications_as_one_person_verify_one_account(app: TestClient, module_database: str) -> None:
    """Four accounts verify as the same person at once: one wins, the others get 409, never a 500."""
    name, number = _person(module_database)
    accounts = [_sign_up(app, _address()) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(lambda headers: _verify(app, headers, name, number), accounts))
    assert outcomes == [(201, "ok")] + [(409, "conflict")] * 3, outcomes
