"""Online identity verification that cannot be guessed: failures counted per claimed identity,
notices to the accounts of an identity someone verifies as, and the failures before each success.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

- `verification_claims` counts failed online verifications per claimed identity, across every
  account and address: the key is a keyed digest (HMAC under the identity key, never the name or
  number in clear) of the name with the region and birth date (the first 14 digits), and another
  of the whole number. A window starts at the first failure and lasts
  `verification_identity_window_days`; past `verification_failures_per_identity` online
  verification of that identity waits for the window to end, or for a registrar (who verifies
  the person at the counter, or reopens it). Logged, unlike `rate_counters`: a crash must not
  hand an attacker a fresh window, and the windows outlive `rate_counters`' two-day clean-up.
- `account_notices`: messages to one account (someone verified as, or tried to verify as, the
  identity this account is or was verified as).
- `identity_verifications.failures_before` and `client`: how many failures the claimed identity
  had in its window when an online verification succeeded, and from which client, so a registrar
  sees the verifications that followed failures.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE verification_claims (
    claim_digest bytea PRIMARY KEY CHECK (length(claim_digest) = 32),
    window_start timestamptz NOT NULL,
    failures integer NOT NULL CHECK (failures >= 0)
);
COMMENT ON TABLE verification_claims IS
    'Failed online identity verifications per claimed identity (keyed digest), across all accounts';

CREATE TABLE account_notices (
    notice_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (user_id),
    kind text NOT NULL CHECK (kind IN ('identity_claimed', 'identity_claim_refused')),
    client text,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz
);
CREATE INDEX account_notices_user ON account_notices (user_id, created_at DESC);
COMMENT ON TABLE account_notices IS 'Messages to one account, e.g. someone verified another account as its identity';

ALTER TABLE identity_verifications
    ADD COLUMN failures_before integer NOT NULL DEFAULT 0 CHECK (failures_before >= 0),
    ADD COLUMN client text;
CREATE INDEX identity_verifications_after_failures ON identity_verifications (verified_at DESC)
    WHERE failures_before > 0;
"""

DOWNGRADE = """
DROP INDEX identity_verifications_after_failures;
ALTER TABLE identity_verifications DROP COLUMN failures_before, DROP COLUMN client;
DROP TABLE account_notices, verification_claims;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
