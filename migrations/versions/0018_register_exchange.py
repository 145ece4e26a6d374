"""The register exchange: which object of ours each row of an office's old system became.

Revision ID: 0018
Revises: 0012
Create Date: 2026-12-06

`exchange_ids` maps (table of the exchange layout, the old system's identifier BSM) to the
object it became (a party_id, unit_id, right_id or restriction_id) and the digest of the row
as last imported. Importing the same files again finds every row here and changes nothing;
a row whose digest differs becomes a new version of its object (docs/register-exchange.md).
It is a mapping, not the register: rows are added and their digest replaced, never deleted.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE exchange_ids (
    exchange_table text NOT NULL CHECK (exchange_table IN ('QLR', 'BDCDY', 'QL', 'DYAQ', 'CFDJ', 'YYDJ', 'YGDJ')),
    old_id text NOT NULL CHECK (btrim(old_id) <> '' AND length(old_id) <= 200),
    object_id bigint NOT NULL,
    row_digest bytea NOT NULL CHECK (length(row_digest) = 32),
    first_imported_at timestamptz NOT NULL DEFAULT now(),
    last_changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange_table, old_id)
);
CREATE UNIQUE INDEX exchange_ids_object ON exchange_ids (exchange_table, object_id);
COMMENT ON TABLE exchange_ids IS
    'Register exchange: the old system''s identifier (BSM) of each imported row and the object it became';

CREATE FUNCTION guard_exchange_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.exchange_table <> OLD.exchange_table OR NEW.old_id <> OLD.old_id
       OR NEW.object_id <> OLD.object_id OR NEW.first_imported_at <> OLD.first_imported_at THEN
        RAISE EXCEPTION 'exchange_ids: an old identifier keeps the object it became; only its digest changes'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER exchange_ids_guard BEFORE UPDATE OR DELETE ON exchange_ids
    FOR EACH ROW EXECUTE FUNCTION guard_exchange_ids();
"""

DOWNGRADE = """
DROP TABLE exchange_ids;
DROP FUNCTION guard_exchange_ids();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
