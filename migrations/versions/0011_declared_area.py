"""One name for the declared area: `parcels.survey_area` becomes `parcels.declared_area`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

The area the surveyor stated in the file is the declared area everywhere (docs/glossary.md):
`submission_parcels.declared_area` already says so, and now the parcels table does too. The view
`current_parcels` (`SELECT *`, migration 0001) keeps the column names it was created with, so its
column is renamed with it; so is the CHECK constraint's name. No function, trigger or other view
names the column. The public API and the OGC layer keep their field name `survey_area`.
No rule changes.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE parcels RENAME COLUMN survey_area TO declared_area;
ALTER TABLE parcels RENAME CONSTRAINT parcels_survey_area_check TO parcels_declared_area_check;
ALTER VIEW current_parcels RENAME COLUMN survey_area TO declared_area;
COMMENT ON COLUMN parcels.declared_area IS 'The area the surveyor declared in the survey file, m²';
"""

DOWNGRADE = """
COMMENT ON COLUMN parcels.declared_area IS NULL;
ALTER VIEW current_parcels RENAME COLUMN declared_area TO survey_area;
ALTER TABLE parcels RENAME CONSTRAINT parcels_declared_area_check TO parcels_survey_area_check;
ALTER TABLE parcels RENAME COLUMN declared_area TO survey_area;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
