"""The register exchange carries parcels (ZDJBXX) and source documents (SJ) too.

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-06

`exchange_ids` (migration 0018) learns two more tables of the layout: `ZDJBXX` (宗地基本信息, a
parcel with its geometry: the object is a parcel_id) and `SJ` (收件, a source document, LA_Source:
the object is a source_id). Nothing else changes: parcels and sources keep their own rules
(migration 0001), and a source document stays immutable (docs/register-exchange.md).
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_BEFORE = "'QLR', 'BDCDY', 'QL', 'DYAQ', 'CFDJ', 'YYDJ', 'YGDJ'"
_AFTER = f"'ZDJBXX', 'SJ', {_BEFORE}"


def _check(tables: str) -> str:
    return f"""
ALTER TABLE exchange_ids DROP CONSTRAINT exchange_ids_exchange_table_check;
ALTER TABLE exchange_ids ADD CONSTRAINT exchange_ids_exchange_table_check CHECK (exchange_table IN ({tables}));
"""


def upgrade() -> None:
    op.execute(_check(_AFTER))


def downgrade() -> None:
    # The mapping of parcels and source documents goes with the tables it names (the parcels and
    # sources themselves stay: they are the cadastre's, not the exchange's).
    op.execute("ALTER TABLE exchange_ids DISABLE TRIGGER exchange_ids_guard")
    op.execute("DELETE FROM exchange_ids WHERE exchange_table IN ('ZDJBXX', 'SJ')")
    op.execute("ALTER TABLE exchange_ids ENABLE TRIGGER exchange_ids_guard")
    op.execute(_check(_BEFORE))
