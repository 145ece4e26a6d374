"""The register exchange keeps a right's or restriction's own YWH, DBR and SJBSM as imported.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

A row of `QL`, `DYAQ`, `CFDJ`, `YYDJ` or `YGDJ` carries its business number (YWH 业务号), its
registrar (DBR 登簿人) and, when it cites one, its source document (SJBSM). The register keeps
the source a row cites (or makes one of YWH and DBR); the row's own three values are kept here,
beside its old identifier, so the export writes back what was imported and an export imported
again changes nothing (docs/register-exchange.md, "Export and the round trip"). NULL for rows
imported before this revision: their export is made from the cited source, as it was.
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE exchange_ids ADD COLUMN row_source jsonb
    CHECK (row_source IS NULL OR jsonb_typeof(row_source) = 'object');
COMMENT ON COLUMN exchange_ids.row_source IS
    'Register exchange: a right''s or restriction''s own YWH, DBR and SJBSM as imported (null: made from its source)';
""")


def downgrade() -> None:
    op.execute("ALTER TABLE exchange_ids DROP COLUMN row_source")
