"""Demo accounts, one per role, so the portal can be tried right after `cadastre demo`.

The passwords are public on purpose (printed by `cadastre demo`, listed in DEMO_ACCOUNTS):
these accounts exist only in demo databases. `owner` is verified by registry match as a
co-owner of a mortgaged demo unit; `citizen` was verified at the counter and owns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from portal.accounts.identity_numbers import mask_document_number, resident_id_check_digit
from portal.accounts.security import hash_password, identity_digest, identity_key, identity_keys, unseal_identity
from portal.platform.rows import one_row
from portal.settings import Settings

__all__ = ["DemoAccount", "DEMO_ACCOUNTS", "add_demo_accounts", "describe_demo_accounts", "demo_owner"]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    roles: tuple[str, ...]
    institution: str | None

    @property
    def password(self) -> str:
        return f"demo-{self.username}-2025"


DEMO_ACCOUNTS = (
    DemoAccount("registrar", "王登记", ("registrar",), "杭州市上城区不动产登记中心"),
    DemoAccount("clerk", "李书记员", ("court_clerk",), "杭州市上城区人民法院"),
    DemoAccount("auditor", "赵审计", ("auditor",), "杭州市规划和自然资源局"),
    DemoAccount("surveyor", "钱测绘", ("surveyor",), "杭州市勘测设计研究院"),
    DemoAccount("admin", "孙管理", ("administrator",), None),
    # A second administrator: a role that sees personal data, granted by one, is confirmed by the other.
    DemoAccount("admin2", "周管理", ("administrator",), None),
    DemoAccount("owner", "业主", (), None),
    DemoAccount("citizen", "市民", (), None),
)

# A natural person holding a current right by portions on a unit with an active mortgage
# (any current holder if the district is too small to have one).
OWNER = """
SELECT p.party_id, p.name, p.id_document_digest, p.id_document_masked
  FROM rights r
  JOIN right_holders h ON h.right_version_id = r.version_id
  JOIN parties p ON p.party_id = h.party_id AND p.end_lifespan IS NULL AND p.id_document_type = 'resident_id'
  JOIN units u ON u.unit_id = r.unit_id AND u.end_lifespan IS NULL
 WHERE r.end_lifespan IS NULL
 ORDER BY (r.co_ownership = 'by_portions') DESC,
          EXISTS (SELECT 1 FROM restrictions x WHERE x.unit_id = r.unit_id AND x.end_lifespan IS NULL
                   AND x.kind = 'mortgage' AND x.status = 'active') DESC,
          u.unit_number, p.party_id
 LIMIT 1
"""

# A current natural-person party without an account, to try online verification with.
SPARE_PARTY = """
SELECT p.name, p.id_document_digest, p.id_document_sealed FROM parties p
 WHERE p.end_lifespan IS NULL AND p.id_document_type = 'resident_id'
   AND NOT EXISTS (SELECT 1 FROM identity_verifications v WHERE v.party_id = p.party_id)
 ORDER BY p.party_id DESC LIMIT 1
"""


def _citizen_number(conn: psycopg.Connection, key: bytes) -> str:
    """A valid resident identity number that no demo party has."""
    for serial in range(100, 1000):
        first17 = f"33010619900101{serial:03d}"
        number = first17 + resident_id_check_digit(first17)
        found = conn.execute("SELECT 1 FROM parties WHERE id_document_digest = %s",
                             (identity_digest(key, "resident_id", number),)).fetchone()
        if not found:
            return number
    raise RuntimeError("no free demo identity number")


def add_demo_accounts(url: str, settings: Settings) -> dict[str, int]:
    """Create the demo accounts (idempotent: existing usernames are left alone)."""
    created: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        if one_row(conn.execute("SELECT to_regclass('users') IS NULL").fetchone())[0]:
            return created  # a schema without accounts (before migration 0003)
        key = identity_key(settings.accounts, settings.database)
        for account in DEMO_ACCOUNTS:
            row = conn.execute(
                "INSERT INTO users (username, display_name, password_hash, roles, institution) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING user_id",
                (account.username, account.display_name, hash_password(settings.accounts, account.password),
                 list(account.roles), account.institution)).fetchone()
            if row:
                created[account.username] = row[0]
        if "owner" in created:
            owner = conn.execute(OWNER).fetchone()
            if owner:
                party_id, name, digest, masked = owner  # the register's digest is the accounts' own
                conn.execute(
                    "INSERT INTO identity_verifications (user_id, method, verified_name, document_digest, "
                    "document_masked, party_id) VALUES (%s, 'registry_match', %s, %s, %s, %s)",
                    (created["owner"], name, digest, masked, party_id))
        if "citizen" in created and "registrar" in created:
            number = _citizen_number(conn, key)
            conn.execute(
                "INSERT INTO identity_verifications (user_id, method, verified_name, document_digest, "
                "document_masked, verified_by, note) VALUES (%s, 'counter', %s, %s, %s, %s, %s)",
                (created["citizen"], "陈市民", identity_digest(key, "resident_id", number),
                 mask_document_number(number), created["registrar"], "demo account"))
    return created


def demo_owner(url: str) -> tuple[int, list[str]] | None:
    """The demo owner's party and the unit numbers they hold a current right on."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT v.party_id FROM identity_verifications v JOIN users u ON u.user_id = v.user_id "
            "WHERE u.username = 'owner' AND v.revoked_at IS NULL").fetchone()
        if not row or row[0] is None:
            return None
        units = [r[0] for r in conn.execute(
            "SELECT DISTINCT u.unit_number FROM right_holders h "
            "JOIN rights r ON r.version_id = h.right_version_id AND r.end_lifespan IS NULL "
            "JOIN units u ON u.unit_id = r.unit_id AND u.end_lifespan IS NULL WHERE h.party_id = %s "
            "ORDER BY 1", (row[0],))]
    return row[0], units


def describe_demo_accounts(url: str, settings: Settings | None = None) -> list[str]:
    """Lines for `cadastre demo` to print: who to log in as, and what each account shows (the
    spare party's number opened with the settings' seal key: the demo's own, made-up people)."""
    lines = ["demo accounts (username / password):"]
    for account in DEMO_ACCOUNTS:
        role = ", ".join(account.roles) or "verified user"
        lines.append(f"  {account.username:<10} {account.password:<24} {role}")
    owner = demo_owner(url)
    if owner:
        lines.append(f"  'owner' holds a right on {', '.join(owner[1][:3])}: check it to see the full record")
    with psycopg.connect(url) as conn:
        spare = conn.execute(SPARE_PARTY).fetchone()
    if spare:
        keys = identity_keys(settings.accounts, settings.database) if settings else identity_keys()
        lines.append(f"  to try online identity verification, sign up and enter the demo party "
                     f"{spare[0]} / {unseal_identity(keys.seal, spare[1], spare[2])}")
    return lines
