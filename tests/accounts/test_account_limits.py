"""Log-in limits that hold under concurrency and cannot be turned against a user (issue 15 §4).

The attempt is counted (atomically, in the database) before the password is checked, so a
burst of parallel tries gets no more password verifications than the limit; the strict limit
is per username and client, so a stranger's wrong passwords do not lock the owner out; and
sign-up does not tell which usernames belong to staff.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
from account_helpers import csrf_of, new_username, settings_for, sign_up
from fastapi.testclient import TestClient

from portal.app import create_app


def _outcomes(database_url: str, username: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT outcome, count(*) FROM audit_log WHERE action = 'login' AND subject = %s "
                            "GROUP BY 1", (f"username:{username}",)).fetchall()
    return {outcome: int(n) for outcome, n in rows}


def test_parallel_wrong_passwords_get_no_more_verifications_than_the_limit(visitor: TestClient,
                                                                           module_database: str) -> None:
    username = new_username("p")
    sign_up(visitor, username)

    def attempt(i: int) -> int:
        return visitor.post("/api/tokens", json={"username": username, "password": f"wrong password {i}"}
                            ).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(attempt, range(40)))
    assert 201 not in statuses and set(statuses) <= {401, 429}, statuses
    outcomes = _outcomes(module_database, username)
    assert outcomes.get("failure", 0) <= 5, f"{outcomes['failure']} passwords were tested against a limit of 5"
    assert statuses.count(401) == outcomes.get("failure", 0)
    right = visitor.post("/api/tokens", json={"username": username, "password": "correct horse battery"})
    assert right.status_code == 429, "the right password within the window is refused too"


def test_a_correct_password_is_never_refused_for_successes(visitor: TestClient) -> None:
    username = new_username("s")
    sign_up(visitor, username)
    for _ in range(8):  # successful log-ins give their attempt back
        assert visitor.post("/api/tokens", json={"username": username, "password": "correct horse battery"}
                            ).status_code == 201


def test_a_stranger_cannot_lock_the_owner_out(module_database: str) -> None:
    username = new_username("l")
    app = create_app(settings_for(module_database))
    with TestClient(app, follow_redirects=False, client=("198.51.100.7", 40000)) as owner, \
            TestClient(app, follow_redirects=False, client=("203.0.113.66", 40000)) as stranger:
        sign_up(owner, username)
        for _ in range(12):
            assert stranger.post("/api/tokens", json={"username": username, "password": "guessing away"}
                                 ).status_code in (401, 429)
        assert stranger.post("/api/tokens", json={"username": username, "password": "correct horse battery"}
                             ).status_code == 429, "the guesser's own address is held back"
        assert owner.post("/api/tokens", json={"username": username, "password": "correct horse battery"}
                          ).status_code == 201, "the owner, from another address, still logs in"


def test_the_username_wide_limit_holds_many_addresses_back(module_database: str) -> None:
    username = new_username("g")
    app = create_app(settings_for(module_database, login_failures_per_username=8))
    with TestClient(app, follow_redirects=False) as home:
        sign_up(home, username)
    tested = 0
    for n in range(6):
        with TestClient(app, follow_redirects=False, client=(f"192.0.2.{n + 10}", 40000)) as guesser:
            for _ in range(3):
                status = guesser.post("/api/tokens", json={"username": username, "password": "spray and pray"}
                                      ).status_code
                tested += status == 401
    assert tested <= 8


def test_sign_up_does_not_tell_staff_usernames_apart(visitor: TestClient) -> None:
    """A staff account's name, a citizen's and a reserved name nobody holds get the same answer."""
    page = visitor.get("/register")
    answers = []
    for name in ("registrar", "admin", "owner", "administrator", "registrar2"):
        response = visitor.post("/register", data={"username": name, "display_name": "x",
                                                   "password": "long enough pw", "password_again": "long enough pw",
                                                   "csrf": csrf_of(page.text)})
        answers.append((response.status_code, response.text.replace(name, "NAME")))
    assert answers[0][0] == 409 and "该用户名不可用" in answers[0][1]  # beside the field, the input kept
    assert all(answer == answers[0] for answer in answers), [a[0] for a in answers]
