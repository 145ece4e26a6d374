"""Machine clients that see personal data take two administrators; a sane per-minute ceiling.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

A client with a scope that shows personal data (`ownership_for_tax`, `seizures_for_courts`) is
created pending and works only once a second, different administrator confirms it (as role
grants, migration 0012). A client with only `restriction_flags` is confirmed when created.
Existing restriction-only clients stay active; existing clients with a personal-data scope
become pending and need that confirmation (the penetration test found them created by one
administrator alone).
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

PERSONAL_SCOPES = ("ownership_for_tax", "seizures_for_courts")
_PERSONAL = "ARRAY[" + ", ".join(f"'{s}'" for s in PERSONAL_SCOPES) + "]::text[]"

UPGRADE = f"""
ALTER TABLE machine_clients DISABLE TRIGGER machine_clients_audit_update;
ALTER TABLE machine_clients
    ADD COLUMN confirmed_by bigint REFERENCES users (user_id),
    ADD COLUMN confirmed_at timestamptz;
UPDATE machine_clients SET confirmed_at = created_at WHERE NOT scopes && {_PERSONAL} AND revoked_at IS NULL;
ALTER TABLE machine_clients ENABLE TRIGGER machine_clients_audit_update;
ALTER TABLE machine_clients
    ADD CONSTRAINT machine_client_second_administrator CHECK (
        confirmed_at IS NULL OR NOT scopes && {_PERSONAL}
        OR (confirmed_by IS NOT NULL AND created_by IS NOT NULL AND confirmed_by <> created_by)),
    ADD CONSTRAINT machine_client_confirmation CHECK (confirmed_by IS NULL OR confirmed_at IS NOT NULL);
COMMENT ON COLUMN machine_clients.confirmed_at IS
    'When the client began to work: at creation for restriction_flags only, else a second administrator''s confirmation';
"""

DOWNGRADE = """
ALTER TABLE machine_clients DROP CONSTRAINT machine_client_second_administrator,
    DROP CONSTRAINT machine_client_confirmation, DROP COLUMN confirmed_at, DROP COLUMN confirmed_by;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
